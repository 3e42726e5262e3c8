"""
The non-spiking output layer: a linear layer feeds a leaky integrator ``v[t] = v[t-1] + (x[t] - v[t-1]) / tau``
from ``v[0] = 0`` whose neurons never fire, decoded into a real value by a statistic of the potential over time
(SpikingJelly's DSQN decoders and the non-spiking LIF readout of its spiking PPO).
"""

from typing import Optional

import torch as th
from torch import nn

from sb3_spiking.snn.config import DECODERS, SpikingConfig, choice
from sb3_spiking.snn.encoders import time_major
from sb3_spiking.snn.initialization import spiking_init_

#: Up to this many steps the integrator over time is one ``[T, T]`` matrix product (fast for small ``T``); longer
#: simulations run it block by block, so that memory and time grow linearly with ``T``
BLOCK = 64


def leaky_integrator_kernel(T: int, tau: float) -> th.Tensor:
    """
    The ``[T, T]`` matrix ``K`` such that ``v = K @ x`` (over time) runs ``v[t] = v[t-1] + (x[t] - v[t-1]) / tau``
    from ``v = 0``: ``K[t, s] = (1 - 1/tau) ** (t - s) / tau`` for ``s <= t``, else 0. Quadratic in ``T``:
    :class:`NonSpikingReadout` only builds it for ``T <= BLOCK``.

    :param T: Number of time steps
    :param tau: Time constant (>= 1)
    """
    steps = th.arange(T, dtype=th.float64)
    lag = steps.view(-1, 1) - steps.view(1, -1)
    decay = (1.0 - 1.0 / tau) ** lag.clamp(min=0)
    return th.where(lag >= 0, decay / tau, th.zeros_like(decay)).float()


def decoder_kernel(T: int, tau: float, decoder: str) -> th.Tensor:
    """
    The matrix that the readout multiplies the input currents ``[T, B * out]`` by: for ``last-mem`` and
    ``mean-mem`` the one row ``[1, T]`` that gives the last / mean potential directly, else the integrator over
    ``min(T, BLOCK)`` steps (applied block by block beyond ``BLOCK``). Linear in ``T``, same values as
    :func:`leaky_integrator_kernel`'s last row and column means.

    :param T: Number of time steps
    :param tau: Time constant (>= 1)
    :param decoder: One of :data:`DECODERS`
    """
    if decoder not in ("last-mem", "mean-mem"):
        return leaky_integrator_kernel(min(T, BLOCK), tau)
    if T <= BLOCK:
        kernel = leaky_integrator_kernel(T, tau)
        return kernel[-1:] if decoder == "last-mem" else kernel.mean(dim=0, keepdim=True)
    decay, steps = 1.0 - 1.0 / tau, th.arange(T, dtype=th.float64)
    if decoder == "last-mem":
        return (decay ** (T - 1 - steps) / tau).view(1, -1).float()
    # mean over t >= s of decay ** (t - s) / tau, a geometric sum: (1 - decay ** (T - s)) / T
    return ((1.0 - decay ** (T - steps)) / T).view(1, -1).float()


class NonSpikingReadout(nn.Module):
    """
    Output layer whose neurons never fire: a linear layer feeds a leaky integrator, and a statistic of its
    membrane potential over the ``T`` steps is the real-valued output (Q-values, logits, means, values).

    ``fr-mlp`` instead feeds the mean firing rate of the input spike train to the linear layer. Memory and time
    are linear in ``T`` (:data:`BLOCK`).

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
        # Functions of (T, tau), not learned or saved quantities: kept out of the state dict
        self.register_buffer("kernel", decoder_kernel(T, self.tau, decoder), persistent=False)
        # Needed beyond one block only (see _block_decay)
        self.register_buffer("block_decay", self._block_decay() if T > BLOCK else th.zeros(0, 1), persistent=False)

    def _block_decay(self, like: Optional[th.Tensor] = None) -> th.Tensor:
        """The decay of a block's last potential over the next block's steps, ``(1 - 1/tau) ** (1..BLOCK)``."""
        carry = ((1.0 - 1.0 / self.tau) ** th.arange(1, BLOCK + 1, dtype=th.float64)).view(-1, 1).float()
        return carry if like is None else carry.to(like)

    def integrate(self, current: th.Tensor) -> th.Tensor:
        """
        Membrane potential at every step for the input currents ``[T, N]``: one matrix product up to
        :data:`BLOCK` steps, then block by block with the potential carried over.
        """
        if current.shape[0] <= BLOCK:
            return th.mm(leaky_integrator_kernel(current.shape[0], self.tau).to(current), current)
        kernel = self.kernel if self.kernel.shape[0] == BLOCK else leaky_integrator_kernel(BLOCK, self.tau).to(current)
        T, n = current.shape
        blocks = -(-T // BLOCK)
        padded = nn.functional.pad(current, (0, 0, 0, blocks * BLOCK - T)).view(blocks, BLOCK, n)
        local = th.matmul(kernel, padded)  # each block from rest: [blocks, BLOCK, n]
        # The potential at the end of each block, carried over: e[k] = local[k, -1] + decay ** BLOCK * e[k - 1]
        carry = self.block_decay if self.block_decay.shape[0] == BLOCK else self._block_decay(current)
        decay = carry[-1]
        ends, end = [], th.zeros_like(local[0, -1])
        for last in local[:-1, -1].unbind(0):
            end = last + decay * end
            ends.append(end)
        carried = th.stack([th.zeros_like(end), *ends]) if ends else th.zeros_like(local[:, -1])
        v = local + carry.view(1, BLOCK, 1) * carried.unsqueeze(1)
        return v.view(blocks * BLOCK, n)[:T]

    def membrane(self, x: th.Tensor) -> th.Tensor:
        """
        Membrane potential of the output neurons at every step.

        :param x: Input spike train ``[T, B, F]`` (or static input ``[B, F]``)
        :return: ``[T, B, out]``
        """
        if x.dim() == 2:
            x = time_major(x, self.T)
        current = self.linear(x)
        return self.integrate(current.reshape(current.shape[0], -1)).view(current.shape)

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
        flat = current.reshape(current.shape[0], -1)
        if self.decoder in ("last-mem", "mean-mem"):
            # The kernel already reduced time: [1, T] @ [T, B * out]
            return th.mm(self.kernel, flat).view(current.shape[1:])
        # The integrator over time: [T, T] @ [T, B * out] up to BLOCK steps, block by block beyond
        v = (th.mm(self.kernel, flat) if current.shape[0] <= BLOCK else self.integrate(flat)).view(current.shape)
        if self.decoder == "max-mem":
            return v.max(dim=0).values
        index = v.abs().argmax(dim=0, keepdim=True)  # max-abs-mem
        return v.gather(0, index).squeeze(0)

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
