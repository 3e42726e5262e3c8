"""lab/leaky_diagnosis.py: the quantities it reports, checked by hand on small cases, and its table."""

import pytest
import torch as th
from scripts_loader import load_script

from sb3_spiking.snn import SpikingConfig, spiking_mlp


@pytest.fixture(scope="module")
def diagnosis():
    return load_script("leaky_diagnosis")


def test_graded_band(diagnosis):
    if_neuron = SpikingConfig(neuron="if").make_neuron()
    lif_neuron = SpikingConfig(neuron="lif", tau=2.0).make_neuron()
    # IF: a constant current x fires within T steps iff T x >= threshold, at every step iff x >= threshold
    assert diagnosis.graded_band(if_neuron, 8) == pytest.approx((1 / 8, 1.0))
    # LIF tau=2: h_n = x (1 - 2^-n) from rest, so the band is (1 / (1 - 2^-8), 2)
    assert diagnosis.graded_band(lif_neuron, 8) == pytest.approx((1 / (1 - 2**-8), 2.0))
    # and the network's own neurons agree: currents just inside the band fire on some steps, not on all
    for neuron in (if_neuron, lif_neuron):
        low, high = diagnosis.graded_band(neuron, 8)
        for current, expected in ((low * 0.99, 0.0), (low * 1.01, None), (high * 0.99, None), (high * 1.01, 1.0)):
            rate = float(neuron(th.full((8, 1, 1), current)).mean())
            assert rate == expected if expected is not None else 0.0 < rate < 1.0


def test_measure_by_hand(diagnosis):
    # one LIF tau=2 layer whose two neurons get constant currents 1.5 and 0.5 (over the threshold of 1)
    net = spiking_mlp(2, [2], SpikingConfig(neuron="lif", tau=2.0, T=4))
    with th.no_grad():
        net[0].weight.copy_(th.eye(2))
    (record,) = diagnosis.layer_records(net, th.tensor([[1.5, 0.5]]))
    # neuron 1: h = 0.75, 1.125 (spike, reset), 0.75, 1.125 (spike); neuron 2 never reaches 1
    assert record["spikes"][:, 0, 0].tolist() == [0.0, 1.0, 0.0, 1.0] and record["spikes"][:, 0, 1].sum() == 0
    m = diagnosis.measure(record)
    assert m["rate"] == pytest.approx(0.25) and m["silent"] == pytest.approx(0.5)
    assert m["graded"] == pytest.approx(0.5) and m["saturated"] == 0.0 and m["above"] == pytest.approx(0.5)


def test_calibration_reaches_its_target(diagnosis):
    observations = th.as_tensor(diagnosis.observations("CartPole-v1", 256))
    th.manual_seed(0)
    net = spiking_mlp(4, [64, 64], SpikingConfig(neuron="lif", tau=2.0))
    scales = diagnosis.calibrate_(net, observations, target=0.2)
    rates = [float(record["spikes"].mean()) for record in diagnosis.layer_records(net, observations)]
    assert rates == pytest.approx([0.2, 0.2], abs=0.02) and len(scales) == 2


def test_table(diagnosis, tmp_path):
    out = tmp_path / "diagnosis.md"
    diagnosis.main(["--envs", "CartPole-v1", "--seeds", "0", "--n-obs", "64", "--out", str(out)])
    rows = [line for line in out.read_text().splitlines() if line.startswith("| CartPole-v1 | ")]
    assert len(rows) == 1 + len(diagnosis.NEURONS) * len(diagnosis.VARIANTS) * 2
    for row in rows[1:]:
        cells = row.split("|")[5:-1]
        i_p50, i_p90, above, rate, silent, graded, saturated, surrogate, scale = map(float, cells)
        assert i_p50 <= i_p90 and 0.0 <= above <= 1.0 and 0.0 <= silent <= 1.0 and scale > 0.0
        assert 0.0 <= rate <= 1.0 and graded + saturated <= 1.0 and 0.0 < surrogate <= 1.0
