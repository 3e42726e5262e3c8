"""
Closed-loop checks of exported policies in other NIR consumers (``sb3_spiking.export.verify_export``), on policies
trained as ``scripts/deploy_quantisation.py`` trains them, with float and 8-bit integer weights::

    nice -n 10 env OMP_NUM_THREADS=1 python scripts/deploy_check.py --seed 0

For each task: train, then for each consumer play ``--episodes`` episodes with the graph (float, then
``to_nir(policy, bits=8)`` beside the 8-bit ``quantize_policy`` copy) and ``model.predict`` side by side. A consumer
that cannot read the graph is listed with the reason it gives.
"""

import argparse
import copy
import json
import os
import sys

import torch as th

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deploy_quantisation import ROOT, TASKS

from sb3_spiking.export import CONSUMERS, quantize_policy, to_nir, verify_export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="training steps of every task (default: each task's)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "results", "deploy_check"), help="path without suffix")
    args = parser.parse_args()
    th.set_num_threads(1)
    rows = []
    for task in args.tasks:
        env_id, algo, kwargs, steps = TASKS[task]
        steps = steps if args.steps is None else args.steps
        model = algo("SpikingMlpPolicy", env_id, seed=args.seed, **kwargs).learn(steps)
        model.policy.set_training_mode(False)
        quantized = copy.copy(model)
        quantized.policy = quantize_policy(model.policy, 8)
        variants = (("float", model, to_nir(model.policy)), ("8-bit", quantized, to_nir(model.policy, bits=8)))
        for weights, checked, graph in variants:
            for consumer in CONSUMERS:
                row = dict(task=task, seed=args.seed, steps=steps, weights=weights, consumer=consumer)
                try:
                    check = verify_export(checked, env_id, consumer=consumer, episodes=args.episodes, graph=graph)
                    row.update(
                        agreeing=check.agreeing,
                        total=check.steps,
                        max_abs_difference=check.max_abs_difference,
                        returns_predict=check.returns_predict,
                        returns_consumer=check.returns_consumer,
                    )
                except (ValueError, ImportError) as error:  # a node it cannot run, or not installed
                    row.update(error=str(error))
                rows.append(row)
                print(json.dumps(row), flush=True)
    with open(args.out + ".json", "w") as file:
        json.dump(rows, file, indent=1)
    lines = [
        "# Exported policies in other NIR consumers, in closed loop",
        "",
        f"Made by `scripts/deploy_check.py --seed {args.seed} --episodes {args.episodes}`: policies trained as in "
        "`scripts/deploy_quantisation.py`; 8-bit rows compare the integer graph with the 8-bit `quantize_policy` copy.",
        "",
        "| task | weights | consumer | steps agreeing / total | max action difference | return predict | return consumer |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        head = f"| {row['task']} | {row['weights']} | {row['consumer']} |"
        if "error" in row:
            lines.append(f"{head} cannot read the graph: {row['error']} | | | |")
            continue
        returns = [", ".join(f"{value:.1f}" for value in row[key]) for key in ("returns_predict", "returns_consumer")]
        agreement = f"{row['agreeing']} / {row['total']} | {row['max_abs_difference']:.1e}"
        lines.append(f"{head} {agreement} | {returns[0]} | {returns[1]} |")
    with open(args.out + ".md", "w") as file:
        file.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
