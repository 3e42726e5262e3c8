"""Issue 21, case 2: non-finite and extreme observations, and statistics that change in gradient steps only."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib import QRDQN
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3

import sb3_spiking  # noqa: F401
from sb3_spiking.export import to_nir, to_torchscript
from sb3_spiking.snn import RunningNorm


def norms(module: th.nn.Module) -> list[RunningNorm]:
    return [m for m in module.modules() if isinstance(m, RunningNorm)]


def statistics(model) -> list[th.Tensor]:
    return [buffer.clone() for norm in norms(model.policy) for buffer in norm.buffers()]


class TurnsNaN(gym.Env):
    """A 3-dimensional observation that holds a NaN (or an inf) from the fourth step on."""

    observation_space = spaces.Box(-1.0, 1.0, (3,))

    def __init__(self, value: float = float("nan"), continuous: bool = False) -> None:
        self.value = value
        self.action_space = spaces.Box(-1.0, 1.0, (1,)) if continuous else spaces.Discrete(2)
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.steps += 1
        obs = self.observation_space.sample()
        if self.steps >= 4:
            obs[1] = self.value
        return obs, 1.0, self.steps >= 20, False, {}


@pytest.mark.parametrize("algo", [DQN, QRDQN, A2C, PPO, SAC, TD3])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_case2_predict_refuses_a_non_finite_observation_by_name(algo, value):
    env = "Pendulum-v1" if algo in (SAC, TD3) else "CartPole-v1"
    model = algo("SpikingMlpPolicy", env, policy_kwargs=dict(net_arch=[8], T=2))
    obs = model.observation_space.sample()
    obs[1] = value
    with pytest.raises(ValueError, match=r"observation holds (NaN|inf) values \(batch index \[0\]\).*VecCheckNan"):
        model.predict(obs)
    batch = np.stack([model.observation_space.sample()] * 3)
    batch[2, 0] = value
    with pytest.raises(ValueError, match=r"batch index \[2\]"):
        model.predict(batch, deterministic=True)


def test_case2_a_dict_observation_names_its_key():
    from tests.test_normalization import VectorDictEnv

    model = DQN("SpikingMultiInputPolicy", VectorDictEnv(), policy_kwargs=dict(net_arch=[8], T=2))
    obs = model.observation_space.sample()
    obs["b"][0] = np.nan
    with pytest.raises(ValueError, match="observation key 'b'"):
        model.predict(obs)


@pytest.mark.parametrize("algo", [DQN, PPO, SAC])
def test_case2_learning_stops_at_a_non_finite_observation_and_keeps_the_statistics_finite(algo):
    env = TurnsNaN(continuous=algo is SAC)
    kwargs = dict(n_steps=16, batch_size=16) if algo is PPO else dict(learning_starts=8, batch_size=8, train_freq=1)
    model = algo("SpikingMlpPolicy", env, policy_kwargs=dict(net_arch=[8], T=2), seed=0, **kwargs)
    with pytest.raises(ValueError, match="observation holds NaN values"):
        model.learn(200)
    assert all(bool(th.isfinite(tensor).all()) for tensor in statistics(model))
    assert all(bool(th.isfinite(p).all()) for p in model.policy.parameters())


def test_case2_a_non_finite_batch_never_enters_the_statistics():
    norm = RunningNorm(2).train()
    norm(th.tensor([[1.0, 2.0], [3.0, 4.0]]))
    before = [b.clone() for b in norm.buffers()]
    for bad in (float("nan"), float("inf"), -float("inf")):
        norm(th.tensor([[bad, 0.0], [1.0, 1.0]]))
    assert all(th.equal(a, b) for a, b in zip(before, norm.buffers()))
    assert float(norm.running_count) == 2


def test_case2_huge_values_give_finite_statistics():
    norm = RunningNorm(2).train()
    norm(th.tensor([[1e20, 1.0], [-1e20, 3.0]]))
    assert bool(th.isfinite(norm.running_var).all()) and bool(th.isfinite(norm.running_mean).all())
    assert float(norm.running_var[0]) == pytest.approx(th.finfo(th.float32).max)  # 1e40 is out of float32's range
    np.testing.assert_allclose(norm.running_var[1].item(), 1.0)
    norm(th.tensor([[3e20, 2.0], [3e20, 2.0]]))  # merged in float64: no overflow of count * delta ** 2
    np.testing.assert_allclose(norm.running_mean.numpy(), [1.5e20, 2.0], rtol=1e-6)
    assert bool(th.isfinite(norm(th.tensor([[1e20, 0.0]]))).all())
    # Moderate values merge exactly as all samples together (float64 reference)
    rng = np.random.default_rng(1)
    batches = [rng.normal(1e6, 1e3, size=(n, 1)) for n in (3, 50, 7)]
    norm = RunningNorm(1).train()
    for batch in batches:
        norm(th.as_tensor(batch, dtype=th.float32))
    every = np.concatenate([b.astype(np.float32).astype(np.float64) for b in batches])
    np.testing.assert_allclose(norm.running_var.item(), every.var(), rtol=1e-5)


def test_case2_only_gradient_steps_change_the_statistics():
    norm = RunningNorm(2).train()
    with th.no_grad():
        norm(th.ones(4, 2) * 5)
    assert float(norm.running_count) == 0  # a target network, next observations, exports: under no_grad
    norm.eval()(th.ones(4, 2) * 5)
    assert float(norm.running_count) == 0
    norm.train()(th.ones(4, 2) * 5)
    assert float(norm.running_count) == 4


def test_case2_a_fresh_or_loaded_policy_is_not_changed_by_direct_calls_or_exports(tmp_path):
    dqn = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[8], T=2))
    obs = th.as_tensor(np.stack([dqn.observation_space.sample() for _ in range(16)]))
    dqn.q_net(obs)
    assert all(float(norm.running_count) == 0 for norm in norms(dqn.policy))
    model = TD3("SpikingMlpPolicy", "Pendulum-v1", learning_starts=16, batch_size=16, policy_kwargs=dict(net_arch=[8], T=2))
    model.learn(48)
    model.save(tmp_path / "td3.zip")
    loaded = TD3.load(tmp_path / "td3.zip", env=model.get_env())
    observations = np.random.default_rng(0).uniform(-1, 1, (32, 3)).astype(np.float32)
    actions = loaded.predict(observations, deterministic=True)[0]
    before = statistics(loaded)
    for _ in range(5):
        to_nir(loaded.policy)
        to_torchscript(loaded.policy)
        loaded.actor(th.as_tensor(observations))
    assert all(th.equal(a, b) for a, b in zip(before, statistics(loaded)))
    np.testing.assert_array_equal(loaded.predict(observations, deterministic=True)[0], actions)
    loaded.learn(16, reset_num_timesteps=False)  # and training still updates them
    assert any(not th.equal(a, b) for a, b in zip(before, statistics(loaded)))


class Huge(gym.Env):
    """CartPole-sized observations on the scale of 1e20."""

    observation_space = spaces.Box(-1e30, 1e30, (4,))
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return (self.np_random.normal(size=4) * 1e20).astype(np.float32), {}

    def step(self, action):
        return (self.np_random.normal(size=4) * 1e20).astype(np.float32), 1.0, False, False, {}


def test_case2_huge_observations_train_with_finite_statistics_and_outputs():
    model = DQN("SpikingMlpPolicy", Huge(), learning_starts=16, batch_size=16, policy_kwargs=dict(net_arch=[8], T=2), seed=0)
    model.learn(64)
    (norm,) = norms(model.policy.q_net)
    assert float(norm.running_count) > 0
    assert bool(th.isfinite(norm.running_var).all()) and bool(th.isfinite(norm.running_mean).all())
    obs = np.stack([Huge().reset(seed=seed)[0] for seed in range(8)])
    with th.no_grad():
        q_values = model.q_net(th.as_tensor(obs))
    assert bool(th.isfinite(q_values).all())
    assert all(bool(th.isfinite(p).all()) for p in model.policy.parameters())
