"""Synaptic operations and energy, checked against counts computed by hand and against SpikingJelly's counters."""

import pytest
import torch as th
from spikingjelly.activation_based import layer
from spikingjelly.activation_based.op_counter import DispatchCounterMode, MACCounter, SynOpCounter
from torch import nn

from sb3_spiking.snn import IFNode, NonSpikingReadout, RepeatOverTime
from sb3_spiking.telemetry.energy import LayerOps, energy_report, is_spike_tensor
from sb3_spiking.telemetry.stats import spike_stats

T = 4


def hand_network() -> tuple[nn.Sequential, th.Tensor]:
    """
    encoder Linear(3, 4) -> IF -> Linear(4, 5) -> IF -> readout Linear(5, 2), T = 4, two observations.

    Observation 1 drives the first IF layer with currents (1.0, 0.5, 0.3, 0): its neurons fire at steps
    (1, 2, 3, 4), (2, 4), (4,) and never: 7 spikes. Observation 2 is zero: no spike anywhere. Only the first
    hidden neuron feeds the second layer (weight 1.5): its first neuron fires at the 4 steps of observation 1.
    """
    encoder, hidden, out = nn.Linear(3, 4), nn.Linear(4, 5), nn.Linear(5, 2)
    with th.no_grad():
        encoder.weight.copy_(2 * th.eye(4, 3))  # not 0/1, so that no counter mistakes the weights for spikes
        encoder.bias.zero_()
        hidden.weight.zero_()
        hidden.weight[0, 0] = 1.5
        hidden.bias.zero_()
    neuron = dict(v_threshold=1.0, v_reset=0.0, step_mode="m")
    net = nn.Sequential(encoder, RepeatOverTime(T), IFNode(**neuron), hidden, IFNode(**neuron), NonSpikingReadout(out, T))
    return net, th.tensor([[0.5, 0.25, 0.15], [0.0, 0.0, 0.0]])


def test_hand_counts_and_energy():
    net, obs = hand_network()
    with spike_stats(net) as stats:
        net(obs)
    layers = {layer.name: layer for layer in stats.synapses.values()}
    # encoder: static input, run once per observation: 2 obs x 3 x 4 MACs
    assert (layers["0"].mac, layers["0"].sop, layers["0"].ann_mac) == (24, 0, 24)
    # 7 input spikes x fan-out 5; 4 input spikes x fan-out 2
    assert (layers["3"].mac, layers["3"].sop, layers["3"].ann_mac) == (0, 35, 2 * 4 * 5)
    assert (layers["5.linear"].mac, layers["5.linear"].sop, layers["5.linear"].ann_mac) == (0, 8, 2 * 5 * 2)
    report = stats.energy()
    assert (report.mac, report.sop, report.ann_mac) == (12, 21.5, 42)  # per observation
    assert report.snn_energy_pj == pytest.approx(4.6 * 12 + 0.9 * 21.5)
    assert report.ann_energy_pj == pytest.approx(4.6 * 42)
    assert report.ratio_vs_ann == pytest.approx((4.6 * 12 + 0.9 * 21.5) / (4.6 * 42))
    custom = stats.energy(e_mac_pj=3.0, e_ac_pj=0.5)
    assert custom.snn_energy_pj == pytest.approx(3.0 * 12 + 0.5 * 21.5)
    assert "| **total** |" in report.table()


def test_matches_spikingjelly_counters():
    net, obs = hand_network()
    synops, macs = SynOpCounter(), MACCounter()
    with th.no_grad(), DispatchCounterMode([synops, macs]):
        net(obs)
    with spike_stats(net) as stats:
        net(obs)
    ours = stats.synapses
    assert synops.get_total() == sum(layer.sop for layer in ours.values()) == 43
    for name in ("0", "3", "5.linear"):
        assert sum(synops.get_counts()[f"Sequential.{name}"].values()) == ours[name].sop
        assert sum(macs.get_counts()[f"Sequential.{name}"].values()) == ours[name].mac
    # SpikingJelly also counts the output integrator (a [T, T] kernel times the currents) as MACs: we do not
    assert macs.get_total() == 24 + T * T * 2 * 2


def test_convolution_fan_out_at_borders():
    conv = layer.Conv2d(1, 3, kernel_size=2, stride=1, step_mode="m")
    spikes = th.zeros(2, 1, 1, 3, 3)  # [T, B, C, H, W]
    spikes[0, 0, 0, 0, 0] = 1  # corner: in 1 receptive field
    spikes[1, 0, 0, 1, 1] = 1  # centre: in 4
    spikes[1, 0, 0, 0, 1] = 1  # edge: in 2
    ops = LayerOps("conv")
    with th.no_grad():
        out = conv(spikes)
        ops.add(conv, spikes, out)
    assert ops.sop == (1 + 4 + 2) * 3
    assert ops.ann_mac == 1 * 2 * 2 * (3 * 2 * 2)  # C_in x kernel x outputs, one observation
    assert ops.n_obs == 1 and ops.mac == 0
    synops = SynOpCounter()
    with th.no_grad(), DispatchCounterMode([synops]):
        conv(spikes)
    assert synops.get_total() == ops.sop


def test_static_conv_is_mac():
    conv = nn.Conv2d(2, 4, kernel_size=3, stride=2)
    x = th.rand(5, 2, 9, 9)
    ops = LayerOps("encoder")
    ops.add(conv, x, conv(x))
    assert ops.mac == ops.ann_mac == 5 * (2 * 3 * 3) * (4 * 4 * 4)
    assert ops.sop == 0 and ops.kind == "MAC"


def test_is_spike_tensor():
    assert is_spike_tensor(th.tensor([0.0, 1.0, 1.0]))
    assert is_spike_tensor(th.tensor([True, False]))
    assert not is_spike_tensor(th.tensor([0.0, 0.5]))


@pytest.mark.parametrize("kwargs", [dict(e_mac_pj=-1.0), dict(e_ac_pj=float("nan"))])
def test_energy_constants_are_validated(kwargs):
    with pytest.raises(ValueError, match="pJ"):
        energy_report([], **kwargs)
