"""
What a spiking network does inside: per-layer spike statistics (:func:`spike_stats`), synaptic-operation and energy
counts (:class:`EnergyReport`), and the SB3 callback that logs both while an agent trains.
"""

from sb3_spiking.telemetry.callbacks import SpikeStatsCallback
from sb3_spiking.telemetry.energy import E_AC_PJ, E_MAC_PJ, EnergyReport, LayerOps, energy_report
from sb3_spiking.telemetry.stats import SpikeStats, random_play, spike_stats, spiking_layers, synaptic_layers

__all__ = [
    "E_AC_PJ",
    "E_MAC_PJ",
    "EnergyReport",
    "LayerOps",
    "SpikeStats",
    "SpikeStatsCallback",
    "energy_report",
    "random_play",
    "spike_stats",
    "spiking_layers",
    "synaptic_layers",
]
