"""
Optuna storages and studies shared by several worker processes (or machines), for the standalone tuner and the
rl-zoo3 glue.

- :func:`make_storage`: an Optuna storage from a command-line value. A database storage records a heartbeat of
  every running trial; a trial whose worker died (its heartbeat stopped for ``grace_period`` seconds) is marked
  FAIL by the next worker that looks, and :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback` puts its
  parameters back in the study's queue, so that a surviving worker runs them again.
- :func:`create_study`: a study with a fixed number of trials. Its ``max_trials`` trials are created at once,
  WAITING in the study's queue (their parameters not fixed: the sampler picks them when a worker starts one), and
  the storage refuses to create any other trial. Workers (:func:`run_worker`) take trials from the queue until
  ``max_trials`` trials have finished (COMPLETE or PRUNED); a failed trial's retry takes its place in the queue, so
  the study ends with exactly ``max_trials`` finished trials however many workers it had and however many died.
- The settings of such a study (number of trials, heartbeat, retries, search space) are saved with it, so that
  every worker, a standalone one or rl-zoo3's ``-optimize``, runs it the same way, and a worker with another
  search space is refused before it trains anything.
"""

import os
import socket
import time
import warnings
from collections import Counter
from datetime import datetime
from typing import Any, Callable, Optional

import optuna
import sqlalchemy
from optuna.distributions import distribution_to_json
from optuna.storages import BaseStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import TrialState

from sb3_spiking.tuning.urls import check_url, mask_url, redact, resolve_storage, secrets_of

# The study user attribute holding the settings of a study made by :func:`create_study`
SETTINGS_ATTR = "sb3_spiking"
HEARTBEAT_INTERVAL = 60
MAX_RETRY = 3
# Tries to open a new database's schema that several workers may be creating at the same moment
SCHEMA_ATTEMPTS = 5
# The user attributes naming the worker (host:pid) that runs a trial, to watch a study of many workers, and the kind
# of worker that sampled it ("sb3_spiking.tuning" or "rl_zoo3"): the retry of a failed trial waits for one of its kind
WORKER_ATTR = "worker"
KIND_ATTR = "sampled_by"


class QueueEmpty(Exception):
    """No trial is waiting in the queue of a study with a fixed number of trials."""


class StudyExists(ValueError):
    """A study of that name is already in the storage."""


class StudyNotFound(ValueError):
    """No study of that name is in the storage."""


class _QueuedStorageMixin:
    """
    Refuses to create a trial outside the queue (a trial without a template) in the studies of ``queued``, and lets
    a worker of ``kind`` start only the waiting trials that no other kind of worker sampled.
    """

    queued: set[int]
    kind: Optional[str] = None

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Optional[Any] = None) -> bool:
        if state == TrialState.RUNNING and self.kind is not None:
            if self.get_trial(trial_id).user_attrs.get(KIND_ATTR, self.kind) != self.kind:  # type: ignore[attr-defined]
                return False
        return super().set_trial_state_values(trial_id, state, values)  # type: ignore[misc]

    def _check_queue(self, study_id: int, template_trial: Optional[optuna.trial.FrozenTrial]) -> None:
        if template_trial is None and study_id in self.queued:
            raise QueueEmpty(f"no trial is waiting in study {study_id}")

    def create_new_trial(self, study_id: int, template_trial: Optional[optuna.trial.FrozenTrial] = None) -> int:
        self._check_queue(study_id, template_trial)
        return super().create_new_trial(study_id, template_trial)  # type: ignore[misc]


class _AtomicStartRDBStorage(optuna.storages.RDBStorage):
    """
    :class:`~optuna.storages.RDBStorage` whose WAITING -> RUNNING transition is one conditional ``UPDATE``: of
    workers that start the same waiting trial at once, exactly one gets it. Optuna reads the state and then writes
    it, under a row lock that SQLite does not have, so two SQLite workers could both start a trial, and the one
    that finished second crashed (``Cannot tell a COMPLETE trial``).
    """

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Optional[Any] = None) -> bool:
        if state != TrialState.RUNNING or values is not None:
            return super().set_trial_state_values(trial_id, state, values)
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(self.scoped_session) as session:
            started = (
                session.query(models.TrialModel)
                .filter(models.TrialModel.trial_id == trial_id, models.TrialModel.state == TrialState.WAITING)
                .update({models.TrialModel.state: TrialState.RUNNING}, synchronize_session=False)
            )
            if started:  # the trial is this worker's now, in the same transaction
                models.TrialModel.find_or_raise_by_id(trial_id, session).datetime_start = datetime.now()
        if started:
            return True
        self.check_trial_is_updatable(trial_id, self.get_trial(trial_id).state)  # finished: UpdateFinishedTrialError
        return False  # another worker started it


class QueuedRDBStorage(_QueuedStorageMixin, _AtomicStartRDBStorage):
    """:class:`~optuna.storages.RDBStorage` that runs the studies of fixed size only from their queue."""

    def _create_new_trial(self, study_id: int, template_trial: Optional[optuna.trial.FrozenTrial] = None) -> Any:
        # What Optuna's cache in front of an RDBStorage calls
        self._check_queue(study_id, template_trial)
        return super()._create_new_trial(study_id, template_trial)


class QueuedJournalStorage(_QueuedStorageMixin, optuna.storages.JournalStorage):
    """:class:`~optuna.storages.JournalStorage` that runs the studies of fixed size only from their queue."""


def normalize_url(storage: str) -> str:
    """
    The SQLAlchemy URL of a command-line storage value: a path (not ending in ``.log``) is a SQLite file, and
    ``postgresql://`` uses the psycopg (3) driver of the ``zoo`` extra rather than SQLAlchemy's default psycopg2.
    """
    if "://" not in storage:
        return f"sqlite:///{storage}"
    if storage.startswith("postgresql://") or storage.startswith("postgres://"):
        return "postgresql+psycopg://" + storage.split("://", 1)[1]
    return storage


def storage_error(error: Exception, url: str, given: Optional[str] = None) -> ValueError:
    """
    A one-line ``ValueError`` for a storage that cannot be opened: the URL with its password masked, and the first
    line of the driver's message with every password of the URL removed.

    :param error: What opening the storage raised
    :param url: The storage URL
    :param given: The reference the URL was read from (``env:NAME``, ``file:PATH``), shown beside it; None for a
        URL given as it is
    """
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    shown = mask_url(url) + (f" (from {given})" if given is not None else "")
    return ValueError(f"Cannot open the Optuna storage {shown!r}: {redact(reason, url)}")


def make_storage(
    storage: str,
    heartbeat_interval: Optional[int] = HEARTBEAT_INTERVAL,
    grace_period: Optional[int] = None,
    max_retry: Optional[int] = MAX_RETRY,
) -> BaseStorage:
    """
    An Optuna storage from a command-line value; an unreachable or malformed one raises a one-line ValueError
    that shows the value with its password masked (:func:`~sb3_spiking.tuning.urls.mask_url`).

    :param storage: A path ending in ``.log`` (journal file), another path (SQLite file), an Optuna storage URL, or
        ``env:NAME`` / ``file:PATH``: the URL kept in an environment variable or a file, away from the command
        line (:mod:`sb3_spiking.tuning.urls`). A PostgreSQL URL may leave the password out: libpq then reads
        ``PGPASSWORD`` or ``~/.pgpass``
    :param heartbeat_interval: Seconds between heartbeats of a running trial in a database storage (None: none)
    :param grace_period: Seconds without heartbeat after which a running trial is failed (default: twice the interval)
    :param max_retry: Times that the parameters of a failed trial are tried again
    """
    given, storage = storage, resolve_storage(storage)
    if storage.endswith(".log") and "://" not in storage:
        from optuna.storages.journal import JournalFileBackend

        result = QueuedJournalStorage(JournalFileBackend(storage))
        result.queued = set()
        return result
    if "://" not in storage and secrets_of(storage):
        raise ValueError(
            f"The storage {mask_url(given)!r} looks like a database URL without its scheme: "
            "write it as postgresql://USER@HOST/DATABASE (or mysql://..., sqlite:///PATH)"
        )
    url = normalize_url(storage)
    check_url(url)
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                result = QueuedRDBStorage(
                    url,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
                )
            break
        except Exception as error:  # SQLAlchemy's URL, driver and connection errors, Optuna's schema errors
            # Workers started together on a new database race to create its tables; the losers find them made
            racing = isinstance(error, sqlalchemy.exc.IntegrityError) or "already exists" in str(error)
            if racing and attempt < SCHEMA_ATTEMPTS - 1:
                time.sleep(0.5 * (attempt + 1))
                continue
            raise storage_error(error, url, given if given != storage else None) from None
    result.queued = set()
    return result


def search_space_of(sample: Callable[[optuna.Trial], Any]) -> dict[str, str]:
    """
    The distributions that a sampling function suggests, as JSON strings by parameter name.

    :param sample: Suggests the parameters of a trial (conditional parameters: those of one draw)
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study().ask()
    sample(trial)
    return {name: distribution_to_json(dist) for name, dist in sorted(trial.distributions.items())}


def check_search_space(study: optuna.Study, space: dict[str, str], names: Optional[tuple[str, ...]] = None) -> None:
    """
    Raise a ValueError if the study was created with another search space.

    :param study: A study made by :func:`create_study` (other studies are not checked)
    :param space: The distributions that this worker samples (:func:`search_space_of`)
    :param names: Compare only these parameters (default: all of both)
    """
    stored = study_settings(study).get("search_space")
    if stored is None:
        return
    names = tuple(sorted(set(stored) | set(space))) if names is None else names
    differ = [name for name in names if stored.get(name) != space.get(name)]
    if differ:
        details = "; ".join(f"{name}: study {stored.get(name)}, here {space.get(name)}" for name in differ)
        raise ValueError(f"Study {study.study_name!r} was created with a different search space ({details})")


def study_settings(study: optuna.Study) -> dict[str, Any]:
    """The settings saved by :func:`create_study` (empty for another study)."""
    return dict(study.user_attrs.get(SETTINGS_ATTR) or {})


def create_study(
    storage: str,
    study_name: str,
    max_trials: Optional[int] = None,
    search_space: Optional[dict[str, str]] = None,
    heartbeat_interval: int = HEARTBEAT_INTERVAL,
    grace_period: Optional[int] = None,
    max_retry: int = MAX_RETRY,
    direction: str = "maximize",
) -> optuna.Study:
    """
    Create a study (an existing one of that name raises a ValueError) and save its settings with it.

    :param storage: As for :func:`make_storage` (``env:NAME``, ``file:PATH`` included)
    :param study_name: Name of the study
    :param max_trials: Number of finished trials of the study, all workers together (None: no fixed number)
    :param search_space: The distributions that its trials sample (:func:`search_space_of`), checked by every worker
    :param heartbeat_interval: Seconds between heartbeats of a running trial
    :param grace_period: Seconds without heartbeat after which a trial is failed and retried
    :param max_retry: Times that the parameters of a failed trial are tried again
    :param direction: ``"maximize"`` or ``"minimize"``
    """
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"max_trials must be >= 1, got {max_trials}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = make_storage(storage, heartbeat_interval, grace_period, max_retry)
    try:
        study = optuna.create_study(storage=backend, study_name=study_name, direction=direction)
    except optuna.exceptions.DuplicatedStudyError:
        shown = mask_url(storage)
        raise StudyExists(f"Study {study_name!r} already exists in {shown!r}: resume it instead of creating it") from None
    for _ in range(max_trials or 0):  # queued before the settings, which tell workers to use the queue
        study.enqueue_trial({})
    settings = {"max_trials": max_trials, "heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
    settings.update(max_retry=max_retry, search_space=search_space)
    study.set_user_attr(SETTINGS_ATTR, settings)
    return study


def load_study(
    storage: str, study_name: str, wait: float = 0.0, kind: Optional[str] = None, **study_kwargs: Any
) -> optuna.Study:
    """
    Load an existing study with the heartbeat and retry settings saved with it; a missing study raises a ValueError.

    :param storage: As for :func:`make_storage`
    :param study_name: Name of the study
    :param wait: Seconds to wait for a study that another worker is creating
    :param kind: The kind of worker (``"sb3_spiking.tuning"``, ``"rl_zoo3"``): it runs only the retries of its own trials
    :param study_kwargs: ``sampler``, ``pruner`` of :func:`optuna.load_study`
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    deadline = time.monotonic() + wait
    while True:
        probe = make_storage(storage, heartbeat_interval=None)
        names = [summary.study_name for summary in optuna.get_all_study_summaries(probe, include_best_trial=False)]
        if study_name in names or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if study_name not in names:
        known = ", ".join(map(repr, names)) or "none"
        shown = mask_url(storage)
        raise StudyNotFound(f"Study {study_name!r} does not exist in {shown!r} (studies there: {known}): create it first")
    settings = study_settings(optuna.load_study(study_name=study_name, storage=probe))
    backend = make_storage(
        storage,
        settings.get("heartbeat_interval", HEARTBEAT_INTERVAL),
        settings.get("grace_period"),
        settings.get("max_retry", MAX_RETRY),
    )
    backend.kind = kind  # type: ignore[attr-defined]
    study = optuna.load_study(study_name=study_name, storage=backend, **study_kwargs)
    if settings.get("max_trials") is not None:
        backend.queued.add(backend.get_study_id_from_name(study_name))  # type: ignore[attr-defined]
    return study


def run_worker(
    study: optuna.Study,
    func: Callable[[optuna.Trial], float],
    n_trials: Optional[int] = None,
    timeout: Optional[float] = None,
    callbacks: Optional[list] = None,
    gc_after_trial: bool = True,
    kind: Optional[str] = None,
    **_: Any,
) -> int:
    """
    Run trials from the queue of a study of fixed size until it holds its ``max_trials`` finished trials. While the
    last trials run in other workers it waits, failing those whose heartbeat stopped, and runs their retries.
    Stops early after ``n_trials`` trials or ``timeout`` seconds, or when nothing is left that could finish (trials
    failed beyond their retries). Takes :meth:`optuna.Study.optimize`'s arguments (others, like ``n_jobs``, are
    ignored), so that it can stand in for it. A worker of ``kind`` (the same as given to :func:`load_study`) runs only
    the retries of trials of its own kind, so that a retry trains the setting that its trial sampled.

    :return: The number of trials that this worker ran
    """
    worker = f"{socket.gethostname()}:{os.getpid()}"
    running: dict[str, int] = {}

    def objective(trial: optuna.Trial) -> float:
        running["number"] = trial.number
        trial.set_user_attr(WORKER_ATTR, worker)
        if kind is not None:
            trial.set_user_attr(KIND_ATTR, kind)
        return func(trial)

    asked = study_settings(study)["max_trials"]
    heartbeat = is_heartbeat_enabled(study._storage)
    poll = min(max(1.0, (study._storage.get_heartbeat_interval() or 1) / 2), 10.0) if heartbeat else 1.0
    start, ran, idle = time.monotonic(), 0, False
    while (n_trials is None or ran < n_trials) and (timeout is None or time.monotonic() - start < timeout):
        if heartbeat:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        states = Counter(trial.state for trial in trials)
        if states[TrialState.COMPLETE] + states[TrialState.PRUNED] >= asked:
            break
        mine = [t for t in trials if t.state == TrialState.WAITING and t.user_attrs.get(KIND_ATTR, kind) == kind]
        if mine:
            running.clear()
            idle = False
            try:  # the class's method: a study of rl-zoo3 has run_worker as its own optimize
                optuna.Study.optimize(study, objective, n_trials=1, callbacks=callbacks, gc_after_trial=gc_after_trial)
                ran += 1
            except QueueEmpty:  # another worker took the last waiting trial
                pass
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
                state = _state(study, running["number"]) if "number" in running else None
                if state is None or not state.is_finished():
                    raise
                if state == TrialState.FAIL:
                    # Failed by another worker while it ran (no heartbeat for grace_period seconds): its retry is queued
                    warnings.warn(f"Trial {running['number']} was failed by the heartbeat while it ran: raise --grace-period")
                else:  # finished by another worker: nothing of this run is lost, the trial counts once
                    warnings.warn(f"Trial {running['number']} was finished ({state.name}) by another worker while it ran")
            continue
        if not (heartbeat and states[TrialState.RUNNING]):
            # Nothing is waiting for this worker, and nothing running could fail and come back. Seen twice, one poll
            # apart: a worker that fails a stale trial queues its retry in a second write, which this look may fall
            # between
            if idle:
                if states[TrialState.WAITING]:
                    waiting = states[TrialState.WAITING]
                    warnings.warn(f"{waiting} trial(s) of study {study.study_name!r} wait for another kind of worker")
                break
            idle = True
        else:
            idle = False
        time.sleep(poll)
    return ran


def _state(study: optuna.Study, number: int) -> Optional[TrialState]:
    return next((trial.state for trial in study.get_trials(deepcopy=False) if trial.number == number), None)
