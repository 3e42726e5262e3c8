"""
How much the untrained greedy policy of a DQN depends on the state: spiking (package defaults) against SB3's MlpPolicy.

On the sparse-reward tasks (MountainCar, Acrobot) the spiking DQN leaves its first plateau later than the ANN. One
reading: a freshly drawn ANN's greedy action already changes with the state (its ReLU units are piecewise linear in the
observation), so its greedy episodes wander, where a spiking network whose Q-values hardly change between states
always pushes the same way. For each task (rl-zoo3's tuned DQN entry, its ``net_arch``) and seed this measures, on
states from random-action episodes (seeded):

- the share of the most frequent greedy action over the states (1.0: one action everywhere);
- the Q-values' spread: the standard deviation over states of the greedy Q-value, against the mean gap between the
  best and the worst action;
- the return of 3 greedy episodes of the untrained network, and how many reach the goal.

The spiking network's observation statistics are first fitted on the same states (one pass in training mode, as the
first gradient steps on a replay buffer of random actions would do)::

    python lab/greedy_at_init.py                       # writes lab/greedy_at_init.md
    python lab/greedy_at_init.py --seeds 0 1 --out -   # prints only
"""

import argparse
from typing import Optional

import numpy as np
import torch as th
from episodes import greedy_returns, play_states
from lab_report import finish_report, made_by
from stable_baselines3 import DQN

import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)

TASKS = {"MountainCar-v0": -200.0, "Acrobot-v1": -500.0, "CartPole-v1": None}  # the return of an episode that fails
POLICIES = {"ANN (MlpPolicy)": "MlpPolicy", "SNN (SpikingMlpPolicy)": "SpikingMlpPolicy"}


def measure(env_id: str, policy: str, seed: int, states: np.ndarray, episodes: int) -> dict[str, float]:
    """The greedy policy's dependence on the state, at initialisation."""
    model = DQN(policy, env_id, policy_kwargs=dict(net_arch=[256, 256]), seed=seed, device="cpu")
    obs = th.as_tensor(states)
    if policy != "MlpPolicy":
        model.policy.set_training_mode(True)
        model.q_net(obs)  # fits the observation statistics (a pass in training mode with autograd)
        model.policy.set_training_mode(False)
    with th.no_grad():
        q_values = model.q_net(obs).numpy()
    actions = q_values.argmax(axis=1)
    share = np.bincount(actions, minlength=q_values.shape[1]).max() / len(actions)
    gap = float((q_values.max(axis=1) - q_values.min(axis=1)).mean())
    returns = greedy_returns(model, env_id, episodes, seed)
    return dict(share=float(share), state_std=float(q_values.max(axis=1).std()), gap=gap, returns=returns)


def main(argv: Optional[list[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)), help="network seeds")
    parser.add_argument("--n-states", type=int, default=4096, help="states from random-action episodes")
    parser.add_argument("--episodes", type=int, default=3, help="greedy episodes per network")
    parser.add_argument("--out", default="lab/greedy_at_init.md", help="output file ('-': print only)")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    command = made_by("lab/greedy_at_init.py", argv)
    lines = [
        f"Made by `{command}`: untrained DQN networks (rl-zoo3's `net_arch=[256, 256]`), seeds {args.seeds}, "
        f"{args.n_states} states of random-action episodes, {args.episodes} greedy episodes each. Mean over seeds "
        "(min-max in brackets).",
        "",
        "| task | policy | top action's share | std of max Q over states | mean best-worst gap | greedy return "
        "| greedy episodes that end early |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for env_id, failed in TASKS.items():
        states = play_states(env_id, args.n_states, seed=0)
        for label, policy in POLICIES.items():
            rows = [measure(env_id, policy, seed, states, args.episodes) for seed in args.seeds]
            share = np.array([row["share"] for row in rows])
            returns = np.concatenate([row["returns"] for row in rows])
            early = "-" if failed is None else f"{int((returns > failed).sum())} of {len(returns)}"
            lines.append(
                f"| {env_id} | {label} | {share.mean():.2f} ({share.min():.2f}-{share.max():.2f}) "
                f"| {np.mean([row['state_std'] for row in rows]):.4f} | {np.mean([row['gap'] for row in rows]):.4f} "
                f"| {returns.mean():.1f} | {early} |"
            )
            print(lines[-1], flush=True)
    return finish_report(lines, args.out)


if __name__ == "__main__":
    main()
