"""
MinAtar (small Atari-like games on 10x10xC boolean frames, sized for CPUs) with SB3's DQN: the ANN twin of
:class:`~sb3_spiking.snn.small_cnn.SpikingSmallCNN` and the two DQN policies that the hyperparameter file names.

Importing this module registers MinAtar's gymnasium ids (``MinAtar/Breakout-v1`` ...; package ``minatar``, the
``minatar`` extra), so rl-zoo3 trains them with ``--gym-packages sb3_spiking.demos.minatar``::

    python -m rl_zoo3.train --algo dqn --env MinAtar/Breakout-v1 -conf hyperparams/dqn.yml \\
        --gym-packages sb3_spiking.demos.minatar                     # the spiking DQN
    python -m rl_zoo3.train --algo dqn --env MinAtar/Breakout-v1 -conf hyperparams/dqn.yml \\
        --gym-packages sb3_spiking.demos.minatar -params "policy:'sb3_spiking.demos.minatar.MinAtarQPolicy'"   # ANN
"""

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.dqn.policies import DQNPolicy
from torch import nn

from sb3_spiking.policies.dqn import SpikingDQNPolicy
from sb3_spiking.snn.small_cnn import (
    MINATAR_CONV_LAYERS,
    SpikingSmallCNN,
    conv_layers_checked,
    small_image_channels,
    to_channels_first,
)

try:
    import minatar.gym
except ImportError:  # the env ids need the package; the networks do not
    minatar = None
else:
    if "MinAtar/Breakout-v1" not in gym.registry:
        minatar.gym.register_envs()


class SmallCNN(BaseFeaturesExtractor):
    """
    CNN for small images, the ANN twin of :class:`~sb3_spiking.snn.small_cnn.SpikingSmallCNN` (same layout, ReLU
    units): by default MinAtar's reference network, one 3x3 convolution with 16 channels and stride 1, then 128
    hidden units.

    :param observation_space: A 3-D Box observation space
    :param features_dim: Number of units of the hidden linear layer
    :param conv_layers: ``(out_channels, kernel_size, stride)`` of each convolution (no padding)
    :param channels_last: Whether the observations are ``(H, W, C)`` (MinAtar's layout) rather than ``(C, H, W)``
    """

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 128,
        conv_layers: Sequence[Sequence[int]] = MINATAR_CONV_LAYERS,
        channels_last: bool = True,
    ) -> None:
        n_channels = small_image_channels(observation_space, channels_last, type(self).__name__)
        convs = conv_layers_checked(conv_layers)
        super().__init__(observation_space, features_dim)
        self.channels_last = channels_last
        modules: list[nn.Module] = []
        for out_channels, kernel_size, stride in convs:
            modules += [nn.Conv2d(n_channels, out_channels, kernel_size=kernel_size, stride=stride), nn.ReLU()]
            n_channels = out_channels
        self.cnn = nn.Sequential(*modules, nn.Flatten())
        with th.no_grad():
            sample = th.as_tensor(observation_space.sample()[None])
            n_flatten = self.cnn(to_channels_first(sample, channels_last)).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.linear(self.cnn(to_channels_first(observations, self.channels_last)))


class MinAtarQPolicy(DQNPolicy):
    """
    SB3's DQN policy with :class:`SmallCNN` (MinAtar's reference Q-network: conv 16-3/1, 128 hidden units, then
    the Q-values: ``net_arch`` defaults to ``[]``). Takes :class:`DQNPolicy`'s parameters.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("features_extractor_class", SmallCNN)
        if kwargs.get("net_arch") is None:
            kwargs["net_arch"] = []
        super().__init__(*args, **kwargs)


class SpikingMinAtarQPolicy(SpikingDQNPolicy):
    """
    The spiking twin of :class:`MinAtarQPolicy`: :class:`~sb3_spiking.snn.small_cnn.SpikingSmallCNN`, whose 128
    spiking neurons feed the non-spiking Q-value readout (``net_arch`` defaults to ``[]``). Takes the parameters
    of :class:`~sb3_spiking.policies.dqn.SpikingDQNPolicy` (the spiking knobs included).
    """

    default_features_extractor_class = SpikingSmallCNN

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("net_arch") is None:
            kwargs["net_arch"] = []
        super().__init__(*args, **kwargs)
