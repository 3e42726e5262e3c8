"""
End-to-end ``model.learn`` time of the spiking MLP policy against SB3's ``MlpPolicy`` under the same settings:
rl-zoo3's tuned CartPole-v1 PPO and DQN (those of ``python -m sb3_spiking.demos.train``), one torch thread, the
runs interleaved (ANN, spiking, ANN, ...) so that a change in the machine's load hits both alike. Reports the
median wall time per setting and the ratio of medians to the ANN::

    python scripts/benchmark_learn.py                      # docs/results/benchmark_learn.md
    python scripts/benchmark_learn.py --quick --out -      # a smoke run, printed only
    python scripts/benchmark_learn.py --profile            # where learn's time goes: docs/results/profile_learn.md

The ratio is far below ``T``: the first layer runs once, and matrix products on ``T x batch`` rows are cheaper per
multiply-accumulate than on ``batch`` rows (``--profile`` shows where the time goes).
"""

import argparse
import cProfile
import pstats
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
VARIANTS: dict[str, Optional[dict[str, Any]]] = {
    "ANN (MlpPolicy)": None,
    "SNN, T=8 (default)": {},
    "SNN, T=4": dict(T=4),
    "SNN, T=16": dict(T=16),
}


def make_model(algo: str, spiking: Optional[dict[str, Any]], seed: int) -> Any:
    """The model of a setting: ``MlpPolicy`` (``spiking=None``) or ``SpikingMlpPolicy`` with these knobs."""
    policy_kwargs = dict(CARTPOLE_SETTINGS[algo]["policy_kwargs"], **(spiking or {}))
    env = make_vec_env("CartPole-v1", n_envs=CARTPOLE_SETTINGS[algo]["n_envs"], seed=seed)
    policy = "MlpPolicy" if spiking is None else "SpikingMlpPolicy"
    return ALGOS[algo](policy, env, policy_kwargs=policy_kwargs, seed=seed, device="cpu", **algorithm_kwargs(algo))


def learn_seconds(algo: str, spiking: Optional[dict[str, Any]], steps: int, seed: int) -> float:
    """Wall time of ``model.learn(steps)`` (model construction excluded)."""
    model = make_model(algo, spiking, seed)
    start = time.perf_counter()
    model.learn(steps)
    return time.perf_counter() - start


def run_steps(algo: str, quick: bool) -> int:
    """Env steps per run (``--quick``: a few hundred, past DQN's 1,000 warm-up steps)."""
    return (1536 if algo == "dqn" else 512) if quick else STEPS[algo]


# Parts of ``model.learn`` that the profile reports: label -> (file name ending, function name) in cProfile's terms
PROFILED = {
    "rollouts (acting and env steps)": ("_algorithm.py", "collect_rollouts"),
    "gradient steps (the algorithm's train)": ("{algo}.py", "train"),
    "- linear layers, forward": ("~", "<built-in method torch._C._nn.linear>"),
    "- backward passes": ("~", "<method 'run_backward' of 'torch._C._EngineBase' objects>"),
    "- spiking neurons, forward": ("fused.py", "fused_multi_step"),
    "- optimizer steps": ("optimizer.py", "wrapper"),
}


def profile_shares(algo: str, spiking: Optional[dict[str, Any]], steps: int) -> dict[str, float]:
    """Share of ``model.learn(steps)``'s time spent in each part of :data:`PROFILED` (cProfile), and its seconds."""
    model = make_model(algo, spiking, seed=0)
    profiler = cProfile.Profile()
    profiler.runcall(model.learn, steps)
    profile = pstats.Stats(profiler)
    stats, total = profile.stats, profile.total_tt  # type: ignore[attr-defined]
    shares = {}
    for label, (ending, function) in PROFILED.items():
        ending = ending.format(algo=algo)
        cumulative = [ct for (file, _, name), (_, _, _, ct, _) in stats.items() if name == function and file.endswith(ending)]
        shares[label] = max(cumulative, default=0.0) / total
    shares["seconds (profiled)"] = total
    return shares


def profile_report(algos: list[str], quick: bool, command: str) -> str:
    lines = [
        f"Made by `{command.strip()}`: cProfile of one `model.learn` per algorithm and policy (spiking: T=8, package "
        "defaults) on CartPole-v1 with rl-zoo3's tuned settings, one torch thread; share of the learn call's time (the "
        "parts marked - are inside the gradient steps, and in the rollouts too where acting calls them).",
        "",
        "| part | "
        + " | ".join(
            f"{algo.upper()} {policy} ({run_steps(algo, quick):,} steps)" for algo in algos for policy in ("SNN", "ANN")
        )
        + " |",
        "|---|" + "---:|" * 2 * len(algos),
    ]
    columns = [profile_shares(algo, spiking, run_steps(algo, quick)) for algo in algos for spiking in ({}, None)]
    for label in PROFILED:
        lines.append(f"| {label} | " + " | ".join(f"{100 * shares[label]:.0f}%" for shares in columns) + " |")
    lines.append("| seconds (profiled) | " + " | ".join(f"{shares['seconds (profiled)']:.1f}" for shares in columns) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (interleaved)")
    parser.add_argument("--algos", nargs="+", default=list(STEPS), choices=list(STEPS))
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, a few hundred steps")
    parser.add_argument("--profile", action="store_true", help="profile learn, SNN and ANN (docs/results/profile_learn.md)")
    parser.add_argument("--out", default=None, help="output file ('-': print only; default docs/results/benchmark_learn.md)")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    repeats = 1 if args.quick else args.repeats
    command = "python scripts/benchmark_learn.py " + " ".join(sys.argv[1:] if argv is None else argv)
    out = args.out or ("docs/results/profile_learn.md" if args.profile else "docs/results/benchmark_learn.md")
    if args.profile:
        return write(profile_report(args.algos, args.quick, command), out)
    lines = [
        f"Made by `{command.strip()}`: end-to-end `model.learn` on CartPole-v1 with rl-zoo3's tuned settings, one "
        f"torch thread, {repeats} interleaved run(s) per setting; median wall time and ratio of medians to the ANN.",
        "",
        "| algo | env steps | policy | median s | ratio to ANN |",
        "|---|---:|---|---:|---:|",
    ]
    for algo in args.algos:
        steps = run_steps(algo, args.quick)
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for repeat in range(repeats):
            for name, spiking in VARIANTS.items():
                times[name].append(learn_seconds(algo, spiking, steps, seed=repeat))
        ann = float(np.median(times["ANN (MlpPolicy)"]))
        for name, values in times.items():
            median = float(np.median(values))
            lines.append(f"| {algo.upper()} | {steps:,} | {name} | {median:.2f} | {median / ann:.2f}x |")
    return write("\n".join(lines) + "\n", out)


def write(text: str, out: str) -> str:
    """Print the report and save it to ``out`` (unless ``-``)."""
    print(text)
    if out != "-":
        with open(out, "w") as file:
            file.write(text)
    return text


if __name__ == "__main__":
    main()
