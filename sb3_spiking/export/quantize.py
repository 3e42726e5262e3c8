"""
Post-training quantisation of a spiking policy to ``b``-bit weights: per layer, symmetric, threshold scaled with
the weights.

Each synaptic layer (``Linear`` / ``Conv2d`` of the action network; ``Affine`` / ``Conv2d`` nodes of its graph,
except the diagonal observation normalisation, which stays with the host as real-valued input scaling) gets one
scale ``s = max|W| / (2^(b-1) - 1)``; its weights become the integers ``round(W / s)`` in ``[-(2^(b-1) - 1),
2^(b-1) - 1]`` and its bias ``round(bias / s)`` (in weight units; chips keep biases at a wider precision). The
layer's output is then ``1 / s`` times the float one, so the neurons it drives get their threshold, reset and leak
potentials divided by ``s``: where rounding changes no weight, every spike is the float network's. The readout's
potentials come out ``1 / s`` times larger; ``metadata["output_scale"] = s`` tells the host to multiply back
(the argmax of Q-values or logits does not need it; Gaussian means do).

:func:`quantize_graph` writes the integer graph; :func:`quantize_policy` gives a copy of the policy with the
de-quantised weights ``s * round(W / s)``, which acts as the integer graph does and runs at SB3's speed (to
measure the returns of a quantised policy).
"""

import copy
import dataclasses
from typing import Optional

import nir
import numpy as np
import torch as th
from stable_baselines3.common.policies import BasePolicy
from torch import nn

from sb3_spiking.export.nir_graph import _leaves, action_network
from sb3_spiking.snn import NonSpikingReadout


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer from 2 to 16, got {bits!r}")
    return int(bits)


def weight_scale(weight: np.ndarray, bits: int) -> float:
    """The symmetric per-layer scale ``max|W| / (2^(bits-1) - 1)`` (1 for an all-zero weight)."""
    largest = float(np.max(np.abs(weight))) if np.size(weight) else 0.0
    return largest / (2 ** (_check_bits(bits) - 1) - 1) if largest > 0 else 1.0


def quantize_weight(weight: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    """
    :param weight: A layer's weights
    :param bits: Bits per weight, sign included
    :return: The integer weights (as float32) and their scale ``s``: ``weight ~ s * integers``
    """
    scale = weight_scale(weight, bits)
    return np.round(np.asarray(weight, dtype=np.float64) / scale).astype(np.float32), scale


def _replace(node: nir.NIRNode, **changes) -> nir.NIRNode:
    """A copy of a node with some fields changed (works across nir releases)."""
    names = {f.name for f in dataclasses.fields(node) if f.init}
    kwargs = {name: getattr(node, name) for name in names if name not in ("input_type", "output_type")}
    if isinstance(node, (nir.Flatten, nir.Input, nir.Output)):
        kwargs.update({name: getattr(node, name) for name in names & {"input_type", "output_type"}})
    kwargs.update(changes)
    return type(node)(**kwargs)


def _chain(graph: nir.NIRGraph) -> list[str]:
    following = dict(graph.edges)
    if len(following) != len(graph.edges) or "input" not in graph.nodes:
        raise ValueError("quantize_graph needs a chain graph from to_nir (one input, one edge out of each node)")
    order, name = ["input"], "input"
    while name in following:
        name = following[name]
        order.append(name)
    return order


def quantize_graph(graph: nir.NIRGraph, bits: int) -> nir.NIRGraph:
    """
    The graph with ``bits``-bit integer weights (see the module documentation).

    :param graph: A graph from :func:`~sb3_spiking.export.to_nir`
    :param bits: Bits per weight, sign included (2 to 16; 8 for Loihi 2 / SpiNNaker2 / Xylo-class chips)
    :return: A new graph; ``metadata`` gains ``bits``, ``output_scale`` and ``weight_scales`` (per quantised node)
    """
    bits = _check_bits(bits)
    order = _chain(graph)
    nodes = dict(graph.nodes)
    scales: dict[str, float] = {}
    pending: Optional[float] = None  # the scale of the last quantised layer, until a neuron absorbs it
    output_scale = 1.0
    for name in order:
        node = nodes[name]
        role = (getattr(node, "metadata", None) or {}).get("role", "")
        normalisation = (role.decode() if isinstance(role, bytes) else str(role)) == "normalisation"  # bytes once read
        if isinstance(node, (nir.Affine, nir.Conv2d, nir.Linear)) and not normalisation:
            if pending is not None:
                raise ValueError(f"node {name!r}: two synaptic layers without a neuron between cannot be quantised")
            weight, scale = quantize_weight(node.weight, bits)
            changes = {"weight": weight}
            if getattr(node, "bias", None) is not None:
                changes["bias"] = np.round(np.asarray(node.bias, dtype=np.float64) / scale).astype(np.float32)
            nodes[name], scales[name], pending = _replace(node, **changes), scale, scale
        elif isinstance(node, (nir.LIF, nir.IF)) and pending is not None:
            changes = {"v_threshold": (node.v_threshold / pending).astype(np.float32)}
            if isinstance(node, nir.LIF):
                changes["v_leak"] = (node.v_leak / pending).astype(np.float32)
            if getattr(node, "v_reset", None) is not None:
                changes["v_reset"] = (node.v_reset / pending).astype(np.float32)
            metadata = dict(node.metadata)
            if "v_reset" in metadata:
                metadata["v_reset"] = (np.asarray(metadata["v_reset"]) / pending).astype(np.float32)
            nodes[name], pending = _replace(node, metadata=metadata, **changes), None
        elif isinstance(node, (nir.LI, nir.I)) and pending is not None:
            if isinstance(node, nir.LI) and not np.allclose(node.v_leak, 0.0):
                raise ValueError(f"node {name!r}: an LI readout with v_leak != 0 cannot be rescaled")
            output_scale, pending = pending, None  # linear from here on: the host multiplies the output back
    metadata = {**graph.metadata, "bits": bits, "output_scale": output_scale, "weight_scales": scales}
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), metadata=metadata)


def _copy(policy: BasePolicy) -> BasePolicy:
    """A deep copy, without the action distribution that an actor-critic keeps from its last training batch (its
    tensors are not graph leaves, which ``deepcopy`` refuses)."""
    distribution = getattr(policy, "action_dist", None)
    held = getattr(distribution, "distribution", None)
    if held is not None:
        distribution.distribution = None
    try:
        return copy.deepcopy(policy)
    finally:
        if held is not None:
            distribution.distribution = held


def quantize_policy(policy: BasePolicy, bits: int) -> BasePolicy:
    """
    A copy of the policy whose action network's ``Linear`` / ``Conv2d`` weights are de-quantised to ``bits`` bits,
    ``s * round(W / s)`` per layer (bias: ``s * round(bias / s)``): it acts as :func:`quantize_graph`'s integer
    graph (same spikes, outputs ``s`` times those of the integers). The other networks (critics, targets) are
    copied unchanged.

    :param policy: A spiking policy
    :param bits: Bits per weight, sign included (2 to 16)
    :return: The quantised copy (in evaluation mode)
    """
    bits = _check_bits(bits)
    quantized = _copy(policy)
    layers = [leaf.linear if isinstance(leaf, NonSpikingReadout) else leaf for leaf in _leaves(action_network(quantized))]
    with th.no_grad():
        for layer in layers:
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                weight, scale = quantize_weight(layer.weight.detach().cpu().double().numpy(), bits)
                layer.weight.copy_(th.as_tensor(weight * scale))
                if layer.bias is not None:
                    layer.bias.copy_(th.round(layer.bias.double() / scale) * scale)
    quantized.set_training_mode(False)
    return quantized
