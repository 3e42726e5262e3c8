"""rl-zoo3 with spiking policies: the three ways to name them, enjoy, -optimize with merged policy kwargs, Atari."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from rl_zoo3 import hyperparams_opt
from sb3_contrib import QRDQN
from stable_baselines3 import DQN, PPO

import sb3_spiking.tuning.zoo as zoo
from sb3_spiking.policies import SpikingActorCriticPolicy, SpikingCnnDQNPolicy, SpikingDQNPolicy, SpikingQRDQNPolicy

ROOT = Path(__file__).resolve().parents[1]


def run_zoo(module: str, *args: str, cwd: Path, autoload: bool = True, timeout: int = 300) -> str:
    """Run ``python -m rl_zoo3.<module>`` in a fresh interpreter; fail with its output if it fails."""
    env = dict(os.environ, SB3_SPIKING_AUTOLOAD="1" if autoload else "0", OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", f"rl_zoo3.{module}", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def study(direction: str = "maximize") -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction=direction)


def test_install_wraps_once():
    zoo.install()
    zoo.install()
    sampler = hyperparams_opt.HYPERPARAMS_SAMPLER["ppo"]
    assert getattr(sampler, "__sb3_spiking_wrapped__", False)
    assert sampler.__wrapped__ is hyperparams_opt.sample_ppo_params
    assert not hasattr(sampler.__wrapped__, "__wrapped__")


def test_sampler_merges_yml_zoo_and_spiking_kwargs():
    trial = study().ask()
    with zoo.experiment(spiking=True, policy_kwargs={"v_threshold": 0.5, "net_arch": [8]}):
        params = hyperparams_opt.HYPERPARAMS_SAMPLER["ppo"](trial, 0, 1, {})
    kwargs = params["policy_kwargs"]
    assert kwargs["v_threshold"] == 0.5  # from the yml, kept
    assert kwargs["net_arch"] in (
        {"pi": [64], "vf": [64]},
        {"pi": [64, 64], "vf": [64, 64]},
        {"pi": [256, 256], "vf": [256, 256]},
    )
    assert kwargs["T"] in zoo.SEARCH_SPACE.T and 1.5 <= kwargs["tau"] <= 8.0
    assert kwargs["decoder"] in zoo.SEARCH_SPACE.decoders and kwargs["neuron"] in zoo.SEARCH_SPACE.neurons
    assert "activation_fn" not in kwargs and "activation_fn" not in trial.params
    assert {"T", "tau", "decoder", "neuron", "learning_rate"} <= set(trial.params)
    # The merged kwargs build a working spiking policy
    model = PPO(
        "SpikingMlpPolicy", "CartPole-v1", **{k: v for k, v in params.items() if k != "policy_kwargs"}, policy_kwargs=kwargs
    )
    assert model.policy.spiking.T == kwargs["T"] and model.policy.spiking.v_threshold == 0.5


def test_stateful_policy_samples_steps_per_env_step():
    from sb3_contrib import RecurrentPPO

    assert zoo.search_space_for("SpikingMlpRecurrentPolicy", RecurrentPPO) is zoo.STATEFUL_SEARCH_SPACE
    assert zoo.search_space_for("SpikingMlpPolicy", PPO) is zoo.SEARCH_SPACE
    assert zoo.search_space_for("MlpLstmPolicy", RecurrentPPO) is zoo.SEARCH_SPACE  # not sampled: not spiking

    class Manager:  # what the objective reads of rl-zoo3's ExperimentManager
        algo = "ppo_lstm"
        _hyperparams = {"policy": "SpikingMlpRecurrentPolicy", "policy_kwargs": {"recurrent_synapses": False}}

    def objective(manager, trial):
        return hyperparams_opt.HYPERPARAMS_SAMPLER[manager.algo](trial, 0, 1, {})

    tuning = study()
    tuning.enqueue_trial({"T": 1})
    trial = tuning.ask()
    params = zoo._wrap_objective(objective)(Manager(), trial)
    assert trial.distributions["T"].choices == (1, 2, 4) and trial.params["T"] == 1
    kwargs = params["policy_kwargs"]
    assert kwargs["T"] == 1 and kwargs["recurrent_synapses"] is False and "activation_fn" not in kwargs
    model = RecurrentPPO("SpikingMlpRecurrentPolicy", "CartPole-v1", n_steps=8, batch_size=8, policy_kwargs=kwargs)
    assert model.policy.spiking.T == 1 and model.policy.spiking.decoder == trial.params["decoder"]
    model.learn(16)


def test_sampler_is_unchanged_for_other_policies():
    for context in (zoo.experiment(spiking=False, policy_kwargs={"v_threshold": 0.5}), contextlib.nullcontext()):
        trial = study().ask()
        with context:
            params = hyperparams_opt.HYPERPARAMS_SAMPLER["a2c"](trial, 0, 1, {})
        assert "T" not in params["policy_kwargs"] and "v_threshold" not in params["policy_kwargs"]
        assert "activation_fn" in params["policy_kwargs"] and "T" not in trial.params


def test_converter_puts_spiking_knobs_in_policy_kwargs():
    trial = study().ask()
    with zoo.experiment(spiking=True):
        hyperparams_opt.HYPERPARAMS_SAMPLER["dqn"](trial, 0, 1, {"using_her_replay_buffer": False})
    hyperparams = hyperparams_opt.HYPERPARAMS_CONVERTER["dqn"](trial.params)
    assert {name: hyperparams["policy_kwargs"][name] for name in zoo.SPIKING_PARAMS} == {
        name: trial.params[name] for name in zoo.SPIKING_PARAMS
    }
    assert not set(zoo.SPIKING_PARAMS) & set(hyperparams) - {"policy_kwargs"}
    model = DQN("SpikingMlpPolicy", "CartPole-v1", **hyperparams)
    assert model.policy.spiking.T == trial.params["T"] and model.policy.spiking.neuron == trial.params["neuron"]


def test_search_space_names_valid_choices():
    with pytest.raises(ValueError, match="valid choices are 'last-mem'"):
        zoo.SpikingSearchSpace(decoders=("max-mem", "bogus"))
    with pytest.raises(ValueError, match="1 < low <= high"):
        zoo.SpikingSearchSpace(tau=(1.0, 4.0))


# The three ways to name a spiking policy; the first two also work with the autoload switched off
NAMING_FORMS = {
    "conf-and-gym-packages": (
        "dqn",
        ["-conf", str(ROOT / "hyperparams" / "dqn.yml"), "--gym-packages", "sb3_spiking"],
        False,
        DQN,
        SpikingDQNPolicy,
    ),
    "dotted": ("ppo", ["-params", "policy:'sb3_spiking.SpikingMlpPolicy'", "n_envs:2"], False, PPO, SpikingActorCriticPolicy),
    "bare-alias-autoload": ("qrdqn", ["-params", "policy:'SpikingMlpPolicy'"], True, QRDQN, SpikingQRDQNPolicy),
}
QUICK_DQN = ["learning_starts:100", "train_freq:100", "gradient_steps:2", "buffer_size:1000"]


@pytest.mark.parametrize("form", list(NAMING_FORMS))
def test_train_and_enjoy(form, tmp_path):
    algo, args, autoload, algo_class, policy_class = NAMING_FORMS[form]
    if algo != "ppo":
        args = [*args, *([] if "-params" in args else ["-params"]), *QUICK_DQN]
    common = ["--algo", algo, "--env", "CartPole-v1", "-f", str(tmp_path / "logs")]
    run_zoo("train", *common, "-n", "300", "--eval-freq", "-1", "--seed", "1", *args, cwd=tmp_path, autoload=autoload)
    model = algo_class.load(tmp_path / "logs" / algo / "CartPole-v1_1" / "CartPole-v1.zip")
    assert type(model.policy) is policy_class
    out = run_zoo("enjoy", *common, "--no-render", "-n", "200", "--deterministic", cwd=tmp_path)
    assert "Mean reward" in out or "Episode Reward" in out


def test_optimize_samples_and_merges_spiking_knobs(tmp_path):
    conf = tmp_path / "dqn.yml"
    conf.write_text(
        "CartPole-v1:\n  n_timesteps: 300\n  policy: 'SpikingMlpPolicy'\n  learning_starts: 100\n  train_freq: 100\n"
        "  buffer_size: 1000\n  policy_kwargs: \"dict(surrogate='sigmoid', v_threshold=0.75)\"\n"
    )
    trials_dir = tmp_path / "trials"
    args = ["--algo", "dqn", "--env", "CartPole-v1", "-conf", str(conf), "-f", str(tmp_path / "logs"), "-optimize"]
    args += ["--n-trials", "2", "--n-evaluations", "1", "--eval-episodes", "1", "--n-startup-trials", "1"]
    args += ["--no-optim-plots", "--seed", "3", "--optimization-log-path", str(trials_dir)]
    storage = ["--storage", str(tmp_path / "study.log"), "--study-name", "s"]
    run_zoo("train", *args, *storage, cwd=tmp_path)
    (report,) = (tmp_path / "logs" / "dqn").glob("report_CartPole-v1_2-trials-300-*.csv")
    trials = pd.read_csv(report)
    assert len(trials) == 2
    assert set(trials["params_T"]) <= set(zoo.SEARCH_SPACE.T)
    assert trials["params_tau"].between(1.5, 8.0).all() and trials["params_neuron"].isin(zoo.SEARCH_SPACE.neurons).all()
    assert "params_activation_fn" not in trials
    for row in trials.itertuples():
        model = DQN.load(trials_dir / f"trial_{row.number}" / "best_model.zip")
        spiking = model.policy.spiking
        assert (spiking.T, spiking.neuron, spiking.decoder) == (row.params_T, row.params_neuron, row.params_decoder)
        assert spiking.tau == pytest.approx(row.params_tau)
        assert (spiking.surrogate, spiking.v_threshold) == ("sigmoid", 0.75)  # the yml's kwargs are kept
    # --trial-id trains a trial's setting again, its spiking knobs merged into the yml's policy kwargs
    run_zoo("train", *args[:8], *storage, "--trial-id", "1", "--eval-freq", "-1", cwd=tmp_path)
    (trained,) = (tmp_path / "logs" / "dqn").glob("CartPole-v1_*/CartPole-v1.zip")
    spiking, row = DQN.load(trained).policy.spiking, trials.set_index("number").loc[1]
    assert (spiking.T, spiking.neuron, spiking.surrogate) == (row.params_T, row.params_neuron, "sigmoid")


def test_atari_dsqn_entry(tmp_path):
    args = ["--algo", "dqn", "--env", "BreakoutNoFrameskip-v4", "-conf", str(ROOT / "hyperparams" / "dqn.yml")]
    args += ["-f", str(tmp_path / "logs"), "-n", "200", "--eval-freq", "-1", "--seed", "0"]
    args += ["-params", "buffer_size:500", "learning_starts:150", "batch_size:4"]
    run_zoo("train", *args, cwd=tmp_path)
    model = DQN.load(tmp_path / "logs" / "dqn" / "BreakoutNoFrameskip-v4_1" / "BreakoutNoFrameskip-v4.zip")
    assert type(model.policy) is SpikingCnnDQNPolicy
    assert model.observation_space.shape == (4, 84, 84)  # AtariWrapper + 4 stacked frames, channel first
    spiking = model.policy.spiking
    assert (spiking.T, spiking.neuron, spiking.tau, spiking.surrogate) == (8, "lif", 2.0, "atan")
    assert spiking.detach_reset and spiking.decoder == "max-mem"
    assert model.num_timesteps == 200 and model._n_updates > 0


@pytest.mark.parametrize("algo", ["a2c", "dqn", "ppo", "qrdqn"])
def test_hyperparams_files(algo):
    from rl_zoo3 import exp_manager
    from rl_zoo3.utils import ALGOS

    entries = yaml.safe_load((ROOT / "hyperparams" / f"{algo}.yml").read_text())
    assert {"default", "atari", "CartPole-v1"} <= set(entries)
    atari = eval(entries["atari"]["policy_kwargs"], vars(exp_manager))
    assert entries["atari"]["policy"] == "SpikingCnnPolicy" and entries["atari"]["frame_stack"] == 4
    dsqn = dict(T=8, neuron="lif", tau=2.0, surrogate="atan", detach_reset=True, decoder="max-mem")
    assert {name: atari[name] for name in dsqn} == dsqn
    cartpole = entries["CartPole-v1"]
    model = ALGOS[algo](cartpole["policy"], "CartPole-v1", policy_kwargs=eval(cartpole.get("policy_kwargs", "dict()")))
    assert isinstance(model.policy.spiking.T, int) and model.policy.spiking.T >= 4
