"""scripts/trained_q_diagnosis.py: each reported quantity on a Q-network whose weights are set by hand."""

import importlib.util
from pathlib import Path

import pytest
import torch as th
from stable_baselines3 import DQN

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "trained_q_diagnosis.py"


@pytest.fixture(scope="module")
def diagnosis():
    spec = importlib.util.spec_from_file_location("trained_q_diagnosis", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_run(logs: Path, policy: str, seed: int, readout_bias: float) -> None:
    """A suite-like run folder: a spiking DQN on MountainCar with hand-set weights, and a monitor file."""
    model = DQN("SpikingMlpPolicy", "MountainCar-v0", policy_kwargs=dict(net_arch=[4, 3], T=4), seed=seed)
    layers = model.policy.q_net.q_net
    norm, first, second, readout = layers[0], layers[1], layers[4], layers[6]
    with th.no_grad():
        norm.running_var.copy_(th.tensor([0.25, 0.0001]))
        first.weight.zero_()
        first.bias.copy_(th.tensor([10.0, 10.0, -10.0, -10.0]))  # two neurons fire every step, two never
        second.weight.zero_()
        second.bias.fill_(-10.0)  # silent
        readout.linear.weight.zero_()
        readout.linear.bias.copy_(th.tensor([readout_bias, 2 * readout_bias, readout_bias]))
    run = logs / "mountaincar-dqn" / f"{policy}-seed{seed}" / "dqn" / "MountainCar-v0_1"
    run.mkdir(parents=True)
    model.save(run / "MountainCar-v0.zip")
    (run / "0.monitor.csv").write_text('#{"t_start": 0}\nr,l,t\n-200,200,1\n-150,150,2\n-200,200,3\n-90,90,4\n')


def test_quantities_by_hand(diagnosis, tmp_path):
    save_run(tmp_path, "snn", 0, readout_bias=-3.0)
    save_run(tmp_path, "snn", 1, readout_bias=3.0)
    states = th.tensor([[-1.0, 0.0], [0.0, 0.05], [0.5, -0.05]])
    negative = diagnosis.diagnose(diagnosis.model_path(str(tmp_path), "mountaincar-dqn", "snn", 0), states)
    assert negative["goal reached in training"] == "2 / 4"
    assert negative["input std (position, velocity)"] == "0.5, 0.01"
    assert negative["max Q spread"] == "0.00"  # no synapse carries the state
    assert negative["max Q mean"] == "-1.50"  # max-mem of a constant current -3 with tau 2: the first step, -3 / 2
    # equal Q-values for actions 0 and 2 (bias -3), action 1 lower: argmax takes the first
    assert negative["greedy actions (left, none, right)"] == "1.00, 0.00, 0.00"
    assert negative["layer 1: rate / silent / saturated / binary"] == "0.50 / 0.50 / 0.50 / 1.00"
    assert negative["layer 2: rate / silent / saturated / binary"] == "0.00 / 1.00 / 0.00 / 1.00"
    # a constant negative current drives the membrane down from 0: its maximum is the first step
    assert negative["max-mem read at step 1"] == "1.00"
    positive = diagnosis.diagnose(diagnosis.model_path(str(tmp_path), "mountaincar-dqn", "snn", 1), states)
    assert positive["greedy actions (left, none, right)"] == "0.00, 1.00, 0.00"
    assert positive["max-mem read at step 1"] == "0.00"  # rising to the bias: the maximum is the last step


def test_table(diagnosis, tmp_path):
    save_run(tmp_path, "snn", 0, readout_bias=-3.0)
    out = tmp_path / "table.md"
    diagnosis.main(["--logs", str(tmp_path), "--policies", "snn", "--seeds", "0", "--states", "50", "--out", str(out)])
    lines = out.read_text().splitlines()
    assert lines[0].startswith("Made by `python scripts/trained_q_diagnosis.py --logs ")
    assert lines[2].startswith("| run | goal reached in training | input std (position, velocity) | max Q mean | max Q spread |")
    assert lines[4].startswith("| snn seed 0 | 2 / 4 | 0.5, 0.01 | -1.50 | 0.00 | 1.00, 0.00, 0.00 | ")
    diagnosis.main(
        ["--logs", str(tmp_path), "--policies", "snn", "ann", "--seeds", "0", "1", "--states", "50", "--out", str(out)]
    )
    lines = out.read_text().splitlines()
    assert [line.split(" | ")[0] for line in lines if line.startswith("| snn")] == ["| snn seed 0"]
    assert lines[-1] == "Not found (not run): snn seed 1, ann seed 0, ann seed 1."
    with pytest.raises(FileNotFoundError, match="run the learning suite first"):
        diagnosis.main(["--logs", str(tmp_path), "--policies", "ann", "--seeds", "0", "--out", "-"])
