"""Issue 21, case 4: every knob validated at construction, by name, with its valid range or choices."""

import math

import numpy as np
import pytest
from stable_baselines3 import DQN, PPO, SAC

import sb3_spiking  # noqa: F401
from sb3_spiking.snn import SpikingConfig

BAD_KNOBS = [
    (dict(tau=math.inf), "tau must be > 1, a finite number"),
    (dict(tau=math.nan), "tau must be > 1, a finite number"),
    (dict(neuron="if", tau=math.nan), "tau must be > 1"),  # refused even where the neuron does not use it
    (dict(tau="abc"), "tau must be > 1"),
    (dict(tau=[2.0]), "tau must be > 1"),
    (dict(tau=True), "tau must be > 1"),  # a bool is not a number
    (dict(v_threshold=math.inf), "v_threshold must be > 0, a finite number"),
    (dict(v_threshold="1"), "v_threshold must be > 0"),
    (dict(v_threshold=-1.0), "v_threshold must be > 0"),
    (dict(decoder_tau=math.inf), "decoder_tau must be >= 1, a finite number"),
    (dict(decoder_tau=math.nan), "decoder_tau must be >= 1"),
    (dict(T=8.0), "T must be an integer >= 1"),
    (dict(T="8"), "T must be an integer >= 1"),
    (dict(T=True), "T must be an integer >= 1"),
    (dict(pop_size=2.5), "pop_size must be an integer >= 1"),
    (dict(neuron=["lif"]), "Unknown neuron ['lif']: valid choices are 'if', 'lif', 'plif'"),
    (dict(surrogate=1), "Unknown surrogate 1: valid choices are"),
    (dict(decoder=None or ("max-mem",)), "Unknown decoder ('max-mem',)"),
    (dict(encoder="gaussian"), "Unknown encoder 'gaussian': valid choices are 'linear', 'population'"),
    (dict(action_readout=0), "Unknown action_readout 0"),
    (dict(detach_reset=1), "detach_reset must be True or False"),
    (dict(input_norm="yes"), "input_norm must be True or False"),
]


@pytest.mark.parametrize("kwargs, message", BAD_KNOBS)
def test_case4_bad_knobs_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError) as error:
        SpikingConfig(**kwargs)
    assert message in str(error.value)


@pytest.mark.parametrize("kwargs, message", BAD_KNOBS[:3] + BAD_KNOBS[6:8] + BAD_KNOBS[9:10])
def test_case4_policies_refuse_bad_knobs_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message.split(",")[0].replace("[", r"\[")):
        DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[8], **kwargs))


def test_case4_numbers_of_other_types_are_accepted():
    config = SpikingConfig(T=np.int64(4), tau=np.float32(3.0), v_threshold=1, decoder_tau=1, pop_size=np.int32(2))
    assert config.T == 4 and config.pop_size == 2


@pytest.mark.parametrize(
    "net_arch, message",
    [
        ([-4, 64], "net_arch must hold layer sizes that are integers >= 1, got -4 in [-4, 64]"),
        ([0], "got 0 in [0]"),
        ([64.5], "got 64.5 in [64.5]"),
        ([True], "got True in [True]"),
        ("64", "net_arch must be a list of layer sizes"),
        (64, "net_arch must be a list of layer sizes"),
        (dict(pi=[64], vf=[0]), "net_arch['vf'] must hold layer sizes"),
        (dict(pi=[64], critic=[64]), "Unknown net_arch key(s) ['critic']: valid keys are 'pi', 'vf' and 'qf'"),
    ],
)
@pytest.mark.parametrize("algo", [DQN, PPO, SAC])
def test_case4_net_arch_is_validated(algo, net_arch, message):
    env = "Pendulum-v1" if algo is SAC else "CartPole-v1"
    with pytest.raises(ValueError) as error:
        algo("SpikingMlpPolicy", env, policy_kwargs=dict(net_arch=net_arch))
    assert message in str(error.value)


def test_case4_dict_net_arch_still_works():
    ppo = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=16, policy_kwargs=dict(net_arch=dict(pi=[8], vf=[4])))
    assert ppo.policy.mlp_extractor.latent_dim_pi == 8 and ppo.policy.mlp_extractor.latent_dim_vf == 4
    sac = SAC("SpikingMlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=dict(pi=[8], qf=[16])))
    assert sac.policy.actor.net_arch == [8]


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--policy-kwargs", "{'encoder': 'gaussian'}", "Unknown encoder 'gaussian': valid choices are"),
        ("--policy-kwargs", "{'net_arch': [-4, 64]}", "net_arch must hold layer sizes that are integers >= 1"),
        ("--policy-kwargs", "{'v_threshold': '1'}", "v_threshold must be > 0, a finite number"),
        ("--hyperparams", "learning_rat=0.1", "learning_rat"),
    ],
)
def test_case4_the_tuner_stops_on_an_invalid_configuration_before_the_first_trial(tmp_path, option, value, message):
    from sb3_spiking.tuning import tuner

    storage = tmp_path / "study.db"
    argv = ["--algo", "ppo", "--storage", str(storage), "--n-trials", "2", "--n-timesteps", "64", option, value]
    with pytest.raises(SystemExit) as stop:
        tuner.main(argv)
    assert stop.value.code not in (0, None)
    assert str(stop.value.code).startswith("python -m sb3_spiking.tuning: error: invalid configuration:")
    assert message in str(stop.value.code)
    assert not storage.exists()  # no study, no trial: nothing was pruned
