"""The actor-critic policies' value function: SB3's ANN by default, spiking with ``spiking_critic=True``, and models
saved when it always spiked."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch as th
from envs_for_tests import ENVS
from sb3_contrib import MaskablePPO
from spikingjelly.activation_based.neuron import BaseNode
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.save_util import load_from_zip_file
from torch import nn

import sb3_spiking  # noqa: F401  (the Spiking*Policy names)
from sb3_spiking.snn import NonSpikingReadout, RunningNorm, SpikeRates

SAVED_PPO = Path(__file__).parent / "data" / "saved_0.2.0" / "ppo-mlp.zip"  # a spiking value function, no knob record of it


def spiking(module: nn.Module) -> bool:
    return any(isinstance(sub, BaseNode) for sub in module.modules())


def test_the_default_value_function_is_sb3s_ann():
    policy = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, seed=0).policy
    assert spiking(policy.mlp_extractor.policy_net) and isinstance(policy.action_net, NonSpikingReadout)
    value = policy.mlp_extractor.value_net
    assert [type(m) for m in value] == [SpikeRates, RunningNorm, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh]
    assert type(policy.value_net) is nn.Linear and policy.resolved_knobs()["spiking_critic"] is False
    # SB3's orthogonal initialisation (gain sqrt(2)), not the spiking layers' threshold-scaled normal one
    weight = value[4].weight.detach()
    th.testing.assert_close(weight @ weight.T, 2.0 * th.eye(64), atol=1e-4, rtol=0)
    assert th.all(value[4].bias == 0)
    # activation_fn applies to the value function only
    policy = A2C("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(activation_fn=nn.ReLU, net_arch=[8])).policy
    assert [type(m) for m in policy.mlp_extractor.value_net] == [SpikeRates, RunningNorm, nn.Linear, nn.ReLU]
    assert not any(isinstance(m, nn.ReLU) for m in policy.mlp_extractor.policy_net)
    assert policy._get_constructor_parameters()["activation_fn"] is nn.ReLU


def test_the_value_function_reads_the_observations_as_the_actor_does():
    model = A2C("SpikingMlpPolicy", "CartPole-v1", n_steps=8, seed=0)
    policy = model.policy
    actor_norm, value_norm = policy.mlp_extractor.policy_net[0], policy.mlp_extractor.value_net[1]
    assert isinstance(actor_norm, RunningNorm) and isinstance(value_norm, RunningNorm) and value_norm is not actor_norm
    model.learn(64)
    # both saw the same training batches: the same statistics, and the value of a state is the ANN's of its standardised
    assert value_norm.running_count == actor_norm.running_count == 64
    for name in ("running_mean", "running_var"):
        th.testing.assert_close(getattr(value_norm, name), getattr(actor_norm, name))
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(5)]))
    with th.no_grad():
        standardised = (obs - actor_norm.running_mean) / th.sqrt(actor_norm.running_var + actor_norm.eps)
        th.testing.assert_close(policy.predict_values(obs), policy.value_net(policy.mlp_extractor.value_net[2:](standardised)))
    # the actor's clip applies to it too; raw observations for the actor (input_norm=False): raw for the value function
    clipped = A2C("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(input_clip=2.0)).policy
    assert clipped.mlp_extractor.value_net[1].clip == 2.0
    raw = A2C("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(input_norm=False)).policy
    assert [type(m) for m in raw.mlp_extractor.value_net] == [SpikeRates, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh]


def unstandardised(model):
    """The layout of the ANN value function before it standardised the observations: no RunningNorm."""
    value_net = model.policy.mlp_extractor.value_net
    assert isinstance(value_net[1], RunningNorm)
    model.policy.mlp_extractor.value_net = nn.Sequential(value_net[0], *value_net[2:])
    return model


def test_a_model_saved_with_an_unstandardised_value_function_loads_as_it_was(tmp_path):
    model = unstandardised(PPO("SpikingMlpPolicy", ENVS["box"](), n_steps=16, batch_size=16, n_epochs=1, seed=0))
    model.learn(32)
    model.save(tmp_path / "raw.zip")
    _, params, _ = load_from_zip_file(tmp_path / "raw.zip")
    assert not any("running" in key for key in params["policy"] if key.startswith("mlp_extractor.value_net"))
    loaded = PPO.load(tmp_path / "raw.zip", env=ENVS["box"]())
    assert [type(m) for m in loaded.policy.mlp_extractor.value_net] == [SpikeRates, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh]
    obs = model.policy.obs_to_tensor(np.stack([model.observation_space.sample() for _ in range(4)]))[0]
    with th.no_grad():
        th.testing.assert_close(loaded.policy.predict_values(obs), model.policy.predict_values(obs))
    in_optimizer = [p for group in loaded.policy.optimizer.param_groups for p in group["params"]]
    assert [id(p) for p in in_optimizer] == [id(p) for p in loaded.policy.parameters()]
    loaded.learn(32)
    # a state dict that does not fit leaves the standardised value function as it was
    fresh = PPO("SpikingMlpPolicy", ENVS["box"](), seed=0).policy
    value_net = fresh.mlp_extractor.value_net
    state = dict(params["policy"])
    key = "mlp_extractor.value_net.1.weight"
    state[key] = state[key][:1]
    with pytest.raises(RuntimeError, match="size mismatch"):
        fresh.load_state_dict(state)
    assert fresh.mlp_extractor.value_net is value_net and isinstance(value_net[1], RunningNorm)
    # no hidden value layer (net_arch's vf=[]): the saved value function has no entry before the readout
    kwargs = dict(net_arch=dict(pi=[8], vf=[]))
    model = unstandardised(A2C("SpikingMlpPolicy", "CartPole-v1", n_steps=8, policy_kwargs=kwargs, seed=0)).learn(16)
    model.save(tmp_path / "linear.zip")
    loaded = A2C.load(tmp_path / "linear.zip")
    assert [type(m) for m in loaded.policy.mlp_extractor.value_net] == [SpikeRates]
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(4)]))
    with th.no_grad():
        th.testing.assert_close(loaded.policy.predict_values(obs), model.policy.predict_values(obs))


def test_a_spiking_value_function_on_request():
    policy = PPO("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(spiking_critic=True, net_arch=[8])).policy
    assert spiking(policy.mlp_extractor.value_net) and isinstance(policy.value_net, NonSpikingReadout)
    assert "activation_fn" not in policy._get_constructor_parameters()
    with pytest.raises(ValueError, match=r"spiking_critic=True every hidden layer spikes: drop activation_fn"):
        PPO("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(spiking_critic=True, activation_fn=nn.ReLU))
    with pytest.raises(ValueError, match=r"spiking_critic must be True or False, got 'yes'"):
        PPO("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(spiking_critic="yes"))


def test_the_ann_value_function_reads_the_rates_of_spiking_features():
    # SpikingCnnPolicy: the features extractor (shared) spikes; the ANN value function reads its firing rates
    model = PPO("SpikingCnnPolicy", ENVS["image-discrete"](), n_steps=16, batch_size=16, n_epochs=1, seed=0)
    obs = model.policy.obs_to_tensor(np.stack([model.observation_space.sample() for _ in range(3)]))[0]
    features = model.policy.extract_features(obs, model.policy.vf_features_extractor)
    assert features.dim() == 3  # a spike train [T, B, F]
    with th.no_grad():
        expected = model.policy.value_net(model.policy.mlp_extractor.value_net[1:](features.mean(dim=0)))
        th.testing.assert_close(model.policy.predict_values(obs), expected)
    model.learn(32)
    masked = MaskablePPO("SpikingMlpPolicy", ENVS["discrete"](), n_steps=16, batch_size=16).policy
    assert type(masked.value_net) is nn.Linear and spiking(masked.mlp_extractor.policy_net)


def test_a_model_saved_with_a_spiking_value_function_loads_as_it_was(tmp_path):
    _, params, _ = load_from_zip_file(SAVED_PPO)
    assert "spiking_critic" not in json.loads(bytes(params["policy"]["spiking_knobs"].tolist()).decode())
    model = PPO.load(SAVED_PPO, env=ENVS["box"]())
    policy = model.policy
    assert policy.spiking_critic is True and isinstance(policy.value_net, NonSpikingReadout)
    assert spiking(policy.mlp_extractor.value_net)
    for name, tensor in policy.state_dict().items():
        if name != "spiking_knobs":
            th.testing.assert_close(tensor, params["policy"][name], msg=name)
    # the optimizer is the one for these parameters, with its saved state
    in_optimizer = [p for group in policy.optimizer.param_groups for p in group["params"]]
    assert [id(p) for p in in_optimizer] == [id(p) for p in policy.parameters()]
    assert len(policy.optimizer.state) == len(params["policy.optimizer"]["state"]) > 0
    model.learn(64)
    # saved again, the record says so, and it loads without any help
    model.save(tmp_path / "again.zip")
    _, again, _ = load_from_zip_file(tmp_path / "again.zip")
    assert json.loads(bytes(again["policy"]["spiking_knobs"].tolist()).decode())["spiking_critic"] is True
    obs = model.policy.obs_to_tensor(np.stack([model.observation_space.sample() for _ in range(4)]))[0]
    reloaded = PPO.load(tmp_path / "again.zip")
    with th.no_grad():
        th.testing.assert_close(reloaded.policy.predict_values(obs), model.policy.predict_values(obs))


def test_a_failed_load_leaves_the_ann_value_function():
    fresh = PPO("SpikingMlpPolicy", ENVS["box"](), policy_kwargs=dict(net_arch=[16]), seed=0)
    policy = fresh.policy
    _, params, _ = load_from_zip_file(SAVED_PPO)
    state = dict(params["policy"])
    state["value_net.linear.weight"] = state["value_net.linear.weight"][:, :1]
    value_net, optimizer = policy.value_net, policy.optimizer
    before = {name: tensor.clone() for name, tensor in policy.state_dict().items()}
    with pytest.raises(RuntimeError, match="size mismatch"):
        policy.load_state_dict(state)
    assert policy.value_net is value_net and policy.optimizer is optimizer and policy.spiking_critic is False
    assert policy.state_dict().keys() == before.keys()
    for name, tensor in policy.state_dict().items():
        th.testing.assert_close(tensor, before[name], msg=name)
