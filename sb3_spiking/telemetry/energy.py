"""
Synaptic operations and an energy estimate of a spiking network, against the ANN of the same architecture.

Counting rules, per synaptic layer (``Linear``, ``Conv1d``, ``Conv2d``) and per observation:

- **ANN MACs**: what the same layer costs in an ordinary network that sees the observation once:
  ``in_features * out_features`` for a linear layer, ``C_in / groups * kernel size * output size`` for a convolution.
- **SNN MACs**: multiply-accumulates that the spiking network really runs with real-valued inputs. The encoder
  (first layer, direct encoding) sees the static observation and runs ONCE per observation, not ``T`` times, so
  it costs exactly its ANN MACs. A layer fed with real values over time (e.g. a constant current) costs ``T`` times.
- **SOPs** (synaptic operations): a spike into a layer triggers one accumulate per synapse it drives, so a layer
  fed with spikes costs ``(number of input spikes) x fan-out``: ``out_features`` for a linear layer; for a
  convolution, the number of outputs whose receptive field holds the spike (counted exactly, borders included).
  The recurrent synapses of the stateful policies (:class:`~sb3_spiking.snn.stateful.RecurrentSynapses`) run once per
  simulation step on the spikes of the step before: SOPs too, their ANN MACs those of one update per observation.

Bias additions, the neurons' own membrane updates and the output integrator are not counted, as in most SNN papers.

Energy: ``E_SNN = E_MAC * MACs + E_AC * SOPs`` and ``E_ANN = E_MAC * ANN MACs``, with ``E_MAC = 4.6 pJ`` and
``E_AC = 0.9 pJ`` by default: 32-bit floating-point multiply + add vs. add at 45 nm, from M. Horowitz,
"Computing's energy problem (and what we can do about it)", ISSCC 2014 (doi:10.1109/ISSCC.2014.6757323), the
constants most SNN papers use. Memory traffic, which often dominates on real chips, is not modelled.
"""

import math
from dataclasses import dataclass, field

import torch as th
from torch import nn
from torch.nn import functional as F

from sb3_spiking.snn.stateful import RecurrentSynapses

E_MAC_PJ = 4.6
E_AC_PJ = 0.9

SYNAPTIC_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def is_spike_tensor(x: th.Tensor) -> bool:
    """Whether ``x`` holds only zeros and ones (a spike train)."""
    if x.dtype == th.bool:
        return True
    return bool(((x == 0) | (x == 1)).all())


def _static_dims(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return 2
    return 3 if isinstance(module, nn.Conv1d) else 4


def _conv_fan_out_sum(module: nn.Module, x: th.Tensor) -> float:
    """Sum over all input spikes of the number of synapses each drives (exact at the borders)."""
    conv = F.conv1d if isinstance(module, nn.Conv1d) else F.conv2d
    groups = module.groups
    ones = th.ones(groups, module.in_channels // groups, *module.kernel_size, dtype=th.float64, device=x.device)
    active = conv(
        x.double(), ones, None, module.stride, module.padding, module.dilation, groups
    )  # active inputs per receptive field and group
    return float(active.sum()) * (module.out_channels // groups)


@dataclass
class LayerOps:
    """
    Operation counts of one synaptic layer, summed over the observations it saw.

    :param name: Module name
    :param n_obs: Number of observations
    :param ann_mac: MACs of the same layer in an ANN (one pass per observation)
    :param mac: MACs that the spiking network ran (real-valued inputs)
    :param sop: Synaptic operations that the spiking network ran (spike inputs)
    """

    name: str
    n_obs: int = 0
    ann_mac: float = 0.0
    mac: float = 0.0
    sop: float = 0.0

    def add(self, module: nn.Module, x: th.Tensor, out: th.Tensor) -> None:
        """
        Count one call of ``module`` on input ``x`` (static ``[B, ...]`` or time-major ``[T, B, ...]``).

        :param module: A ``Linear``, ``Conv1d`` or ``Conv2d`` layer
        :param x: Its input
        :param out: Its output
        """
        time_major = x.dim() == _static_dims(module) + 1
        n_obs = x.shape[1] if time_major else x.shape[0]
        if isinstance(module, RecurrentSynapses):  # one call per simulation step, on the spikes of the step before
            self.n_obs += n_obs / module.T
            self.ann_mac += n_obs / module.T * module.in_features * module.out_features
            self.sop += float(th.count_nonzero(x)) * module.out_features
            return
        if isinstance(module, nn.Linear):
            per_output = module.in_features
            out_per_obs = module.out_features
        else:
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
            out_per_obs = math.prod(out.shape[(2 if time_major else 1) :])
        self.n_obs += n_obs
        self.ann_mac += n_obs * per_output * out_per_obs
        if time_major and is_spike_tensor(x):
            if isinstance(module, nn.Linear):
                self.sop += float(th.count_nonzero(x)) * module.out_features
            else:
                self.sop += _conv_fan_out_sum(module, x.flatten(0, 1))
        else:
            self.mac += out.numel() * per_output

    @property
    def kind(self) -> str:
        """``"MAC"`` for a layer fed with real values (the encoder), ``"SOP"`` for one fed with spikes."""
        return "SOP" if self.sop > 0 or self.mac == 0 else "MAC"


@dataclass
class EnergyReport:
    """
    Operation counts and energy per observation, per layer and in total.

    :param layers: Counts of every synaptic layer that ran
    :param e_mac_pj: Energy of a multiply-accumulate (pJ)
    :param e_ac_pj: Energy of an accumulate (pJ)
    """

    layers: list[LayerOps] = field(default_factory=list)
    e_mac_pj: float = E_MAC_PJ
    e_ac_pj: float = E_AC_PJ

    def _per_obs(self, attr: str) -> float:
        return sum(getattr(layer, attr) / layer.n_obs for layer in self.layers if layer.n_obs)

    @property
    def ann_mac(self) -> float:
        """ANN MACs per observation."""
        return self._per_obs("ann_mac")

    @property
    def mac(self) -> float:
        """SNN MACs per observation (the encoder)."""
        return self._per_obs("mac")

    @property
    def sop(self) -> float:
        """SNN synaptic operations per observation."""
        return self._per_obs("sop")

    @property
    def snn_energy_pj(self) -> float:
        """Estimated energy of the spiking network per observation (pJ)."""
        return self.e_mac_pj * self.mac + self.e_ac_pj * self.sop

    @property
    def ann_energy_pj(self) -> float:
        """Estimated energy of the ANN of the same architecture per observation (pJ)."""
        return self.e_mac_pj * self.ann_mac

    @property
    def ratio_vs_ann(self) -> float:
        """SNN energy / ANN energy: below 1 the spiking network is estimated to be cheaper."""
        return self.snn_energy_pj / self.ann_energy_pj if self.ann_energy_pj else math.nan

    def table(self) -> str:
        """A Markdown table of the counts and energy per observation."""
        rows = [
            "| layer | input | ANN MAC | SNN MAC | SNN SOP | ANN energy (nJ) | SNN energy (nJ) |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]

        def row(name: str, kind: str, ann_mac: float, mac: float, sop: float) -> str:
            ann_nj = self.e_mac_pj * ann_mac / 1e3
            snn_nj = (self.e_mac_pj * mac + self.e_ac_pj * sop) / 1e3
            return f"| {name} | {kind} | {ann_mac:,.0f} | {mac:,.0f} | {sop:,.1f} | {ann_nj:.3f} | {snn_nj:.3f} |"

        for layer in self.layers:
            if layer.n_obs:
                n = layer.n_obs
                kind = "spikes" if layer.kind == "SOP" else "real"
                rows.append(row(layer.name, kind, layer.ann_mac / n, layer.mac / n, layer.sop / n))
        rows.append(row("**total**", "", self.ann_mac, self.mac, self.sop))
        rows.append(f"\nSNN / ANN energy: {self.ratio_vs_ann:.3f} (E_MAC = {self.e_mac_pj} pJ, E_AC = {self.e_ac_pj} pJ)")
        return "\n".join(rows)


def energy_report(layers: list[LayerOps], e_mac_pj: float = E_MAC_PJ, e_ac_pj: float = E_AC_PJ) -> EnergyReport:
    """
    The energy estimate of counted layers.

    :param layers: Counts of the synaptic layers (see :class:`~sb3_spiking.telemetry.stats.SpikeStats`)
    :param e_mac_pj: Energy of a multiply-accumulate in pJ (4.6: 32-bit float at 45 nm, Horowitz 2014)
    :param e_ac_pj: Energy of an accumulate in pJ (0.9: 32-bit float at 45 nm, Horowitz 2014)
    """
    for name, value in (("e_mac_pj", e_mac_pj), ("e_ac_pj", e_ac_pj)):
        if value is None or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite energy >= 0 in pJ (default 4.6 per MAC, 0.9 per AC), got {value!r}")
    return EnergyReport(list(layers), float(e_mac_pj), float(e_ac_pj))
