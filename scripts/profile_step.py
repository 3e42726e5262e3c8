"""
Where the CPU time of a spiking DQN gradient step goes: torch.profiler's self CPU time, grouped.

The step is the benchmark's (``scripts/benchmark.py``): ``SpikingCnnPolicy`` (Nature-CNN / DSQN layout, 84x84x4
frames, 4 actions), batch 32, ``max-mem``, Huber loss, Adam. Groups: convolutions, linear layers, neuron updates
(everything that runs inside a spiking neuron's forward or its backward), dtype conversions and copies, the rest::

    python scripts/profile_step.py --threads 1          # writes docs/results/profile_step.md
"""

import argparse
import os
import sys
from collections import defaultdict
from typing import Optional

import torch as th
from spikingjelly.activation_based.neuron import BaseNode
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark import ATARI, make_batch, sb3_contender

from sb3_spiking.policies import SpikingCnnDQNPolicy

GROUPS = ("convolutions", "linear layers", "neuron updates", "conversions and copies", "rest")
NEURON = "neuron update"


def group_of(event) -> str:  # type: ignore[no-untyped-def]
    """The group of a profiler event: the neuron's when it runs inside a neuron, else by operator name."""
    parent = event
    while parent is not None:
        if parent.name == NEURON or "FusedNeuronFunctionBackward" in parent.name or "NodeBackward" in parent.name:
            return "neuron updates"
        parent = parent.cpu_parent
    name = event.name
    if "conv" in name:
        return "convolutions"
    if name in ("aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::linear"):
        return "linear layers"
    if name in ("aten::to", "aten::_to_copy", "aten::copy_", "aten::clone", "aten::contiguous"):
        return "conversions and copies"
    return "rest"


def mark_neurons(module: th.nn.Module) -> None:
    """Open a profiler range around every spiking neuron's forward."""
    for node in module.modules():
        if isinstance(node, BaseNode):
            node.register_forward_pre_hook(lambda m, i: setattr(m, "_range", record_function(NEURON).__enter__()))
            node.register_forward_hook(lambda m, i, o: m._range.__exit__(None, None, None))


def main(argv: Optional[list[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--T", type=int, default=8, help="simulation steps")
    parser.add_argument("--batch", type=int, default=32, help="batch size")
    parser.add_argument("--steps", type=int, default=10, help="profiled training steps (after 2 untimed ones)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op CPU threads")
    parser.add_argument("--out", default="docs/results/profile_step.md", help="output file ('-': print only)")
    args = parser.parse_args(argv)
    th.set_num_threads(args.threads)
    th.manual_seed(0)

    device = th.device("cpu")
    contender = sb3_contender("ours", SpikingCnnDQNPolicy, ATARI, device, T=args.T, decoder="max-mem")
    mark_neurons(contender.q_net)
    mark_neurons(contender.target)
    batch = make_batch(ATARI, args.batch, device)
    for _ in range(2):
        contender.train_step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            contender.train_step(batch)

    totals: dict[str, float] = defaultdict(float)
    by_op: dict[tuple[str, str], float] = defaultdict(float)
    for event in prof.events():
        group = group_of(event)
        totals[group] += event.self_cpu_time_total
        by_op[(group, event.name)] += event.self_cpu_time_total
    total = sum(totals.values())
    command = "python scripts/profile_step.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        f"Made by `{command.strip()}`: {args.steps} DQN gradient steps of `SpikingCnnPolicy`, T={args.T}, batch "
        f"{args.batch}, `max-mem`, {args.threads} thread(s), torch {th.__version__}; "
        f"{total / 1e3 / args.steps:.1f} ms of CPU time per step.",
        "",
        "| share of CPU time | group |",
        "|---:|---|",
        *(f"| {100 * totals[group] / total:.1f}% | {group} |" for group in GROUPS),
        "",
        "| share | group | operator |",
        "|---:|---|---|",
    ]
    top = sorted(by_op.items(), key=lambda item: -item[1])[:15]
    lines += [f"| {100 * value / total:.1f}% | {group} | `{name}` |" for (group, name), value in top]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        with open(args.out, "w") as file:
            file.write(text)
    return text


if __name__ == "__main__":
    main()
