"""
sb3-spiking: spiking-neural-network policies for Stable-Baselines3.

Importing the package adds ``SpikingMlpPolicy``, ``SpikingCnnPolicy`` and ``SpikingMultiInputPolicy`` to every
SB3 and sb3-contrib algorithm that they fit (DQN, QR-DQN, A2C, PPO, TRPO, MaskablePPO)::

    import sb3_spiking
    from stable_baselines3 import DQN

    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=8, decoder="max-mem"))
"""

import logging
import sys

# SpikingJelly registers Triton kernels at import; on a machine without Triton (any CPU-only install) torch logs
# a warning for each, which says nothing about this package's CPU path
logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

from sb3_spiking import envs  # noqa: F401  (registers sb3_spiking/GridWorld-v0 with gymnasium)
from sb3_spiking.callbacks import SpikeStatsCallback
from sb3_spiking.contrib_policies import (
    SpikingCnnQRDQNPolicy,
    SpikingMaskableActorCriticCnnPolicy,
    SpikingMaskableActorCriticPolicy,
    SpikingMaskableMultiInputActorCriticPolicy,
    SpikingMultiInputQRDQNPolicy,
    SpikingQRDQNPolicy,
)
from sb3_spiking.energy import EnergyReport
from sb3_spiking.monitor import SpikeStats, spike_stats
from sb3_spiking.neurons import DECODERS, NEURONS, SURROGATES, NonSpikingReadout, SpikingConfig
from sb3_spiking.policies import (
    SpikingActorCriticCnnPolicy,
    SpikingActorCriticPolicy,
    SpikingCnnDQNPolicy,
    SpikingDQNPolicy,
    SpikingMultiInputActorCriticPolicy,
    SpikingMultiInputDQNPolicy,
)
from sb3_spiking.registry import PolicyAlias, register_policies
from sb3_spiking.torch_layers import SpikingCombinedExtractor, SpikingFeaturesExtractor, SpikingMlpExtractor, SpikingNatureCNN

__version__ = "0.1.0"

# Names that every algorithm resolves in its own policy_aliases: DQN(SpikingMlpPolicy, env), PPO(SpikingMlpPolicy, env)
SpikingMlpPolicy = PolicyAlias("SpikingMlpPolicy")
SpikingCnnPolicy = PolicyAlias("SpikingCnnPolicy")
SpikingMultiInputPolicy = PolicyAlias("SpikingMultiInputPolicy")

register_policies()

if "rl_zoo3.exp_manager" in sys.modules:
    # Loaded by rl-zoo3's --gym-packages: also give its -optimize the spiking knobs
    from sb3_spiking import zoo  # noqa: F401

__all__ = [
    "DECODERS",
    "NEURONS",
    "SURROGATES",
    "EnergyReport",
    "NonSpikingReadout",
    "PolicyAlias",
    "SpikeStats",
    "SpikeStatsCallback",
    "SpikingActorCriticCnnPolicy",
    "SpikingActorCriticPolicy",
    "SpikingCnnDQNPolicy",
    "SpikingCnnPolicy",
    "SpikingCnnQRDQNPolicy",
    "SpikingCombinedExtractor",
    "SpikingConfig",
    "SpikingDQNPolicy",
    "SpikingFeaturesExtractor",
    "SpikingMaskableActorCriticCnnPolicy",
    "SpikingMaskableActorCriticPolicy",
    "SpikingMaskableMultiInputActorCriticPolicy",
    "SpikingMlpExtractor",
    "SpikingMlpPolicy",
    "SpikingMultiInputActorCriticPolicy",
    "SpikingMultiInputDQNPolicy",
    "SpikingMultiInputPolicy",
    "SpikingMultiInputQRDQNPolicy",
    "SpikingNatureCNN",
    "SpikingQRDQNPolicy",
    "register_policies",
    "spike_stats",
]
