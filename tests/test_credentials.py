"""Issue 21, case 1: no password in any message, log or progress line that names a storage."""

import re
import traceback

import pytest

from sb3_spiking.tuning import storage as storages
from sb3_spiking.tuning import tuner
from sb3_spiking.tuning.urls import check_url, mask_url, redact, resolve_storage

PASSWORD = "S3cretPW"


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql+psycopg://alice:S3cretPW@HOST/optuna", "postgresql+psycopg://alice:***@HOST/optuna"),
        ("postgresql://alice:S3cretPW@HOST:notaport/optuna", "postgresql://alice:***@HOST:notaport/optuna"),
        ("alice:S3cretPW@HOST/optuna", "alice:***@HOST/optuna"),  # the scheme forgotten
        ("postgresql://alice:S3c@retPW@HOST/optuna", "postgresql://alice:***@HOST/optuna"),  # an unencoded '@'
        ("postgresql://alice:S3c%40retPW@HOST/optuna", "postgresql://alice:***@HOST/optuna"),
        ("postgresql://alice:S3c/ret:PW@HOST/optuna", "postgresql://alice:***@HOST/optuna"),
        (
            "postgresql://alice@HOST/optuna?password=S3cretPW&sslmode=require",
            "postgresql://alice@HOST/optuna?password=***&sslmode=require",
        ),
        ("postgresql://alice@HOST/optuna", "postgresql://alice@HOST/optuna"),
        ("sqlite:///runs/a@b.db", "sqlite:///runs/a@b.db"),
        ("postgresql://alice:S3cretPW@HOST/optuna?options=a@b", "postgresql://alice:***@HOST/optuna?options=a@b"),
        ("postgresql://alice@HOST/optuna?options=a@b", "postgresql://alice@HOST/optuna?options=a@b"),
        ("runs/a@b.db", "runs/a@b.db"),
        ("runs/study.db", "runs/study.db"),
    ],
)
def test_case1_mask_url(url, shown):
    assert mask_url(url) == shown
    assert "S3c" not in shown


def test_case1_redact_removes_the_password_as_written_and_decoded():
    url = "postgresql://alice:S3c%40ret@HOST/optuna"
    assert (
        redact("could not parse 'postgresql://alice:S3c%40ret@HOST' (S3c@ret)", url)
        == "could not parse 'postgresql://alice:***@HOST' (***)"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://alice:S3cretPW@127.0.0.1:notaport/optuna",  # a bad port
        "postgresql+psycopg://alice:S3cretPW@127.0.0.1:1/optuna",  # nothing listens there
        "alice:S3cretPW@127.0.0.1/optuna",  # the scheme forgotten
        "nosuchdriver://alice:S3cretPW@127.0.0.1/optuna",
        "postgresql://alice@127.0.0.1:1/optuna?password=S3cretPW",
    ],
)
def test_case1_storage_errors_never_show_the_password(url):
    with pytest.raises(ValueError) as error:
        storages.make_storage(url)
    assert PASSWORD not in str(error.value) and "***" in str(error.value)
    assert PASSWORD not in "".join(traceback.format_exception(error.value))  # nor in a chained exception


def test_case1_an_unencoded_at_sign_asks_to_percent_encode_it():
    url = "postgresql://alice:S3c@retPW@127.0.0.1/optuna"
    with pytest.raises(ValueError, match="unencoded '@': percent-encode it \\('@' is %40") as error:
        storages.make_storage(url)
    assert "S3c" not in str(error.value) and "retPW" not in str(error.value)
    check_url("postgresql://alice:S3c%40retPW@127.0.0.1/optuna")  # encoded: fine
    check_url("postgresql://alice:S3cretPW@127.0.0.1/optuna?options=a@b")  # a '@' after the host: fine


def test_case1_the_url_from_an_environment_variable_or_a_file(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    monkeypatch.setenv("SB3_SPIKING_TEST_STORAGE", url)
    assert resolve_storage("env:SB3_SPIKING_TEST_STORAGE") == url
    (tmp_path / "url.txt").write_text(url + "\n")
    assert resolve_storage(f"file:{tmp_path / 'url.txt'}") == url
    assert resolve_storage("study.db") == "study.db"
    with pytest.raises(ValueError, match="the environment variable 'NOT_SET_ANYWHERE' is not set"):
        resolve_storage("env:NOT_SET_ANYWHERE")
    with pytest.raises(ValueError, match="cannot read the file"):
        resolve_storage(f"file:{tmp_path / 'missing.txt'}")
    storages.create_study("env:SB3_SPIKING_TEST_STORAGE", "s", max_trials=1)
    assert storages.load_study(f"file:{tmp_path / 'url.txt'}", "s").study_name == "s"


def error_of(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        tuner.main(argv)
    return str(stop.value.code)


TINY = ["--algo", "a2c", "--no-tune-algo", "--n-timesteps", "32", "--n-evaluations", "1", "--eval-episodes", "1"]
TINY += ["--no-progress", "--hyperparams", "n_steps=16", "--policy-kwargs", "{'net_arch': [4]}", "--T", "2"]


def test_case1_every_tuner_message_masks_the_password(postgres_url, capsys, monkeypatch):
    """Trust authentication ignores the password: the URL with one works, and no message shows it."""
    url = postgres_url.replace("://tune@", f"://tune:{PASSWORD}@")
    assert PASSWORD in url
    tuner.main(["--storage", url, "--study-name", "s1", "--create-only", "--max-trials", "1", *TINY])
    out = capsys.readouterr()
    assert "Created study 's1' in postgresql+psycopg://tune:***@127.0.0.1" in out.out
    already = error_of(["--storage", url, "--study-name", "s1", "--create-only", "--max-trials", "1", *TINY])
    assert "already exists in 'postgresql+psycopg://tune:***@127.0.0.1" in already
    missing = error_of(["--storage", url, "--study-name", "nope", "--resume"])
    assert "does not exist in 'postgresql+psycopg://tune:***@127.0.0.1" in missing
    unreachable = error_of(["--storage", url.replace("127.0.0.1", "127.0.0.1:1", 1).replace(":1:", ":1/x", 1)])
    monkeypatch.setenv("SB3_SPIKING_TEST_STORAGE", url)
    tuner.main(["--storage", "env:SB3_SPIKING_TEST_STORAGE", "--study-name", "s1", "--resume", *TINY])
    done = capsys.readouterr()
    for text in (out.out, out.err, already, missing, unreachable, done.out, done.err):
        assert PASSWORD not in text
    assert "Study 's1': 1 trials (complete 1)" in done.out or "Study 's1': 1 trials (pruned 1)" in done.out


def test_case1_the_zoo_glue_masks_and_resolves(monkeypatch, tmp_path):
    from rl_zoo3.exp_manager import ExperimentManager

    import sb3_spiking.tuning.zoo  # noqa: F401  (installs the wrappers)

    manager = ExperimentManager.__new__(ExperimentManager)
    manager.storage, manager.study_name = f"postgresql://alice:{PASSWORD}@127.0.0.1:1/optuna", None
    with pytest.raises(ValueError) as error:
        ExperimentManager.hyperparameters_optimization(manager)
    assert "postgresql://alice:***@127.0.0.1:1/optuna" in str(error.value) and PASSWORD not in str(error.value)
    monkeypatch.setenv("SB3_SPIKING_TEST_STORAGE", manager.storage)
    manager.storage = "env:SB3_SPIKING_TEST_STORAGE"
    with pytest.raises(ValueError) as error:
        ExperimentManager.hyperparameters_optimization(manager)
    assert PASSWORD not in str(error.value)


def test_case1_rl_zoo3_trial_id_masks_the_password(monkeypatch):
    """``rl_zoo3.train --storage URL --trial-id N``: a URL the driver cannot open fails without its password."""
    from rl_zoo3.exp_manager import ExperimentManager

    import sb3_spiking.tuning.zoo  # noqa: F401  (installs the wrappers)

    manager = ExperimentManager.__new__(ExperimentManager)
    unencoded = "postgresql://alice:S3c@retPW@127.0.0.1/optuna"  # the driver would name 'retPW@127.0.0.1' its host
    with pytest.raises(ValueError, match="unencoded '@'") as error:
        ExperimentManager.load_trial(manager, unencoded, "s", 1)
    assert "S3c" not in str(error.value) and "retPW" not in str(error.value)
    unreachable = f"postgresql://alice:{PASSWORD}@127.0.0.1:1/optuna"
    shown = re.escape("Cannot open the Optuna storage 'postgresql+psycopg://alice:***@127.0.0.1:1/optuna'")
    with pytest.raises(ValueError, match=shown) as error:
        ExperimentManager.load_trial(manager, unreachable, "s", 1)
    assert PASSWORD not in "".join(traceback.format_exception(error.value))
    monkeypatch.setenv("SB3_SPIKING_TEST_STORAGE", unreachable)
    with pytest.raises(ValueError, match="\\(from env:SB3_SPIKING_TEST_STORAGE\\)") as error:
        ExperimentManager.load_trial(manager, "env:SB3_SPIKING_TEST_STORAGE", "s", 1)
    assert PASSWORD not in str(error.value)


def test_case1_rl_zoo3_experiment_files_mask_the_password(tmp_path, monkeypatch):
    """rl-zoo3 saves the command line in ``args.yml`` and ``command.txt``: the password of ``--storage`` stays out."""
    import argparse
    import sys

    import yaml
    from rl_zoo3.exp_manager import ExperimentManager

    import sb3_spiking.tuning.zoo  # noqa: F401  (installs the wrappers)

    url = f"postgresql://alice:{PASSWORD}@127.0.0.1/optuna"
    manager = ExperimentManager.__new__(ExperimentManager)
    manager.params_path, manager.save_path = str(tmp_path), str(tmp_path)
    for storage, shown in ((url, "postgresql://alice:***@127.0.0.1/optuna"), ("env:OPTUNA_STORAGE", "env:OPTUNA_STORAGE")):
        manager.args = argparse.Namespace(storage=storage, study_name="s", trial_id=3)
        monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "rl_zoo3.train", "--storage", storage, "--trial-id", "3"])
        ExperimentManager._save_config(manager, {"policy": "SpikingMlpPolicy"})
        for name in ("args.yml", "command.txt"):
            text = (tmp_path / name).read_text()
            assert shown in text and PASSWORD not in text, name
        saved = yaml.load((tmp_path / "args.yml").read_text(), Loader=yaml.UnsafeLoader)  # as rl-zoo3 reads it
        assert dict(saved) == {"storage": shown, "study_name": "s", "trial_id": 3}
    assert "policy: SpikingMlpPolicy" in (tmp_path / "config.yml").read_text()
