"""
Spiking neurons, surrogate gradients and non-spiking readouts, chosen by name.

Neurons and surrogate functions are SpikingJelly's (``spikingjelly.activation_based``). The neurons here differ
from SpikingJelly's only in that every call starts from rest and leaves no state behind, so no caller ever has
to reset a network. The readout is the non-spiking output layer of seeds 002 / 003: a leaky integrator
``v[t] = v[t-1] + (x[t] - v[t-1]) / tau`` from ``v[0] = 0``, decoded into a real value by a statistic over time.
"""

from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch as th
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based import surrogate as sj_surrogate
from torch import nn

from sb3_spiking.fused import fused_multi_step, fused_supported

SURROGATES: dict[str, Callable[[], sj_surrogate.SurrogateFunctionBase]] = {
    "atan": sj_surrogate.ATan,
    "sigmoid": sj_surrogate.Sigmoid,
    "erf": sj_surrogate.Erf,
    "soft-sign": sj_surrogate.SoftSign,
    "piecewise-quadratic": sj_surrogate.PiecewiseQuadratic,
}

DECODERS = ("last-mem", "max-mem", "max-abs-mem", "mean-mem", "fr-mlp")


class _RestingStartMixin:
    """
    Makes a SpikingJelly neuron stateless: each call runs from the resting potential and resets afterwards,
    so no membrane tensor (nor its autograd graph, nor its batch size) survives the call.
    """

    def forward(self, x_seq: th.Tensor) -> th.Tensor:
        if fused_supported(self, x_seq):  # type: ignore[arg-type]
            # The same update in one call, without touching the layer's state (see sb3_spiking.fused)
            return fused_multi_step(self, x_seq)  # type: ignore[arg-type]
        try:
            return super().forward(x_seq)  # type: ignore[misc]
        finally:
            self.reset()  # type: ignore[attr-defined]


class IFNode(_RestingStartMixin, sj_neuron.IFNode):
    """SpikingJelly's integrate-and-fire neuron, multi-step, starting from rest at every call."""


class LIFNode(_RestingStartMixin, sj_neuron.LIFNode):
    """SpikingJelly's leaky integrate-and-fire neuron, multi-step, starting from rest at every call."""


class ParametricLIFNode(_RestingStartMixin, sj_neuron.ParametricLIFNode):
    """SpikingJelly's LIF neuron with a learnable time constant, multi-step, starting from rest at every call."""


NEURONS: dict[str, type[sj_neuron.BaseNode]] = {"if": IFNode, "lif": LIFNode, "plif": ParametricLIFNode}


def _choice(kind: str, value: Any, choices: Any) -> str:
    if value not in choices:
        raise ValueError(f"Unknown {kind} {value!r}: valid choices are {', '.join(repr(c) for c in choices)}")
    return value


@dataclass(frozen=True)
class SpikingConfig:
    """
    The spiking knobs of a network, validated once. Every field is also a keyword of the spiking policies and
    features extractors, saved with the model.

    :param T: Number of simulation time steps per observation (>= 1)
    :param neuron: Hidden neuron model: ``"if"``, ``"lif"`` or ``"plif"`` (learnable time constant)
    :param tau: Membrane time constant of LIF / PLIF neurons (initial value for PLIF), > 1
    :param surrogate: Surrogate gradient of the spike function, one of :data:`SURROGATES`
    :param v_threshold: Firing threshold (> 0); neurons reset to 0 after a spike
    :param detach_reset: Whether the reset is detached from the autograd graph
    :param decoder: How the non-spiking output layer is read out, one of :data:`DECODERS`
    :param decoder_tau: Time constant of the non-spiking output integrator (>= 1; 1 makes it follow its input)
    """

    T: int = 8
    neuron: str = "lif"
    tau: float = 2.0
    surrogate: str = "atan"
    v_threshold: float = 1.0
    detach_reset: bool = True
    decoder: str = "max-mem"
    decoder_tau: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.T, bool) or not isinstance(self.T, int) or self.T < 1:
            raise ValueError(f"T must be an integer >= 1 (number of simulation steps), got {self.T!r}")
        _choice("neuron", self.neuron, NEURONS)
        _choice("surrogate", self.surrogate, SURROGATES)
        _choice("decoder", self.decoder, DECODERS)
        if self.neuron in ("lif", "plif") and not float(self.tau) > 1.0:
            raise ValueError(f"tau must be > 1 for the {self.neuron!r} neuron (membrane time constant), got {self.tau!r}")
        if not float(self.v_threshold) > 0.0:
            raise ValueError(f"v_threshold must be > 0, got {self.v_threshold!r}")
        if not float(self.decoder_tau) >= 1.0:
            raise ValueError(f"decoder_tau must be >= 1 (time constant of the non-spiking readout), got {self.decoder_tau!r}")
        if not isinstance(self.detach_reset, bool):
            raise ValueError(f"detach_reset must be True or False, got {self.detach_reset!r}")

    def to_kwargs(self) -> dict[str, Any]:
        """The knobs as keyword arguments."""
        return asdict(self)

    def neuron_kwargs(self) -> dict[str, Any]:
        """The knobs that spiking hidden layers (features extractors) take: all but the decoder's."""
        kwargs = self.to_kwargs()
        del kwargs["decoder"], kwargs["decoder_tau"]
        return kwargs

    def make_neuron(self) -> sj_neuron.BaseNode:
        """A fresh multi-step spiking neuron layer with these settings."""
        kwargs: dict[str, Any] = dict(
            v_threshold=float(self.v_threshold),
            v_reset=0.0,
            surrogate_function=SURROGATES[self.surrogate](),
            detach_reset=self.detach_reset,
            step_mode="m",
        )
        if self.neuron == "lif":
            kwargs["tau"] = float(self.tau)
        elif self.neuron == "plif":
            kwargs["init_tau"] = float(self.tau)
        return NEURONS[self.neuron](**kwargs)


def time_major(x: th.Tensor, T: int) -> th.Tensor:
    """
    Repeat a static tensor ``[B, ...]`` over ``T`` steps as a view ``[T, B, ...]`` (no copy).

    :param x: Static input
    :param T: Number of time steps
    """
    return x.unsqueeze(0).expand(T, *x.shape)


def leaky_integrator_kernel(T: int, tau: float) -> th.Tensor:
    """
    The ``[T, T]`` matrix ``K`` such that ``v = K @ x`` (over time) runs ``v[t] = v[t-1] + (x[t] - v[t-1]) / tau``
    from ``v = 0``: ``K[t, s] = (1 - 1/tau) ** (t - s) / tau`` for ``s <= t``, else 0.

    :param T: Number of time steps
    :param tau: Time constant (>= 1)
    """
    steps = th.arange(T, dtype=th.float64)
    lag = steps.view(-1, 1) - steps.view(1, -1)
    decay = (1.0 - 1.0 / tau) ** lag.clamp(min=0)
    return th.where(lag >= 0, decay / tau, th.zeros_like(decay)).float()


class NonSpikingReadout(nn.Module):
    """
    Output layer whose neurons never fire: a linear layer feeds a leaky integrator, and a statistic of its
    membrane potential over the ``T`` steps is the real-valued output (Q-values, logits, means, values).

    ``fr-mlp`` instead feeds the mean firing rate of the input spike train to the linear layer.

    :param linear: The synapses into the output neurons
    :param T: Number of time steps
    :param decoder: One of :data:`DECODERS`
    :param tau: Time constant of the output integrator (>= 1)
    """

    def __init__(self, linear: nn.Module, T: int, decoder: str = "max-mem", tau: float = 2.0) -> None:
        super().__init__()
        _choice("decoder", decoder, DECODERS)
        self.linear = linear
        self.T = T
        self.decoder = decoder
        self.tau = float(tau)
        kernel = leaky_integrator_kernel(T, self.tau)
        if decoder == "last-mem":
            kernel = kernel[-1:]
        elif decoder == "mean-mem":
            kernel = kernel.mean(dim=0, keepdim=True)
        # A function of (T, tau), not a learned or saved quantity: kept out of the state dict
        self.register_buffer("kernel", kernel, persistent=False)

    def membrane(self, x: th.Tensor) -> th.Tensor:
        """
        Membrane potential of the output neurons at every step.

        :param x: Input spike train ``[T, B, F]`` (or static input ``[B, F]``)
        :return: ``[T, B, out]``
        """
        if x.dim() == 2:
            x = time_major(x, self.T)
        current = self.linear(x)
        kernel = leaky_integrator_kernel(self.T, self.tau).to(current)
        return th.einsum("ts,sbo->tbo", kernel, current)

    def forward(self, x: th.Tensor) -> th.Tensor:
        """
        :param x: Input spike train ``[T, B, F]`` (or static input ``[B, F]``)
        :return: Decoded output ``[B, out]``
        """
        if x.dim() == 2:
            x = time_major(x, self.T)
        if self.decoder == "fr-mlp":
            return self.linear(x.mean(dim=0))
        current = self.linear(x)
        # The integrator over time as one matrix product: [T', T] @ [T, B * out]
        v = th.mm(self.kernel, current.reshape(current.shape[0], -1)).view(-1, *current.shape[1:])
        if self.decoder == "max-mem":
            return v.max(dim=0).values
        if self.decoder == "max-abs-mem":
            index = v.abs().argmax(dim=0, keepdim=True)
            return v.gather(0, index).squeeze(0)
        return v.squeeze(0)  # last-mem / mean-mem: the kernel already reduced time

    def extra_repr(self) -> str:
        return f"T={self.T}, decoder={self.decoder!r}, tau={self.tau}"
