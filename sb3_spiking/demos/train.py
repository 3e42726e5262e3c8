"""
Train a spiking agent on CartPole-v1 with stock SB3, then the stock ANN policy with the same settings, and report
both side by side.

    python -m sb3_spiking.demos.train                      # spiking PPO (package defaults), then SB3's MlpPolicy
    python -m sb3_spiking.demos.train --algo dqn --only snn   # the spiking DQN alone
    python -m sb3_spiking.demos.train --out docs/results/train_ppo.txt   # also saves what it prints

Both algorithms use rl-zoo3's tuned CartPole-v1 hyperparameters and the spiking policy its package defaults; only the
policy changes between the spiking and the ANN run.
"""

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch as th
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import LinearSchedule

import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)

ENV_ID = "CartPole-v1"
SOLVED = 475.0


# Settings per algorithm, the same for the spiking and the ANN policy: rl-zoo3's tuned CartPole-v1 DQN and PPO
# (rl_zoo3/hyperparams/dqn.yml and ppo.yml)
CARTPOLE_SETTINGS: dict[str, dict[str, Any]] = {
    "dqn": dict(
        n_envs=1,
        learning_rate=2.3e-3,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1000,
        gamma=0.99,
        target_update_interval=10,
        train_freq=256,
        gradient_steps=128,
        exploration_fraction=0.16,
        exploration_final_eps=0.04,
        policy_kwargs=dict(net_arch=[256, 256]),
    ),
    "ppo": dict(
        n_envs=8,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0),  # rl-zoo3's lin_0.001
        clip_range=LinearSchedule(0.2, 0.0, 1.0),
        policy_kwargs=dict(),
    ),
}
ALGOS: dict[str, type[BaseAlgorithm]] = {"dqn": DQN, "ppo": PPO}


def algorithm_kwargs(algo: str) -> dict[str, Any]:
    """The algorithm's keyword arguments in :data:`CARTPOLE_SETTINGS`, without ``n_envs`` and ``policy_kwargs``."""
    return {key: value for key, value in CARTPOLE_SETTINGS[algo].items() if key not in ("n_envs", "policy_kwargs")}


@dataclass
class Result:
    """What one training run gives: the step at which it solved the task (or None), final mean return and std."""

    policy: str  # the policy and its spiking knobs
    solved_at: Optional[int]
    mean_return: float
    std_return: float
    seconds: float
    history: list[tuple[int, float]]


def train(
    algo: str = "ppo",
    spiking: bool = True,
    total_timesteps: int = 100_000,
    seed: int = 0,
    eval_freq: int = 5000,
    n_eval_episodes: int = 10,
    spiking_kwargs: Optional[dict[str, Any]] = None,
    verbose: int = 0,
    log_path: Optional[str] = None,
) -> Result:
    """
    Train on CartPole-v1, stopping as soon as an evaluation reaches a mean return of 475, then evaluate on 20 episodes.

    The evaluations are SB3's :class:`~stable_baselines3.common.callbacks.EvalCallback` (deterministic actions) with
    :class:`~stable_baselines3.common.callbacks.StopTrainingOnRewardThreshold`.

    :param algo: ``"dqn"`` or ``"ppo"``
    :param spiking: Spiking policy (``SpikingMlpPolicy``) or SB3's ``MlpPolicy``
    :param total_timesteps: Environment step budget
    :param seed: Random seed
    :param eval_freq: Evaluate every this many environment steps (summed over the training environments)
    :param n_eval_episodes: Episodes per intermediate evaluation
    :param spiking_kwargs: Spiking knobs (``T``, ``decoder``...) that differ from the package defaults
    :param verbose: 1 to print each evaluation
    :param log_path: Folder for the EvalCallback's ``evaluations.npz`` (a temporary folder if None)
    """
    if algo not in ALGOS:
        raise ValueError(f"Unknown algo {algo!r}: valid choices are {sorted(ALGOS)}")
    settings = algorithm_kwargs(algo)
    n_envs = CARTPOLE_SETTINGS[algo]["n_envs"]
    policy_kwargs = dict(CARTPOLE_SETTINGS[algo]["policy_kwargs"])
    if spiking:
        policy_kwargs.update(spiking_kwargs or {})
    env = make_vec_env(ENV_ID, n_envs=n_envs, seed=seed)
    eval_env = make_vec_env(ENV_ID, n_envs=1, seed=seed + 1000)
    model = ALGOS[algo](
        "SpikingMlpPolicy" if spiking else "MlpPolicy", env, policy_kwargs=policy_kwargs, seed=seed, **settings
    )
    with tempfile.TemporaryDirectory() as tmp:
        # EvalCallback counts calls, one per vectorised step of n_envs environment steps
        callback = EvalCallback(
            eval_env,
            callback_on_new_best=StopTrainingOnRewardThreshold(SOLVED, verbose=verbose),
            n_eval_episodes=n_eval_episodes,
            eval_freq=max(eval_freq // n_envs, 1),
            log_path=log_path or tmp,
            verbose=verbose,
        )
        start = time.perf_counter()
        model.learn(total_timesteps, callback=callback)
        seconds = time.perf_counter() - start
    history = [
        (int(step), float(np.mean(returns)))
        for step, returns in zip(callback.evaluations_timesteps, callback.evaluations_results)
    ]
    solved_at = history[-1][0] if history and history[-1][1] >= SOLVED else None
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=20, return_episode_rewards=True)
    policy = "MlpPolicy"
    if spiking:
        config = model.policy.spiking  # type: ignore[attr-defined]
        policy = f"SpikingMlpPolicy ({config.neuron.upper()}, T={config.T}, {config.decoder}, input_norm={config.input_norm})"
    return Result(policy, solved_at, float(np.mean(returns)), float(np.std(returns)), seconds, history)


POLICIES = ("snn", "ann")


def main(argv: Optional[list[str]] = None) -> dict[str, Result]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=sorted(ALGOS), default="ppo", help="SB3 algorithm")
    parser.add_argument("--only", choices=POLICIES, help="train only the spiking (snn) or only the ANN policy")
    parser.add_argument("--steps", type=int, default=100_000, help="environment step budget")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--T", type=int, help="simulation time steps per observation (default: the package's, 8)")
    parser.add_argument("--neuron", help="hidden neuron: if, lif, plif (default: the package's for the policy)")
    parser.add_argument("--decoder", help="readout: last-mem, max-mem, max-abs-mem, mean-mem, fr-mlp")
    parser.add_argument("--out", help="also write the command, every evaluation and the summary to this text file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest for these small networks)")
    args = parser.parse_args(argv)
    th.set_num_threads(args.threads)

    given = dict(T=args.T, neuron=args.neuron, decoder=args.decoder)
    spiking_kwargs = {key: value for key, value in given.items() if value is not None}
    lines = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    results: dict[str, Result] = {}
    summaries = []
    for kind in [args.only] if args.only else POLICIES:
        spiking = kind == "snn"
        policy = "MlpPolicy" if not spiking else f"SpikingMlpPolicy {spiking_kwargs or '(package defaults)'}"
        say(f"Training {args.algo.upper()} with {policy} on {ENV_ID} for up to {args.steps} steps (seed {args.seed})")
        result = train(args.algo, spiking, args.steps, args.seed, spiking_kwargs=spiking_kwargs, verbose=0)
        for step, value in result.history:
            say(f"  step {step:>7d}  eval mean return {value:7.1f}")
        solved = f"reached {SOLVED:.0f} at step {result.solved_at}" if result.solved_at else f"did not reach {SOLVED:.0f}"
        summaries.append(
            f"{result.policy}: {solved}; final mean return {result.mean_return:.1f} +- {result.std_return:.1f} "
            f"over 20 episodes; {result.seconds:.0f} s of training"
        )
        results[kind] = result
    for summary in summaries:
        say(summary)
    if args.out:
        command = "python -m sb3_spiking.demos.train " + " ".join(sys.argv[1:] if argv is None else argv)
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as file:
            file.write("\n".join([f"$ {command.strip()}", *lines]) + "\n")
        print(f"Wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
