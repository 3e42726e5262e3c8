"""The deployment scripts, run for a few hundred steps in a subprocess."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(script: str, *args: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", script), *args], check=True, env=env, capture_output=True)


def test_deploy_quantisation_quick(tmp_path):
    out = str(tmp_path / "q")
    run("deploy_quantisation.py", "--tasks", "cartpole-ppo", "--seeds", "0", "--episodes", "2", "--steps", "256", "--out", out)
    data = json.load(open(out + ".json"))
    (row,) = data["runs"]
    assert set(row["returns"]) == {"float", "8-bit", "6-bit", "4-bit"} and row["steps"] == 256
    assert all(1.0 <= value <= 500.0 for value in row["returns"].values())  # CartPole: one reward per step
    table = open(out + ".md").read()
    assert "| cartpole-ppo | 0 | 256 |" in table and "score 8-bit" in table


def test_deploy_check_quick(tmp_path):
    out = str(tmp_path / "c")
    run("deploy_check.py", "--tasks", "cartpole-dqn", "--episodes", "1", "--steps", "256", "--out", out)
    rows = json.load(open(out + ".json"))
    assert [(row["weights"], row["consumer"]) for row in rows] == [
        (weights, consumer) for weights in ("float", "8-bit") for consumer in ("nir_sim", "snntorch", "sinabs")
    ]
    simulated = [row for row in rows if row["consumer"] == "nir_sim"]
    assert all(row["agreeing"] == row["total"] > 0 and row["returns_predict"] == row["returns_consumer"] for row in simulated)
    assert "| cartpole-dqn | float | nir_sim |" in open(out + ".md").read()
