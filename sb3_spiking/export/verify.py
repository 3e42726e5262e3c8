"""
Check an exported policy in closed loop: the NIR graph, run by a consumer, plays whole episodes side by side with
``model.predict(obs, deterministic=True)``.
"""

import copy
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import gymnasium as gym
import nir
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import preprocess_obs

from sb3_spiking.export.consumers import consumer_runner
from sb3_spiking.export.nir_graph import to_nir
from sb3_spiking.export.nir_sim import host_readout


@dataclass
class ExportCheck:
    """
    The result of :func:`verify_export`.

    :param consumer: The consumer that ran the graph
    :param steps: Steps of the episodes that the consumer drove
    :param agreeing: Of those, steps where its action was ``predict``'s (equal, or within ``atol`` for Box actions)
    :param returns_predict: Return of each episode driven by ``model.predict(deterministic=True)``
    :param returns_consumer: Return of each episode driven by the consumer (same reset seeds)
    :param max_abs_difference: Largest difference between the two actions over all steps (0 for discrete actions
        that agree)
    """

    consumer: str
    steps: int = 0
    agreeing: int = 0
    returns_predict: list[float] = field(default_factory=list)
    returns_consumer: list[float] = field(default_factory=list)
    max_abs_difference: float = 0.0

    @property
    def passed(self) -> bool:
        """Every step agrees and every return is the same."""
        return self.agreeing == self.steps and np.allclose(self.returns_predict, self.returns_consumer)


def graph_actions(policy: BasePolicy, graph: nir.NIRGraph, consumer: str = "nir_sim") -> Callable[[np.ndarray], np.ndarray]:
    """
    The host around a consumer: observations ``[B, *obs_shape]`` in, the actions that ``predict`` would return out.
    The host preprocesses the observation (SB3's ``preprocess_obs``), runs the graph in the consumer, reads the
    output out as ``metadata["readout"]`` asks (last step, or the maximum that NIR cannot hold) and maps it to an
    action: argmax for discrete actions, ``tanh`` and rescaling for squashed Box actions (SAC, TD3), clipping to
    the bounds otherwise.

    :param policy: The policy that the graph was exported from (for its spaces)
    :param graph: Its graph (:func:`~sb3_spiking.export.to_nir`)
    :param consumer: ``"nir_sim"``, ``"snntorch"`` or ``"sinabs"`` (:mod:`sb3_spiking.export.consumers`)
    """
    run = consumer_runner(graph, consumer)
    readout = str(graph.metadata.get("readout", "last"))
    output_scale = float(graph.metadata.get("output_scale", 1.0))
    space = policy.action_space
    if not isinstance(space, (spaces.Discrete, spaces.Box)):
        raise ValueError(f"graph_actions maps outputs to Discrete or Box actions, not {type(space).__name__}")
    if getattr(policy, "quantile_net", None) is not None:
        raise ValueError("graph_actions does not map quantile outputs (QR-DQN) to actions")

    def act(obs: np.ndarray) -> np.ndarray:
        tensor = th.as_tensor(np.asarray(obs), device=policy.device)
        x = preprocess_obs(tensor, policy.observation_space, policy.normalize_images).float().cpu()
        out = host_readout(run(x), readout) * output_scale
        if isinstance(space, spaces.Discrete):
            return out.argmax(dim=-1).numpy()
        actions = out.numpy().astype(np.float64)
        if getattr(policy, "squash_output", False):
            return space.low + 0.5 * (np.tanh(actions) + 1.0) * (space.high - space.low)
        return np.clip(actions, space.low, space.high)

    return act


def _episode(env: gym.Env, seed: int, act: Callable[[np.ndarray], np.ndarray], check=None) -> float:
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        action = act(obs[None])[0]
        if check is not None:
            check(obs, action)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        done = terminated or truncated
    return total


def verify_export(
    model: BaseAlgorithm,
    env: Union[str, gym.Env],
    consumer: str = "nir_sim",
    episodes: int = 1,
    seed: int = 0,
    atol: float = 1e-4,
    graph: Optional[nir.NIRGraph] = None,
    bits: Optional[int] = None,
) -> ExportCheck:
    """
    Play ``episodes`` whole episodes with the exported policy run by ``consumer`` and compare it with
    ``model.predict(obs, deterministic=True)``: at every step of the consumer's episode, the action that ``predict``
    takes on the same observation; and the return of an episode driven by ``predict`` from the same reset seed.

    .. code-block:: python

        check = verify_export(model, "CartPole-v1", consumer="sinabs", episodes=3)
        assert check.passed, check

    :param model: A trained (or initialised) spiking model
    :param env: The environment (or its id) of single, unnormalised observations
    :param consumer: ``"nir_sim"``, ``"snntorch"`` or ``"sinabs"`` (:mod:`sb3_spiking.export.consumers` says how
        each reads the graph and which nodes it cannot run)
    :param episodes: Number of episodes, reset with seeds ``seed, seed + 1, ...``
    :param seed: First reset seed
    :param atol: Largest difference between two Box actions that still counts as the same action
    :param graph: The graph to check; default ``to_nir(model.policy, bits=bits)``
    :param bits: Check the ``bits``-bit integer graph (:func:`~sb3_spiking.export.quantize.quantize_graph`) against
        the predictions of the ``bits``-bit policy (:func:`~sb3_spiking.export.quantize.quantize_policy`);
        ``None``: float weights
    :return: The per-step agreement and both returns
    """
    env = gym.make(env) if isinstance(env, str) else env
    original = model.policy
    model.policy.set_training_mode(False)
    if bits is not None:
        from sb3_spiking.export.quantize import quantize_policy

        model = copy.copy(model)  # the same algorithm object around the quantised policy, for its predict
        model.policy = quantize_policy(model.policy, bits)
    policy = model.policy
    graph = to_nir(original, bits=bits) if graph is None else graph
    act = graph_actions(policy, graph, consumer)
    result = ExportCheck(consumer=consumer)

    def check(obs: np.ndarray, action: np.ndarray) -> None:
        expected, _ = model.predict(obs, deterministic=True)
        difference = float(np.max(np.abs(np.asarray(expected, dtype=np.float64) - action)))
        result.steps += 1
        result.agreeing += int(difference <= atol)
        result.max_abs_difference = max(result.max_abs_difference, difference)

    for episode in range(episodes):
        result.returns_consumer.append(_episode(env, seed + episode, act, check))
        result.returns_predict.append(_episode(env, seed + episode, lambda obs: model.predict(obs, deterministic=True)[0]))
    return result
