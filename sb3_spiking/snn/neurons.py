"""
Spiking neurons and surrogate gradients, chosen by name.

Neurons and surrogate functions are SpikingJelly's (``spikingjelly.activation_based``). The neurons here differ
from SpikingJelly's only in that every call starts from rest and leaves no state behind, so no caller ever has
to reset a network.
"""

from typing import Callable

import torch as th
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based import surrogate as sj_surrogate

from sb3_spiking.snn.fused import fused_multi_step, fused_supported

SURROGATES: dict[str, Callable[[], sj_surrogate.SurrogateFunctionBase]] = {
    "atan": sj_surrogate.ATan,
    "sigmoid": sj_surrogate.Sigmoid,
    "erf": sj_surrogate.Erf,
    "soft-sign": sj_surrogate.SoftSign,
    "piecewise-quadratic": sj_surrogate.PiecewiseQuadratic,
}


class _RestingStartMixin:
    """
    Makes a SpikingJelly neuron stateless: each call runs from the resting potential and resets afterwards,
    so no membrane tensor (nor its autograd graph, nor its batch size) survives the call.
    """

    def forward(self, x_seq: th.Tensor) -> th.Tensor:
        if fused_supported(self, x_seq):  # type: ignore[arg-type]
            # The same update in one call, without touching the layer's state (see sb3_spiking.snn.fused)
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
