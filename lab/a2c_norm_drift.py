"""
Does the drift of the input statistics make the spiking A2C fall back on CartPole-v1?

The spiking A2C of the learning suite reaches 500 and then ends near 340, while with raw inputs (``input_norm=False``)
it stays at 500. This trains the spiking A2C with rl-zoo3's tuned CartPole-v1 settings (8 envs, ent_coef 0, 500k
steps) and records, every ``--every`` steps, the policy network's running mean and standard deviation and a
10-episode greedy evaluation. ``--freeze-at N`` stops the statistics from changing after N steps: if the fall-back
comes from the statistics drifting, the frozen run keeps its return. Writes one JSON per run::

    python lab/a2c_norm_drift.py --seed 0 --out lab/results/a2c_norm_drift
    python lab/a2c_norm_drift.py --seed 0 --freeze-at 50000 --out lab/results/a2c_norm_drift
"""

import argparse
import json
import os

import numpy as np
import torch as th
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

import sb3_spiking  # noqa: F401  (the Spiking*Policy names)
from sb3_spiking.snn import RunningNorm


class DriftRecorder(BaseCallback):
    """Every ``every`` steps: the statistics of each input normalisation and a greedy evaluation."""

    def __init__(self, every: int, freeze_at: int, episodes: int) -> None:
        super().__init__()
        self.every, self.freeze_at, self.episodes = every, freeze_at, episodes
        self.rows: list[dict] = []
        self.next_row = 0

    def norms(self) -> list[RunningNorm]:
        return [module for module in self.model.policy.modules() if isinstance(module, RunningNorm)]

    def _on_step(self) -> bool:
        if self.freeze_at and self.num_timesteps >= self.freeze_at:
            for norm in self.norms():
                norm.update = lambda x: False  # the statistics no longer change
        if self.num_timesteps >= self.next_row:
            self.next_row += self.every
            mean, std = evaluate_policy(self.model, self.eval_env, n_eval_episodes=self.episodes, deterministic=True)
            norm = self.norms()[0]
            self.rows.append(
                dict(
                    timesteps=self.num_timesteps,
                    eval_mean=float(mean),
                    eval_std=float(std),
                    running_mean=norm.running_mean.tolist(),
                    running_std=norm.running_var.sqrt().tolist(),
                )
            )
            print(f"{self.num_timesteps:>7} return {mean:6.1f} std {np.round(self.rows[-1]['running_std'], 3)}", flush=True)
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--freeze-at", type=int, default=0, help="steps after which the statistics stay fixed (0: never)")
    parser.add_argument("--out", default="lab/results/a2c_norm_drift")
    args = parser.parse_args()
    th.set_num_threads(1)
    env = make_vec_env("CartPole-v1", n_envs=8, seed=args.seed)
    model = A2C("SpikingMlpPolicy", env, ent_coef=0.0, seed=args.seed, device="cpu")
    recorder = DriftRecorder(args.every, args.freeze_at, args.episodes)
    recorder.eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=args.seed + 1000)
    model.learn(args.steps, callback=recorder)
    os.makedirs(args.out, exist_ok=True)
    name = f"seed{args.seed}" + (f"-freeze{args.freeze_at}" if args.freeze_at else "")
    with open(os.path.join(args.out, f"{name}.json"), "w") as file:
        json.dump(dict(vars(args), rows=recorder.rows), file, indent=1)


if __name__ == "__main__":
    main()
