"""
rl-zoo3 glue: tune the spiking knobs with the zoo's own ``-optimize``.

rl-zoo3 samples a trial's hyperparameters with ``rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER[algo]``, and a
sampled ``policy_kwargs`` replaces the one of the yml file. :func:`install` wraps those samplers so that, when the
experiment's policy is a spiking one, a trial also samples ``T``, ``tau``, ``decoder`` and ``neuron``
(:data:`SEARCH_SPACE`; :data:`STATEFUL_SEARCH_SPACE` for the stateful policies of ``ppo_lstm``, whose ``T`` counts
the simulation steps per env step) and MERGES everything into the yml's ``policy_kwargs``: yml < zoo-sampled < spiking-sampled.
Parameters that a spiking policy does not take (``activation_fn``) are fixed rather than sampled. For any other
policy the zoo behaves exactly as without this module.

The wrappers are installed when rl-zoo3 is imported with the plugin's autoload on (the default), or by
importing this module (``--gym-packages sb3_spiking.tuning.zoo``). Narrow the search space from a module of your own
passed with ``--gym-packages``::

    import sb3_spiking.tuning.zoo as zoo

    zoo.SEARCH_SPACE = zoo.SpikingSearchSpace(T=(8, 16), neurons=("lif",))

``--storage`` also takes ``env:NAME`` and ``file:PATH`` here (the URL read from an environment variable or a file,
see :mod:`sb3_spiking.tuning.urls`), so that no password is on rl-zoo3's command line; a PostgreSQL URL without
password reads ``PGPASSWORD`` or ``~/.pgpass``.
"""

import contextlib
import functools
import io
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable, Iterator, Optional
from unittest import mock

import optuna

from sb3_spiking.policies import SpikingPolicyMixin
from sb3_spiking.tuning.space import SPIKING_PARAMS, SpikingSearchSpace, sample_spiking_params

# Parameters of the zoo's samplers that spiking policies do not take: fixed to this value, not sampled
FIXED_PARAMS = {"activation_fn": "tanh"}

_WRAPPED = "__sb3_spiking_wrapped__"


SEARCH_SPACE = SpikingSearchSpace()
# The stateful policies run T steps per env step from the state the last one left (1 is the hardware's way)
STATEFUL_SEARCH_SPACE = SpikingSearchSpace(T=(1, 2, 4))


def _policy_class(policy: Any, algo_class: Optional[type]) -> Any:
    if isinstance(policy, str):
        policy = getattr(algo_class, "policy_aliases", {}).get(policy)
    return policy


def is_spiking_policy(policy: Any, algo_class: Optional[type] = None) -> bool:
    """
    Whether a policy (a class, or a name in the algorithm's ``policy_aliases``) is a spiking one.

    :param policy: Policy class or name
    :param algo_class: The algorithm that resolves a name
    """
    policy = _policy_class(policy, algo_class)
    return isinstance(policy, type) and issubclass(policy, SpikingPolicyMixin)


def search_space_for(policy: Any, algo_class: Optional[type] = None) -> SpikingSearchSpace:
    """
    The search space of a spiking policy's knobs: :data:`STATEFUL_SEARCH_SPACE` for a stateful policy,
    :data:`SEARCH_SPACE` otherwise (both read when called, so that a module may replace them).

    :param policy: Policy class or name
    :param algo_class: The algorithm that resolves a name
    """
    from sb3_spiking.policies.recurrent import SpikingRecurrentActorCriticPolicy

    policy = _policy_class(policy, algo_class)
    stateful = isinstance(policy, type) and issubclass(policy, SpikingRecurrentActorCriticPolicy)
    return STATEFUL_SEARCH_SPACE if stateful else SEARCH_SPACE


class _SpikingTrial:
    """
    The trial that the zoo's samplers see for a spiking policy: :data:`FIXED_PARAMS` are fixed, not sampled, and
    ``suggested`` keeps the names that the sampler took (a retried or enqueued trial has all its parameters from
    the start, so ``trial.params`` cannot tell them from the spiking knobs).
    """

    def __init__(self, trial: optuna.Trial) -> None:
        self._trial = trial
        self.suggested: set[str] = set()

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        if name in FIXED_PARAMS:
            return FIXED_PARAMS[name]
        self.suggested.add(name)
        return self._trial.suggest_categorical(name, choices)

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.suggested.add(name)
        return self._trial.suggest_float(name, *args, **kwargs)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.suggested.add(name)
        return self._trial.suggest_int(name, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)


# Prefix of a spiking knob's trial parameter whose name the zoo's sampler already took (SAC / TD3 sample their
# soft-update coefficient as "tau", the membrane time constant is "spiking_tau" there)
SPIKING_PREFIX = "spiking_"


class _RenamedTrial:
    """The trial that samples the spiking knobs: the names in ``clash`` get :data:`SPIKING_PREFIX`."""

    def __init__(self, trial: optuna.Trial, clash: set[str]) -> None:
        self._trial = trial
        self._clash = clash

    def _name(self, name: str) -> str:
        return SPIKING_PREFIX + name if name in self._clash else name

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._trial.suggest_categorical(self._name(name), *args, **kwargs)

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._trial.suggest_float(self._name(name), *args, **kwargs)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._trial.suggest_int(self._name(name), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)


# The experiment of the running trial: whether its policy spikes and the yml's policy_kwargs
_EXPERIMENT: ContextVar[Optional[dict[str, Any]]] = ContextVar("sb3_spiking_zoo_experiment", default=None)


@contextlib.contextmanager
def experiment(
    spiking: bool, policy_kwargs: Optional[dict[str, Any]] = None, space: Optional[SpikingSearchSpace] = None
) -> Iterator[None]:
    """
    What the wrapped samplers know of the running experiment (set by ``ExperimentManager.objective``).

    :param spiking: Whether the experiment's policy is a spiking one
    :param policy_kwargs: The experiment's (yml) policy kwargs, kept in every trial
    :param space: Where its spiking knobs are sampled (default: :data:`SEARCH_SPACE` when the sampler runs)
    """
    token = _EXPERIMENT.set({"spiking": spiking, "policy_kwargs": dict(policy_kwargs or {}), "space": space})
    try:
        yield
    finally:
        _EXPERIMENT.reset(token)


def _merge(base: Optional[dict[str, Any]], sampled: Optional[dict[str, Any]], knobs: dict[str, Any]) -> dict[str, Any]:
    merged = {**(base or {}), **(sampled or {}), **knobs}
    for name in FIXED_PARAMS:
        merged.pop(name, None)
    return merged


def spiking_sampler(sampler: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """
    Wrap one of rl-zoo3's samplers: for a spiking policy, also sample the spiking knobs and merge the policy
    kwargs (yml < sampled by the zoo < spiking knobs). Outside a spiking experiment it is the sampler itself.

    :param sampler: ``sample_<algo>_params(trial, n_actions, n_envs, additional_args)``
    """
    if getattr(sampler, _WRAPPED, False):
        return sampler

    @functools.wraps(sampler)
    def sample(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
        current = _EXPERIMENT.get()
        if current is None or not current["spiking"]:
            return sampler(trial, n_actions, n_envs, additional_args)
        zoo_trial = _SpikingTrial(trial)
        params = sampler(zoo_trial, n_actions, n_envs, additional_args)
        clash = zoo_trial.suggested & set(SPIKING_PARAMS)
        space = current["space"] or SEARCH_SPACE
        knobs = sample_spiking_params(_RenamedTrial(trial, clash), space)  # type: ignore[arg-type]
        params["policy_kwargs"] = _merge(current["policy_kwargs"], params.get("policy_kwargs"), knobs)
        return params

    setattr(sample, _WRAPPED, True)
    return sample


def spiking_converter(converter: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """
    Wrap one of rl-zoo3's converters (trial parameters -> hyperparameters, used by ``--trial-id``) so that the
    spiking knobs of a trial go into ``policy_kwargs``.

    :param converter: ``convert_<kind>_params(sampled_params)``
    """
    if getattr(converter, _WRAPPED, False):
        return converter

    @functools.wraps(converter)
    def convert(sampled_params: dict[str, Any]) -> dict[str, Any]:
        params = dict(sampled_params)
        # A prefixed name is the spiking knob; the bare name is then the zoo's own parameter (SAC's tau)
        knobs = {}
        for name in SPIKING_PARAMS:
            if SPIKING_PREFIX + name in params:
                knobs[name] = params.pop(SPIKING_PREFIX + name)
            elif name in params:
                knobs[name] = params.pop(name)
        if not knobs:
            return converter(sampled_params)
        if not params:  # a trial of the standalone tuner with --no-tune-algo: only the spiking knobs
            return {"policy_kwargs": _merge(None, None, knobs)}
        hyperparams = converter({**FIXED_PARAMS, **params})
        hyperparams["policy_kwargs"] = _merge(None, hyperparams.get("policy_kwargs"), knobs)
        return hyperparams

    setattr(convert, _WRAPPED, True)
    return convert


def _wrap_objective(objective: Callable) -> Callable:
    if getattr(objective, _WRAPPED, False):
        return objective

    @functools.wraps(objective)
    def wrapped(self: Any, trial: optuna.Trial) -> float:
        from rl_zoo3.utils import ALGOS

        hyperparams, algo_class = self._hyperparams, ALGOS.get(self.algo)
        policy = hyperparams.get("policy")
        space = search_space_for(policy, algo_class)
        with experiment(is_spiking_policy(policy, algo_class), hyperparams.get("policy_kwargs"), space):
            return objective(self, trial)

    setattr(wrapped, _WRAPPED, True)
    return wrapped


def _yml_policy_kwargs(manager: Any) -> dict[str, Any]:
    """The ``policy_kwargs`` of an experiment's yml entry, evaluated as rl-zoo3 does."""
    from rl_zoo3 import exp_manager

    saved = manager.trial_id, manager.custom_hyperparams
    manager.trial_id, manager.custom_hyperparams = None, None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            hyperparams, _ = manager.read_hyperparameters()
    finally:
        manager.trial_id, manager.custom_hyperparams = saved
    policy_kwargs = hyperparams.get("policy_kwargs") or {}
    return eval(policy_kwargs, vars(exp_manager)) if isinstance(policy_kwargs, str) else dict(policy_kwargs)


def _wrap_load_trial(load_trial: Callable) -> Callable:
    if getattr(load_trial, _WRAPPED, False):
        return load_trial

    @functools.wraps(load_trial)
    def wrapped(self: Any, storage: str, study_name: str, trial_id: Optional[int] = None, convert: bool = True) -> dict:
        import sqlalchemy

        from sb3_spiking.tuning.storage import normalize_url, storage_error
        from sb3_spiking.tuning.urls import check_url, resolve_storage

        resolved = resolve_storage(storage)  # env:NAME, file:PATH
        reference, storage = (storage if resolved != storage else None), resolved
        if "://" in storage:
            check_url(storage)  # else the driver names the rest of a password with an unencoded '@' as the host
        if storage.startswith(("postgresql://", "postgres://")):
            storage = normalize_url(storage)  # the psycopg driver of the zoo extra
        try:
            params = load_trial(self, storage, study_name, trial_id, convert)
        except sqlalchemy.exc.SQLAlchemyError as error:  # the driver's message, which may quote the URL
            raise storage_error(error, storage, reference) from None
        policy_kwargs = params.get("policy_kwargs")
        if convert and isinstance(policy_kwargs, dict) and any(name in policy_kwargs for name in SPIKING_PARAMS):
            params["policy_kwargs"] = _merge(_yml_policy_kwargs(self), policy_kwargs, {})
        return params

    setattr(wrapped, _WRAPPED, True)
    return wrapped


def _open_study(create_study: Callable[..., optuna.Study], space: SpikingSearchSpace, **kwargs: Any) -> optuna.Study:
    """
    ``optuna.create_study`` as rl-zoo3's ``-optimize`` calls it, for a database URL: the storage records heartbeats
    and retries the trials of workers that died, and a study of fixed size (made by the standalone tuner with
    ``--create-only --max-trials N``) is run from its queue, its search space checked against the experiment's
    (``space``, :func:`search_space_for` its policy).
    """
    from sb3_spiking.tuning import storage as storages

    url, name = kwargs.pop("storage", None), kwargs.pop("study_name", None)
    if not isinstance(url, str):  # not the call of -optimize (an in-memory study)
        return create_study(storage=url, study_name=name, **kwargs)
    if name is None:
        return create_study(storage=storages.make_storage(url), study_name=name, **kwargs)
    study_kwargs = {"sampler": kwargs.get("sampler"), "pruner": kwargs.get("pruner")}
    try:
        study = storages.load_study(url, name, kind="rl_zoo3", **study_kwargs)
    except storages.StudyNotFound:
        with contextlib.suppress(storages.StudyExists):  # another worker created it meanwhile
            storages.create_study(url, name, direction=kwargs.get("direction", "maximize"))
        study = storages.load_study(url, name, kind="rl_zoo3", **study_kwargs)
    distributions = storages.search_space_of(lambda trial: sample_spiking_params(trial, space))
    storages.check_search_space(study, distributions, names=SPIKING_PARAMS)
    if storages.study_settings(study).get("max_trials") is not None:
        study.optimize = functools.partial(storages.run_worker, study, kind="rl_zoo3")  # type: ignore[method-assign]
    return study


def _wrap_hyperparameters_optimization(optimize: Callable) -> Callable:
    if getattr(optimize, _WRAPPED, False):
        return optimize

    @functools.wraps(optimize)
    def wrapped(self: Any) -> None:
        from sb3_spiking.tuning.urls import mask_url, resolve_storage

        if self.storage is not None and self.storage.startswith(("env:", "file:")):
            self.storage = resolve_storage(self.storage)
        if self.storage is None or "://" not in self.storage:
            return optimize(self)
        if self.study_name is None:  # rl-zoo3 would print the URL as it is
            raise ValueError(f"You passed a remote storage: {mask_url(self.storage)} but no `--study-name`.")
        from rl_zoo3.utils import ALGOS

        space = search_space_for(self._hyperparams.get("policy"), ALGOS.get(self.algo))
        with mock.patch.object(optuna, "create_study", functools.partial(_open_study, optuna.create_study, space)):
            return optimize(self)

    setattr(wrapped, _WRAPPED, True)
    return wrapped


def _wrap_save_config(save_config: Callable) -> Callable:
    if getattr(save_config, _WRAPPED, False):
        return save_config

    @functools.wraps(save_config)
    def wrapped(self: Any, saved_hyperparams: dict[str, Any]) -> None:
        from sb3_spiking.tuning.urls import redact, secrets_of

        save_config(self, saved_hyperparams)
        storage = getattr(self.args, "storage", None)
        if storage and secrets_of(storage):  # rl-zoo3 writes the command line as given: its password out of the files
            for name in ("args.yml", "command.txt"):
                path = Path(self.params_path) / name
                if path.exists():
                    path.write_text(redact(path.read_text(), storage))

    setattr(wrapped, _WRAPPED, True)
    return wrapped


def install() -> None:
    """
    Make rl-zoo3's ``-optimize`` and ``--trial-id`` aware of spiking policies (idempotent): wraps every entry
    of ``HYPERPARAMS_SAMPLER`` and ``HYPERPARAMS_CONVERTER``, and ``ExperimentManager.objective`` /
    ``load_trial`` so that the samplers know the experiment's policy and yml ``policy_kwargs``, and
    ``hyperparameters_optimization`` so that a database study survives workers that die (:func:`_open_study`);
    ``load_trial`` and ``_save_config`` also keep the password of a ``--storage`` URL out of messages and the
    experiment's ``args.yml`` and ``command.txt``.
    """
    from rl_zoo3 import hyperparams_opt
    from rl_zoo3.exp_manager import ExperimentManager

    for algo, sampler in list(hyperparams_opt.HYPERPARAMS_SAMPLER.items()):
        hyperparams_opt.HYPERPARAMS_SAMPLER[algo] = spiking_sampler(sampler)
    for algo, converter in list(hyperparams_opt.HYPERPARAMS_CONVERTER.items()):
        hyperparams_opt.HYPERPARAMS_CONVERTER[algo] = spiking_converter(converter)
    ExperimentManager.objective = _wrap_objective(ExperimentManager.objective)
    ExperimentManager.load_trial = _wrap_load_trial(ExperimentManager.load_trial)
    ExperimentManager._save_config = _wrap_save_config(ExperimentManager._save_config)
    ExperimentManager.hyperparameters_optimization = _wrap_hyperparameters_optimization(
        ExperimentManager.hyperparameters_optimization
    )


install()
