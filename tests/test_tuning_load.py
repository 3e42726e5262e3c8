"""
Issue 21, case 7: workers of one study on a busy machine. Several workers take trials from the queue of a SQLite
study beside CPU hogs, with a short heartbeat: each trial runs once, the study ends with exactly the trials asked,
and every worker exits 0 (a worker whose trial another finished or failed warns and goes on).
"""

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages._rdb import models
from optuna.trial import TrialState

from sb3_spiking.tuning import storage as storages

ROOT = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent(
    """
    import sys, time, warnings
    warnings.simplefilter("ignore")
    from sb3_spiking.tuning import storage as storages

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        time.sleep(0.02)
        return x

    study = storages.load_study(sys.argv[1], "busy", wait=10.0)
    print(storages.run_worker(study, objective))
    """
)


def run_workers(url: str, workers: int, hogs: int) -> list[subprocess.CompletedProcess]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
    try:
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(workers)
        ]
        results = []
        for process in processes:
            out, err = process.communicate(timeout=240)
            results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
        return results
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_case7_busy_workers_end_with_exactly_the_trials_asked(tmp_path):
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    asked = 24
    storages.create_study(url, "busy", max_trials=asked, heartbeat_interval=1, grace_period=3)
    start = time.monotonic()
    results = run_workers(url, workers=3, hogs=2)
    elapsed = time.monotonic() - start
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    ran = [int(result.stdout.split()[-1]) for result in results]
    study = optuna.load_study(study_name="busy", storage=storages.make_storage(url, heartbeat_interval=None))
    states = [trial.state for trial in study.get_trials(deepcopy=False)]
    finished = states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED)
    assert finished == asked, (states, elapsed)
    assert states.count(TrialState.RUNNING) == states.count(TrialState.WAITING) == 0
    # Each trial ran in exactly one worker (a retried failure counts as a trial of its own)
    assert sum(ran) == asked + states.count(TrialState.FAIL), (ran, states)


def test_case7_two_workers_never_start_the_same_waiting_trial(tmp_path, monkeypatch):
    """Both read the trial as WAITING before either writes (SQLite has no row lock): exactly one starts it."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    storages.create_study(url, "race", max_trials=1)
    workers = [storages.make_storage(url, heartbeat_interval=None) for _ in range(2)]
    study_id = workers[0].get_study_id_from_name("race")
    (waiting,) = workers[0].get_all_trials(study_id, deepcopy=False)
    barrier = threading.Barrier(2, timeout=2.0)
    find = models.TrialModel.find_or_raise_by_id

    def find_then_wait(cls, *args, **kwargs):  # every reader waits for the other before it writes
        found = find(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return found

    monkeypatch.setattr(models.TrialModel, "find_or_raise_by_id", classmethod(find_then_wait))
    started: list[bool] = []
    threads = [
        threading.Thread(target=lambda w=w: started.append(w.set_trial_state_values(waiting._trial_id, TrialState.RUNNING)))
        for w in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(started) == [False, True]
    assert workers[1].get_trial(waiting._trial_id).state == TrialState.RUNNING


def test_case7_a_worker_whose_trial_another_finished_goes_on(tmp_path):
    url = f"sqlite:///{tmp_path / 'taken.db'}"
    storages.create_study(url, "taken", max_trials=2)
    study = storages.load_study(url, "taken")
    other = storages.make_storage(url, heartbeat_interval=None)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number == 0:  # another worker finishes this trial while it runs here
            other.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, [0.5])
        return x

    with pytest.warns(UserWarning, match="Trial 0 was finished \\(COMPLETE\\) by another worker while it ran"):
        assert storages.run_worker(study, objective) == 1
    states = [trial.state for trial in study.get_trials(deepcopy=False)]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert study.get_trials(deepcopy=False)[0].value == 0.5  # the other worker's result stands
