"""lab/trained_q_diagnosis.py: each reported quantity on a Q-network whose weights are set by hand."""

from pathlib import Path

import gymnasium as gym
import pytest
import torch as th
from scripts_loader import load_script
from stable_baselines3 import DQN


@pytest.fixture(scope="module")
def diagnosis():
    return load_script("trained_q_diagnosis")


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
    negative = diagnosis.diagnose(diagnosis.model_path(str(tmp_path), "mountaincar-dqn", "snn", 0), "MountainCar-v0", states)
    assert negative["episodes ended before the time limit, training"] == "2 / 4"
    # always pushing left never reaches the goal: every greedy episode lasts the 200 steps
    assert negative["greedy episodes: length, last observation"].startswith("200.0; ")
    assert negative["input std"] == "0.5, 0.01"
    assert "population centres, first dimension" not in negative  # the linear encoder
    assert negative["max Q spread"] == "0.00"  # no synapse carries the state
    assert negative["max Q mean"] == "-1.50"  # max-mem of a constant current -3 with tau 2: the first step, -3 / 2
    # equal Q-values for actions 0 and 2 (bias -3), action 1 lower: argmax takes the first
    assert negative["greedy action shares"] == "1.00, 0.00, 0.00"
    assert negative["layer 1: rate / silent / saturated / binary"] == "0.50 / 0.50 / 0.50 / 1.00"
    assert negative["layer 2: rate / silent / saturated / binary"] == "0.00 / 1.00 / 0.00 / 1.00"
    # a constant negative current drives the membrane down from 0: its maximum is the first step
    assert negative["max-mem read at step 1"] == "1.00"
    positive = diagnosis.diagnose(diagnosis.model_path(str(tmp_path), "mountaincar-dqn", "snn", 1), "MountainCar-v0", states)
    assert positive["greedy action shares"] == "0.00, 1.00, 0.00"
    assert positive["max-mem read at step 1"] == "0.00"  # rising to the bias: the maximum is the last step


def test_table(diagnosis, tmp_path):
    save_run(tmp_path, "snn", 0, readout_bias=-3.0)
    out = tmp_path / "table.md"
    diagnosis.main(["--logs", str(tmp_path), "--policies", "snn", "--seeds", "0", "--states", "50", "--out", str(out)])
    lines = out.read_text().splitlines()
    assert lines[0].startswith("Made by `python lab/trained_q_diagnosis.py --logs ")
    assert "Probe states: 50 drawn uniformly over MountainCar-v0's observation space." in lines[0]
    assert lines[2].startswith("| run | episodes ended before the time limit, training | greedy episodes: length, last ")
    assert lines[4].startswith("| snn seed 0 | 2 / 4 | 200.0; ")
    assert "| 0.5, 0.01 | -1.50 | 0.00 | 1.00, 0.00, 0.00 | " in lines[4]
    diagnosis.main(
        ["--logs", str(tmp_path), "--policies", "snn", "ann", "--seeds", "0", "1", "--states", "50", "--out", str(out)]
    )
    lines = out.read_text().splitlines()
    assert [line.split(" | ")[0] for line in lines if line.startswith("| snn")] == ["| snn seed 0"]
    assert lines[-1] == "Not found (not run): snn seed 1, ann seed 0, ann seed 1."
    with pytest.raises(FileNotFoundError, match="run the learning suite first"):
        diagnosis.main(["--logs", str(tmp_path), "--policies", "ann", "--seeds", "0", "--out", "-"])


def test_probe_states(diagnosis, tmp_path):
    mountain = gym.make("MountainCar-v0").observation_space
    states = diagnosis.uniform_states(mountain, 500)
    assert states.shape == (500, 2) and bool((states >= th.as_tensor(mountain.low)).all())
    assert bool((states <= th.as_tensor(mountain.high)).all()) and float(states[:, 0].std()) > 0.4  # spread over [-1.2, 0.6]
    assert diagnosis.uniform_states(gym.make("CartPole-v1").observation_space, 500) is None  # infinite velocity bounds
    # On CartPole the Q-network is probed on the greedy episodes' states: a constant action ends each episode early
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[4], T=2), seed=0)
    run = tmp_path / "cartpole-dqn" / "snn-seed0" / "dqn" / "CartPole-v1_1"
    run.mkdir(parents=True)
    model.save(run / "CartPole-v1.zip")
    (run / "0.monitor.csv").write_text('#{"t_start": 0}\nr,l,t\n20,20,1\n500,500,2\n')
    row = diagnosis.diagnose(diagnosis.model_path(str(tmp_path), "cartpole-dqn", "snn", 0, "CartPole-v1"), "CartPole-v1", None)
    assert row["episodes ended before the time limit, training"] == "1 / 2"
    length = float(row["greedy episodes: length, last observation"].split(";")[0])
    assert 8 <= length < 500


def test_population_centres(diagnosis, tmp_path):
    model = DQN("SpikingMlpPolicy", "MountainCar-v0", policy_kwargs=dict(net_arch=[4], T=2, encoder="population", pop_size=5))
    run = tmp_path / "mountaincar-dqn" / "snn-pop-seed0" / "dqn" / "MountainCar-v0_1"
    run.mkdir(parents=True)
    model.save(run / "MountainCar-v0.zip")
    (run / "0.monitor.csv").write_text('#{"t_start": 0}\nr,l,t\n-200,200,1\n')
    path = diagnosis.model_path(str(tmp_path), "mountaincar-dqn", "snn-pop", 0)
    row = diagnosis.diagnose(path, "MountainCar-v0", diagnosis.uniform_states(model.observation_space, 20), episodes=1)
    assert row["population centres, first dimension"] == "-2.00 to 2.00"  # untrained: evenly over the standardised [-2, 2]
