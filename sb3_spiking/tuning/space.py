"""
The search space of a tuning run: the spiking knobs (:class:`SpikingSearchSpace`, :func:`sample_spiking_params`),
shared by the standalone tuner and the rl-zoo3 glue, and the few algorithm hyperparameters that the standalone
tuner samples next to them (:data:`ALGO_SAMPLERS`).
"""

from dataclasses import dataclass
from typing import Any, Callable, Optional

import optuna

from sb3_spiking.snn import DECODERS, NEURONS
from sb3_spiking.snn.config import choice

# The spiking knobs that a trial samples; also the names of their Optuna parameters and policy kwargs
SPIKING_PARAMS = ("T", "tau", "decoder", "neuron")


@dataclass(frozen=True)
class SpikingSearchSpace:
    """
    Where a trial samples the spiking knobs.

    :param T: Choices for the number of simulation steps
    :param tau: ``(low, high)`` of the membrane time constant, sampled log-uniformly (low > 1)
    :param decoders: Choices for the readout, a subset of :data:`~sb3_spiking.snn.config.DECODERS`
    :param neurons: Choices for the hidden neuron model, a subset of ``"if"``, ``"lif"``, ``"plif"``
    """

    T: tuple[int, ...] = (4, 8, 16)
    tau: tuple[float, float] = (1.5, 8.0)
    decoders: tuple[str, ...] = DECODERS
    neurons: tuple[str, ...] = tuple(NEURONS)

    def __post_init__(self) -> None:
        if not self.T or any(isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in self.T):
            raise ValueError(f"T must be a non-empty tuple of integers >= 1, got {self.T!r}")
        low, high = self.tau
        if not 1.0 < low <= high:
            raise ValueError(f"tau must be (low, high) with 1 < low <= high, got {self.tau!r}")
        for kind, values, valid in (("decoder", self.decoders, DECODERS), ("neuron", self.neurons, tuple(NEURONS))):
            if not values:
                raise ValueError(f"{kind}s must be a non-empty tuple, a subset of {', '.join(map(repr, valid))}")
            for value in values:
                choice(kind, value, valid)


def sample_spiking_params(trial: optuna.Trial, space: Optional[SpikingSearchSpace] = None) -> dict[str, Any]:
    """
    Sample the spiking knobs of a trial.

    :param trial: The Optuna trial
    :param space: Where to sample (default: ``SpikingSearchSpace()``, see :class:`SpikingSearchSpace`)
    :return: ``T``, ``tau``, ``decoder`` and ``neuron``, as policy kwargs
    """
    space = SpikingSearchSpace() if space is None else space
    return {
        "T": trial.suggest_categorical("T", list(space.T)),
        "tau": trial.suggest_float("tau", space.tau[0], space.tau[1], log=True),
        "decoder": trial.suggest_categorical("decoder", list(space.decoders)),
        "neuron": trial.suggest_categorical("neuron", list(space.neurons)),
    }


def _sample_on_policy(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        "gamma": 1.0 - trial.suggest_float("one_minus_gamma", 1e-3, 5e-2, log=True),
    }


def _sample_ppo(trial: optuna.Trial) -> dict[str, Any]:
    return {**_sample_on_policy(trial), "n_epochs": trial.suggest_categorical("n_epochs", [5, 10, 20])}


def _sample_off_policy(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        "gamma": 1.0 - trial.suggest_float("one_minus_gamma", 1e-3, 5e-2, log=True),
        "exploration_fraction": trial.suggest_float("exploration_fraction", 0.05, 0.3),
        "target_update_interval": trial.suggest_categorical("target_update_interval", [10, 100, 1000]),
    }


# Algorithm hyperparameters sampled next to the spiking knobs: few, with ranges that suit short trials
ALGO_SAMPLERS: dict[str, Callable[[optuna.Trial], dict[str, Any]]] = {
    "a2c": _sample_on_policy,
    "ppo": _sample_ppo,
    "trpo": _sample_on_policy,
    "dqn": _sample_off_policy,
    "qrdqn": _sample_off_policy,
}
