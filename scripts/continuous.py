"""
Spiking vs ANN actors on continuous control, trained by rl-zoo3 with its own tuned hyperparameters for the env
(only the policy differs), evaluated on 10 episodes at fixed intervals (rl-zoo3's ``--eval-freq``, its
``evaluations.npz``). Runs one training at a time, skips the runs that have finished (resumable), and writes
``<out>.md`` (final return and steps to the target per algorithm x policy, wall time), ``<out>.json`` and ``<out>.png``
(learning curves)::

    OMP_NUM_THREADS=1 nice -n 10 python scripts/continuous.py                       # Pendulum-v1, SAC + TD3, 3 seeds
    python scripts/continuous.py --env HalfCheetah-v4 --seeds 0 --out docs/halfcheetah  # needs gymnasium[mujoco]
    python scripts/continuous.py --report-only                                       # tables from finished runs
    python scripts/continuous.py --quick                                             # a smoke run into /tmp

Variants (``--variants``): ``ann`` (the yml's policy), ``spiking`` (``SpikingMlpPolicy``, default knobs), and any
other name in :data:`VARIANTS`, whose policy kwargs are merged into the yml's (e.g. its ``net_arch``).
"""

import argparse
import ast
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

# Extra policy kwargs of each variant (None: the yml's policy unchanged)
VARIANTS: dict[str, Optional[dict[str, Any]]] = {
    "ann": None,
    "spiking": {},
    "spiking-pop": dict(encoder="population"),
    "spiking-pop-readout": dict(encoder="population", action_readout="population"),
}
# What "solved" means for the steps-to-target column
TARGETS = {"Pendulum-v1": -200.0, "HalfCheetah-v4": 3000.0}


def zoo_hyperparams(algo: str, env_id: str) -> dict[str, Any]:
    """rl-zoo3's tuned entry for ``env_id`` in its ``<algo>.yml`` (site-packages)."""
    import rl_zoo3

    with open(Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml") as file:
        return yaml.safe_load(file)[env_id]


def zoo_params(algo: str, env_id: str, variant: str) -> list[str]:
    """The ``-params`` that turn rl-zoo3's tuned entry into the variant (nothing for ``ann``)."""
    extra = VARIANTS[variant]
    if extra is None:
        return []
    params = ["policy:'SpikingMlpPolicy'"]
    policy_kwargs = {**ast.literal_eval(_dict_literal(zoo_hyperparams(algo, env_id).get("policy_kwargs", "dict()"))), **extra}
    if policy_kwargs:
        params.append(f"policy_kwargs:dict({', '.join(f'{k}={v!r}' for k, v in policy_kwargs.items())})")
    return params


def _dict_literal(text: str) -> str:
    """``dict(a=1, b=[2])`` as ``{'a': 1, 'b': [2]}`` (the yml's policy kwargs use only literals)."""
    call = ast.parse(text, mode="eval").body
    assert isinstance(call, ast.Call) and not call.args, f"Unsupported policy_kwargs {text!r}"
    return "{" + ", ".join(f"{kw.arg!r}: {ast.unparse(kw.value)}" for kw in call.keywords) + "}"


def run_dir(root: Path, env_id: str, algo: str, variant: str, seed: int) -> Path:
    return root / env_id / f"{algo}-{variant}-seed{seed}"


def train(root: Path, env_id: str, algo: str, variant: str, seed: int, eval_freq: int, n_timesteps: Optional[int]) -> None:
    """Train one run with rl-zoo3 unless it has finished; record its wall time in ``result.json``."""
    folder = run_dir(root, env_id, algo, variant, seed)
    if (folder / "result.json").exists():
        return
    if (folder / "zoo").exists():
        shutil.rmtree(folder / "zoo")  # an interrupted run starts again from scratch
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", env_id, "--seed", str(seed),
        "--eval-freq", str(eval_freq), "--eval-episodes", "10", "--n-eval-envs", "1", "-f", str(folder / "zoo"),
        "--gym-packages", "sb3_spiking", "--device", "cpu",
    ]  # fmt: skip
    if n_timesteps is not None:
        command += ["-n", str(n_timesteps)]
    params = zoo_params(algo, env_id, variant)
    if params:
        command += ["-params", *params]
    print(" ".join(command), flush=True)
    start = time.time()
    with open(folder / "train.log", "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - start
    (folder / "result.json").write_text(json.dumps(dict(command=command, wall_s=wall)))


def load_run(root: Path, env_id: str, algo: str, variant: str, seed: int) -> Optional[dict[str, Any]]:
    """A run's evaluations; a run still going (or stopped) is reported as ``finished: False`` up to its last one."""
    folder = run_dir(root, env_id, algo, variant, seed)
    found = glob.glob(str(folder / "zoo" / algo / f"{env_id}_*" / "evaluations.npz"))
    if not found:
        return None
    finished = (folder / "result.json").exists()
    data = np.load(found[0])
    returns = data["results"].mean(axis=1)
    target = TARGETS.get(env_id, float("inf"))
    reached = np.flatnonzero(returns >= target)
    return dict(
        timesteps=data["timesteps"].tolist(),
        returns=returns.tolist(),
        final=float(returns[-1]),
        steps_to_target=int(data["timesteps"][reached[0]]) if reached.size else None,
        wall_s=json.loads((folder / "result.json").read_text())["wall_s"] if finished else None,
        finished=finished,
    )


def report(root: Path, env_id: str, algos: list[str], variants: list[str], seeds: list[int], out: Path) -> None:
    """Write the table, the raw results and the learning curves of the finished runs."""
    runs = {
        f"{algo}/{variant}": {seed: load_run(root, env_id, algo, variant, seed) for seed in seeds}
        for algo in algos
        for variant in variants
    }
    target = TARGETS.get(env_id)
    lines = [
        f"# Continuous control: {env_id}, spiking vs ANN actors",
        "",
        "rl-zoo3's tuned hyperparameters for the env, only the policy differs; evaluation: mean return of 10 "
        f"deterministic episodes at fixed intervals. Steps to {target}: first evaluation at or above it. "
        "Generated by `python scripts/continuous.py` " + f"(`--env {env_id}`).",
        "",
        f"| algo | policy | seeds | steps trained | final return per seed | median final | median steps to {target} "
        "| wall time per run (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, by_seed in runs.items():
        done = {seed: run for seed, run in by_seed.items() if run is not None}
        if not done:
            continue
        algo, variant = key.split("/")
        finals = [run["final"] for run in done.values()]
        steps = [run["steps_to_target"] for run in done.values()]
        reached = [s for s in steps if s is not None]
        steps_text = f"{int(np.median(reached))}" if len(reached) == len(steps) else f"{len(reached)}/{len(steps)} reached"
        if reached and len(reached) < len(steps):
            steps_text += f" (median of those {int(np.median(reached))})"
        walls = [run["wall_s"] for run in done.values() if run["wall_s"] is not None]
        trained = ", ".join(f"{run['timesteps'][-1]}" + ("" if run["finished"] else " (unfinished)") for run in done.values())
        lines.append(
            f"| {algo.upper()} | {variant} | {', '.join(map(str, done))} | {trained} | "
            f"{', '.join(f'{f:.0f}' for f in finals)} | {np.median(finals):.0f} | {steps_text} | "
            f"{f'{np.median(walls):.0f}' if walls else '-'} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(dict(env=env_id, runs=runs), indent=1))
    plot(runs, env_id, out.with_suffix(".png"))
    print("\n".join(lines))


def plot(runs: dict[str, dict[int, Any]], env_id: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    algos = sorted({key.split("/")[0] for key in runs})
    fig, axes = plt.subplots(1, len(algos), figsize=(5 * len(algos), 3.5), squeeze=False)
    for ax, algo in zip(axes[0], algos):
        for key, by_seed in runs.items():
            done = [run for run in by_seed.values() if run is not None]
            if not key.startswith(algo + "/") or not done:
                continue
            length = min(len(run["returns"]) for run in done)
            steps = np.array(done[0]["timesteps"][:length])
            returns = np.array([run["returns"][:length] for run in done])
            line = ax.plot(steps, np.median(returns, axis=0), label=f"{key.split('/')[1]} ({len(done)} seeds)")[0]
            ax.fill_between(steps, returns.min(axis=0), returns.max(axis=0), color=line.get_color(), alpha=0.2)
        ax.set_title(f"{algo.upper()} on {env_id}")
        ax.set_xlabel("timesteps")
        ax.set_ylabel("eval return (median, min-max)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def init_rates(env_id: str, algos: list[str], out: Path, n_obs: int = 1000) -> None:
    """
    Firing rates of each spiking actor layer at initialisation, on observations of random play: silent or saturated
    layers would explain slow learning. Writes ``<out>_init_rates.md``.
    """
    import gymnasium as gym
    import rl_zoo3
    import torch as th

    import sb3_spiking

    env = gym.make(env_id)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    observations = []
    for _ in range(n_obs):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        observations.append(obs)
        if terminated or truncated:
            obs, _ = env.reset()
    batch = th.as_tensor(np.array(observations, dtype=np.float32))
    lines = [
        f"# Spiking actors at initialisation on {env_id} ({n_obs} observations of random play)",
        "",
        "Per layer: mean firing rate (spikes per neuron per step), fraction of neurons that never fire, fraction that",
        f"fire at every step. Generated by `python scripts/continuous.py --init-rates --env {env_id}`.",
        "",
        "| algo | policy kwargs | layer | rate | silent | saturated |",
        "|---|---|---|---|---|---|",
    ]
    for algo in algos:
        for extra in ({}, dict(encoder="population")):
            policy_kwargs = {
                **ast.literal_eval(_dict_literal(zoo_hyperparams(algo, env_id).get("policy_kwargs", "dict()"))),
                **extra,
            }
            shown = dict(policy_kwargs)  # SB3 adds its own keys to the dict it is given
            model = rl_zoo3.ALGOS[algo]("SpikingMlpPolicy", env_id, policy_kwargs=policy_kwargs, buffer_size=10, seed=0)
            with sb3_spiking.spike_stats(model.policy.actor) as stats, th.no_grad():
                model.policy.actor(batch)
            for name, layer in stats.layers.items():
                lines.append(
                    f"| {algo.upper()} | {shown} | {name} | {layer.rate:.3f} | {layer.silent:.3f} | {layer.saturated:.3f} |"
                )
    Path(f"{out}_init_rates.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Pendulum-v1", help="Gymnasium id with a tuned entry in rl-zoo3's yml")
    parser.add_argument("--algos", nargs="+", default=["sac", "td3"], help="rl-zoo3 algorithm names")
    parser.add_argument("--variants", nargs="+", default=["ann", "spiking"], choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--eval-freq", type=int, default=1000, help="Evaluate every this many steps")
    parser.add_argument("-n", "--n-timesteps", type=int, default=None, help="Override the yml's budget (smoke runs)")
    parser.add_argument("--runs", default="runs/continuous", help="Where rl-zoo3 writes the runs")
    parser.add_argument("--out", default="docs/continuous", help="Report path without suffix (.md, .json, .png)")
    parser.add_argument("--report-only", action="store_true", help="Only write the report of the finished runs")
    parser.add_argument(
        "--quick", action="store_true", help="A smoke run: seed 0, 300 steps (into /tmp unless --runs / --out)"
    )
    parser.add_argument("--init-rates", action="store_true", help="Only write the actors' firing rates at initialisation")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.n_timesteps, args.eval_freq = [0], 300, 150
        if (args.runs, args.out) == (parser.get_default("runs"), parser.get_default("out")):
            args.runs, args.out = "/tmp/continuous-quick/runs", "/tmp/continuous-quick/continuous"
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root, out = Path(args.runs), Path(args.out)
    if args.init_rates:
        init_rates(args.env, args.algos, out)
        return
    if not args.report_only:
        for seed in args.seeds:
            for algo in args.algos:
                for variant in args.variants:
                    train(root, args.env, algo, variant, seed, args.eval_freq, args.n_timesteps)
                    report(root, args.env, args.algos, args.variants, args.seeds, out)
    report(root, args.env, args.algos, args.variants, args.seeds, out)


if __name__ == "__main__":
    main()
