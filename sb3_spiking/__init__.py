"""
sb3-spiking: spiking-neural-network policies for Stable-Baselines3.

Importing the package adds ``SpikingMlpPolicy``, ``SpikingCnnPolicy`` and ``SpikingMultiInputPolicy`` to every
SB3 and sb3-contrib algorithm that they fit (DQN, QR-DQN, A2C, PPO, TRPO, MaskablePPO, SAC, TD3, DDPG, TQC,
CrossQ), and ``SpikingMlpRecurrentPolicy``, ``SpikingCnnRecurrentPolicy``, ``SpikingMultiInputRecurrentPolicy``
(stateful: the membrane potentials carried across env steps) to RecurrentPPO::

    import sb3_spiking
    from stable_baselines3 import DQN

    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=8, decoder="max-mem"))

The package's parts: :mod:`~sb3_spiking.snn` (the spiking core), :mod:`~sb3_spiking.policies` (SB3 and
sb3-contrib policies, the registry), :mod:`~sb3_spiking.telemetry` (spike statistics, energy),
:mod:`~sb3_spiking.export` (NIR, TorchScript, ONNX), :mod:`~sb3_spiking.tuning` (Optuna, rl-zoo3) and
:mod:`~sb3_spiking.demos` (classifier, grid world, the CartPole training command).
"""

import logging
import sys

# SpikingJelly registers Triton kernels at import; on a machine without Triton (any CPU-only install) torch logs
# a warning for each, which says nothing about this package's CPU path
logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

from sb3_spiking.demos import gridworld  # noqa: F401  (registers sb3_spiking/GridWorld-v0 with gymnasium)
from sb3_spiking.policies import (
    PolicyAlias,
    ProxyTargetTD3,
    SpikingActorCriticCnnPolicy,
    SpikingActorCriticPolicy,
    SpikingCnnDQNPolicy,
    SpikingCnnQRDQNPolicy,
    SpikingCrossQPolicy,
    SpikingDQNPolicy,
    SpikingMaskableActorCriticCnnPolicy,
    SpikingMaskableActorCriticPolicy,
    SpikingMaskableMultiInputActorCriticPolicy,
    SpikingMultiInputActorCriticPolicy,
    SpikingMultiInputDQNPolicy,
    SpikingMultiInputQRDQNPolicy,
    SpikingQRDQNPolicy,
    SpikingRecurrentActorCriticCnnPolicy,
    SpikingRecurrentActorCriticPolicy,
    SpikingRecurrentMultiInputActorCriticPolicy,
    SpikingSACCnnPolicy,
    SpikingSACMultiInputPolicy,
    SpikingSACPolicy,
    SpikingTD3CnnPolicy,
    SpikingTD3MultiInputPolicy,
    SpikingTD3Policy,
    SpikingTQCCnnPolicy,
    SpikingTQCMultiInputPolicy,
    SpikingTQCPolicy,
    register_policies,
)
from sb3_spiking.snn import SpikingConfig
from sb3_spiking.telemetry import EnergyReport, SpikeStats, SpikeStatsCallback, spike_stats

__version__ = "0.2.0"

# Names that every algorithm resolves in its own policy_aliases: DQN(SpikingMlpPolicy, env), PPO(SpikingMlpPolicy, env)
SpikingMlpPolicy = PolicyAlias("SpikingMlpPolicy")
SpikingCnnPolicy = PolicyAlias("SpikingCnnPolicy")
SpikingMultiInputPolicy = PolicyAlias("SpikingMultiInputPolicy")
# RecurrentPPO's stateful spiking policies: RecurrentPPO(SpikingMlpRecurrentPolicy, env)
SpikingMlpRecurrentPolicy = PolicyAlias("SpikingMlpRecurrentPolicy")
SpikingCnnRecurrentPolicy = PolicyAlias("SpikingCnnRecurrentPolicy")
SpikingMultiInputRecurrentPolicy = PolicyAlias("SpikingMultiInputRecurrentPolicy")

register_policies()

if "rl_zoo3.exp_manager" in sys.modules:
    # Loaded by rl-zoo3's --gym-packages: also give its -optimize the spiking knobs
    from sb3_spiking.tuning import zoo  # noqa: F401


__all__ = [
    "EnergyReport",
    "PolicyAlias",
    "ProxyTargetTD3",
    "SpikeStats",
    "SpikeStatsCallback",
    "SpikingActorCriticCnnPolicy",
    "SpikingActorCriticPolicy",
    "SpikingCnnDQNPolicy",
    "SpikingCnnPolicy",
    "SpikingCnnQRDQNPolicy",
    "SpikingCnnRecurrentPolicy",
    "SpikingConfig",
    "SpikingCrossQPolicy",
    "SpikingDQNPolicy",
    "SpikingMaskableActorCriticCnnPolicy",
    "SpikingMaskableActorCriticPolicy",
    "SpikingMaskableMultiInputActorCriticPolicy",
    "SpikingMlpPolicy",
    "SpikingMlpRecurrentPolicy",
    "SpikingMultiInputActorCriticPolicy",
    "SpikingMultiInputDQNPolicy",
    "SpikingMultiInputPolicy",
    "SpikingMultiInputQRDQNPolicy",
    "SpikingMultiInputRecurrentPolicy",
    "SpikingQRDQNPolicy",
    "SpikingRecurrentActorCriticCnnPolicy",
    "SpikingRecurrentActorCriticPolicy",
    "SpikingRecurrentMultiInputActorCriticPolicy",
    "SpikingSACCnnPolicy",
    "SpikingSACMultiInputPolicy",
    "SpikingSACPolicy",
    "SpikingTD3CnnPolicy",
    "SpikingTD3MultiInputPolicy",
    "SpikingTD3Policy",
    "SpikingTQCCnnPolicy",
    "SpikingTQCMultiInputPolicy",
    "SpikingTQCPolicy",
    "register_policies",
    "spike_stats",
]
