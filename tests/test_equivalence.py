"""
The fast path (first layer once, time folded into the batch, the fused neuron update) computes what a plain
step-by-step simulation computes: same outputs, same gradients.
"""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from reference import population_readout, reference_forward, reference_q_values
from spikingjelly.activation_based.neuron import BaseNode

from sb3_spiking.policies import SpikingCnnDQNPolicy, SpikingDQNPolicy
from sb3_spiking.snn import DECODERS, NEURONS, SURROGATES, PopulationReadout, RunningNorm, SpikingConfig, spiking_head
from sb3_spiking.snn.fused import fused_multi_step, fused_supported


def sj_multi_step(node, x_seq):
    """SpikingJelly's own multi-step update of the layer (the class our neurons derive from), from rest."""
    sj_class = next(c for c in type(node).__mro__[1:] if c.__module__.startswith("spikingjelly"))
    try:
        return sj_class.forward(node, x_seq)
    finally:
        node.reset()


def q_policy(policy_class, observation_space, gain, **spiking):
    """
    A float64 Q-policy (no spike flips on rounding, so outputs compare tightly), weights scaled to fire, observation
    statistics away from the identity, in evaluation mode (the statistics stay as set).
    """
    policy = policy_class(observation_space, spaces.Discrete(3), lambda _: 1e-3, **spiking).double()
    generator = th.Generator().manual_seed(0)
    with th.no_grad():
        for name, param in policy.named_parameters():
            if name.endswith("weight"):
                param.mul_(gain)
        for norm in (m for m in policy.modules() if isinstance(m, RunningNorm)):
            norm.running_mean.normal_(0.0, 0.5, generator=generator)
            norm.running_var.uniform_(0.25, 4.0, generator=generator)
            norm.running_count.fill_(100)
    policy.set_training_mode(False)
    return policy


def assert_every_layer_fires(q_net, features):
    rates = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: rates.append(out.mean().item()))
        for m in q_net.modules()
        if isinstance(m, BaseNode)
    ]
    q_net.q_net(q_net.features_extractor(features))
    for hook in hooks:
        hook.remove()
    assert all(0.0 < rate < 1.0 for rate in rates), f"firing rates {rates}: the comparison would be vacuous"


@pytest.mark.parametrize("reset", ["hard", "soft"])
@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("neuron", NEURONS)
def test_fused_neuron_matches_spikingjelly(neuron, surrogate, detach_reset, static, reset):
    config = SpikingConfig(T=6, neuron=neuron, tau=3.0, surrogate=surrogate, detach_reset=detach_reset, reset=reset)
    node = config.make_neuron().double()
    x0 = (th.randn(*([3, 7] if static else [6, 3, 7]), dtype=th.float64) * 1.5 + 0.6).requires_grad_(True)
    x_seq = x0.expand(6, 3, 7)  # static: a constant current, a view with stride 0 over time
    assert fused_supported(node, x_seq)
    grad_out = th.randn(6, 3, 7, dtype=th.float64)
    results = []
    for run in (fused_multi_step, sj_multi_step):
        spikes = run(node, x_seq)
        (spikes * grad_out).sum().backward()
        results.append((spikes.detach(), x0.grad.clone(), None if neuron != "plif" else node.w.grad.clone()))
        x0.grad = None
        node.zero_grad()
    (fused, fused_grad, fused_w), (sj, sj_grad, sj_w) = results
    assert 0 < fused.sum() < fused.numel(), "the input should make some neurons fire and some not"
    assert th.equal(fused, sj)
    th.testing.assert_close(fused_grad, sj_grad, rtol=1e-9, atol=1e-12)
    if neuron == "plif":
        th.testing.assert_close(fused_w, sj_w, rtol=1e-9, atol=1e-12)


def test_fused_neuron_float32_and_state():
    node = SpikingConfig(T=8).make_neuron()
    x_seq = th.randn(8, 16, 32) + 0.5
    fused = node(x_seq)
    assert th.allclose(fused, sj_multi_step(node, x_seq))
    assert fused.dtype == th.float32 and isinstance(node.v, float), "the fused update leaves no state behind"
    with th.inference_mode():
        assert th.equal(node(x_seq), fused)


def test_unsupported_configurations_use_spikingjelly():
    node = SpikingConfig(T=4).make_neuron()
    assert not fused_supported(node, th.zeros(4, 2, 3, dtype=th.float16))
    node.store_v_seq = True
    assert not fused_supported(node, th.zeros(4, 2, 3))
    out = node(th.ones(4, 2, 3) * 0.8)
    assert out.shape == (4, 2, 3) and node.v_seq is None, "the fallback path still resets the layer"


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("T", [1, 4, 8])
def test_cnn_q_network_matches_step_by_step(T, decoder):
    observation_space = spaces.Box(0, 255, (2, 40, 40), np.uint8)  # channel-first, as SB3 hands images to policies
    policy = q_policy(SpikingCnnDQNPolicy, observation_space, gain=8.0, T=T, decoder=decoder, neuron="lif")
    obs = th.as_tensor(np.stack([observation_space.sample() for _ in range(6)]))
    q_net = policy.q_net
    features = (obs.float() / 255.0).double()  # what reference_q_values feeds its float64 network
    assert_every_layer_fires(q_net, features)
    fast = q_net.q_net(q_net.features_extractor(features))  # q_net(obs) in float64
    reference = reference_q_values(q_net, obs)
    th.testing.assert_close(fast, reference, rtol=1e-9, atol=1e-10)
    # and the gradients of every parameter
    fast.pow(2).sum().backward()
    fast_grads = [p.grad.clone() for p in policy.q_net.parameters()]
    policy.q_net.zero_grad()
    reference.pow(2).sum().backward()
    for fast_grad, param in zip(fast_grads, policy.q_net.parameters()):
        th.testing.assert_close(fast_grad, param.grad, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("reset", ["hard", "soft"])
@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("T", [1, 4, 8])
def test_mlp_q_network_matches_step_by_step(T, decoder, neuron, reset):
    observation_space = spaces.Box(-3, 3, (4,), np.float32)
    policy = q_policy(
        SpikingDQNPolicy, observation_space, gain=3.0, T=T, decoder=decoder, neuron=neuron, detach_reset=False, reset=reset
    )
    obs = th.as_tensor(np.stack([observation_space.sample() for _ in range(16)])).double()
    assert_every_layer_fires(policy.q_net, obs)
    fast = policy.q_net.q_net(policy.q_net.features_extractor(obs))  # q_net(obs) in float64
    reference = reference_q_values(policy.q_net, obs)
    th.testing.assert_close(fast, reference, rtol=1e-9, atol=1e-10)
    fast.sum().backward()
    fast_grads = [p.grad.clone() for p in policy.q_net.parameters()]
    policy.q_net.zero_grad()
    reference.sum().backward()
    for fast_grad, param in zip(fast_grads, policy.q_net.parameters()):
        th.testing.assert_close(fast_grad, param.grad, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("neuron", NEURONS)
def test_population_encoder_and_readout_match_step_by_step(neuron):
    # A population-coded Q-network, and an actor with a population readout, against the float64 oracle
    observation_space = spaces.Box(-3, 3, (3,), np.float32)
    policy = q_policy(SpikingDQNPolicy, observation_space, gain=2.0, T=6, neuron=neuron, encoder="population", pop_size=4)
    obs = th.as_tensor(np.stack([observation_space.sample() for _ in range(16)])).double()
    assert_every_layer_fires(policy.q_net, obs)
    fast = policy.q_net.q_net(policy.q_net.features_extractor(obs))
    reference = reference_q_values(policy.q_net, obs)
    th.testing.assert_close(fast, reference, rtol=1e-9, atol=1e-10)
    fast.sum().backward()
    fast_grads = [p.grad.clone() for p in policy.q_net.parameters()]
    assert fast_grads[0].abs().sum() > 0 and fast_grads[1].abs().sum() > 0  # centres and widths learn
    policy.q_net.zero_grad()
    reference.sum().backward()
    for fast_grad, param in zip(fast_grads, policy.q_net.parameters()):
        th.testing.assert_close(fast_grad, param.grad, rtol=1e-7, atol=1e-10)

    spiking = SpikingConfig(T=5, neuron=neuron, pop_size=3)
    readout = PopulationReadout(8, 2, spiking).double()
    x = th.rand(5, 10, 8, dtype=th.float64).lt(0.5).double()
    fast = readout(x)
    assert 0.0 < float(readout.rates(x).mean().detach()) < 1.0
    th.testing.assert_close(fast, population_readout(readout, list(x)), rtol=1e-12, atol=1e-12)


def test_spiking_head_on_a_spike_train():
    spiking = SpikingConfig(T=5, decoder="max-abs-mem")
    head = spiking_head(12, 3, [16], spiking).double()
    x = th.rand(4, 12, dtype=th.float64) * 3
    th.testing.assert_close(head(x), reference_forward(head, x, spiking.T), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("reset", ["hard", "soft"])
@pytest.mark.parametrize("neuron", NEURONS)
def test_fused_neuron_second_order_gradients(neuron, reset):
    # TRPO differentiates a backward pass (create_graph=True): the fused neuron supports it like SpikingJelly's
    node = SpikingConfig(T=5, neuron=neuron, tau=3.0, reset=reset).make_neuron().double()
    x = (th.randn(5, 4, 6, dtype=th.float64) * 1.5 + 0.6).requires_grad_(True)
    results = []
    for run in (fused_multi_step, sj_multi_step):
        (grad_x,) = th.autograd.grad(run(node, x).pow(2).sum(), x, create_graph=True)
        results.append(th.autograd.grad(grad_x.pow(2).sum(), x)[0])
    th.testing.assert_close(results[0], results[1], rtol=1e-9, atol=1e-12)


def test_clipped_inputs_match_step_by_step():
    # input_clip bounds the standardised observation before the encoder: the fast path and the oracle agree, and
    # observations far beyond the statistics give the same Q-values as those just at the bound
    observation_space = spaces.Box(-3, 3, (4,), np.float32)
    policy = q_policy(SpikingDQNPolicy, observation_space, gain=3.0, T=6, input_clip=1.5)
    norm = policy.q_net.q_net[0]
    assert isinstance(norm, RunningNorm) and norm.clip == 1.5
    norm.running_mean.copy_(th.tensor([0.5, -0.5, 0.0, 1.0]))
    norm.running_var.copy_(th.tensor([0.25, 1.0, 4.0, 0.01]))
    obs = th.as_tensor(np.stack([observation_space.sample() for _ in range(16)])).double()
    standardised = (obs - norm.running_mean) / th.sqrt(norm.running_var + norm.eps)
    assert (standardised.abs() > 1.5).any() and (standardised.abs() < 1.5).any(), "some inputs must be clipped"
    fast = policy.q_net.q_net(obs)
    th.testing.assert_close(fast, reference_q_values(policy.q_net, obs), rtol=1e-9, atol=1e-10)
    far = th.tensor([[100.0, -100.0, 100.0, -100.0]], dtype=th.float64)
    at_bound = norm.running_mean + th.tensor([1.5, -1.5, 1.5, -1.5], dtype=th.float64) * th.sqrt(norm.running_var + norm.eps)
    th.testing.assert_close(policy.q_net.q_net(far), policy.q_net.q_net(at_bound[None]), rtol=1e-9, atol=1e-10)
