"""
Reference CartPole-v1 agents, each with the stock ANN policy and its spiking counterpart under the same settings.

- ``dqn``: the DQN of the PyTorch CartPole DQN tutorials (a 64-64 Q-network), with rl-zoo3's tuned CartPole-v1
  settings; the spiking policy has the readout of SpikingJelly's DSQN (LIF neurons, T=8, ``max-mem``).
- ``a2c``: the actor-critic ("A3C") of a PyTorch RL tutorial: SB3's A2C with rl-zoo3's CartPole-v1 settings
  (8 environments) and 64-64 networks; the spiking policy has IF neurons, T=16 and a ``last-mem`` readout.
- ``ppo``: SpikingJelly's spiking PPO example: one hidden layer of 32 IF neurons per network, a non-spiking LIF
  readout with tau=2 read at the last of T=16 steps, lr 1e-3, 128 steps per environment, clip 0.2; the ANN has the
  same 32-unit hidden layers.

The spiking knobs are those of the reference agents, fixed here, with no observation normalisation
(``input_norm=False``): the table in docs/results/seeds_cartpole.md reproduces them, not the package defaults.

Every run is evaluated by SB3's ``EvalCallback`` (deterministic actions) during training; the script writes a
markdown table (mean return +- std over seeds, steps to solve, wall time), a learning-curve PNG and the raw results as
JSON::

    nice -n 10 python scripts/reproduce_seeds.py --jobs 2            # all of it: docs/results/seeds_cartpole.{md,png,json}
    python scripts/reproduce_seeds.py --quick --out /tmp/seeds      # a smoke run of every agent, seconds
"""

import argparse
import json
import os
import sys
import time
from multiprocessing import get_context
from typing import Any, Optional

import numpy as np

ENV_ID = "CartPole-v1"
SOLVED = 475.0  # CartPole-v1's reward threshold
AGENTS = ("dqn", "a2c", "ppo")
POLICIES = ("ann", "snn")
# Where each agent comes from, as the table and the plot name it
SOURCE_OF_AGENT = {"dqn": "PyTorch DQN tutorials", "a2c": "actor-critic (A3C) tutorial", "ppo": "SpikingJelly spiking PPO"}


def agent_settings(agent: str, policy: str) -> dict[str, Any]:
    """
    The algorithm, policy, number of environments, budget and keyword arguments of one agent.

    :param agent: ``"dqn"``, ``"a2c"`` or ``"ppo"``
    :param policy: ``"ann"`` (SB3's stock policy) or ``"snn"`` (the spiking policy, same settings)
    """
    from sb3_spiking.demos.train import algorithm_kwargs

    if agent not in AGENTS or policy not in POLICIES:
        raise ValueError(f"Unknown agent / policy {agent!r} / {policy!r}: valid choices are {AGENTS} / {POLICIES}")
    if agent == "dqn":
        kwargs: dict[str, Any] = algorithm_kwargs("dqn")  # rl-zoo3's tuned CartPole-v1 DQN
        policy_kwargs: dict[str, Any] = dict(net_arch=[64, 64])
        spiking: dict[str, Any] = dict(T=8, neuron="lif", decoder="max-mem", input_norm=False)
        n_envs, steps = 1, 30_000
    elif agent == "a2c":
        kwargs = dict(ent_coef=0.0)
        policy_kwargs = dict(net_arch=dict(pi=[64, 64], vf=[64, 64]))
        # IF neurons, as in SpikingJelly's spiking PPO: on CartPole's small observations leaky neurons start with
        # about half the firing rate of IF neurons (lab/firing_at_init.py, lab/firing_at_init.md)
        spiking = dict(T=16, neuron="if", decoder="last-mem", input_norm=False)
        n_envs, steps = 8, 50_000
    else:  # SpikingJelly's spiking PPO example: hidden 32, lr 1e-3, 128 steps, clip 0.2
        kwargs = dict(learning_rate=1e-3, n_steps=128, batch_size=128, n_epochs=10, clip_range=0.2, ent_coef=0.001)
        policy_kwargs = dict(net_arch=dict(pi=[32], vf=[32]))
        spiking = dict(T=16, neuron="if", decoder="last-mem", decoder_tau=2.0, input_norm=False)
        n_envs, steps = 4, 40_000
    if policy == "snn":
        policy_kwargs.update(spiking)
    return dict(
        algo=agent.upper(),
        policy=("SpikingMlpPolicy" if policy == "snn" else "MlpPolicy"),
        n_envs=n_envs,
        steps=steps,
        kwargs=dict(kwargs, policy_kwargs=policy_kwargs),
    )


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one agent with one seed, evaluated by SB3's EvalCallback every ``eval_freq`` steps; its learning curve."""
    import tempfile

    import torch as th
    from stable_baselines3 import A2C, DQN, PPO
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)

    th.set_num_threads(1)  # one core per run: the runs themselves go in parallel
    settings = agent_settings(job["agent"], job["policy"])
    steps = job["steps"] or settings["steps"]
    seed = job["seed"]

    algo = {"DQN": DQN, "A2C": A2C, "PPO": PPO}[settings["algo"]]
    env = make_vec_env(ENV_ID, n_envs=settings["n_envs"], seed=seed)
    eval_env = make_vec_env(ENV_ID, n_envs=1, seed=10_000 + seed)
    model = algo(settings["policy"], env, seed=seed, device="cpu", **settings["kwargs"])
    # The untrained policy, the first point of the curve
    untrained, _ = evaluate_policy(model, eval_env, n_eval_episodes=job["eval_episodes"])
    with tempfile.TemporaryDirectory() as log_path:
        # EvalCallback counts calls, one per vectorised step of n_envs environment steps
        evaluate = EvalCallback(
            eval_env,
            n_eval_episodes=job["eval_episodes"],
            eval_freq=max(job["eval_freq"] // settings["n_envs"], 1),
            log_path=log_path,
            verbose=0,
        )
        start = time.perf_counter()
        model.learn(steps, callback=evaluate)
        wall = time.perf_counter() - start
    final, _ = evaluate_policy(model, eval_env, n_eval_episodes=job["final_episodes"])
    evaluations = [
        (int(step), float(np.mean(returns)))
        for step, returns in zip(evaluate.evaluations_timesteps, evaluate.evaluations_results)
    ]
    curve = [(0, float(untrained)), *evaluations, (model.num_timesteps, float(final))]
    # The untrained policy's evaluation does not count: a fixed random policy sometimes balances the pole by chance
    solved = next((step for step, value in curve[1:] if value >= SOLVED), None)
    return dict(job, steps=model.num_timesteps, curve=curve, final=float(final), solved_at=solved, wall_s=wall)


def summarize(results: list[dict[str, Any]]) -> str:
    """The markdown table: one row per agent and policy, statistics over seeds."""
    lines = [
        "| Reference | Agent | Policy | Runs | Env steps | Final return (mean +- std over runs) | Solved (>= 475) | "
        "Steps to solve (median) | Wall time per run (s) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for agent in AGENTS:
        for policy in POLICIES:
            runs = [r for r in results if r["agent"] == agent and r["policy"] == policy]
            if not runs:
                continue
            finals = np.array([r["final"] for r in runs])
            solved = [r["solved_at"] for r in runs if r["solved_at"] is not None]
            to_solve = f"{int(np.median(solved)):,}" if len(solved) == len(runs) else (f">{runs[0]['steps']:,}")
            if solved and len(solved) < len(runs):
                to_solve = f"{int(np.median(solved)):,} ({len(solved)} solved), " + to_solve
            label = "SNN (" + agent_settings(agent, "snn")["policy"] + ")" if policy == "snn" else "ANN (MlpPolicy)"
            lines.append(
                f"| {SOURCE_OF_AGENT[agent]} | {agent.upper()} | {label} | {len(runs)} | {runs[0]['steps']:,} | "
                f"{finals.mean():.1f} +- {finals.std():.1f} | {len(solved)}/{len(runs)} | {to_solve} | "
                f"{np.mean([r['wall_s'] for r in runs]):.0f} |"
            )
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], path: str) -> None:
    """Learning curves: evaluation return against env steps, mean over seeds with the min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = [a for a in AGENTS if any(r["agent"] == a for r in results)]
    fig, axes = plt.subplots(1, len(agents), figsize=(5 * len(agents), 3.8), squeeze=False)
    for ax, agent in zip(axes[0], agents):
        for policy, colour in zip(POLICIES, ("tab:blue", "tab:orange")):
            runs = [r for r in results if r["agent"] == agent and r["policy"] == policy]
            if not runs:
                continue
            grid = np.linspace(0, max(r["steps"] for r in runs), 50)
            curves = np.array([np.interp(grid, *zip(*r["curve"])) for r in runs])
            ax.plot(grid, curves.mean(axis=0), color=colour, label=f"{policy.upper()} ({len(runs)} seeds)")
            ax.fill_between(grid, curves.min(axis=0), curves.max(axis=0), color=colour, alpha=0.2)
        ax.axhline(SOLVED, color="grey", linestyle="--", linewidth=1)
        ax.set(title=f"{agent.upper()} ({SOURCE_OF_AGENT[agent]})", xlabel="env steps", ylabel="eval return")
        ax.legend(loc="lower right")
    fig.suptitle(f"{ENV_ID}: stock ANN policy vs spiking policy, same settings")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(results: list[dict[str, Any]], out: str, command: str, seconds: float, n_jobs: int, jobs: int) -> None:
    """Write the table (OUT.md), the learning curves (OUT.png) and the raw results (OUT.json) of the runs so far."""
    results = sorted(results, key=lambda r: (AGENTS.index(r["agent"]), POLICIES.index(r["policy"]), r["seed"]))
    with open(out + ".md", "w") as file:
        file.write(
            f"{ENV_ID}, made by `{command}`: {len(results)} of {n_jobs} runs, {seconds / 60:.1f} min "
            f"with {jobs} runs in parallel\n\n"
        )
        file.write(summarize(results))
    with open(out + ".json", "w") as file:
        json.dump(results, file, indent=1)
    plot(results, out + ".png")


def main(argv: Optional[list[str]] = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=AGENTS, help="agents to run")
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES, help="policies to run")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds per agent and policy (0, 1, ...)")
    parser.add_argument("--steps", type=int, default=0, help="env steps per run (0: each agent's own budget)")
    parser.add_argument("--eval-freq", type=int, default=5000, help="evaluate every this many env steps")
    parser.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation during training")
    parser.add_argument("--final-episodes", type=int, default=10, help="episodes of the final evaluation")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (one core each)")
    parser.add_argument("--out", default="docs/results/seeds_cartpole", help="output prefix: writes OUT.md, OUT.png, OUT.json")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 600 steps, 1-episode evaluations")
    parser.add_argument("--from-json", help="rewrite OUT.md and OUT.png from a saved OUT.json instead of training")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.steps, args.eval_freq, args.eval_episodes, args.final_episodes = 1, 600, 300, 1, 1

    if args.from_json:
        with open(args.from_json) as file:
            results = json.load(file)
        with open(args.out + ".md") as file:
            made_by = file.readline()  # the command and timing of the runs behind the JSON
        write_outputs(results, args.out, "", 0.0, len(results), args.jobs)
        with open(args.out + ".md") as file:
            table = file.read().split("\n", 1)[1]
        with open(args.out + ".md", "w") as file:
            file.write(made_by + table)
        return results

    # Seed-major order: each finished round of seeds gives a complete (if smaller) table
    jobs = [
        dict(agent=agent, policy=policy, seed=seed, steps=args.steps, eval_freq=args.eval_freq,
             eval_episodes=args.eval_episodes, final_episodes=args.final_episodes)
        for seed in range(args.seeds) for agent in args.agents for policy in args.policies
    ]  # fmt: skip
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    command = "python scripts/reproduce_seeds.py " + " ".join(sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    with get_context("spawn").Pool(max(1, min(args.jobs, len(jobs)))) as pool:
        for result in pool.imap_unordered(run_one, jobs):
            results.append(result)
            print(
                f"{result['agent']:>4} {result['policy']} seed {result['seed']}: final return {result['final']:6.1f}, "
                f"solved at {result['solved_at']}, {result['wall_s']:.0f} s",
                flush=True,
            )
            write_outputs(results, args.out, command.strip(), time.perf_counter() - start, len(jobs), args.jobs)
    print(summarize(results))
    print(f"Wrote {args.out}.md, {args.out}.png and {args.out}.json in {(time.perf_counter() - start) / 60:.1f} min")
    return results


if __name__ == "__main__":
    main()
