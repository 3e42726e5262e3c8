"""
Tuning on a real PostgreSQL server (the ``postgres_url`` fixture of conftest.py): a study of fixed size run by
several workers, killed workers detected by their heartbeat and their trials retried, and bad input refused before
any training.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from rl_zoo3 import hyperparams_opt
from stable_baselines3 import A2C

import sb3_spiking.tuning.zoo as zoo
from sb3_spiking.tuning import storage as storages
from sb3_spiking.tuning import tuner
from sb3_spiking.tuning.space import SPIKING_PARAMS, SpikingSearchSpace

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--algo", "a2c", "--no-tune-algo", "--n-timesteps", "200", "--n-evaluations", "1", "--eval-episodes", "1"]
TINY += ["--no-progress", "--hyperparams", "n_steps=16", "--policy-kwargs", "{'net_arch': [8]}"]


def objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0)


def error_of(argv: list[str]) -> str:
    """The one-line error with which the tuner's command line exits."""
    with pytest.raises(SystemExit) as exit_info:
        tuner.main(argv)
    message = str(exit_info.value.code)
    assert message.startswith("python -m sb3_spiking.tuning: error: ") and "\n" not in message
    return message


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the dead worker's trial, started by hand
def test_queue_runs_exactly_the_trials_asked_for(url):
    storages.create_study(url, "q", max_trials=3, heartbeat_interval=1, grace_period=1)
    study = storages.load_study(url, "q")
    assert [trial.state for trial in study.trials] == [TrialState.WAITING] * 3
    # A worker that died in a trial: the trial is RUNNING, its last heartbeat old
    dead = study.ask()
    dead.suggest_float("x", 0.0, 1.0)
    study._storage.record_heartbeat(dead._trial_id)
    time.sleep(1.5)
    assert storages.run_worker(study, objective) == 3  # two queued trials, and the dead one's retry
    trials = study.trials
    assert [trial.state for trial in trials] == [TrialState.FAIL] + [TrialState.COMPLETE] * 3
    (retry,) = [trial for trial in trials if "failed_trial" in trial.system_attrs]
    assert retry.system_attrs["failed_trial"] == dead.number and retry.system_attrs["retry_history"] == [dead.number]
    assert retry.params == {"x": trials[0].params["x"]}
    # Nothing left: another worker runs nothing, and the storage refuses trials outside the queue
    assert storages.run_worker(storages.load_study(url, "q"), objective) == 0
    with pytest.raises(storages.QueueEmpty):
        storages.load_study(url, "q").ask()
    assert len(storages.load_study(url, "q").trials) == 4


@pytest.mark.slow
def test_four_workers_one_killed(postgres_url, tmp_path):
    """Two standalone tuners and two rl-zoo3 -optimize workers on one study; a zoo worker killed mid-trial."""
    summary_path, asked = tmp_path / "summary.json", 8
    command = [sys.executable, str(ROOT / "lab" / "tuning_workers.py"), "--storage", postgres_url]
    command += ["--trials", str(asked), "--kill", "zoo", "--json", str(summary_path), "--timeout", "400"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=450, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["killed"], summary
    assert sorted(summary["exit_codes"]) == ["tuner: 0", "tuner: 0", "zoo: -9", "zoo: 0"], summary

    study = storages.load_study(postgres_url, "workers")
    trials = study.trials
    states = [trial.state for trial in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == asked
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    killed = trials[summary["killed"]["trial"]]
    assert killed.state == TrialState.FAIL
    (retry,) = [trial for trial in trials if trial.system_attrs.get("failed_trial") == killed.number]
    assert retry.state == TrialState.COMPLETE and retry.number > killed.number
    assert retry.params == killed.params and retry.system_attrs["retry_history"] == [killed.number]
    assert retry.user_attrs["sampled_by"] == "rl_zoo3"  # retried by the surviving zoo worker, zoo parameters and all
    # On a starved machine a live worker's heartbeat may also go stale: such a trial must be retried in the same way
    failed = [trial for trial in trials if trial.state == TrialState.FAIL]
    for trial in failed:
        retries = [other for other in trials if other.system_attrs.get("failed_trial") == trial.number]
        assert len(retries) == 1 and retries[0].params == trial.params, trial.number
    kinds = {trial.user_attrs.get("sampled_by") for trial in trials}
    assert kinds == {"rl_zoo3", "sb3_spiking.tuning"}
    assert summary["lost"] == 0 and summary["duplicates"] == 0 and summary["retried"] == len(failed) >= 1

    # The best trial's spiking knobs, trained again from the study
    best = study.best_trial
    model_path = tmp_path / "best.zip"
    again = ["--storage", postgres_url, "--study-name", "workers", "--trial-id", "best", "--save", str(model_path)]
    tuner.main([*TINY, *again])
    spiking = A2C.load(model_path).policy.spiking
    assert (spiking.T, spiking.decoder, spiking.neuron) == (best.params["T"], best.params["decoder"], best.params["neuron"])
    assert spiking.tau == pytest.approx(best.params["tau"])


def test_unreachable_or_wrong_storage():
    assert "Cannot open the Optuna storage 'postgresql+psycopg://tune@127.0.0.1:1/optuna'" in error_of(
        [*TINY, "--storage", "postgresql://tune@127.0.0.1:1/optuna"]
    )
    assert "Cannot open the Optuna storage 'nosuchdb://host/x'" in error_of([*TINY, "--storage", "nosuchdb://host/x"])


def test_bad_study_names_and_search_spaces(postgres_url):
    message = error_of([*TINY, "--storage", postgres_url, "--study-name", "nope", "--resume"])
    assert "Study 'nope' does not exist in" in message and "create it first" in message
    tuner.main([*TINY, "--storage", postgres_url, "--study-name", "s", "--create-only", "--max-trials", "2", "--T", "2", "4"])
    assert "Study 's' already exists" in error_of([*TINY, "--storage", postgres_url, "--study-name", "s", "--create-only"])
    message = error_of([*TINY, "--storage", postgres_url, "--study-name", "s", "--resume"])  # default T: 4, 8, 16
    assert "Study 's' was created with a different search space (T: study" in message
    message = error_of([*TINY, "--storage", postgres_url, "--study-name", "s", "--resume", "--T", "2", "4", "--max-trials=3"])
    assert "created with --max-trials 2, not 3" in message
    message = error_of([*TINY, "--storage", postgres_url, "--study-name", "s", "--trial-id", "99"])
    assert "Study 's' has no trial #99 with parameters" in message
    message = error_of([*TINY, "--storage", postgres_url, "--study-name", "s", "--trial-id=best"])
    assert "Study 's' has no complete trial yet" in message
    # rl-zoo3's -optimize checks the spiking knobs of the experiment's search space against the study's
    study_kwargs = {"sampler": None, "pruner": None, "direction": "maximize", "load_if_exists": True}
    for space in (zoo.SEARCH_SPACE, zoo.STATEFUL_SEARCH_SPACE):
        with pytest.raises(ValueError, match="different search space"):
            zoo._open_study(optuna.create_study, space, storage=postgres_url, study_name="s", **study_kwargs)
    made = SpikingSearchSpace(T=(2, 4))  # the study's, made by the standalone tuner above
    study = zoo._open_study(optuna.create_study, made, storage=postgres_url, study_name="s", **study_kwargs)
    assert storages.study_settings(study)["max_trials"] == 2
    assert len(optuna.load_study(study_name="s", storage=postgres_url).trials) == 2  # nothing ran


def test_command_line_error_is_one_line(postgres_url):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "sb3_spiking.tuning", "--storage", postgres_url, "--study-name", "absent", "--resume"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"python -m sb3_spiking.tuning: error: Study 'absent' does not exist in {postgres_url!r} (studies there: none): "
        "create it first"
    ]


def test_zoo_trial_id_of_a_tuner_trial():
    """rl-zoo3's --trial-id on a trial of the standalone tuner (spiking knobs only) gives those knobs as policy kwargs."""
    knobs = {"T": 8, "tau": 2.5, "decoder": "max-mem", "neuron": "lif"}
    assert hyperparams_opt.HYPERPARAMS_CONVERTER["a2c"](dict(knobs)) == {"policy_kwargs": knobs}
    assert set(knobs) == set(SPIKING_PARAMS)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("algo", ["a2c", "sac"])  # SAC samples its own "tau": the knob is "spiking_tau" there
def test_zoo_retry_samples_the_failed_trials_setting(algo):
    """The retry of a trial (all its parameters stored from the start) trains the failed trial's setting again."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    sampler = hyperparams_opt.HYPERPARAMS_SAMPLER[algo]
    with zoo.experiment(spiking=True, policy_kwargs={}):
        first = study.ask()
        kwargs = sampler(first, 1, 1, {"using_her_replay_buffer": False, "her_kwargs": {}})["policy_kwargs"]
        study.tell(first, state=TrialState.FAIL)
        optuna.storages.RetryHeartbeatStaleTrialCallback()(study, study.trials[0])
        retry = study.ask()
        assert study.trials[retry.number].system_attrs["failed_trial"] == first.number
        again = sampler(retry, 1, 1, {"using_her_replay_buffer": False, "her_kwargs": {}})["policy_kwargs"]
    assert retry.params == study.trials[0].params and again == kwargs
    assert ("spiking_tau" in retry.params) == (algo == "sac")
