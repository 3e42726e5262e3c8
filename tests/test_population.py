"""Population coding: Gaussian receptive fields in, populations of spiking output neurons out, by value."""

import math

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import DQN, PPO, SAC, TD3
from stable_baselines3.common.torch_layers import FlattenExtractor

import sb3_spiking  # noqa: F401
from sb3_spiking.snn import PopulationEncoder, PopulationReadout, SpikingConfig, observation_bounds, spiking_mlp


def test_receptive_fields_by_hand():
    encoder = PopulationEncoder(2, 3, low=np.array([-1.0, 0.0]), high=np.array([1.0, 4.0]))
    # Centres evenly over each range, widths at the spacing
    th.testing.assert_close(encoder.centres.data, th.tensor([[-1.0, 0.0, 1.0], [0.0, 2.0, 4.0]]))
    th.testing.assert_close(encoder.widths.data, th.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]))
    out = encoder(th.tensor([[0.5, 1.0]]))
    # x=0.5 against centres -1, 0, 1 (width 1); x=1 against centres 0, 2, 4 (width 2)
    expected = [math.exp(-0.5 * 1.5**2), math.exp(-0.5 * 0.5**2), math.exp(-0.5 * 0.5**2)]
    expected += [math.exp(-0.5 * 0.5**2), math.exp(-0.5 * 0.5**2), math.exp(-0.5 * 1.5**2)]
    th.testing.assert_close(out, th.tensor([expected]))
    single = PopulationEncoder(1, 1, low=-2.0, high=2.0)
    assert (float(single.centres), float(single.widths)) == (0.0, 2.0)
    with pytest.raises(ValueError, match="static vector features"):
        encoder(th.zeros(4, 1, 2))


def test_population_readout_by_hand():
    spiking = SpikingConfig(T=4, neuron="if", pop_size=2)
    readout = PopulationReadout(1, 2, spiking)
    with th.no_grad():
        # IF neurons driven by constant currents 1.0, 0.5, 0.25, 0.0: rates 1, 1/2, 1/4, 0
        readout.linear.weight.copy_(th.tensor([[1.0], [0.5], [0.25], [0.0]]))
        readout.linear.bias.zero_()
        readout.weight.copy_(th.tensor([[2.0, -1.0], [4.0, 3.0]]))
        readout.bias.copy_(th.tensor([0.1, -0.2]))
    x = th.ones(1, 1)
    th.testing.assert_close(readout.rates(x), th.tensor([[[1.0, 0.5], [0.25, 0.0]]]))
    th.testing.assert_close(readout(x), th.tensor([[2.0 - 0.5 + 0.1, 1.0 + 0.0 - 0.2]]))


def test_encoder_in_front_of_the_first_spiking_layer():
    spiking = SpikingConfig(T=3, encoder="population", pop_size=5)
    net = spiking_mlp(4, [8], spiking)
    assert isinstance(net[0], PopulationEncoder) and net[1].in_features == 20
    assert net(th.zeros(6, 4)).shape == (3, 6, 8)


def test_bounds_come_from_a_flattened_box():
    space = spaces.Box(np.array([-1.0, -8.0, -np.inf]), np.array([1.0, 8.0, np.inf]), dtype=np.float64)
    low, high = observation_bounds(space, FlattenExtractor(space))
    np.testing.assert_array_equal(low, [-1.0, -8.0, -1.0])
    np.testing.assert_array_equal(high, [1.0, 8.0, 1.0])
    assert observation_bounds(spaces.Discrete(3), FlattenExtractor(spaces.Discrete(3))) is None


@pytest.mark.parametrize(
    "algo, env, extra",
    [
        (DQN, "CartPole-v1", dict(buffer_size=200, learning_starts=32)),
        (PPO, "Pendulum-v1", dict(n_steps=64, batch_size=32)),
        (SAC, "Pendulum-v1", dict(buffer_size=200, learning_starts=32, batch_size=16)),
        (TD3, "Pendulum-v1", dict(buffer_size=200, learning_starts=32, batch_size=16)),
    ],
)
def test_every_policy_takes_the_population_encoder(algo, env, extra):
    kwargs = dict(T=4, net_arch=[16], encoder="population", pop_size=6)
    if algo in (SAC, TD3):
        kwargs["action_readout"] = "population"
    model = algo("SpikingMlpPolicy", env, policy_kwargs=kwargs, seed=0, **extra)
    encoders = [m for m in model.policy.modules() if isinstance(m, PopulationEncoder)]
    assert encoders and all(e.input_dim * e.pop_size == e.centres.numel() for e in encoders)
    if algo in (SAC, TD3):
        # The inputs are standardised first: the centres of every dimension span [-2, 2] standard deviations
        assert float(encoders[0].centres.min()) == -2.0 and float(encoders[0].centres.max()) == 2.0
        raw = algo("SpikingMlpPolicy", env, policy_kwargs=dict(kwargs, input_norm=False), seed=0, **extra)
        centres = next(m for m in raw.policy.modules() if isinstance(m, PopulationEncoder)).centres
        # Without it, Pendulum's angular velocity spans [-8, 8]: the centres cover it
        assert float(centres[2].min()) == -8.0 and float(centres[2].max()) == 8.0
        assert any(isinstance(m, PopulationReadout) for m in model.policy.actor.modules())
    model.learn(96)
    params = model.policy._get_constructor_parameters()
    assert (params["encoder"], params["pop_size"]) == ("population", 6)


@pytest.mark.parametrize(
    "algo, kwargs, message",
    [
        (SAC, dict(encoder="poisson"), "valid choices are 'linear', 'population'"),
        (SAC, dict(pop_size=0), "pop_size must be"),
        (PPO, dict(action_readout="population"), "applies to the actors of SAC"),
    ],
)
def test_population_knobs_are_validated(algo, kwargs, message):
    with pytest.raises(ValueError, match=message):
        algo("SpikingMlpPolicy", "Pendulum-v1", policy_kwargs=kwargs)


def test_population_encoder_needs_vector_observations():
    from stable_baselines3.common.envs import FakeImageEnv

    with pytest.raises(ValueError, match="encoder='population' reads vector observations"):
        DQN("SpikingCnnPolicy", FakeImageEnv(40, 40, 1), buffer_size=10, policy_kwargs=dict(encoder="population"))


def test_population_centres_span_the_clipped_range():
    # With input_clip the standardised inputs lie in [-clip, clip]: the receptive fields start spread over it
    policy = DQN(
        "SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(encoder="population", pop_size=5, input_clip=3.0)
    ).policy
    encoder = policy.q_net.q_net[1]
    assert isinstance(encoder, PopulationEncoder)
    th.testing.assert_close(encoder.centres.detach(), th.tensor([-3.0, -1.5, 0.0, 1.5, 3.0]).expand(4, 5))
    unclipped = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(encoder="population", pop_size=5)).policy
    th.testing.assert_close(unclipped.q_net.q_net[1].centres.detach(), th.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]).expand(4, 5))
