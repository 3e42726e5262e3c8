"""The lab's seeded play: the steps of epsilon-greedy (or random) episodes, and the returns of greedy ones."""

from collections.abc import Iterator
from typing import Any, Optional

import gymnasium as gym
import numpy as np


def epsilon_greedy(
    env_id: str, n: int, seed: int, model: Optional[Any] = None, epsilon: float = 1.0
) -> Iterator[tuple[np.ndarray, int, float, np.ndarray, bool]]:
    """
    ``n`` steps ``(obs, action, reward, next_obs, terminated)`` of episodes where each action is random with
    probability ``epsilon`` and the model's greedy action otherwise; a new episode starts where one ends.

    :param env_id: The environment
    :param n: Number of steps
    :param seed: Seed of the first reset, of the action space and of the epsilon draws
    :param model: The acting model (an SB3 algorithm); None for random actions only (``epsilon=1``)
    :param epsilon: Probability of a random action
    """
    if model is None and epsilon < 1.0:
        raise ValueError(f"epsilon={epsilon} needs a model for its greedy actions")
    env, rng = gym.make(env_id), np.random.default_rng(seed)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(n):
        greedy = rng.random() >= epsilon
        action = int(model.predict(obs, deterministic=True)[0]) if greedy else int(env.action_space.sample())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        yield obs, action, float(reward), next_obs, terminated
        obs = env.reset()[0] if terminated or truncated else next_obs


def play_states(env_id: str, n: int, seed: int, model: Optional[Any] = None, epsilon: float = 1.0) -> np.ndarray:
    """The ``n`` observations of :func:`epsilon_greedy`, as one float32 array."""
    return np.asarray([obs for obs, *_ in epsilon_greedy(env_id, n, seed, model, epsilon)], dtype=np.float32)


def greedy_returns(model: Any, env_id: str, episodes: int, seed: int) -> list[float]:
    """Returns of greedy episodes of the model as it is, episode ``i`` reset with seed ``seed + 1000 + i``."""
    env, returns = gym.make(env_id), []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + 1000 + episode)
        done, total = False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(model.predict(obs, deterministic=True)[0]))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns
