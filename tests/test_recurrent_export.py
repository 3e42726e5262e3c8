"""
The stateful spiking policies beyond the by-value core: Box / Discrete actions, gSDE, CNN and Dict features under
RecurrentPPO; the streaming step exported to TorchScript, ONNX and NIR, compared with the policy along an
episode; spike statistics, SOP / energy and the SpikeStatsCallback per env step.
"""

import nir
import numpy as np
import pytest
import torch as th
from envs_for_tests import image_env
from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import SimpleMultiObsEnv

import sb3_spiking  # noqa: F401  (the policy names)
from sb3_spiking.export import to_nir
from sb3_spiking.export.streaming import (
    StreamingActor,
    flat_actor_state,
    run_nir_streaming,
    to_nir_streaming,
    to_onnx_step,
    to_torchscript_step,
)
from sb3_spiking.policies.recurrent import SpikingRecurrentActorCriticPolicy
from sb3_spiking.telemetry import SpikeStatsCallback, spike_stats

BOX = spaces.Box(-1.0, 1.0, (3,))


@pytest.mark.parametrize(
    "env_id, policy, kwargs",
    [
        ("CartPoleNoVel-v1", "SpikingMlpRecurrentPolicy", dict(policy_kwargs=dict(T=2, decoder="max-mem", neuron="plif"))),
        ("PendulumNoVel-v1", "SpikingMlpRecurrentPolicy", dict(use_sde=True, sde_sample_freq=4)),
        ("Pendulum-v1", "SpikingMlpRecurrentPolicy", dict(policy_kwargs=dict(encoder="population", surrogate="sigmoid"))),
    ],
)
def test_learns_on_vector_tasks(env_id, policy, kwargs):
    import rl_zoo3.import_envs  # noqa: F401

    model = RecurrentPPO(policy, env_id, n_steps=32, batch_size=32, n_epochs=1, seed=0, **kwargs).learn(64)
    assert isinstance(model.policy, SpikingRecurrentActorCriticPolicy)


def test_cnn_and_dict_features():
    model = RecurrentPPO("SpikingCnnRecurrentPolicy", image_env(), n_steps=16, batch_size=16, n_epochs=1, seed=0)
    cnn_neurons = model.policy.actor_state.shapes[:4]
    assert cnn_neurons[0] == (32, 9, 9) and len(model.policy.actor_state.shapes) == 5  # 4 CNN layers, the readout
    model.learn(32)
    env = make_vec_env(lambda: SimpleMultiObsEnv(random_start=False), n_envs=2)
    RecurrentPPO("SpikingMultiInputRecurrentPolicy", env, n_steps=16, batch_size=16, n_epochs=1, seed=0).learn(32)


def episode(model, steps=40):
    """An episode of predict() with the state carried: observations, episode starts, actions and states."""
    env = model.get_env()
    obs, state, start = env.reset(), None, np.ones(1, dtype=bool)
    record = dict(obs=[], starts=[], actions=[], states=[])
    for _ in range(steps):
        record["states"].append(state)
        action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        record["obs"].append(obs[0]), record["starts"].append(float(start[0])), record["actions"].append(action[0])
        obs, _, start, _ = env.step(action)
    return record


@pytest.fixture(scope="module")
def trained():
    import rl_zoo3.import_envs  # noqa: F401

    model = RecurrentPPO("SpikingMlpRecurrentPolicy", "CartPoleNoVel-v1", n_steps=64, batch_size=64, n_epochs=1, seed=0)
    return model.learn(128)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_step_acts_as_the_policy_along_an_episode(trained, fmt, tmp_path):
    record = episode(trained)
    actor = StreamingActor(trained.policy)
    if fmt == "torchscript":
        to_torchscript_step(trained.policy, tmp_path / "step.pt")
        loaded = th.jit.load(str(tmp_path / "step.pt"))

        def step(obs, state, start):
            with th.no_grad():
                return [t.numpy() for t in loaded(th.as_tensor(obs), th.as_tensor(state), th.as_tensor(start))]
    else:
        import onnxruntime

        to_onnx_step(trained.policy, tmp_path / "step.onnx")
        session = onnxruntime.InferenceSession(str(tmp_path / "step.onnx"))

        def step(obs, state, start):
            return session.run(None, {"observations": obs, "state": state, "episode_starts": start})

    state = np.zeros((1, actor.size), dtype=np.float32)
    for obs, start, action, policy_state in zip(record["obs"], record["starts"], record["actions"], record["states"]):
        if policy_state is not None:  # the exported state is the policy's own
            np.testing.assert_allclose(state, flat_actor_state(trained.policy, policy_state).numpy(), atol=1e-5)
        actions, state = step(obs[None].astype(np.float32), state.astype(np.float32), np.array([start], dtype=np.float32))
        assert actions[0] == action
    assert sum(record["starts"]) >= 1


def test_nir_graph_is_the_policy_as_it_runs(trained):
    graph = to_nir_streaming(trained.policy)
    assert graph.metadata["stateful"] is True and graph.metadata["T"] == 1
    policy = trained.policy
    obs = th.randn(12, 2, 4)  # 12 env steps of 2 episodes
    starts = th.zeros(12, 2)
    starts[0] = 1.0
    starts[7, 1] = 1.0
    with th.no_grad():
        features = th.stack([policy.extract_features(o, policy.pi_features_extractor) for o in obs])
        expected, _ = policy.get_distribution(
            obs.transpose(0, 1).reshape(24, 4),
            (th.zeros(1, 2, policy.lstm_hidden_state_shape[2]),) * 2,
            starts.transpose(0, 1).reshape(24),
        )
    got = run_nir_streaming(graph, features, starts).transpose(0, 1).reshape(24, -1)
    logits = expected.distribution.logits
    th.testing.assert_close(got - got.logsumexp(dim=1, keepdim=True), logits, atol=1e-4, rtol=1e-4)
    # the recurrent synapses are Linear nodes in a cycle with their neuron layer; without the cycles the graph differs
    loops = [(src, dst) for src, dst in graph.edges if "recurrent" in src]
    assert len(loops) == 2 and all((dst, src) in graph.edges for src, dst in loops)
    open_graph = nir.NIRGraph(
        nodes=graph.nodes, edges=[edge for edge in graph.edges if "recurrent" not in edge[0]], metadata=graph.metadata
    )
    assert not th.allclose(run_nir_streaming(open_graph, features, starts), run_nir_streaming(graph, features, starts))
    with pytest.raises(ValueError, match="Recurrent synapses cannot be quantised"):
        to_nir(policy, bits=8)
    with pytest.raises(ValueError, match="valid choices are 'last-mem'"):
        to_nir_streaming(SpikingRecurrentActorCriticPolicy(BOX, spaces.Discrete(2), lambda _: 1e-3, T=4, decoder="mean-mem"))


def test_spike_stats_and_energy_per_env_step(trained):
    policy = trained.policy
    obs = th.randn(1, 4)
    state = (th.zeros(1, 1, policy.lstm_hidden_state_shape[2]),) * 2
    with spike_stats(policy) as stats:
        for _ in range(5):  # five env steps, state carried
            _, state = policy._predict(obs, state, th.zeros(1), deterministic=True)
    layers = list(stats.layers.values())
    assert len(layers) == 2 and all(layer.n_neurons == 64 for layer in layers)
    # the recurrent synapses count their synaptic operations: the spikes of the step before, 64 targets each
    recurrent = [ops for name, ops in stats.synapses.items() if name.endswith("recurrent")]
    assert len(recurrent) == 2 and all(ops.mac == 0 and ops.sop % 64 == 0 and ops.n_obs == 5 for ops in recurrent)
    assert sum(ops.sop for ops in recurrent) > 0 and all(ops.ann_mac == 5 * 64 * 64 for ops in recurrent)
    energy = stats.energy()
    assert energy.sop >= 0 and energy.ann_mac > 0 and energy.table()


def test_spike_stats_callback(trained):
    callback = SpikeStatsCallback(log_freq=32, n_obs=16)
    trained.learn(64, callback=callback, reset_num_timesteps=False)
    assert len(callback._recent_states) == len(callback._recent) == 16  # the state each env step started from
    carried = callback.measure(np.stack(callback._recent), list(callback._recent_states))
    assert carried["spikes/n_obs"] == 16 and "energy/sop" in carried
    values = callback.measure(np.random.randn(8, 4).astype(np.float32))
    assert any(key.startswith("spikes/rate/mlp_extractor.policy_net") for key in values)
    assert any(key.startswith("spikes/rate/mlp_extractor.value_net") for key in values)
    assert "energy/sop" in values
