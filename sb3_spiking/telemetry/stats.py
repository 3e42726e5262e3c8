"""
Spike statistics of a spiking network, collected only when asked.

::

    from sb3_spiking.telemetry.stats import spike_stats

    with spike_stats(model.policy) as stats:
        model.predict(observations, deterministic=True)
    print(stats.table())
    print(stats.energy().table())

Inside the ``with`` block, forward hooks on every spiking neuron layer and every synaptic layer record the spikes
and operation counts of each forward pass; on exit the hooks are removed, so outside the block a forward pass is
exactly what it was before (``lab/spike_stats_overhead.py`` measures it).

Per spiking layer, over all observations seen (each simulated for ``T`` steps):

- ``rate``: mean firing rate, spikes per neuron per step (0 to 1);
- ``silent``: fraction of neurons that never fired, for any observation at any step (dead neurons);
- ``saturated``: fraction of neurons that fired at every step for every observation.

A neuron is one element of the layer's per-step output (one unit of a linear layer; one channel at one position
of a convolution).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional

import gymnasium as gym
import numpy as np
import torch as th
from spikingjelly.activation_based.neuron import BaseNode
from torch import nn

from sb3_spiking.telemetry.energy import E_AC_PJ, E_MAC_PJ, SYNAPTIC_LAYERS, EnergyReport, LayerOps, energy_report


def spiking_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """
    The spiking neuron layers of a network (instances of SpikingJelly's ``BaseNode``), with their names.

    :param module: A network or a policy
    """
    return [(name, sub) for name, sub in module.named_modules() if isinstance(sub, BaseNode)]


def synaptic_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """
    The synaptic layers of a network (``Linear``, ``Conv1d``, ``Conv2d``, SpikingJelly's included), with their names.

    :param module: A network or a policy
    """
    return [(name, sub) for name, sub in module.named_modules() if isinstance(sub, SYNAPTIC_LAYERS)]


class LayerSpikes:
    """
    Spike counts of one spiking layer, summed over the observations it saw.

    :param name: Module name
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.n_obs = 0
        self.T = 0
        self.counts: Optional[th.Tensor] = None  # spikes per neuron, summed over steps and observations

    def add(self, spikes: th.Tensor, multi_step: bool = True) -> None:
        """
        Count the output of one call.

        :param spikes: ``[T, B, ...]`` (multi-step) or ``[B, ...]`` (single step)
        :param multi_step: Whether the first dimension is time
        """
        spikes = spikes.detach()
        if not multi_step:
            spikes = spikes.unsqueeze(0)
        if self.T and spikes.shape[0] != self.T:
            raise ValueError(f"Layer {self.name} ran with T={spikes.shape[0]} after T={self.T}: collect them separately")
        self.T = spikes.shape[0]
        self.n_obs += spikes.shape[1]
        counts = spikes.flatten(2).sum(dim=(0, 1), dtype=th.float64)
        self.counts = counts if self.counts is None else self.counts + counts

    @property
    def n_neurons(self) -> int:
        """Number of neurons of the layer."""
        return 0 if self.counts is None else self.counts.numel()

    @property
    def n_spikes(self) -> float:
        """Total number of spikes."""
        return 0.0 if self.counts is None else float(self.counts.sum())

    @property
    def rate(self) -> float:
        """Mean firing rate: spikes per neuron per step."""
        return self.n_spikes / (self.n_neurons * self.n_obs * self.T) if self.n_obs else float("nan")

    @property
    def silent(self) -> float:
        """Fraction of neurons that never fired."""
        return float((self.counts == 0).double().mean()) if self.counts is not None else float("nan")

    @property
    def saturated(self) -> float:
        """Fraction of neurons that fired at every step for every observation."""
        if self.counts is None:
            return float("nan")
        return float((self.counts == self.n_obs * self.T).double().mean())


@dataclass
class SpikeStats:
    """
    What :func:`spike_stats` collected: spike counts per spiking layer and operation counts per synaptic layer,
    for the layers that ran (in the order they first ran).
    """

    layers: dict[str, LayerSpikes]
    synapses: dict[str, LayerOps]

    def energy(self, e_mac_pj: float = E_MAC_PJ, e_ac_pj: float = E_AC_PJ) -> EnergyReport:
        """
        Synaptic operations and energy per observation, per layer and in total (see :mod:`sb3_spiking.telemetry.energy`).

        :param e_mac_pj: Energy of a multiply-accumulate in pJ
        :param e_ac_pj: Energy of an accumulate in pJ
        """
        return energy_report(list(self.synapses.values()), e_mac_pj, e_ac_pj)

    def scalars(self, e_mac_pj: float = E_MAC_PJ, e_ac_pj: float = E_AC_PJ) -> dict[str, float]:
        """
        Everything as flat, namespaced scalars (the keys that :class:`~sb3_spiking.SpikeStatsCallback` logs):
        ``spikes/rate/<layer>``, ``spikes/silent/<layer>``, ``spikes/saturated/<layer>``, ``energy/sop``,
        ``energy/mac``, ``energy/ann_mac`` (per observation), ``energy/snn_nj``, ``energy/ann_nj`` and
        ``energy/ratio_vs_ann`` (SNN / ANN energy).
        """
        values: dict[str, float] = {}
        for name, layer in self.layers.items():
            values[f"spikes/rate/{name}"] = layer.rate
            values[f"spikes/silent/{name}"] = layer.silent
            values[f"spikes/saturated/{name}"] = layer.saturated
        report = self.energy(e_mac_pj, e_ac_pj)
        values.update(
            {
                "energy/sop": report.sop,
                "energy/mac": report.mac,
                "energy/ann_mac": report.ann_mac,
                "energy/snn_nj": report.snn_energy_pj / 1e3,
                "energy/ann_nj": report.ann_energy_pj / 1e3,
                "energy/ratio_vs_ann": report.ratio_vs_ann,
            }
        )
        return values

    def table(self) -> str:
        """A Markdown table of the spike statistics per layer."""
        rows = ["| layer | neurons | T | observations | rate | silent | saturated |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, s in self.layers.items():
            rows.append(f"| {name} | {s.n_neurons} | {s.T} | {s.n_obs} | {s.rate:.3f} | {s.silent:.3f} | {s.saturated:.3f} |")
        return "\n".join(rows)


@contextmanager
def spike_stats(module: nn.Module) -> Iterator[SpikeStats]:
    """
    Collect spike statistics and operation counts of every forward pass run inside the ``with`` block.

    :param module: A spiking policy (``model.policy``) or any network with SpikingJelly neurons
    :return: The :class:`SpikeStats`, filled as forward passes run
    """
    neurons = spiking_layers(module)
    if not neurons:
        raise ValueError(
            f"{type(module).__name__} has no spiking neuron layer (SpikingJelly BaseNode): "
            "pass a spiking policy (e.g. model.policy of DQN('SpikingMlpPolicy', ...))."
        )
    stats = SpikeStats({}, {})
    handles = []

    def neuron_hook(name: str) -> Any:
        def hook(layer: nn.Module, inputs: Any, output: th.Tensor) -> None:
            if name not in stats.layers:
                stats.layers[name] = LayerSpikes(name)
            stats.layers[name].add(output, getattr(layer, "step_mode", "m") == "m")

        return hook

    def synapse_hook(name: str) -> Any:
        def hook(layer: nn.Module, inputs: tuple[th.Tensor, ...], output: th.Tensor) -> None:
            if name not in stats.synapses:
                stats.synapses[name] = LayerOps(name)
            with th.no_grad():
                stats.synapses[name].add(layer, inputs[0].detach(), output.detach())

        return hook

    try:
        for name, layer in neurons:
            handles.append(layer.register_forward_hook(neuron_hook(name)))
        for name, layer in synaptic_layers(module):
            handles.append(layer.register_forward_hook(synapse_hook(name)))
        yield stats
    finally:
        for handle in handles:
            handle.remove()


def random_play(env_id: str, n: int, seed: int = 0) -> np.ndarray:
    """
    Observations that uniformly random actions meet, the inputs on which to measure a network at initialisation
    (episodes reset as they end; the first observation of each episode included).

    :param env_id: A gymnasium environment id
    :param n: Number of observations
    :param seed: Seed of the environment and of its action space
    :return: ``[n, *obs_shape]``, in the observation space's dtype
    """
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    found = []
    while len(found) < n:
        found.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.stack(found)
