"""
A plain step-by-step simulation of the spiking networks, the yardstick that the fast path is tested against.

It shares no code with the fast path: for each time step ``t`` it runs every layer, the first (encoder) one
included, on the single-step tensor ``[B, ...]``, keeps each neuron layer's membrane potential explicitly, and
writes the neuron and readout equations out in full. It is slow (a Python loop over steps and layers) and only
meant for tests and for reading.

- IF: ``h = v + x``; LIF: ``h = v + (x - v) / tau``; PLIF: ``h = v + (x - v) * sigmoid(w)``;
  spike ``s = H(h - v_threshold)`` with the layer's surrogate gradient; hard reset ``v = h * (1 - s)``, soft
  reset ``v = h - v_threshold * s`` (``s`` detached from the graph when ``detach_reset``).
- Observation normalisation: ``(x[d] - mean[d]) / sqrt(var[d] + eps)`` per dimension, from the layer's saved
  statistics (the reference never updates them), then bounded to ``[-clip, clip]`` where the layer clips.
- Population encoder: ``a[d, j] = exp(-(x[d] - mu[d, j])^2 / (2 sigma[d, j]^2))`` written per dimension and
  neuron, flattened dimension by dimension, the same at every step.
- Population readout: its linear layer and spiking neurons stepped like a hidden layer, the spike counts
  divided by ``T``, then ``y[o] = sum_j w[o, j] r[o, j] + b[o]``.
- Non-spiking readout: ``u = u + (y - u) / tau`` from ``u = 0`` with ``y`` the linear layer's output at step ``t``,
  then the decoder's statistic over the ``T`` values of ``u``; ``fr-mlp`` applies the linear layer to the
  mean of the input spikes instead.
"""

from typing import Optional, Union

import torch as th
from spikingjelly.activation_based import neuron as sj_neuron
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

from sb3_spiking.snn import (
    NonSpikingReadout,
    PopulationEncoder,
    PopulationReadout,
    RepeatOverTime,
    RunningNorm,
    SpikingNatureCNN,
)


def _leaves(module: nn.Module) -> list[nn.Module]:
    """The layers of a network in the order they run."""
    if isinstance(module, SpikingNatureCNN):
        return [module.encoder, *_leaves(module.cnn), *_leaves(module.linear)]
    if isinstance(module, FlattenExtractor):
        return [module.flatten]
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def neuron_step(node: sj_neuron.BaseNode, x: th.Tensor, v: Optional[th.Tensor]) -> tuple[th.Tensor, th.Tensor]:
    """
    One step of a hidden spiking neuron layer (hard reset to 0, or soft reset where ``v_reset`` is None).

    :param node: The IF / LIF / PLIF layer whose parameters are used
    :param x: Input current at this step ``[B, ...]``
    :param v: Membrane potential after the previous step (``None``: at rest)
    :return: spikes, new membrane potential
    """
    if v is None:
        v = th.zeros_like(x)
    if isinstance(node, sj_neuron.ParametricLIFNode):
        h = v + (x - v) * node.w.sigmoid()
    elif isinstance(node, sj_neuron.LIFNode):
        h = v + (x - v) / node.tau
    elif isinstance(node, sj_neuron.IFNode):
        h = v + x
    else:
        raise TypeError(f"No reference equation for {type(node).__name__}")
    spike = node.surrogate_function(h - node.v_threshold)
    fired = spike.detach() if node.detach_reset else spike
    if node.v_reset is None:
        return spike, h - node.v_threshold * fired
    return spike, h * (1.0 - fired)


def _decode(decoder: str, u: th.Tensor) -> th.Tensor:
    if decoder == "last-mem":
        return u[-1]
    if decoder == "max-mem":
        return u.max(dim=0).values
    if decoder == "mean-mem":
        return u.mean(dim=0)
    if decoder == "max-abs-mem":
        # The value of largest magnitude at each output, sign kept (the first step on ties)
        best = u[0]
        for u_t in u[1:]:
            best = th.where(u_t.abs() > best.abs(), u_t, best)
        return best
    raise ValueError(f"Unknown decoder {decoder!r}")


def population_activations(encoder: PopulationEncoder, x: th.Tensor) -> th.Tensor:
    """The receptive fields' activations ``[B, D * P]``, one dimension and neuron at a time."""
    columns = []
    for d in range(encoder.input_dim):
        for j in range(encoder.pop_size):
            mu, sigma = encoder.centres[d, j], encoder.widths[d, j]
            columns.append(th.exp(-((x[:, d] - mu) ** 2) / (2 * sigma**2)))
    return th.stack(columns, dim=1)


def population_readout(readout: PopulationReadout, inputs: list[th.Tensor]) -> th.Tensor:
    """The population readout of the per-step inputs ``[B, F]``, stepped neuron layer and all."""
    v, count = None, None
    for x_t in inputs:
        spikes, v = neuron_step(readout.neuron, nn.functional.linear(x_t, readout.linear.weight, readout.linear.bias), v)
        count = spikes if count is None else count + spikes
    assert count is not None
    rates = count / len(inputs)
    out = []
    for o in range(readout.out_features):
        y = readout.bias[o]
        for j in range(readout.pop_size):
            y = y + readout.weight[o, j] * rates[:, o * readout.pop_size + j]
        out.append(y)
    return th.stack(out, dim=1)


def reference_forward(layers: Union[nn.Module, list[nn.Module]], x: th.Tensor, T: int) -> th.Tensor:
    """
    Simulate a spiking network step by step on a static input.

    :param layers: The network (a module, or its layers in order): an observation normalisation, a population
        encoder, linear / convolution / flatten layers, ``RepeatOverTime``, SpikingJelly IF / LIF / PLIF layers, and
        at most one final ``NonSpikingReadout`` or ``PopulationReadout``
    :param x: Static input ``[B, ...]`` (already preprocessed)
    :param T: Number of time steps
    :return: The readout's decoded output ``[B, out]``, or the spike trains ``[T, B, F]`` of the last layer
        when the network has no readout
    """
    leaves = [leaf for module in ([layers] if isinstance(layers, nn.Module) else layers) for leaf in _leaves(module)]
    potentials: dict[int, Optional[th.Tensor]] = {}
    readout_in: list[th.Tensor] = []
    outputs: list[th.Tensor] = []
    readout: Optional[Union[NonSpikingReadout, PopulationReadout]] = None
    for _ in range(T):
        h = x
        for index, layer in enumerate(leaves):
            if isinstance(layer, RepeatOverTime):
                continue
            if isinstance(layer, sj_neuron.BaseNode):
                h, potentials[index] = neuron_step(layer, h, potentials.get(index))
            elif isinstance(layer, (NonSpikingReadout, PopulationReadout)):
                readout = layer
                readout_in.append(h)
            elif isinstance(layer, PopulationEncoder):
                h = population_activations(layer, h)
            elif isinstance(layer, RunningNorm):
                h = th.stack(
                    [(h[:, d] - layer.running_mean[d]) / th.sqrt(layer.running_var[d] + layer.eps) for d in range(h.shape[1])],
                    dim=1,
                )
                if layer.clip is not None:
                    h = th.where(h > layer.clip, th.full_like(h, layer.clip), th.where(h < -layer.clip, -layer.clip, h))
            elif isinstance(layer, nn.Conv2d):
                h = nn.functional.conv2d(
                    h, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups
                )
            elif isinstance(layer, nn.Linear):
                h = nn.functional.linear(h, layer.weight, layer.bias)
            elif isinstance(layer, nn.Flatten):
                h = h.flatten(1)
            else:
                raise TypeError(f"No reference step for {type(layer).__name__}")
        outputs.append(h)
    if readout is None:
        return th.stack(outputs)
    if isinstance(readout, PopulationReadout):
        return population_readout(readout, readout_in)
    if readout.decoder == "fr-mlp":
        return readout.linear(th.stack(readout_in).mean(dim=0))
    u = th.zeros(())
    trace = []
    for spikes in readout_in:
        u = u + (readout.linear(spikes) - u) / readout.tau
        trace.append(u)
    return _decode(readout.decoder, th.stack(trace))


def reference_q_values(q_net: nn.Module, obs: th.Tensor) -> th.Tensor:
    """
    The Q-values of a spiking Q-network (``policy.q_net``), simulated step by step.

    :param q_net: A ``SpikingQNetwork``
    :param obs: Observations ``[B, *obs_shape]``
    """
    features = preprocess_obs(obs, q_net.observation_space, normalize_images=q_net.normalize_images)
    features = features.to(next(q_net.parameters()).dtype)
    return reference_forward([q_net.features_extractor, q_net.q_net], features, q_net.spiking.T)  # type: ignore
