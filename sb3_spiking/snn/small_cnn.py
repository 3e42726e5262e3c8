"""
A spiking CNN for small images such as MinAtar's 10x10 frames: a few convolutions and one hidden linear layer,
each followed by spiking neurons. MinAtar's reference network is the default: one 3x3 convolution with 16 channels
and stride 1, then 128 hidden units.
"""

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import torch as th
from gymnasium import spaces
from spikingjelly.activation_based import layer
from torch import nn

from sb3_spiking.snn.extractors import SpikingFeaturesExtractor
from sb3_spiking.snn.initialization import spiking_init_
from sb3_spiking.snn.layers import RepeatOverTime

#: MinAtar's reference convolutions: (out_channels, kernel_size, stride) per layer
MINATAR_CONV_LAYERS = ((16, 3, 1),)


def conv_layers_checked(conv_layers: Sequence[Sequence[int]]) -> list[tuple[int, int, int]]:
    """``conv_layers`` as ``(out_channels, kernel_size, stride)`` triples of positive integers, else a ``ValueError``."""
    checked = [tuple(int(x) for x in conv) for conv in conv_layers]
    if not checked or any(len(conv) != 3 or min(conv) < 1 for conv in checked):
        raise ValueError(
            f"conv_layers must be a non-empty list of (out_channels, kernel_size, stride) triples of positive integers, "
            f"e.g. {list(MINATAR_CONV_LAYERS)}; got {conv_layers!r}"
        )
    return checked  # type: ignore[return-value]


def small_image_channels(observation_space: gym.Space, channels_last: bool, name: str) -> int:
    """The number of channels of a 3-D Box observation space, else a ``ValueError`` that says what fits."""
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 3:
        raise ValueError(
            f"{name} needs a 3-D Box observation space ((H, W, C) with channels_last=True, as MinAtar's, or (C, H, W)), "
            f"got {observation_space}. Use the MLP policies for vector observations."
        )
    return int(observation_space.shape[-1] if channels_last else observation_space.shape[0])


def to_channels_first(observations: th.Tensor, channels_last: bool) -> th.Tensor:
    """``[B, H, W, C]`` -> ``[B, C, H, W]`` (a view) when the observations are channel-last; as floats."""
    observations = observations.float()
    return observations.permute(0, 3, 1, 2) if channels_last else observations


class SpikingSmallCNN(SpikingFeaturesExtractor):
    """
    Spiking CNN for small images (MinAtar's 10x10xC frames): convolutions, then one linear layer of
    ``features_dim`` neurons, a spiking neuron layer after each. The first convolution is the learnable encoder: it
    runs once per observation and drives the first neurons as a constant current for ``T`` steps; the rest run on
    all ``T`` steps at once. The observations are used as they come (MinAtar's are 0/1), without scaling.

    :param observation_space: A 3-D Box observation space
    :param features_dim: Number of neurons of the hidden linear layer (MinAtar's reference: 128)
    :param conv_layers: ``(out_channels, kernel_size, stride)`` of each convolution (no padding)
    :param channels_last: Whether the observations are ``(H, W, C)`` (MinAtar's layout, the default) rather than
        ``(C, H, W)``; channel-last observations are transposed inside the network
    :param spiking_kwargs: The spiking knobs, see :class:`~sb3_spiking.snn.extractors.SpikingFeaturesExtractor`
    """

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 128,
        conv_layers: Sequence[Sequence[int]] = MINATAR_CONV_LAYERS,
        channels_last: bool = True,
        **spiking_kwargs: Any,
    ) -> None:
        n_channels = small_image_channels(observation_space, channels_last, type(self).__name__)
        convs = conv_layers_checked(conv_layers)
        super().__init__(observation_space, features_dim, **spiking_kwargs)
        self.channels_last = channels_last
        out_channels, kernel_size, stride = convs[0]
        self.encoder = nn.Conv2d(n_channels, out_channels, kernel_size=kernel_size, stride=stride)
        modules: list[nn.Module] = [RepeatOverTime(self.spiking.T, static_dims=4), self.spiking.make_neuron()]
        for next_channels, kernel_size, stride in convs[1:]:
            modules.append(layer.Conv2d(out_channels, next_channels, kernel_size=kernel_size, stride=stride, step_mode="m"))
            modules.append(self.spiking.make_neuron())
            out_channels = next_channels
        modules.append(layer.Flatten(step_mode="m"))
        self.cnn = nn.Sequential(*modules)
        with th.no_grad():
            sample = th.as_tensor(observation_space.sample()[None])
            n_flatten = self.cnn(self.encoder(to_channels_first(sample, channels_last))).shape[-1]
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), self.spiking.make_neuron())
        spiking_init_(self, self.spiking.v_threshold)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.linear(self.cnn(self.encoder(to_channels_first(observations, self.channels_last))))
