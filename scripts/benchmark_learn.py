"""
End-to-end ``model.learn`` time of the spiking MLP policy against SB3's ``MlpPolicy`` under the same settings:
rl-zoo3's tuned CartPole-v1 PPO and DQN (those of ``python -m sb3_spiking.demos.train``), one torch thread, the
runs interleaved (ANN, spiking, ANN, ...) so that a change in the machine's load hits both alike. Reports the
median wall time per setting and the ratio of medians to the ANN::

    python scripts/benchmark_learn.py                      # docs/benchmark_learn.md
    python scripts/benchmark_learn.py --quick --out -      # a smoke run, printed only

These networks are small: the cost is per call (SB3's rollout and update loops, one forward per env step), not per
multiply-accumulate, which is why the ratio is far below ``T``.
"""

import argparse
import sys
import time
from typing import Any, Optional

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env

import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)
from sb3_spiking.demos.train import ALGOS, CARTPOLE_SETTINGS, algorithm_kwargs

# Env steps per run: PPO, 32 rollouts of 8 x 32 steps with 20 epochs each; DQN, 1,000 warm-up steps then an update
# round of 128 gradient steps every 256 env steps
STEPS = {"ppo": 8192, "dqn": 5120}
VARIANTS: dict[str, Optional[dict[str, Any]]] = {"ANN (MlpPolicy)": None, "SNN, T=8 (default)": {}, "SNN, T=4": dict(T=4)}


def learn_seconds(algo: str, spiking: Optional[dict[str, Any]], steps: int, seed: int) -> float:
    """Wall time of ``model.learn(steps)`` (model construction excluded)."""
    policy_kwargs = dict(CARTPOLE_SETTINGS[algo]["policy_kwargs"], **(spiking or {}))
    env = make_vec_env("CartPole-v1", n_envs=CARTPOLE_SETTINGS[algo]["n_envs"], seed=seed)
    policy = "MlpPolicy" if spiking is None else "SpikingMlpPolicy"
    model = ALGOS[algo](policy, env, policy_kwargs=policy_kwargs, seed=seed, device="cpu", **algorithm_kwargs(algo))
    start = time.perf_counter()
    model.learn(steps)
    return time.perf_counter() - start


def main(argv: Optional[list[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (interleaved)")
    parser.add_argument("--algos", nargs="+", default=list(STEPS), choices=list(STEPS))
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, a few hundred steps")
    parser.add_argument("--out", default="docs/benchmark_learn.md", help="output file ('-': print only)")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    repeats = 1 if args.quick else args.repeats
    command = "python scripts/benchmark_learn.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        f"Made by `{command.strip()}`: end-to-end `model.learn` on CartPole-v1 with rl-zoo3's tuned settings, one "
        f"torch thread, {repeats} interleaved run(s) per setting; median wall time and ratio of medians to the ANN.",
        "",
        "| algo | env steps | policy | median s | ratio to ANN |",
        "|---|---:|---|---:|---:|",
    ]
    for algo in args.algos:
        steps = 1536 if args.quick and algo == "dqn" else (512 if args.quick else STEPS[algo])
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for repeat in range(repeats):
            for name, spiking in VARIANTS.items():
                times[name].append(learn_seconds(algo, spiking, steps, seed=repeat))
        ann = float(np.median(times["ANN (MlpPolicy)"]))
        for name, values in times.items():
            median = float(np.median(values))
            lines.append(f"| {algo.upper()} | {steps:,} | {name} | {median:.2f} | {median / ann:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        with open(args.out, "w") as file:
            file.write(text)
    return text


if __name__ == "__main__":
    main()
