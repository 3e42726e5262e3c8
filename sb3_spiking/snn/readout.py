"""
The non-spiking output layer: a linear layer feeds a leaky integrator ``v[t] = v[t-1] + (x[t] - v[t-1]) / tau``
from ``v[0] = 0`` whose neurons never fire, decoded into a real value by a statistic of the potential over time
(SpikingJelly's DSQN decoders and the non-spiking LIF readout of its spiking PPO).
"""

import torch as th
from torch import nn

from sb3_spiking.snn.config import DECODERS, SpikingConfig, choice
from sb3_spiking.snn.encoders import time_major
from sb3_spiking.snn.initialization import spiking_init_


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
        choice("decoder", decoder, DECODERS)
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


class PopulationReadout(nn.Module):
    """
    Population readout for continuous outputs (PopSAN's decoder): each of the ``out_features`` outputs has
    ``pop_size`` spiking neurons; their firing rates over the ``T`` steps, ``r[o, j]``, are reduced to the output by
    a learnable linear map per output, ``y[o] = sum_j w[o, j] r[o, j] + b[o]``.

    :param in_features: Size of the input (spike train ``[T, B, F]`` or static ``[B, F]``)
    :param out_features: Number of outputs (action dimensions)
    :param spiking: The spiking knobs (``T``, the neuron, ``pop_size``)
    """

    def __init__(self, in_features: int, out_features: int, spiking: SpikingConfig) -> None:
        super().__init__()
        self.T = spiking.T
        self.out_features = out_features
        self.pop_size = spiking.pop_size
        self.linear = spiking_init_(nn.Linear(in_features, out_features * self.pop_size), spiking.v_threshold)
        self.neuron = spiking.make_neuron()
        bound = 1.0 / self.pop_size**0.5
        self.weight = nn.Parameter(th.empty(out_features, self.pop_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(th.zeros(out_features))

    def rates(self, x: th.Tensor) -> th.Tensor:
        """Firing rates of the output populations ``[B, out_features, pop_size]``."""
        if x.dim() == 2:
            x = time_major(x, self.T)
        spikes = self.neuron(self.linear(x))
        return spikes.mean(dim=0).view(-1, self.out_features, self.pop_size)

    def forward(self, x: th.Tensor) -> th.Tensor:
        return (self.rates(x) * self.weight).sum(dim=-1) + self.bias

    def extra_repr(self) -> str:
        return f"T={self.T}, out_features={self.out_features}, pop_size={self.pop_size}"
