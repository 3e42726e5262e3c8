"""
The DeZero book's grid world solved by a spiking DQN: trains it, then prints its greedy policy beside the optimal one
(value iteration) and its Q-values beside the optimal action values::

    python scripts/gridworld_dqn.py              # 8k env steps, about a minute on one core
"""

import argparse
from typing import Optional

import numpy as np
import torch as th
from stable_baselines3 import DQN

import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)
from sb3_spiking.demos.gridworld import ARROWS, ENV_ID, GRIDWORLD_DQN_KWARGS, GridWorld


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Train a spiking DQN on the DeZero book's grid world; compare with optimal.")
    parser.add_argument("--steps", type=int, default=8_000, help="env steps of training")
    parser.add_argument("--T", type=int, default=8, help="simulation time steps of the spiking network")
    parser.add_argument("--seed", type=int, default=0, help="seed of the environment and the network")
    args = parser.parse_args(argv)

    th.set_num_threads(1)
    model = DQN(
        "SpikingMlpPolicy",
        ENV_ID,
        **GRIDWORLD_DQN_KWARGS,
        policy_kwargs=dict(net_arch=[64], T=args.T),
        seed=args.seed,
    )
    model.learn(args.steps)
    optimal = GridWorld.optimal_q_values(gamma=0.9)
    learned, mistakes = {}, 0
    for cell, q_star in optimal.items():
        observation = th.as_tensor(GridWorld().one_hot(cell))[None]
        with th.no_grad():
            q_values = model.q_net(observation)[0].numpy()
        action = int(q_values.argmax())
        learned[cell] = ARROWS[action]
        mistakes += int(q_star[action] < q_star.max() - 1e-6)
        print(f"cell {cell}: Q = {np.round(q_values, 2)}, Q* = {np.round(q_star, 2)}")
    print("\nlearned greedy policy:\n" + GridWorld.picture(learned))
    print(
        "an optimal policy (value iteration):\n" + GridWorld.picture({c: ARROWS[int(q.argmax())] for c, q in optimal.items()})
    )
    print(f"cells where the greedy action is not optimal: {mistakes} of {len(optimal)}")
    return mistakes


if __name__ == "__main__":
    main()
