"""
The return of spiking policies with b-bit weights against their float weights (``sb3_spiking.export.quantize``).

For each task and seed: train a small spiking policy (settings below, smaller budgets than the learning suite's),
then evaluate it deterministically for ``--episodes`` episodes with its float weights and with per-layer symmetric
8, 6 and 4-bit weights (``quantize_policy``: the de-quantised weights of ``to_nir(policy, bits=b)``'s integer
graph, thresholds scaled with them). The same evaluation seeds for every variant. Writes a Markdown table and the
raw numbers::

    nice -n 10 env OMP_NUM_THREADS=1 python scripts/deploy_quantisation.py --seeds 0 1 2

The score of a variant is its return normalised between a random policy's (0) and the float policy's (1):
``(R_b - R_random) / (R_float - R_random)``, so that it also reads for tasks with negative returns (Pendulum).
"""

import argparse
import json
import os
import time
from typing import Any

import gymnasium as gym
import torch as th
from learning_tasks import Task, random_return
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.evaluation import evaluate_policy

import sb3_spiking  # noqa: F401
from sb3_spiking.export import quantize_policy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BITS = (8, 6, 4)

# task -> (env, algorithm, constructor kwargs, env steps)
TASKS: dict[str, tuple[str, Any, dict[str, Any], int]] = {
    "cartpole-dqn": (
        "CartPole-v1",
        DQN,
        dict(
            policy_kwargs=dict(net_arch=[64, 64]),
            learning_rate=1e-3,
            learning_starts=1000,
            target_update_interval=500,
            exploration_fraction=0.2,
            exploration_final_eps=0.04,
        ),
        20_000,
    ),
    "cartpole-ppo": (
        "CartPole-v1",
        PPO,
        dict(policy_kwargs=dict(net_arch=[64, 64]), n_steps=256, batch_size=64, learning_rate=3e-3),
        16_384,
    ),
    "pendulum-sac": ("Pendulum-v1", SAC, dict(policy_kwargs=dict(net_arch=[64, 64]), learning_rate=1e-3), 8_000),
}


def evaluate(model, env_id: str, episodes: int, seed: int) -> float:
    env = gym.make(env_id)
    env.reset(seed=10_000 + seed)
    mean, _ = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=True)
    return float(mean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=10, help="evaluation episodes per variant")
    parser.add_argument("--steps", type=int, default=None, help="training steps of every task (default: each task's)")
    parser.add_argument(
        "--out", default=os.path.join(ROOT, "docs", "results", "deploy_quantisation"), help="path without suffix"
    )
    args = parser.parse_args()
    th.set_num_threads(1)
    runs: list[dict[str, Any]] = []
    for task in args.tasks:
        env_id, algo, kwargs, steps = TASKS[task]
        steps = steps if args.steps is None else args.steps
        baseline = random_return(Task(env_id, algo.__name__.lower(), 0.0, "", steps, steps), args.episodes, {})
        for seed in args.seeds:
            start = time.time()
            model = algo("SpikingMlpPolicy", env_id, seed=seed, **kwargs).learn(steps)
            model.policy.set_training_mode(False)  # as the quantised copies: the normalisation no longer learns
            returns = {"float": evaluate(model, env_id, args.episodes, seed)}
            float_policy = model.policy
            for bits in BITS:
                model.policy = quantize_policy(float_policy, bits)
                returns[f"{bits}-bit"] = evaluate(model, env_id, args.episodes, seed)
            model.policy = float_policy
            runs.append(dict(task=task, seed=seed, steps=steps, random=baseline, returns=returns, seconds=time.time() - start))
            print(json.dumps(runs[-1]), flush=True)
            write(runs, args)


def command(args: argparse.Namespace) -> str:
    """The options of a run as typed."""
    words = []
    for key, value in vars(args).items():
        if key != "out" and value is not None:
            words.append(f"--{key} " + (" ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return " ".join(words)


def score(run: dict[str, Any], variant: str) -> float:
    span = run["returns"]["float"] - run["random"]
    return (run["returns"][variant] - run["random"]) / span if span else float("nan")


def write(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    with open(args.out + ".json", "w") as file:
        json.dump(dict(episodes=args.episodes, bits=BITS, runs=runs), file, indent=1)
    variants = ["float", *(f"{bits}-bit" for bits in BITS)]
    lines = [
        "# Spiking policies with integer weights",
        "",
        f"Made by `scripts/deploy_quantisation.py {command(args)}`. Each run: a spiking policy trained for the steps "
        f"shown, evaluated for {args.episodes} deterministic "
        "episodes with float weights and with per-layer symmetric b-bit weights (thresholds scaled with them). "
        "Score: the return normalised between a random policy's (0) and the float policy's (1).",
        "",
        "| task | seed | steps | random | "
        + " | ".join(variants)
        + " | "
        + " | ".join(f"score {v}" for v in variants[1:])
        + " |",
        "|---|---:|---:|---:|" + "---:|" * (2 * len(variants) - 1),
    ]
    for run in runs:
        returns = " | ".join(f"{run['returns'][v]:.1f}" for v in variants)
        scores = " | ".join(f"{score(run, v):.3f}" for v in variants[1:])
        lines.append(f"| {run['task']} | {run['seed']} | {run['steps']} | {run['random']:.1f} | {returns} | {scores} |")
    lines += ["", "Lowest score per task and bit width (over seeds):", ""]
    for task in dict.fromkeys(run["task"] for run in runs):
        mine = [run for run in runs if run["task"] == task]
        worst = ", ".join(f"{v}: {min(score(run, v) for run in mine):.3f}" for v in variants[1:])
        lines.append(f"- {task} ({len(mine)} seeds): {worst}")
    with open(args.out + ".md", "w") as file:
        file.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
