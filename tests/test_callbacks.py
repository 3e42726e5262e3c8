"""SpikeStatsCallback: logged keys and values, off-policy measurement, rl-zoo3's callback hyperparameter."""

import numpy as np
import pandas as pd
import pytest
from rl_zoo3.utils import get_callback_list
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.logger import configure

import sb3_spiking  # noqa: F401
from sb3_spiking.telemetry import SpikeStatsCallback
from sb3_spiking.telemetry.stats import spike_stats


def test_logs_to_csv_during_ppo_training(tmp_path):
    kwargs = dict(T=4, spiking_critic=True)  # the value function spikes too
    model = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=1, policy_kwargs=kwargs, seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(192, callback=SpikeStatsCallback(log_freq=64, n_obs=50))
    log = pd.read_csv(tmp_path / "progress.csv")
    assert len(log) == 3
    for net in ("policy_net", "value_net"):  # the actor and the critic
        for kind in ("rate", "silent", "saturated"):
            values = log[f"spikes/{kind}/mlp_extractor.{net}.3"]  # 0: normalisation, 1: encoder
            assert values.between(0, 1).all()
    assert (log["spikes/n_obs"] == 50).all()
    assert (log["energy/mac"] == 4 * 64).all()  # the actor's encoder, once per observation
    assert (log["energy/ann_mac"] == 4 * 64 + 64 * 64 + 64 * 2).all()
    assert (log["energy/sop"] >= 0).all()
    expected = (4.6 * log["energy/mac"] + 0.9 * log["energy/sop"]) / (4.6 * log["energy/ann_mac"])
    np.testing.assert_allclose(log["energy/ratio_vs_ann"], expected, rtol=1e-6)


def test_measure_dqn_matches_spike_stats():
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=4, net_arch=[32]), seed=0)
    callback = SpikeStatsCallback(log_freq=10, e_ac_pj=0.5)
    callback.init_callback(model)
    obs = np.stack([model.observation_space.sample() for _ in range(40)])
    values = callback.measure(obs)
    with spike_stats(model.policy) as stats:
        model.predict(obs, deterministic=True)
    layer = stats.layers["q_net.q_net.3"]
    assert values["spikes/rate/q_net.q_net.3"] == pytest.approx(layer.rate)
    assert values["spikes/silent/q_net.q_net.3"] == pytest.approx(layer.silent)
    assert values["energy/snn_nj"] == pytest.approx(stats.energy(e_ac_pj=0.5).snn_energy_pj / 1e3)


def test_logs_at_the_requested_frequency():
    model = DQN("SpikingMlpPolicy", "CartPole-v1", learning_starts=1000, policy_kwargs=dict(T=2, net_arch=[8]), seed=0)
    calls = []

    class Counting(SpikeStatsCallback):
        def measure(self, observations):
            calls.append((self.num_timesteps, len(observations)))
            return super().measure(observations)

    model.learn(100, callback=Counting(log_freq=30, n_obs=20))
    assert calls == [(30, 20), (60, 20), (90, 20)]


def test_rl_zoo3_callback_hyperparameter():
    hyperparams = {"callback": [{"sb3_spiking.SpikeStatsCallback": {"log_freq": 500, "n_obs": 64}}]}
    (callback,) = get_callback_list(hyperparams)
    assert isinstance(callback, SpikeStatsCallback) and (callback.log_freq, callback.n_obs) == (500, 64)


def test_arguments_are_validated():
    with pytest.raises(ValueError, match="log_freq"):
        SpikeStatsCallback(log_freq=0)
