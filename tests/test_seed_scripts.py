"""The reproduction scripts run end to end with a tiny budget, each in its own process."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_script(name, *args, timeout=600):
    """Run ``scripts/<name>`` (a user tool) or ``lab/<name>`` (a measurement) from the repository root."""
    path = ROOT / "scripts" / name if (ROOT / "scripts" / name).exists() else ROOT / "lab" / name
    command = [sys.executable, str(path), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("name", ["reproduce_seeds.py", "dsqn_breakout.py"])
def test_help(name):
    out = run_script(name, "--help")
    assert out.startswith("usage:") and "--quick" in out


def test_reproduce_seeds_quick(tmp_path):
    out_prefix = tmp_path / "seeds"
    stdout = run_script("reproduce_seeds.py", "--quick", "--out", str(out_prefix))
    results = json.loads(out_prefix.with_suffix(".json").read_text())
    runs = {(r["agent"], r["policy"]) for r in results}
    assert runs == {(agent, policy) for agent in ("dqn", "a2c", "ppo") for policy in ("ann", "snn")}
    for result in results:
        assert result["steps"] >= 600
        steps = [step for step, _ in result["curve"]]
        assert steps == sorted(steps) and len(steps) >= 3
        assert all(9.0 <= value <= 500.0 for _, value in result["curve"])
        assert result["final"] == result["curve"][-1][1] and result["wall_s"] > 0
    table = out_prefix.with_suffix(".md").read_text()
    assert "6 of 6 runs" in table and "reproduce_seeds.py --quick" in table
    assert table.count("| SNN (SpikingMlpPolicy) |") == 3 and table.count("| ANN (MlpPolicy) |") == 3
    assert out_prefix.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "Wrote" in stdout


@pytest.mark.slow
def test_dsqn_breakout_quick():
    stdout = run_script("dsqn_breakout.py", "--quick", "--policy", "both")
    lines = [line for line in stdout.splitlines() if line.startswith("BreakoutNoFrameskip-v4 ")]
    assert [line.split()[1] for line in lines] == ["ANN:", "SNN:"]
    assert all("300 steps" in line for line in lines)


@pytest.mark.slow
def test_dsqn_breakout_stops_saves_and_resumes(tmp_path):
    prefix = str(tmp_path / "run")
    quick = ["--quick", "--policy", "snn"]
    first = run_script("dsqn_breakout.py", *quick, "--time-limit", "1e-9", "--save", prefix, "--save-replay")
    assert "BreakoutNoFrameskip-v4 SNN: 1 steps in" in first  # the time limit ended training at its first step
    assert (tmp_path / "run_snn.zip").exists() and (tmp_path / "run_snn_replay.pkl").exists()
    resumed = run_script("dsqn_breakout.py", *quick, "--resume", prefix)
    assert f"Resuming {prefix}_snn.zip at 1 steps, replay memory loaded" in resumed
    assert "BreakoutNoFrameskip-v4 SNN: 301 steps in" in resumed  # on to the quick budget of 300 (4 steps per update)


def test_firing_at_init(tmp_path):
    # The claim behind docs/guide/network.rst's initialisation paragraph: at initialisation, leaky neurons fire less
    # than IF neurons on CartPole's observations, the more so the longer their time constant
    out = tmp_path / "firing.md"
    run_script("firing_at_init.py", "--seeds", "0", "--n-obs", "256", "--out", str(out))
    rows = [line.split("|")[1:-1] for line in out.read_text().splitlines() if line.startswith("| ") and "| 0 |" in line]
    rates = {row[0].strip(): [float(cell) for cell in row[2:]] for row in rows}
    assert list(rates) == ["IF", "LIF tau=2", "LIF tau=4"]
    for layer in range(3):  # policy layer, value layer, both
        assert 0.2 < rates["IF"][layer] < 0.4 and 0.05 < rates["LIF tau=4"][layer] < 0.12
        assert rates["IF"][layer] > 1.5 * rates["LIF tau=2"][layer] > 1.5 * rates["LIF tau=4"][layer]


def test_profile_step(tmp_path):
    out = tmp_path / "profile.md"
    # 3 steps of batch 32: with 1 step of batch 8 a pre-emption or the fixed costs ("rest") could outweigh the convolutions
    run_script("profile_step.py", "--steps", "3", "--T", "4", "--batch", "32", "--out", str(out))
    rows = [line.split("|")[1:-1] for line in out.read_text().splitlines()[4:9]]
    shares = {row[1].strip(): float(row[0].strip().rstrip("%")) for row in rows}
    assert list(shares) == ["convolutions", "linear layers", "neuron updates", "conversions and copies", "rest"]
    assert abs(sum(shares.values()) - 100.0) < 0.5
    assert shares["convolutions"] == max(shares.values()) and shares["neuron updates"] > 1.0
