import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import DQN

import sb3_spiking  # noqa: F401
from sb3_spiking.demos.gridworld import ACTIONS, ARROWS, ENV_ID, GRIDWORLD_DQN_KWARGS, GridWorld

UP, DOWN, LEFT, RIGHT = range(4)


def cell_of(observation):
    assert observation.shape == (12,) and observation.dtype == np.float32
    assert observation.sum() == 1.0 and set(np.unique(observation)) == {0.0, 1.0}
    index = int(observation.argmax())
    return divmod(index, 4)


def test_registered_and_valid():
    env = gym.make(ENV_ID)
    assert env.spec.max_episode_steps == 100
    assert env.observation_space.shape == (12,) and env.action_space.n == 4
    check_env(env.unwrapped)


@pytest.mark.parametrize(
    "start, action, expected_cell, expected_reward, expected_done",
    [
        ((2, 0), UP, (1, 0), 0.0, False),
        ((2, 0), RIGHT, (2, 1), 0.0, False),
        ((2, 0), DOWN, (2, 0), 0.0, False),  # off the grid: stays
        ((2, 0), LEFT, (2, 0), 0.0, False),
        ((1, 0), RIGHT, (1, 0), 0.0, False),  # into the wall: stays
        ((2, 1), UP, (2, 1), 0.0, False),
        ((0, 2), RIGHT, (0, 3), 1.0, True),  # the goal ends the episode
        ((1, 2), RIGHT, (1, 3), -1.0, False),  # the trap costs but does not end it
        ((1, 3), RIGHT, (1, 3), -1.0, False),  # bumping while in the trap costs again
        ((1, 3), UP, (0, 3), 1.0, True),
        ((2, 3), UP, (1, 3), -1.0, False),
    ],
)
def test_transitions(start, action, expected_cell, expected_reward, expected_done):
    env = gym.make(ENV_ID)
    observation, info = env.reset(options={"start": start})
    assert cell_of(observation) == start == info["cell"]
    observation, reward, terminated, truncated, info = env.step(action)
    assert cell_of(observation) == expected_cell == info["cell"]
    assert reward == expected_reward
    assert terminated is expected_done and truncated is False


def test_episode_from_start_and_truncation():
    env = gym.make(ENV_ID)
    observation, _ = env.reset(seed=0)
    assert cell_of(observation) == (2, 0)
    total = 0.0
    for action in (UP, UP, RIGHT, RIGHT, RIGHT):
        observation, reward, terminated, truncated, _ = env.step(action)
        total += reward
    assert (total, terminated, truncated, cell_of(observation)) == (1.0, True, False, (0, 3))
    env.reset()
    for step in range(100):
        _, _, terminated, truncated, _ = env.step(DOWN)
        assert not terminated and truncated == (step == 99)


def test_reset_options_and_exploring_starts():
    env = GridWorld(exploring_starts=True)
    starts = {cell_of(env.reset(seed=seed)[0]) for seed in range(200)}
    assert starts == set(GridWorld.decision_cells())
    assert len(starts) == 10 and GridWorld.wall not in starts and GridWorld.goal not in starts
    with pytest.raises(ValueError, match="non-terminal cell"):
        env.reset(options={"start": (1, 1)})
    with pytest.raises(ValueError, match="valid actions"):
        env.step(4)
    with pytest.raises(ValueError, match="render_mode"):
        GridWorld(render_mode="human")


def test_render():
    env = gym.make(ENV_ID, render_mode="ansi")
    env.reset()
    assert env.render() == ". . . G\n. # . X\nA . . .\n"
    env = gym.make(ENV_ID, render_mode="rgb_array")
    env.reset(options={"start": (1, 2)})
    image = env.render()
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    agent = np.all(image == (50, 90, 220), axis=-1)
    assert agent.sum() == 16 * 16 and agent[16:32, 32:48].all()


def test_optimal_values():
    q = GridWorld.optimal_q_values(gamma=0.9)
    assert set(q) == set(GridWorld.decision_cells())
    assert q[(0, 2)][RIGHT] == pytest.approx(1.0)
    assert q[(1, 2)][RIGHT] == pytest.approx(-1.0 + 0.9 * 1.0)  # into the trap, then up to the goal
    assert q[(2, 0)].max() == pytest.approx(0.9**4)  # five moves to the goal
    assert q[(2, 0)][UP] == pytest.approx(q[(2, 0)][RIGHT])  # two shortest paths
    assert q[(2, 3)].argmax() == LEFT  # around, not through the trap
    policy = GridWorld.picture({cell: ARROWS[int(values.argmax())] for cell, values in q.items()})
    assert policy == "> > > G\n^ # ^ ^\n^ > ^ <\n"


def learned_mistakes(model):
    """The decision cells where the greedy action is not an optimal one."""
    q_star = GridWorld.optimal_q_values(gamma=model.gamma)
    mistakes = {}
    for cell, values in q_star.items():
        action = int(model.predict(GridWorld().one_hot(cell), deterministic=True)[0])
        if values[action] < values.max() - 1e-6:
            mistakes[cell] = ACTIONS[action]
    return mistakes


@pytest.mark.slow
def test_spiking_dqn_learns_optimal_policy():
    th.set_num_threads(1)
    model = DQN(
        "SpikingMlpPolicy",
        ENV_ID,
        **GRIDWORLD_DQN_KWARGS,
        policy_kwargs=dict(net_arch=[64], T=8),
        seed=0,
    )
    model.learn(8_000)
    assert learned_mistakes(model) == {}
