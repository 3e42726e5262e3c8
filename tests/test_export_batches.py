"""Issue 21, case 5: exports that work where they say they do (every batch size, gSDE), and refusals up front."""

import numpy as np
import onnxruntime
import pytest
import torch as th
from sb3_contrib import QRDQN, TQC, CrossQ
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.envs import SimpleMultiObsEnv

import sb3_spiking  # noqa: F401
from sb3_spiking.export import to_onnx, to_torchscript
from tests.envs_for_tests import image_env

BATCHES = (1, 2, 3, 7)
OFF_POLICY = (SAC, TD3, DDPG, TQC, CrossQ)
CNN = "SpikingCnnPolicy"


def make(algo, policy: str, **kwargs):
    image = policy == CNN
    continuous = kwargs.pop("continuous", False) or algo in OFF_POLICY
    env = image_env(discrete=not continuous) if image else ("Pendulum-v1" if continuous else "CartPole-v1")
    if algo in (PPO, A2C):
        extra = dict(n_steps=16, batch_size=16) if algo is PPO else dict(n_steps=16)
    else:
        extra = dict(buffer_size=200, learning_starts=16, batch_size=16)
    if algo in OFF_POLICY and image:
        extra["policy_kwargs"] = dict(T=2, net_arch=[8])
    else:
        extra["policy_kwargs"] = dict(T=2) if image else dict(T=2, net_arch=[8])
    extra["policy_kwargs"].update(kwargs.pop("policy_kwargs", {}))
    model = algo(policy, env, seed=0, **extra, **kwargs)
    model.learn(32)  # some statistics and trained weights
    return model


def check_every_batch(model, tmp_path) -> None:
    scripted = to_torchscript(model.policy)
    to_onnx(model.policy, tmp_path / "policy.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "policy.onnx"))
    rng = np.random.default_rng(0)
    for batch in BATCHES:
        model.observation_space.seed(int(rng.integers(1 << 30)))
        obs = np.stack([model.observation_space.sample() for _ in range(batch)])
        expected, _ = model.predict(obs, deterministic=True)
        with th.no_grad():
            traced = scripted(th.as_tensor(obs)).numpy()
        onnx = session.run(None, {"observations": obs})[0]
        assert traced.shape == onnx.shape == expected.shape, batch
        if np.issubdtype(expected.dtype, np.integer):
            np.testing.assert_array_equal(traced, expected)
            np.testing.assert_array_equal(onnx, expected)
        else:
            np.testing.assert_allclose(traced, expected, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(onnx, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "algo, policy",
    [(algo, policy) for algo in (DQN, QRDQN, A2C, PPO, SAC, TD3, DDPG, TQC) for policy in ("SpikingMlpPolicy", CNN)]
    + [(CrossQ, "SpikingMlpPolicy")],  # CrossQ has no CnnPolicy
)
def test_case5_exports_take_every_batch_size(tmp_path, algo, policy):
    model = make(algo, policy)
    obs = np.stack([model.observation_space.sample() for _ in range(3)])
    before = model.predict(obs, deterministic=True)[0]
    check_every_batch(model, tmp_path)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], before)  # the model is left as it was
    assert all(m.step_mode == "m" for m in model.policy.modules() if hasattr(m, "step_mode"))


def test_case5_continuous_ppo_exports_take_every_batch_size(tmp_path):
    check_every_batch(make(PPO, "SpikingMlpPolicy", continuous=True), tmp_path)


@pytest.mark.parametrize("algo", [SAC, PPO])
def test_case5_gsde_policies_export(tmp_path, algo):
    model = make(algo, "SpikingMlpPolicy", continuous=True, use_sde=True)
    noise = model.policy.action_dist if algo is PPO else model.actor.action_dist
    exploration = noise.exploration_mat.clone()
    check_every_batch(model, tmp_path)
    assert th.equal(noise.exploration_mat, exploration)  # the exported model's noise is left as it was


def test_case5_multi_input_population_with_an_image_is_refused_at_construction():
    with pytest.raises(ValueError, match=r"encoder='population' reads vector observations; the image key\(s\) \['img'\]"):
        PPO("SpikingMultiInputPolicy", SimpleMultiObsEnv(), n_steps=16, policy_kwargs=dict(encoder="population"))
