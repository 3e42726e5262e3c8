"""
The step-by-step yardstick of the stateful policies: the float64 simulation of ``tests/reference.py`` carried
across env steps.

For each sequence, env step by env step: where an episode starts every potential is set to 0 (rest); then the
env step's ``T`` simulation steps run every layer on the single-step tensor ``[1, ...]`` (``neuron_step`` of
``tests/reference.py``: charge, fire, hard reset), and the readout integrates ``u = u + (y - u) / tau`` from the
potential the previous env step left; the decoder reads the ``T`` values of ``u`` of this env step. A neuron layer
with recurrent synapses adds ``W_rec s`` to its input, ``s`` its spikes of the previous simulation step (carried
across env steps; its state is ``[v, s]``). Nothing is shared with the policy's code but the parameters.
"""

import math
from typing import Optional

import torch as th
from reference import _decode, _leaves, neuron_step, population_activations
from spikingjelly.activation_based import neuron as sj_neuron
from stable_baselines3.common.preprocessing import preprocess_obs
from torch import nn

from sb3_spiking.snn import NonSpikingReadout, PopulationEncoder, RepeatOverTime, RunningNorm


def _static_layer(layer: nn.Module, h: th.Tensor) -> th.Tensor:
    if isinstance(layer, PopulationEncoder):
        return population_activations(layer, h)
    if isinstance(layer, RunningNorm):
        return (h - layer.running_mean) / th.sqrt(layer.running_var + layer.eps)
    if isinstance(layer, nn.Conv2d):
        return nn.functional.conv2d(h, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)
    if isinstance(layer, nn.Linear):
        return nn.functional.linear(h, layer.weight, layer.bias)
    if isinstance(layer, nn.Flatten):
        return h.flatten(1)
    raise TypeError(f"No reference step for {type(layer).__name__}")


def reference_sequence(
    layers: list[nn.Module], x: th.Tensor, starts: th.Tensor, T: int, state: list[Optional[th.Tensor]]
) -> tuple[th.Tensor, list[th.Tensor]]:
    """
    One sequence of env steps of a stateful network, simulated step by step.

    :param layers: The network's parts in the order they run (features extractor, hidden layers, readout)
    :param x: The preprocessed observations of the sequence ``[L, ...]``
    :param starts: ``[L]``, 1 where an episode starts
    :param T: Simulation steps per env step
    :param state: The potential of each stateful layer (neuron layers, then the readout) before the sequence,
        each ``[*shape]`` (None: at rest); ``[v, s]`` for a layer with recurrent synapses
    :return: The decoded outputs ``[L, out]`` and the potentials after the sequence
    """
    leaves = [leaf for module in layers for leaf in _leaves(module)]
    stateful = [leaf for leaf in leaves if isinstance(leaf, (sj_neuron.BaseNode, NonSpikingReadout))]
    v, spikes = {}, {}
    for layer, s in zip(stateful, state):
        if getattr(layer, "recurrent", None) is not None and s is not None:
            v[id(layer)], spikes[id(layer)] = (part.unsqueeze(0) for part in s.chunk(2))
        else:
            v[id(layer)] = None if s is None else s.unsqueeze(0)
    outputs = []
    for step in range(x.shape[0]):
        if starts[step]:
            v = {key: (None if value is None else th.zeros_like(value)) for key, value in v.items()}
            spikes = {key: th.zeros_like(value) for key, value in spikes.items()}
        trace = []
        for _ in range(T):
            h = x[step : step + 1]
            for layer in leaves:
                if isinstance(layer, RepeatOverTime):
                    continue
                if isinstance(layer, sj_neuron.BaseNode):
                    recurrent = getattr(layer, "recurrent", None)
                    if recurrent is not None and id(layer) in spikes:
                        h = h + spikes[id(layer)] @ recurrent.weight.T
                    h, v[id(layer)] = neuron_step(layer, h, v[id(layer)])
                    if recurrent is not None:
                        spikes[id(layer)] = h
                elif isinstance(layer, NonSpikingReadout) and layer.decoder == "fr-mlp":
                    trace.append(h)  # no integrator: the mean firing rate of the env step feeds the linear layer
                elif isinstance(layer, NonSpikingReadout):
                    y = nn.functional.linear(h, layer.linear.weight, layer.linear.bias)
                    u = v[id(layer)] if v[id(layer)] is not None else th.zeros_like(y)
                    v[id(layer)] = u = u + (y - u) / layer.tau
                    trace.append(u)
                else:
                    h = _static_layer(layer, h)
        readout = stateful[-1]
        if readout.decoder == "fr-mlp":
            rates = th.stack(trace).mean(dim=0)
            outputs.append(nn.functional.linear(rates, readout.linear.weight, readout.linear.bias)[0])
        else:
            outputs.append(_decode(readout.decoder, th.stack(trace))[0])
    ends = [th.cat((v[id(layer)], spikes[id(layer)]), dim=-1) if id(layer) in spikes else v[id(layer)] for layer in stateful]
    return th.stack(outputs), [end[0] for end in ends]


def reference_policy_sequences(policy, obs: th.Tensor, starts: th.Tensor, flat_state: th.Tensor, actor: bool = True):
    """
    The actor's (decoded action-net outputs) or the critic's (values) outputs of a stateful spiking policy along
    RecurrentPPO's sequences, step by step.

    :param policy: A ``SpikingRecurrentActorCriticPolicy``
    :param obs: ``[n_seq * L, *obs_shape]``, sequence major
    :param starts: ``[n_seq * L]``
    :param flat_state: The flat state of the network before each sequence ``[n_seq, >= size]``
    :return: The outputs ``[n_seq * L, out]`` and the flat state after each sequence ``[n_seq, size]``
    """
    which = policy.actor_state if actor else policy.critic_state
    extractor = policy.pi_features_extractor if actor else policy.vf_features_extractor
    net = policy.mlp_extractor.policy_net if actor else policy.mlp_extractor.value_net
    readout = policy.action_net if actor else policy.value_net
    n_seq = flat_state.shape[0]
    features = preprocess_obs(obs, policy.observation_space, normalize_images=policy.normalize_images)
    features = features.reshape(n_seq, -1, *features.shape[1:])
    starts = starts.reshape(n_seq, -1)
    sizes = [math.prod(shape) for shape in which.shapes]  # each layer's state, a pair (potential, spikes) as one
    parts = [p.reshape(n_seq, *shape) for p, shape in zip(th.split(flat_state[:, : sum(sizes)], sizes, dim=1), which.shapes)]
    outputs, ends = [], []
    for s in range(n_seq):
        out, end = reference_sequence(
            [extractor, net, readout], features[s], starts[s], policy.spiking.T, [p[s] for p in parts]
        )
        outputs.append(out)
        ends.append(th.cat([e.flatten() for e in end]))
    return th.cat(outputs), th.stack(ends)
