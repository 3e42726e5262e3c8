"""
Spiking policies for SB3's DQN: the Deep Spiking Q-Network (DSQN), whose Q-values are the decoded membrane
potentials of non-spiking output neurons.
"""

from typing import Any, Optional

from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn

from sb3_spiking.policies.base import SpikingPolicyMixin
from sb3_spiking.snn import (
    SpikingCombinedExtractor,
    SpikingConfig,
    SpikingNatureCNN,
    encoder_input,
    spiking_head,
)


def spiking_value_head(
    network: BasePolicy, output_dim: int, net_arch: Optional[list[int]], spiking: Optional[SpikingConfig]
) -> nn.Sequential:
    """
    The spiking head of a Q-network or a quantile network, built after its parent built (and is about to drop) the
    ANN one: spiking hidden layers on the network's features, then the non-spiking readout of ``output_dim`` values.
    Sets the network's ``net_arch`` (SB3's default ``[64, 64]`` for ``None``) and ``spiking``.

    :param network: The Q-network (or quantile network), its parent's ``__init__`` done
    :param output_dim: Number of outputs (actions, or actions x quantiles)
    :param net_arch: Sizes of the hidden spiking layers
    :param spiking: The spiking knobs (the defaults for ``None``)
    """
    network.net_arch = [64, 64] if net_arch is None else net_arch
    network.spiking = SpikingConfig() if spiking is None else spiking
    encoded = encoder_input(network.observation_space, network.features_extractor)
    return spiking_head(network.features_dim, output_dim, network.net_arch, network.spiking, **encoded)


class SpikingQNetwork(QNetwork):
    """
    Action-value network whose hidden layers spike and whose Q-values are read from non-spiking output neurons.

    :param observation_space: Observation space
    :param action_space: Action space
    :param features_extractor: Features extractor (static ``[B, F]`` or spiking ``[T, B, F]`` features)
    :param features_dim: Number of features
    :param net_arch: Sizes of the hidden spiking layers
    :param activation_fn: Unused (kept for SB3's ``net_args``): the activations are spiking neurons
    :param normalize_images: Whether to normalize images or not, dividing by 255.0 (True by default)
    :param spiking: The spiking knobs
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        net_arch: Optional[list[int]] = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        spiking: Optional[SpikingConfig] = None,
    ) -> None:
        # net_arch=[] keeps the throw-away ANN head that the parent builds as small as possible
        super().__init__(
            observation_space, action_space, features_extractor, features_dim, [], activation_fn, normalize_images
        )
        self.q_net = spiking_value_head(self, int(self.action_space.n), net_arch, spiking)


#: The Q-networks' defaults beside ``decoder`` and ``neuron``: the first layer's thresholds spread over 3 standard
#: deviations of the standardised observations and the second layer centred at the threshold. With them DQN leaves
#: MountainCar's valley on every seed, where the thresholds at the mean never do (docs/results/learning.rst)
Q_NETWORK_KNOBS: dict[str, Any] = dict(input_span=3.0, centre_second_layer=True)


class SpikingDQNPolicy(SpikingPolicyMixin, DQNPolicy):
    """
    Spiking policy for DQN (the Deep Spiking Q-Network, DSQN): its Q-values are the decoded membrane potentials
    of non-spiking output neurons (``max-mem`` by default). Takes :class:`DQNPolicy`'s parameters and the spiking
    knobs of :class:`SpikingPolicyMixin` (defaults: :data:`Q_NETWORK_KNOBS`).
    """

    family_knobs = Q_NETWORK_KNOBS

    def make_q_net(self) -> SpikingQNetwork:
        # Make sure we always have separate networks for features extractors etc
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return SpikingQNetwork(**net_args, spiking=self.spiking).to(self.device)


class SpikingCnnDQNPolicy(SpikingDQNPolicy):
    """Spiking DQN policy for image observations: the DSQN network (:class:`SpikingNatureCNN`)."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingMultiInputDQNPolicy(SpikingDQNPolicy):
    """Spiking DQN policy for Dict observations (:class:`SpikingCombinedExtractor`)."""

    default_features_extractor_class = SpikingCombinedExtractor
