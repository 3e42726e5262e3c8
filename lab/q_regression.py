"""
How fast a spiking Q-network fits a fixed Q-function, against SB3's MlpPolicy: the fitting alone, without the moving
targets and the exploration of DQN.

On the sparse-reward tasks the spiking DQN reaches the threshold later than the ANN (MountainCar, Acrobot). This
separates the fitting from the rest: a DQN with SB3's ``MlpPolicy`` is trained with rl-zoo3's tuned settings (the
teacher), its Q-values on states of its own epsilon-greedy episodes become fixed targets, and fresh networks (rl-zoo3's
``net_arch``, the teacher's optimiser settings: Adam at its learning rate, batch size, DQN's smooth L1 loss and
gradient clipping) regress them. Reported after each number of gradient steps, on held-out states: the loss, the share
of states where the fitted network's greedy action is the teacher's, and the return of 3 greedy episodes::

    python lab/q_regression.py                         # writes lab/q_regression.md (MountainCar-v0)
    python lab/q_regression.py --seeds 0 --out -       # prints only
"""

import argparse
import os
from typing import Any, Optional

import numpy as np
import torch as th
import torch.nn.functional as F
from episodes import greedy_returns, play_states
from lab_report import finish_report, made_by
from stable_baselines3 import DQN

import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)


def zoo_settings(env_id: str) -> tuple[dict[str, Any], int]:
    """rl-zoo3's tuned DQN entry of the task (its ``dqn.yml``) as DQN keywords, and its number of steps."""
    import rl_zoo3
    import yaml

    with open(os.path.join(os.path.dirname(rl_zoo3.__file__), "hyperparams", "dqn.yml")) as file:
        entry = dict(yaml.safe_load(file)[env_id])
    steps = int(float(entry.pop("n_timesteps")))
    entry.pop("policy")
    entry["policy_kwargs"] = eval(entry.get("policy_kwargs", "dict()"), {"dict": dict})  # Python, as rl-zoo3 reads it
    return entry, steps


STUDENTS = {
    "ANN (MlpPolicy)": ("MlpPolicy", {}),
    "SNN (defaults)": ("SpikingMlpPolicy", {}),
    "SNN, T=16": ("SpikingMlpPolicy", dict(T=16)),
}


def teacher(env_id: str, cache: str) -> DQN:
    """The ANN DQN trained with the tuned settings (seed 0), kept in ``cache``."""
    path = os.path.join(cache, f"teacher-{env_id}.zip")
    if os.path.exists(path):
        return DQN.load(path, device="cpu")
    settings, steps = zoo_settings(env_id)
    model = DQN("MlpPolicy", env_id, seed=0, device="cpu", **settings)
    model.learn(steps)
    os.makedirs(cache, exist_ok=True)
    model.save(path)
    return model


def teacher_parser(description: str, out: str, seeds: list[int]) -> argparse.ArgumentParser:
    """
    The command line that the Q diagnostics share: ``--env`` (a task of rl-zoo3's ``dqn.yml``), ``--seeds``,
    ``--cache`` (where the teacher is kept) and ``--out``; each script adds its own options.

    :param description: The script's documentation
    :param out: Its report's default file
    :param seeds: Its default seeds
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="MountainCar-v0", help="a task of rl-zoo3's dqn.yml with vector observations")
    parser.add_argument("--seeds", type=int, nargs="+", default=seeds, help="seeds of the fresh networks")
    parser.add_argument("--cache", default="logs/q_regression", help="where the teacher is kept (lab/q_regression.py)")
    parser.add_argument("--out", default=out, help="output file ('-': print only)")
    return parser


def teacher_states(model: DQN, env_id: str, n: int, epsilon: float, seed: int) -> np.ndarray:
    """``n`` observations of the teacher's epsilon-greedy episodes."""
    return play_states(env_id, n, seed, model, epsilon)


def greedy_return(model: DQN, env_id: str, episodes: int = 3) -> float:
    """Mean return of greedy episodes (reset seeds 2000, 2001, ...)."""
    return float(np.mean(greedy_returns(model, env_id, episodes, seed=1000)))


def fit(env_id: str, policy: str, knobs: dict, seed: int, data: tuple, checkpoints: list[int]) -> list[dict[str, float]]:
    """Regress a fresh network on the teacher's Q-values; its held-out loss, greedy agreement and return per checkpoint."""
    settings, _ = zoo_settings(env_id)
    policy_kwargs = dict(settings["policy_kwargs"], **knobs)
    model = DQN(policy, env_id, seed=seed, device="cpu", **dict(settings, policy_kwargs=policy_kwargs))
    (x_train, q_train), (x_test, q_test) = data
    rng, rows, done = np.random.default_rng(seed), [], 0
    for checkpoint in checkpoints:
        model.policy.set_training_mode(True)
        for _ in range(checkpoint - done):
            batch = rng.integers(0, len(x_train), settings["batch_size"])
            loss = F.smooth_l1_loss(model.q_net(x_train[batch]), q_train[batch])
            model.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(model.policy.parameters(), model.max_grad_norm)
            model.policy.optimizer.step()
        done = checkpoint
        model.policy.set_training_mode(False)
        with th.no_grad():
            q = model.q_net(x_test)
        agree = float((q.argmax(dim=1) == q_test.argmax(dim=1)).float().mean())
        rows.append(dict(loss=float(F.smooth_l1_loss(q, q_test)), agree=agree, ret=greedy_return(model, env_id)))
    return rows


def main(argv: Optional[list[str]] = None) -> str:
    parser = teacher_parser(__doc__, "lab/q_regression.md", [0, 1, 2])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[500, 1000, 2000, 4000, 8000], help="gradient steps")
    parser.add_argument("--n-states", type=int, default=20_000, help="teacher states (a fifth held out)")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    model = teacher(args.env, args.cache)
    settings, steps = zoo_settings(args.env)
    states = teacher_states(model, args.env, args.n_states, epsilon=settings["exploration_final_eps"], seed=0)
    with th.no_grad():
        targets = model.q_net(th.as_tensor(states))
    split = len(states) * 4 // 5
    x = th.as_tensor(states)
    data = ((x[:split], targets[:split]), (x[split:], targets[split:]))
    command = made_by("lab/q_regression.py", argv)
    lines = [
        f"Made by `{command}`: a teacher DQN (`MlpPolicy`, rl-zoo3's tuned {args.env} settings, seed 0, "
        f"{steps:,} steps; greedy return {greedy_return(model, args.env):.1f}), its Q-values on "
        f"{args.n_states:,} states of its epsilon-greedy episodes (a fifth held out) regressed by fresh networks with "
        f"its optimiser settings, seeds {args.seeds}. Held-out smooth L1 loss, share of greedy actions that are the "
        "teacher's, and the mean return of 3 greedy episodes; medians over seeds.",
        "",
        "| student | gradient steps | loss | greedy agreement | greedy return |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, (policy, knobs) in STUDENTS.items():
        runs = [fit(args.env, policy, knobs, seed, data, args.checkpoints) for seed in args.seeds]
        for index, checkpoint in enumerate(args.checkpoints):
            loss, agree, ret = (np.median([run[index][key] for run in runs]) for key in ("loss", "agree", "ret"))
            lines.append(f"| {label} | {checkpoint:,} | {loss:.4f} | {agree:.2f} | {ret:.1f} |")
            print(lines[-1], flush=True)
    return finish_report(lines, args.out)


if __name__ == "__main__":
    main()
