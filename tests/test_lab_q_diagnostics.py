"""lab/greedy_at_init.py, lab/q_regression.py and lab/q_frozen_norm.py: seeded states, frozen statistics, the fit."""

import numpy as np
import pytest
import torch as th
from scripts_loader import load_script
from stable_baselines3 import DQN

from sb3_spiking.snn import RunningNorm


@pytest.fixture(scope="module")
def regression():
    return load_script("q_regression")


def test_states_are_seeded(regression):
    episodes = load_script("episodes")
    first, again = episodes.play_states("MountainCar-v0", 300, seed=3), episodes.play_states("MountainCar-v0", 300, seed=3)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (300, 2) and first.dtype == np.float32
    assert not np.array_equal(first, episodes.play_states("MountainCar-v0", 300, seed=4))
    model = DQN("MlpPolicy", "MountainCar-v0", seed=0, device="cpu")
    states = regression.teacher_states(model, "MountainCar-v0", 300, epsilon=0.5, seed=3)
    np.testing.assert_array_equal(states, regression.teacher_states(model, "MountainCar-v0", 300, epsilon=0.5, seed=3))
    assert not np.array_equal(states, first)  # half the actions are the model's
    with pytest.raises(ValueError, match="needs a model"):
        episodes.play_states("MountainCar-v0", 10, seed=0, epsilon=0.5)


def test_zoo_settings_build_the_tuned_dqn(regression):
    settings, steps = regression.zoo_settings("Acrobot-v1")
    assert steps == 100_000 and settings["policy_kwargs"] == dict(net_arch=[256, 256])
    assert "policy" not in settings and "n_timesteps" not in settings
    model = DQN("MlpPolicy", "Acrobot-v1", device="cpu", **settings)
    assert model.gradient_steps == settings["gradient_steps"] and model.learning_rate == settings["learning_rate"]


def test_frozen_statistics_stay_through_training():
    frozen = load_script("q_frozen_norm")
    model = DQN("SpikingMlpPolicy", "MountainCar-v0", seed=0, device="cpu", learning_starts=0, train_freq=4)
    states = np.array([[-0.5, 0.01], [-0.3, -0.02], [0.1, 0.03]], dtype=np.float32)
    frozen.freeze_statistics(model, states)
    norms = [module for module in model.policy.modules() if isinstance(module, RunningNorm)]
    assert len(norms) == 2  # the online and the target network
    model.learn(64)
    for norm in norms:
        np.testing.assert_allclose(norm.running_mean.numpy(), states.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(norm.running_var.numpy(), states.var(axis=0), rtol=1e-5)
        assert float(norm.running_count) == 3


def test_fit_lowers_the_loss(regression):
    rng = np.random.default_rng(0)
    x = th.as_tensor(rng.uniform([-1.2, -0.07], [0.6, 0.07], size=(512, 2)), dtype=th.float32)
    q = th.stack([x[:, 0] * 10 - 30, x[:, 1] * 300 - 30, -30 - x[:, 0] * 10], dim=1)  # three actions
    data = ((x[:400], q[:400]), (x[400:], q[400:]))
    rows = regression.fit("MountainCar-v0", "MlpPolicy", {}, seed=0, data=data, checkpoints=[1, 300])
    assert rows[1]["loss"] < rows[0]["loss"] / 2
    assert all(0.0 <= row["agree"] <= 1.0 and -200.0 <= row["ret"] <= -1.0 for row in rows)


def test_offline_buffer_holds_consecutive_transitions():
    offline = load_script("q_offline")
    source = DQN("MlpPolicy", "MountainCar-v0", seed=0, device="cpu")
    model = DQN("MlpPolicy", "MountainCar-v0", seed=0, device="cpu", buffer_size=100)
    offline.fill_buffer(model, source, "MountainCar-v0", 50, epsilon=0.5, seed=0)
    buffer = model.replay_buffer
    assert buffer.pos == 50 and not buffer.full
    obs, next_obs = buffer.observations[:50, 0], buffer.next_observations[:50, 0]
    np.testing.assert_array_equal(next_obs[:-1], obs[1:])  # no episode ends in 50 steps of MountainCar
    assert not buffer.dones[:50].any() and (buffer.rewards[:50] == -1.0).all()


def test_saturation_reading_counts_spikes_and_same_outputs():
    saturation = load_script("q_saturation")
    model = DQN("SpikingMlpPolicy", "MountainCar-v0", seed=0, device="cpu", policy_kwargs=dict(net_arch=[8, 6]))
    x = th.tensor([[-0.5, 0.0], [-0.5, 0.0], [0.2, 0.05]])
    counts = saturation.spike_counts(model, x)
    assert [tuple(c.shape) for c in counts] == [(3, 8), (3, 6)]
    assert all(((c >= 0) & (c <= 8) & (c == c.round())).all() for c in counts)
    th.testing.assert_close(counts[0][0], counts[0][1])
    # a transition to the same state: the same Q-values and no neuron changed; the readings are shares and counts
    row = saturation.reading(model, x[:2], x[1:3])
    assert len(row) == 5 and 0.0 <= row[0] <= 1.0 and row[0] in (0.5, 1.0)
    assert row[2] <= 8 and row[4] <= 6 and 0.0 <= row[1] <= 1.0 and 0.0 <= row[3] <= 1.0
    assert saturation.reading(model, x, x) == [1.0, row_sat(counts[0]), 0.0, row_sat(counts[1]), 0.0]
    ann = DQN("MlpPolicy", "MountainCar-v0", seed=0, device="cpu")
    assert saturation.reading(ann, x, x) == [1.0] and saturation.reading(ann, x[:1], x[2:]) == [0.0]


def row_sat(counts: th.Tensor) -> float:
    return float(((counts == 0) | (counts == 8)).float().mean())


def test_the_shared_command_line(regression):
    parser = regression.teacher_parser("doc", "lab/x.md", [0, 1])
    args = parser.parse_args([])
    assert (args.env, args.seeds, args.cache, args.out) == ("MountainCar-v0", [0, 1], "logs/q_regression", "lab/x.md")
    args = parser.parse_args(["--env", "Acrobot-v1", "--seeds", "3", "--out", "-"])
    assert (args.env, args.seeds, args.out) == ("Acrobot-v1", [3], "-")
