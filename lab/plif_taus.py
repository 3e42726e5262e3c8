"""
The membrane time constants that the learning suite's PLIF runs (the ``snn-plif`` variant) learned: per hidden spiking
layer of each final model, its tau (``1 / sigmoid(w)``), against the 2.0 it starts from. Reads the final models that
``scripts/learning_suite.py`` leaves in its log folder and trains nothing::

    python lab/plif_taus.py                    # writes lab/plif_taus.md
    python lab/plif_taus.py --seeds 0 1 --out -
"""

import argparse
import glob
import os

from lab_report import write_report
from rl_zoo3 import ALGOS
from spikingjelly.activation_based import neuron as sj_neuron
from stable_baselines3.common.base_class import BaseAlgorithm

import sb3_spiking  # noqa: F401  (registers the spiking policies for loading)

TASKS = {"cartpole-dqn": "CartPole-v1", "mountaincar-dqn": "MountainCar-v0", "cartpole-a2c": "CartPole-v1",
         "cartpole-ppo": "CartPole-v1"}  # fmt: skip


def learned_taus(model: BaseAlgorithm) -> list[str]:
    """Each PLIF layer's learned tau in the order of the policy's modules (name: tau), target networks left out."""
    return [
        f"{name}: {1.0 / module.w.sigmoid().item():.2f}"
        for name, module in model.policy.named_modules()
        if isinstance(module, sj_neuron.ParametricLIFNode) and "target" not in name
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", default="logs/learning_suite", help="the learning suite's log folder")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--out", default="lab/plif_taus.md", help="output file ('-': print only)")
    args = parser.parse_args()
    lines = [
        f"Made by `python lab/plif_taus.py --seeds {' '.join(map(str, args.seeds))}`.",
        "",
        "Learned membrane time constants of the `snn-plif` runs' final models (every layer starts at tau = 2.0).",
        "",
        "| task | seed | tau per hidden spiking layer |",
        "|---|---:|---|",
    ]
    for task, env_id in TASKS.items():
        algo = task.split("-")[1]
        for seed in args.seeds:
            paths = glob.glob(os.path.join(args.logs, task, f"snn-plif-seed{seed}", algo, f"{env_id}_*", f"{env_id}.zip"))
            if not paths:
                raise FileNotFoundError(f"no snn-plif model of {task} seed {seed} under {args.logs}: run the suite first")
            model = ALGOS[algo].load(sorted(paths)[-1], device="cpu")
            lines.append(f"| {task} | {seed} | {', '.join(learned_taus(model))} |")
    text = "\n".join(lines) + "\n"
    write_report(text, args.out)


if __name__ == "__main__":
    main()
