"""The standalone tuner: resumable studies in an Optuna storage, pruners, and the spiking search space."""

import os
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from sb3_spiking.tuning import tuner as tune
from sb3_spiking.tuning.space import SPIKING_PARAMS

TINY = ["--n-timesteps", "64", "--n-evaluations", "1", "--eval-episodes", "1", "--no-progress", "--T", "2", "4"]


def load(storage: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=tune.make_storage(storage))


@pytest.mark.parametrize("storage_name", ["study.db", "study.log"])
def test_study_stops_and_resumes_from_its_storage(tmp_path, storage_name):
    storage = str(tmp_path / storage_name)
    args = ["--algo", "ppo", "--n-trials", "2", "--storage", storage, "--study-name", "s", "--seed", "0", *TINY]
    args += ["--hyperparams", "n_steps=32 batch_size=32 n_epochs=1"]
    tune.main(args)
    assert len(load(storage, "s").trials) == 2
    tune.main([*args[:-2], "--seed", "1", "--hyperparams", "n_steps=32 batch_size=32 n_epochs=1"])
    trials = load(storage, "s").trials
    assert len(trials) == 4
    assert {trial.state for trial in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    for trial in trials:
        assert trial.params["T"] in (2, 4) and 1.5 <= trial.params["tau"] <= 8.0
        assert {"decoder", "neuron", "learning_rate", "n_epochs"} <= set(trial.params)


def test_max_trials_counts_every_process(tmp_path):
    storage = str(tmp_path / "study.db")
    args = ["--algo", "dqn", "--storage", storage, "--study-name", "s", "--no-tune-algo", *TINY]
    args += ["--hyperparams", "learning_starts=32 buffer_size=1000", "--policy-kwargs", "{'net_arch': [16]}"]
    tune.main([*args, "--n-trials", "3", "--max-trials", "2"])
    tune.main([*args, "--n-trials", "3", "--max-trials", "2"])  # another worker, later: nothing left to run
    trials = load(storage, "s").trials
    assert len(trials) == 2
    assert set(trials[0].params) == set(SPIKING_PARAMS)  # --no-tune-algo: only the spiking knobs


def test_report_names_the_best_trial(tmp_path, capsys):
    storage = str(tmp_path / "study.db")
    tune.main(["--algo", "a2c", "--n-trials", "1", "--storage", storage, "--pruner", "none", "--sampler", "random", *TINY])
    out = capsys.readouterr().out
    best = load(storage, "a2c-CartPole-v1-spiking").best_trial
    assert f"Best trial #{best.number}: mean return {best.value:.1f}" in out
    assert f"    T: {best.params['T']}" in out


def test_choices_are_validated():
    with pytest.raises(ValueError, match="valid choices are 'median', 'halving', 'none'"):
        tune.make_pruner("hyperband", 5, 4)
    with pytest.raises(ValueError, match="valid choices are 'tpe', 'random'"):
        tune.make_sampler("cmaes", 5, None)
    with pytest.raises(ValueError, match="valid choices are 'if', 'lif', 'plif'"):
        tune.SpikingSearchSpace(neurons=("izhikevich",))
    with pytest.raises(ValueError, match="integers >= 1"):
        tune.SpikingSearchSpace(T=(0, 4))


def test_storage_kinds(tmp_path):
    assert isinstance(tune.make_storage(str(tmp_path / "a.db")), optuna.storages.RDBStorage)
    assert isinstance(tune.make_storage(f"sqlite:///{tmp_path / 'b.db'}"), optuna.storages.RDBStorage)
    assert isinstance(tune.make_storage(str(tmp_path / "c.log")), optuna.storages.JournalStorage)


def test_command_line_help():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "sb3_spiking.tuning", "--help"], capture_output=True, text=True, env=env)
    assert result.returncode == 0
    assert "--storage" in result.stdout and "--max-trials" in result.stdout and "--pruner" in result.stdout


def test_workers_opening_a_new_database_together(tmp_path):
    # They race to create the tables of a new SQLite file: every one of them must open it
    script = "import sys; from sb3_spiking.tuning.storage import make_storage; make_storage(sys.argv[1]); print('opened')"
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "new.db")], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    assert [worker.communicate(timeout=120)[0].strip() for worker in workers] == ["opened"] * 4
