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
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.save_util import load_from_zip_file

import sb3_spiking  # noqa: F401  (the training side uses the plugin; the loading side below does not import it)
from sb3_spiking import SpikingConfig

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


SAVED_BY_0_2_0 = TESTS_DIR / "data" / "saved_0.2.0"  # see tests/data/make_saved_models.py
SAVED_CASES = {
    "ppo-mlp": (PPO, "stable_baselines3", "sb3_spiking.policies.actor_critic.SpikingActorCriticPolicy"),
    "dqn-mlp": (DQN, "stable_baselines3", "sb3_spiking.policies.dqn.SpikingDQNPolicy"),
    "qrdqn-mlp": (QRDQN, "sb3_contrib", "sb3_spiking.policies.contrib.SpikingQRDQNPolicy"),
    "sac-mlp": (SAC, "stable_baselines3", "sb3_spiking.policies.sac.SpikingSACPolicy"),
}


@pytest.mark.parametrize("case", SAVED_CASES)
def test_models_saved_by_0_2_0_still_act_the_same(case, tmp_path):
    # Saved with the package defaults of 0.2.0: a later change of the defaults must not change what they do
    algo, module, policy = SAVED_CASES[case]
    saved = np.load(SAVED_BY_0_2_0 / f"{case}.npz")
    np.save(tmp_path / "obs.npy", saved["obs"])
    loaded = load_in_plain_sb3(algo, module, SAVED_BY_0_2_0 / f"{case}.zip", tmp_path / "obs.npy", list(KNOBS))
    assert loaded["policy"] == policy
    # Machines differ around 1e-9; a changed neuron, T or readout moves these outputs by far more than 1e-5
    np.testing.assert_allclose(np.array(loaded["outputs"]), saved["outputs"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.array(loaded["actions"]), saved["actions"], rtol=0, atol=1e-5)


def test_a_saved_model_records_every_resolved_knob(tmp_path, monkeypatch):
    model = PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, policy_kwargs=dict(net_arch=[8]), seed=0)
    resolved = model.policy.resolved_knobs()
    assert set(resolved) == {*SpikingConfig.knobs(), "spiking_critic"} and resolved["neuron"] == "if"
    assert resolved["spiking_critic"] is False
    assert {k: model.policy._get_constructor_parameters()[k] for k in resolved} == resolved
    model.save(tmp_path / "model.zip")
    _, params, _ = load_from_zip_file(tmp_path / "model.zip")
    assert json.loads(bytes(params["policy"]["spiking_knobs"].tolist()).decode()) == resolved
    # Were the default to change (here: LIF for actor-critic), the saved model would be refused, with the fix
    monkeypatch.setattr(type(model.policy), "default_neuron", "lif")
    with pytest.raises(ValueError, match=r"saved with the spiking knobs \{'neuron': 'if'\}.*custom_objects"):
        PPO.load(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", custom_objects=dict(policy_kwargs=dict(net_arch=[8], neuron="if")))
    obs = np.stack([model.observation_space.sample() for _ in range(6)])
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize("algo, case", [(DQN, "dqn-mlp"), (QRDQN, "qrdqn-mlp")])
def test_the_q_networks_new_initialisation_loads_earlier_models_as_they_were_drawn(algo, case, tmp_path):
    # 0.2.0's Q-networks had their thresholds at the mean and the second layer as drawn; today's defaults spread and
    # centre them. Those knobs only set the first draw of the weights, which the saved ones replace: the model loads,
    # and its record keeps how it was drawn, through a second save
    assert algo("SpikingMlpPolicy", ENVS["discrete"]()).policy.resolved_knobs()["input_span"] == 3.0
    model = algo.load(SAVED_BY_0_2_0 / f"{case}.zip")
    drawn = {name: model.policy.resolved_knobs()[name] for name in ("input_span", "centre_second_layer")}
    assert drawn == dict(input_span=0.0, centre_second_layer=False)
    model.save(tmp_path / "again.zip")
    _, params, _ = load_from_zip_file(tmp_path / "again.zip")
    record = json.loads(bytes(params["policy"]["spiking_knobs"].tolist()).decode())
    assert (record["input_span"], record["centre_second_layer"]) == (0.0, False)
    # A state dict that fails to load (a weight of another shape) leaves the record as it was too
    fresh = algo("SpikingMlpPolicy", ENVS["discrete"](), policy_kwargs=model.policy_kwargs)
    _, saved, _ = load_from_zip_file(SAVED_BY_0_2_0 / f"{case}.zip")
    state = dict(saved["policy"])
    name = next(key for key in state if key.endswith("weight"))
    state[name] = state[name][:, :1]
    before = bytes(fresh.policy.spiking_knobs.tolist())
    with pytest.raises(RuntimeError, match="size mismatch"):
        fresh.policy.load_state_dict(state)
    assert fresh.policy.resolved_knobs()["input_span"] == 3.0 and bytes(fresh.policy.spiking_knobs.tolist()) == before
