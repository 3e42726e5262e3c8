"""Spike statistics: values on a network with known spikes, hooks only inside the context, real policies."""

import numpy as np
import pytest
from stable_baselines3 import DQN, PPO
from test_energy import hand_network
from torch import nn

import sb3_spiking  # noqa: F401
from sb3_spiking.telemetry.stats import random_play, spike_stats, spiking_layers


def all_hooks(module: nn.Module) -> int:
    return sum(len(sub._forward_hooks) + len(sub._forward_pre_hooks) for sub in module.modules())


def test_rates_silent_saturated_by_hand():
    net, obs = hand_network()
    with spike_stats(net) as stats:
        net(obs)
    first, second = stats.layers["2"], stats.layers["4"]
    assert (first.n_neurons, first.T, first.n_obs, first.n_spikes) == (4, 4, 2, 7)
    assert first.rate == pytest.approx(7 / (4 * 4 * 2))
    assert first.silent == pytest.approx(1 / 4)  # the neuron without input
    assert first.saturated == 0.0  # observation 2 silences all
    assert second.rate == pytest.approx(4 / (5 * 4 * 2)) and second.silent == pytest.approx(4 / 5)
    with spike_stats(net) as stats:
        net(obs[:1])
    assert stats.layers["2"].saturated == pytest.approx(1 / 4)  # fires at every step
    assert stats.layers["4"].saturated == pytest.approx(1 / 5)
    scalars = stats.scalars()
    assert scalars["spikes/rate/2"] == pytest.approx(7 / 16)
    assert scalars["spikes/silent/2"] == pytest.approx(1 / 4)
    assert scalars["energy/sop"] == 7 * 5 + 4 * 2
    assert "| 2 | 4 | 4 | 1 | 0.438 | 0.250 | 0.250 |" in stats.table()


def test_accumulates_over_calls():
    net, obs = hand_network()
    with spike_stats(net) as stats:
        net(obs[:1])
        net(obs[1:])
    assert stats.layers["2"].n_obs == 2 and stats.layers["2"].n_spikes == 7
    assert stats.energy().sop == pytest.approx((35 + 8) / 2)


def test_hooks_only_inside_the_context():
    net, _ = hand_network()
    assert all_hooks(net) == 0
    with spike_stats(net):
        assert all_hooks(net) == 2 + 3  # two neuron layers, three synaptic layers
    assert all_hooks(net) == 0
    with pytest.raises(RuntimeError, match="boom"):
        with spike_stats(net):
            raise RuntimeError("boom")
    assert all_hooks(net) == 0


def test_not_a_spiking_network():
    with pytest.raises(ValueError, match="no spiking neuron layer"):
        with spike_stats(nn.Linear(2, 2)):
            pass


@pytest.mark.parametrize("algo", [DQN, PPO])
def test_policies(algo):
    model = algo("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=4, net_arch=[16, 16]), seed=0)
    obs = np.stack([model.observation_space.sample() for _ in range(32)])
    actions, _ = model.predict(obs, deterministic=True)
    hooks = all_hooks(model.policy)  # the policy's own (the finite-observation check of its features extractors)
    with spike_stats(model.policy) as stats:
        measured, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, measured)  # collecting changes nothing
    prefix = "q_net.q_net." if algo is DQN else "mlp_extractor.policy_net."
    assert list(stats.layers) == [f"{prefix}3", f"{prefix}5"]  # after the normalisation and each linear layer
    spiking_names = dict(spiking_layers(model.policy))
    for name, layer in stats.layers.items():
        assert name in spiking_names
        assert (layer.n_neurons, layer.T, layer.n_obs) == (16, 4, 32)
        assert 0.0 <= layer.rate <= 1.0 and 0.0 <= layer.silent <= 1.0
    report = stats.energy()
    assert report.mac == 4 * 16  # the encoder
    assert report.ann_mac == 4 * 16 + 16 * 16 + 16 * 2
    assert all_hooks(model.policy) == hooks  # collecting leaves no hook behind


def test_random_play_gives_the_observations_of_random_actions():
    obs = random_play("CartPole-v1", 300, seed=3)
    assert obs.shape == (300, 4) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs, random_play("CartPole-v1", 300, seed=3))
    # CartPole episodes of random actions last ~20 steps: several resets, each episode's first observation near 0
    starts = np.flatnonzero(np.abs(obs).max(axis=1) < 0.05)
    assert starts[0] == 0 and len(starts) >= 5
