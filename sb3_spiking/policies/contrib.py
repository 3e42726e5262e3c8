"""
Spiking policies for sb3-contrib's algorithms with their own policy classes: QR-DQN and MaskablePPO
(TRPO uses SB3's actor-critic policy, so :class:`~sb3_spiking.policies.actor_critic.SpikingActorCriticPolicy` serves it).
"""

from typing import Optional

from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from sb3_contrib.qrdqn.policies import QRDQNPolicy, QuantileNetwork
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from sb3_spiking.policies.actor_critic import AnnValueMixin
from sb3_spiking.policies.base import SpikingPolicyMixin
from sb3_spiking.policies.dqn import Q_NETWORK_KNOBS, spiking_value_head
from sb3_spiking.snn import SpikingCombinedExtractor, SpikingConfig, SpikingNatureCNN


class SpikingQuantileNetwork(QuantileNetwork):
    """
    Quantile network whose hidden layers spike and whose quantiles are read from non-spiking output neurons.

    :param observation_space: Observation space
    :param action_space: Action space
    :param features_extractor: Features extractor (static ``[B, F]`` or spiking ``[T, B, F]`` features)
    :param features_dim: Number of features
    :param n_quantiles: Number of quantiles
    :param net_arch: Sizes of the hidden spiking layers
    :param activation_fn: Unused (kept for sb3-contrib's ``net_args``): the activations are spiking neurons
    :param normalize_images: Whether to normalize images or not, dividing by 255.0 (True by default)
    :param spiking: The spiking knobs
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        n_quantiles: int = 200,
        net_arch: Optional[list[int]] = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        spiking: Optional[SpikingConfig] = None,
    ) -> None:
        super().__init__(
            observation_space, action_space, features_extractor, features_dim, n_quantiles, [], activation_fn, normalize_images
        )
        self.quantile_net = spiking_value_head(self, int(self.action_space.n) * self.n_quantiles, net_arch, spiking)


class SpikingQRDQNPolicy(SpikingPolicyMixin, QRDQNPolicy):
    """
    Spiking policy for QR-DQN: quantiles decoded from non-spiking output neurons (``max-mem`` by default).
    Takes :class:`QRDQNPolicy`'s parameters and the spiking knobs of :class:`~sb3_spiking.policies.base.SpikingPolicyMixin`
    (defaults: :data:`~sb3_spiking.policies.dqn.Q_NETWORK_KNOBS`, as DQN's).
    """

    family_knobs = Q_NETWORK_KNOBS

    def make_quantile_net(self) -> SpikingQuantileNetwork:
        # Make sure we always have separate networks for features extractors etc
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return SpikingQuantileNetwork(**net_args, spiking=self.spiking).to(self.device)


class SpikingMaskableActorCriticPolicy(AnnValueMixin, MaskableActorCriticPolicy):
    """
    Spiking policy for MaskablePPO: invalid actions are masked out of the decoded logits.
    Takes :class:`MaskableActorCriticPolicy`'s parameters, ``spiking_critic`` and the spiking knobs.
    """


class SpikingCnnQRDQNPolicy(SpikingQRDQNPolicy):
    """Spiking QR-DQN policy for image observations (:class:`SpikingNatureCNN`)."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingMultiInputQRDQNPolicy(SpikingQRDQNPolicy):
    """Spiking QR-DQN policy for Dict observations (:class:`SpikingCombinedExtractor`)."""

    default_features_extractor_class = SpikingCombinedExtractor


class SpikingMaskableActorCriticCnnPolicy(SpikingMaskableActorCriticPolicy):
    """Spiking MaskablePPO policy for image observations (:class:`SpikingNatureCNN`)."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingMaskableMultiInputActorCriticPolicy(SpikingMaskableActorCriticPolicy):
    """Spiking MaskablePPO policy for Dict observations (:class:`SpikingCombinedExtractor`)."""

    default_features_extractor_class = SpikingCombinedExtractor
