"""
Writes ``tests/data/saved_<version>/``: small spiking models saved by this version of sb3-spiking with the package
defaults, the observations they were given, and the actions and outputs they returned. ``tests/test_save_load.py``
loads each and checks that it still acts the same, so that a later change of the package (its defaults included)
cannot change what a saved model of a released version does.

    python tests/data/make_saved_models.py      # at a release: writes tests/data/saved_<its version>/
"""

import sys
from pathlib import Path

import numpy as np
from sb3_contrib import QRDQN
from stable_baselines3 import DQN, PPO, SAC

import sb3_spiking

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from envs_for_tests import ENVS
from model_outputs import model_outputs

# Tiny networks and buffers; every spiking knob at the package's default
SMALL = dict(buffer_size=200, learning_starts=20)
CASES = {
    "ppo-mlp": (PPO, "box", dict(n_steps=32, batch_size=32, policy_kwargs=dict(net_arch=[16]))),
    "dqn-mlp": (DQN, "discrete", dict(SMALL, policy_kwargs=dict(net_arch=[16]))),
    "qrdqn-mlp": (QRDQN, "discrete", dict(SMALL, policy_kwargs=dict(net_arch=[16], n_quantiles=5))),
    "sac-mlp": (SAC, "box", dict(SMALL, policy_kwargs=dict(net_arch=[16]))),
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, (algo, env_name, kwargs) in CASES.items():
        model = algo("SpikingMlpPolicy", ENVS[env_name](), seed=0, **kwargs)
        model.learn(64)
        model.save(out / f"{name}.zip")
        obs = np.stack([model.observation_space.sample() for _ in range(8)])
        actions, _ = model.predict(obs, deterministic=True)
        np.savez(out / f"{name}.npz", obs=obs, actions=actions, outputs=model_outputs(model, obs))
        print(out / f"{name}.zip", type(model.policy).__name__)


if __name__ == "__main__":
    main(Path(__file__).resolve().parent / f"saved_{sb3_spiking.__version__}")
