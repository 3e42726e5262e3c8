"""
Spiking policies for SB3's actor-critic algorithms (A2C, PPO, and sb3-contrib's TRPO).

Each policy is its SB3 counterpart with the ReLU/Tanh layers replaced by spiking neurons and the output layers by
non-spiking readouts (:class:`~sb3_spiking.snn.readout.NonSpikingReadout`). A forward pass simulates ``T`` steps
from rest and keeps no state, so SB3 trains, saves and loads these policies like any other.
"""

from stable_baselines3.common.policies import ActorCriticPolicy

from sb3_spiking.policies.base import SpikingActorCriticMixin
from sb3_spiking.snn import SpikingCombinedExtractor, SpikingNatureCNN


class SpikingActorCriticPolicy(SpikingActorCriticMixin, ActorCriticPolicy):
    """
    Spiking policy for A2C, PPO and TRPO. Takes :class:`ActorCriticPolicy`'s parameters and the spiking knobs of
    :class:`SpikingPolicyMixin` (decoder ``last-mem`` by default, as in SpikingJelly's spiking PPO).
    """


class SpikingActorCriticCnnPolicy(SpikingActorCriticPolicy):
    """Spiking actor-critic policy for image observations (:class:`SpikingNatureCNN`)."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingMultiInputActorCriticPolicy(SpikingActorCriticPolicy):
    """Spiking actor-critic policy for Dict observations (:class:`SpikingCombinedExtractor`)."""

    default_features_extractor_class = SpikingCombinedExtractor
