"""The off-policy policies' ANN critics read the observations as the spiking actor does (standardised where it
standardises them), and models saved when they read them raw load as they were."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from envs_for_tests import ENVS
from gymnasium import spaces
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.envs import SimpleMultiObsEnv
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor, NatureCNN

import sb3_spiking  # noqa: F401  (the Spiking*Policy names)
from sb3_spiking.snn import RunningNorm, StandardisedExtractor

TINY = dict(buffer_size=200, learning_starts=20, batch_size=16, seed=0)
SAVED_SAC = Path(__file__).parent / "data" / "saved_0.2.0" / "sac-mlp.zip"  # critics on the raw observations


def standardise(norm: RunningNorm, obs: th.Tensor) -> th.Tensor:
    return (obs - norm.running_mean) / th.sqrt(norm.running_var + norm.eps)


def critics(model):
    return [model.policy.critic, model.policy.critic_target]


@pytest.mark.parametrize("algo", [SAC, TD3, DDPG, TQC])
def test_the_critics_read_standardised_observations(algo):
    model = algo("SpikingMlpPolicy", ENVS["box"](), **TINY)
    for critic in critics(model):
        assert isinstance(critic.features_extractor, StandardisedExtractor)
        assert type(critic.features_extractor.extractor) is FlattenExtractor
    model.learn(60)
    norm = model.policy.critic.features_extractor.norm
    assert float(norm.running_count) >= 16 * 40  # every critic loss (40 gradient steps) merged its batch
    obs = th.as_tensor(model.replay_buffer.observations[:40, 0])
    # the statistics are those of the replay batches (IdentityEnvBox: uniform on [-1, 1], std 0.58)
    assert float(norm.running_var) == pytest.approx(1 / 3, rel=0.3)
    assert float(standardise(norm, obs).std()) == pytest.approx(1.0, abs=0.3)
    # the target critics get the statistics with the weights
    target = model.policy.critic_target.features_extractor.norm
    for name in ("running_mean", "running_var", "running_count"):
        th.testing.assert_close(getattr(target, name), getattr(norm, name), rtol=0, atol=0)
    # a Q-value is the ANN head's on the standardised observation; the target critics (always in evaluation mode, as
    # SB3 keeps them) only read the statistics
    actions = th.as_tensor(model.replay_buffer.actions[:40, 0])
    critic = model.policy.critic
    critic.set_training_mode(False)
    with th.no_grad():
        expected = critic.q_networks[0](th.cat([standardise(norm, obs), actions], dim=1))
        values = critic(obs, actions)  # one tensor per critic; TQC's: [B, critics, quantiles]
        th.testing.assert_close(values[:, 0] if isinstance(values, th.Tensor) else values[0], expected)
        model.policy.critic_target(obs, actions)
    assert not model.policy.critic_target.training
    assert float(norm.running_count) == float(target.running_count)


def test_the_critics_clip_as_the_actor_does():
    policy = SAC("SpikingMlpPolicy", ENVS["box"](), policy_kwargs=dict(input_clip=2.0)).policy
    assert policy.critic.features_extractor.norm.clip == policy.critic_target.features_extractor.norm.clip == 2.0
    obs = th.full((3, 1), 1e3)
    policy.critic.features_extractor.norm.running_var.fill_(1.0)
    assert th.all(policy.critic.features_extractor(obs) == 2.0)


def test_the_critics_read_raw_observations_where_the_actor_does():
    box = ENVS["box"]
    cases = {
        "input_norm=False": SAC("SpikingMlpPolicy", box(), policy_kwargs=dict(input_norm=False)),
        "shared extractor": SAC("SpikingMlpPolicy", box(), policy_kwargs=dict(share_features_extractor=True)),
        "spiking critics": SAC("SpikingMlpPolicy", box(), policy_kwargs=dict(spiking_critic=True)),
        "CrossQ": CrossQ("SpikingMlpPolicy", box()),
    }
    for case, model in cases.items():
        for critic in [model.policy.critic, getattr(model.policy, "critic_target", model.policy.critic)]:
            assert not isinstance(critic.features_extractor, StandardisedExtractor), case
    # images: the actor's first spiking layer reads spikes, the critics SB3's NatureCNN
    image = TD3("SpikingCnnPolicy", ENVS["image-box"](), buffer_size=10)
    assert type(image.policy.critic.features_extractor) is NatureCNN
    # Dict observations: with an image the actor reads spikes, and the critics the raw observations; of vectors only,
    # the actor standardises them, and so do the critics
    with_image = SAC("SpikingMultiInputPolicy", SimpleMultiObsEnv(discrete_actions=False), buffer_size=10)
    assert type(with_image.policy.critic.features_extractor) is CombinedExtractor
    vectors = SAC("SpikingMultiInputPolicy", VectorDictEnv(), buffer_size=10)
    extractor = vectors.policy.critic.features_extractor
    assert isinstance(extractor, StandardisedExtractor) and type(extractor.extractor) is CombinedExtractor
    assert extractor.norm.num_features == 5


class VectorDictEnv(gym.Env):
    """Dict observations without images (two vectors), continuous actions."""

    observation_space = spaces.Dict({"a": spaces.Box(-1, 1, (2,)), "b": spaces.Box(-5, 5, (3,))})
    action_space = spaces.Box(-1, 1, (2,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def raw_critics(model):
    """The critics as they were before they standardised the observations: SB3's FlattenExtractor."""
    for critic in critics(model):
        critic.features_extractor = critic.features_extractor.extractor
    return model


def test_a_model_whose_critics_read_raw_observations_loads_as_it_was(tmp_path):
    model = raw_critics(TD3("SpikingMlpPolicy", ENVS["box"](), **TINY)).learn(40)
    model.save(tmp_path / "raw.zip")
    _, params, _ = load_from_zip_file(tmp_path / "raw.zip")
    assert not any(key.startswith("critic.features_extractor") for key in params["policy"])
    loaded = TD3.load(tmp_path / "raw.zip", env=ENVS["box"]())
    assert all(type(critic.features_extractor) is FlattenExtractor for critic in critics(loaded))
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(4)]))
    actions = th.as_tensor(np.stack([model.action_space.sample() for _ in range(4)]))
    with th.no_grad():
        for got, want in zip(critics(loaded), critics(model)):
            th.testing.assert_close(got(obs, actions)[0], want(obs, actions)[0])
    in_optimizer = [p for group in loaded.policy.critic.optimizer.param_groups for p in group["params"]]
    assert [id(p) for p in in_optimizer] == [id(p) for p in loaded.policy.critic.parameters()]
    loaded.learn(40)
    loaded.save(tmp_path / "again.zip")
    assert type(TD3.load(tmp_path / "again.zip").policy.critic.features_extractor) is FlattenExtractor
    # a state dict that does not fit leaves the standardised critics as they were
    fresh = TD3("SpikingMlpPolicy", ENVS["box"](), seed=0)
    before = [critic.features_extractor for critic in critics(fresh)]
    state = dict(params["policy"])
    key = "critic.qf0.0.weight"
    state[key] = state[key][:1]
    with pytest.raises(RuntimeError, match="size mismatch"):
        fresh.policy.load_state_dict(state)
    assert [critic.features_extractor for critic in critics(fresh)] == before
    assert all(isinstance(extractor, StandardisedExtractor) for extractor in before)
    # the models saved by 0.2.0 load into critics on the raw observations
    sac = SAC.load(SAVED_SAC)
    assert all(type(critic.features_extractor) is FlattenExtractor for critic in critics(sac))
