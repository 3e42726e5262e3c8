"""The learning suite (scripts/learning_suite.py) end to end with tiny budgets: the files it writes and their values."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scripts_loader import load_script
from stable_baselines3 import TD3

from sb3_spiking import ProxyTargetTD3

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "learning_suite.py"


def load_suite():
    return load_script("learning_suite")


def run_suite(tmp_path, *args):
    command = [
        sys.executable,
        str(SCRIPT),
        "--quick",
        "--out",
        str(tmp_path / "learning"),
        "--results",
        str(tmp_path / "runs"),
    ]
    command += ["--logs", str(tmp_path / "logs"), "--seeds", "0", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow  # about 1 CPU-minute: 4 rl-zoo3 runs in subprocesses, then a second call that skips them
def test_quick_suite_writes_consistent_results(tmp_path):
    stdout = run_suite(tmp_path, "--tasks", "cartpole-dqn", "gridworld-dqn")
    assert "4 run(s) to train" in stdout and "FAILED" not in stdout
    report = json.loads((tmp_path / "learning.json").read_text())
    assert [task["task"] for task in report["tasks"]] == ["cartpole-dqn", "gridworld-dqn"]
    assert report["missing"] == [] and report["unavailable"] == []
    for task in report["tasks"]:
        assert task["budget"] == 1200
        random = report["random_returns"][task["env"]]
        assert task["random_return"] == random
        for policy in ("ann", "snn"):
            p = task[policy]
            assert p["seeds"] == [0] and p["wall_s"][0] > 0
            (curve,) = p["curves"]
            assert [step for step, _ in curve] == [400, 800, 1200]
            assert p["final"] == pytest.approx([np.mean([value for _, value in curve])])  # the last 3 evaluations
            assert p["best"] == [max(value for _, value in curve)]
            reached = next((step for step, value in curve if value >= task["threshold"]), None)
            assert p["steps_to_threshold"] == [reached]
            # the suite keeps each run's own evaluations.npz: the curve is its mean over episodes
            saved = np.load(tmp_path / "runs" / task["task"] / f"{policy}-seed0.npz")
            np.testing.assert_allclose(saved["results"].mean(axis=1), [value for _, value in curve])
            assert saved["results"].shape == (3, 2)  # --quick: 2 episodes per evaluation
        assert task["ann"]["normalised"] == pytest.approx([100.0])
        expected = 100.0 * (task["snn"]["final"][0] - random) / (task["ann"]["final"][0] - random)
        assert task["snn"]["normalised"] == pytest.approx([expected])
    cartpole = report["tasks"][0]
    assert 9.0 <= report["random_returns"]["CartPole-v1"] <= 40.0  # random CartPole episodes last about 22 steps
    assert all(9.0 <= value <= 500.0 for _, value in cartpole["snn"]["curves"][0])
    table = (tmp_path / "learning.md").read_text()
    assert table.count("| CartPole-v1 | DQN | ") == 2 and table.count("| sb3_spiking/GridWorld-v0 | DQN | ") == 2
    assert "| ANN (MlpPolicy) | 1 | 1,200 |" in table and "| SNN (SpikingMlpPolicy) | 1 | 1,200 |" in table
    header, rows = table.splitlines()[4], [line for line in table.splitlines() if line.startswith("| CartPole-v1 ")]
    assert header.count("|") == 14 and all(row.count("|") == 14 for row in rows)  # 13 columns
    assert "torch threads per run: 1; runs in parallel: 1, on a 2-core CPU" in table  # as each run recorded
    assert (tmp_path / "learning.png").read_bytes()[:4] == b"\x89PNG"
    # finished runs are skipped when called again
    assert "0 run(s) to train" in run_suite(tmp_path, "--tasks", "cartpole-dqn", "gridworld-dqn")


def test_conditions_come_from_the_runs():
    suite = load_suite()
    old = dict(command="-m rl_zoo3.train --algo dqn --num-threads 2 -n 10")
    assert suite.run_conditions(old) == dict(threads=2)
    assert suite.run_conditions(dict(old, threads=1, jobs=2)) == dict(threads=1, jobs=2)
    summaries = [dict(ann=dict(runs=[dict(threads=1, jobs=2), dict(threads=2)]))]
    assert suite.conditions(summaries) == (
        "torch threads per run: 1, 2; runs in parallel: 2 (1 run(s) did not record it), on a 2-core CPU shared with other work"
    )


def test_unavailable_spiking_policy_is_reported():
    suite = load_suite()
    assert suite.spiking_policy_available(suite.TASKS["cartpole-ppo"])
    missing = suite.Task(
        "CartPole-v1", "dqn", 475.0, "", 100, 10, policies=dict(ann="MlpPolicy", snn="sb3_spiking.NoSuchPolicy")
    )
    assert not suite.spiking_policy_available(missing)
    table = suite.format_table([], ["Pendulum-v1 | SAC | SNN: spiking policy unavailable (SpikingMlpPolicy)"])
    assert table.splitlines()[-1].startswith("| Pendulum-v1 | SAC | SNN: spiking policy unavailable")
    assert table.splitlines()[-1].count("|") == table.splitlines()[0].count("|")


def test_variants_change_only_their_knobs():
    suite = load_suite()
    sac, td3, breakout = suite.TASKS["pendulum-sac"], suite.TASKS["pendulum-td3"], suite.TASKS["breakout-minatar-dqn"]
    assert suite.policy_params(sac, "ann") == ["policy:'MlpPolicy'"]
    assert suite.policy_params(sac, "snn") == ["policy:'SpikingMlpPolicy'"]
    # The tuned entry's own policy kwargs (TD3's net_arch) stay, the variant's knobs join them
    assert suite.policy_params(td3, "snn-pop") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(net_arch=[400, 300], encoder='population')",
    ]
    assert suite.policy_params(sac, "snn-pop") == ["policy:'SpikingMlpPolicy'", "policy_kwargs:dict(encoder='population')"]
    # The proxy target is another rl-zoo3 algorithm, with the same policy and TD3's tuned file
    assert suite.policy_params(td3, "snn-proxy") == ["policy:'SpikingMlpPolicy'"]
    assert {p: suite.zoo_algo(td3, p) for p in suite.POLICIES} == {
        p: "proxy_td3" if p == "snn-proxy" else "td3" for p in suite.POLICIES
    }
    assert suite.describe(td3, "snn-proxy") == "SNN, proxy target (SpikingMlpPolicy, --algo proxy_td3)"
    assert suite.describe(sac, "snn-pop") == "SNN, population encoder (SpikingMlpPolicy, encoder='population')"
    assert suite.policy_params(suite.TASKS["cartpole-dqn"], "snn-t4") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(net_arch=[256, 256], T=4)",
    ]
    assert suite.policy_params(suite.TASKS["cartpole-dqn"], "snn-pop-raw") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(net_arch=[256, 256], encoder='population', input_norm=False)",
    ]
    # A variant runs only where it applies
    assert suite.policy_params(suite.TASKS["cartpole-a2c"], "snn-raw") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(input_norm=False)",
    ]
    assert suite.policy_params(suite.TASKS["mountaincar-dqn"], "snn-mean") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(net_arch=[256, 256], decoder='mean-mem')",
    ]
    assert suite.policy_params(suite.TASKS["mountaincar-dqn"], "snn-span0") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(net_arch=[256, 256], input_span=0.0, centre_second_layer=False)",
    ]
    assert suite.policy_params(suite.TASKS["mountaincar-dqn"], "snn-soft-clip3") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(net_arch=[256, 256], reset='soft', input_clip=3.0)",
    ]
    # the later candidates: merged into the tuned entry's policy_kwargs where it has them (DQN's net_arch), alone otherwise
    assert suite.policy_params(suite.TASKS["cartpole-dqn"], "snn-soft2") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(net_arch=[256, 256], reset='soft')",
    ]
    assert suite.policy_params(suite.TASKS["cartpole-a2c"], "snn-t16") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(T=16)",
    ]
    lunar = suite.TASKS["lunarlander-dqn"]
    assert (lunar.env, lunar.algo, lunar.threshold, lunar.steps, lunar.conf) == ("LunarLander-v3", "dqn", 200.0, 100_000, None)
    # Not on SAC: the proxy target (TD3 only) and the stateless policy of the RecurrentPPO tasks
    # (nor the stateful policy without recurrent synapses, nor the Q-networks' thresholds at the mean, nor the actor-critic
    # variants of the value function)
    assert [p for p in suite.POLICIES if not suite.runs_variant(sac, p)] == [
        "snn-proxy",
        "snn-span0",
        "snn-spikingcritic",
        "snn-anncritic",
        "snn-normcritic",
        "snn-span3-centred",
        "snn-span3-centred1",
        "snn-direct",
        "snn-bn",
        "snn-norec",
        "snn-stateless",
    ]
    # Not on MinAtar's own spiking Q-policy: the variants of SpikingMlpPolicy's encoder and inputs, and other families'
    mlp_only = ["snn-pop", "snn-pop-raw", "snn-raw", "snn-proxy", "snn-pop-clip3", "snn-span0", "snn-qknobs"]
    mlp_only += ["snn-spikingcritic", "snn-anncritic", "snn-normcritic", "snn-normq", "snn-rawq"]
    mlp_only += ["snn-span3-centred", "snn-span3-centred1"]
    expected = [*mlp_only, "snn-direct", "snn-bn", "snn-norec", "snn-stateless"]
    assert [p for p in suite.POLICIES if not suite.runs_variant(breakout, p)] == expected
    # The Q-networks' defaults on the other families, not on the Q-networks (whose defaults they are)
    assert suite.policy_params(suite.TASKS["cartpole-a2c"], "snn-qknobs") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(input_span=3.0, centre_second_layer=True)",
    ]
    assert not suite.runs_variant(suite.TASKS["cartpole-dqn"], "snn-qknobs")
    # PLIF neurons on every family, the MinAtar network's included
    assert suite.policy_params(suite.TASKS["cartpole-ppo"], "snn-plif") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(neuron='plif')",
    ]
    assert suite.runs_variant(breakout, "snn-plif")
    # The off-policy critics' candidate: the lab policy of each algorithm, on SAC and TD3 only
    assert suite.policy_params(sac, "snn-normq") == ["policy:'lab.candidates.NormCriticSpikingSACPolicy'"]
    assert suite.policy_params(td3, "snn-normq") == ["policy:'lab.candidates.NormCriticSpikingTD3Policy'"]
    assert suite.policy_params(sac, "snn-rawq") == ["policy:'lab.candidates.RawCriticSpikingSACPolicy'"]
    assert not any(suite.runs_variant(suite.TASKS["cartpole-ppo"], p) for p in ("snn-normq", "snn-rawq"))
    # The ANN value function: a lab candidate of the actor-critic family only
    assert suite.policy_params(suite.TASKS["cartpole-a2c"], "snn-anncritic") == [
        "policy:'lab.candidates.AnnCriticSpikingActorCriticPolicy'"
    ]
    assert not suite.runs_variant(suite.TASKS["cartpole-dqn"], "snn-anncritic")
    assert suite.policy_params(suite.TASKS["pendulum-ppo"], "snn-normcritic") == [
        "policy:'lab.candidates.NormCriticSpikingActorCriticPolicy'"
    ]
    assert not suite.runs_variant(suite.TASKS["pendulum-sac"], "snn-normcritic")
    # a lower threshold, on every family
    assert suite.policy_params(suite.TASKS["cartpole-a2c"], "snn-vth01") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(v_threshold=0.1)",
    ]
    assert suite.runs_variant(breakout, "snn-vth025")
    # the actor-critic policies' earlier default, the value function spiking too; not the stateful policy's (it spikes)
    assert suite.policy_params(suite.TASKS["acrobot-a2c"], "snn-spikingcritic") == [
        "policy:'SpikingMlpPolicy'",
        "policy_kwargs:dict(spiking_critic=True)",
    ]
    assert not suite.runs_variant(suite.TASKS["cartpolenovel-ppo_lstm"], "snn-spikingcritic")
    # A lab candidate: its policy by dotted name, with the variant's knobs
    assert suite.policy_params(suite.TASKS["mountaincar-dqn"], "snn-span3-centred") == [
        "policy:'lab.candidates.CentredSpikingDQNPolicy'",
        "policy_kwargs:dict(net_arch=[256, 256], input_span=3.0)",
    ]


def test_recurrent_tasks_replace_only_the_lstm_keywords():
    suite = load_suite()
    novel, full = suite.TASKS["cartpolenovel-ppo_lstm"], suite.TASKS["pendulum-ppo_lstm"]
    assert suite.policy_params(novel, "ann") == ["policy:'MlpLstmPolicy'"]  # the tuned entry as it is
    spiking = "policy_kwargs:dict(ortho_init=False, net_arch=dict(pi=[64, 64], vf=[64, 64]))"
    assert suite.policy_params(novel, "snn") == ["policy:'SpikingMlpRecurrentPolicy'", spiking]
    assert suite.policy_params(novel, "snn-norec") == [
        "policy:'SpikingMlpRecurrentPolicy'",
        spiking.replace("]))", "]), recurrent_synapses=False)"),
    ]
    # The stateless spiking policy under PPO, with the same tuned entry (rl-zoo3's ppo.yml has none for the task)
    assert suite.policy_params(novel, "snn-stateless") == ["policy:'SpikingMlpPolicy'", spiking]
    assert suite.zoo_algo(novel, "snn-stateless") == "ppo" and suite.tuned_file(novel).endswith(
        "rl_zoo3/hyperparams/ppo_lstm.yml"
    )
    assert suite.tuned_file(full).endswith("hyperparams/ppo_lstm.yml") and suite.tuned_file(full) != suite.tuned_file(novel)
    assert suite.describe(novel, "snn-stateless") == "SNN, stateless (PPO) (SpikingMlpPolicy, --algo ppo)"
    assert suite.policy_params(novel, "snn-t4") == [
        "policy:'SpikingMlpRecurrentPolicy'",
        "policy_kwargs:dict(ortho_init=False, net_arch=dict(pi=[64, 64], vf=[64, 64]), T=4)",
    ]
    assert not suite.runs_variant(suite.TASKS["cartpole-ppo"], "snn-stateless")


@pytest.mark.slow  # about 1 CPU-minute: rl-zoo3 runs of 1,200 steps (TD3 starts learning later: no gradient step)
def test_quick_suite_runs_the_variants(tmp_path):
    stdout = run_suite(tmp_path, "--tasks", "pendulum-td3", "--policies", "ann", "snn", "snn-pop", "snn-proxy")
    assert "4 run(s) to train" in stdout and "FAILED" not in stdout
    (task,) = json.loads((tmp_path / "learning.json").read_text())["tasks"]
    for policy in ("ann", "snn", "snn-pop", "snn-proxy"):
        assert [step for step, _ in task[policy]["curves"][0]] == [400, 800, 1200]
    info = json.loads((tmp_path / "runs" / "pendulum-td3" / "snn-proxy-seed0.json").read_text())
    assert "--algo proxy_td3" in info["command"]
    info = json.loads((tmp_path / "runs" / "pendulum-td3" / "snn-pop-seed0.json").read_text())
    assert "encoder='population'" in info["command"]
    table = (tmp_path / "learning.md").read_text()
    assert "| SNN, proxy target (SpikingMlpPolicy, --algo proxy_td3) | 1 | 1,200 |" in table
    # What rl-zoo3 trained: the proxy-target algorithm, and the population encoder next to the tuned net_arch
    logs = tmp_path / "logs" / "pendulum-td3"
    proxy = ProxyTargetTD3.load(logs / "snn-proxy-seed0" / "proxy_td3" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert proxy.policy.spiking.encoder == "linear" and proxy.gamma == 0.98  # TD3's tuned Pendulum entry
    pop = TD3.load(logs / "snn-pop-seed0" / "td3" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert pop.policy.spiking.encoder == "population" and pop.policy.actor.net_arch == [400, 300]


def test_task_without_its_environment_is_skipped_with_the_reason(tmp_path, capsys, monkeypatch):
    suite = load_suite()
    assert suite.missing_dependency(suite.TASKS["cartpole-dqn"]) is None
    unknown = suite.Task("NoSuchEnv-v0", "dqn", 1.0, "", 100, 10)
    assert "NoSuchEnv" in suite.missing_dependency(unknown)
    monkeypatch.setitem(suite.TASKS, "no-such-env", unknown)
    args = ["--tasks", "no-such-env", "--out", str(tmp_path / "l"), "--results", str(tmp_path / "r"), "--quick"]
    assert suite.main(args) == []
    assert "no-such-env: skipped, NoSuchEnv-v0 cannot be made here (NameNotFound" in capsys.readouterr().out


@pytest.mark.slow  # about 1 CPU-minute: 3 rl-zoo3 runs of 1,200 steps
def test_quick_suite_runs_the_recurrent_task(tmp_path):
    stdout = run_suite(tmp_path, "--tasks", "cartpolenovel-ppo_lstm", "--policies", "ann", "snn", "snn-stateless")
    assert "3 run(s) to train" in stdout and "FAILED" not in stdout
    (task,) = json.loads((tmp_path / "learning.json").read_text())["tasks"]
    for policy in ("ann", "snn", "snn-stateless"):
        assert [step for step, _ in task[policy]["curves"][0]] == [400, 800, 1200]
    info = json.loads((tmp_path / "runs" / "cartpolenovel-ppo_lstm" / "snn-stateless-seed0.json").read_text())
    assert "--algo ppo " in info["command"] and "ppo_lstm.yml" in info["command"]
    table = (tmp_path / "learning.md").read_text()
    assert "| SNN (SpikingMlpRecurrentPolicy) | 1 | 1,200 |" in table
