"""
Spiking layers whose membrane potential is carried from one env step to the next, for the stateful policies.

Every other network of the package starts each observation from rest. Here an env step is ``T`` simulation steps
(1 by default) that start where the previous env step of the same episode ended: the network is a dynamical system
fed one observation after another, as on neuromorphic hardware. The layers keep the package's layout (``[T, B, ...]``,
the encoder once per observation, time folded into the batch); only the neurons and the non-spiking readout differ:

- :class:`StatefulIFNode`, :class:`StatefulLIFNode`, :class:`StatefulParametricLIFNode`: SpikingJelly's own update
  (charge, fire, hard reset) started from a given potential instead of rest;
- :class:`StatefulReadout`: the non-spiking integrator ``u <- u + (y - u) / tau`` started from a given potential,
  its decoder reading the ``T`` steps of each env step.

The potentials never stay in the modules: :class:`~sb3_spiking.snn.membrane_state.MembraneState` hands them in
before a forward pass and takes them out after it (what RecurrentPPO stores in its buffer). A forward pass may hold
a whole sequence of env steps: the batch ``[n_seq * L, ...]`` is ``n_seq`` sequences of ``L`` steps each, sequence
major (RecurrentPPO's order); each stateful layer walks the ``L`` steps, resetting the potential to rest where an
episode starts. Outside :meth:`~sb3_spiking.snn.membrane_state.MembraneState.carry` these layers run from rest, like
the package's other layers.
"""

from typing import Optional, Union

import torch as th
from spikingjelly.activation_based import neuron as sj_neuron
from torch import nn

from sb3_spiking.snn.fused import spike_and_reset
from sb3_spiking.snn.initialization import spiking_init_
from sb3_spiking.snn.neurons import IFNode, LIFNode, ParametricLIFNode, _RestingStartMixin
from sb3_spiking.snn.readout import NonSpikingReadout, time_major


class Carry:
    """
    What a stateful layer needs for one forward pass: the potential it starts from and where episodes start.

    :param shape: ``(n_seq, L)``: ``n_seq`` sequences of ``L`` env steps
    :param v: The potential after the previous env step, ``[n_seq, *shape]`` (a pair of tensors for a layer with
        recurrent synapses: potential and spikes); None: at rest
    :param keep: ``[n_seq, L]``, 0 where an episode starts at that env step (the potential is reset to rest), else 1;
        None where no episode starts (:meth:`start` then skips the reset)
    :param starting: For each of the ``L`` env steps, whether an episode starts there in some sequence (:meth:`start`
        skips the others); None: any may
    """

    def __init__(
        self,
        shape: tuple[int, int],
        v: Optional[th.Tensor],
        keep: Optional[th.Tensor] = None,
        starting: Optional[list[bool]] = None,
    ) -> None:
        self.shape = shape
        self.v = v
        self.keep = keep
        self.starting = starting

    def start(self, step: int, v: Optional[th.Tensor]) -> Optional[th.Tensor]:
        """The potential an env step starts from: ``v``, reset to rest where an episode starts."""
        if v is None or self.keep is None or (self.starting is not None and not self.starting[step]):
            return v
        return v * self.keep[:, step].view(-1, *([1] * (v.dim() - 1)))


def _steps(x_seq: th.Tensor, carry: Carry) -> th.Tensor:
    """``[T, n_seq * L, ...]`` as ``[T, n_seq, L, ...]``."""
    n_seq, length = carry.shape
    return x_seq.reshape(x_seq.shape[0], n_seq, length, *x_seq.shape[2:])


def _single_step(carry: Carry) -> bool:
    """Whether each sequence is one env step (rollouts, predict), where the layers skip the reshapes of ``_steps``.
    Never while tracing: the shapes are then values that a Python branch would freeze into the trace."""
    return not th.jit.is_tracing() and carry.shape[1] == 1


def _direct_update_supported(node: sj_neuron.BaseNode) -> bool:
    """Whether :meth:`_CarriedStartMixin._direct` computes the layer's update (the configurations of the fused kernel)."""
    return (
        type(node).__mro__[2] in (IFNode, LIFNode, ParametricLIFNode)
        and node.v_reset == 0.0
        and not node.store_v_seq
        and getattr(node, "decay_input", True)
        and getattr(node, "_neuron_precision", None) is None
    )


class _CarriedStartMixin:
    """
    A neuron layer that starts from ``carry.v`` (when a :class:`Carry` is set) and leaves the end potential there.
    With recurrent synapses (a ``recurrent`` linear submodule, see :func:`add_recurrent_synapses_`) its state is
    ``[v, s]``, the potential and the spikes of the last simulation step, and it runs step by step also from rest.
    """

    carry: Optional[Carry] = None

    def forward(self, x_seq: th.Tensor) -> th.Tensor:
        carry = self.carry
        recurrent = self._modules.get("recurrent")  # type: ignore[attr-defined]
        if carry is None:
            if recurrent is None:
                return super().forward(x_seq)  # type: ignore[misc]  (from rest)
            carry = Carry((x_seq.shape[1], 1), None)  # one env step from rest, the spikes fed back
        n_seq, length = carry.shape
        single = _single_step(carry)
        x_steps = x_seq if single else _steps(x_seq, carry)
        v, s = carry.v, None
        if recurrent is not None and v is not None:
            v, s = v  # a layer with recurrent synapses carries (potential, spikes)
        spikes = []
        for step in range(length):
            v = carry.start(step, v)
            if recurrent is not None:  # at rest: no spike yet (the synapses still run, on zeros)
                s = x_seq.new_zeros((n_seq, *x_seq.shape[2:])) if s is None else carry.start(step, s)
            out, v, s = self._env_step(x_steps if single else x_steps[:, :, step], v, s)
            spikes.append(out)
        if self.carry is not None:
            carry.v = v if recurrent is None else (v, s)  # type: ignore[assignment]
        if single:  # no copy
            return spikes[0]
        return th.stack(spikes, dim=2).reshape(x_seq.shape)

    def _env_step(
        self, x_seq: th.Tensor, v: Optional[th.Tensor], s: Optional[th.Tensor]
    ) -> tuple[th.Tensor, th.Tensor, Optional[th.Tensor]]:
        """The ``T`` steps ``x_seq`` of one env step from the potential ``v`` (None: rest) and, with recurrent synapses,
        the spikes ``s`` of the step before: the spikes ``[T, ...]``, the end potential and, with recurrent synapses,
        the spikes of the last step (else None)."""
        if _direct_update_supported(self):  # type: ignore[arg-type]
            return self._direct(x_seq, v, s)
        try:
            return self._stepwise(x_seq, v, s)
        finally:
            self.reset()  # type: ignore[attr-defined]

    def _stepwise(
        self, x_seq: th.Tensor, v: Optional[th.Tensor], s: Optional[th.Tensor]
    ) -> tuple[th.Tensor, th.Tensor, Optional[th.Tensor]]:
        """SpikingJelly's own multi-step update from ``v`` (not the rest-start of the parent), step by step where
        the spikes ``s`` of the previous step feed back through the recurrent synapses."""
        self.v = 0.0 if v is None else v  # type: ignore[attr-defined]
        recurrent = self._modules.get("recurrent")  # type: ignore[attr-defined]
        if recurrent is None:
            out = super(_RestingStartMixin, self).forward(x_seq)  # type: ignore[misc]
            return out, self.v, None  # type: ignore[attr-defined]
        outs = []
        for x in x_seq:
            s = super(_RestingStartMixin, self).forward(recurrent(s, x).unsqueeze(0))[0]  # type: ignore[misc]
            outs.append(s)
        return th.stack(outs), self.v, s  # type: ignore[attr-defined]

    def _direct(
        self, x_seq: th.Tensor, v: Optional[th.Tensor], s: Optional[th.Tensor] = None
    ) -> tuple[th.Tensor, th.Tensor, Optional[th.Tensor]]:
        """
        The update of the fused kernel (:mod:`~sb3_spiking.snn.fused`: charge ``h = a v + b x``, fire with the
        layer's surrogate, hard reset to 0) from ``v``, in plain operations: SpikingJelly's per-call dispatch costs
        more than the arithmetic of one step. With recurrent synapses, ``x`` gains ``W_rec s``, ``s`` the spikes of the
        previous step.
        """
        if isinstance(self, sj_neuron.ParametricLIFNode):
            b: Optional[Union[th.Tensor, float]] = self.w.sigmoid()
        elif isinstance(self, sj_neuron.LIFNode):
            b = 1.0 / self.tau
        else:
            b = None  # integrate and fire: h = v + x
        threshold = float(self.v_threshold)  # type: ignore[attr-defined]
        recurrent = self._modules.get("recurrent")
        grad = th.is_grad_enabled()
        spikes = []
        for x in x_seq:
            if recurrent is not None:
                x = recurrent(s, x)
            if b is None:
                h = x if v is None else v + x
            else:
                h = b * x if v is None else th.lerp(v, x, b)  # v + (x - v) / tau, SpikingJelly's charge
            if grad:
                s, v = spike_and_reset(self, h)  # type: ignore[arg-type]
            else:
                fired = h >= threshold
                s = fired.to(h)
                v = h.masked_fill(fired, 0.0)
            spikes.append(s)
        last = s if recurrent is not None else None
        return (spikes[0].unsqueeze(0) if len(spikes) == 1 else th.stack(spikes)), v, last  # type: ignore[return-value]


class StatefulIFNode(_CarriedStartMixin, IFNode):
    """Integrate-and-fire neurons whose potential is carried across env steps (see :mod:`~sb3_spiking.snn.membrane_state`)."""


class StatefulLIFNode(_CarriedStartMixin, LIFNode):
    """Leaky integrate-and-fire neurons whose potential is carried across env steps (see
    :mod:`~sb3_spiking.snn.membrane_state`)."""


class StatefulParametricLIFNode(_CarriedStartMixin, ParametricLIFNode):
    """PLIF neurons whose potential is carried across env steps (see :mod:`~sb3_spiking.snn.membrane_state`)."""


STATEFUL_NEURONS: dict[type[sj_neuron.BaseNode], type[sj_neuron.BaseNode]] = {
    IFNode: StatefulIFNode,
    LIFNode: StatefulLIFNode,
    ParametricLIFNode: StatefulParametricLIFNode,
}


def make_stateful_(module: nn.Module) -> nn.Module:
    """
    Turn every neuron layer of a network into its stateful counterpart, in place (same parameters and knobs).

    :param module: A network built by the package's builders (``spiking_mlp``, the spiking CNNs)
    :return: The same network
    """
    for sub in module.modules():
        stateful = STATEFUL_NEURONS.get(type(sub))
        if stateful is not None:
            sub.__class__ = stateful  # a subclass that adds no state: only how a forward pass starts
        elif isinstance(sub, sj_neuron.BaseNode) and not isinstance(sub, _CarriedStartMixin):
            raise TypeError(f"No stateful counterpart for the neuron layer {type(sub).__name__}")
    return module


class RecurrentSynapses(nn.Linear):
    """
    Synapses from a neuron layer's spikes back to its own input (no bias), called once per simulation step on the
    spikes ``[B, size]`` of the step before; the telemetry counts their synaptic operations per observation.

    :param size: Number of neurons of the layer
    :param T: Simulation steps per observation (env step)
    """

    def __init__(self, size: int, T: int) -> None:
        super().__init__(size, size, bias=False)
        self.T = T

    def forward(self, spikes: th.Tensor, current: Optional[th.Tensor] = None) -> th.Tensor:
        """``W_rec spikes``, added to ``current`` (the feed-forward input) in the same call when it is given."""
        if current is None:
            return super().forward(spikes)
        return th.addmm(current, spikes, self.weight.t())

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, T={self.T}"


def add_recurrent_synapses_(layers: nn.Sequential, T: int, v_threshold: float, gain: float) -> nn.Sequential:
    """
    Give every stateful neuron layer of a fully connected stack (``Linear -> neuron`` as
    :func:`~sb3_spiking.snn.layers.spiking_mlp` builds it, made stateful) recurrent synapses from its own spikes:
    at each simulation step its input current gains ``W_rec s[t - 1]``, ``s[t - 1]`` its spikes one step earlier
    (carried across env steps with the potential). ``W_rec`` (:class:`RecurrentSynapses`) starts as the
    threshold-aware initialisation with ``gain``. In place.

    :param layers: The stack
    :param T: Simulation steps per env step
    :param v_threshold: Firing threshold of its neurons
    :param gain: Scale of the recurrent weights relative to the threshold (see :func:`spiking_init_`)
    :return: ``layers``
    """
    size = None
    for layer in layers:
        if isinstance(layer, nn.Linear):
            size = layer.out_features
        elif isinstance(layer, _CarriedStartMixin):
            if size is None:
                raise ValueError("Recurrent synapses need a linear layer in front of each neuron layer")
            layer.recurrent = spiking_init_(RecurrentSynapses(size, T), v_threshold, gain)  # type: ignore[union-attr]
    return layers


def _decode(decoder: str, u: th.Tensor) -> th.Tensor:
    """A decoder's statistic over the ``T`` steps ``[T, ...]`` of one env step."""
    if decoder in ("last-mem",):
        return u[-1]
    if decoder == "max-mem":
        return u.max(dim=0).values
    if decoder == "mean-mem":
        return u.mean(dim=0)
    index = u.abs().argmax(dim=0, keepdim=True)  # max-abs-mem
    return u.gather(0, index).squeeze(0)


class StatefulReadout(NonSpikingReadout):
    """
    The non-spiking readout (:class:`~sb3_spiking.snn.readout.NonSpikingReadout`) whose integrator starts each env
    step from the potential that the previous one ended with; the decoder reads the ``T`` steps of each env step.
    ``fr-mlp`` has no integrator, hence no state: it reads the mean firing rate of each env step.
    """

    carry: Optional[Carry] = None

    def forward(self, x: th.Tensor) -> th.Tensor:
        carry = self.carry
        if carry is None:
            return super().forward(x)
        if x.dim() == 2:
            x = time_major(x, self.T)
        if self.decoder == "fr-mlp":
            carry.v = x.new_zeros(carry.shape[0], 0)
            return self.linear(x.mean(dim=0))
        current = self.linear(x)
        u = carry.v if carry.v is not None else current.new_zeros(carry.shape[0], current.shape[-1])
        if self.T == 1 and _single_step(carry):  # one simulation step of one env step: every decoder reads u
            carry.v = th.lerp(carry.start(0, u), current[0], 1.0 / self.tau)
            return carry.v
        current = _steps(current, carry)  # [T, n_seq, L, out]
        decoded = []
        for step in range(current.shape[2]):
            u = carry.start(step, u)
            trace = []
            for t in range(current.shape[0]):
                u = th.lerp(u, current[t, :, step], 1.0 / self.tau)  # u + (y - u) / tau
                trace.append(u)
            decoded.append(u if len(trace) == 1 else _decode(self.decoder, th.stack(trace)))  # one step: every decoder reads u
        carry.v = u
        if len(decoded) == 1:
            return decoded[0]
        return th.stack(decoded, dim=1).reshape(-1, current.shape[3])


def make_stateful_readout(readout: NonSpikingReadout) -> StatefulReadout:
    """The stateful counterpart of a non-spiking readout, on the same linear layer (same parameters)."""
    return StatefulReadout(readout.linear, readout.T, readout.decoder, readout.tau)
