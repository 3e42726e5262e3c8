"""Surrogate gradients reach every trainable parameter."""

import numpy as np
import pytest
import torch as th
from envs_for_tests import ENVS
from stable_baselines3 import DQN, PPO

from sb3_spiking.snn import DECODERS, NEURONS, SpikingConfig
from sb3_spiking.snn.fused import surrogate_spike


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


@pytest.mark.parametrize("surrogate", ["atan", "sigmoid", "erf", "soft-sign", "piecewise-quadratic"])
def test_surrogate_spike_matches_spikingjelly(surrogate):
    """The one-step spike of the stateful layers: SpikingJelly's spikes and surrogate gradients; a second derivative
    is refused, not silently wrong."""
    node = SpikingConfig(surrogate=surrogate).make_neuron()
    z = th.linspace(-1.5, 1.5, 13, dtype=th.float64)
    weights = th.arange(1.0, 14.0, dtype=th.float64)
    results = []
    for spike in (surrogate_spike, lambda layer, x: layer.surrogate_function(x)):
        x = z.clone().requires_grad_(True)
        out = spike(node, x)
        (grad,) = th.autograd.grad((out * weights).sum(), x)
        results.append((out.detach(), grad))
    for ours, theirs in zip(*results):
        th.testing.assert_close(ours, theirs)
    assert results[0][0].tolist() == [0.0] * 6 + [1.0] * 7  # the spike at z >= 0
    assert float(results[0][1][6]) > float(results[0][1][0])  # largest at the threshold
    x = z.clone().requires_grad_(True)
    (grad,) = th.autograd.grad(surrogate_spike(node, x).sum(), x, create_graph=True)
    assert not grad.requires_grad  # no graph for a second derivative
    with pytest.raises(RuntimeError, match="does not require grad"):
        grad.sum().backward()
