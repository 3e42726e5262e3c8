"""Spiking actors for SAC, TD3, DDPG, TQC and CrossQ: by name, knobs, gradients, statelessness, save/load, export."""

import json
import subprocess
import sys
import textwrap

import nir
import numpy as np
import onnxruntime
import pytest
import torch as th
from envs_for_tests import ENVS
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.envs import SimpleMultiObsEnv
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.preprocessing import preprocess_obs
from test_save_load import PLAIN_SB3

import sb3_spiking
from sb3_spiking.export import nir_readout, to_nir, to_onnx, to_torchscript
from sb3_spiking.snn import NonSpikingReadout

ALGOS = {"sac": SAC, "td3": TD3, "ddpg": DDPG, "tqc": TQC, "crossq": CrossQ}
TINY = dict(buffer_size=200, learning_starts=32, batch_size=16)
SMALL = dict(T=4, net_arch=[16, 16])
POLICY_CLASSES = {
    SAC: sb3_spiking.SpikingSACPolicy,
    TD3: sb3_spiking.SpikingTD3Policy,
    DDPG: sb3_spiking.SpikingTD3Policy,
    TQC: sb3_spiking.SpikingTQCPolicy,
    CrossQ: sb3_spiking.SpikingCrossQPolicy,
}


def envs():
    return {
        "SpikingMlpPolicy": lambda: ENVS["box"](),
        "SpikingCnnPolicy": lambda: ENVS["image-box"](),
        "SpikingMultiInputPolicy": lambda: SimpleMultiObsEnv(random_start=False, discrete_actions=False),
    }


def make(algo, policy="SpikingMlpPolicy", env=None, **policy_kwargs):
    env = envs()[policy]() if env is None else env
    kwargs = dict(SMALL, **policy_kwargs)
    if policy == "SpikingCnnPolicy":
        kwargs.pop("net_arch")
        kwargs["features_extractor_kwargs"] = dict(features_dim=16)
    return algo(policy, env, policy_kwargs=kwargs, seed=0, **TINY)


def deterministic_outputs(model, obs) -> th.Tensor:
    """The real-valued action outputs: SAC's Gaussian mean and log-std, TD3's action (evaluation mode, as predict)."""
    model.policy.set_training_mode(False)
    actor = model.policy.actor
    obs_tensor, _ = model.policy.obs_to_tensor(obs)
    with th.no_grad():
        if hasattr(actor, "get_action_dist_params"):
            mean, log_std, _ = actor.get_action_dist_params(obs_tensor)
            return th.cat([mean, log_std], dim=1)
        return actor(obs_tensor)


CASES = [(algo, "SpikingMlpPolicy") for algo in ALGOS] + [
    (algo, policy) for algo in ("sac", "td3", "tqc") for policy in ("SpikingCnnPolicy", "SpikingMultiInputPolicy")
]


@pytest.mark.parametrize("algo_name, policy", CASES)
def test_learn_by_name(algo_name, policy):
    algo = ALGOS[algo_name]
    model = make(algo, policy)
    assert isinstance(model.policy, POLICY_CLASSES[algo])
    model.learn(128)
    actor_readouts = [m for m in model.policy.actor.modules() if isinstance(m, NonSpikingReadout)]
    assert len(actor_readouts) == (2 if algo_name in ("sac", "tqc", "crossq") else 1)
    # The critics stay SB3's ANNs by default
    assert not any(isinstance(m, NonSpikingReadout) for m in model.policy.critic.modules())
    obs = model.observation_space.sample()
    action, _ = model.predict(obs, deterministic=True)
    assert model.action_space.contains(action)


@pytest.mark.parametrize("algo_name", ["sac", "td3", "ddpg", "tqc"])
def test_spiking_critic(algo_name):
    model = make(ALGOS[algo_name], spiking_critic=True)
    model.learn(96)
    readouts = [m for m in model.policy.critic.modules() if isinstance(m, NonSpikingReadout)]
    assert len(readouts) == model.policy.critic.n_critics == (1 if algo_name == "ddpg" else 2)
    assert model.policy.critic_target.state_dict().keys() == model.policy.critic.state_dict().keys()
    cnn = make(ALGOS[algo_name], "SpikingCnnPolicy", spiking_critic=True)
    cnn.learn(40)  # a spike train of image features beside the actions


def test_sac_ann_critic_keeps_activation_fn():
    model = SAC("SpikingMlpPolicy", "Pendulum-v1", policy_kwargs=dict(activation_fn=th.nn.Tanh, T=4), buffer_size=10)
    assert isinstance(model.policy.critic, ContinuousCritic)
    assert any(isinstance(m, th.nn.Tanh) for m in model.policy.critic.modules())
    assert not any(isinstance(m, th.nn.Tanh) for m in model.policy.actor.modules())
    assert model.policy._get_constructor_parameters()["activation_fn"] is th.nn.Tanh


@pytest.mark.parametrize(
    "algo, kwargs, message",
    [
        (SAC, dict(spiking_critic="yes"), "spiking_critic must be True or False"),
        (SAC, dict(spiking_critic=True, activation_fn=th.nn.Tanh), "drop activation_fn"),
        (CrossQ, dict(spiking_critic=True), "no spiking critic"),
        (TD3, dict(decoder="median"), "valid choices"),
        (SAC, dict(T=0), "T must be"),
    ],
)
def test_knobs_are_validated(algo, kwargs, message):
    with pytest.raises(ValueError, match=message):
        algo("SpikingMlpPolicy", "Pendulum-v1", policy_kwargs=kwargs, buffer_size=10)


def test_ann_critic_cannot_share_a_spiking_extractor():
    with pytest.raises(ValueError, match="share_features_extractor"):
        make(SAC, "SpikingCnnPolicy", share_features_extractor=True)


@pytest.mark.parametrize("algo_name", ["sac", "td3", "crossq"])
def test_gradients_reach_every_actor_parameter(algo_name):
    model = make(ALGOS[algo_name], neuron="plif")
    actor = model.policy.actor
    obs, _ = model.policy.obs_to_tensor(np.stack([model.observation_space.sample() for _ in range(32)]))
    if hasattr(actor, "action_log_prob"):
        actions, log_prob = actor.action_log_prob(obs)
        (actions.sum() + log_prob.sum()).backward()
    else:
        actor(obs).sum().backward()
    missing = [name for name, p in actor.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize("algo_name", ["sac", "td3"])
def test_stateless(algo_name):
    model = make(ALGOS[algo_name])
    obs = np.stack([model.observation_space.sample() for _ in range(6)])
    first = deterministic_outputs(model, obs)
    th.testing.assert_close(deterministic_outputs(model, obs), first, rtol=0, atol=0)
    alone = th.cat([deterministic_outputs(model, obs[i : i + 1]) for i in range(6)])
    th.testing.assert_close(alone, first, rtol=1e-5, atol=1e-5)
    neurons = [m for m in model.policy.modules() if hasattr(m, "v")]
    assert neurons and all(not isinstance(m.v, th.Tensor) for m in neurons)  # back at rest, no membrane tensor kept


LOAD = """
import json, sys
import numpy as np
import torch as th
from {module} import {algo}

imported_before = "sb3_spiking" in sys.modules
model = {algo}.load(sys.argv[1])
obs = np.load(sys.argv[2])
actions, _ = model.predict(obs, deterministic=True)
params = model.policy._get_constructor_parameters()
knobs = {{k: params[k] for k in {knobs}}}
print(json.dumps(dict(actions=actions.tolist(), knobs=knobs, before=imported_before, policy=type(model.policy).__name__)))
"""


@pytest.mark.parametrize("algo_name, spiking_critic", [("sac", False), ("td3", True), ("tqc", False), ("crossq", False)])
def test_save_load_in_a_new_process(tmp_path, algo_name, spiking_critic):
    algo = ALGOS[algo_name]
    knobs = dict(T=5, neuron="plif", tau=3.0, decoder="mean-mem", decoder_tau=1.5)
    model = make(algo, **knobs, **({"spiking_critic": True} if spiking_critic else {}))
    model.learn(64)
    model.save(tmp_path / "model.zip")
    obs = np.stack([model.observation_space.sample() for _ in range(6)])
    np.save(tmp_path / "obs.npy", obs)
    expected, _ = model.predict(obs, deterministic=True)
    module = "stable_baselines3" if algo in (SAC, TD3, DDPG) else "sb3_contrib"
    names = [*knobs, "spiking_critic"]
    script = textwrap.dedent(LOAD.format(module=module, algo=algo.__name__, knobs=names))
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "model.zip"), str(tmp_path / "obs.npy")],
        capture_output=True,
        text=True,
        check=True,
        env=PLAIN_SB3,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["before"] is False
    assert loaded["policy"] == type(model.policy).__name__
    assert loaded["knobs"] == {**knobs, "spiking_critic": spiking_critic}
    np.testing.assert_allclose(np.array(loaded["actions"]), expected, rtol=1e-5, atol=1e-6)


def test_spike_stats_count_the_actor():
    model = make(SAC)
    obs = np.stack([model.observation_space.sample() for _ in range(5)])
    with sb3_spiking.spike_stats(model.policy) as stats:
        model.predict(obs, deterministic=True)
    assert set(stats.layers) == {"actor.latent_pi.3", "actor.latent_pi.5"}  # after the normalisation and the encoder
    layer = stats.layers["actor.latent_pi.3"]
    assert (layer.n_neurons, layer.n_obs, layer.T) == (16, 5, 4)
    assert stats.energy().sop > 0


def _amplify(module: th.nn.Module, gain: float = 4.0) -> None:
    with th.no_grad():
        for layer in module.modules():
            if isinstance(layer, th.nn.Linear):
                layer.weight.mul_(gain)


@pytest.mark.parametrize("algo_name", ["sac", "td3"])
def test_export_round_trip(tmp_path, algo_name):
    model = ALGOS[algo_name]("SpikingMlpPolicy", "Pendulum-v1", policy_kwargs=dict(SMALL, decoder="last-mem"), seed=0)
    actor = model.policy.actor
    _amplify(actor)
    model.policy.set_training_mode(False)  # as predict: the observation statistics are read, not updated
    obs = np.stack([model.observation_space.sample() for _ in range(40)]).astype(np.float32)
    x = preprocess_obs(model.policy.obs_to_tensor(obs)[0], model.observation_space).float()
    with th.no_grad():
        hidden = actor.latent_pi(x) if algo_name == "sac" else actor.mu[:-2](x)
        expected = actor.get_action_dist_params(x)[0] if algo_name == "sac" else actor.mu[:-1](x)  # before tanh
    assert 0.05 < float(hidden.mean()) < 0.95  # the comparison is not between silent networks
    graph = to_nir(model.policy, tmp_path / "actor.nir")
    np.testing.assert_allclose(nir_readout(nir.read(str(tmp_path / "actor.nir")), x).numpy(), expected.numpy(), atol=1e-5)
    assert len(graph.nodes) > 4
    # TorchScript and ONNX: the deterministic action (tanh of the mean / of TD3's output, rescaled to the bounds)
    actions, _ = model.predict(obs, deterministic=True)
    assert len(np.unique(actions)) > 10
    scripted = to_torchscript(model.policy)
    with th.no_grad():
        np.testing.assert_allclose(scripted(th.as_tensor(obs)).numpy(), actions, rtol=1e-5, atol=1e-5)
    to_onnx(model.policy, tmp_path / "actor.onnx")
    onnx_actions = onnxruntime.InferenceSession(str(tmp_path / "actor.onnx")).run(None, {"observations": obs})[0]
    np.testing.assert_allclose(onnx_actions, actions, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("algo_name", ["sac", "td3", "tqc"])
def test_zoo_samplers_sample_the_spiking_knobs(algo_name):
    import optuna
    from rl_zoo3 import hyperparams_opt

    import sb3_spiking.tuning.zoo as zoo

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study(direction="maximize").ask()
    with zoo.experiment(spiking=True, policy_kwargs={"v_threshold": 0.5}):
        params = hyperparams_opt.HYPERPARAMS_SAMPLER[algo_name](trial, 1, 1, {"using_her_replay_buffer": False})
    kwargs = params.pop("policy_kwargs")
    assert kwargs["v_threshold"] == 0.5 and kwargs["T"] in zoo.SEARCH_SPACE.T
    # SAC / TD3 / TQC sample their soft-update coefficient as "tau": the membrane's is "spiking_tau" beside it
    assert {"T", "tau", "spiking_tau", "decoder"} <= set(trial.params)
    assert kwargs["tau"] == trial.params["spiking_tau"] > 1 > params["tau"] == trial.params["tau"]
    converted = hyperparams_opt.HYPERPARAMS_CONVERTER[algo_name](trial.params)
    assert converted["tau"] == params["tau"] and converted["policy_kwargs"]["tau"] == kwargs["tau"]
    params = {k: v for k, v in params.items() if k not in ("train_freq", "gradient_steps", "n_timesteps")}
    model = ALGOS[algo_name]("SpikingMlpPolicy", "Pendulum-v1", policy_kwargs=kwargs, **{**params, "buffer_size": 10})
    assert model.policy.actor.spiking.T == kwargs["T"] and model.policy.spiking.v_threshold == 0.5
