"""
Export a spiking policy's action network to the Neuromorphic Intermediate Representation (NIR), for neuromorphic
hardware and simulators.

NIR graph (:func:`to_nir`), for the Q-network (DQN), quantile network (QR-DQN) or actor (actor-critic, SAC, TD3,
DDPG, TQC, CrossQ): ``input -> [normalisation] -> encoder -> neuron -> ... -> Affine -> LI [-> I] -> output``; the
observation normalisation (``input_norm``) is the diagonal ``Affine`` of its current statistics. The input is the
preprocessed observation (SB3's ``preprocess_obs``: floats, images scaled to [0, 1]) held constant for ``T`` steps of
length ``dt``; its output is Q-values, quantiles, logits or Gaussian means, and for the squashed off-policy actors
(SAC's mean, TD3's action) the value before ``tanh`` (the argmax, clipping or ``tanh`` stays with the host).

Discrete-time mapping (forward Euler with step ``dt``; NIR's neurons are continuous-time):

- LIF ``v <- v + (x - v) / tau`` (SpikingJelly, ``decay_input=True``, hard reset to 0): NIR ``LIF`` with
  ``tau = tau * dt``, ``r = 1``, ``v_leak = 0``, ``v_reset = 0``, ``tau dv/dt = v_leak - v + r x``.
  PLIF: the same with its learned ``tau = 1 / sigmoid(w)``. IF ``v <- v + x``: NIR ``IF`` with ``r = 1 / dt``.
- Non-spiking readout ``v <- v + (x - v) / decoder_tau`` from 0: NIR ``Affine`` then ``LI`` with
  ``tau = decoder_tau * dt``, ``r = 1``, ``v_leak = 0``. ``last-mem`` is the LI potential at the last step;
  ``mean-mem`` adds an integrator ``I`` with ``r = 1 / (T dt)``, so its value at the last step is the mean over T;
  ``fr-mlp`` (linear map of the mean spike rate) is ``Affine -> I`` with the same ``r``, as the map is affine.
- ``max-mem`` and ``max-abs-mem`` cannot be expressed: NIR has no node that holds a running maximum (a
  comparison over time); its nodes are affine maps, convolutions and neuron dynamics. Their graph outputs the LI
  potential at every step and ``metadata["readout"]`` tells the host to take the max (``"max"`` / ``"max-abs"``).

A stateful policy's recurrent synapses (``SpikingMlpRecurrentPolicy``) are a ``Linear`` node that takes the neuron
layer's spikes and feeds them back into it (the edges ``neuron -> Linear -> neuron``): NIR sums the edges into a
node, and the edge that closes the cycle carries the spikes of the step before.

The graph's ``metadata`` holds ``T``, ``dt``, ``decoder`` and ``readout`` (``"last"``, ``"max"``, ``"max-abs"``);
with ``bits`` (integer weights) also ``output_scale``, which the host multiplies the readout by.
:func:`run_nir` simulates such a graph with these equations and reads it out, so a round trip can be checked.
With ``nir`` releases before 1.0.8 (1.0.4, which snnTorch's and Sinabs' releases pin), ``LIF`` and ``IF`` have
no ``v_reset`` (their documentation resets by subtraction): the reset potential is then written in the node's
``metadata["v_reset"]`` (and always there as well), so the graph never claims a subtractive reset.
NIR fires when ``v > threshold``; SpikingJelly (and :func:`run_nir`) when ``v >= threshold``: they differ only
when the potential equals the threshold exactly.
"""

import dataclasses
from pathlib import Path
from typing import Optional, Union

import nir
import numpy as np
import torch as th
from spikingjelly.activation_based import neuron as sj_neuron
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

from sb3_spiking.snn import NonSpikingReadout, RepeatOverTime, RunningNorm, SpikingNatureCNN

READOUTS = {"last-mem": "last", "mean-mem": "last", "fr-mlp": "last", "max-mem": "max", "max-abs-mem": "max-abs"}
NIR_EXPRESSIBLE_DECODERS = ("last-mem", "mean-mem", "fr-mlp")


EXPORTED_LAYERS = (RunningNorm, nn.Linear, nn.Conv2d, nn.Flatten, RepeatOverTime, sj_neuron.BaseNode, NonSpikingReadout)


def action_network(policy: BasePolicy) -> list[nn.Module]:
    """
    The modules that map a preprocessed observation to the policy's action outputs (Q-values, quantiles, logits
    or Gaussian means), in order.

    :param policy: A spiking DQN, QR-DQN, actor-critic or off-policy actor (SAC / TD3 family) policy; for the
        latter the modules end before the ``tanh`` squashing (SAC's mean, TD3's pre-``tanh`` action)
    """
    actor = getattr(policy, "actor", None)
    if actor is not None and hasattr(actor, "latent_pi"):  # SAC, TQC, CrossQ: the Gaussian's mean
        return [actor.features_extractor, actor.latent_pi, actor.mu]
    if actor is not None and isinstance(getattr(actor, "mu", None), nn.Sequential) and isinstance(actor.mu[-1], nn.Tanh):
        return [actor.features_extractor, actor.mu[:-1]]  # TD3, DDPG: the action before tanh
    for attr in ("q_net", "quantile_net"):
        net = getattr(policy, attr, None)
        if net is not None and hasattr(net, "features_extractor"):
            return [net.features_extractor, getattr(net, attr)]
    if isinstance(policy, ActorCriticPolicy):
        return [policy.pi_features_extractor, policy.mlp_extractor.policy_net, policy.action_net]
    raise ValueError(f"Cannot export {type(policy).__name__}: expected a spiking DQN, QR-DQN or actor-critic policy")


def _leaves(modules: list[nn.Module]) -> list[nn.Module]:
    leaves: list[nn.Module] = []
    for module in modules:
        if isinstance(module, nn.Sequential):
            leaves += _leaves(list(module))
        elif isinstance(module, FlattenExtractor):
            leaves.append(module.flatten)
        elif isinstance(module, SpikingNatureCNN):
            leaves += _leaves([module.encoder, module.cnn, module.linear])
        elif isinstance(module, EXPORTED_LAYERS):
            leaves.append(module)
        else:
            raise ValueError(
                f"Cannot export {type(module).__name__}: supported layers are the observation normalisation, Linear, "
                "Conv2d, Flatten, IF / LIF / PLIF neurons and the non-spiking readout (Mlp and Cnn spiking policies; "
                "not Dict observations)"
            )
    return leaves


def _full(shape: tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def _reset_kwargs(node_type: type, reset: np.ndarray) -> dict:
    """``v_reset`` where this ``nir`` has it (1.0.8); for older releases (1.0.4, which the consumers pin) the reset
    potential goes into the node's metadata, so that the graph still says that the neuron resets to it."""
    if "v_reset" in {f.name for f in dataclasses.fields(node_type)}:
        return {"v_reset": reset, "metadata": {"v_reset": reset.copy()}}
    return {"metadata": {"v_reset": reset}}


def _neuron_node(module: sj_neuron.BaseNode, shape: tuple[int, ...], dt: float) -> nir.NIRNode:
    if module.v_reset is None:
        raise ValueError("NIR neurons reset to a potential: soft reset (v_reset=None) cannot be exported")
    threshold, reset = _full(shape, float(module.v_threshold)), _full(shape, float(module.v_reset))
    if isinstance(module, sj_neuron.IFNode):
        return nir.IF(r=_full(shape, 1.0 / dt), v_threshold=threshold, **_reset_kwargs(nir.IF, reset))
    if isinstance(module, sj_neuron.ParametricLIFNode):
        tau = 1.0 / float(module.w.detach().sigmoid())
    elif isinstance(module, sj_neuron.LIFNode):
        tau = float(module.tau)
    else:
        raise ValueError(f"Cannot export neuron {type(module).__name__}: NIR export supports IF, LIF and PLIF neurons")
    r = 1.0 if module.decay_input else tau
    return nir.LIF(
        tau=_full(shape, tau * dt),
        r=_full(shape, r),
        v_leak=reset.copy(),
        v_threshold=threshold,
        **_reset_kwargs(nir.LIF, reset),
    )


def _numpy(tensor: Optional[th.Tensor], size: int) -> np.ndarray:
    return np.zeros(size, dtype=np.float32) if tensor is None else tensor.detach().cpu().float().numpy()


def _nodes(module: nn.Module, x: th.Tensor, y: th.Tensor, T: int, dt: float) -> list[nir.NIRNode]:
    """The NIR nodes of one layer, given its input and output (``[B, ...]`` or ``[T, B, ...]``)."""
    shape = tuple(y.shape[2:] if y.dim() > x.dim() or isinstance(module, sj_neuron.BaseNode) else y.shape[1:])
    if isinstance(module, RunningNorm):
        if module.clip is not None:
            raise ValueError(
                "NIR has no clipping node: a policy with input_clip cannot be exported to NIR (use input_clip=None)"
            )
        scale, shift = module.scale_and_shift()
        return [nir.Affine(weight=_numpy(th.diag(scale), 0), bias=_numpy(shift, 0), metadata={"role": "normalisation"})]
    if isinstance(module, nn.Linear):
        return [nir.Affine(weight=_numpy(module.weight, 0), bias=_numpy(module.bias, module.out_features))]
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise ValueError("NIR export supports convolutions with zero padding given as numbers")
        return [
            nir.Conv2d(
                input_shape=tuple(x.shape[-2:]),
                weight=_numpy(module.weight, 0),
                stride=module.stride,
                padding=module.padding,
                dilation=module.dilation,
                groups=module.groups,
                bias=_numpy(module.bias, module.out_channels),
            )
        ]
    if isinstance(module, nn.Flatten):
        static = x.dim() if getattr(module, "step_mode", "s") == "s" else x.dim() - 1
        in_shape = x.shape[x.dim() - static + 1 :]
        if module.start_dim != 1 or module.end_dim != -1:
            raise ValueError("NIR export supports Flatten(start_dim=1, end_dim=-1) only")
        return [] if len(in_shape) == 1 else [nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)]
    if isinstance(module, sj_neuron.BaseNode):
        return [_neuron_node(module, shape, dt)]
    if isinstance(module, NonSpikingReadout):
        linear = module.linear
        nodes: list[nir.NIRNode] = [nir.Affine(weight=_numpy(linear.weight, 0), bias=_numpy(linear.bias, linear.out_features))]
        out = (linear.out_features,)
        if module.decoder != "fr-mlp":
            nodes.append(nir.LI(tau=_full(out, module.tau * dt), r=_full(out, 1.0), v_leak=_full(out, 0.0)))
        if module.decoder in ("mean-mem", "fr-mlp"):
            nodes.append(nir.I(r=_full(out, 1.0 / (module.T * dt))))
        return nodes
    return []  # RepeatOverTime: NIR inputs are held over time anyway


def to_nir(
    policy: BasePolicy, path: Optional[Union[str, Path]] = None, dt: float = 1e-4, bits: Optional[int] = None
) -> nir.NIRGraph:
    """
    The policy's spiking action network as a NIR graph (see the module documentation for the mapping).

    :param policy: A spiking DQN, QR-DQN, actor-critic or off-policy actor policy (Mlp or Cnn)
    :param path: Where to write the graph (HDF5, ``nir.write``); ``None`` writes nothing
    :param dt: Time step in seconds (NIR time constants are ``tau * dt``); 1e-4 as in SpikingJelly's exporter
    :param bits: Write ``bits``-bit integer weights, per layer, with thresholds scaled to match
        (:func:`~sb3_spiking.export.quantize.quantize_graph`); ``None`` writes the float weights
    :return: The graph
    """
    if not dt > 0:
        raise ValueError(f"dt must be a positive time step in seconds, got {dt!r}")
    leaves = _leaves(action_network(policy))
    readouts = [leaf for leaf in leaves if isinstance(leaf, NonSpikingReadout)]
    if len(readouts) != 1 or leaves[-1] is not readouts[0]:
        raise ValueError("Cannot export: the action network must end with one NonSpikingReadout")
    readout = readouts[0]
    sample = th.as_tensor(policy.observation_space.sample()[None], device=policy.device)
    x = preprocess_obs(sample, policy.observation_space, policy.normalize_images).float()
    input_shape = tuple(x.shape[1:])
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array(input_shape)})}
    chain, loops = ["input"], []
    training = policy.training
    policy.set_training_mode(False)  # in training mode the observation normalisation would learn from the sample
    try:
        with th.no_grad():
            for index, leaf in enumerate(leaves):
                y = leaf(x)
                for sub, node in enumerate(_nodes(leaf, x, y, readout.T, dt)):
                    chain.append(f"{index}_{sub}_{type(node).__name__.lower()}")
                    nodes[chain[-1]] = node
                recurrent = getattr(leaf, "recurrent", None)
                if recurrent is not None:
                    if bits is not None:
                        raise ValueError("Recurrent synapses cannot be quantised: use bits=None")
                    nodes[f"{index}_recurrent_linear"] = nir.Linear(weight=_numpy(recurrent.weight, 0))
                    loops += [(chain[-1], f"{index}_recurrent_linear"), (f"{index}_recurrent_linear", chain[-1])]
                x = y
    finally:
        policy.set_training_mode(training)
    nodes["output"] = nir.Output(output_type={"output": np.array([readout.linear.out_features])})
    chain.append("output")
    metadata = {"T": readout.T, "dt": dt, "decoder": readout.decoder, "readout": READOUTS[readout.decoder]}
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(chain[:-1], chain[1:])) + loops, metadata=metadata)
    if bits is not None:
        from sb3_spiking.export.quantize import quantize_graph

        graph = quantize_graph(graph, bits)
    if path is not None:
        nir.write(str(path), graph)
    return graph
