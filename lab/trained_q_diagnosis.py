"""
What the learning suite's trained DQN agents compute: why the spiking Q-network with the linear encoder never leaves
MountainCar-v0's valley while the ANN and the population encoder do, and where the population encoder's CartPole-v1
agents fail.

It reads the final models and monitor files that ``scripts/learning_suite.py`` leaves in its log folder and, per
run, reports:

- training episodes that ended before the time limit (MountainCar: reached the goal; CartPole: the pole fell or
  the cart left the track), over all training episodes (the monitor file);
- the observation standardisation (``input_norm``): the running std of each dimension, i.e. how wide the states
  the replay buffer held were; with the population encoder, where its learned centres lie on the first dimension
  (in the standardised units it reads; MountainCar and CartPole: the position);
- greedy episodes (5, seeded): their mean length and their mean last observation (where they end);
- on probe states: the mean and the spread (max - min) of the greedy value ``max_a Q``, the greedy actions'
  shares. The probe states are drawn uniformly over a bounded observation space (MountainCar: the whole valley,
  most of it never visited by a stuck agent), else they are the states of the greedy episodes;
- per hidden spiking layer on the same states: the firing rate, the share of silent neurons (no spike on any
  state), of saturated ones (a spike every step on every state), and of binary neuron-state pairs (no spike or a
  spike every step: the spike count then carries one bit of the input);
- the share of states whose ``max-mem`` value is read at the first time step (when every Q-value is negative, the
  membrane starts at 0 and moves down, so its maximum is the first step)::

    python lab/trained_q_diagnosis.py                    # MountainCar, writes lab/trained_q_diagnosis.md
    python lab/trained_q_diagnosis.py --task cartpole-dqn --env CartPole-v1 --policies snn-pop --out -
"""

import argparse
import glob
import os
import sys
from typing import Optional

import gymnasium as gym
import numpy as np
import pandas as pd
import torch as th
from lab_report import write_report
from stable_baselines3 import DQN

import sb3_spiking  # noqa: F401  (registers the spiking policies for loading)
from sb3_spiking.snn.encoders import PopulationEncoder
from sb3_spiking.snn.normalization import RunningNorm
from sb3_spiking.snn.readout import NonSpikingReadout, leaky_integrator_kernel


def model_path(logs: str, task: str, policy: str, seed: int, env_id: str = "MountainCar-v0") -> str:
    """The final model of one suite run."""
    paths = glob.glob(os.path.join(logs, task, f"{policy}-seed{seed}", "dqn", f"{env_id}_*", f"{env_id}.zip"))
    if not paths:
        raise FileNotFoundError(f"no model of {policy} seed {seed} under {logs}/{task}: run the learning suite first")
    return sorted(paths)[-1]


def early_episodes(path: str, time_limit: int) -> str:
    """Training episodes that ended before the time limit, over all training episodes."""
    monitor = pd.read_csv(os.path.join(os.path.dirname(path), "0.monitor.csv"), skiprows=1)
    return f"{int((monitor['l'] < time_limit).sum())} / {len(monitor)}"


def greedy_episodes(model: DQN, env: gym.Env, episodes: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean length and mean last observation of greedy episodes (env seeds 0, 1, ...), and every state they visit."""
    lengths, last, visited = [], [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        done, steps = False, 0
        while not done:
            visited.append(obs)
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, _ = env.step(action)
            done, steps = terminated or truncated, steps + 1
        lengths.append(steps)
        last.append(obs)
    return float(np.mean(lengths)), np.mean(last, axis=0), np.array(visited, dtype=np.float32)


def uniform_states(space: gym.spaces.Box, count: int) -> Optional[th.Tensor]:
    """States drawn uniformly over a bounded Box (seeded), ``None`` if a bound is infinite."""
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        return None
    rng = np.random.default_rng(0)
    return th.as_tensor(rng.uniform(space.low, space.high, size=(count, *space.shape)), dtype=th.float32)


@th.no_grad()
def diagnose(path: str, env_id: str, states: Optional[th.Tensor], episodes: int = 5) -> dict[str, str]:
    """One model's row; ``states=None`` probes the Q-network on the greedy episodes' states."""
    model = DQN.load(path, device="cpu")
    env = gym.make(env_id)
    q_net = model.policy.q_net
    q_net.set_training_mode(False)
    row = {"episodes ended before the time limit, training": early_episodes(path, env.spec.max_episode_steps)}
    length, last, visited = greedy_episodes(model, env, episodes)
    row["greedy episodes: length, last observation"] = f"{length:.1f}; " + ", ".join(f"{value:.3g}" for value in last)
    states = th.as_tensor(visited) if states is None else states
    norms = [module for module in q_net.modules() if isinstance(module, RunningNorm)]
    stds = norms[0].running_var.sqrt().tolist() if norms else []
    row["input std"] = ", ".join(f"{std:.3g}" for std in stds) if stds else "-"
    encoders = [module for module in q_net.modules() if isinstance(module, PopulationEncoder)]
    if encoders:
        centres = encoders[0].centres.detach()
        row["population centres, first dimension"] = f"{float(centres[0].min()):.2f} to {float(centres[0].max()):.2f}"
    layers: list[th.Tensor] = []
    hooks = [
        module.register_forward_hook(lambda _module, _inputs, output: layers.append(output))
        for module in q_net.modules()
        if hasattr(module, "v_threshold")
    ]
    readouts = [module for module in q_net.modules() if isinstance(module, NonSpikingReadout)]
    readout_inputs: list[th.Tensor] = []
    if readouts:
        hooks.append(readouts[0].register_forward_hook(lambda _module, inputs, _output: readout_inputs.append(inputs[0])))
    q_values = q_net(states)
    for hook in hooks:
        hook.remove()
    greedy = q_values.max(dim=1).values
    row["max Q mean"] = f"{float(greedy.mean()):.2f}"
    row["max Q spread"] = f"{float(greedy.max() - greedy.min()):.2f}"
    shares = np.bincount(q_values.argmax(dim=1).numpy(), minlength=q_values.shape[1]) / len(states)
    row["greedy action shares"] = ", ".join(f"{share:.2f}" for share in shares)
    for index, spikes in enumerate(layers, start=1):
        rate = spikes.mean(dim=0)  # [B, N]
        silent = float((rate.max(dim=0).values == 0).float().mean())
        saturated = float((rate.min(dim=0).values == 1).float().mean())
        binary = float(((rate == 0) | (rate == 1)).float().mean())
        row[f"layer {index}: rate / silent / saturated / binary"] = (
            f"{float(rate.mean()):.2f} / {silent:.2f} / {saturated:.2f} / {binary:.2f}"
        )
    if readouts and readouts[0].decoder == "max-mem":
        readout = readouts[0]
        kernel = leaky_integrator_kernel(readout.T, readout.tau)
        membrane = th.einsum("ts,sbo->tbo", kernel, readout.linear(readout_inputs[0]))
        row["max-mem read at step 1"] = f"{float((membrane.argmax(dim=0) == 0).float().mean()):.2f}"
    else:
        row["max-mem read at step 1"] = "-"
    return row


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", default="logs/learning_suite", help="the learning suite's log folder")
    parser.add_argument("--task", default="mountaincar-dqn", help="the suite task whose runs are read")
    parser.add_argument("--env", default="MountainCar-v0", help="the task's environment id")
    parser.add_argument("--policies", nargs="+", default=["ann", "snn", "snn-pop"], help="suite policies to read")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--states", type=int, default=2000, help="probe states drawn over a bounded observation space")
    parser.add_argument("--out", default="lab/trained_q_diagnosis.md", help="markdown file, or - for stdout only")
    args = parser.parse_args(argv)

    states = uniform_states(gym.make(args.env).observation_space, args.states)
    rows, missing = [], []
    for policy in args.policies:
        for seed in args.seeds:
            try:
                path = model_path(args.logs, args.task, policy, seed, args.env)
            except FileNotFoundError:
                missing.append(f"{policy} seed {seed}")
                continue
            rows.append({"run": f"{policy} seed {seed}", **diagnose(path, args.env, states)})
    if not rows:
        raise FileNotFoundError(f"no model under {args.logs}/{args.task}: run the learning suite first")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    command = " ".join(["python lab/trained_q_diagnosis.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [
        f"Made by `{command.strip()}` from the learning suite's final models ({args.task}). Probe states: "
        + (
            f"{args.states} drawn uniformly over {args.env}'s observation space"
            if states is not None
            else "the states of each model's greedy episodes"
        )
        + ". Layer cells: firing rate / silent neurons / saturated neurons / binary neuron-state pairs (no spike or "
        "a spike every step).",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row.get(column, "-") for column in columns) + " |" for row in rows),
    ]
    if missing:
        lines += ["", f"Not found (not run): {', '.join(missing)}."]
    text = "\n".join(lines) + "\n"
    write_report(text, args.out)


if __name__ == "__main__":
    main()
