"""
Spiking policies for SB3's and sb3-contrib's algorithms, and the registry that gives them their names
(``SpikingMlpPolicy``, ``SpikingCnnPolicy``, ``SpikingMultiInputPolicy``) in every fitting algorithm.
"""

from sb3_spiking.policies.actor_critic import (
    SpikingActorCriticCnnPolicy,
    SpikingActorCriticPolicy,
    SpikingMultiInputActorCriticPolicy,
)
from sb3_spiking.policies.base import SpikingActorCriticMixin, SpikingPolicyMixin
from sb3_spiking.policies.contrib import (
    SpikingCnnQRDQNPolicy,
    SpikingMaskableActorCriticCnnPolicy,
    SpikingMaskableActorCriticPolicy,
    SpikingMaskableMultiInputActorCriticPolicy,
    SpikingMultiInputQRDQNPolicy,
    SpikingQRDQNPolicy,
    SpikingQuantileNetwork,
)
from sb3_spiking.policies.dqn import SpikingCnnDQNPolicy, SpikingDQNPolicy, SpikingMultiInputDQNPolicy, SpikingQNetwork
from sb3_spiking.policies.registry import PolicyAlias, register_policies

__all__ = [
    "PolicyAlias",
    "SpikingActorCriticCnnPolicy",
    "SpikingActorCriticMixin",
    "SpikingActorCriticPolicy",
    "SpikingCnnDQNPolicy",
    "SpikingCnnQRDQNPolicy",
    "SpikingDQNPolicy",
    "SpikingMaskableActorCriticCnnPolicy",
    "SpikingMaskableActorCriticPolicy",
    "SpikingMaskableMultiInputActorCriticPolicy",
    "SpikingMultiInputActorCriticPolicy",
    "SpikingMultiInputDQNPolicy",
    "SpikingMultiInputQRDQNPolicy",
    "SpikingPolicyMixin",
    "SpikingQNetwork",
    "SpikingQRDQNPolicy",
    "SpikingQuantileNetwork",
    "register_policies",
]
