"""A saved spiking model loads in plain SB3 / sb3-contrib code, in a new process, with the same outputs and knobs."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from envs_for_tests import ENVS
from model_outputs import model_outputs
from sb3_contrib import QRDQN
from spikingjelly.activation_based.neuron import BaseNode
from stable_baselines3 import DQN, PPO

import sb3_spiking  # noqa: F401  (the training side uses the plugin; the loading side below does not import it)

KNOBS = dict(
    T=5, neuron="plif", tau=3.0, surrogate="sigmoid", v_threshold=0.8, detach_reset=False, decoder="mean-mem", decoder_tau=1.5
)

TESTS_DIR = Path(__file__).parent

CASES = {
    "dqn-mlp": (DQN, "stable_baselines3", "SpikingMlpPolicy", "discrete", dict(buffer_size=200, learning_starts=20)),
    "dqn-cnn": (DQN, "stable_baselines3", "SpikingCnnPolicy", "image-discrete", dict(buffer_size=200, learning_starts=20)),
    "ppo-box": (PPO, "stable_baselines3", "SpikingMlpPolicy", "box", dict(n_steps=32, batch_size=32)),
    "qrdqn": (QRDQN, "sb3_contrib", "SpikingMlpPolicy", "discrete", dict(buffer_size=200, learning_starts=20)),
}

LOAD = """
import json, sys
import numpy as np
from {module} import {algo}

sys.path.insert(0, {tests_dir!r})
from model_outputs import model_outputs  # torch only

imported_before = "sb3_spiking" in sys.modules
model = {algo}.load(sys.argv[1])
obs = np.load(sys.argv[2])
actions, _ = model.predict(obs, deterministic=True)
params = model.policy._get_constructor_parameters()
outputs = model_outputs(model, obs)
knobs = {{k: params[k] for k in {knobs}}}
policy = type(model.policy).__module__ + "." + type(model.policy).__name__
print(json.dumps(dict(actions=actions.tolist(), outputs=outputs.tolist(), knobs=knobs, policy=policy, before=imported_before)))
"""

# The loading process has the autoload off: only unpickling the model may bring the plugin in
PLAIN_SB3 = dict(os.environ, SB3_SPIKING_AUTOLOAD="0")


def load_in_plain_sb3(algo: type, module: str, model_path: Path, obs_path: Path, knobs: list) -> dict:
    script = textwrap.dedent(LOAD.format(module=module, algo=algo.__name__, knobs=knobs, tests_dir=str(TESTS_DIR)))
    out = subprocess.run(
        [sys.executable, "-c", script, str(model_path), str(obs_path)],
        capture_output=True,
        text=True,
        check=True,
        env=PLAIN_SB3,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["before"] is False, "sb3_spiking was imported before the model was loaded"
    return loaded


@pytest.mark.parametrize("case", CASES)
def test_load_in_a_new_process_with_only_sb3(case, tmp_path):
    algo, module, policy, env_name, kwargs = CASES[case]
    model = algo(policy, ENVS[env_name](), policy_kwargs=dict(KNOBS), seed=0, **kwargs)
    model.learn(64)
    model.save(tmp_path / "model.zip")
    obs = np.stack([model.observation_space.sample() for _ in range(6)])
    np.save(tmp_path / "obs.npy", obs)
    expected_actions, _ = model.predict(obs, deterministic=True)

    loaded = load_in_plain_sb3(algo, module, tmp_path / "model.zip", tmp_path / "obs.npy", list(KNOBS))
    assert loaded["knobs"] == KNOBS
    assert loaded["policy"] == f"{type(model.policy).__module__}.{type(model.policy).__name__}"
    np.testing.assert_array_equal(np.array(loaded["actions"]), expected_actions)
    np.testing.assert_allclose(np.array(loaded["outputs"]), model_outputs(model, obs), rtol=1e-5, atol=1e-6)


SAVED_BEFORE_THE_MOVE = TESTS_DIR / "data" / "saved_0.1.0"  # see tests/data/make_saved_models.py
OLD_CASES = {
    "dqn-cnn": (DQN, "stable_baselines3", "sb3_spiking.policies.dqn.SpikingCnnDQNPolicy"),
    "ppo-mlp": (PPO, "stable_baselines3", "sb3_spiking.policies.actor_critic.SpikingActorCriticPolicy"),
    "qrdqn-mlp": (QRDQN, "sb3_contrib", "sb3_spiking.policies.contrib.SpikingQRDQNPolicy"),
}


@pytest.mark.parametrize("case", OLD_CASES)
def test_models_saved_by_the_flat_layout_still_load(case, tmp_path):
    # Pickled with the old module paths (sb3_spiking.policies, sb3_spiking.contrib_policies, sb3_spiking.torch_layers)
    algo, module, policy = OLD_CASES[case]
    saved = np.load(SAVED_BEFORE_THE_MOVE / f"{case}.npz")
    np.save(tmp_path / "obs.npy", saved["obs"])
    knobs = [name for name in KNOBS if name != "decoder"]
    loaded = load_in_plain_sb3(algo, module, SAVED_BEFORE_THE_MOVE / f"{case}.zip", tmp_path / "obs.npy", knobs)
    assert loaded["policy"] == policy
    assert loaded["knobs"] == {name: KNOBS[name] for name in knobs}
    np.testing.assert_array_equal(np.array(loaded["actions"]), saved["actions"])
    np.testing.assert_allclose(np.array(loaded["outputs"]), saved["outputs"], rtol=1e-5, atol=1e-6)


def test_each_save_keeps_the_defaults_it_was_trained_with(tmp_path):
    # Saved with today's defaults (IF for actor-critic): loads with them
    model = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=32, policy_kwargs=dict(net_arch=[8]), seed=0)
    assert model.policy.spiking.neuron == "if" and int(model.policy.spiking_defaults) == 2
    model.save(tmp_path / "today.zip")
    assert PPO.load(tmp_path / "today.zip").policy.spiking.neuron == "if"
    # A state dict of the first defaults (no version in it): its neurons were LIF unless the user chose
    state = {k: v for k, v in model.policy.state_dict().items() if k != "spiking_defaults"}
    fresh = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=32, policy_kwargs=dict(net_arch=[8]), seed=0)
    fresh.policy.load_state_dict(state)
    neurons = {type(m).__name__ for m in fresh.policy.modules() if isinstance(m, BaseNode)}
    assert fresh.policy.spiking.neuron == "lif" and neurons == {"LIFNode"}
    assert int(fresh.policy.spiking_defaults) == 1  # and a later save keeps saying so
    chosen = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=32, policy_kwargs=dict(net_arch=[8], neuron="if"), seed=0)
    chosen.policy.load_state_dict(state)
    assert chosen.policy.spiking.neuron == "if"
