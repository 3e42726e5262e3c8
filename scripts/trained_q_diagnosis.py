"""
What the learning suite's trained DQN agents compute on MountainCar-v0: why the spiking Q-network with the linear
encoder never leaves the valley while the ANN and the population encoder do.

It reads the final models and monitor files that ``scripts/learning_suite.py --tasks mountaincar-dqn`` leaves in
its log folder and, per run, reports:

- training episodes that reached the goal (the monitor file), over all training episodes;
- the observation standardisation (``input_norm``): the running std of each dimension, i.e. how wide the states
  the replay buffer held were;
- on states drawn uniformly over the observation space (the whole valley, most of it never visited by a stuck
  agent): the mean and the spread (max - min) of the greedy value ``max_a Q``, the greedy actions' shares;
- per hidden spiking layer on the same states: the firing rate, the share of silent neurons (no spike on any
  state), of saturated ones (a spike every step on every state), and of binary neuron-state pairs (no spike or a
  spike every step: the spike count then carries one bit of the input);
- the share of states whose ``max-mem`` value is read at the first time step (when every Q-value is negative, the
  membrane starts at 0 and moves down, so its maximum is the first step)::

    python scripts/trained_q_diagnosis.py                    # writes docs/trained_q_diagnosis.md
    python scripts/trained_q_diagnosis.py --policies ann snn --out -
"""

import argparse
import glob
import os
import sys

import gymnasium as gym
import numpy as np
import pandas as pd
import torch as th
from stable_baselines3 import DQN

import sb3_spiking  # noqa: F401  (registers the spiking policies for loading)
from sb3_spiking.snn.normalization import RunningNorm
from sb3_spiking.snn.readout import NonSpikingReadout, leaky_integrator_kernel


def model_path(logs: str, task: str, policy: str, seed: int) -> str:
    """The final model of one suite run."""
    paths = glob.glob(os.path.join(logs, task, f"{policy}-seed{seed}", "dqn", "MountainCar-v0_*", "MountainCar-v0.zip"))
    if not paths:
        raise FileNotFoundError(f"no model of {policy} seed {seed} under {logs}/{task}: run the learning suite first")
    return sorted(paths)[-1]


def goal_episodes(path: str) -> str:
    """Training episodes that ended before the 200-step limit (the goal), over all training episodes."""
    monitor = pd.read_csv(os.path.join(os.path.dirname(path), "0.monitor.csv"), skiprows=1)
    return f"{int((monitor['r'] > -200).sum())} / {len(monitor)}"


@th.no_grad()
def diagnose(path: str, states: th.Tensor) -> dict[str, str]:
    """One model's row."""
    model = DQN.load(path, device="cpu")
    q_net = model.policy.q_net
    q_net.set_training_mode(False)
    row = {"goal reached in training": goal_episodes(path)}
    norms = [module for module in q_net.modules() if isinstance(module, RunningNorm)]
    stds = norms[0].running_var.sqrt().tolist() if norms else []
    row["input std (position, velocity)"] = ", ".join(f"{std:.3g}" for std in stds) if stds else "-"
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
    row["greedy actions (left, none, right)"] = ", ".join(f"{share:.2f}" for share in shares)
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", default="logs/learning_suite", help="the learning suite's log folder")
    parser.add_argument("--task", default="mountaincar-dqn", help="the suite task whose runs are read")
    parser.add_argument("--policies", nargs="+", default=["ann", "snn", "snn-pop"], help="suite policies to read")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--states", type=int, default=2000, help="states drawn uniformly over the observation space")
    parser.add_argument("--out", default="docs/trained_q_diagnosis.md", help="markdown file, or - for stdout only")
    args = parser.parse_args(argv)

    space = gym.make("MountainCar-v0").observation_space
    rng = np.random.default_rng(0)
    states = th.as_tensor(rng.uniform(space.low, space.high, size=(args.states, space.shape[0])), dtype=th.float32)
    rows, missing = [], []
    for policy in args.policies:
        for seed in args.seeds:
            try:
                path = model_path(args.logs, args.task, policy, seed)
            except FileNotFoundError:
                missing.append(f"{policy} seed {seed}")
                continue
            rows.append({"run": f"{policy} seed {seed}", **diagnose(path, states)})
    if not rows:
        raise FileNotFoundError(f"no model under {args.logs}/{args.task}: run the learning suite first")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    command = " ".join(["python scripts/trained_q_diagnosis.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [
        f"Made by `{command.strip()}` from the learning suite's final models ({args.task}), on {args.states} "
        "states drawn uniformly over MountainCar-v0's observation space. Layer cells: firing rate / silent neurons / "
        "saturated neurons / binary neuron-state pairs (no spike or a spike every step).",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row.get(column, "-") for column in columns) + " |" for row in rows),
    ]
    if missing:
        lines += ["", f"Not found (not run): {', '.join(missing)}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        with open(args.out, "w") as file:
            file.write(text)


if __name__ == "__main__":
    main()
