"""A saved spiking model loads in plain SB3 / sb3-contrib code, in a new process, with the same outputs and knobs."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from envs_for_tests import ENVS
from model_outputs import model_outputs
from sb3_contrib import QRDQN
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

model = {algo}.load(sys.argv[1])
obs = np.load(sys.argv[2])
actions, _ = model.predict(obs, deterministic=True)
params = model.policy._get_constructor_parameters()
outputs = model_outputs(model, obs)
print(json.dumps(dict(actions=actions.tolist(), outputs=outputs.tolist(), knobs={{k: params[k] for k in {knobs}}})))
"""


@pytest.mark.parametrize("case", CASES)
def test_load_in_a_new_process_with_only_sb3(case, tmp_path):
    algo, module, policy, env_name, kwargs = CASES[case]
    model = algo(policy, ENVS[env_name](), policy_kwargs=dict(KNOBS), seed=0, **kwargs)
    model.learn(64)
    model.save(tmp_path / "model.zip")
    obs = np.stack([model.observation_space.sample() for _ in range(6)])
    np.save(tmp_path / "obs.npy", obs)
    expected_actions, _ = model.predict(obs, deterministic=True)

    script = textwrap.dedent(LOAD.format(module=module, algo=algo.__name__, knobs=list(KNOBS), tests_dir=str(TESTS_DIR)))
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "model.zip"), str(tmp_path / "obs.npy")],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "sb3_spiking" not in script
    assert loaded["knobs"] == KNOBS
    np.testing.assert_array_equal(np.array(loaded["actions"]), expected_actions)
    np.testing.assert_allclose(np.array(loaded["outputs"]), model_outputs(model, obs), rtol=1e-5, atol=1e-6)
