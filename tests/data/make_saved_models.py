"""
Writes the saved models of ``tests/data/saved_0.1.0/``: small spiking models saved by sb3-spiking 0.1.0 (the flat
layout, commit e915ee7), with observations and the outputs and actions they gave, so that ``test_save_load.py``
checks that models saved before the package was reorganised still load with the same behaviour.

Run from a checkout of that commit: ``python tests/data/make_saved_models.py OUT_DIR``.
"""

import sys
from pathlib import Path

import numpy as np
from sb3_contrib import QRDQN
from stable_baselines3 import DQN, PPO

import sb3_spiking  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from envs_for_tests import ENVS
from model_outputs import model_outputs

KNOBS = dict(T=5, neuron="plif", tau=3.0, surrogate="sigmoid", v_threshold=0.8, detach_reset=False, decoder_tau=1.5)
CASES = {
    "dqn-cnn": (DQN, "SpikingCnnPolicy", "image-discrete", dict(buffer_size=200, learning_starts=20)),
    "ppo-mlp": (PPO, "SpikingMlpPolicy", "box", dict(n_steps=32, batch_size=32)),
    "qrdqn-mlp": (QRDQN, "SpikingMlpPolicy", "discrete", dict(buffer_size=200, learning_starts=20)),
}

if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, (algo, policy, env_name, kwargs) in CASES.items():
        model = algo(policy, ENVS[env_name](), policy_kwargs=dict(KNOBS), seed=0, **kwargs)
        model.learn(64)
        model.save(out / f"{name}.zip")
        obs = np.stack([model.observation_space.sample() for _ in range(4)])
        actions, _ = model.predict(obs, deterministic=True)
        np.savez(out / f"{name}.npz", obs=obs, actions=actions, outputs=model_outputs(model, obs))
        print(name, type(model.policy).__module__, type(model.policy).__name__)
