"""The small CNNs for MinAtar's 10x10xC boolean frames: shapes, the ANN twin's layout, gradients, statelessness, DQN."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import DQN

from sb3_spiking.demos.minatar import MinAtarQPolicy, SmallCNN, SpikingMinAtarQPolicy
from sb3_spiking.snn import SpikingSmallCNN
from sb3_spiking.telemetry import random_play

SPACE = spaces.Box(0.0, 1.0, (10, 10, 4), dtype=bool)  # MinAtar Breakout's observation space


def breakout_observations(n=16, seed=0):
    """Real MinAtar Breakout frames from random play."""
    return th.as_tensor(random_play("MinAtar/Breakout-v1", n, seed))


def test_minatar_observations_are_channel_last_booleans():
    env = gym.make("MinAtar/Breakout-v1")
    assert env.observation_space == SPACE and env.action_space == spaces.Discrete(3)
    assert breakout_observations(4).dtype == th.bool


@pytest.mark.parametrize("T", [1, 4])
def test_shapes_and_the_twin_layout(T):
    obs = breakout_observations(5)
    spiking, ann = SpikingSmallCNN(SPACE, T=T), SmallCNN(SPACE)
    spikes = spiking(obs)
    assert spikes.shape == (T, 5, 128) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert ann(obs).shape == (5, 128) and spiking.features_dim == ann.features_dim == 128
    # MinAtar's reference network: conv 16-3/1 on 4 channels, 16 * 8 * 8 = 1024 inputs to the 128 hidden units
    assert spiking.encoder.weight.shape == ann.cnn[0].weight.shape == (16, 4, 3, 3)
    assert spiking.linear[0].weight.shape == ann.linear[0].weight.shape == (128, 1024)
    # two convolutions: 10 -> 8 -> 4 (stride 2)
    deeper = SpikingSmallCNN(SPACE, features_dim=32, conv_layers=[(16, 3, 1), (8, 3, 2)], T=T)
    assert deeper.linear[0].in_features == 8 * 3 * 3 and deeper(obs).shape == (T, 5, 32)
    assert SmallCNN(SPACE, 32, conv_layers=[(16, 3, 1), (8, 3, 2)]).linear[0].in_features == 8 * 3 * 3


def test_channel_first_input_gives_the_same_output():
    obs = breakout_observations(6)
    last = SpikingSmallCNN(SPACE, T=4)
    first = SpikingSmallCNN(spaces.Box(0.0, 1.0, (4, 10, 10), dtype=bool), channels_last=False, T=4)
    first.load_state_dict(last.state_dict())
    th.testing.assert_close(first(obs.permute(0, 3, 1, 2)), last(obs), rtol=0, atol=0)


def test_every_layer_fires_and_gets_a_gradient():
    obs = breakout_observations(32)
    extractor = SpikingSmallCNN(SPACE, T=8)
    spikes = extractor(obs)
    assert 0.02 < spikes.mean().item() < 0.9  # the hidden layer fires at initialisation on real frames
    (spikes.sum(dim=0) @ th.randn(128)).sum().backward()
    for name, parameter in extractor.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_stateless():
    obs = breakout_observations(6)
    extractor = SpikingSmallCNN(SPACE, T=4)
    together = extractor(obs)
    th.testing.assert_close(extractor(obs), together, rtol=0, atol=0)
    alone = th.cat([extractor(obs[i : i + 1]) for i in range(6)], dim=1)
    th.testing.assert_close(alone, together, rtol=0, atol=0)
    assert not [name for name, buffer in extractor.named_buffers() if buffer.numel() > 0]


def test_bad_input():
    with pytest.raises(ValueError, match="out_channels, kernel_size, stride"):
        SpikingSmallCNN(SPACE, conv_layers=[(16, 3)])
    with pytest.raises(ValueError, match="out_channels, kernel_size, stride"):
        SmallCNN(SPACE, conv_layers=[])
    with pytest.raises(ValueError, match="3-D Box"):
        SpikingSmallCNN(spaces.Box(-1.0, 1.0, (4,)))
    with pytest.raises(ValueError, match="valid choices"):
        SpikingSmallCNN(SPACE, neuron="relu")


@pytest.mark.parametrize("policy", [MinAtarQPolicy, SpikingMinAtarQPolicy])
def test_dqn_learns_and_reloads(policy, tmp_path):
    kwargs = dict(buffer_size=1000, learning_starts=64, batch_size=32, train_freq=1, target_update_interval=100, seed=0)
    model = DQN(policy, "MinAtar/Breakout-v1", **kwargs)
    assert model.policy.q_net.net_arch == []  # the extractor's 128 units feed the Q-values directly
    before = [p.detach().clone() for p in model.policy.q_net.parameters()]
    model.learn(256)
    assert any(not th.equal(b, p) for b, p in zip(before, model.policy.q_net.parameters()))
    obs = breakout_observations(8).numpy()
    model.save(tmp_path / "model")
    loaded = DQN.load(tmp_path / "model")
    assert type(loaded.policy) is policy
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
