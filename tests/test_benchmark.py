"""The benchmark script runs end to end and reports every contender against the floor."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


def test_floor_arithmetic():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import benchmark
    finally:
        sys.path.remove(str(SCRIPT.parent))
    c1, rest = benchmark.layer_macs()
    assert (round(c1 / 1e6, 2), round(rest / 1e6, 2)) == (3.28, 6.07)
    assert [round(benchmark.floor(T)["train"], 2) for T in (4, 8, 16)] == [3.14, 5.98, 11.68]
    wins = [benchmark.floor(T)["max_win_vs_expand"] for T in (4, 8, 16)]
    assert all(abs(win - expected) < 0.01 for win, expected in zip(wins, [1.27, 1.34, 1.37])), wins
    assert round(benchmark.floor(8)["act"], 2) == 5.55


def test_benchmark_quick_runs(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--device", "cpu", "--threads", "1", "--json", str(tmp_path / "out.json")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for words in ("DQN gradient step", "ours/ANN", "floor", "ours/DSQN", "peak MiB", "Acting", "MlpPolicy", "steps/s"):
        assert words in result.stdout, f"{words!r} missing from the report:\n{result.stdout}"
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["command"].endswith(f"--json {tmp_path / 'out.json'}") and saved["args"]["quick"] is True
    assert [row["T"] for row in saved["cnn"]] == [4] and saved["learn"]["ours"] > 0
    assert saved["report"] in result.stdout and "| 4 | max-mem |" in saved["report"]
    assert "### SAC / TD3 update step" in saved["report"] and "| SAC |" in saved["report"]
    assert "### Readout (max-mem" in saved["report"] and [row["T"] for row in saved["readout"]] == [8, 1000]
    assert all(row["quadratic"] is not None for row in saved["readout"])  # side by side with the T x T matrix


def test_benchmark_help():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--quick" in result.stdout


def test_end_to_end_learn_benchmark_quick(tmp_path):
    out = tmp_path / "learn.md"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    script = SCRIPT.parent / "benchmark_learn.py"
    subprocess.run([sys.executable, str(script), "--quick", "--out", str(out)], check=True, env=env, capture_output=True)
    rows = [
        line.split("|")[1:-1] for line in out.read_text().splitlines() if line.startswith("| PPO") or line.startswith("| DQN")
    ]
    assert [(row[0].strip(), row[2].strip()) for row in rows] == [
        (algo, policy)
        for algo in ("PPO", "DQN")
        for policy in ("ANN (MlpPolicy)", "SNN, T=8 (default)", "SNN, T=4", "SNN, T=16")
    ]
    ratios = [float(row[4].strip().rstrip("x")) for row in rows]
    assert ratios[0] == ratios[4] == 1.0 and all(ratio > 0 for ratio in ratios)
    assert all(float(row[3]) > 0 for row in rows)


def test_learn_profile_quick(tmp_path):
    out = tmp_path / "profile.md"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    script = SCRIPT.parent / "benchmark_learn.py"
    subprocess.run([sys.executable, str(script), "--profile", "--quick", "--out", str(out)], check=True, env=env)
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in out.read_text().splitlines()[4:]}
    shares = {label: [float(value.strip().rstrip("%")) for value in values] for label, values in rows.items()}
    header = out.read_text().splitlines()[2]
    assert "PPO SNN (512 steps) | PPO ANN (512 steps) | DQN SNN (1,536 steps) | DQN ANN (1,536 steps)" in header
    # Rollouts and gradient steps make up the learn call; the spiking neurons run only in the spiking policies
    assert all(
        90 <= rollouts + train <= 101
        for rollouts, train in zip(shares["rollouts (acting and env steps)"], shares["gradient steps (the algorithm's train)"])
    )
    neurons = shares["- spiking neurons, forward"]
    assert neurons[0] > 0 and neurons[2] > 0 and neurons[1] == neurons[3] == 0
    assert all(value > 0 for value in shares["seconds (profiled)"])
