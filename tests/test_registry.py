import pytest
from sb3_contrib import ARS, QRDQN, TQC, TRPO, CrossQ, MaskablePPO
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.dqn.policies import DQNPolicy

import sb3_spiking
from sb3_spiking.policies import registry

NAMES = ("SpikingMlpPolicy", "SpikingCnnPolicy", "SpikingMultiInputPolicy")


@pytest.mark.parametrize("algo", [DQN, A2C, PPO, QRDQN, TRPO, MaskablePPO, SAC, TD3, DDPG, TQC])
@pytest.mark.parametrize("name", NAMES)
def test_every_fitting_algorithm_knows_the_names(algo, name):
    policy = algo.policy_aliases[name]
    assert issubclass(policy, algo.policy_aliases["MlpPolicy"])
    assert policy.__module__.startswith("sb3_spiking.")


@pytest.mark.parametrize("algo", [ARS])
def test_algorithms_without_a_spiking_policy_are_left_alone(algo):
    assert not any(name in algo.policy_aliases for name in NAMES)


def test_crossq_gets_the_names_of_its_own_aliases_only():
    # sb3-contrib's CrossQ has an MlpPolicy only
    assert CrossQ.policy_aliases["SpikingMlpPolicy"] is sb3_spiking.SpikingCrossQPolicy
    assert "SpikingCnnPolicy" not in CrossQ.policy_aliases and "SpikingMultiInputPolicy" not in CrossQ.policy_aliases


def test_names_are_declared_as_entry_points():
    from importlib.metadata import entry_points

    declared = {ep.name: ep for ep in entry_points(group=registry.ENTRY_POINT_GROUP)}
    assert set(NAMES) <= set(declared)
    assert declared["SpikingMlpPolicy"].load()()[DQNPolicy] is sb3_spiking.SpikingDQNPolicy


def test_another_package_adds_a_policy_through_the_entry_point_group(monkeypatch):
    class FakeEntryPoint:
        name = "SpikingFancyPolicy"
        value = "fancy:POLICIES"

        def load(self):
            return {DQNPolicy: sb3_spiking.SpikingCnnDQNPolicy, ActorCriticPolicy: sb3_spiking.SpikingActorCriticCnnPolicy}

    class Broken(FakeEntryPoint):
        name = "SpikingBrokenPolicy"

        def load(self):
            raise ImportError("no module named fancy")

    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint(), Broken()])
    monkeypatch.setattr(DQN, "policy_aliases", dict(DQN.policy_aliases))
    monkeypatch.setattr(PPO, "policy_aliases", dict(PPO.policy_aliases))
    with pytest.warns(UserWarning, match="SpikingBrokenPolicy"):
        registered = registry.register_policies([DQN, PPO])
    assert registered["SpikingFancyPolicy"] == ["DQN", "PPO"]
    assert DQN.policy_aliases["SpikingFancyPolicy"] is sb3_spiking.SpikingCnnDQNPolicy
    assert "SpikingBrokenPolicy" not in DQN.policy_aliases


def test_policy_alias_is_the_name():
    assert sb3_spiking.SpikingCnnPolicy == "SpikingCnnPolicy"
    assert isinstance(sb3_spiking.SpikingCnnPolicy, str)
    assert repr(sb3_spiking.SpikingCnnPolicy) == "PolicyAlias('SpikingCnnPolicy')"


def test_registration_is_idempotent():
    before = dict(DQN.policy_aliases)
    registry.register_policies()
    assert DQN.policy_aliases == before
