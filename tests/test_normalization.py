"""The observation normalisation inside spiking networks (``input_norm``): values, where it sits, training."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from envs_for_tests import ENVS
from gymnasium import spaces
from sb3_contrib import TRPO
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.envs import SimpleMultiObsEnv

import sb3_spiking  # noqa: F401
from sb3_spiking.snn import RunningNorm


def norms(module: th.nn.Module) -> list[RunningNorm]:
    return [m for m in module.modules() if isinstance(m, RunningNorm)]


def test_statistics_and_output_by_hand():
    norm = RunningNorm(2).train()
    norm(th.tensor([[1.0, 10.0], [3.0, 30.0]]))  # mean (2, 20), variance (1, 100)
    np.testing.assert_allclose(norm.running_mean.numpy(), [2.0, 20.0])
    np.testing.assert_allclose(norm.running_var.numpy(), [1.0, 100.0])
    assert float(norm.running_count) == 2
    norm.eval()
    out = norm(th.tensor([[4.0, 40.0], [2.0, 10.0]]))
    np.testing.assert_allclose(out.numpy(), [[2.0, 2.0], [0.0, -1.0]], rtol=1e-6)
    assert float(norm.running_count) == 2  # evaluation mode reads the statistics, never updates them


def test_batches_merge_into_the_statistics_of_all_samples():
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc, scale, size=(n, 3)) for loc, scale, n in ((0.0, 1.0, 5), (3.0, 0.1, 64), (-2.0, 5.0, 17))]
    norm = RunningNorm(3).double().train()
    for batch in batches:
        norm(th.as_tensor(batch))
    every = np.concatenate(batches)
    np.testing.assert_allclose(norm.running_mean.numpy(), every.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(norm.running_var.numpy(), every.var(axis=0), rtol=1e-10)
    assert float(norm.running_count) == len(every)


def test_where_the_policies_normalise():
    dqn = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[16]))
    assert isinstance(dqn.policy.q_net.q_net[0], RunningNorm)
    assert len(norms(dqn.policy.q_net)) == 1 and len(norms(dqn.policy.q_net_target)) == 1
    ppo = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=16, policy_kwargs=dict(net_arch=[16]))
    assert isinstance(ppo.policy.mlp_extractor.policy_net[0], RunningNorm)
    # the ANN value function reads the observations as the actor's first layer does: standardised, by its own statistics
    value_norms = norms(ppo.policy.mlp_extractor.value_net)
    assert len(value_norms) == 1 and value_norms[0] is not ppo.policy.mlp_extractor.policy_net[0]
    kwargs = dict(net_arch=[16], spiking_critic=True)
    ppo = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=16, policy_kwargs=kwargs)
    assert [type(net[0]) for net in (ppo.policy.mlp_extractor.policy_net, ppo.policy.mlp_extractor.value_net)] == [
        RunningNorm,
        RunningNorm,
    ]
    sac = SAC("SpikingMlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16]))
    assert isinstance(sac.policy.actor.latent_pi[0], RunningNorm)
    assert norms(sac.policy.critic) == [sac.policy.critic.features_extractor.norm]  # the ANN critics' own (one)
    off = DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[16], input_norm=False))
    assert not norms(off.policy)
    multi = PPO("SpikingMultiInputPolicy", SimpleMultiObsEnv(), n_steps=16, policy_kwargs=dict(net_arch=[16]))
    assert multi.policy.features_extractor.has_images and not norms(multi.policy)  # spike trains are not normalised


class VectorDictEnv(gym.Env):
    """Dict observations without images: two vectors."""

    observation_space = spaces.Dict({"a": spaces.Box(-1, 1, (2,)), "b": spaces.Box(-5, 5, (3,))})
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def test_dict_observations_without_images_are_normalised_as_one_vector():
    model = DQN("SpikingMultiInputPolicy", VectorDictEnv(), policy_kwargs=dict(net_arch=[16]))
    assert [norm.num_features for norm in norms(model.policy.q_net)] == [5]


def test_input_norm_is_validated():
    with pytest.raises(ValueError, match="input_norm must be True or False"):
        DQN("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(input_norm="yes"))


def test_training_updates_the_statistics_and_the_target_network_copies_them():
    model = DQN(
        "SpikingMlpPolicy",
        "CartPole-v1",
        learning_starts=32,
        batch_size=32,
        train_freq=4,
        target_update_interval=8,
        policy_kwargs=dict(net_arch=[16], T=2),
        seed=0,
    )
    online, target = norms(model.policy.q_net)[0], norms(model.policy.q_net_target)[0]
    model.learn(64)
    assert float(online.running_count) == 32 * 8  # one batch per gradient step: (64 - 32) / 4 steps
    observations = model.replay_buffer.observations[: model.replay_buffer.pos, 0]
    assert np.all(np.abs(online.running_mean.numpy() - observations.mean(axis=0)) < 3 * observations.std(axis=0))
    assert float(online.running_var[1]) > 0.01 and not th.allclose(online.running_var, th.ones(4))
    # The last target update (at step 64, before that step's gradient step) copied the statistics with the weights
    assert float(target.running_count) == 32 * 7
    assert not th.allclose(target.running_var, th.ones(4)) and not th.allclose(target.running_mean, online.running_mean)
    before = online.running_count.clone()
    model.predict(model.observation_space.sample(), deterministic=True)
    assert online.running_count == before  # predicting leaves the policy unchanged


def test_trpos_two_passes_read_the_same_statistics():
    # TRPO's step: the policy without gradients, then with them; their KL divergence must be 0 at the current parameters
    model = TRPO("SpikingMlpPolicy", ENVS["box"](), n_steps=64, batch_size=64, seed=0)
    policy = model.policy
    obs = th.as_tensor(np.random.default_rng(0).normal(3.0, 2.0, size=(64, *model.observation_space.shape)), dtype=th.float32)
    policy.set_training_mode(True)
    with th.no_grad():
        before = policy.get_distribution(obs).distribution.mean
    count = float(norms(policy)[0].running_count)
    after = policy.get_distribution(obs).distribution.mean
    th.testing.assert_close(after.detach(), before, rtol=0, atol=0)
    assert float(norms(policy)[0].running_count) == count + 64  # the batch still enters the statistics
    assert not any(norm.read_before_update for norm in norms(policy))


@pytest.mark.parametrize("seed", [0, 2, 7, 8])
def test_trpo_trains_a_spiking_policy_with_normalised_inputs(seed):
    # seeds on which the statistics moving between TRPO's two passes made its step size the square root of a negative
    # number (a NaN policy); the spiking value function too
    for spiking_critic in (False, True):
        kwargs = dict(spiking_critic=spiking_critic)
        TRPO("SpikingMlpPolicy", ENVS["box"](), n_steps=64, batch_size=64, seed=seed, policy_kwargs=kwargs).learn(256)
