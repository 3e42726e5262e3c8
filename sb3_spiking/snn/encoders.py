"""
How observations enter a spiking network: the learnable linear encoder of direct encoding (the first layer of
:func:`~sb3_spiking.snn.layers.spiking_mlp`, repeated over time by :func:`time_major`), or a population of
Gaussian receptive fields in front of it.

Population coding (PopSAN, PDSAN): each observation dimension ``d`` is read by ``pop_size`` neurons ``j`` whose
activation is ``a[d, j] = exp(-(x[d] - mu[d, j])^2 / (2 sigma[d, j]^2))``, with learnable centres ``mu`` and widths
``sigma``. The activations are computed once per observation and drive the first spiking layer (through its
learnable linear synapses) as a constant current for the ``T`` steps: deterministic, no sampling.
"""

from typing import Optional, Union

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

Bounds = tuple[Union[float, np.ndarray], Union[float, np.ndarray]]


def time_major(x: th.Tensor, T: int) -> th.Tensor:
    """
    Repeat a static tensor ``[B, ...]`` over ``T`` steps as a view ``[T, B, ...]`` (no copy): the constant current
    of direct encoding, and how a static input reaches layers that take spike trains.

    :param x: Static input
    :param T: Number of time steps
    """
    x = x.unsqueeze(0)
    return x if T == 1 else x.expand(T, *x.shape[1:])


def observation_bounds(observation_space: spaces.Space, features_extractor: nn.Module) -> Optional[Bounds]:
    """
    The bounds of the features that a flattening extractor passes on from a Box (``None`` otherwise); infinite
    bounds become the default range of :class:`PopulationEncoder`.

    :param observation_space: The observation space
    :param features_extractor: The policy's features extractor
    """
    if not isinstance(observation_space, spaces.Box) or not isinstance(features_extractor, FlattenExtractor):
        return None
    low = np.asarray(observation_space.low, dtype=np.float64).flatten()
    high = np.asarray(observation_space.high, dtype=np.float64).flatten()
    finite = np.isfinite(low) & np.isfinite(high) & (high > low)
    return np.where(finite, low, -1.0), np.where(finite, high, 1.0)


class PopulationEncoder(nn.Module):
    """
    Gaussian receptive fields: ``[B, input_dim]`` in, ``[B, input_dim * pop_size]`` activations in ``(0, 1]`` out,
    ordered dimension by dimension. The centres start evenly spaced over ``[low, high]`` of each dimension, the
    widths at the spacing between neighbouring centres (half the range when ``pop_size`` is 1); both are learned.

    :param input_dim: Number of observation dimensions
    :param pop_size: Neurons per dimension
    :param low: Lower end of each dimension's range (a number or one per dimension)
    :param high: Upper end of each dimension's range
    """

    def __init__(
        self, input_dim: int, pop_size: int, low: Union[float, np.ndarray] = -1.0, high: Union[float, np.ndarray] = 1.0
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.pop_size = pop_size
        low_t = th.tensor(np.broadcast_to(low, (input_dim,)), dtype=th.float32).view(-1, 1)
        high_t = th.tensor(np.broadcast_to(high, (input_dim,)), dtype=th.float32).view(-1, 1)
        if not bool((high_t > low_t).all()):
            raise ValueError("PopulationEncoder needs high > low in every dimension")
        if pop_size == 1:
            centres, widths = (low_t + high_t) / 2, (high_t - low_t) / 2
        else:
            centres = low_t + (high_t - low_t) * th.linspace(0.0, 1.0, pop_size).view(1, -1)
            widths = ((high_t - low_t) / (pop_size - 1)).expand(-1, pop_size)
        self.centres = nn.Parameter(centres.expand(input_dim, pop_size).clone())
        self.widths = nn.Parameter(widths.expand(input_dim, pop_size).clone())

    def forward(self, x: th.Tensor) -> th.Tensor:
        if x.dim() != 2:
            raise ValueError(
                f"The population encoder reads static vector features [B, F], got a tensor of shape {tuple(x.shape)} "
                "(a spike train from a spiking CNN?): use encoder='linear' there"
            )
        distance = (x.unsqueeze(-1) - self.centres) / self.widths
        return th.exp(-0.5 * distance.square()).flatten(1)

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, pop_size={self.pop_size}"
