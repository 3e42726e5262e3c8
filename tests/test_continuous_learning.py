"""A spiking SAC actor learns Pendulum-v1 within the budget that rl-zoo3 tuned for the ANN (slow: minutes)."""

from pathlib import Path

import numpy as np
import pytest
import rl_zoo3
import yaml
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env

import sb3_spiking  # noqa: F401

TARGET = -200.0


@pytest.mark.slow
def test_spiking_sac_reaches_minus_200_on_pendulum_within_the_ann_budget(tmp_path):
    with open(Path(rl_zoo3.__file__).parent / "hyperparams" / "sac.yml") as file:
        tuned = yaml.safe_load(file)["Pendulum-v1"]
    assert tuned["policy"] == "MlpPolicy"  # the entry tuned for the ANN, used unchanged but for the policy
    budget = int(tuned["n_timesteps"])
    model = SAC("SpikingMlpPolicy", make_vec_env("Pendulum-v1", seed=0), learning_rate=float(tuned["learning_rate"]), seed=0)
    assert model.policy.actor.spiking.neuron == "lif" and model.policy.actor.spiking.input_norm  # the package defaults
    callback = EvalCallback(
        make_vec_env("Pendulum-v1", seed=1000),
        callback_on_new_best=StopTrainingOnRewardThreshold(TARGET),
        n_eval_episodes=10,
        eval_freq=1000,
        log_path=str(tmp_path),
    )
    model.learn(budget, callback=callback)
    returns = np.mean(callback.evaluations_results, axis=1)
    assert returns.max() >= TARGET, dict(zip(callback.evaluations_timesteps, returns.round()))
    assert callback.evaluations_timesteps[-1] <= budget
