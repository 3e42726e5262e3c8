"""lab/candidates.py and lab/late_evaluations.py: the centring of the second layer and the second-half means, by hand;
the value-function and critic candidates."""

import math

import numpy as np
import pytest
import torch as th
from scripts_loader import load_script
from spikingjelly.activation_based.neuron import BaseNode
from stable_baselines3 import A2C, DQN, SAC, TD3
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

from sb3_spiking.snn import RunningNorm, SpikingConfig, spiking_mlp


@pytest.fixture(scope="module")
def candidates():
    return load_script("candidates")


def test_centre_second_layer_by_hand(candidates):
    net = spiking_mlp(2, [2, 3], SpikingConfig(input_span=1.0), raw_input=True)
    first, second = net[1], net[4]
    with th.no_grad():
        first.weight.copy_(th.tensor([[3.0, 4.0], [0.0, 2.0]]))  # |w| = 5 and 2
        first.bias.copy_(th.tensor([1.0 - 5.0 * 0.5, 1.0 + 2.0 * 1.0]))  # thresholds at +0.5 and -1 std
        second.weight.copy_(th.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]]))
    candidates.centre_second_layer_(net, v_threshold=1.0, offset=0.25)
    rates = [0.5 * math.erfc(0.5 / math.sqrt(2.0)), 0.5 * math.erfc(-1.0 / math.sqrt(2.0))]  # P(z > 0.5), P(z > -1)
    assert rates == pytest.approx([0.3085, 0.8413], abs=1e-4)
    expected = [0.25 - rates[0], 0.25 - 2.0 * rates[1], 0.25 - rates[0] + rates[1]]
    assert second.bias.detach().tolist() == pytest.approx(expected, abs=1e-6)
    assert net[1].bias.detach().tolist() == pytest.approx([-1.5, 3.0])  # the first layer is left as it was


def test_the_policies_centre_their_q_networks(candidates):
    biases = {}
    for policy in (candidates.CentredSpikingDQNPolicy, candidates.ThresholdCentredSpikingDQNPolicy):
        model = DQN(policy, "CartPole-v1", policy_kwargs=dict(input_span=3.0, v_threshold=0.5), seed=0)
        seq = next(module for module in model.policy.q_net.modules() if isinstance(module, nn.Sequential))
        target = next(module for module in model.policy.q_net_target.modules() if isinstance(module, nn.Sequential))
        th.testing.assert_close(seq[4].bias, target[4].bias)  # the target network copies the centred one
        biases[policy.offset] = seq[4].bias.detach()
    # the same draw (seed 0): the threshold-centred biases are the centred ones plus the threshold
    th.testing.assert_close(biases[1.0], biases[0.0] + 0.5)


def test_late_evaluations_by_hand(tmp_path, monkeypatch):
    late = load_script("late_evaluations")
    folder = tmp_path / "cartpole-dqn"
    folder.mkdir()
    # 6 evaluations of 2 episodes each: the second half is evaluations 3-5, the final the last 3 too
    np.savez(folder / "snn-seed0.npz", results=np.array([[0, 0], [10, 30], [20, 20], [100, 300], [200, 200], [300, 500]]))
    np.savez(folder / "snn-seed2.npz", results=np.array([[0, 0]] * 4 + [[100, 100], [400, 400]]))
    np.savez(folder / "snn-span3-seed0.npz", results=np.zeros((6, 2)))  # another policy, not read
    monkeypatch.setattr(late, "RESULTS", str(tmp_path))
    assert list(late.runs("cartpole-dqn", "snn")) == [0, 2]
    text = late.main(["--policies", "snn", "ann", "--out", "-"])
    # seed 0: (200 + 200 + 400) / 3; seed 2: (0 + 100 + 400) / 3; no ann runs: no row
    assert "| snn | 0, 2 | 266.7, 166.7 | 216.7 +- 50.0 | 266.7, 166.7 | 216.7 |" in text
    assert "| ann |" not in text


def test_the_knob_builds_the_threshold_centred_candidate(candidates):
    # the suite's runs of the lab candidate are runs of the package knob: the same networks from the same seed
    kwargs = dict(input_span=3.0)
    lab = DQN(candidates.ThresholdCentredSpikingDQNPolicy, "CartPole-v1", policy_kwargs=kwargs, seed=0).policy
    knob = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(kwargs, centre_second_layer=True), seed=0).policy
    for net in ("q_net", "q_net_target"):
        got, want = getattr(knob, net).state_dict(), getattr(lab, net).state_dict()
        assert [key for key in got if "spiking_knobs" not in key] == [key for key in want if "spiking_knobs" not in key]
        for key in want:
            if "spiking_knobs" not in key:
                th.testing.assert_close(got[key], want[key], msg=key)


def test_the_ann_critic_candidate(candidates, tmp_path):
    model = A2C(candidates.AnnCriticSpikingActorCriticPolicy, "CartPole-v1", seed=0, n_steps=8)
    policy = model.policy
    # the value branch is SB3's MlpPolicy one (Tanh layers, a plain linear output); the actor stays spiking
    assert [type(module) for module in policy.mlp_extractor.value_net] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh]
    assert type(policy.value_net) is nn.Linear
    assert any(isinstance(module, BaseNode) for module in policy.mlp_extractor.policy_net.modules())
    # orthogonal (SB3's ortho_init, gain sqrt(2)): its rows are orthogonal with norm sqrt(2)
    weight = policy.mlp_extractor.value_net[2].weight.detach()
    th.testing.assert_close(weight @ weight.T, 2.0 * th.eye(64), atol=1e-4, rtol=0)
    # every parameter trains, and a save / load round trip gives the same values
    in_optimizer = {id(param) for group in policy.optimizer.param_groups for param in group["params"]}
    assert in_optimizer == {id(param) for param in policy.parameters()}
    before = policy.mlp_extractor.value_net[0].weight.detach().clone()
    model.learn(64)
    assert not th.equal(before, policy.mlp_extractor.value_net[0].weight)
    obs = th.as_tensor(np.random.default_rng(0).normal(size=(5, 4)), dtype=th.float32)
    model.save(tmp_path / "model.zip")
    loaded = A2C.load(tmp_path / "model.zip", device="cpu")
    th.testing.assert_close(loaded.policy.predict_values(obs), policy.predict_values(obs))


def test_the_default_builds_the_ann_critic_candidates(candidates):
    # the same parameters from the same seed: the ANN value function on raw observations (the suite's snn-anncritic,
    # the default before its value function standardised them) and on standardised ones (snn-normcritic, today's)
    built = (candidates.AnnCriticSpikingActorCriticPolicy, candidates.NormCriticSpikingActorCriticPolicy, "SpikingMlpPolicy")
    raw, standardised, default = (A2C(policy, "CartPole-v1", seed=0).policy for policy in built)
    for policy in (raw, standardised):
        assert len(list(policy.parameters())) == len(list(default.parameters())) == 12
        for (name, param), expected in zip(default.named_parameters(), policy.parameters()):
            th.testing.assert_close(param, expected, rtol=0, atol=0, msg=name)
    assert not any(isinstance(module, RunningNorm) for module in raw.mlp_extractor.value_net)
    assert [type(module) for module in standardised.mlp_extractor.value_net] == [
        type(module) for module in default.mlp_extractor.value_net
    ]
    # the suite's snn-normcritic runs are runs of today's default: they train the same (each trained before the next
    # is built: the seed sets torch's global stream)
    policies = (candidates.NormCriticSpikingActorCriticPolicy, "SpikingMlpPolicy")
    models = [A2C(policy, "CartPole-v1", seed=0).learn(200) for policy in policies]
    got, want = list(models[1].policy.named_parameters()), list(models[0].policy.named_parameters())
    assert len(got) == len(want) == 12
    for (name, param), (_, expected) in zip(got, want):
        th.testing.assert_close(param, expected, rtol=0, atol=0, msg=name)
    norms = [model.policy.mlp_extractor.value_net[1] for model in models]
    for name in ("running_mean", "running_var", "running_count"):
        th.testing.assert_close(getattr(norms[1], name), getattr(norms[0], name))


@pytest.mark.parametrize("algo, name", [(SAC, "NormCriticSpikingSACPolicy"), (TD3, "NormCriticSpikingTD3Policy")])
def test_the_off_policy_critic_candidates(candidates, algo, name):
    # the same parameters from the same seed as the default, the critics standardising the raw observations
    candidate = algo(getattr(candidates, name), "Pendulum-v1", seed=0, learning_starts=20, batch_size=16)
    default = algo("SpikingMlpPolicy", "Pendulum-v1", seed=0).policy
    got, want = list(candidate.policy.named_parameters()), list(default.named_parameters())
    assert [key for key, _ in got] == [key for key, _ in want]
    for (key, param), (_, expected) in zip(got, want):
        th.testing.assert_close(param, expected, rtol=0, atol=0, msg=key)
    critic, target = candidate.policy.critic, candidate.policy.critic_target
    assert isinstance(critic.features_extractor.norm, RunningNorm)
    candidate.learn(40)
    norm = critic.features_extractor.norm
    assert float(norm.running_count) > 0  # the critic's loss updated it; the target copies it
    th.testing.assert_close(target.features_extractor.norm.running_mean, norm.running_mean, rtol=0, atol=0)
    obs = th.as_tensor(candidate.replay_buffer.observations[:30, 0])
    standardised = (obs - norm.running_mean) / th.sqrt(norm.running_var + norm.eps)
    critic.eval()
    th.testing.assert_close(critic.features_extractor(obs), standardised)
    # the suite's snn-normq runs are runs of today's default: they train the same (each trained before the next is
    # built: the seed sets torch's global stream)
    default = algo("SpikingMlpPolicy", "Pendulum-v1", seed=0, learning_starts=20, batch_size=16).learn(40)
    candidate = algo(getattr(candidates, name), "Pendulum-v1", seed=0, learning_starts=20, batch_size=16).learn(40)
    got, want = candidate.policy.state_dict(), default.policy.state_dict()
    assert list(got) == list(want) and "critic_target.features_extractor.norm.running_mean" in got
    for key in want:
        th.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_the_raw_critic_candidates_keep_the_earlier_default(candidates, algo):
    # the same parameters from the same seed as today's default, without the critics' standardisation
    name = f"RawCriticSpiking{algo.__name__}Policy"
    raw, default = (algo(policy, "Pendulum-v1", seed=0).policy for policy in (getattr(candidates, name), "SpikingMlpPolicy"))
    assert type(raw.critic.features_extractor) is type(raw.critic_target.features_extractor) is FlattenExtractor
    assert not any(isinstance(module, RunningNorm) for module in raw.critic.modules())
    got, want = list(raw.named_parameters()), list(default.named_parameters())
    assert [key for key, _ in got] == [key for key, _ in want]
    for (key, param), (_, expected) in zip(got, want):
        th.testing.assert_close(param, expected, rtol=0, atol=0, msg=key)


def test_the_direct_path_candidate(candidates, tmp_path):
    settings = dict(seed=4, device="cpu", learning_starts=0, batch_size=16)
    default = DQN("SpikingMlpPolicy", "MountainCar-v0", **settings)
    model = DQN(candidates.DirectPathSpikingDQNPolicy, "MountainCar-v0", **settings)
    head = model.q_net.q_net
    assert isinstance(head, candidates.DirectPathHead) and head.direct.weight.abs().sum() == 0
    x = th.tensor([[-0.5, 0.01], [0.3, -0.04]])
    with th.no_grad():  # no update of the statistics: the same network as the default's from the same seed
        th.testing.assert_close(model.q_net(x), default.q_net(x))
        head.direct.weight.fill_(1.0)
        z = head.norm(x)
        th.testing.assert_close(model.q_net(x) - default.q_net(x), z.sum(dim=1, keepdim=True).expand(-1, 3))
    model.learn(64)  # the direct path is trained with the rest, and saved with it
    model.save(tmp_path / "direct.zip")
    loaded = DQN.load(tmp_path / "direct.zip", device="cpu")
    with th.no_grad():
        th.testing.assert_close(loaded.q_net(x), model.q_net(x))
    with pytest.raises(ValueError, match="standardises its input first"):
        candidates.DirectPathHead(nn.Sequential(nn.Linear(2, 3)), 3)


@pytest.mark.parametrize("name, learnable", [("NormalisedSpikingDQNPolicy", True), ("FixedNormalisedSpikingDQNPolicy", False)])
def test_the_normalised_currents_candidates(candidates, name, learnable):
    model = DQN(
        getattr(candidates, name),
        "CartPole-v1",
        seed=0,
        device="cpu",
        learning_starts=0,
        batch_size=16,
        train_freq=4,
        target_update_interval=8,
        policy_kwargs=dict(net_arch=[16, 12, 10], v_threshold=2.0),
    )
    kinds = [type(module).__name__ for module in model.q_net.q_net]
    # a batch norm before each hidden layer that reads spikes, none before the first layer nor in the readout
    assert kinds == [
        "RunningNorm",
        "Linear",
        "RepeatOverTime",
        "LIFNode",
        "Linear",
        "BatchNorm1d",
        "LIFNode",
        "Linear",
        "BatchNorm1d",
        "LIFNode",
        "NonSpikingReadout",
    ]
    norms = [module for module in model.q_net.q_net if isinstance(module, nn.BatchNorm1d)]
    assert [norm.num_features for norm in norms] == [12, 10]
    for norm in norms:
        assert norm.weight.requires_grad is learnable and norm.bias.requires_grad is learnable
        assert (norm.weight == 1.0).all() and (norm.bias == 2.0).all()  # half a threshold around the threshold
    # in training mode each neuron's current over the batch and the T steps is standardised, then scaled and shifted
    current = []
    hook = norms[0].register_forward_hook(lambda _module, _inputs, out: current.append(out))
    model.q_net.set_training_mode(True)
    model.q_net(th.randn(64, 4))
    hook.remove()
    flat = current[0].reshape(-1, 12)
    th.testing.assert_close(flat.mean(0), th.full((12,), 2.0), atol=1e-4, rtol=0)
    th.testing.assert_close(flat.std(0, unbiased=False), th.full((12,), 1.0), atol=1e-2, rtol=0)
    model.learn(64)
    assert not norms[0].running_mean.eq(0).all()  # the statistics were learned
    # and SB3's DQN copies them to the target network with the weights
    assert norms[0].running_mean.data_ptr() in [stat.data_ptr() for stat in model.batch_norm_stats]
    target_norm = next(module for module in model.q_net_target.q_net if isinstance(module, nn.BatchNorm1d))
    assert target_norm.running_var.data_ptr() in [stat.data_ptr() for stat in model.batch_norm_stats_target]
    assert norms[0].weight.eq(1.0).all().item() is not learnable  # the fixed scale stayed, the learned one moved
