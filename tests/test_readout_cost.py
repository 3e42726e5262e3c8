"""Issue 21, case 6: the readout's memory and time are linear in T, with the same values."""

import subprocess
import sys
import textwrap

import pytest
import torch as th

from sb3_spiking.snn import DECODERS, NonSpikingReadout, SpikingConfig, leaky_integrator_kernel, spiking_head
from sb3_spiking.snn.readout import BLOCK
from tests.reference import _decode, reference_forward

POTENTIAL_DECODERS = [decoder for decoder in DECODERS if decoder != "fr-mlp"]


def reference_readout(readout: NonSpikingReadout, spikes: th.Tensor) -> th.Tensor:
    """Step by step in float64: u <- u + (W s + b - u) / tau, then the decoder's statistic."""
    u, trace = th.zeros(()), []
    for step in spikes.double():
        u = u + (th.nn.functional.linear(step, readout.linear.weight.double(), readout.linear.bias.double()) - u) / readout.tau
        trace.append(u)
    return _decode(readout.decoder, th.stack(trace))


@pytest.mark.parametrize("decoder", POTENTIAL_DECODERS)
@pytest.mark.parametrize("T", [1, 8, BLOCK, BLOCK + 1, 3 * BLOCK + 5, 4000])
@pytest.mark.parametrize("tau", [1.0, 2.0, 7.5])
def test_case6_long_runs_give_the_reference_values(decoder, T, tau):
    th.manual_seed(T)
    readout = NonSpikingReadout(th.nn.Linear(6, 3), T, decoder, tau)
    spikes = (th.rand(T, 5, 6) < 0.3).float()
    expected = reference_readout(readout, spikes)
    th.testing.assert_close(readout(spikes).double(), expected, rtol=1e-5, atol=1e-5)
    membrane = readout.membrane(spikes)
    assert membrane.shape == (T, 5, 3)
    th.testing.assert_close(
        _decode("last-mem", membrane.double()),
        reference_readout(readout.__class__(readout.linear, T, "last-mem", tau), spikes),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("decoder", DECODERS)
def test_case6_a_spiking_network_at_long_T_matches_the_float64_reference(decoder):
    T = 2 * BLOCK + 17
    spiking = SpikingConfig(T=T, neuron="lif", decoder=decoder, decoder_tau=3.0)
    net = spiking_head(4, 2, [8], spiking).double()
    x = th.randn(3, 4, dtype=th.float64) * 2
    out = net(x)
    th.testing.assert_close(out, reference_forward(net, x, T), rtol=1e-6, atol=1e-6)  # the kernel is kept in float32
    out.sum().backward()  # and gradients flow through the blocks
    assert all(p.grad is not None and bool(th.isfinite(p.grad).all()) for p in net.parameters())


def test_case6_membrane_of_a_train_longer_than_T():
    readout = NonSpikingReadout(th.nn.Linear(3, 2), 8, "last-mem", 3.0)
    spikes = (th.rand(3 * BLOCK, 4, 3) < 0.5).float()
    expected = reference_readout(NonSpikingReadout(readout.linear, 3 * BLOCK, "last-mem", 3.0), spikes)
    th.testing.assert_close(readout.membrane(spikes)[-1].double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("decoder", DECODERS)
def test_case6_the_readout_holds_no_T_by_T_matrix(decoder):
    for T in (8, 4000, 20000):
        readout = NonSpikingReadout(th.nn.Linear(4, 2), T, decoder)
        held = sum(buffer.numel() for buffer in readout.buffers())
        assert held <= max(T, BLOCK * BLOCK) + BLOCK


def test_case6_small_T_keeps_the_one_matrix_product():
    readout = NonSpikingReadout(th.nn.Linear(4, 2), 8, "max-mem")
    th.testing.assert_close(readout.kernel, leaky_integrator_kernel(8, 2.0), rtol=0, atol=0)


def test_case6_memory_is_linear_in_T():
    """Forward and backward at T=20000 in a fresh process: the peak resident memory grows by far less than T x T."""
    code = textwrap.dedent(
        """
        import resource, torch as th
        from sb3_spiking.snn import NonSpikingReadout
        th.set_num_threads(1)
        T = 20000
        readout = NonSpikingReadout(th.nn.Linear(16, 4), T, "max-abs-mem")
        spikes = (th.rand(T, 2, 16) < 0.2).float()
        readout(spikes[:100]).sum()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        readout(spikes).sum().backward()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    grown_mib = float(result.stdout.strip())
    assert grown_mib < 100, f"T=20000 grew the peak memory by {grown_mib:.0f} MiB (a T x T float32 matrix is 1526 MiB)"
