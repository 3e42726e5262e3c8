"""
The learning suite: the stock ANN policy and the spiking policy trained through rl-zoo3, as users train them, on a
set of tasks, with rl-zoo3's own tuned hyperparameters for each environment and the spiking policy's package
defaults. Only the policy differs between the two runs of a pair::

    python -m rl_zoo3.train --algo ALGO --env ENV --seed S -f LOGS --eval-freq F --eval-episodes 10 \\
        [-params "policy:'SpikingMlpPolicy'"]

For each task it reports the steps to reach the task's threshold and the final return of both policies, the final
return normalised per task (random policy 0, ANN 100), the wall time per run and the learning curves. Every run
that finishes leaves its ``evaluations.npz`` (and its wall time) under ``--results``; a later call skips the runs
found there, so the suite can be run piece by piece::

    nice -n 10 python scripts/learning_suite.py --tasks cartpole-dqn cartpole-ppo --seeds 0 1 2   # a part
    python scripts/learning_suite.py --report-only             # docs/results/learning.{md,json,png} from what finished
    python scripts/learning_suite.py --quick --out /tmp/l --results /tmp/l_runs --tasks cartpole-dqn   # smoke run

Besides ``ann`` and ``snn`` (the package defaults), ``--policies`` takes the spiking variants of :data:`VARIANTS`:
``snn-pop`` (population encoder), ``snn-proxy`` (the proxy target, rl-zoo3's ``--algo proxy_td3`` with TD3's
tuned file) and ``snn-t4`` (4 time steps instead of 8). The continuous-control report is the same suite on the
Pendulum (and MuJoCo) tasks::

    python scripts/learning_suite.py --tasks pendulum-sac pendulum-td3 --policies ann snn snn-pop snn-proxy \\
        --out docs/results/continuous
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from typing import Any, Optional

import numpy as np
from learning_tasks import (
    COLORS,
    LABELS,
    POLICIES,
    ROOT,
    TASKS,
    VARIANTS,
    Task,
    describe,
    missing_dependency,
    policy_params,
    random_return,
    runs_variant,
    spiking_policy_available,
    tuned_file,
    zoo_algo,
)

FINAL_EVALS = 3  # the final return is the mean of the last evaluations: one alone swings widely (DQN on CartPole)


def result_path(results: str, name: str, policy: str, seed: int) -> str:
    return os.path.join(results, name, f"{policy}-seed{seed}")


def load_run(results: str, name: str, policy: str, seed: int, steps: int, eval_freq: int) -> Optional[dict[str, Any]]:
    """A finished run's curve and wall time, or None if it has not finished (its last evaluation is not the last one)."""
    path = result_path(results, name, policy, seed)
    if not (os.path.exists(path + ".npz") and os.path.exists(path + ".json")):
        return None
    data = np.load(path + ".npz")
    timesteps, returns = data["timesteps"], data["results"].mean(axis=1)
    if len(timesteps) == 0 or timesteps[-1] < steps - eval_freq:
        return None
    info = json.loads(open(path + ".json").read())
    return dict(info, curve=[[int(t), float(r)] for t, r in zip(timesteps, returns)])


def train_one(name: str, task: Task, policy: str, seed: int, args: argparse.Namespace, steps: int, eval_freq: int) -> None:
    """Train one run through rl-zoo3 in a subprocess; on success, keep its evaluations and wall time."""
    logs = os.path.join(args.logs, name, f"{policy}-seed{seed}")
    shutil.rmtree(logs, ignore_errors=True)  # an unfinished earlier attempt
    os.makedirs(logs)
    algo = zoo_algo(task, policy)
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", task.env, "--seed", str(seed)]
    command += ["-f", logs, "--eval-freq", str(eval_freq), "--eval-episodes", str(args.eval_episodes)]
    command += ["--num-threads", str(args.threads), "--verbose", "0", "-n", str(steps)]
    variant = VARIANTS.get(policy)
    if task.conf or (variant is not None and variant.task_conf):
        command += ["-conf", tuned_file(task)]
    if task.gym_packages:
        command += ["--gym-packages", *task.gym_packages]
    command += ["-params", *policy_params(task, policy)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    start = time.perf_counter()
    with open(os.path.join(logs, "train.log"), "w") as log:
        rc = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    wall = time.perf_counter() - start
    found = glob.glob(os.path.join(logs, algo, "*", "evaluations.npz"))
    if rc != 0 or len(found) != 1:
        print(f"{name} {policy} seed {seed}: FAILED (rc {rc}), see {logs}/train.log", flush=True)
        return
    path = result_path(args.results, name, policy, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copy(found[0], path + ".npz")
    info = dict(task=name, policy=policy, seed=seed, steps=steps, eval_freq=eval_freq, wall_s=round(wall, 1))
    info.update(threads=args.threads, jobs=args.sharing or args.jobs)  # the conditions of the wall time
    info["command"] = " ".join(command[1:]).replace(ROOT + os.sep, "")
    with open(path + ".json", "w") as file:
        json.dump(info, file, indent=1)
    curve = load_run(args.results, name, policy, seed, steps, eval_freq)
    final = final_return(curve["curve"]) if curve else float("nan")
    print(f"{name} {policy} seed {seed}: final return {final:.1f}, {wall:.0f} s", flush=True)


def steps_to(curve: list[list[float]], threshold: float) -> Optional[int]:
    """The first evaluation's step at which the mean return reaches the threshold (None if none does)."""
    return next((int(t) for t, r in curve if r >= threshold), None)


def final_return(curve: list[list[float]]) -> float:
    """The mean return of the last :data:`FINAL_EVALS` evaluations."""
    return float(np.mean([value for _, value in curve[-FINAL_EVALS:]]))


def summarize(name: str, task: Task, runs: dict[str, list[dict[str, Any]]], random: float, steps: int) -> dict[str, Any]:
    """Per policy: final returns, normalised returns, steps to the threshold, wall time."""
    ann_finals = [final_return(run["curve"]) for run in runs.get("ann", [])]
    ann = float(np.mean(ann_finals)) if ann_finals else float("nan")
    summary: dict[str, Any] = dict(task=name, **asdict(task), random_return=random, ann_final_mean=ann, budget=steps)
    for policy, policy_runs in runs.items():
        finals = [final_return(run["curve"]) for run in policy_runs]
        reached = [steps_to(run["curve"], task.threshold) for run in policy_runs]
        # a run that never reaches the threshold counts as infinitely slow in the median
        median_steps = float(np.median([np.inf if s is None else s for s in reached])) if reached else float("nan")
        summary[policy] = dict(
            seeds=[run["seed"] for run in policy_runs],
            final=finals,
            final_mean=float(np.mean(finals)),
            final_std=float(np.std(finals)),
            best=[max(value for _, value in run["curve"]) for run in policy_runs],
            normalised=[100.0 * (f - random) / (ann - random) if ann != random else float("nan") for f in finals],
            steps_to_threshold=reached,
            median_steps_to_threshold=None if not np.isfinite(median_steps) else int(median_steps),
            wall_s=[run["wall_s"] for run in policy_runs],
            runs=[run_conditions(run) for run in policy_runs],
            curves=[run["curve"] for run in policy_runs],
        )
    return summary


def format_table(summaries: list[dict[str, Any]], unavailable: list[str]) -> str:
    """The markdown table of the suite: one row per task and policy."""
    lines = [
        "| Task | Algo | Policy | Seeds | Env steps | Final return (mean +- std) | Best evaluation (mean) "
        "| Normalised (median) | Threshold | Reached | Steps to threshold (median) | vs ANN | Wall time per run (s) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        ann_steps = s.get("ann", {}).get("median_steps_to_threshold")
        for policy in POLICIES:
            if policy not in s:
                continue
            p = s[policy]
            median_steps = p["median_steps_to_threshold"]
            ratio = f"{median_steps / ann_steps:.2f}x" if median_steps and ann_steps else "-"
            reached = sum(x is not None for x in p["steps_to_threshold"])
            shown_steps = f"{median_steps:,}" if median_steps is not None else f">{s['budget']:,}"
            lines.append(
                f"| {s['env']} | {s['algo'].upper()} | {describe(TASKS[s['task']], policy)} "
                f"| {len(p['final'])} | {s['budget']:,} | {p['final_mean']:.1f} +- {p['final_std']:.1f} "
                f"| {np.mean(p['best']):.1f} "
                f"| {np.median(p['normalised']):.0f} | {s['threshold']:g} | {reached}/{len(p['final'])} | {shown_steps} "
                f"| {ratio} | {np.mean(p['wall_s']):.0f} |"
            )
    lines += [f"| {line} | | | | | | | | | | |" for line in unavailable]
    return "\n".join(lines)


def run_conditions(run: dict[str, Any]) -> dict[str, int]:
    """The torch threads (from its command where it did not record them) and parallel runs a run recorded."""
    recorded = {key: run[key] for key in ("threads", "jobs") if key in run}
    words = run.get("command", "").split()
    if "threads" not in recorded and "--num-threads" in words:
        recorded["threads"] = int(words[words.index("--num-threads") + 1])
    return recorded


def conditions(summaries: list[dict[str, Any]]) -> str:
    """The torch threads and parallel runs that the reported runs recorded (older runs did not record them)."""
    runs = [run for s in summaries for policy in POLICIES if policy in s for run in s[policy]["runs"]]
    parts = []
    for key, what in (("threads", "torch threads per run"), ("jobs", "runs in parallel")):
        values = sorted({run[key] for run in runs if key in run})
        unknown = sum(key not in run for run in runs)
        text = f"{what}: {', '.join(map(str, values)) or '-'}"
        parts.append(text + (f" ({unknown} run(s) did not record it)" if unknown else ""))
    return "; ".join(parts) + ", on a 2-core CPU shared with other work"


def plot(summaries: list[dict[str, Any]], path: str) -> None:
    """Learning curves: mean over seeds (line) and the seeds' range (band) per policy, one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(summaries), 1)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, s in zip(axes.flat, summaries):
        for policy, color in COLORS.items():
            if policy not in s:
                continue
            length = min(len(c) for c in s[policy]["curves"])
            curves = np.array([c[:length] for c in s[policy]["curves"]])
            steps, values = curves[0, :, 0], curves[:, :, 1]
            label = f"{LABELS[policy]} ({len(values)} seed{'s' if len(values) != 1 else ''})"
            ax.plot(steps, values.mean(axis=0), color=color, label=label)
            ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2)
        ax.axhline(s["threshold"], color="gray", linestyle="--", linewidth=0.8)
        ax.set_title(f"{s['env']} {s['algo'].upper()}", fontsize=10)
        ax.set_xlabel("env steps")
        ax.set_ylabel("evaluation return")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(summaries) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def report(args: argparse.Namespace, names: list[str], command: str) -> list[dict[str, Any]]:
    """Collect the finished runs of the chosen tasks and write OUT.md, OUT.json and OUT.png."""
    json_path = args.out + ".json"
    cache: dict[str, float] = {}
    if os.path.exists(json_path) and not args.quick:
        cache = json.loads(open(json_path).read()).get("random_returns", {})
    summaries, unavailable, missing = [], [], []
    for name in names:
        task = TASKS[name]
        steps, eval_freq = budget(task, args)
        runs: dict[str, list[dict[str, Any]]] = {}
        for policy in [p for p in args.policies if runs_variant(task, p)]:
            for seed in seeds_of(task, args):
                run = load_run(args.results, name, policy, seed, steps, eval_freq)
                if run is None:
                    missing.append(f"{name} {policy} seed {seed}")
                else:
                    runs.setdefault(policy, []).append(run)
        if not spiking_policy_available(task):
            unavailable.append(f"{task.env} | {task.algo.upper()} | SNN: spiking policy unavailable ({task.policies['snn']})")
        if runs:
            summaries.append(summarize(name, task, runs, random_return(task, args.random_episodes, cache), steps))
    table = format_table(summaries, unavailable)
    thresholds = "\n".join(
        f"- {TASKS[n].env} ({TASKS[n].algo.upper()}): {TASKS[n].threshold:g}, {TASKS[n].threshold_note}"
        + (f"; {TASKS[n].note}" if TASKS[n].note else "")
        for n in names
    )
    text = (
        f"Made by `{command}`.\n\n"
        "Each run: `python -m rl_zoo3.train` with rl-zoo3's tuned hyperparameters for the task (only the policy differs; "
        "a variant's row names its knobs or algorithm), "
        f"evaluated every few thousand steps on {args.eval_episodes} episodes (deterministic actions); final return = mean of "
        f"the last {FINAL_EVALS} evaluations; "
        f"normalised = 100 (final - random) / (ANN mean final - random), random = uniformly random actions, "
        f"{args.random_episodes} episodes; steps to threshold = first evaluation at or above it (unreached counts as "
        f"infinite in the median); wall time per run includes evaluations and process start, "
        f"{conditions(summaries)}.\n\n"
        f"{table}\n\nThresholds:\n{thresholds}\n\n"
        f"Random-policy returns: {', '.join(f'{k} {v:g}' for k, v in cache.items())}.\n\n"
        + (f"Not run yet ({len(missing)}): {', '.join(missing)}.\n\n" if missing else "")
        + f"![learning curves]({os.path.basename(args.out)}.png)\n"
    )
    with open(args.out + ".md", "w") as file:
        file.write(text)
    with open(json_path, "w") as file:
        json.dump(
            dict(command=command, random_returns=cache, tasks=summaries, unavailable=unavailable, missing=missing),
            file,
            indent=1,
        )
    plot(summaries, args.out + ".png")
    return summaries


def budget(task: Task, args: argparse.Namespace) -> tuple[int, int]:
    """Env steps and evaluation interval of a task's runs (tiny with ``--quick``)."""
    return (1_200, 400) if args.quick else (task.steps, task.eval_freq)


def seeds_of(task: Task, args: argparse.Namespace) -> list[int]:
    return list(args.seeds[: task.seeds] if task.seeds else args.seeds)


def main(argv: Optional[list[str]] = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS), help="tasks to run")
    parser.add_argument(
        "--policies", nargs="+", default=["ann", "snn"], choices=POLICIES, help="policies to train (and report)"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (MinAtar: the first only)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (one core each)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (rl-zoo3's --num-threads)")
    parser.add_argument(
        "--sharing", type=int, default=None, help="runs that share the CPU, recorded with each run (default: --jobs)"
    )
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per evaluation")
    parser.add_argument("--random-episodes", type=int, default=100, help="episodes of the random policy per env")
    parser.add_argument("--results", default="lab/results/learning", help="where finished runs' evaluations are kept")
    parser.add_argument("--logs", default="logs/learning_suite", help="rl-zoo3's log folder (models, monitor files)")
    parser.add_argument("--out", default="docs/results/learning", help="output prefix: writes OUT.md, OUT.json, OUT.png")
    parser.add_argument("--report-only", action="store_true", help="only write the report from finished runs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,200 steps per run, 2-episode evaluations")
    args = parser.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.quick:
        args.eval_episodes, args.random_episodes = 2, 5
    command = "python scripts/learning_suite.py " + " ".join(argv if argv is not None else sys.argv[1:])

    for name in list(args.tasks):
        why = missing_dependency(TASKS[name])
        if why is not None:
            print(f"{name}: skipped, {TASKS[name].env} cannot be made here ({why})", flush=True)
            args.tasks.remove(name)
    todo = []
    for name in args.tasks:
        if not spiking_policy_available(TASKS[name]):
            print(f"{name}: spiking policy {TASKS[name].policies['snn']!r} unavailable: ANN runs only", flush=True)
    # seed by seed, so that whole ANN / SNN pairs finish first
    for seed in args.seeds:
        for name in args.tasks:
            task = TASKS[name]
            steps, eval_freq = budget(task, args)
            if seed not in seeds_of(task, args):
                continue
            for policy in args.policies:
                if not runs_variant(task, policy) or (policy != "ann" and not spiking_policy_available(task)):
                    continue
                if args.report_only or load_run(args.results, name, policy, seed, steps, eval_freq) is not None:
                    continue
                todo.append((name, task, policy, seed, steps, eval_freq))
    print(f"{len(todo)} run(s) to train", flush=True)
    if args.jobs > 1 and todo:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda job: train_one(job[0], job[1], job[2], job[3], args, job[4], job[5]), todo))
    else:
        for name, task, policy, seed, steps, eval_freq in todo:
            train_one(name, task, policy, seed, args, steps, eval_freq)
            report(args, args.tasks, command)  # results as they come
    summaries = report(args, args.tasks, command)
    print(f"Wrote {args.out}.md, {args.out}.json, {args.out}.png", flush=True)
    return summaries


if __name__ == "__main__":
    main()
