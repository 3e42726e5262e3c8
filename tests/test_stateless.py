"""Every forward pass starts from rest and leaves nothing behind: to SB3 the network is a plain function."""

import numpy as np
import pytest
import torch as th
from envs_for_tests import ENVS
from stable_baselines3 import DQN, PPO


def spiking_models():
    yield "dqn-mlp", DQN("SpikingMlpPolicy", ENVS["discrete"](), buffer_size=100, policy_kwargs=dict(T=4))
    yield "dqn-cnn", DQN("SpikingCnnPolicy", ENVS["image-discrete"](), buffer_size=100, policy_kwargs=dict(T=4))
    yield "ppo-box-plif", PPO("SpikingMlpPolicy", ENVS["box"](), policy_kwargs=dict(T=4, neuron="plif", decoder="max-abs-mem"))
    yield "ppo-dict", PPO("SpikingMultiInputPolicy", ENVS["dict"](), policy_kwargs=dict(T=3))


MODELS = dict(spiking_models())


def outputs(model, obs):
    """
    The real-valued outputs of the policy: Q-values, or distribution parameters and values, in evaluation mode (as
    SB3 acts; in training mode the observation normalisation also learns its statistics from the batch).
    """
    policy = model.policy
    policy.set_training_mode(False)
    obs_tensor, _ = policy.obs_to_tensor(obs)
    with th.no_grad():
        if isinstance(model, DQN):
            return policy.q_net(obs_tensor)
        distribution = policy.get_distribution(obs_tensor).distribution
        parameters = distribution.logits if hasattr(distribution, "logits") else distribution.mean
        return th.cat([parameters.flatten(1), policy.predict_values(obs_tensor)], dim=1)


def batch_of(model, n):
    space = model.observation_space
    samples = [space.sample() for _ in range(n)]
    if isinstance(samples[0], dict):
        return {key: np.stack([s[key] for s in samples]) for key in samples[0]}
    return np.stack(samples)


def one(obs, i):
    return {key: value[i : i + 1] for key, value in obs.items()} if isinstance(obs, dict) else obs[i : i + 1]


@pytest.mark.parametrize("name", MODELS)
def test_repeated_calls_are_identical(name):
    model = MODELS[name]
    obs = batch_of(model, 6)
    th.testing.assert_close(outputs(model, obs), outputs(model, obs), rtol=0, atol=0)


@pytest.mark.parametrize("name", MODELS)
def test_batch_composition_does_not_change_a_sample(name):
    model = MODELS[name]
    obs = batch_of(model, 6)
    together = outputs(model, obs)
    alone = th.cat([outputs(model, one(obs, i)) for i in range(6)])
    th.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def leftover_tensors(module: th.nn.Module):
    """Tensors held by modules outside their parameters and buffers (SpikingJelly keeps membranes in ``_memories``)."""
    found = []
    for sub in module.modules():
        for name, value in vars(sub).items():
            values = (
                value.values() if isinstance(value, dict) and name not in ("_parameters", "_buffers", "_modules") else [value]
            )
            found += [
                (type(sub).__name__, name, v)
                for v in values
                if isinstance(v, th.Tensor) and not isinstance(v, th.nn.Parameter)
            ]
    return found


@pytest.mark.parametrize("name", MODELS)
def test_nothing_of_a_call_survives_in_the_modules(name):
    model = MODELS[name]
    before = {id(t) for _, _, t in leftover_tensors(model.policy)}
    obs = batch_of(model, 7)
    obs_tensor, _ = model.policy.obs_to_tensor(obs)
    if isinstance(model, DQN):
        model.policy.q_net(obs_tensor).sum().backward()
    else:
        _, values, log_prob = model.policy(obs_tensor)
        (values.sum() + log_prob.sum()).backward()
    after = [(owner, name, t) for owner, name, t in leftover_tensors(model.policy) if id(t) not in before]
    assert after == [], [(owner, name, tuple(t.shape)) for owner, name, t in after]
    # And a call of another batch size right after works and matches a fresh computation
    th.testing.assert_close(outputs(model, one(obs, 0)), outputs(model, obs)[:1], rtol=1e-5, atol=1e-5)
