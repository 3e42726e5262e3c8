"""TD3 with an ANN proxy target actor fitted to the spiking actor (Proxy Target, arXiv 2505.24161)."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.td3.policies import Actor

from sb3_spiking import SpikingTD3Policy
from sb3_spiking.policies.proxy_target import ProxyTargetTD3

TINY = dict(buffer_size=500, learning_starts=64, batch_size=32, seed=0)


def test_the_target_actions_come_from_the_fitted_proxy(tmp_path):
    model = ProxyTargetTD3("SpikingMlpPolicy", "Pendulum-v1", policy_kwargs=dict(T=4, net_arch=[32, 32]), **TINY)
    assert isinstance(model.policy, SpikingTD3Policy) and isinstance(model.policy.proxy_actor, Actor)
    assert not any(hasattr(m, "v_threshold") for m in model.policy.proxy_actor.modules())  # an ANN
    obs = model.policy.obs_to_tensor(np.stack([model.observation_space.sample() for _ in range(64)]))[0]
    with th.no_grad():
        th.testing.assert_close(model.actor_target(obs), model.policy.proxy_actor(obs))
    averaged_before = [p.clone() for p in model.policy.actor_target.parameters()]
    model.learn(200)
    # The stock update still polyak-averages the (unread) spiking copy; the proxy follows the online actor
    assert any(not th.equal(a, b) for a, b in zip(averaged_before, model.policy.actor_target.parameters()))
    loss = model._fit_proxy(300)
    # Compared where the proxy is fitted (replayed states), in evaluation mode (as predict; the online actor's
    # observation statistics stay as they are)
    model.policy.set_training_mode(False)
    obs = model.replay_buffer.sample(64).observations
    with th.no_grad():
        online, proxy = model.actor(obs), model.actor_target(obs)
    assert loss < 0.01 and float((online - proxy).abs().mean()) < 0.1
    model.save(tmp_path / "model.zip")
    loaded = ProxyTargetTD3.load(tmp_path / "model.zip")
    loaded.policy.set_training_mode(False)
    with th.no_grad():
        th.testing.assert_close(loaded.actor_target(obs), proxy)
        th.testing.assert_close(loaded.actor(obs), online)


def test_proxy_steps_are_validated():
    with pytest.raises(ValueError, match="proxy_steps"):
        ProxyTargetTD3("SpikingMlpPolicy", "Pendulum-v1", proxy_steps=0, **TINY)
