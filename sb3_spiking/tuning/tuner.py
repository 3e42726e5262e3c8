"""
Tune the spiking knobs of an SB3 agent with Optuna, without rl-zoo3::

    python -m sb3_spiking.tuning --algo ppo --env CartPole-v1 --n-trials 20 --n-timesteps 8000

A study lives in an Optuna storage, so it can be stopped and resumed, and run by several processes (or machines)
at once: a SQLite file by default (``--storage tune.db``), a journal file (``--storage tune.log``, for processes
sharing a file system), or any Optuna storage URL (``--storage postgresql://user@host/db``, for many machines).
Keep passwords off the command line (``ps`` and the shell history show it): leave the password out of a PostgreSQL
URL and let libpq read ``PGPASSWORD`` or ``~/.pgpass``, or give the whole URL with ``--storage env:NAME`` (an
environment variable) or ``--storage file:PATH`` (the first line of a file). Messages show a storage with its
password masked.
``--create-only --max-trials N`` creates a study of N trials once; workers then join it with ``--resume`` (also
rl-zoo3's ``-optimize`` workers) and run trials until the study holds N finished ones; the trial of a worker that
dies is failed by its heartbeat and run again by another (:mod:`sb3_spiking.tuning.storage`).
Each trial samples ``T``, ``tau``, ``decoder`` and ``neuron`` (:class:`SpikingSearchSpace`) and, unless
``--no-tune-algo``, a few hyperparameters of the algorithm; it is evaluated ``--n-evaluations`` times during
training, and the pruner stops trials that fall behind. ``--trial-id N --save PATH`` trains a trial's setting again.
"""

import argparse
import ast
import math
import sys
import time
from typing import Any, Callable, Optional, Union

import optuna
import torch as th
from optuna.pruners import BasePruner, MedianPruner, NopPruner, SuccessiveHalvingPruner
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

import sb3_spiking  # noqa: F401  (registers the spiking policy names)
from sb3_spiking.snn import DECODERS, NEURONS
from sb3_spiking.tuning.space import ALGO_SAMPLERS, SpikingSearchSpace, sample_spiking_params
from sb3_spiking.tuning.storage import (
    HEARTBEAT_INTERVAL,
    MAX_RETRY,
    StudyExists,
    check_search_space,
    create_study,
    load_study,
    make_storage,
    run_worker,
    search_space_of,
    study_settings,
)
from sb3_spiking.tuning.urls import mask_url

# The kind of worker (storage.KIND_ATTR) of this tuner's trials
KIND = "sb3_spiking.tuning"

__all__ = [
    "check_configuration",
    "main",
    "make_objective",
    "make_pruner",
    "make_sampler",
    "make_storage",
    "open_study",
    "parse_args",
    "report",
    "tune",
]


def _algorithms() -> dict[str, type[BaseAlgorithm]]:
    from sb3_contrib import QRDQN, TRPO
    from stable_baselines3 import A2C, DQN, PPO

    return {"a2c": A2C, "dqn": DQN, "ppo": PPO, "qrdqn": QRDQN, "trpo": TRPO}


def make_pruner(name: str, n_startup_trials: int, n_evaluations: int) -> BasePruner:
    """
    :param name: ``"median"``, ``"halving"`` or ``"none"``
    :param n_startup_trials: Trials that are never pruned (median pruner)
    :param n_evaluations: Evaluations per trial
    """
    if name == "median":
        return MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_evaluations // 3)
    if name == "halving":
        return SuccessiveHalvingPruner(min_resource=1, reduction_factor=4)
    if name == "none":
        return NopPruner()
    raise ValueError(f"Unknown pruner {name!r}: valid choices are 'median', 'halving', 'none'")


def make_sampler(name: str, n_startup_trials: int, seed: Optional[int]) -> BaseSampler:
    """
    :param name: ``"tpe"`` or ``"random"``
    :param n_startup_trials: Random trials before TPE models the search space
    :param seed: Seed of the sampler
    """
    if name == "tpe":
        return TPESampler(n_startup_trials=n_startup_trials, multivariate=True, seed=seed)
    if name == "random":
        return RandomSampler(seed=seed)
    raise ValueError(f"Unknown sampler {name!r}: valid choices are 'tpe', 'random'")


class _PruningEval(BaseCallback):
    """Evaluates the agent every ``eval_freq`` calls, reports to the trial and stops training if it is pruned."""

    def __init__(self, trial: optuna.Trial, eval_env: VecEnv, eval_freq: int, n_eval_episodes: int) -> None:
        super().__init__()
        self.trial, self.eval_env = trial, eval_env
        self.eval_freq, self.n_eval_episodes = eval_freq, n_eval_episodes
        self.n_evaluations, self.last_mean_reward, self.pruned = 0, -math.inf, False

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq != 0:
            return True
        self.last_mean_reward, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=self.n_eval_episodes)
        self.n_evaluations += 1
        self.trial.report(self.last_mean_reward, self.n_evaluations)
        self.pruned = self.trial.should_prune()
        return not self.pruned


def make_sample(args: argparse.Namespace) -> Callable[[optuna.Trial], tuple[dict[str, Any], dict[str, Any]]]:
    """What a trial samples: ``(algorithm hyperparameters, spiking policy kwargs)``."""
    space = SpikingSearchSpace(
        T=tuple(args.T), tau=tuple(args.tau), decoders=tuple(args.decoders), neurons=tuple(args.neurons)
    )

    def sample(trial: optuna.Trial) -> tuple[dict[str, Any], dict[str, Any]]:
        hyperparams = ALGO_SAMPLERS[args.algo](trial) if args.tune_algo else {}
        return hyperparams, sample_spiking_params(trial, space)

    return sample


def make_model(args: argparse.Namespace, trial: optuna.Trial, env: VecEnv) -> BaseAlgorithm:
    """The untrained agent of a trial: the fixed ``--hyperparams`` / ``--policy-kwargs`` and what the trial samples."""
    sampled, knobs = make_sample(args)(trial)
    hyperparams = {**args.hyperparams, **sampled}
    policy_kwargs = {**args.policy_kwargs, **knobs}
    return _algorithms()[args.algo](args.policy, env, policy_kwargs=policy_kwargs, seed=args.seed, verbose=0, **hyperparams)


def check_configuration(args: argparse.Namespace) -> None:
    """
    Build (without training) the agent of one setting drawn from the search space: a configuration error (an
    invalid spiking knob such as ``--policy-kwargs "{'encoder': 'gaussian'}"``, an unknown policy or keyword,
    an invalid ``net_arch``) raises here, before any study or trial is made, instead of pruning every trial.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study(sampler=RandomSampler(seed=0)).ask()
    env = make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed)
    try:
        make_model(args, trial, env)
    finally:
        env.close()


def train_trial(args: argparse.Namespace, trial: optuna.Trial) -> tuple[BaseAlgorithm, _PruningEval]:
    """Train the agent of a trial (an :class:`optuna.Trial`, or a :class:`~optuna.trial.FixedTrial` to train again)."""
    env = make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed)
    eval_env = make_vec_env(args.env, n_envs=1, seed=None if args.seed is None else args.seed + 1000)
    try:
        model = make_model(args, trial, env)
        eval_freq = max(args.n_timesteps // args.n_evaluations // args.n_envs, 1)
        callback = _PruningEval(trial, eval_env, eval_freq, args.eval_episodes)
        model.learn(args.n_timesteps, callback=callback)
    except (AssertionError, ValueError) as error:  # e.g. NaN from an unlucky learning rate
        raise optuna.TrialPruned(f"training failed: {error}") from error
    finally:
        env.close()
        eval_env.close()
    return model, callback


def make_objective(args: argparse.Namespace) -> Callable[[optuna.Trial], float]:
    """The objective of a study: mean evaluation return of a trained agent."""

    def objective(trial: optuna.Trial) -> float:
        _, callback = train_trial(args, trial)
        if callback.pruned:
            raise optuna.TrialPruned(f"pruned after {callback.n_evaluations} evaluations")
        return callback.last_mean_reward

    return objective


def _literal_dict(text: str) -> dict[str, Any]:
    """``"key=value key2=value2"`` items (values as Python literals) or a dict literal."""
    text = text.strip()
    if text.startswith("{"):
        value = ast.literal_eval(text)
    else:
        value = {}
        for item in text.split():
            key, _, literal = item.partition("=")
            value[key] = ast.literal_eval(literal)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected key=value items or a dict literal, got {text!r}")
    return value


def _trial_id(text: str) -> Union[int, str]:
    if text == "best":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a trial number or 'best', got {text!r}") from None


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sb3_spiking.tuning", description=__doc__.split("::")[0].strip())
    add = parser.add_argument
    add("--algo", default="ppo", choices=sorted(ALGO_SAMPLERS), help="algorithm")
    add("--env", default="CartPole-v1", help="gymnasium environment id")
    add("--policy", default="SpikingMlpPolicy", help="spiking policy name")
    add("--n-trials", type=int, default=None, help="trials that this process runs (20; in a study of fixed size: all)")
    add("--max-trials", type=int, default=None, help="finished trials of the study, all workers together (fixed at creation)")
    add("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    add("--n-timesteps", type=int, default=20_000, help="training steps per trial")
    add("--n-evaluations", type=int, default=4, help="evaluations (pruning points) per trial")
    add("--eval-episodes", type=int, default=5, help="episodes per evaluation")
    add("--n-envs", type=int, default=1, help="training environments")
    add(
        "--storage",
        default="spiking_tune.db",
        help="SQLite file, journal file (*.log), Optuna storage URL, or env:NAME / file:PATH: the URL read from an "
        "environment variable or the first line of a file, so that no password is on the command line (PostgreSQL "
        "also takes a URL without password and reads PGPASSWORD or ~/.pgpass)",
    )
    add("--study-name", default=None, help="study name (default: ALGO-ENV-spiking)")
    add("--create-only", action="store_true", help="create the study (an existing one is an error) and exit")
    add("--resume", action="store_true", help="join an existing study (a missing one is an error), never create it")
    add("--heartbeat-interval", type=int, default=HEARTBEAT_INTERVAL, help="seconds between heartbeats of a trial")
    add("--grace-period", type=int, default=None, help="seconds without heartbeat before a trial fails (2 intervals)")
    add("--max-retry", type=int, default=MAX_RETRY, help="times the parameters of a failed trial are tried again")
    add("--trial-id", type=_trial_id, default=None, help="train this trial's setting (a number, or best) again, not tune")
    add("--save", default=None, help="with --trial-id: where to save the trained agent")
    add("--sampler", default="tpe", choices=["tpe", "random"], help="Optuna sampler")
    add("--pruner", default="median", choices=["median", "halving", "none"], help="Optuna pruner")
    add("--n-startup-trials", type=int, default=5, help="trials before TPE and the median pruner act")
    add("--seed", type=int, default=None, help="seed of the sampler and the environments")
    space = SpikingSearchSpace()
    add("--T", type=int, nargs="+", default=list(space.T), help="choices for T")
    add("--tau", type=float, nargs=2, default=list(space.tau), metavar=("LOW", "HIGH"), help="log-uniform range of tau")
    add("--decoders", nargs="+", default=list(space.decoders), help=f"choices for the decoder, among {', '.join(DECODERS)}")
    add("--neurons", nargs="+", default=list(space.neurons), help=f"choices for the neuron, among {', '.join(NEURONS)}")
    add("--no-tune-algo", dest="tune_algo", action="store_false", help="sample only the spiking knobs")
    add("--hyperparams", type=_literal_dict, default={}, help="fixed algorithm kwargs: 'n_steps=32 batch_size=256'")
    add("--policy-kwargs", type=_literal_dict, default={}, help="fixed policy kwargs: \"{'net_arch': [64, 64]}\"")
    add("--num-threads", type=int, default=1, help="torch threads per process (-1: torch's default)")
    add("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return parser.parse_args(argv)


def open_study(args: argparse.Namespace) -> tuple[optuna.Study, bool]:
    """
    Create or load the study of the arguments, before any training: one-line ValueErrors for an unreachable storage,
    a missing study (``--resume``), an existing one (``--create-only``) or one created with another search space.

    :return: The study, and whether this process created it
    """
    name = args.study_name or f"{args.algo}-{args.env}-spiking"
    space = search_space_of(make_sample(args))
    created = False
    if not args.resume and args.trial_id is None:
        try:
            create_study(
                args.storage, name, args.max_trials, space, args.heartbeat_interval, args.grace_period, args.max_retry
            )
            created = True
        except StudyExists:
            if args.create_only:
                raise
    study = load_study(
        args.storage,
        name,
        kind=KIND,
        sampler=make_sampler(args.sampler, args.n_startup_trials, args.seed),
        pruner=make_pruner(args.pruner, args.n_startup_trials, args.n_evaluations),
    )
    deadline = time.monotonic() + 10.0
    while args.max_trials is not None and not study_settings(study) and time.monotonic() < deadline:
        time.sleep(0.5)  # another worker has just created it and is saving its settings
        study = load_study(args.storage, name, kind=KIND, sampler=study.sampler, pruner=study.pruner)
    if args.trial_id is None:
        check_search_space(study, space)
    asked = study_settings(study).get("max_trials")
    if args.max_trials is not None and asked is not None and asked != args.max_trials:
        raise ValueError(f"Study {name!r} was created with --max-trials {asked}, not {args.max_trials}")
    return study, created


def tune(args: argparse.Namespace, study: Optional[optuna.Study] = None) -> optuna.Study:
    """
    Run (or resume) the study described by the parsed arguments: in a study of fixed size (``--max-trials`` at its
    creation), trials from its queue until it holds them all (:func:`~sb3_spiking.tuning.storage.run_worker`).

    :param study: The study, if already opened by :func:`open_study`
    """
    if args.num_threads > 0:
        th.set_num_threads(args.num_threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if study is None:
        study, _ = open_study(args)
    if args.create_only:
        return study
    if study_settings(study).get("max_trials") is not None:
        run_worker(study, make_objective(args), n_trials=args.n_trials, timeout=args.timeout, kind=KIND)
        return study
    callbacks, n_trials = [], 20 if args.n_trials is None else args.n_trials
    if args.max_trials is not None:  # a study created elsewhere (by rl-zoo3): counted, not queued
        counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        n_trials = max(0, min(n_trials, args.max_trials - len(study.get_trials(deepcopy=False, states=counted))))
        callbacks.append(MaxTrialsCallback(args.max_trials, states=counted))
    study.optimize(
        make_objective(args),
        n_trials=n_trials,
        timeout=args.timeout,
        callbacks=callbacks,
        show_progress_bar=args.progress,
        gc_after_trial=True,
    )
    return study


def find_trial(study: optuna.Study, trial_id: Union[int, str]) -> optuna.trial.FrozenTrial:
    """Trial ``trial_id`` (a number, or ``"best"``) of the study; a ValueError if it has none with parameters."""
    if trial_id == "best":
        if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            raise ValueError(f"Study {study.study_name!r} has no complete trial yet")
        return study.best_trial
    trial = next((trial for trial in study.get_trials(deepcopy=False) if trial.number == trial_id), None)
    if trial is None or not trial.params:
        raise ValueError(f"Study {study.study_name!r} has no trial #{trial_id} with parameters")
    return trial


def train_again(args: argparse.Namespace, trial: optuna.trial.FrozenTrial) -> str:
    """Train the setting of a trial again: its spiking knobs and the hyperparameters that it sampled."""
    model, callback = train_trial(args, optuna.trial.FixedTrial(trial.params, number=trial.number))
    if args.save is not None:
        model.save(args.save)
    return f"Trial #{trial.number} trained again: mean return {callback.last_mean_reward:.1f}"


def report(study: optuna.Study) -> str:
    """A short text report: trial counts, and the best trial's value and parameters."""
    states = [trial.state for trial in study.trials]
    counts = ", ".join(f"{state.name.lower()} {states.count(state)}" for state in TrialState if states.count(state))
    lines = [f"Study {study.study_name!r}: {len(states)} trials ({counts})"]
    if any(state == TrialState.COMPLETE for state in states):
        best = study.best_trial
        lines.append(f"Best trial #{best.number}: mean return {best.value:.1f}")
        lines += [f"    {name}: {value}" for name, value in best.params.items()]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    if args.create_only and args.resume:
        sys.exit("python -m sb3_spiking.tuning: error: --create-only and --resume exclude each other")
    args.resume = args.resume or args.trial_id is not None
    try:
        check_configuration(args)
    except Exception as error:  # a configuration error: stop before the first trial, with its message
        sys.exit(f"python -m sb3_spiking.tuning: error: invalid configuration: {error}")
    try:
        study, _ = open_study(args)
        trial = None if args.trial_id is None else find_trial(study, args.trial_id)
    except ValueError as error:  # bad input: one line, before any training
        sys.exit(f"python -m sb3_spiking.tuning: error: {error}")
    if args.create_only:
        asked = study_settings(study).get("max_trials")
        print(f"Created study {study.study_name!r} in {mask_url(args.storage)}" + (f": {asked} trials" if asked else ""))
    elif trial is not None:
        print(train_again(args, trial))
    else:
        print(report(tune(args, study)))


if __name__ == "__main__":
    main()
