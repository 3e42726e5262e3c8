"""The CartPole settings of the train command are rl-zoo3's tuned ones, and so are this package's yml entries."""

from pathlib import Path

import pytest
import rl_zoo3
import yaml
from stable_baselines3.common.utils import LinearSchedule

from sb3_spiking.demos.train import CARTPOLE_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
ZOO = Path(rl_zoo3.__file__).parent / "hyperparams"


def plain(settings: dict) -> dict:
    """Settings with rl-zoo3's schedule strings (``lin_0.001``) and ours (``LinearSchedule``) written alike."""
    out = {}
    for key, value in settings.items():
        if isinstance(value, LinearSchedule):
            assert value.end == 0.0 and value.end_fraction == 1.0
            value = f"lin_{value.start}"
        elif isinstance(value, str) and value.startswith("lin_"):
            value = f"lin_{float(value[4:])}"
        out[key] = value
    return out


@pytest.mark.parametrize("algo", sorted(CARTPOLE_SETTINGS))
def test_train_settings_are_rl_zoo3s_tuned_ones(algo):
    ours = plain({k: v for k, v in CARTPOLE_SETTINGS[algo].items() if k != "policy_kwargs"})
    for source in (ZOO / f"{algo}.yml", ROOT / "hyperparams" / f"{algo}.yml"):
        entry = yaml.safe_load(source.read_text().replace("!!float", ""))["CartPole-v1"]
        if source.is_relative_to(ZOO):  # rl-zoo3's network (ours only adds spiking knobs to it)
            assert eval(entry.get("policy_kwargs", "dict()")) == CARTPOLE_SETTINGS[algo]["policy_kwargs"]
        entry = plain({k: v for k, v in entry.items() if k not in ("n_timesteps", "policy", "policy_kwargs")})
        entry.setdefault("n_envs", 1)  # rl-zoo3's default
        assert {k: float(v) if isinstance(v, (int, float)) else v for k, v in entry.items()} == {
            k: float(v) if isinstance(v, (int, float)) else v for k, v in ours.items()
        }, source
