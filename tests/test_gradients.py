"""Surrogate gradients reach every trainable parameter."""

import numpy as np
import pytest
import torch as th
from envs_for_tests import ENVS
from stable_baselines3 import DQN, PPO

from sb3_spiking.snn import DECODERS, NEURONS, SpikingConfig
from sb3_spiking.snn.fused import spike_and_reset


def assert_every_parameter_learns(module: th.nn.Module):
    silent = [name for name, p in module.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert silent == [], f"no gradient reached {silent}"


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("neuron", NEURONS)
def test_q_network_gradients(decoder, neuron):
    model = DQN("SpikingMlpPolicy", "CartPole-v1", buffer_size=100, policy_kwargs=dict(decoder=decoder, neuron=neuron))
    obs = th.randn(64, 4)
    q_values = model.q_net(obs)
    th.nn.functional.mse_loss(q_values, th.randn_like(q_values)).backward()
    assert_every_parameter_learns(model.q_net)


def test_cnn_gradients():
    model = DQN("SpikingCnnPolicy", ENVS["image-discrete"](), buffer_size=100, policy_kwargs=dict(T=4))
    obs = th.rand(16, *model.observation_space.shape) * 255  # raw pixels: the network divides by 255
    q_values = model.q_net(obs)
    th.nn.functional.mse_loss(q_values, th.randn_like(q_values)).backward()
    assert_every_parameter_learns(model.q_net)


@pytest.mark.parametrize("env_name", ["discrete", "box", "dict"])
def test_actor_critic_gradients(env_name):
    model = PPO(
        "SpikingMultiInputPolicy" if env_name == "dict" else "SpikingMlpPolicy", ENVS[env_name](), policy_kwargs=dict(T=4)
    )
    samples = [model.observation_space.sample() for _ in range(32)]
    if env_name == "dict":
        obs = {key: th.as_tensor(np.stack([s[key] for s in samples])).float() for key in samples[0]}
    else:
        obs = th.as_tensor(np.stack(samples)).float()
    actions = th.as_tensor(np.stack([model.action_space.sample() for _ in range(32)]))
    values, log_prob, entropy = model.policy.evaluate_actions(
        model.policy.obs_to_tensor({k: v.numpy() for k, v in obs.items()} if isinstance(obs, dict) else obs.numpy())[0],
        actions,
    )
    (values.pow(2).mean() - log_prob.mean() - 0.01 * entropy.mean()).backward()
    assert_every_parameter_learns(model.policy)


@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("surrogate", ["atan", "sigmoid", "erf", "soft-sign", "piecewise-quadratic"])
def test_spike_and_reset_matches_spikingjelly(surrogate, detach_reset):
    """One step's fire and hard reset of the stateful layers, one autograd node: SpikingJelly's spikes, reset
    potentials and surrogate gradients through both; a second derivative is refused, not silently wrong."""
    node = SpikingConfig(surrogate=surrogate, detach_reset=detach_reset).make_neuron()
    h = th.linspace(-0.5, 2.5, 13, dtype=th.float64)  # the threshold, 1.0, at index 6
    spike_weights, potential_weights = th.arange(1.0, 14.0, dtype=th.float64), th.linspace(2.0, -1.0, 13, dtype=th.float64)

    def spikingjelly(layer, x):
        s = layer.surrogate_function(x - layer.v_threshold)
        return s, x * (1.0 - (s.detach() if layer.detach_reset else s))

    results = []
    for step in (spike_and_reset, spikingjelly):
        x = h.clone().requires_grad_(True)
        s, v = step(node, x)
        (grad,) = th.autograd.grad((s * spike_weights).sum() + (v * potential_weights).sum(), x)
        results.append((s.detach(), v.detach(), grad))
    for ours, theirs in zip(*results):
        th.testing.assert_close(ours, theirs)
    s, v, grad = results[0]
    assert s.tolist() == [0.0] * 6 + [1.0] * 7  # the spike at h >= threshold
    assert v.tolist() == h[:6].tolist() + [0.0] * 7  # reset to 0 where it fired
    x = h.clone().requires_grad_(True)
    (grad,) = th.autograd.grad(spike_and_reset(node, x)[0].sum(), x, create_graph=True)
    assert not grad.requires_grad  # no graph for a second derivative
    with pytest.raises(RuntimeError, match="does not require grad"):
        grad.sum().backward()
