import pytest
import torch as th
from torch import nn

from sb3_spiking.snn import DECODERS, NEURONS, SURROGATES, NonSpikingReadout, SpikingConfig, leaky_integrator_kernel


def identity_readout(n: int, T: int, decoder: str, tau: float) -> NonSpikingReadout:
    linear = nn.Linear(n, n)
    with th.no_grad():
        linear.weight.copy_(th.eye(n))
        linear.bias.zero_()
    return NonSpikingReadout(linear, T, decoder, tau)


# One output neuron driven by currents 2, -4, 1, 0 with tau = 2, integrated by hand from v = 0:
# v1 = 0 + (2 - 0) / 2 = 1; v2 = 1 + (-4 - 1) / 2 = -1.5; v3 = -1.5 + (1 + 1.5) / 2 = -0.25;
# v4 = -0.25 + (0 + 0.25) / 2 = -0.125
CURRENTS = [2.0, -4.0, 1.0, 0.0]
HAND_DECODED = {
    "last-mem": -0.125,
    "max-mem": 1.0,
    "max-abs-mem": -1.5,
    "mean-mem": (1.0 - 1.5 - 0.25 - 0.125) / 4,
    "fr-mlp": (2.0 - 4.0 + 1.0 + 0.0) / 4,  # the linear layer of the mean input rate
}


@pytest.mark.parametrize("decoder", DECODERS)
def test_decoders_by_hand(decoder):
    readout = identity_readout(1, T=4, decoder=decoder, tau=2.0)
    x = th.tensor(CURRENTS).view(4, 1, 1)
    assert readout(x).item() == pytest.approx(HAND_DECODED[decoder])


def test_membrane_by_hand():
    readout = identity_readout(1, T=4, decoder="last-mem", tau=2.0)
    v = readout.membrane(th.tensor(CURRENTS).view(4, 1, 1)).flatten().tolist()
    assert v == pytest.approx([1.0, -1.5, -0.25, -0.125])


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("T", [1, 3, 8])
@pytest.mark.parametrize("tau", [1.0, 2.0, 5.0])
def test_decoders_match_a_step_by_step_integrator(decoder, T, tau):
    readout = identity_readout(3, T=T, decoder=decoder, tau=tau)
    x = th.randn(T, 5, 3)
    v, potentials = th.zeros(5, 3), []
    for t in range(T):
        v = v + (x[t] - v) / tau
        potentials.append(v)
    v_seq = th.stack(potentials)
    expected = {
        "last-mem": v_seq[-1],
        "max-mem": v_seq.max(0).values,
        "max-abs-mem": v_seq.gather(0, v_seq.abs().argmax(0, keepdim=True))[0],
        "mean-mem": v_seq.mean(0),
        "fr-mlp": x.mean(0),
    }[decoder]
    th.testing.assert_close(readout(x), expected)


def test_kernel_is_lower_triangular_geometric():
    kernel = leaky_integrator_kernel(3, 4.0)
    expected = th.tensor([[0.25, 0, 0], [0.1875, 0.25, 0], [0.140625, 0.1875, 0.25]])
    th.testing.assert_close(kernel, expected)


def test_static_input_is_a_constant_current():
    readout = identity_readout(2, T=5, decoder="max-mem", tau=2.0)
    x = th.tensor([[1.0, -1.0]])
    th.testing.assert_close(readout(x), readout(x.expand(5, 1, 2)))


def test_lif_fires_as_computed_by_hand():
    # Constant input 1.5, tau 2, threshold 1, hard reset to 0:
    # v = 0.75 (no spike), 1.125 (spike, reset), 0.75, 1.125 (spike)
    lif = SpikingConfig(neuron="lif", tau=2.0).make_neuron()
    spikes = lif(th.full((4, 1, 1), 1.5))
    assert spikes.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]


def test_if_fires_as_computed_by_hand():
    # Constant input 0.4, no leak: v = 0.4, 0.8, 1.2 (spike, reset), 0.4, 0.8, 1.2 (spike)
    if_node = SpikingConfig(neuron="if").make_neuron()
    spikes = if_node(th.full((6, 1, 1), 0.4))
    assert spikes.flatten().tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]


def test_soft_reset_keeps_the_charge_above_threshold():
    # Constant input 0.7, no leak, threshold 1. Hard reset: 0.7, 1.4 (spike, 0), 0.7, 1.4 (spike)... rate 1/2.
    # Soft reset: 0.7, 1.4 (spike, 0.4), 1.1 (spike, 0.1), 0.8, 1.5 (spike, 0.5), 1.2 (spike, 0.2), 0.9, 1.6 (spike)
    x = th.full((8, 1, 1), 0.7)
    hard = SpikingConfig(neuron="if", reset="hard").make_neuron()(x)
    soft = SpikingConfig(neuron="if", reset="soft").make_neuron()(x)
    assert hard.flatten().tolist() == [0.0, 1.0] * 4
    assert soft.flatten().tolist() == [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    # LIF, tau 2, input 2.2, threshold 1.2. Hard: h = 1.1, 1.65 (spike, 0), 1.1, 1.65 (spike).
    # Soft: 1.1, 1.65 (spike, 0.45), 0.45 + (2.2 - 0.45) / 2 = 1.325 (spike, 0.125), 1.1625
    x = th.full((4, 1, 1), 2.2)
    for reset, expected in (("hard", [0.0, 1.0, 0.0, 1.0]), ("soft", [0.0, 1.0, 1.0, 0.0])):
        lif = SpikingConfig(neuron="lif", reset=reset, v_threshold=1.2).make_neuron()
        assert lif(x).flatten().tolist() == expected


@pytest.mark.parametrize("neuron", NEURONS)
def test_neurons_start_from_rest_at_every_call(neuron):
    node = SpikingConfig(neuron=neuron).make_neuron()
    x = th.rand(8, 3, 5) * 2
    first = node(x)
    node(th.rand(8, 7, 5) * 3)  # another batch size in between
    th.testing.assert_close(node(x), first)


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_surrogate_gradient_flows(surrogate):
    node = SpikingConfig(surrogate=surrogate).make_neuron()
    x = (th.rand(4, 2, 3) * 2).requires_grad_()
    node(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(neuron="izhikevich"), ["'if'", "'lif'", "'plif'"]),
        (dict(surrogate="relu"), ["'atan'", "'sigmoid'"]),
        (dict(decoder="max_mem"), ["'last-mem'", "'max-mem'", "'max-abs-mem'", "'mean-mem'", "'fr-mlp'"]),
        (dict(T=0), ["T must be an integer >= 1"]),
        (dict(T=2.5), ["T must be an integer >= 1"]),
        (dict(tau=1.0), ["tau must be > 1"]),
        (dict(neuron="plif", tau=0.5), ["tau must be > 1"]),
        (dict(v_threshold=0.0), ["v_threshold must be > 0"]),
        (dict(decoder_tau=0.5), ["decoder_tau must be >= 1"]),
        (dict(detach_reset="yes"), ["detach_reset must be True or False"]),
        (dict(reset="subtract"), ["'hard'", "'soft'"]),
        (dict(input_clip=0.0), ["input_clip must be > 0, a finite number"]),
        (dict(input_clip=float("inf")), ["input_clip must be > 0, a finite number"]),
        (dict(input_clip="3"), ["input_clip must be > 0, a finite number"]),
        (dict(input_span=-1.0), ["input_span must be >= 0, a finite number"]),
        (dict(input_span=float("nan")), ["input_span must be >= 0, a finite number"]),
        (dict(input_spread=0.0), ["input_spread must be > 0, a finite number"]),
        (dict(input_spread=1.5), ["input_spread must be in (0, 1]"]),
        (dict(input_gain=0.0), ["input_gain must be > 0, a finite number"]),
    ],
)
def test_bad_knobs_are_refused_with_the_valid_choices(kwargs, words):
    with pytest.raises(ValueError) as error:
        SpikingConfig(**kwargs)
    for word in words:
        assert word in str(error.value)


def test_if_neuron_ignores_tau():
    assert SpikingConfig(neuron="if", tau=3.0).make_neuron()(th.ones(4, 1)).flatten().tolist() == [1.0] * 4
