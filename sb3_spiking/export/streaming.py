"""
Export of a stateful spiking policy's streaming step (``SpikingMlpRecurrentPolicy`` and its Cnn variant): one env
step, observation and potentials in, action and potentials out, as the network runs on hardware.

- :func:`to_torchscript_step` / :func:`to_onnx_step`: the deterministic step of the actor (:class:`StreamingActor`),
  with inputs ``observations [B, *obs_shape]``, ``state [B, N]`` (the actor's potentials, :attr:`StreamingActor.size`
  of them, 0 at rest) and ``episode_starts [B]`` (1 resets the potentials to rest first), and outputs ``actions``
  and ``next_state``. The ``T`` simulation steps are plain operations, as in :mod:`~sb3_spiking.export.torchscript`.
- :func:`to_nir_streaming`: the actor as a NIR graph (:func:`~sb3_spiking.export.nir_graph.to_nir`). NIR neurons
  keep their state, so the graph fed one observation after another for ``T`` steps each, never reset within an
  episode, is the policy as it runs: :func:`run_nir_streaming` simulates exactly that.

RecurrentPPO's state ``(h, c)`` (``[1, B, H]`` each, from ``predict``) holds the same potentials:
:func:`flat_actor_state` turns it into ``state``.
"""

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import numpy as np
import torch as th
from gymnasium import spaces
from spikingjelly.activation_based import neuron as sj_neuron
from torch import nn

from sb3_spiking.export.torchscript import UnrolledNeuron, _example, _tracing
from sb3_spiking.snn.membrane_state import MembraneState
from sb3_spiking.snn.stateful import _CarriedStartMixin

if TYPE_CHECKING:  # nir is optional: imported by the NIR functions only
    import nir


class UnrolledStatefulNeuron(_CarriedStartMixin, UnrolledNeuron):
    """
    :class:`~sb3_spiking.export.torchscript.UnrolledNeuron` started from the carried potential, with the layer's
    recurrent synapses if it has them.

    :param node: The stateful neuron layer to copy
    """

    def __init__(self, node: sj_neuron.BaseNode) -> None:
        super().__init__(node)
        if getattr(node, "recurrent", None) is not None:
            self.recurrent = node.recurrent

    def _env_step(
        self, x_seq: th.Tensor, v: Optional[th.Tensor], s: Optional[th.Tensor]
    ) -> tuple[th.Tensor, th.Tensor, Optional[th.Tensor]]:
        v = th.full_like(x_seq[0], self.v_reset) if v is None else v
        recurrent = self._modules.get("recurrent")
        if recurrent is None:
            return (*self.run(x_seq, v), None)
        spikes = []
        for x in x_seq.unbind(0):
            out, v = self.run(recurrent(s, x).unsqueeze(0), v)
            s = out[0]
            spikes.append(s)
        return th.stack(spikes), v, s


def _check(policy: nn.Module) -> None:
    if not isinstance(getattr(policy, "actor_state", None), MembraneState):
        raise ValueError(f"Expected a stateful spiking policy (SpikingMlpRecurrentPolicy...), got {type(policy).__name__}")


def flat_actor_state(policy: nn.Module, lstm_state: tuple) -> th.Tensor:
    """
    The actor's potentials ``[B, N]`` from RecurrentPPO's actor state ``(h, c)`` (``[1, B, H]`` each, tensors or
    arrays, as ``predict`` returns them).

    :param policy: The stateful spiking policy
    :param lstm_state: ``(h, c)``
    """
    _check(policy)
    h, c = (th.as_tensor(np.asarray(part)) for part in lstm_state)
    return policy.actor_state.flat_from_halves(h[0], c[0])


class StreamingActor(nn.Module):
    """
    The deterministic streaming step of a stateful spiking policy as a plain module (neurons unrolled, no
    SpikingJelly operator): ``(observations, state, episode_starts) -> (actions, next_state)``, the actions that
    ``model.predict(obs, state, episode_start, deterministic=True)`` returns.

    :param policy: A stateful spiking policy
    """

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        _check(policy)
        self.policy = copy.deepcopy(policy).eval()
        for module in list(self.policy.modules()):
            for name, child in module.named_children():
                if isinstance(child, sj_neuron.BaseNode):
                    setattr(module, name, UnrolledStatefulNeuron(child))
        parts = [self.policy.pi_features_extractor, self.policy.mlp_extractor.policy_net, self.policy.action_net]
        self.state = MembraneState(parts)
        self.state.shapes, self.state.pairs = list(policy.actor_state.shapes), list(policy.actor_state.pairs)
        #: Number of potentials in ``state``
        self.size = self.state.size
        space = policy.action_space
        self.box = isinstance(space, spaces.Box)
        self.squash = bool(getattr(policy, "squash_output", False))
        if self.box:
            assert isinstance(space, spaces.Box)
            self.register_buffer("low", th.as_tensor(space.low, dtype=th.float32))
            self.register_buffer("high", th.as_tensor(space.high, dtype=th.float32))

    def forward(self, observations: th.Tensor, state: th.Tensor, episode_starts: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        with self.state.carry(state, episode_starts) as carries:
            actions = self.policy._actor_outputs(observations).get_actions(deterministic=True)
        next_state = MembraneState.flatten(carries, state.shape[0], state)
        if self.box:
            if self.squash:
                actions = self.low + 0.5 * (actions + 1.0) * (self.high - self.low)
            else:
                actions = th.maximum(th.minimum(actions, self.high), self.low)
        return actions, next_state


def _inputs(actor: StreamingActor, policy: nn.Module, batch_size: int) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    observations = _example(policy, batch_size)  # type: ignore[arg-type]
    state = th.rand(batch_size, actor.size, device=observations.device) * 0.5
    return observations, state, (th.arange(batch_size, device=observations.device) == 0).float()


def to_torchscript_step(policy: nn.Module, path: Optional[Union[str, Path]] = None) -> th.jit.ScriptModule:
    """
    Trace the streaming step (:class:`StreamingActor`) to TorchScript.

    :param policy: A stateful spiking policy (Box, Discrete or MultiBinary observations)
    :param path: Where to save it (``torch.jit.save``); ``None`` saves nothing
    :return: The traced module: ``(observations, state, episode_starts) -> (actions, next_state)``
    """
    if isinstance(policy.observation_space, spaces.Dict):
        raise ValueError("to_torchscript_step supports Box, Discrete and MultiBinary observation spaces, not Dict ones")
    actor = StreamingActor(policy).eval()
    with _tracing():
        traced = th.jit.trace(actor, _inputs(actor, policy, 2), check_inputs=[_inputs(actor, policy, 3)])
    if path is not None:
        th.jit.save(traced, str(path))
    return traced


def to_onnx_step(policy: nn.Module, path: Union[str, Path]) -> None:
    """
    Export the streaming step (:class:`StreamingActor`) to ONNX with a dynamic batch dimension: inputs
    ``"observations"``, ``"state"``, ``"episode_starts"``; outputs ``"actions"``, ``"next_state"``.

    :param policy: A stateful spiking policy (Box, Discrete or MultiBinary observations)
    :param path: Where to write the ``.onnx`` file
    """
    if isinstance(policy.observation_space, spaces.Dict):
        raise ValueError("to_onnx_step supports Box, Discrete and MultiBinary observation spaces, not Dict ones")
    actor = StreamingActor(policy).eval()
    names = ["observations", "state", "episode_starts", "actions", "next_state"]
    with _tracing():
        th.onnx.export(
            actor,
            _inputs(actor, policy, 2),
            str(path),
            input_names=names[:3],
            output_names=names[3:],
            dynamic_axes={name: {0: "batch"} for name in names},
            dynamo=False,
        )


def to_nir_streaming(policy: nn.Module, path: Optional[Union[str, Path]] = None, dt: float = 1e-4) -> "nir.NIRGraph":
    """
    The stateful policy's actor as a NIR graph, marked ``metadata["stateful"] = True``: run it on each env step's
    observation for ``metadata["T"]`` steps without resetting its neurons (reset them where an episode starts).

    :param policy: A stateful spiking policy (Mlp or Cnn)
    :param path: Where to write the graph (``nir.write``); ``None`` writes nothing
    :param dt: Time step in seconds
    """
    import nir

    from sb3_spiking.export.nir_graph import to_nir

    _check(policy)
    spiking = policy.spiking
    readable = ("last-mem",) + (("max-mem", "max-abs-mem") if spiking.T == 1 else ())
    if spiking.decoder not in readable:
        raise ValueError(
            f"A streaming NIR graph reads the readout's potential at the end of each env step: decoder "
            f"{spiking.decoder!r} with T={spiking.T} cannot be read so; valid choices are {', '.join(map(repr, readable))}"
        )
    graph = to_nir(policy, None, dt)
    graph.metadata["stateful"] = True
    if path is not None:
        nir.write(str(path), graph)
    return graph


def run_nir_streaming(graph: "nir.NIRGraph", observations: th.Tensor, episode_starts: th.Tensor) -> th.Tensor:
    """
    Simulate a graph of :func:`to_nir_streaming` along an episode (or several, one per batch column): each env step
    holds its observation for ``T`` steps, the nodes keep their state from one env step to the next (reset to 0
    where an episode starts), and the readout is read at the end of each env step as the policy does.

    :param graph: The graph
    :param observations: Preprocessed observations ``[L, B, *input_shape]``
    :param episode_starts: ``[L, B]``, 1 where an episode starts
    :return: The decoded outputs ``[L, B, out]`` (logits, Gaussian means)
    """
    from sb3_spiking.export.nir_sim import _order, graph_step

    T, dt = int(graph.metadata["T"]), float(graph.metadata["dt"])
    order = _order(graph)
    state: dict[str, Optional[th.Tensor]] = {}
    outputs = []
    for x, starts in zip(observations, episode_starts):
        keep = 1.0 - starts.to(x)
        state = {k: (None if v is None else v * keep.view(-1, *([1] * (v.dim() - 1)))) for k, v in state.items()}
        for _ in range(T):
            output = graph_step(graph, order, x, state, dt)
        outputs.append(output)
    return th.stack(outputs)
