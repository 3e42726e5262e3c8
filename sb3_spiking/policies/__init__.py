"""
Spiking policies for SB3's and sb3-contrib's algorithms, and the registry that gives them their names
(``SpikingMlpPolicy``, ``SpikingCnnPolicy``, ``SpikingMultiInputPolicy``) in every fitting algorithm, and
``Spiking{Mlp,Cnn,MultiInput}RecurrentPolicy`` (stateful, the membrane potentials carried across env steps) in
RecurrentPPO.
"""

from sb3_spiking.policies.actor_critic import (
    AnnValueMixin,
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
from sb3_spiking.policies.off_policy import SpikingContinuousCritic, SpikingOffPolicyMixin
from sb3_spiking.policies.proxy_target import ProxyTargetTD3
from sb3_spiking.policies.recurrent import (
    SpikingRecurrentActorCriticCnnPolicy,
    SpikingRecurrentActorCriticPolicy,
    SpikingRecurrentMultiInputActorCriticPolicy,
)
from sb3_spiking.policies.registry import PolicyAlias, register_policies
from sb3_spiking.policies.sac import (
    SpikingCrossQActor,
    SpikingCrossQPolicy,
    SpikingSACActor,
    SpikingSACCnnPolicy,
    SpikingSACMultiInputPolicy,
    SpikingSACPolicy,
    SpikingTQCActor,
    SpikingTQCCnnPolicy,
    SpikingTQCCritic,
    SpikingTQCMultiInputPolicy,
    SpikingTQCPolicy,
)
from sb3_spiking.policies.td3 import SpikingTD3Actor, SpikingTD3CnnPolicy, SpikingTD3MultiInputPolicy, SpikingTD3Policy

__all__ = [
    "AnnValueMixin",
    "PolicyAlias",
    "ProxyTargetTD3",
    "SpikingActorCriticCnnPolicy",
    "SpikingActorCriticMixin",
    "SpikingActorCriticPolicy",
    "SpikingCnnDQNPolicy",
    "SpikingCnnQRDQNPolicy",
    "SpikingContinuousCritic",
    "SpikingCrossQActor",
    "SpikingCrossQPolicy",
    "SpikingDQNPolicy",
    "SpikingMaskableActorCriticCnnPolicy",
    "SpikingMaskableActorCriticPolicy",
    "SpikingMaskableMultiInputActorCriticPolicy",
    "SpikingMultiInputActorCriticPolicy",
    "SpikingMultiInputDQNPolicy",
    "SpikingMultiInputQRDQNPolicy",
    "SpikingOffPolicyMixin",
    "SpikingPolicyMixin",
    "SpikingQNetwork",
    "SpikingQRDQNPolicy",
    "SpikingQuantileNetwork",
    "SpikingRecurrentActorCriticCnnPolicy",
    "SpikingRecurrentActorCriticPolicy",
    "SpikingRecurrentMultiInputActorCriticPolicy",
    "SpikingSACActor",
    "SpikingSACCnnPolicy",
    "SpikingSACMultiInputPolicy",
    "SpikingSACPolicy",
    "SpikingTD3Actor",
    "SpikingTD3CnnPolicy",
    "SpikingTD3MultiInputPolicy",
    "SpikingTD3Policy",
    "SpikingTQCActor",
    "SpikingTQCCnnPolicy",
    "SpikingTQCCritic",
    "SpikingTQCMultiInputPolicy",
    "SpikingTQCPolicy",
    "register_policies",
]
