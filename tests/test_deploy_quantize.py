"""b-bit weights by value: a hand-made layer, the integer graph against the de-quantised policy."""

import nir
import numpy as np
import pytest
import torch as th
from stable_baselines3 import DQN, PPO, SAC

import sb3_spiking  # noqa: F401
from sb3_spiking.export import nir_readout, quantize_graph, quantize_policy, quantize_weight, run_nir, to_nir


def test_quantize_weight_by_value():
    weight = np.array([[0.44, -1.4], [0.26, 0.86]])
    integers, scale = quantize_weight(weight, bits=4)  # 7 levels each side: s = 1.4 / 7
    assert scale == pytest.approx(0.2)
    np.testing.assert_array_equal(integers, [[2, -7], [1, 4]])
    integers, scale = quantize_weight(weight, bits=8)
    assert scale == pytest.approx(1.4 / 127)
    np.testing.assert_array_equal(integers, [[40, -127], [24, 78]])  # 0.44 / s = 39.9, 0.26 / s = 23.6, 0.86 / s = 78.0
    np.testing.assert_array_equal(quantize_weight(np.zeros((2, 2)), 8)[0], np.zeros((2, 2)))
    for bits in (1, 17, 8.0, True):
        with pytest.raises(ValueError, match="bits must be an integer from 2 to 16"):
            quantize_weight(weight, bits)


def hand_made_graph(hidden_weight: np.ndarray) -> nir.NIRGraph:
    """input (2) -> normalisation -> Affine -> LIF (threshold 1) -> Affine -> LI -> output (2): to_nir's layout."""
    dt, tau = 1e-4, 2.0
    ones = np.ones(3, dtype=np.float32)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2])}),
        "0_0_affine": nir.Affine(
            weight=np.diag([2.0, 0.5]).astype(np.float32), bias=np.float32([0.1, -0.1]), metadata={"role": "normalisation"}
        ),
        "1_0_affine": nir.Affine(weight=hidden_weight.astype(np.float32), bias=np.float32([0.25, 0.0, -0.5])),
        "2_0_lif": nir.LIF(tau=ones * tau * dt, r=ones, v_leak=ones * 0, v_threshold=ones, metadata={"v_reset": ones * 0}),
        "3_0_affine": nir.Affine(weight=np.float32([[7, -3, 2], [-7, 5, 4]]) / 7, bias=np.float32([0.0, 3.0]) / 7),
        "3_1_li": nir.LI(tau=np.float32([1.5, 1.5]) * dt, r=np.ones(2, np.float32), v_leak=np.zeros(2, np.float32)),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    names = list(nodes)
    metadata = {"T": 8, "dt": dt, "decoder": "max-mem", "readout": "max"}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=metadata)


def test_quantize_graph_by_value_on_a_hand_made_layer():
    # Weights on the 4-bit grid of step 0.25 (max 1.75 = 7 steps): no rounding, so the spikes must be the same
    hidden = np.array([[1.75, -0.5], [0.25, 1.0], [-1.25, 0.75]])
    graph = hand_made_graph(hidden)
    quantized = quantize_graph(graph, bits=4)
    nodes = quantized.nodes
    np.testing.assert_array_equal(nodes["1_0_affine"].weight, [[7, -2], [1, 4], [-5, 3]])
    np.testing.assert_array_equal(nodes["1_0_affine"].bias, [1, 0, -2])  # 0.25 / 0.25, 0, -0.5 / 0.25
    np.testing.assert_allclose(nodes["2_0_lif"].v_threshold, [4, 4, 4])  # threshold 1 / s
    np.testing.assert_array_equal(nodes["3_0_affine"].weight, [[7, -3, 2], [-7, 5, 4]])  # s = 1 / 7
    np.testing.assert_array_equal(nodes["3_0_affine"].bias, [0, 3])
    np.testing.assert_array_equal(nodes["0_0_affine"].weight, graph.nodes["0_0_affine"].weight)  # stays with the host
    assert quantized.metadata["bits"] == 4 and quantized.metadata["output_scale"] == pytest.approx(1 / 7)
    assert quantized.metadata["weight_scales"] == pytest.approx({"1_0_affine": 0.25, "3_0_affine": 1 / 7})

    x = th.as_tensor(np.random.default_rng(0).uniform(-1, 1, (256, 2)))

    def hidden_spikes(g: nir.NIRGraph) -> th.Tensor:
        names = [*list(g.nodes)[:4], "output"]
        nodes = {name: g.nodes[name] for name in names[:4]}
        nodes["output"] = nir.Output(output_type={"output": np.array([3])})
        return run_nir(nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=g.metadata), x)

    spikes = hidden_spikes(graph)
    assert 0.1 < float(spikes.mean()) < 0.9  # the layer fires, but not always
    assert th.equal(spikes, hidden_spikes(quantized))
    # The host multiplies the readout back by output_scale: the float network's outputs
    np.testing.assert_allclose(nir_readout(quantized, x).numpy(), nir_readout(graph, x).numpy(), rtol=1e-6, atol=1e-6)
    # One weight off the grid (1.8 rounds to 1.75 at 4 bits, with max 1.8: s = 1.8 / 7): rounding changes the network
    off = quantize_graph(hand_made_graph(hidden + np.array([[0.05, 0.0], [0.0, 0.0], [0.0, 0.0]])), bits=4)
    assert off.metadata["weight_scales"]["1_0_affine"] == pytest.approx(1.8 / 7)


def test_off_grid_weights_change_spikes_at_two_bits():
    hidden = np.array([[1.0, -0.6], [0.3, 0.9], [-0.8, 0.45]])
    graph, x = hand_made_graph(hidden), th.as_tensor(np.random.default_rng(1).uniform(-1, 1, (256, 2)))
    assert not th.allclose(nir_readout(quantize_graph(graph, bits=2), x), nir_readout(graph, x), atol=1e-3)


def test_integer_graph_acts_as_the_quantised_policy(tmp_path):
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=6, decoder="max-mem", net_arch=[32, 16]), seed=0)
    with th.no_grad():
        for layer in model.policy.q_net.q_net[:-1].modules():
            if isinstance(layer, th.nn.Linear):
                layer.weight.mul_(6.0)
    policy = model.policy
    quantized = quantize_policy(policy, bits=8)
    graph = to_nir(policy, tmp_path / "q8.nir", bits=8)
    graph = nir.read(str(tmp_path / "q8.nir"))  # the knob writes the integer graph
    layers = [node for node in graph.nodes.values() if isinstance(node, nir.Affine) and node.weight.shape != (4, 4)]
    assert len(layers) == 3
    for node in layers:
        assert np.array_equal(node.weight, np.round(node.weight)) and np.abs(node.weight).max() == 127
    x = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(64)]) * 0.5).float()
    with th.no_grad():
        expected = quantized.q_net(x)
        float_q = policy.q_net(x)
    np.testing.assert_allclose(nir_readout(graph, x.double()).numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
    assert not th.allclose(expected, float_q, atol=1e-5)  # 8 bits did round something
    assert policy.q_net.q_net[1].weight.data_ptr() != quantized.q_net.q_net[1].weight.data_ptr()  # a copy


def test_quantize_policy_touches_only_the_action_network():
    model = SAC("SpikingMlpPolicy", "Pendulum-v1", policy_kwargs=dict(T=4, net_arch=[16, 16]), seed=0)
    quantized = quantize_policy(model.policy, bits=6)
    for before, after in zip(model.critic.parameters(), quantized.critic.parameters()):
        assert th.equal(before, after)
    mu = quantized.actor.mu.linear.weight
    scale = float(mu.abs().max()) / 31
    np.testing.assert_allclose((mu / scale).detach().numpy(), np.round((mu / scale).detach().numpy()), atol=1e-4)
    assert not th.equal(mu, model.actor.mu.linear.weight)


def test_quantize_policy_right_after_training():
    """An actor-critic keeps the action distribution of its last training batch, whose tensors deepcopy refuses."""
    model = PPO("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=2, net_arch=[8]), n_steps=64, batch_size=32)
    model.learn(64)
    quantized = quantize_policy(model.policy, bits=8)
    assert model.policy.action_dist.distribution is not None  # given back
    obs = np.stack([model.observation_space.sample() for _ in range(4)])
    assert quantized.predict(obs, deterministic=True)[0].shape == (4,)
