"""
Why does the spiking actor with the ANN value function on raw observations spend 100k steps or more of A2C on
CartPole-v1 below 475 (the suite's ``snn-anncritic``), where SB3's ``MlpPolicy`` needs 10k-50k?

This trains, with rl-zoo3's tuned CartPole-v1 settings for A2C (8 envs, ``ent_coef=0``, SB3's defaults otherwise),
the ANN, the spiking actor with the ANN value function on raw observations and the same with that value function on
the standardised observations (``lab.candidates``' ``AnnCriticSpikingActorCriticPolicy`` and
``NormCriticSpikingActorCriticPolicy``), for ``--steps`` steps each, then runs 20 greedy episodes (seeded) and
reports:

- the mean episode length, and how the failed episodes end (the cart off the track, or the pole fallen);
- the spread of each observation dimension over the visited states;
- the value function over those states: its spread, and its correlation with minus the pole's angle (in absolute
  value) and with minus the cart's distance from the centre (the two ways an episode ends)::

    python lab/a2c_plateau.py                       # writes lab/a2c_plateau.md
    python lab/a2c_plateau.py --seeds 0 --steps 20000 --out -
"""

import argparse
import os
import sys

import gymnasium as gym
import numpy as np
import torch as th
from lab_report import write_report
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_vec_env

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # lab.candidates

from lab.candidates import AnnCriticSpikingActorCriticPolicy, NormCriticSpikingActorCriticPolicy

X_LIMIT, THETA_LIMIT = 2.4, 0.2095  # CartPole-v1's termination bounds (cart position, pole angle in radians)
POLICIES = {
    "ANN (MlpPolicy)": "MlpPolicy",
    "SNN actor, ANN value function on raw observations": AnnCriticSpikingActorCriticPolicy,
    "SNN actor, ANN value function on standardised observations": NormCriticSpikingActorCriticPolicy,
}


def greedy_states(model: A2C, episodes: int) -> tuple[list[int], list[str], np.ndarray]:
    """Lengths and ends of ``episodes`` greedy episodes, and every state visited."""
    env = gym.make("CartPole-v1")
    lengths, ends, states = [], [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=1000 + episode)
        done, length = False, 0
        while not done:
            states.append(obs)
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, _ = env.step(action)
            length += 1
            done = terminated or truncated
        lengths.append(length)
        ends.append("track" if abs(obs[0]) > X_LIMIT else "pole" if abs(obs[2]) > THETA_LIMIT else "time")
    return lengths, ends, np.array(states, dtype=np.float32)


def report(label: str, policy, seed: int, steps: int, episodes: int) -> list[str]:
    th.manual_seed(seed)
    model = A2C(policy, make_vec_env("CartPole-v1", n_envs=8, seed=seed), ent_coef=0.0, seed=seed)
    model.learn(steps)
    lengths, ends, states = greedy_states(model, episodes)
    with th.no_grad():
        values = model.policy.predict_values(th.as_tensor(states)).squeeze(-1).numpy()
    corr_angle = np.corrcoef(values, -np.abs(states[:, 2]))[0, 1]
    corr_track = np.corrcoef(values, -np.abs(states[:, 0]))[0, 1]
    std = ", ".join(f"{value:.3g}" for value in states.std(axis=0))
    return [
        f"### {label}, seed {seed}",
        "",
        f"- greedy episodes: mean length {np.mean(lengths):.1f}; ended with the cart off the track {ends.count('track')}, "
        f"the pole fallen {ends.count('pole')}, at the time limit {ends.count('time')}",
        f"- visited states ({len(states)}): std of cart position, cart velocity, pole angle, pole angular velocity: {std}",
        f"- value function: mean {values.mean():.2f}, std {values.std():.3f}; correlation with -|angle| {corr_angle:.2f}, "
        f"with -|position| {corr_track:.2f}",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--steps", type=int, default=40_000, help="A2C steps per model")
    parser.add_argument("--episodes", type=int, default=20, help="greedy episodes per model")
    parser.add_argument("--out", default="lab/a2c_plateau.md", help="output file ('-': print only)")
    args = parser.parse_args()
    th.set_num_threads(1)
    command = "python lab/a2c_plateau.py " + " ".join(sys.argv[1:])
    lines = [f"Made by `{command.strip()}`.", ""]
    lines += [f"A2C, rl-zoo3's CartPole-v1 settings, {args.steps:,} steps per model, {args.episodes} greedy episodes.", ""]
    for seed in args.seeds:
        for label, policy in POLICIES.items():
            lines += report(label, policy, seed, args.steps, args.episodes)
    text = "\n".join(lines)
    write_report(text, args.out)


if __name__ == "__main__":
    main()
