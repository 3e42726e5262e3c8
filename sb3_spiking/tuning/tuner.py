"""
Tune the spiking knobs of an SB3 agent with Optuna, without rl-zoo3::

    python -m sb3_spiking.tuning --algo ppo --env CartPole-v1 --n-trials 20 --n-timesteps 8000

A study lives in an Optuna storage, so it can be stopped and resumed, and run by several processes (or machines)
at once: a SQLite file by default (``--storage tune.db``), a journal file (``--storage tune.log``, for processes
sharing a file system), or any Optuna storage URL (``--storage postgresql://user@host/db``, for many machines).
Each trial samples ``T``, ``tau``, ``decoder`` and ``neuron`` (:class:`SpikingSearchSpace`) and, unless
``--no-tune-algo``, a few hyperparameters of the algorithm; it is evaluated ``--n-evaluations`` times during
training, and the pruner stops trials that fall behind.
"""

import argparse
import ast
import math
import warnings
from typing import Any, Callable, Optional

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


def _algorithms() -> dict[str, type[BaseAlgorithm]]:
    from sb3_contrib import QRDQN, TRPO
    from stable_baselines3 import A2C, DQN, PPO

    return {"a2c": A2C, "dqn": DQN, "ppo": PPO, "qrdqn": QRDQN, "trpo": TRPO}


def make_storage(storage: str, heartbeat_interval: int = 60) -> Any:
    """
    An Optuna storage from a command-line value.

    :param storage: A path ending in ``.log`` (journal file), another path (SQLite file) or an Optuna storage URL
    :param heartbeat_interval: Seconds between heartbeats of a running trial in a database storage, so that the
        trial of a worker that died is marked failed rather than running forever
    """
    if storage.endswith(".log") and "://" not in storage:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(storage))
    url = storage if "://" in storage else f"sqlite:///{storage}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # A trial whose heartbeat stops (its worker died) is marked failed when another worker starts a trial
        return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_interval)


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


def make_objective(args: argparse.Namespace) -> Callable[[optuna.Trial], float]:
    """The objective of a study: mean evaluation return of a trained agent."""
    algo_class = _algorithms()[args.algo]
    space = SpikingSearchSpace(
        T=tuple(args.T), tau=tuple(args.tau), decoders=tuple(args.decoders), neurons=tuple(args.neurons)
    )

    def objective(trial: optuna.Trial) -> float:
        hyperparams = dict(args.hyperparams)
        if args.tune_algo:
            hyperparams.update(ALGO_SAMPLERS[args.algo](trial))
        policy_kwargs = {**args.policy_kwargs, **sample_spiking_params(trial, space)}
        env = make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed)
        eval_env = make_vec_env(args.env, n_envs=1, seed=None if args.seed is None else args.seed + 1000)
        try:
            model = algo_class(args.policy, env, policy_kwargs=policy_kwargs, seed=args.seed, verbose=0, **hyperparams)
            eval_freq = max(args.n_timesteps // args.n_evaluations // args.n_envs, 1)
            callback = _PruningEval(trial, eval_env, eval_freq, args.eval_episodes)
            model.learn(args.n_timesteps, callback=callback)
        except (AssertionError, ValueError) as error:  # e.g. NaN from an unlucky learning rate
            raise optuna.TrialPruned(f"training failed: {error}") from error
        finally:
            env.close()
            eval_env.close()
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


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sb3_spiking.tuning", description=__doc__.split("::")[0].strip())
    add = parser.add_argument
    add("--algo", default="ppo", choices=sorted(ALGO_SAMPLERS), help="algorithm")
    add("--env", default="CartPole-v1", help="gymnasium environment id")
    add("--policy", default="SpikingMlpPolicy", help="spiking policy name")
    add("--n-trials", type=int, default=20, help="trials that this process runs")
    add("--max-trials", type=int, default=None, help="stop once the study holds this many trials, over all processes")
    add("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    add("--n-timesteps", type=int, default=20_000, help="training steps per trial")
    add("--n-evaluations", type=int, default=4, help="evaluations (pruning points) per trial")
    add("--eval-episodes", type=int, default=5, help="episodes per evaluation")
    add("--n-envs", type=int, default=1, help="training environments")
    add("--storage", default="spiking_tune.db", help="SQLite file, journal file (*.log) or Optuna storage URL")
    add("--study-name", default=None, help="study name (default: ALGO-ENV-spiking)")
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


def tune(args: argparse.Namespace) -> optuna.Study:
    """Run (or resume) the study described by the parsed arguments."""
    if args.num_threads > 0:
        th.set_num_threads(args.num_threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=make_storage(args.storage),
        study_name=args.study_name or f"{args.algo}-{args.env}-spiking",
        sampler=make_sampler(args.sampler, args.n_startup_trials, args.seed),
        pruner=make_pruner(args.pruner, args.n_startup_trials, args.n_evaluations),
        direction="maximize",
        load_if_exists=True,
    )
    callbacks, n_trials = [], args.n_trials
    if args.max_trials is not None:
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
    study = tune(parse_args(argv))
    print(report(study))


if __name__ == "__main__":
    main()
