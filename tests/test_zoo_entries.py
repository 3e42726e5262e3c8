"""
rl-zoo3 entries written for ANN policies, trained with spiking ones (``sb3_spiking.tuning.entries``): the keywords
that configure what a spiking policy does not have become what it has, and the zoo says so.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import rl_zoo3
import yaml
from rl_zoo3 import utils as zoo_utils
from sb3_contrib import RecurrentPPO
from scripts_loader import load_script
from torch import nn

from sb3_spiking.policies import (
    SpikingActorCriticPolicy,
    SpikingDQNPolicy,
    SpikingRecurrentActorCriticPolicy,
    SpikingSACPolicy,
)
from sb3_spiking.tuning.entries import fit_entry, spiking_policy_kwargs


def zoo_entry(algo: str, env_id: str) -> dict:
    with open(Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml") as file:
        entry = yaml.safe_load(file)[env_id]
    return eval(entry["policy_kwargs"], vars(zoo_utils))  # as rl-zoo3 evaluates it


@pytest.mark.parametrize("env_id", ["CartPoleNoVel-v1", "PendulumNoVel-v1"])
def test_an_lstm_entry_becomes_the_learning_suites_spiking_layers(env_id):
    kwargs, notes = spiking_policy_kwargs(SpikingRecurrentActorCriticPolicy, zoo_entry("ppo_lstm", env_id))
    # the learning suite's stateful runs: the LSTM of 64 then 64 as two spiking layers, the rest of the entry kept
    suite = eval(load_script("learning_tasks").RECURRENT_SNN_KWARGS)
    assert kwargs == suite == dict(ortho_init=False, net_arch=dict(pi=[64, 64], vf=[64, 64]))
    assert notes == [
        "activation_fn=ReLU dropped: the spiking neurons are the activations",
        "lstm_hidden_size=64, enable_critic_lstm=True: the LSTM's layers are spiking layers with recurrent synapses "
        "here, net_arch={'pi': [64, 64], 'vf': [64, 64]}",
    ]


@pytest.mark.parametrize(
    "entry, net_arch",
    [
        (dict(lstm_hidden_size=32, n_lstm_layers=2, net_arch=[16]), dict(pi=[32, 32, 16], vf=[32, 32, 16])),
        (dict(lstm_hidden_size=32, net_arch=dict(pi=[8])), dict(pi=[32, 8], vf=[32])),
        (dict(n_lstm_layers=1, shared_lstm=True), dict(pi=[256, 64, 64], vf=[256, 64, 64])),  # sb3-contrib's defaults
    ],
)
def test_lstm_layers_go_in_front_of_net_arch(entry, net_arch):
    kwargs, _ = spiking_policy_kwargs(SpikingRecurrentActorCriticPolicy, dict(entry, log_std_init=-1.0))
    assert kwargs == dict(net_arch=net_arch, log_std_init=-1.0)


def test_ann_critics_keep_their_activation_and_other_policies_keep_their_errors():
    entry = dict(activation_fn=nn.ReLU, net_arch=[64])
    assert spiking_policy_kwargs(SpikingSACPolicy, entry) == (entry, [])  # SAC's critics are ANNs
    assert spiking_policy_kwargs(SpikingActorCriticPolicy, entry) == (entry, [])  # and so is PPO's value function
    dropped = "activation_fn=ReLU dropped: the spiking neurons are the activations"
    for policy in (SpikingSACPolicy, SpikingActorCriticPolicy):  # unless they spike too
        assert spiking_policy_kwargs(policy, dict(entry, spiking_critic=True)) == (
            dict(net_arch=[64], spiking_critic=True),
            [dropped],
        )
    assert spiking_policy_kwargs(SpikingDQNPolicy, entry) == (dict(net_arch=[64]), [dropped])
    # LSTM keywords for a stateless policy are left for its own error (which says what it takes instead)
    assert spiking_policy_kwargs(SpikingActorCriticPolicy, dict(lstm_hidden_size=64)) == (dict(lstm_hidden_size=64), [])
    ann = dict(policy="MlpPolicy", policy_kwargs=dict(entry))
    assert fit_entry("ppo", ann) == [] and ann["policy_kwargs"] == entry  # ANN policies: the entry as written


def test_the_zoo_trains_a_stateful_policy_on_an_lstm_entry_unchanged(tmp_path):
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo_lstm", "--env", "CartPoleNoVel-v1", "-n", "256"]
    command += ["-f", "logs", "--seed", "0", "--eval-freq", "-1", "-P", "policy=SpikingMlpRecurrentPolicy", "n_envs=2"]
    env = dict(os.environ, SB3_SPIKING_AUTOLOAD="1", OMP_NUM_THREADS="1")
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "sb3-spiking: the entry's policy_kwargs for SpikingRecurrentActorCriticPolicy: activation_fn" in result.stdout
    model = RecurrentPPO.load(tmp_path / "logs" / "ppo_lstm" / "CartPoleNoVel-v1_1" / "CartPoleNoVel-v1.zip")
    assert type(model.policy) is SpikingRecurrentActorCriticPolicy and model.policy.recurrent_synapses
    assert model.policy.net_arch == dict(pi=[64, 64], vf=[64, 64]) and model.n_steps == 32  # the tuned entry's
