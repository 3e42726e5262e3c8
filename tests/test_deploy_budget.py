"""deploy_report by value on small policies, against the chips' documented limits."""

import numpy as np
import pytest
import torch as th
from stable_baselines3 import DQN, PPO

import sb3_spiking  # noqa: F401
from sb3_spiking.export import CHIPS, deploy_report


def small_dqn(net_arch, **kwargs):
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=4, net_arch=net_arch, **kwargs), seed=0)
    model.policy.set_training_mode(False)
    return model


def test_budget_by_value():
    model = small_dqn([32, 16])
    report = deploy_report(model.policy)
    rows = [(b.kind, b.neurons, b.fan_in, b.fan_out, b.synapses) for b in report.layers]
    assert rows == [("LIF", 32, 4, 32, 4 * 32), ("LIF", 16, 32, 16, 32 * 16), ("LI", 2, 16, 2, 16 * 2)]
    assert (report.inputs, report.outputs, report.T, report.weight_bits) == (4, 2, 4, 32)
    assert report.hidden_neurons == 48 and report.synapses == 128 + 512 + 32
    assert report.sop_per_decision is None and report.target is None and report.fits
    assert deploy_report(model.policy, bits=8).weight_bits == 8


def test_synaptic_operations_are_the_spikes_times_their_fan_out():
    model = small_dqn([32, 16])
    with th.no_grad():  # drive the layers so that they fire
        for layer in model.policy.q_net.q_net[:-1].modules():
            if isinstance(layer, th.nn.Linear):
                layer.weight.mul_(6.0)
    obs = np.stack([model.observation_space.sample() for _ in range(16)]) * 0.5
    report = deploy_report(model.policy, observations=obs)
    q = model.policy.q_net.q_net
    with th.no_grad():
        x = model.policy.obs_to_tensor(obs)[0].float()
        first = q[:4](x)  # [T, B, 32] spikes of the first layer
        second = q[:6](x)
    assert 0.05 < float(first.mean()) < 0.95 and 0.05 < float(second.mean()) < 0.95
    # Each spike reaches every neuron of the next layer: 16 of the second layer, 2 of the readout
    expected = (float(first.sum()) * 16 + float(second.sum()) * 2) / len(obs)
    assert report.sop_per_decision == pytest.approx(expected)
    assert report.mac_per_decision == pytest.approx(4 * 32)  # the encoder: once per decision, on real inputs


def test_limits_of_the_documented_chips():
    assert (CHIPS["xylo-audio-2"].inputs, CHIPS["xylo-audio-2"].hidden_neurons, CHIPS["xylo-audio-2"].outputs) == (16, 1000, 8)
    assert CHIPS["xylo-audio-2"].weight_bits == 8 and CHIPS["xylo-audio-2"].fan_out == 64
    assert (CHIPS["xylo-imu"].hidden_neurons, CHIPS["xylo-imu"].outputs, CHIPS["xylo-imu"].fan_out) == (496, 16, 512)
    assert (CHIPS["speck-2b"].layers, CHIPS["speck-2b"].neurons_per_layer, CHIPS["speck-2b"].weight_bits) == (9, 1024, 8)
    assert (CHIPS["loihi-2"].hidden_neurons, CHIPS["loihi-2"].synapses) == (1_000_000, 120_000_000)
    assert all(chip.source.startswith("https://") for chip in CHIPS.values())


def test_report_names_each_limit_exceeded():
    small = small_dqn([32, 16])
    assert deploy_report(small.policy, target="loihi-2").fits
    assert deploy_report(small.policy, target="speck-2b", bits=8).fits
    assert deploy_report(small.policy, target="speck-2b").violations == ["weight bits 32 > 8"]
    # Xylo resets by subtraction: the package's hard-reset neurons are named as a difference, never ignored
    assert deploy_report(small.policy, target="xylo-audio-2", bits=8).violations == [
        "its neurons reset by subtract, the policy's to zero"
    ]
    wide = small_dqn([640, 512])
    violations = deploy_report(wide.policy, target="xylo-audio-2", bits=8).violations
    assert violations == [
        "hidden neurons 1152 > 1000",
        "2_0_affine: fan-out of its inputs 640 > 64",
        "5_0_affine: fan-out of its inputs 512 > 64",
        "its neurons reset by subtract, the policy's to zero",
    ]
    wider = PPO("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=4, net_arch=[2048]), seed=0)
    report = deploy_report(wider.policy, target="speck-2b", bits=8)
    assert report.violations == ["2_0_affine: neurons 2048 > 1024"], report.table()
    assert "does not fit: 2_0_affine: neurons 2048 > 1024" in report.table()
    with pytest.raises(ValueError, match="valid choices are 'xylo-audio-2', 'xylo-imu', 'speck-2b', 'loihi-2'"):
        deploy_report(small.policy, target="loihi-3")


def test_recurrent_synapses_count_with_the_layer_they_feed_back_into():
    from gymnasium import spaces

    from sb3_spiking.policies.recurrent import SpikingRecurrentActorCriticPolicy

    def policy(recurrent):
        args = (spaces.Box(-1.0, 1.0, (3,)), spaces.Discrete(2), lambda _: 1e-3)
        return SpikingRecurrentActorCriticPolicy(*args, net_arch=dict(pi=[8, 4], vf=[4]), recurrent_synapses=recurrent)

    rows = [(b.kind, b.neurons, b.fan_in, b.fan_out, b.synapses) for b in deploy_report(policy(True)).layers]
    # each spiking layer also takes its own 8 (4) spikes of the step before
    assert rows == [("LIF", 8, 3 + 8, 8, 3 * 8 + 8 * 8), ("LIF", 4, 8 + 4, 4, 8 * 4 + 4 * 4), ("LI", 2, 4, 2, 4 * 2)]
    without = [(b.kind, b.neurons, b.fan_in, b.fan_out, b.synapses) for b in deploy_report(policy(False)).layers]
    assert without == [("LIF", 8, 3, 8, 3 * 8), ("LIF", 4, 8, 4, 8 * 4), ("LI", 2, 4, 2, 4 * 2)]
