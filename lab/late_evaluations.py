"""
The learning suite's runs judged on the second half of training: the mean of every evaluation from half the budget
on, per seed, beside the suite's final return (the mean of the last 3 evaluations).

On CartPole DQN the evaluations of every policy, the ANN's included, swing between about 100 and 500 from one
evaluation to the next until the end, so the last 3 of them say little about a run. The mean of the last 10 (the
second half of the 50k steps) is a steadier measure of where a run has settled; it reads the suite's saved
evaluations (``lab/results/learning/<task>/<policy>-seed<S>.npz``) and trains nothing::

    python lab/late_evaluations.py                    # CartPole DQN, writes lab/late_evaluations.md
    python lab/late_evaluations.py --task mountaincar-dqn --policies ann snn-span3 --out -
"""

import argparse
import glob
import os
import re
import sys
from typing import Optional

import numpy as np
from lab_report import write_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "lab", "results", "learning")


def runs(task: str, policy: str) -> dict[int, np.ndarray]:
    """Seed -> mean return of each evaluation, for the saved runs of a policy on a task."""
    found = {}
    for path in glob.glob(os.path.join(RESULTS, task, f"{policy}-seed*.npz")):
        match = re.fullmatch(rf"{re.escape(policy)}-seed(\d+)\.npz", os.path.basename(path))
        if match:
            found[int(match.group(1))] = np.load(path)["results"].mean(axis=1)
    return dict(sorted(found.items()))


def main(argv: Optional[list[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cartpole-dqn", help="a task of the learning suite")
    parser.add_argument(
        "--policies",
        nargs="+",
        default=["ann", "snn", "snn-span3", "snn-span3-half", "snn-graded", "snn-span3-centred", "snn-span3-centred1"],
        help="policies (suite names)",
    )
    parser.add_argument("--out", default="lab/late_evaluations.md", help="output file ('-': print only)")
    args = parser.parse_args(argv)
    command = f"python lab/late_evaluations.py --task {args.task} --policies {' '.join(args.policies)}"
    lines = [
        f"Made by `{command}`.",
        "",
        f"{args.task}: per seed, the mean of the evaluations from half the budget on (final: the last 3).",
        "",
        "| policy | seeds | second half, per seed | second half, mean +- std | final, per seed | final, mean |",
        "|---|---:|---|---:|---|---:|",
    ]
    for policy in args.policies:
        found = runs(args.task, policy)
        if not found:
            continue
        late = {seed: float(curve[len(curve) // 2 :].mean()) for seed, curve in found.items()}
        final = {seed: float(curve[-3:].mean()) for seed, curve in found.items()}
        values = np.array(list(late.values()))
        lines.append(
            f"| {policy} | {', '.join(map(str, found))} | {', '.join(f'{v:.1f}' for v in late.values())} "
            f"| {values.mean():.1f} +- {values.std():.1f} | {', '.join(f'{v:.1f}' for v in final.values())} "
            f"| {np.mean(list(final.values())):.1f} |"
        )
    text = "\n".join(lines) + "\n"
    write_report(text, args.out, show=False)
    return text


if __name__ == "__main__":
    sys.stdout.write(main())
