"""Closed-loop checks of the NIR export in other consumers (snnTorch, Sinabs) beside model.predict."""

import numpy as np
import pytest
import torch as th
from stable_baselines3 import DQN, PPO, SAC, TD3
from stable_baselines3.common.envs import FakeImageEnv

import sb3_spiking  # noqa: F401
from sb3_spiking.export import consumer_runner, host_readout, to_nir, verify_export

CONSUMERS = ["nir_sim", "snntorch", "sinabs"]
_TRAINED: dict = {}


def needs(consumer: str) -> None:
    if consumer != "nir_sim":
        pytest.importorskip(consumer, reason=f'{consumer} is in the deploy extra: pip install "sb3-spiking[deploy]"')


def amplify(module: th.nn.Module, gain: float = 6.0) -> None:
    """Initialised networks hardly fire: drive them harder, so that the comparisons see spikes."""
    with th.no_grad():
        for layer in module.modules():
            if isinstance(layer, th.nn.Linear):
                layer.weight.mul_(gain)


def trained_dqn(decoder: str):
    """A small DQN trained for 4000 steps on CartPole (about ten seconds), once per decoder."""
    if decoder not in _TRAINED:
        model = DQN(
            "SpikingMlpPolicy",
            "CartPole-v1",
            policy_kwargs=dict(T=4, decoder=decoder, net_arch=[32, 32]),
            learning_starts=500,
            target_update_interval=250,
            exploration_fraction=0.3,
            learning_rate=1e-3,
            seed=0,
        )
        _TRAINED[decoder] = model.learn(4000)
    return _TRAINED[decoder]


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize("decoder", ["last-mem", "max-mem"])
def test_trained_dqn_in_closed_loop(consumer, decoder):
    needs(consumer)
    model = trained_dqn(decoder)
    check = verify_export(model, "CartPole-v1", consumer=consumer, episodes=6)
    assert check.steps == sum(check.returns_consumer) > 30  # CartPole: one reward per step
    assert check.agreeing == check.steps, check
    assert check.returns_consumer == check.returns_predict
    assert check.max_abs_difference == 0.0 and check.passed
    quantized = verify_export(model, "CartPole-v1", consumer=consumer, episodes=3, bits=8)  # integer graph
    assert quantized.passed and quantized.steps > 20, quantized


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_ppo_actor_in_closed_loop(consumer):
    needs(consumer)
    if "ppo" not in _TRAINED:  # a short training that learns: CartPole returns well above a random policy's ~22
        model = PPO(  # the actor-critic default neuron: IF
            "SpikingMlpPolicy",
            "CartPole-v1",
            policy_kwargs=dict(T=4, net_arch=[32, 32]),
            n_steps=256,
            batch_size=64,
            learning_rate=3e-3,
            seed=0,
        )
        _TRAINED["ppo"] = model.learn(4096)
    model = _TRAINED["ppo"]
    check = verify_export(model, "CartPole-v1", consumer=consumer, episodes=2, seed=10)
    assert check.passed, check
    assert np.mean(check.returns_predict) > 60, check.returns_predict  # it learned: a random policy gets about 22


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize("algo", [SAC, TD3])
def test_squashed_actor_in_closed_loop(consumer, algo):
    """SAC (trained briefly) and TD3 (initialised, driven to fire): tanh and rescaling stay with the host."""
    needs(consumer)
    key = algo.__name__
    if key not in _TRAINED:
        model = algo(
            "SpikingMlpPolicy", "Pendulum-v1", policy_kwargs=dict(T=4, net_arch=[32, 32]), learning_starts=200, seed=0
        )
        if algo is SAC:
            model.learn(600)
        else:
            amplify(model.actor.mu)
        _TRAINED[key] = model
    model = _TRAINED[key]
    check = verify_export(model, "Pendulum-v1", consumer=consumer, episodes=1)
    assert check.steps == 200 and check.agreeing == 200, check
    assert check.max_abs_difference < 1e-5
    np.testing.assert_allclose(check.returns_consumer, check.returns_predict, rtol=1e-6)
    obs = np.stack([model.observation_space.sample() for _ in range(64)])
    actions, _ = model.predict(obs, deterministic=True)
    assert len(np.unique(np.round(actions, 3))) > 10  # the actions vary: the check compares more than constants


@pytest.mark.parametrize("consumer", ["snntorch", "sinabs"])
@pytest.mark.parametrize("neuron", ["lif", "plif", "if"])
def test_consumers_match_the_package_simulator_by_value(consumer, neuron):
    needs(consumer)
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=6, neuron=neuron, tau=3.0, decoder_tau=1.5), seed=0)
    amplify(model.policy.q_net.q_net[:-1])
    graph = to_nir(model.policy)
    x = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(32)]) * 0.5).float()
    expected = consumer_runner(graph, "nir_sim")(x)
    trace = consumer_runner(graph, consumer)(x)
    assert trace.shape == expected.shape == (6, 32, 2)
    np.testing.assert_allclose(trace.numpy(), expected.numpy(), atol=1e-5)
    assert len(th.unique(host_readout(trace, "last")[:, 0])) > 16  # the inputs are told apart: the network spikes


@pytest.mark.parametrize("consumer", ["snntorch", "sinabs"])
@pytest.mark.parametrize("decoder", ["mean-mem", "fr-mlp"])
def test_consumers_name_the_node_they_cannot_run(consumer, decoder):
    needs(consumer)
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=4, decoder=decoder), seed=0)
    with pytest.raises(ValueError, match=rf"{consumer} cannot run node '\d+_\d_i' \(I\).*'last-mem' or 'max-mem'"):
        verify_export(model, "CartPole-v1", consumer=consumer)


def test_verify_export_reports_disagreement_and_rejects_unknown_consumers():
    model = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=4, net_arch=[32, 32]), seed=0)
    amplify(model.policy.q_net.q_net[:-1])
    graph = to_nir(model.policy)
    readout = next(node for node in graph.nodes.values() if type(node).__name__ == "Affine" and node.weight.shape[0] == 2)
    readout.weight, readout.bias = readout.weight[::-1].copy(), readout.bias[::-1].copy()  # the actions swapped
    check = verify_export(model, "CartPole-v1", episodes=2, graph=graph)
    assert check.agreeing < check.steps and not check.passed
    with pytest.raises(ValueError, match="valid choices are 'nir_sim', 'snntorch', 'sinabs'"):
        verify_export(model, "CartPole-v1", consumer="loihi")


def test_cnn_graph_in_sinabs_and_refused_by_snntorch():
    needs("sinabs")
    needs("snntorch")
    env = FakeImageEnv(screen_height=40, screen_width=40, n_channels=1, discrete=True)
    kwargs = dict(T=3, features_extractor_kwargs=dict(features_dim=16))
    model = DQN("SpikingCnnPolicy", env, buffer_size=10, policy_kwargs=kwargs, seed=0)
    amplify(model.policy.q_net, gain=8.0)
    graph = to_nir(model.policy)
    x = th.rand(4, 1, 40, 40)  # the graph's input: images scaled to [0, 1], channels first
    expected = consumer_runner(graph, "nir_sim")(x)
    assert len(th.unique(expected[-1, :, 0])) == 4  # the images are told apart: the network spikes
    np.testing.assert_allclose(consumer_runner(graph, "sinabs")(x).numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"snntorch cannot run node '\d+_0_flatten' \(Flatten\)"):
        consumer_runner(graph, "snntorch")
