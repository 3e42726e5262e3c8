"""
rl-zoo3's commands as users were told (the autoload): ``-P key=value ...`` are hyperparameter overrides, and
``--algo proxy_td3`` is the proxy-target TD3.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rl_zoo3 import utils as zoo_utils
from stable_baselines3 import DQN

from sb3_spiking import ProxyTargetTD3
from sb3_spiking.policies import SpikingCnnDQNPolicy, SpikingDQNPolicy, SpikingTD3Policy
from sb3_spiking_autoload import progress_overrides, train_arguments_start, zoo_algorithm

ZOO = vars(zoo_utils)  # where rl-zoo3 evaluates -params values


@pytest.mark.parametrize(
    "argv, expected",
    [
        # No -P, or -P without key=value words: unchanged
        (["--algo", "dqn", "-n", "400"], ["--algo", "dqn", "-n", "400"]),
        (["--algo", "dqn", "-P"], ["--algo", "dqn", "-P"]),
        (["-P", "-n", "400", "--seed", "1"], ["-P", "-n", "400", "--seed", "1"]),
        (["-params", "a:1", "-P"], ["-params", "a:1", "-P"]),
        # A key=value word elsewhere is left to rl-zoo3 (which rejects it, as before)
        (["--algo", "dqn", "policy=X", "-P"], ["--algo", "dqn", "policy=X", "-P"]),
        # -P with words: a new -params at the end, -P kept
        (
            ["--algo", "dqn", "-P", "policy=SpikingCnnPolicy"],
            ["--algo", "dqn", "-P", "-params", "policy:'SpikingCnnPolicy'"],
        ),
        (["--progress", "buffer_size=1000"], ["--progress", "-params", "buffer_size:1000"]),
        # -P with words, then other flags
        (
            ["-P", "policy=SpikingCnnPolicy", "buffer_size=1000", "-n", "400", "--seed", "0"],
            ["-P", "-n", "400", "--seed", "0", "-params", "policy:'SpikingCnnPolicy'", "buffer_size:1000"],
        ),
        # Existing -params (before or after -P): the words join it first, so -params wins for a key given twice
        (
            ["-params", "batch_size:8", "learning_starts:50", "-P", "learning_starts=100"],
            ["-params", "learning_starts:100", "batch_size:8", "learning_starts:50", "-P"],
        ),
        (
            ["-P", "policy=SpikingCnnPolicy", "--hyperparams", "gamma:0.9"],
            ["-P", "--hyperparams", "policy:'SpikingCnnPolicy'", "gamma:0.9"],
        ),
        # Only the words right after -P; a word that is not key=value ends them
        (["-P", "a=1", "stray", "b=2"], ["-P", "stray", "b=2", "-params", "a:1"]),
    ],
)
def test_progress_overrides(argv, expected):
    assert progress_overrides(argv, ZOO) == expected


@pytest.mark.parametrize(
    "word, value",
    [
        ("policy=SpikingCnnPolicy", "SpikingCnnPolicy"),  # a bare word: a string
        ("policy=sb3_spiking.SpikingCnnPolicy", "sb3_spiking.SpikingCnnPolicy"),  # dotted: rl-zoo3 imports it
        ("policy='SpikingCnnPolicy'", "SpikingCnnPolicy"),  # quoted as -params needs it: the same
        ("learning_rate=lin_1e-4", "lin_1e-4"),  # rl-zoo3's schedule strings
        ("buffer_size=1000", 1000),
        ("learning_rate=2.5e-4", 2.5e-4),
        ("optimize_memory_usage=False", False),
        ("policy_kwargs=dict(T=4, decoder='max-mem')", {"T": 4, "decoder": "max-mem"}),
        ("policy_kwargs=dict(net_arch=[64], activation_fn=nn.ReLU)", {"net_arch": [64], "activation_fn": zoo_utils.nn.ReLU}),
        ("gamma=", ""),
    ],
)
def test_values_are_what_rl_zoo3_makes_of_params(word, value):
    """Each override goes through rl-zoo3's own -params action (``StoreDict``), as the train command parses it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-P", "--progress", action="store_true")
    parser.add_argument("-params", "--hyperparams", type=str, nargs="+", action=zoo_utils.StoreDict)
    args = parser.parse_args(progress_overrides(["-P", word], ZOO))
    assert args.progress
    key = word.partition("=")[0]
    assert args.hyperparams == {key: value}


@pytest.mark.parametrize(
    "argv, orig_argv, start",
    [
        (["-m", "--algo", "dqn"], ["python", "-m", "rl_zoo3.train", "--algo", "dqn"], 1),
        (["-m", "-P", "a=1"], ["python", "-X", "importtime", "-m", "rl_zoo3.train", "-P", "a=1"], 1),
        (["-m", "-P"], ["python", "-mrl_zoo3.train", "-P"], 1),
        (["-m", "train", "-P"], ["python", "-m", "rl_zoo3.cli", "train", "-P"], 2),
        (["/venv/bin/rl_zoo3", "train", "-P", "a=1"], ["python", "/venv/bin/rl_zoo3", "train", "-P", "a=1"], 2),
        # Not the train command
        (["-m", "--algo", "dqn"], ["python", "-m", "rl_zoo3.enjoy", "--algo", "dqn"], 0),
        (["/venv/bin/rl_zoo3", "enjoy", "-P"], ["python", "/venv/bin/rl_zoo3", "enjoy", "-P"], 0),
        (["-m", "-P", "a=1"], ["python", "-m", "mytool", "-P", "a=1"], 0),
        (["script.py", "-P", "a=1"], ["python", "script.py", "-P", "a=1"], 0),
        ([], [], 0),
    ],
)
def test_train_arguments_start(argv, orig_argv, start):
    assert train_arguments_start(argv, orig_argv) == start


def zoo_train(*args: str, cwd, autoload: str = "1") -> subprocess.CompletedProcess:
    env = dict(os.environ, SB3_SPIKING_AUTOLOAD=autoload, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "dqn", "--env", "BreakoutNoFrameskip-v4", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_users_command_trains_a_spiking_dsqn_on_breakout(tmp_path):
    # The users' command, with overrides on the same command line for a short run that fits in memory
    overrides = ["buffer_size=1000", "learning_starts=100", "train_freq=4", "policy_kwargs=dict(T=4)"]
    args = ["-P", "policy=SpikingCnnPolicy", *overrides, "-n", "400", "-f", "logs", "--eval-freq", "-1", "--seed", "0"]
    result = zoo_train(*args, "-params", "batch_size:8", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "400/400" in result.stdout + result.stderr  # -P kept its meaning: rl-zoo3's progress bar
    model = DQN.load(tmp_path / "logs" / "dqn" / "BreakoutNoFrameskip-v4_1" / "BreakoutNoFrameskip-v4.zip")
    assert type(model.policy) is SpikingCnnDQNPolicy
    assert model.policy.spiking.T == 4 and model.observation_space.shape == (4, 84, 84)
    assert (model.buffer_size, model.learning_starts, model.batch_size) == (1000, 100, 8)
    # Gradient steps ran: one every 4 steps after the first 100
    assert model.num_timesteps == 400 and model._n_updates == (400 - 100) // 4


def test_switched_off_rl_zoo3_rejects_the_words_as_before(tmp_path):
    result = zoo_train("-P", "policy=SpikingCnnPolicy", "-n", "10", cwd=tmp_path, autoload="0")
    assert result.returncode == 2
    assert "error: unrecognized arguments: policy=SpikingCnnPolicy" in result.stderr


def test_console_script_takes_the_words_too(tmp_path):
    script = Path(sys.executable).parent / "rl_zoo3"
    env = dict(os.environ, SB3_SPIKING_AUTOLOAD="1", OMP_NUM_THREADS="1")
    args = ["train", "--algo", "dqn", "--env", "CartPole-v1", "-P", "policy=SpikingMlpPolicy", "learning_starts=10"]
    args += ["buffer_size=100", "train_freq=16", "gradient_steps=1", "-n", "64", "--eval-freq", "-1", "-f", "logs"]
    result = subprocess.run([str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    model = DQN.load(tmp_path / "logs" / "dqn" / "CartPole-v1_1" / "CartPole-v1.zip")
    assert type(model.policy) is SpikingDQNPolicy and model.learning_starts == 10
    assert model._n_updates == 64 // 16  # one gradient step every 16 steps, all after learning_starts


@pytest.mark.parametrize(
    "argv, train, expected_tail",
    [
        # The train command reads TD3's tuned file unless it names one
        (["--algo", "proxy_td3", "--env", "Pendulum-v1"], True, ["-conf", "ZOO/hyperparams/td3.yml"]),
        (["--algo=proxy_td3"], True, ["-conf", "ZOO/hyperparams/td3.yml"]),
        (["--algo", "proxy_td3", "-conf", "mine.yml"], True, ["-conf", "mine.yml"]),
        (["--algo", "proxy_td3", "--conf-file=mine.yml"], True, ["--conf-file=mine.yml"]),
        # enjoy takes no hyperparameter file
        (["--algo", "proxy_td3", "-f", "logs"], False, ["-f", "logs"]),
    ],
)
def test_zoo_algorithm_registers_proxy_td3(argv, train, expected_tail):
    algos = {"td3": object}
    result = zoo_algorithm(argv, algos, "ZOO", train)
    assert result[: len(argv)] == argv and result[-len(expected_tail) :] == expected_tail
    assert len(result) == len(argv) + (2 if result[-1].endswith("td3.yml") else 0)
    assert algos == {"td3": object, "proxy_td3": ProxyTargetTD3}


def test_zoo_algorithm_leaves_other_commands_alone():
    algos = {"td3": object}
    for argv in (["--algo", "td3"], ["--env", "proxy_td3"], []):
        assert zoo_algorithm(argv, algos, "ZOO") == argv
    assert algos == {"td3": object}


@pytest.mark.slow
def test_users_command_trains_and_enjoys_a_proxy_target_td3(tmp_path):
    env = dict(os.environ, SB3_SPIKING_AUTOLOAD="1", OMP_NUM_THREADS="1")
    train = [sys.executable, "-m", "rl_zoo3.train", "--algo", "proxy_td3", "--env", "Pendulum-v1", "-n", "300"]
    train += ["--eval-freq", "-1", "-f", "logs", "--seed", "0", "-P", "policy=SpikingMlpPolicy", "learning_starts=100"]
    result = subprocess.run(train, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    model = ProxyTargetTD3.load(tmp_path / "logs" / "proxy_td3" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert type(model.policy) is SpikingTD3Policy and model.learning_starts == 100
    # rl-zoo3's tuned TD3 entry for Pendulum-v1, unchanged but for the overrides
    assert (model.gamma, model.buffer_size, model.policy.actor.net_arch) == (0.98, 200_000, [400, 300])
    assert model._n_updates == 300 - 100
    enjoy = [sys.executable, "-m", "rl_zoo3.enjoy", "--algo", "proxy_td3", "--env", "Pendulum-v1", "-f", "logs"]
    enjoy += ["--exp-id", "1", "-n", "200", "--no-render"]
    result = subprocess.run(enjoy, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Episode Length 200" in result.stdout


def test_case8_overrides_are_evaluated_once_by_rl_zoo3(monkeypatch):
    """Issue 21, case 8: a ``-P key=value`` value is evaluated once, by rl-zoo3's ``-params`` action, as rl-zoo3 does."""
    calls = []
    monkeypatch.setattr(zoo_utils, "count_evaluations", lambda: calls.append(1) or len(calls), raising=False)
    argv = progress_overrides(["-P", "n_timesteps=count_evaluations()", "policy=Spiking(CnnPolicy)"], ZOO)
    assert calls == []  # deciding how to pass it on evaluates nothing
    assert argv == ["-P", "-params", "n_timesteps:count_evaluations()", "policy:'Spiking(CnnPolicy)'"]
    parser = argparse.ArgumentParser()
    parser.add_argument("-P", "--progress", action="store_true")
    parser.add_argument("-params", "--hyperparams", type=str, nargs="+", action=zoo_utils.StoreDict)
    assert parser.parse_args(argv).hyperparams == {"n_timesteps": 1, "policy": "Spiking(CnnPolicy)"}
    assert calls == [1]
    assert progress_overrides(["-P", "f=lambda x: [y for y in x]"], ZOO) == ["-P", "-params", "f:lambda x: [y for y in x]"]
