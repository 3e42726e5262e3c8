import pytest
import torch as th
from envs_for_tests import ENVS
from gymnasium import spaces
from sb3_contrib import QRDQN, TRPO, MaskablePPO
from spikingjelly.activation_based.neuron import BaseNode
from stable_baselines3 import A2C, DQN, PPO

import sb3_spiking
from sb3_spiking.snn import NEURONS, NonSpikingReadout, SpikingConfig

SMALL = {
    DQN: dict(buffer_size=500, learning_starts=50, batch_size=16, train_freq=4),
    QRDQN: dict(buffer_size=500, learning_starts=50, batch_size=16, train_freq=4, policy_kwargs=dict(n_quantiles=5)),
    A2C: dict(n_steps=16),
    PPO: dict(n_steps=64, batch_size=32, n_epochs=2),
    TRPO: dict(n_steps=64, batch_size=32),
    MaskablePPO: dict(n_steps=64, batch_size=32, n_epochs=2),
}

# Which algorithms support which env (action space), as in SB3
CASES = [
    (algo, env)
    for algo in (DQN, QRDQN, A2C, PPO, TRPO)
    for env in ("discrete", "box", "multi-discrete", "multi-binary", "image-discrete", "image-box", "dict")
    if not (algo in (DQN, QRDQN) and env in ("box", "multi-discrete", "multi-binary", "image-box"))
] + [(MaskablePPO, "masked")]


def alias_for(env_name: str) -> str:
    if env_name.startswith("image"):
        return "SpikingCnnPolicy"
    return "SpikingMultiInputPolicy" if env_name == "dict" else "SpikingMlpPolicy"


def make_model(algo, env_name, **policy_kwargs):
    kwargs = {key: dict(value) if isinstance(value, dict) else value for key, value in SMALL[algo].items()}
    kwargs.setdefault("policy_kwargs", {}).update(policy_kwargs)
    return algo(alias_for(env_name), ENVS[env_name](), seed=0, **kwargs)


@pytest.mark.parametrize("algo, env_name", CASES, ids=lambda x: getattr(x, "__name__", x))
def test_learn_smoke(algo, env_name):
    model = make_model(algo, env_name, T=4)
    model.learn(200)
    # The policy really is spiking: a spiking neuron between observation and output
    assert any(type(module).__name__ in {"IFNode", "LIFNode", "ParametricLIFNode"} for module in model.policy.modules())
    assert any(isinstance(module, NonSpikingReadout) for module in model.policy.modules())
    obs = model.get_env().reset()
    action, _ = model.predict(obs, deterministic=True)
    assert model.action_space.contains(action[0])


@pytest.mark.parametrize("algo", [DQN, PPO, QRDQN, MaskablePPO])
def test_policies_also_as_classes(algo):
    classes = {
        DQN: sb3_spiking.SpikingDQNPolicy,
        PPO: sb3_spiking.SpikingActorCriticPolicy,
        QRDQN: sb3_spiking.SpikingQRDQNPolicy,
        MaskablePPO: sb3_spiking.SpikingMaskableActorCriticPolicy,
    }
    env = ENVS["masked" if algo is MaskablePPO else "discrete"]()
    model = algo(classes[algo], env, **SMALL[algo])
    assert type(model.policy) is classes[algo]
    # The package-level names resolve per algorithm
    model = algo(sb3_spiking.SpikingMlpPolicy, env, **SMALL[algo])
    assert type(model.policy) is classes[algo]


def test_cnn_is_the_dsqn_layout():
    model = make_model(DQN, "image-discrete")
    q_net = model.q_net
    extractor = q_net.features_extractor
    assert [(m.out_channels, m.kernel_size, m.stride) for m in q_net.modules() if isinstance(m, th.nn.Conv2d)] == [
        (32, (8, 8), (4, 4)),
        (64, (4, 4), (2, 2)),
        (64, (3, 3), (1, 1)),
    ]
    assert extractor.features_dim == 512
    assert sum(type(m).__name__ == "LIFNode" for m in q_net.modules()) == 4
    readout = q_net.q_net[-1]
    assert isinstance(readout, NonSpikingReadout) and readout.linear.in_features == 512 and readout.decoder == "max-mem"


def test_features_extractor_returns_a_time_major_spike_train():
    model = make_model(DQN, "image-discrete", T=5)
    obs = th.as_tensor(model.observation_space.sample()[None].repeat(3, 0)).float() / 255
    spikes = model.q_net.features_extractor(obs)
    assert spikes.shape == (5, 3, 512)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_encoder_runs_once_per_observation():
    model = make_model(DQN, "image-discrete", T=8)
    extractor = model.q_net.features_extractor
    seen = []
    extractor.encoder.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    extractor(th.rand(3, *model.observation_space.shape))
    assert seen == [th.Size([3, *model.observation_space.shape])]


def test_spiking_knobs_reach_every_layer():
    model = make_model(PPO, "image-discrete", T=3, neuron="plif", tau=3.0, surrogate="sigmoid", v_threshold=0.5)
    nodes = [m for m in model.policy.modules() if type(m).__name__ in {"IFNode", "LIFNode", "ParametricLIFNode"}]
    assert len(nodes) == 4 and all(type(m).__name__ == "ParametricLIFNode" for m in nodes)
    assert all(m.v_threshold == 0.5 and type(m.surrogate_function).__name__ == "Sigmoid" for m in nodes)
    assert model.policy.features_extractor.spiking.T == 3
    assert model.policy.action_net.T == 3 and model.policy.action_net.decoder == "last-mem"


def test_default_knobs_follow_the_seeds():
    dqn, ppo = make_model(DQN, "discrete"), make_model(PPO, "discrete")
    # the seeds' DSQN, with the Q-networks' first two layers spread and centred (the learning suite's choice)
    seeds = SpikingConfig(T=8, neuron="lif", surrogate="atan", detach_reset=True, decoder="max-mem")
    assert dqn.policy.spiking == seeds.replace(input_span=3.0, centre_second_layer=True)
    assert ppo.policy.spiking.decoder == "last-mem" and ppo.policy.ortho_init is True
    assert (ppo.policy.spiking.input_span, ppo.policy.spiking.centre_second_layer) == (0.0, False)


def hidden_rates(model, obs):
    rates = []
    hooks = [
        module.register_forward_hook(lambda m, i, out: rates.append(out.mean().item()))
        for module in model.policy.mlp_extractor.modules()
        if isinstance(module, BaseNode)
    ]
    model.policy.set_training_mode(False)  # as in a rollout: the observation statistics are only read
    with th.no_grad():
        model.policy(obs)
    for hook in hooks:
        hook.remove()
    return rates


CARTPOLE_OBS = th.randn(256, 4) * th.tensor([1.0, 0.5, 0.1, 0.5])


@pytest.mark.parametrize("ortho_init", [True, False])
def test_hidden_layers_fire_at_initialisation(ortho_init):
    # Neither setting leaves a layer silent or saturated on CartPole-scale observations, with either neuron
    # the value function spiking too (spiking_critic=True): four spiking layers
    kwargs = dict(ortho_init=ortho_init, spiking_critic=True)
    model = PPO("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=kwargs, seed=0)
    assert model.policy.spiking.neuron == "if"  # the actor-critic default
    rates = hidden_rates(model, CARTPOLE_OBS)
    assert len(rates) == 4
    assert all(0.02 < rate < 0.9 for rate in rates), rates
    model = PPO("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(kwargs, neuron="lif"), seed=0)
    rates = hidden_rates(model, CARTPOLE_OBS)
    assert len(rates) == 4
    assert all(0.02 < rate < 0.9 for rate in rates), rates


def test_ann_initialisations_would_leave_the_spiking_layers_silent():
    # Why the spiking layers have their own initialisation: SB3's orthogonal one (gain sqrt(2), as ortho_init
    # applies to hidden layers) and PyTorch's default keep the membranes of leaky neurons below threshold
    model = PPO("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(neuron="lif"), seed=0)
    for reinit in (
        lambda layer: (th.nn.init.orthogonal_(layer.weight, gain=2**0.5), th.nn.init.zeros_(layer.bias)),
        lambda layer: layer.reset_parameters(),
    ):
        for layer in model.policy.mlp_extractor.modules():
            if isinstance(layer, th.nn.Linear):
                reinit(layer)
        assert max(hidden_rates(model, CARTPOLE_OBS)) < 0.01


@pytest.mark.parametrize(
    "policy, env_name, kwargs, words",
    [
        ("SpikingMlpPolicy", "discrete", dict(neuron="hh"), ["Unknown neuron 'hh'", "'lif'"]),
        ("SpikingMlpPolicy", "discrete", dict(surrogate="step"), ["Unknown surrogate", "'atan'"]),
        ("SpikingMlpPolicy", "discrete", dict(decoder="mean"), ["Unknown decoder", "'mean-mem'"]),
        ("SpikingMlpPolicy", "discrete", dict(T=0), ["T must be an integer >= 1"]),
        ("SpikingMlpPolicy", "discrete", dict(tau=1.0), ["tau must be > 1"]),
        ("SpikingMlpPolicy", "discrete", dict(activation_fn=th.nn.ReLU), ["neuron='if', 'lif' or 'plif'"]),
        ("SpikingMlpPolicy", "dict", {}, ["SpikingMultiInputPolicy"]),
        ("SpikingCnnPolicy", "discrete", {}, ["image observation space", "SpikingMlpPolicy"]),
        (
            "SpikingCnnPolicy",
            "image-discrete",
            dict(features_extractor_kwargs=dict(T=4)),
            ["Set the spiking knobs ['T'] in policy_kwargs"],
        ),
    ],
)
def test_bad_input_is_refused_at_construction(policy, env_name, kwargs, words):
    with pytest.raises(ValueError) as error:
        DQN(policy, ENVS[env_name](), policy_kwargs=kwargs, buffer_size=100)
    for word in words:
        assert word in str(error.value)


def test_unknown_alias_is_sb3s_own_error():
    with pytest.raises(ValueError, match="Policy SpikingLstmPolicy unknown"):
        PPO("SpikingLstmPolicy", ENVS["discrete"]())


def test_gaussian_log_std_stays_a_parameter():
    model = make_model(PPO, "box")
    assert isinstance(model.policy.log_std, th.nn.Parameter)
    assert isinstance(model.policy.action_net, NonSpikingReadout)
    assert isinstance(model.action_space, spaces.Box)


@pytest.mark.parametrize("neuron", NEURONS)
def test_every_neuron_trains(neuron):
    # Surrogate gradients reach every parameter: every layer's weights (and PLIF's time constant) move
    model = make_model(DQN, "discrete", neuron=neuron, T=2)
    before = {name: param.detach().clone() for name, param in model.q_net.named_parameters()}
    model.learn(100)
    assert model._n_updates > 0
    changed = {name for name, param in model.q_net.named_parameters() if not th.equal(param, before[name])}
    assert changed == set(before), sorted(set(before) - changed)
    assert any(name.endswith(".w") for name in before) == (neuron == "plif")


@pytest.mark.parametrize("algo", [PPO, DQN])
def test_training_mode_reaches_every_module(algo):
    # set_training_mode skips the walk only where every module is already in the mode asked for
    policy = make_model(algo, "discrete").policy
    target = getattr(policy, "q_net_target", None)  # SB3 keeps DQN's target network in evaluation mode
    trained = [m for m in policy.modules() if target is None or all(m is not t for t in target.modules())]
    policy.set_training_mode(False)
    assert not any(m.training for m in policy.modules())
    neuron = next(m for m in policy.modules() if isinstance(m, BaseNode))
    neuron.train()  # one module switched by hand
    policy.set_training_mode(False)
    assert not any(m.training for m in policy.modules())
    policy.set_training_mode(True)
    assert all(m.training for m in trained)
    assert target is None or not any(m.training for m in target.modules())
    model_predict = make_model(algo, "discrete")
    model_predict.policy.set_training_mode(True)
    model_predict.predict(model_predict.env.observation_space.sample())
    assert not any(m.training for m in model_predict.policy.modules())
