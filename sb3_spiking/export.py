"""
Export a spiking policy's action network: to the Neuromorphic Intermediate Representation (NIR) for neuromorphic
hardware and simulators, and to TorchScript / ONNX for deployment without SB3.

NIR graph (:func:`to_nir`), for the Q-network (DQN), quantile network (QR-DQN) or actor (actor-critic):
``input -> encoder -> neuron -> ... -> Affine -> LI [-> I] -> output``. Its input is the preprocessed observation
(SB3's ``preprocess_obs``: floats, images scaled to [0, 1]) held constant for ``T`` steps of length ``dt``; its
output is Q-values, quantiles, logits or Gaussian means (the argmax or clipping stays with the host).

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

The graph's ``metadata`` holds ``T``, ``dt``, ``decoder`` and ``readout`` (``"last"``, ``"max"``, ``"max-abs"``).
:func:`run_nir` simulates such a graph with these equations and reads it out, so a round trip can be checked.
NIR fires when ``v > threshold``; SpikingJelly (and :func:`run_nir`) when ``v >= threshold``: they differ only
when the potential equals the threshold exactly.
"""

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional, Union

import nir
import numpy as np
import torch as th
from gymnasium import spaces
from spikingjelly.activation_based import neuron as sj_neuron
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

from sb3_spiking.neurons import NonSpikingReadout
from sb3_spiking.nir_sim import nir_readout, run_nir
from sb3_spiking.torch_layers import RepeatOverTime, SpikingNatureCNN

__all__ = [
    "NIR_EXPRESSIBLE_DECODERS",
    "DeterministicActor",
    "UnrolledNeuron",
    "action_network",
    "nir_readout",
    "run_nir",
    "to_nir",
    "to_onnx",
    "to_torchscript",
]

READOUTS = {"last-mem": "last", "mean-mem": "last", "fr-mlp": "last", "max-mem": "max", "max-abs-mem": "max-abs"}
NIR_EXPRESSIBLE_DECODERS = ("last-mem", "mean-mem", "fr-mlp")


def action_network(policy: BasePolicy) -> list[nn.Module]:
    """
    The modules that map a preprocessed observation to the policy's action outputs (Q-values, quantiles, logits
    or Gaussian means), in order.

    :param policy: A spiking DQN, QR-DQN or actor-critic policy
    """
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
        elif isinstance(module, (nn.Linear, nn.Conv2d, nn.Flatten, RepeatOverTime, sj_neuron.BaseNode, NonSpikingReadout)):
            leaves.append(module)
        else:
            raise ValueError(
                f"Cannot export {type(module).__name__}: supported layers are Linear, Conv2d, Flatten, IF / LIF / PLIF "
                "neurons and the non-spiking readout (Mlp and Cnn spiking policies; not Dict observations)"
            )
    return leaves


def _full(shape: tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def _neuron_node(module: sj_neuron.BaseNode, shape: tuple[int, ...], dt: float) -> nir.NIRNode:
    if module.v_reset is None:
        raise ValueError("NIR neurons reset to a potential: soft reset (v_reset=None) cannot be exported")
    threshold, reset = _full(shape, float(module.v_threshold)), _full(shape, float(module.v_reset))
    if isinstance(module, sj_neuron.IFNode):
        return nir.IF(r=_full(shape, 1.0 / dt), v_threshold=threshold, v_reset=reset)
    if isinstance(module, sj_neuron.ParametricLIFNode):
        tau = 1.0 / float(module.w.detach().sigmoid())
    elif isinstance(module, sj_neuron.LIFNode):
        tau = float(module.tau)
    else:
        raise ValueError(f"Cannot export neuron {type(module).__name__}: NIR export supports IF, LIF and PLIF neurons")
    r = 1.0 if module.decay_input else tau
    return nir.LIF(tau=_full(shape, tau * dt), r=_full(shape, r), v_leak=reset.copy(), v_threshold=threshold, v_reset=reset)


def _numpy(tensor: Optional[th.Tensor], size: int) -> np.ndarray:
    return np.zeros(size, dtype=np.float32) if tensor is None else tensor.detach().cpu().float().numpy()


def _nodes(module: nn.Module, x: th.Tensor, y: th.Tensor, T: int, dt: float) -> list[nir.NIRNode]:
    """The NIR nodes of one layer, given its input and output (``[B, ...]`` or ``[T, B, ...]``)."""
    shape = tuple(y.shape[2:] if y.dim() > x.dim() or isinstance(module, sj_neuron.BaseNode) else y.shape[1:])
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


def to_nir(policy: BasePolicy, path: Optional[Union[str, Path]] = None, dt: float = 1e-4) -> nir.NIRGraph:
    """
    The policy's spiking action network as a NIR graph (see the module documentation for the mapping).

    :param policy: A spiking DQN, QR-DQN or actor-critic policy (Mlp or Cnn)
    :param path: Where to write the graph (HDF5, ``nir.write``); ``None`` writes nothing
    :param dt: Time step in seconds (NIR time constants are ``tau * dt``); 1e-4 as in SpikingJelly's exporter
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
    with th.no_grad():
        for index, leaf in enumerate(leaves):
            y = leaf(x)
            for sub, node in enumerate(_nodes(leaf, x, y, readout.T, dt)):
                nodes[f"{index}_{sub}_{type(node).__name__.lower()}"] = node
            x = y
    nodes["output"] = nir.Output(output_type={"output": np.array([readout.linear.out_features])})
    names = list(nodes)
    metadata = {"T": readout.T, "dt": dt, "decoder": readout.decoder, "readout": READOUTS[readout.decoder]}
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=metadata)
    if path is not None:
        nir.write(str(path), graph)
    return graph


class UnrolledNeuron(nn.Module):
    """
    A SpikingJelly IF / LIF / PLIF layer (hard reset) as plain PyTorch operations, one per time step, with the same
    equations: charge ``v <- v + x`` (IF) or ``v <- v + (v_reset - v + x) / tau`` (LIF, PLIF with
    ``1 / tau = sigmoid(w)``; ``v <- v + (v_reset - v) / tau + x`` without input decay), fire ``v >= v_threshold``,
    reset ``v <- (1 - s) v + s v_reset``. Traced, it needs no SpikingJelly operator at load time.

    :param node: The neuron layer to copy
    """

    def __init__(self, node: sj_neuron.BaseNode) -> None:
        super().__init__()
        if node.v_reset is None:
            raise ValueError("Only hard-reset neurons (v_reset=0) can be exported")
        if not isinstance(node, (sj_neuron.IFNode, sj_neuron.LIFNode, sj_neuron.ParametricLIFNode)):
            raise ValueError(f"Cannot export neuron {type(node).__name__}: supported neurons are IF, LIF and PLIF")
        self.kind = "if" if isinstance(node, sj_neuron.IFNode) else "lif"
        self.v_threshold, self.v_reset = float(node.v_threshold), float(node.v_reset)
        self.decay_input = bool(getattr(node, "decay_input", True))
        self.plif = isinstance(node, sj_neuron.ParametricLIFNode)
        self.tau = 1.0 if self.kind == "if" or self.plif else float(node.tau)
        self.register_buffer("w", node.w.detach().clone() if self.plif else th.zeros(()))

    def forward(self, x_seq: th.Tensor) -> th.Tensor:
        v = th.full_like(x_seq[0], self.v_reset)
        spikes = []
        for x in x_seq.unbind(0):
            if self.kind == "if":
                v = v + x
            elif self.plif:
                v = (
                    v + (self.v_reset - v + x) * self.w.sigmoid()
                    if self.decay_input
                    else v + (self.v_reset - v) * self.w.sigmoid() + x
                )
            else:
                v = v + (self.v_reset - v + x) / self.tau if self.decay_input else v + (self.v_reset - v) / self.tau + x
            spike = (v >= self.v_threshold).to(x)
            v = (1.0 - spike) * v + spike * self.v_reset
            spikes.append(spike)
        return th.stack(spikes)


def _unroll(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, sj_neuron.BaseNode):
            setattr(module, name, UnrolledNeuron(child))
        else:
            _unroll(child)
    return module


class DeterministicActor(nn.Module):
    """
    The policy's deterministic action function as a plain module: observations ``[B, *obs_shape]`` in, the actions
    that ``model.predict(obs, deterministic=True)`` returns out (argmax for discrete actions; clipped, or unscaled
    when squashed, for Box actions). It holds a copy of the policy whose neurons are :class:`UnrolledNeuron`,
    so the ``T`` steps are plain operations when traced.

    :param policy: A spiking policy
    """

    def __init__(self, policy: BasePolicy) -> None:
        super().__init__()
        self.policy = _unroll(copy.deepcopy(policy)).eval()
        space = policy.action_space
        self.box = isinstance(space, spaces.Box)
        self.squash = bool(getattr(policy, "squash_output", False))
        if self.box:
            assert isinstance(space, spaces.Box)
            self.register_buffer("low", th.as_tensor(space.low, dtype=th.float32))
            self.register_buffer("high", th.as_tensor(space.high, dtype=th.float32))

    def forward(self, observations: th.Tensor) -> th.Tensor:
        actions = self.policy._predict(observations, deterministic=True)
        if self.box:
            if self.squash:
                return self.low + 0.5 * (actions + 1.0) * (self.high - self.low)
            return th.maximum(th.minimum(actions, self.high), self.low)
        return actions


@contextmanager
def _tracing() -> Iterator[None]:
    """No distribution argument checks while tracing: they would be frozen into the trace as constants."""
    validate = th.distributions.Distribution._validate_args
    th.distributions.Distribution.set_default_validate_args(False)
    try:
        with th.no_grad():
            yield
    finally:
        th.distributions.Distribution.set_default_validate_args(validate)


def _example(policy: BasePolicy, batch_size: int) -> th.Tensor:
    sample = np.stack([policy.observation_space.sample() for _ in range(batch_size)])
    return th.as_tensor(sample, device=policy.device)


def to_torchscript(policy: BasePolicy, path: Optional[Union[str, Path]] = None) -> th.jit.ScriptModule:
    """
    Trace the policy's deterministic action function (:class:`DeterministicActor`, ``T`` unrolled) to TorchScript,
    which runs without SB3, SpikingJelly or Python (``torch.jit.load``, or LibTorch in C++).

    :param policy: A spiking policy (Box, Discrete or MultiBinary observations)
    :param path: Where to save it (``torch.jit.save``); ``None`` saves nothing
    :return: The traced module: observations ``[B, *obs_shape]`` in, actions out
    """
    if isinstance(policy.observation_space, spaces.Dict):
        raise ValueError("to_torchscript supports Box, Discrete and MultiBinary observation spaces, not Dict ones")
    actor = DeterministicActor(policy).eval()
    with _tracing():
        traced = th.jit.trace(actor, _example(policy, 2), check_inputs=[(_example(policy, 3),)])
    if path is not None:
        th.jit.save(traced, str(path))
    return traced


def to_onnx(policy: BasePolicy, path: Union[str, Path]) -> None:
    """
    Export the policy's deterministic action function (:class:`DeterministicActor`, ``T`` unrolled) to ONNX, with a
    dynamic batch dimension: input ``"observations"``, output ``"actions"``. Needs the ``onnx`` and ``onnxscript``
    packages (``pip install sb3-spiking[extra]``); ``onnxruntime`` runs the file.

    :param policy: A spiking policy (Box, Discrete or MultiBinary observations)
    :param path: Where to write the ``.onnx`` file
    """
    if isinstance(policy.observation_space, spaces.Dict):
        raise ValueError("to_onnx supports Box, Discrete and MultiBinary observation spaces, not Dict ones")
    actor = DeterministicActor(policy).eval()
    with _tracing():
        th.onnx.export(
            actor,
            (_example(policy, 2),),
            str(path),
            input_names=["observations"],
            output_names=["actions"],
            dynamic_axes={"observations": {0: "batch"}, "actions": {0: "batch"}},
            dynamo=False,
        )
