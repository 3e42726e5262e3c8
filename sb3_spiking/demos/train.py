"""
Train a spiking agent on CartPole-v1 with stock SB3 and report how it did.

    python -m sb3_spiking.demos.train                      # spiking PPO, 100k steps
    python -m sb3_spiking.demos.train --algo dqn --ann     # the stock ANN policy, same settings
    python -m sb3_spiking.demos.train --out docs/train_ppo.txt   # also saves what it prints

DQN uses rl-zoo3's tuned CartPole-v1 hyperparameters, PPO those of SpikingJelly's spiking PPO example; only
the policy changes between the spiking and the ANN run.
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

import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)

ENV_ID = "CartPole-v1"
SOLVED = 475.0


# Settings per algorithm, the same for the spiking and the ANN policy: rl-zoo3's tuned CartPole-v1 DQN, and the
# spiking PPO of SpikingJelly's example (hidden 32, lr 1e-3, 128 steps, clip 0.2)
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
        n_envs=4,
        learning_rate=1e-3,
        n_steps=128,
        batch_size=128,
        n_epochs=10,
        clip_range=0.2,
        ent_coef=0.001,
        policy_kwargs=dict(net_arch=dict(pi=[32], vf=[32])),
    ),
}
ALGOS: dict[str, type[BaseAlgorithm]] = {"dqn": DQN, "ppo": PPO}


def algorithm_kwargs(algo: str) -> dict[str, Any]:
    """The algorithm's keyword arguments in :data:`CARTPOLE_SETTINGS`, without ``n_envs`` and ``policy_kwargs``."""
    return {key: value for key, value in CARTPOLE_SETTINGS[algo].items() if key not in ("n_envs", "policy_kwargs")}


# The spiking knobs: the readout of SpikingJelly's DSQN for DQN, its spiking PPO example for PPO. Both use IF neurons:
# CartPole's observations are small, and leaky neurons forget much of them within T steps (with LIF, DQN stayed
# below 475 in 100k steps: best evaluation 459 at T=4, 198 at T=8)
SPIKING_KNOBS: dict[str, dict[str, Any]] = {
    "dqn": dict(T=8, neuron="if", decoder="max-mem"),
    "ppo": dict(T=16, neuron="if", decoder="last-mem", decoder_tau=2.0),
}


@dataclass
class Result:
    """What one training run gives: the step at which it solved the task (or None), final mean return and std."""

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
    :param spiking_kwargs: Spiking knobs (``T``, ``decoder``...) over the defaults of :data:`SPIKING_KNOBS`
    :param verbose: 1 to print each evaluation
    :param log_path: Folder for the EvalCallback's ``evaluations.npz`` (a temporary folder if None)
    """
    if algo not in ALGOS:
        raise ValueError(f"Unknown algo {algo!r}: valid choices are {sorted(ALGOS)}")
    settings = algorithm_kwargs(algo)
    n_envs = CARTPOLE_SETTINGS[algo]["n_envs"]
    policy_kwargs = dict(CARTPOLE_SETTINGS[algo]["policy_kwargs"])
    if spiking:
        policy_kwargs.update(SPIKING_KNOBS[algo], **(spiking_kwargs or {}))
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
    return Result(solved_at, float(np.mean(returns)), float(np.std(returns)), seconds, history)


def main(argv: Optional[list[str]] = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=sorted(ALGOS), default="ppo", help="SB3 algorithm")
    parser.add_argument("--ann", action="store_true", help="train SB3's stock MlpPolicy instead of the spiking one")
    parser.add_argument("--steps", type=int, default=100_000, help="environment step budget")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--T", type=int, help="simulation time steps per observation (default: 8 for DQN, 16 for PPO)")
    parser.add_argument("--neuron", help="hidden neuron: if, lif, plif (default: if)")
    parser.add_argument("--decoder", help="readout: last-mem, max-mem, max-abs-mem, mean-mem, fr-mlp")
    parser.add_argument("--out", help="also write the command, every evaluation and the summary to this text file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest for these small networks)")
    args = parser.parse_args(argv)
    th.set_num_threads(args.threads)

    given = dict(T=args.T, neuron=args.neuron, decoder=args.decoder)
    spiking_kwargs = {key: value for key, value in given.items() if value is not None}
    policy = "MlpPolicy" if args.ann else f"SpikingMlpPolicy {dict(SPIKING_KNOBS[args.algo], **spiking_kwargs)}"
    header = f"Training {args.algo.upper()} with {policy} on {ENV_ID} for up to {args.steps} steps (seed {args.seed})"
    print(header, flush=True)
    result = train(args.algo, not args.ann, args.steps, args.seed, spiking_kwargs=spiking_kwargs, verbose=1)
    solved = f"reached {SOLVED:.0f} at step {result.solved_at}" if result.solved_at else f"did not reach {SOLVED:.0f}"
    summary = (
        f"{policy}: {solved}; final mean return {result.mean_return:.1f} +- {result.std_return:.1f} "
        f"over 20 episodes; {result.seconds:.0f} s of training"
    )
    print(summary)
    if args.out:
        command = "python -m sb3_spiking.demos.train " + " ".join(sys.argv[1:] if argv is None else argv)
        evaluations = [f"  step {step:>7d}  eval mean return {value:7.1f}" for step, value in result.history]
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as file:
            file.write("\n".join([f"$ {command.strip()}", header, *evaluations, summary]) + "\n")
        print(f"Wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
