"""
The stateful spiking policies of RecurrentPPO: potentials carried across env steps, by value (a hand-computed
trajectory, the float64 step-by-step reference, gradients through time), RecurrentPPO's buffer and sequences,
save / load in a fresh process, state shapes.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from reference_stateful import reference_policy_sequences
from sb3_contrib import RecurrentPPO
from spikingjelly.activation_based.neuron import BaseNode
from torch import nn

import sb3_spiking
from sb3_spiking.policies.recurrent import (
    SpikingRecurrentActorCriticCnnPolicy,
    SpikingRecurrentActorCriticPolicy,
    SpikingRecurrentMultiInputActorCriticPolicy,
)
from sb3_spiking.snn import DECODERS, RepeatOverTime, RunningNorm
from sb3_spiking.snn.config import SpikingConfig
from sb3_spiking.snn.membrane_state import MembraneState
from sb3_spiking.snn.stateful import (
    StatefulLIFNode,
    StatefulReadout,
    add_recurrent_synapses_,
    make_stateful_,
)

BOX = spaces.Box(-1.0, 1.0, (3,))


def constant_linear(weight: float) -> nn.Linear:
    linear = nn.Linear(1, 1)
    with th.no_grad():
        linear.weight.fill_(weight)
        linear.bias.zero_()
    return linear


def test_hand_computed_trajectory_with_a_reset():
    """
    LIF (tau 2, threshold 1) then the readout (weight 2, tau 2, last-mem), T=1, from v=0.4, u=0.5; episode starts
    at the third env step. Inputs 1.2, 1.6, 1.2:
    step 1: h = 0.4 + (1.2 - 0.4) / 2 = 0.8, no spike, v = 0.8; u = 0.5 + (0 - 0.5) / 2 = 0.25
    step 2: h = 0.8 + (1.6 - 0.8) / 2 = 1.2, spike, v = 0;     u = 0.25 + (2 - 0.25) / 2 = 1.125
    step 3: reset (v = u = 0): h = 1.2 / 2 = 0.6, v = 0.6;      u = 0 + (0 - 0) / 2 = 0
    Without the reset, step 3 would read u = 1.125 / 2 = 0.5625.
    """
    neuron = make_stateful_(nn.Sequential(SpikingConfig(neuron="lif", tau=2.0).make_neuron()))[0]
    readout = StatefulReadout(constant_linear(2.0), T=1, decoder="last-mem", tau=2.0)
    net = nn.Sequential(constant_linear(1.0), RepeatOverTime(1), neuron, readout)
    state = MembraneState([net])
    state.probe(lambda: net(th.zeros(1, 1)))
    assert state.shapes == [(1,), (1,)]
    x = th.tensor([[1.2], [1.6], [1.2]])  # one sequence of three env steps, sequence major
    for starts, expected_out, expected_end in (
        ([0.0, 0.0, 1.0], [0.25, 1.125, 0.0], [0.6, 0.0]),
        ([0.0, 0.0, 0.0], [0.25, 1.125, 0.5625], [0.6, 0.5625]),
    ):
        with state.carry(th.tensor([[0.4, 0.5]]), th.tensor(starts)) as carries:
            out = net(x)
        end = MembraneState.flatten(carries, 1, out)
        assert out.flatten().tolist() == pytest.approx(expected_out)
        assert end.flatten().tolist() == pytest.approx(expected_end)
    # Outside a carry the layers run from rest, statelessly: step 1 from v = u = 0
    assert net(x[:1]).item() == pytest.approx(0.0) and neuron.v == 0.0


def test_hand_computed_trajectory_with_recurrent_synapses():
    """
    As above, with a recurrent weight of -1: the state is [v, s, u], from v=0.4, s=1 (the neuron fired at the step
    before), u=0.5. Inputs 1.2, 1.8, 1.2:
    step 1: x = 1.2 - 1 = 0.2: h = 0.4 + (0.2 - 0.4) / 2 = 0.3, no spike: v = 0.3, s = 0; u = 0.25
    step 2: x = 1.8 - 0 = 1.8: h = 0.3 + (1.8 - 0.3) / 2 = 1.05, spike: v = 0, s = 1; u = 0.25 + (2 - 0.25) / 2 = 1.125
    step 3, an episode starts (v = s = u = 0): x = 1.2: h = 0.6, v = 0.6, s = 0; u = 0
    step 3 without the reset: x = 1.2 - 1 = 0.2: h = 0.1, v = 0.1, s = 0; u = 1.125 / 2 = 0.5625
    """
    neuron = make_stateful_(nn.Sequential(SpikingConfig(neuron="lif", tau=2.0).make_neuron()))[0]
    readout = StatefulReadout(constant_linear(2.0), T=1, decoder="last-mem", tau=2.0)
    net = add_recurrent_synapses_(
        nn.Sequential(constant_linear(1.0), RepeatOverTime(1), neuron, readout), T=1, v_threshold=1.0, gain=1.0
    )
    with th.no_grad():
        neuron.recurrent.weight.fill_(-1.0)
    state = MembraneState([net])
    state.probe(lambda: net(th.zeros(1, 1)))
    assert state.shapes == [(2,), (1,)]
    x = th.tensor([[1.2], [1.8], [1.2]])
    for starts, expected_out, expected_end in (
        ([0.0, 0.0, 1.0], [0.25, 1.125, 0.0], [0.6, 0.0, 0.0]),
        ([0.0, 0.0, 0.0], [0.25, 1.125, 0.5625], [0.1, 0.0, 0.5625]),
    ):
        with state.carry(th.tensor([[0.4, 1.0, 0.5]]), th.tensor(starts)) as carries:
            out = net(x)
        assert out.flatten().tolist() == pytest.approx(expected_out)
        assert MembraneState.flatten(carries, 1, out).flatten().tolist() == pytest.approx(expected_end)
    # From rest (outside a carry) with T=3 and input 1.6: the spike of step 2 feeds step 3
    # step 1: h = 0.8; step 2: h = 0.8 + (1.6 - 0.8) / 2 = 1.2, spike, v = 0; step 3: x = 1.6 - 1: h = 0.3
    neuron_t3 = make_stateful_(nn.Sequential(SpikingConfig(neuron="lif", tau=2.0).make_neuron()))[0]
    stack = add_recurrent_synapses_(nn.Sequential(constant_linear(1.0), RepeatOverTime(3), neuron_t3), 3, 1.0, 1.0)
    with th.no_grad():
        neuron_t3.recurrent.weight.fill_(-1.0)
    assert stack(th.tensor([[1.6]])).flatten().tolist() == [0.0, 1.0, 0.0]


def firing_policy(obs_space, action_space, gain=3.0, **kwargs):
    policy = SpikingRecurrentActorCriticPolicy(obs_space, action_space, lambda _: 1e-3, **kwargs).double()
    generator = th.Generator().manual_seed(0)
    with th.no_grad():
        for name, param in policy.named_parameters():
            if name.endswith("weight"):
                param.mul_(gain)
        for norm in (m for m in policy.modules() if isinstance(m, RunningNorm)):
            norm.running_mean.normal_(0.0, 0.3, generator=generator)
            norm.running_var.uniform_(0.25, 2.0, generator=generator)
    policy.set_training_mode(False)
    return policy


def sequences(n_seq=3, length=6, obs_dim=3, seed=0):
    generator = th.Generator().manual_seed(seed)
    obs = th.randn(n_seq * length, obs_dim, generator=generator, dtype=th.float64)
    starts = th.zeros(n_seq, length, dtype=th.float64)
    starts[0, 0] = 1.0  # a sequence that starts an episode
    starts[1, 3] = 1.0  # an episode that starts in the middle of a sequence
    return obs, starts.flatten()


def random_state(policy, n_seq, seed=1):
    half = policy.lstm_hidden_state_shape[2]
    generator = th.Generator().manual_seed(seed)
    state = th.rand(2, 1, n_seq, half, generator=generator, dtype=th.float64) * 0.8
    return (state[0], state[1])


@pytest.mark.parametrize("neuron", ["if", "lif", "plif"])
@pytest.mark.parametrize("T", [1, 3])
@pytest.mark.parametrize("recurrent", [True, False])
def test_same_outputs_and_gradients_as_the_reference(neuron, T, recurrent):
    decoder = "max-mem" if T > 1 else "last-mem"
    policy = firing_policy(
        BOX, spaces.Discrete(3), neuron=neuron, T=T, decoder=decoder, net_arch=[16, 8], recurrent_synapses=recurrent
    )
    assert any(name.endswith("recurrent.weight") for name, _ in policy.named_parameters()) is recurrent
    obs, starts = sequences()
    state = random_state(policy, 3)
    rates = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: rates.append(out.mean().item()))
        for m in policy.modules()
        if isinstance(m, BaseNode)
    ]
    distribution, (h, c) = policy.get_distribution(obs, state, starts)
    for hook in hooks:
        hook.remove()
    assert all(0.0 < rate < 1.0 for rate in rates), f"firing rates {rates}: the comparison would be vacuous"
    logits = distribution.distribution.logits
    flat = policy.actor_state.flat_from_halves(state[0][0], state[1][0])
    expected, expected_end = reference_policy_sequences(policy, obs, starts, flat)
    expected = expected - expected.logsumexp(dim=1, keepdim=True)  # Categorical normalises its logits
    th.testing.assert_close(logits, expected)
    th.testing.assert_close(policy.actor_state.flat_from_halves(h[0], c[0]), expected_end)
    values = policy.predict_values(obs, state, starts)
    critic_flat = policy.critic_state.flat_from_halves(state[0][0], state[1][0])
    expected_values, _ = reference_policy_sequences(policy, obs, starts, critic_flat, actor=False)
    th.testing.assert_close(values, expected_values)
    # Gradients through time (back-propagation along each sequence), every parameter
    weights = th.randn_like(logits)
    params = [p for p in policy.parameters() if p.requires_grad]
    with th.enable_grad():
        distribution, _ = policy.get_distribution(obs, state, starts)
        got = th.autograd.grad((distribution.distribution.logits * weights).sum(), params, allow_unused=True)
        out, _ = reference_policy_sequences(policy, obs, starts, flat)
        out = out - out.logsumexp(dim=1, keepdim=True)
        want = th.autograd.grad((out * weights).sum(), params, allow_unused=True)
    for g, w, (name, _) in zip(got, want, [(n, p) for n, p in policy.named_parameters() if p.requires_grad]):
        if w is None:
            assert g is None or not g.any(), name
        else:
            th.testing.assert_close(g, w, msg=f"gradient of {name}")


@pytest.mark.parametrize("decoder", DECODERS)
def test_every_decoder_reads_the_steps_of_one_env_step(decoder):
    policy = firing_policy(BOX, spaces.Box(-1.0, 1.0, (2,)), T=4, decoder=decoder, neuron="lif", net_arch=[16])
    obs, starts = sequences(n_seq=2, length=4)
    state = random_state(policy, 2)
    distribution, (h, c) = policy.get_distribution(obs, state, starts)
    flat = policy.actor_state.flat_from_halves(state[0][0], state[1][0])
    expected, expected_end = reference_policy_sequences(policy, obs, starts, flat)
    th.testing.assert_close(distribution.distribution.mean, expected)
    th.testing.assert_close(policy.actor_state.flat_from_halves(h[0], c[0]), expected_end)


def test_gradient_flows_through_time_and_stops_at_an_episode_start():
    policy = firing_policy(BOX, spaces.Discrete(3), net_arch=[16], neuron="lif")
    obs = th.randn(6, 3, dtype=th.float64, requires_grad=True)
    for starts, crosses in ((th.zeros(6), True), (th.tensor([0, 0, 0, 1.0, 0, 0]), False)):
        with th.enable_grad():
            distribution, _ = policy.get_distribution(obs, random_state(policy, 1), starts.double())
            (grad,) = th.autograd.grad(distribution.distribution.logits[5].sum(), obs)
        # The last step's output depends on the first observation only if no episode starts in between
        assert bool(grad[0].abs().sum() > 0) is crosses
        assert grad[3:].abs().sum() > 0


def test_rollout_and_training_sequences_agree():
    """RecurrentPPO's minibatch sequences (padded, reset where episodes start) give back the rollout's log-probs."""
    import rl_zoo3.import_envs  # noqa: F401  (CartPoleNoVel-v1)
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPoleNoVel-v1", n_envs=3, seed=0)
    model = RecurrentPPO(
        "SpikingMlpRecurrentPolicy", env, n_steps=48, batch_size=32, seed=0, policy_kwargs=dict(input_norm=False)
    )
    model._setup_learn(48, callback=None)
    from stable_baselines3.common.callbacks import BaseCallback

    class Nothing(BaseCallback):
        def _on_step(self):
            return True

    callback = Nothing()
    callback.init_callback(model)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, n_rollout_steps=48)
    assert model.rollout_buffer.episode_starts[1:].sum() > 0, "no episode ended in the rollout: the test would be vacuous"
    model.policy.set_training_mode(True)
    for data in model.rollout_buffer.get(32):
        mask = data.mask > 1e-8
        _, log_prob, _ = model.policy.evaluate_actions(
            data.observations, data.actions.long().flatten(), data.lstm_states, data.episode_starts
        )
        th.testing.assert_close(log_prob[mask], data.old_log_prob[mask], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_envs", [1, 4])
def test_state_shapes(n_envs):
    import rl_zoo3.import_envs  # noqa: F401

    model = RecurrentPPO("SpikingMlpRecurrentPolicy", "CartPoleNoVel-v1", n_steps=16, batch_size=16, n_epochs=1, seed=0)
    policy = model.policy
    half = policy.lstm_hidden_state_shape[2]
    # actor: 64 + 64 (first layer), 64 + 64 (second), 2 (readout) cut after the first layer: 128 | 130
    assert half == 130 and policy.actor_state.size == 258 and policy.critic_state.size == 257
    # each recurrent layer keeps its potentials and its last spikes; the readout its potentials
    assert policy.actor_state.shapes == [(128,), (128,), (2,)] and policy.critic_state.shapes == [(128,), (128,), (1,)]
    kwargs = dict(n_steps=16, batch_size=16, policy_kwargs=dict(recurrent_synapses=False))
    without = RecurrentPPO("SpikingMlpRecurrentPolicy", "CartPoleNoVel-v1", **kwargs).policy
    assert without.actor_state.shapes == [(64,), (64,), (2,)] and without.critic_state.shapes == [(64,), (64,), (1,)]
    obs = np.zeros((n_envs, 4), dtype=np.float32) if n_envs > 1 else np.zeros(4, dtype=np.float32)
    actions, state = model.predict(obs, episode_start=np.ones(n_envs, dtype=bool))
    assert actions.shape == ((n_envs,) if n_envs > 1 else ())
    assert state[0].shape == state[1].shape == (1, n_envs, half)
    assert model._last_lstm_states.pi[0].shape == (1, 1, half)


def test_trains_by_name_saves_and_loads_in_a_fresh_process(tmp_path):
    import rl_zoo3.import_envs  # noqa: F401

    model = RecurrentPPO(
        "SpikingMlpRecurrentPolicy",
        "CartPoleNoVel-v1",
        n_steps=64,
        batch_size=64,
        n_epochs=2,
        seed=0,
        policy_kwargs=dict(net_arch=[32, 32]),
    )
    assert isinstance(model.policy, SpikingRecurrentActorCriticPolicy)
    model.learn(256)
    env = model.get_env()
    obs, state, start = env.reset(), None, np.ones(1, dtype=bool)
    observations, actions, starts = [], [], []
    for _ in range(60):
        action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        observations.append(obs)
        actions.append(action)
        starts.append(bool(start[0]))
        obs, _, start, _ = env.step(action)
    model.save(tmp_path / "model.zip")
    np.savez(tmp_path / "episode.npz", obs=np.array(observations), actions=np.array(actions))
    script = textwrap.dedent(
        f"""
        import numpy as np
        from sb3_contrib import RecurrentPPO
        model = RecurrentPPO.load({str(tmp_path / "model.zip")!r})
        data = np.load({str(tmp_path / "episode.npz")!r})
        state, got = None, []
        for obs, start in zip(data["obs"], {starts!r}):
            action, state = model.predict(obs, state=state, episode_start=np.array([start]), deterministic=True)
            got.append(action)
        assert type(model.policy).__name__ == "SpikingRecurrentActorCriticPolicy", type(model.policy)
        print("SAME" if np.array_equal(np.array(got), data["actions"]) else "DIFFERENT")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "SAME" in result.stdout


def test_a_model_saved_before_recurrent_synapses_is_refused_with_the_fix():
    """A stateful model saved before the knob existed had no recurrent synapses: it is not loaded into a policy that
    has them (whose recurrent weights it lacks), and the message gives the keyword that loads it as it was."""
    import json

    from sb3_spiking.policies.base import KNOBS_BUFFER

    old = SpikingRecurrentActorCriticPolicy(BOX, spaces.Discrete(2), lambda _: 1e-3, recurrent_synapses=False)
    state_dict = old.state_dict()
    knobs = json.loads(bytes(state_dict[KNOBS_BUFFER].tolist()).decode())
    del knobs["recurrent_synapses"]  # as the record of a model saved before the knob
    state_dict[KNOBS_BUFFER] = th.tensor(list(json.dumps(knobs).encode()), dtype=th.uint8)
    new = SpikingRecurrentActorCriticPolicy(BOX, spaces.Discrete(2), lambda _: 1e-3)
    with pytest.raises(ValueError, match="'recurrent_synapses': False"):
        new.load_state_dict(state_dict)
    again = SpikingRecurrentActorCriticPolicy(BOX, spaces.Discrete(2), lambda _: 1e-3, recurrent_synapses=False)
    again.load_state_dict(state_dict)
    for (name, p), q in zip(again.state_dict().items(), old.state_dict().values()):
        assert th.equal(p, q) or name == KNOBS_BUFFER


def test_knobs_and_names():
    policy = SpikingRecurrentActorCriticPolicy(BOX, spaces.Discrete(2), lambda _: 1e-3)
    assert policy.spiking.T == 1 and policy.spiking.neuron == "lif" and policy.spiking.decoder == "last-mem"
    assert policy._get_constructor_parameters()["T"] == 1
    assert policy.recurrent_synapses is True and policy._get_constructor_parameters()["recurrent_synapses"] is True
    # the recurrent weights are trained: the optimizer holds them
    optimised = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    recurrent = [p for name, p in policy.named_parameters() if name.endswith("recurrent.weight")]
    assert len(recurrent) == 4 and all(id(p) in optimised for p in recurrent)  # 2 layers each, actor and critic
    assert optimised == {id(p) for p in policy.parameters()}
    with pytest.raises(ValueError, match="recurrent_synapses must be True or False"):
        SpikingRecurrentActorCriticPolicy(BOX, spaces.Discrete(2), lambda _: 1e-3, recurrent_synapses="yes")
    assert all(isinstance(m, StatefulLIFNode) for m in policy.modules() if isinstance(m, BaseNode))
    with pytest.raises(ValueError, match="net_arch"):
        SpikingRecurrentActorCriticPolicy(BOX, spaces.Discrete(2), lambda _: 1e-3, lstm_hidden_size=64)
    with pytest.raises(ValueError, match="activation_fn"):
        SpikingRecurrentActorCriticPolicy(BOX, spaces.Discrete(2), lambda _: 1e-3, activation_fn=nn.ReLU)
    with pytest.raises(ValueError, match="valid choices"):
        SpikingRecurrentActorCriticPolicy(BOX, spaces.Discrete(2), lambda _: 1e-3, decoder="last_mem")
    aliases = RecurrentPPO.policy_aliases
    assert aliases["SpikingMlpRecurrentPolicy"] is SpikingRecurrentActorCriticPolicy
    assert aliases["SpikingCnnRecurrentPolicy"] is SpikingRecurrentActorCriticCnnPolicy
    assert aliases["SpikingMultiInputRecurrentPolicy"] is SpikingRecurrentMultiInputActorCriticPolicy
    assert "SpikingMlpPolicy" not in aliases  # a stateless actor-critic is no policy for RecurrentPPO
    from stable_baselines3 import PPO

    assert "SpikingMlpRecurrentPolicy" not in PPO.policy_aliases
    assert str(sb3_spiking.SpikingMlpRecurrentPolicy) == "SpikingMlpRecurrentPolicy"
