"""
Whether the drift of the observation statistics slows the spiking DQN on MountainCar.

``lab/q_regression.py`` finds that a spiking Q-network fits a trained ANN's Q-function on a fixed set of states as
fast as a fresh ANN does, faster at first: the fitting is not what makes the spiking DQN late. What the regression
leaves out is, among others, the moving input: in DQN the observation statistics follow the replay buffer, whose
states spread out as the car climbs, so every first-layer threshold moves in the raw observation space while the
Q-values are learned. Here the spiking DQN (package defaults, rl-zoo3's tuned settings) trains with its statistics
fitted beforehand on the teacher's states of ``lab/q_regression.py`` (the distribution a solved task visits) and
frozen, in the online and the target network alike. Evaluated every 5,000 steps on 10 greedy episodes, as the learning
suite does; compare with the suite's runs of the defaults (``lab/results/learning/mountaincar-dqn/snn-seed*``). A seed
whose run has finished (its evaluations in ``--cache``) is reported again without training::

    python lab/q_frozen_norm.py --seeds 0 1          # writes lab/q_frozen_norm.md
"""

import os
from typing import Optional

import numpy as np
import torch as th
from episodes import play_states
from lab_report import finish_report, made_by
from q_regression import teacher, teacher_parser, teacher_states, zoo_settings
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env

import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)
from sb3_spiking.snn.normalization import RunningNorm


def freeze_statistics(model: DQN, states: np.ndarray) -> None:
    """Set every RunningNorm of the model to the statistics of ``states`` and stop their updates."""
    x = th.as_tensor(states, dtype=th.float64)
    norms = [module for module in model.policy.modules() if isinstance(module, RunningNorm)]
    assert norms, "the spiking policy has no RunningNorm"
    for norm in norms:
        norm.running_mean.copy_(x.mean(dim=0))
        norm.running_var.copy_(x.var(dim=0, unbiased=False))
        norm.running_count.fill_(len(x))
        norm.update = lambda batch: False  # type: ignore[method-assign]


def run(env_id: str, seed: int, states: np.ndarray, log_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """Train one spiking DQN with frozen statistics; its evaluation steps and mean returns."""
    settings, steps = zoo_settings(env_id)
    path = os.path.join(log_dir, f"seed{seed}")
    done = os.path.join(path, "evaluations.npz")
    if os.path.exists(done) and np.load(done)["timesteps"][-1] >= steps:  # a finished run is kept
        evaluations = np.load(done)
        return evaluations["timesteps"], evaluations["results"].mean(axis=1)
    model = DQN("SpikingMlpPolicy", make_vec_env(env_id, seed=seed), seed=seed, device="cpu", **settings)
    freeze_statistics(model, states)
    callback = EvalCallback(make_vec_env(env_id, seed=seed + 100), n_eval_episodes=10, eval_freq=5000, log_path=path)
    model.learn(steps, callback=callback)
    evaluations = np.load(os.path.join(path, "evaluations.npz"))
    return evaluations["timesteps"], evaluations["results"].mean(axis=1)


def main(argv: Optional[list[str]] = None) -> str:
    parser = teacher_parser(__doc__, "lab/q_frozen_norm.md", [0, 1])
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    epsilon = zoo_settings(args.env)[0]["exploration_final_eps"]
    states = teacher_states(teacher(args.env, args.cache), args.env, 20_000, epsilon, seed=0)
    spread = play_states(args.env, 20_000, seed=0).std(axis=0)
    command = made_by("lab/q_frozen_norm.py", argv)
    lines = [
        f"Made by `{command}`: spiking DQN (package defaults, rl-zoo3's tuned {args.env} settings) with its observation "
        "statistics fitted on 20,000 states of the teacher of `lab/q_regression.py` and frozen. Mean return of 10 "
        "greedy episodes at each evaluation (every 5,000 steps). Standard deviation of each observation dimension on "
        f"the teacher's states {', '.join(f'{value:.4f}' for value in states.std(axis=0))}, on states of random-action "
        f"episodes {', '.join(f'{value:.4f}' for value in spread)}.",
        "",
        "| seed | evaluations (every 10,000 steps shown) | final |",
        "|---:|---|---:|",
    ]
    for seed in args.seeds:
        _, returns = run(args.env, seed, states, os.path.join(args.cache, "frozen"))
        shown = " ".join(f"{value:.0f}" for value in returns[1::2])
        lines.append(f"| {seed} | {shown} | {returns[-1]:.1f} |")
        print(lines[-1], flush=True)
    return finish_report(lines, args.out)


if __name__ == "__main__":
    main()
