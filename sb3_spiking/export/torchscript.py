"""
Export a spiking policy's deterministic action function to TorchScript or ONNX, with the ``T`` steps unrolled into
plain PyTorch operations: the files run without SB3, SpikingJelly or (TorchScript) Python.
"""

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch as th
from gymnasium import spaces
from spikingjelly.activation_based import base as sj_base
from spikingjelly.activation_based import neuron as sj_neuron
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import BasePolicy
from torch import nn


class UnrolledNeuron(nn.Module):
    """
    A SpikingJelly IF / LIF / PLIF layer as plain PyTorch operations, one per time step, with the same equations:
    charge ``v <- v + x`` (IF) or ``v <- v + (v_reset - v + x) / tau`` (LIF, PLIF with ``1 / tau = sigmoid(w)``;
    ``v <- v + (v_reset - v) / tau + x`` without input decay; ``v_reset = 0`` there for the soft reset), fire
    ``v >= v_threshold``, reset ``v <- (1 - s) v + s v_reset`` (hard) or ``v <- v - s v_threshold`` (soft,
    ``v_reset=None``). Traced, it needs no SpikingJelly operator at load time.

    :param node: The neuron layer to copy
    """

    def __init__(self, node: sj_neuron.BaseNode) -> None:
        super().__init__()
        if not isinstance(node, (sj_neuron.IFNode, sj_neuron.LIFNode, sj_neuron.ParametricLIFNode)):
            raise ValueError(f"Cannot export neuron {type(node).__name__}: supported neurons are IF, LIF and PLIF")
        self.kind = "if" if isinstance(node, sj_neuron.IFNode) else "lif"
        self.soft = node.v_reset is None
        self.v_threshold, self.v_reset = float(node.v_threshold), 0.0 if self.soft else float(node.v_reset)
        self.decay_input = bool(getattr(node, "decay_input", True))
        self.plif = isinstance(node, sj_neuron.ParametricLIFNode)
        self.tau = 1.0 if self.kind == "if" or self.plif else float(node.tau)
        self.register_buffer("w", node.w.detach().clone() if self.plif else th.zeros(()))

    def forward(self, x_seq: th.Tensor) -> th.Tensor:
        return self.run(x_seq, th.full_like(x_seq[0], self.v_reset))[0]

    def run(self, x_seq: th.Tensor, v: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """The spikes ``[T, ...]`` for ``x_seq`` from the potential ``v``, and the potential after the last step."""
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
            v = v - spike * self.v_threshold if self.soft else (1.0 - spike) * v + spike * self.v_reset
            spikes.append(spike)
        return th.stack(spikes), v


class FoldTime(nn.Module):
    """
    A SpikingJelly stateless layer in multi-step mode (``layer.Conv2d``, ``layer.Flatten``...) as its single-step
    self on ``[T * B, ...]``, unfolded back to ``[T, B, ...]`` with the batch left free (``-1``), so that an exported
    graph takes any batch size (SpikingJelly's own folding writes the traced batch size into the graph).

    :param layer: The multi-step layer (switched to single-step mode: pass a copy)
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        layer.step_mode = "s"
        self.layer = layer

    def forward(self, x_seq: th.Tensor) -> th.Tensor:
        y = self.layer(x_seq.flatten(0, 1))
        return y.view(x_seq.shape[0], -1, *y.shape[1:])


def _unroll(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, sj_neuron.BaseNode):
            setattr(module, name, UnrolledNeuron(child))
        elif isinstance(child, sj_base.StepModule) and getattr(child, "step_mode", "s") == "m":
            setattr(module, name, FoldTime(child))
        else:
            _unroll(child)
    return module


def _copy_without_noise(policy: BasePolicy) -> BasePolicy:
    """
    A deep copy of the policy whose action distributions keep no sampled tensor: gSDE (``use_sde=True``) keeps
    its last exploration matrices and distribution, tensors of an autograd graph that ``copy.deepcopy`` refuses,
    and that the deterministic action does not read.
    """
    memo: dict[int, Any] = {}
    for module in policy.modules():
        for value in vars(module).values():
            if isinstance(value, Distribution) and id(value) not in memo:
                bare = copy.copy(value)
                for name, attribute in vars(value).items():
                    if isinstance(attribute, (th.Tensor, th.distributions.Distribution)):
                        setattr(bare, name, None)
                memo[id(value)] = bare
    return copy.deepcopy(policy, memo)


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
        self.policy = _unroll(_copy_without_noise(policy)).eval()
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
