"""Issue 21, case 3: a failed ``set_parameters``, ``load`` or ``load_state_dict`` leaves the model as it was."""

import numpy as np
import pytest
import torch as th
from stable_baselines3 import DQN, PPO

import sb3_spiking  # noqa: F401
from sb3_spiking.snn import RunningNorm


@pytest.fixture(scope="module")
def trained():
    model = DQN(
        "SpikingMlpPolicy",
        "CartPole-v1",
        learning_starts=32,
        batch_size=32,
        policy_kwargs=dict(net_arch=[16], T=2),
        seed=0,
    )
    model.learn(160)
    return model


def snapshot(model) -> dict[str, th.Tensor]:
    return {name: tensor.clone() for name, tensor in model.policy.state_dict().items()}


def assert_unchanged(model, before, observations, actions):
    after = model.policy.state_dict()
    assert before.keys() == after.keys()
    assert all(th.equal(before[name], after[name]) for name in before)
    np.testing.assert_array_equal(model.predict(observations, deterministic=True)[0], actions)


def observations_of(model) -> np.ndarray:
    return np.random.default_rng(0).normal(0.0, 0.5, (200, 4)).astype(np.float32)


def test_case3_failed_set_parameters_changes_nothing(trained, tmp_path):
    # Another architecture whose first layers have the same shapes: PyTorch alone would copy those
    other = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[16, 16], T=2), seed=1)
    other.save(tmp_path / "other.zip")
    observations = observations_of(trained)
    actions = trained.predict(observations, deterministic=True)[0]
    before = snapshot(trained)
    with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict"):
        trained.set_parameters(str(tmp_path / "other.zip"))
    assert_unchanged(trained, before, observations, actions)
    # Training still updates the statistics (nothing was frozen)
    norm = next(m for m in trained.policy.q_net.modules() if isinstance(m, RunningNorm))
    count = float(norm.running_count)
    trained.learn(32, reset_num_timesteps=False)
    assert float(norm.running_count) > count


@pytest.mark.parametrize("change", ["missing", "unexpected", "shape"])
def test_case3_failed_load_state_dict_changes_nothing(trained, change):
    observations = observations_of(trained)
    actions = trained.predict(observations, deterministic=True)[0]
    before = snapshot(trained)
    state = {name: tensor if name == "spiking_knobs" else th.zeros_like(tensor) for name, tensor in before.items()}
    if change == "missing":
        del state["q_net.q_net.0.running_mean"]
    elif change == "unexpected":
        state["q_net.q_net.9.weight"] = th.zeros(2)
    else:
        state["q_net.q_net.1.weight"] = th.zeros(3, 3)
    with pytest.raises(RuntimeError):
        trained.policy.load_state_dict(state)
    assert_unchanged(trained, before, observations, actions)


def test_case3_failed_load_of_a_corrupted_file_changes_nothing(trained, tmp_path):
    trained.save(tmp_path / "good.zip")
    data = (tmp_path / "good.zip").read_bytes()
    (tmp_path / "bad.zip").write_bytes(data[: len(data) // 2])
    observations = observations_of(trained)
    actions = trained.predict(observations, deterministic=True)[0]
    before = snapshot(trained)
    with pytest.raises(ValueError, match=r"Names of parameters do not match|wasn.t a zip-file"):
        trained.set_parameters(str(tmp_path / "bad.zip"))
    with pytest.raises((AssertionError, ValueError), match=r"No data found|wasn.t a zip-file"):
        DQN.load(tmp_path / "bad.zip")
    assert_unchanged(trained, before, observations, actions)


def test_case3_a_load_with_other_knobs_changes_nothing():
    # A state dict saved with other resolved knobs (here T=4) is refused by name, and the policy stays as it was
    model = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=16, policy_kwargs=dict(net_arch=[8], T=2), seed=0)
    other = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=16, policy_kwargs=dict(net_arch=[8], T=4), seed=1)
    observations = np.stack([model.observation_space.sample() for _ in range(20)])
    actions = model.predict(observations, deterministic=True)[0]
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    with pytest.raises(ValueError, match="spiking knobs"):
        model.policy.load_state_dict(other.policy.state_dict())
    assert model.policy.spiking.T == 2
    for key, value in model.policy.state_dict().items():
        assert th.equal(value, before[key]), key
    np.testing.assert_array_equal(model.predict(observations, deterministic=True)[0], actions)
