"""The threshold-aware initialisation, and the thresholds of the first layer spread over the standardised range."""

import math

import pytest
import torch as th
from stable_baselines3 import DQN, PPO, SAC
from torch import nn

import sb3_spiking  # noqa: F401
from sb3_spiking.snn import RunningNorm, SpikingConfig, spiking_init_, spiking_mlp
from sb3_spiking.snn.initialization import centre_second_layer_, spread_thresholds_


def crossings(layer: nn.Linear, v_threshold: float = 1.0) -> th.Tensor:
    """Where each neuron's current reaches the threshold, along its weight vector: ``(v_threshold - b) / |w|``."""
    return ((v_threshold - layer.bias) / layer.weight.norm(dim=1)).detach()


def test_spread_thresholds_by_hand():
    layer = nn.Linear(2, 3)
    with th.no_grad():
        layer.weight.copy_(th.tensor([[3.0, 4.0], [0.0, 2.0], [-1.0, 0.0]]))
    th.manual_seed(0)
    offsets = th.empty(3).uniform_(-1.5, 1.5)
    th.manual_seed(0)
    spread_thresholds_(layer, v_threshold=0.5, span=1.5)
    # b = v_threshold - |w| c with |w| = 5, 2, 1
    th.testing.assert_close(layer.bias.data, 0.5 - th.tensor([5.0, 2.0, 1.0]) * offsets)
    # the current of neuron j at x = c_j w_j / |w_j| is the threshold
    at_crossing = offsets.view(-1, 1) * layer.weight / layer.weight.norm(dim=1, keepdim=True)
    currents = (at_crossing * layer.weight).sum(dim=1) + layer.bias
    th.testing.assert_close(currents.detach(), th.full((3,), 0.5))
    with pytest.raises(ValueError, match="biases"):
        spread_thresholds_(nn.Linear(2, 3, bias=False), 1.0, 1.0)


def test_a_share_of_the_neurons_is_spread():
    th.manual_seed(0)
    net = spiking_mlp(2, [400], SpikingConfig(input_span=3.0, input_spread=0.25), raw_input=True)
    c = crossings(net[1])
    # the first 100 neurons spread over [-3, 3], the other 300 with zero biases (their threshold at 1 / |w|)
    assert float(c[:100].abs().max()) <= 3.0 and float(c[:100].std()) > 1.5
    assert float(net[1].bias[100:].detach().abs().max()) == 0.0


def test_only_the_layer_behind_the_standardisation_is_spread():
    th.manual_seed(0)
    net = spiking_mlp(2, [512, 64], SpikingConfig(input_span=3.0, v_threshold=2.0), raw_input=True)
    assert isinstance(net[0], RunningNorm) and isinstance(net[1], nn.Linear)
    c = crossings(net[1], v_threshold=2.0)
    assert float(c.abs().max()) <= 3.0 and float(c.min()) < -2.8 and float(c.max()) > 2.8
    assert abs(float(c.std()) - 3.0 / math.sqrt(3.0)) < 0.15  # uniform over [-3, 3]
    assert float(net[4].bias.detach().abs().max()) == 0.0  # the second layer keeps zero biases
    # no standardisation (raw inputs, or input_norm=False), a population encoder, or span 0: zero biases everywhere
    for kwargs, raw in ((dict(input_span=3.0), False), (dict(input_span=3.0, input_norm=False), True),
                        (dict(input_span=3.0, encoder="population"), True), (dict(), True)):  # fmt: skip
        net = spiking_mlp(2, [16], SpikingConfig(**kwargs), raw_input=raw)
        linear = next(module for module in net if isinstance(module, nn.Linear))
        assert float(linear.bias.detach().abs().max()) == 0.0, kwargs


def test_spread_thresholds_code_the_distance_from_the_mean():
    """Zero biases put every threshold within a quarter of a standard deviation of the mean: along a ray from the
    mean, the first layer's firing pattern hardly changes beyond 2 std (only neurons nearly orthogonal to the ray
    still cross). Spread thresholds keep it changing."""
    ray = th.tensor([[2.0, 1.0]]) / math.sqrt(5.0) * th.linspace(2.0, 7.0, 5).view(-1, 1)
    changed = {}
    for span in (0.0, 6.0):
        th.manual_seed(0)
        net = spiking_mlp(2, [256], SpikingConfig(input_span=span), raw_input=True).eval()
        with th.no_grad():
            rates = net(ray).mean(dim=0)
        changed[span] = float((rates[-1] != rates[0]).float().mean())
    assert changed[0.0] < 0.15
    assert changed[6.0] > 0.2 and changed[6.0] > 1.8 * changed[0.0]


@pytest.mark.parametrize("algo, env", [(DQN, "CartPole-v1"), (PPO, "CartPole-v1"), (SAC, "Pendulum-v1")])
def test_policies_spread_their_first_layers(algo, env):
    """Every family: the first layer behind the standardisation starts spread (PPO's ``ortho_init`` re-initialisation
    included), and the knob is saved with the model. The ANN value function's own standardisation feeds an ANN layer,
    which keeps SB3's initialisation."""
    th.manual_seed(0)
    model = algo("SpikingMlpPolicy", env, policy_kwargs=dict(input_span=2.0, input_spread=0.5))
    ann_value = getattr(getattr(model.policy, "mlp_extractor", None), "value_net", None)
    spread = [
        crossings(layer)
        for sequence in model.policy.modules()
        if isinstance(sequence, nn.Sequential) and sequence is not ann_value
        for previous, layer in zip(sequence, list(sequence)[1:])
        if isinstance(previous, RunningNorm)
    ]
    assert len(spread) == (2 if algo is DQN else 1)  # DQN: the online network and its target
    halves = [c[: len(c) // 2] for c in spread]  # the spread half (the other keeps zero biases)
    assert spread and all(float(c.abs().max()) <= 2.0 and float(c.std()) > 0.5 for c in halves)
    knobs = model.policy.resolved_knobs()
    assert knobs["input_span"] == 2.0 and knobs["input_spread"] == 0.5


def test_spiking_init_keeps_its_gain():
    layer = spiking_init_(nn.Linear(400, 2000), v_threshold=0.5, gain=4.0)
    assert abs(float(layer.weight.detach().std()) - 4.0 * 0.5 / 20.0) < 0.002
    assert float(layer.bias.detach().abs().max()) == 0.0


def test_input_gain_scales_the_first_layer_only():
    """``input_gain`` rescales the same draw of the first layer behind the standardisation; the others keep gain 4,
    and the thresholds are spread along the rescaled weights."""
    nets = {}
    for gain in (4.0, 1.0):
        th.manual_seed(0)
        nets[gain] = spiking_mlp(3, [64, 32], SpikingConfig(input_span=2.0, input_gain=gain), raw_input=True)
    first, second = nets[1.0][1], nets[1.0][4]
    th.testing.assert_close(first.weight.detach(), nets[4.0][1].weight.detach() / 4.0)
    th.testing.assert_close(second.weight.detach(), nets[4.0][4].weight.detach())
    assert float(crossings(first).abs().max()) <= 2.0 and float(crossings(first).std()) > 0.8
    # no spread: zero biases, weights still rescaled
    th.manual_seed(0)
    plain = spiking_mlp(3, [64], SpikingConfig(input_gain=2.0), raw_input=True)
    th.manual_seed(0)
    reference = spiking_mlp(3, [64], SpikingConfig(), raw_input=True)
    th.testing.assert_close(plain[1].weight.detach(), reference[1].weight.detach() / 2.0)
    assert float(plain[1].bias.detach().abs().max()) == 0.0


def test_input_gain_sets_the_ramp_of_the_first_layer():
    """A LIF neuron (tau 2, T=8, from rest, hard reset) of the first layer, its threshold spread to the mean, fed
    ``d`` std along its weights: current ``1 + |w| d`` with ``|w|`` near ``input_gain`` (10,000 inputs), firing every
    ``k`` steps, ``k`` the first with ``(1 + |w| d)(1 - 2^-k) >= 1``. Gain 1 grades the rate over one std, gain 4
    over a quarter of one."""
    along = th.tensor([-0.5, 0.1, 0.3, 0.6, 1.5])
    expected = {1.0: [0.0, 0.25, 0.25, 0.5, 1.0], 4.0: [0.0, 0.5, 1.0, 1.0, 1.0]}
    for gain, rates in expected.items():
        th.manual_seed(0)
        net = spiking_mlp(10_000, [1], SpikingConfig(input_span=1e-6, input_gain=gain), raw_input=True).eval()
        weight = net[1].weight.detach()
        assert abs(float(weight.norm()) - gain) < 0.03 * gain
        with th.no_grad():
            fired = net(along.view(-1, 1) * weight / weight.norm())
        assert fired.mean(dim=0).flatten().tolist() == rates, gain
    knobs = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(input_gain=1.0)).policy.resolved_knobs()
    assert knobs["input_gain"] == 1.0


def test_centre_second_layer_by_hand():
    net = spiking_mlp(2, [2, 3], SpikingConfig(input_span=1.0, v_threshold=0.5), raw_input=True)
    first, second = net[1], net[4]
    with th.no_grad():
        first.weight.copy_(th.tensor([[3.0, 4.0], [0.0, 2.0]]))  # |w| = 5 and 2
        first.bias.copy_(th.tensor([0.5 - 5.0 * 0.5, 0.5 + 2.0 * 1.0]))  # thresholds at +0.5 and -1 std
        second.weight.copy_(th.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]]))
    centre_second_layer_(first, second, v_threshold=0.5)
    rates = [0.3085375, 0.8413447]  # P(z > 0.5), P(z > -1)
    expected = [0.5 - rates[0], 0.5 - 2.0 * rates[1], 0.5 - rates[0] + rates[1]]  # mean currents at the threshold
    assert second.bias.detach().tolist() == pytest.approx(expected, abs=1e-6)
    assert first.bias.detach().tolist() == pytest.approx([-2.0, 2.5])  # the first layer is left as it was


def test_centred_second_layer_fires_near_its_threshold_on_standardised_inputs():
    th.manual_seed(0)
    inputs = th.randn(4000, 4)  # standardised observations
    deviation, silent = {}, {}
    for centre in (False, True):
        net = spiking_mlp(4, [256, 256], SpikingConfig(input_span=3.0, centre_second_layer=centre), raw_input=True)
        net[0].eval()  # the statistics of a standard normal: the identity
        with th.no_grad():
            first_spikes = net[3](net[2](net[1](inputs)))
            current = net[4](first_spikes.mean(dim=0)).mean(dim=0)  # each second-layer neuron's mean current
            rates = net[5](net[4](first_spikes)).mean(dim=(0, 1))
        deviation[centre] = float((current - 1.0).abs().mean())  # from the threshold, 1
        silent[centre] = float((rates == 0).float().mean())
    # centred: every neuron's mean current near the threshold, none silent; uncentred: about 2 thresholds off, 8% silent
    assert deviation[True] < 0.2 and deviation[False] > 1.5
    assert silent[True] == 0.0 and silent[False] > 0.05
    # the knob is saved with the model
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(input_span=3.0, centre_second_layer=True), seed=0)
    assert model.policy.resolved_knobs()["centre_second_layer"] is True
