"""
Spiking policies for SB3's TD3 and DDPG (DDPG uses TD3's policy): a deterministic spiking actor whose action is
``tanh`` of non-spiking output neurons' decoded potentials, and SB3's ANN critics (``spiking_critic=True``: spiking).
"""

from typing import Any

from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.td3.policies import Actor, TD3Policy
from torch import nn

from sb3_spiking.policies.off_policy import SpikingOffPolicyMixin
from sb3_spiking.snn import (
    PopulationReadout,
    SpikingCombinedExtractor,
    SpikingConfig,
    SpikingNatureCNN,
    encoder_input,
    spiking_head,
    spiking_mlp,
    spiking_mlp_output_dim,
)


class SpikingTD3Actor(Actor):
    """
    TD3's deterministic actor with spiking hidden layers: ``tanh`` of the decoded potentials of non-spiking output
    neurons. Takes TD3 ``Actor``'s parameters (``activation_fn`` is unused) and the spiking knobs.

    :param spiking: The spiking knobs
    """

    def __init__(self, *args: Any, net_arch: list[int], features_dim: int, spiking: SpikingConfig, **kwargs: Any) -> None:
        # net_arch=[] keeps the throw-away ANN layers that the parent builds as small as possible
        super().__init__(*args, net_arch=[], features_dim=features_dim, **kwargs)
        self.net_arch = net_arch
        self.spiking = spiking
        action_dim = get_action_dim(self.action_space)
        encoded = encoder_input(self.observation_space, self.features_extractor)
        if spiking.action_readout == "population":
            hidden = spiking_mlp(features_dim, net_arch, spiking, **encoded)
            readout = PopulationReadout(spiking_mlp_output_dim(features_dim, net_arch, spiking), action_dim, spiking)
            self.mu = nn.Sequential(*hidden, readout, nn.Tanh())
        else:
            self.mu = nn.Sequential(*spiking_head(features_dim, action_dim, net_arch, spiking, **encoded), nn.Tanh())

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["spiking"] = self.spiking
        return data


class SpikingTD3Policy(SpikingOffPolicyMixin, TD3Policy):
    """
    Spiking policy for TD3 and DDPG: a deterministic spiking actor (and target actor, polyak-averaged by the stock
    algorithm) and SB3's ANN critics (``spiking_critic=True``: spiking critics). Takes :class:`TD3Policy`'s
    parameters, ``spiking_critic`` and the spiking knobs
    (see :class:`~sb3_spiking.policies.off_policy.SpikingOffPolicyMixin`).
    """

    actor_class = SpikingTD3Actor


class SpikingTD3CnnPolicy(SpikingTD3Policy):
    """Spiking TD3 / DDPG policy for image observations (:class:`SpikingNatureCNN` for the actor)."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingTD3MultiInputPolicy(SpikingTD3Policy):
    """Spiking TD3 / DDPG policy for Dict observations (:class:`SpikingCombinedExtractor`)."""

    default_features_extractor_class = SpikingCombinedExtractor
