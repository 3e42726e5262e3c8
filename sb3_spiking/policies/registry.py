"""
Policy names for SB3 and sb3-contrib algorithms.

SB3 looks a policy name up in the algorithm class's own ``policy_aliases`` dict. The names to add are read from
the entry-point group ``sb3_spiking.policies``: each entry point is a name (``SpikingMlpPolicy``) whose object maps
an SB3 base policy class to the spiking policy that replaces it (``{DQNPolicy: SpikingDQNPolicy, ...}``), so that
one name serves every algorithm. Another installed package adds its own spiking policy by declaring an entry point
in the same group.
"""

import warnings
from importlib.metadata import entry_points
from typing import Optional

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy

ENTRY_POINT_GROUP = "sb3_spiking.policies"
# The alias whose policy class stands for an algorithm's policies (RecurrentPPO has no MlpPolicy)
BASE_ALIASES = ("MlpPolicy", "MlpLstmPolicy")

PolicyMap = dict[type[BasePolicy], type[BasePolicy]]


class PolicyAlias(str):
    """
    The name of a spiking policy, usable wherever SB3 takes a policy: ``PPO(sb3_spiking.SpikingMlpPolicy, env)``
    resolves it in the algorithm's ``policy_aliases`` like the string ``"SpikingMlpPolicy"``, so the same object
    works for DQN, PPO and the others (and as rl-zoo3's dotted ``policy: sb3_spiking.SpikingMlpPolicy``).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"PolicyAlias({str.__repr__(self)})"


def builtin_policies() -> dict[str, PolicyMap]:
    """The policies this package ships, by name (also declared as entry points in its metadata)."""
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
    from sb3_contrib.crossq.policies import CrossQPolicy
    from sb3_contrib.qrdqn.policies import QRDQNPolicy
    from sb3_contrib.tqc.policies import TQCPolicy
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.dqn.policies import DQNPolicy
    from stable_baselines3.sac.policies import SACPolicy
    from stable_baselines3.td3.policies import TD3Policy

    from sb3_spiking import policies
    from sb3_spiking.policies import contrib, recurrent, sac, td3

    return {
        "SpikingMlpPolicy": {
            DQNPolicy: policies.SpikingDQNPolicy,
            ActorCriticPolicy: policies.SpikingActorCriticPolicy,
            QRDQNPolicy: contrib.SpikingQRDQNPolicy,
            MaskableActorCriticPolicy: contrib.SpikingMaskableActorCriticPolicy,
            SACPolicy: sac.SpikingSACPolicy,
            TD3Policy: td3.SpikingTD3Policy,
            TQCPolicy: sac.SpikingTQCPolicy,
            # CrossQ has an MlpPolicy only, as in sb3-contrib
            CrossQPolicy: sac.SpikingCrossQPolicy,
        },
        "SpikingCnnPolicy": {
            DQNPolicy: policies.SpikingCnnDQNPolicy,
            ActorCriticPolicy: policies.SpikingActorCriticCnnPolicy,
            QRDQNPolicy: contrib.SpikingCnnQRDQNPolicy,
            MaskableActorCriticPolicy: contrib.SpikingMaskableActorCriticCnnPolicy,
            SACPolicy: sac.SpikingSACCnnPolicy,
            TD3Policy: td3.SpikingTD3CnnPolicy,
            TQCPolicy: sac.SpikingTQCCnnPolicy,
        },
        "SpikingMultiInputPolicy": {
            DQNPolicy: policies.SpikingMultiInputDQNPolicy,
            ActorCriticPolicy: policies.SpikingMultiInputActorCriticPolicy,
            QRDQNPolicy: contrib.SpikingMultiInputQRDQNPolicy,
            MaskableActorCriticPolicy: contrib.SpikingMaskableMultiInputActorCriticPolicy,
            SACPolicy: sac.SpikingSACMultiInputPolicy,
            TD3Policy: td3.SpikingTD3MultiInputPolicy,
            TQCPolicy: sac.SpikingTQCMultiInputPolicy,
        },
        # RecurrentPPO's: the membrane potentials carried across env steps are the recurrent state
        "SpikingMlpRecurrentPolicy": {RecurrentActorCriticPolicy: recurrent.SpikingMlpRecurrentPolicy},
        "SpikingCnnRecurrentPolicy": {RecurrentActorCriticPolicy: recurrent.SpikingCnnRecurrentPolicy},
        "SpikingMultiInputRecurrentPolicy": {RecurrentActorCriticPolicy: recurrent.SpikingMultiInputRecurrentPolicy},
    }


def builtin_mlp_policies() -> PolicyMap:
    """Entry point of ``SpikingMlpPolicy``."""
    return builtin_policies()["SpikingMlpPolicy"]


def builtin_cnn_policies() -> PolicyMap:
    """Entry point of ``SpikingCnnPolicy``."""
    return builtin_policies()["SpikingCnnPolicy"]


def builtin_multi_input_policies() -> PolicyMap:
    """Entry point of ``SpikingMultiInputPolicy``."""
    return builtin_policies()["SpikingMultiInputPolicy"]


def builtin_mlp_recurrent_policies() -> PolicyMap:
    """Entry point of ``SpikingMlpRecurrentPolicy``."""
    return builtin_policies()["SpikingMlpRecurrentPolicy"]


def builtin_cnn_recurrent_policies() -> PolicyMap:
    """Entry point of ``SpikingCnnRecurrentPolicy``."""
    return builtin_policies()["SpikingCnnRecurrentPolicy"]


def builtin_multi_input_recurrent_policies() -> PolicyMap:
    """Entry point of ``SpikingMultiInputRecurrentPolicy``."""
    return builtin_policies()["SpikingMultiInputRecurrentPolicy"]


def installed_policies() -> dict[str, PolicyMap]:
    """
    The policies declared in the entry-point group, by name, over the built-in ones (which a source checkout
    that is not installed would otherwise lack). A broken entry point is skipped with a warning.
    """
    found = builtin_policies()
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = entry_point.load()
            found[entry_point.name] = dict(target() if callable(target) else target)
        except Exception as error:  # another package's plugin must not break SB3 for everyone
            warnings.warn(f"Skipping spiking policy entry point {entry_point.name!r} ({entry_point.value}): {error}")
    return found


def base_policy(algorithm: type[BaseAlgorithm]) -> Optional[type[BasePolicy]]:
    """An algorithm's base policy: its ``MlpPolicy``, or its ``MlpLstmPolicy`` (RecurrentPPO); None without either."""
    for name in BASE_ALIASES:
        if name in algorithm.policy_aliases:
            return algorithm.policy_aliases[name]
    return None


def default_algorithms() -> list[type[BaseAlgorithm]]:
    """The algorithms whose ``policy_aliases`` receive the spiking names: SB3's and sb3-contrib's."""
    import sb3_contrib
    import stable_baselines3

    algorithms = []
    for module in (stable_baselines3, sb3_contrib):
        for name in getattr(module, "__all__", dir(module)):
            obj = getattr(module, name, None)
            if isinstance(obj, type) and issubclass(obj, BaseAlgorithm) and base_policy(obj) is not None:
                algorithms.append(obj)
    return algorithms


def _pick(policy_map: PolicyMap, base: type[BasePolicy]) -> Optional[type[BasePolicy]]:
    """
    The spiking policy for the most specific base class of ``base`` in the map, if any, provided that it is a
    ``base`` (the algorithm calls its base policy's methods: RecurrentPPO's policy is an ActorCriticPolicy, but an
    actor-critic policy without its recurrent methods is not one for RecurrentPPO).
    """
    matches = [key for key in policy_map if issubclass(base, key)]
    if not matches:
        return None
    policy = policy_map[max(matches, key=lambda key: len(key.__mro__))]
    return policy if issubclass(policy, base) else None


def register_policies(algorithms: Optional[list[type[BaseAlgorithm]]] = None) -> dict[str, list[str]]:
    """
    Add the spiking policy names to each algorithm's ``policy_aliases``. Idempotent.

    :param algorithms: The algorithm classes (default: every SB3 and sb3-contrib algorithm)
    :return: For each name, the algorithms that accept it
    """
    policies = installed_policies()
    registered: dict[str, list[str]] = {name: [] for name in policies}
    for algorithm in default_algorithms() if algorithms is None else algorithms:
        if "policy_aliases" not in vars(algorithm):
            # Give the class its own dict rather than adding to an inherited one
            algorithm.policy_aliases = dict(algorithm.policy_aliases)
        base = base_policy(algorithm)
        if base is None:
            continue
        for name, policy_map in policies.items():
            policy = _pick(policy_map, base)
            if policy is not None:
                algorithm.policy_aliases[name] = policy
                registered[name].append(algorithm.__name__)
    return registered
