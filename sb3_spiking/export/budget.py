"""
What a spiking policy asks of a chip: neurons, synapses, fan-in / fan-out, weight bits, inputs and outputs, time
steps and synaptic operations per decision, checked against a target's limits (:func:`deploy_report`).

The limits of :data:`CHIPS` are copied from public documentation (checked 2026-12):

- ``"xylo-audio-2"`` and ``"xylo-imu"``: SynSense Xylo, Rockpool's device overview,
  https://rockpool.ai/devices/xylo-overview.html (family table: 16 SNN input channels; 1000 / 496 hidden neurons;
  8 / 16 output neurons; maximum fan-out 64 / 512. Architecture list: 8-bit input, recurrent and readout weights;
  "reset during event generation is performed by subtraction").
- ``"speck-2b"``: SynSense Speck 2b, Samna's model page,
  https://synsense-sys-int.gitlab.io/samna/models/speckSeries/speck2b.html (9 convolutional layers; max feature
  number 1024 per layer; weight resolution 8 bit; readout of 16 classes). A dense layer counts as a 1x1
  convolution whose features are its units.
- ``"loihi-2"``: Intel Loihi 2, Open Neuromorphic's hardware page,
  https://open-neuromorphic.org/neuromorphic-computing/hardware/loihi-2-intel/ (up to 1 million neurons and
  120 million synapses per chip; it gives weights as "<= 32-bit", so no weight limit is checked).

A limit that a page does not give is ``None`` and is not checked.
"""

from dataclasses import dataclass, field
from typing import Optional

import nir
import numpy as np
from stable_baselines3.common.policies import BasePolicy

from sb3_spiking.export.nir_graph import to_nir


@dataclass(frozen=True)
class ChipLimits:
    """
    The limits of a target, ``None`` where not given.

    :param name: The target's name
    :param hidden_neurons: Spiking neurons, all layers together
    :param neurons_per_layer: Neurons (features) of one layer
    :param inputs: Input channels
    :param outputs: Output (readout) neurons
    :param weight_bits: Bits per weight
    :param fan_out: Synapses out of one neuron
    :param layers: Synaptic layers
    :param synapses: Synapses, all layers together
    :param reset: How its neurons reset (``"subtract"`` or ``"zero"``)
    :param source: Where the limits come from
    """

    name: str
    hidden_neurons: Optional[int] = None
    neurons_per_layer: Optional[int] = None
    inputs: Optional[int] = None
    outputs: Optional[int] = None
    weight_bits: Optional[int] = None
    fan_out: Optional[int] = None
    layers: Optional[int] = None
    synapses: Optional[int] = None
    reset: Optional[str] = None
    source: str = ""


_XYLO = "https://rockpool.ai/devices/xylo-overview.html"
CHIPS = {
    "xylo-audio-2": ChipLimits("xylo-audio-2", 1000, None, 16, 8, 8, 64, None, None, "subtract", _XYLO),
    "xylo-imu": ChipLimits("xylo-imu", 496, None, 16, 16, 8, 512, None, None, "subtract", _XYLO),
    "speck-2b": ChipLimits(
        "speck-2b",
        neurons_per_layer=1024,
        outputs=16,
        weight_bits=8,
        layers=9,
        source="https://synsense-sys-int.gitlab.io/samna/models/speckSeries/speck2b.html",
    ),
    "loihi-2": ChipLimits(
        "loihi-2",
        hidden_neurons=1_000_000,
        synapses=120_000_000,
        source="https://open-neuromorphic.org/neuromorphic-computing/hardware/loihi-2-intel/",
    ),
}


@dataclass
class LayerBudget:
    """One synaptic layer and the neurons it drives: ``fan_in`` synapses into each of them, ``fan_out`` synapses
    out of each of its source neurons, ``synapses`` weights in all."""

    name: str
    kind: str
    neurons: int
    fan_in: int
    fan_out: int
    synapses: int


@dataclass
class DeployReport:
    """The result of :func:`deploy_report`; ``violations`` lists each limit of the target that the policy exceeds."""

    layers: list[LayerBudget]
    inputs: int
    outputs: int
    T: int
    weight_bits: int
    hidden_neurons: int
    synapses: int
    sop_per_decision: Optional[float]
    mac_per_decision: Optional[float]
    reset: str
    target: Optional[ChipLimits] = None
    violations: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        """No limit of the target is exceeded."""
        return not self.violations

    def table(self) -> str:
        """A Markdown table per layer, then the totals and the verdict."""
        rows = ["| layer | kind | neurons | fan-in | fan-out of its inputs | synapses |", "|---|---|---:|---:|---:|---:|"]
        rows += [f"| {b.name} | {b.kind} | {b.neurons} | {b.fan_in} | {b.fan_out} | {b.synapses} |" for b in self.layers]
        sop = "not measured" if self.sop_per_decision is None else f"{self.sop_per_decision:.1f}"
        rows.append(
            f"\ninputs {self.inputs}, outputs {self.outputs}, hidden neurons {self.hidden_neurons}, synapses "
            f"{self.synapses}, {self.weight_bits}-bit weights, T = {self.T} steps per decision, SOP per decision {sop}"
        )
        if self.target is not None:
            verdict = "fits" if self.fits else "does not fit: " + "; ".join(self.violations)
            rows.append(f"target {self.target.name}: {verdict} (limits: {self.target.source})")
        return "\n".join(rows)


def _fan_in(node: nir.NIRNode) -> int:
    weight = np.asarray(node.weight)
    return int(np.prod(weight.shape[1:]))  # Affine: in features; Conv2d: in channels / groups x kernel


def _fan_out(node: nir.NIRNode) -> int:
    weight = np.asarray(node.weight)
    if isinstance(node, nir.Conv2d):  # each input reaches every output channel through each kernel position
        stride = np.prod(np.broadcast_to(np.asarray(node.stride), (2,)))
        return int(np.ceil(weight.shape[0] // node.groups * np.prod(weight.shape[2:]) / stride))
    return int(weight.shape[0])


def _check(report: DeployReport, chip: ChipLimits) -> list[str]:
    violations = []

    def over(what: str, value: int, limit: Optional[int]) -> None:
        if limit is not None and value > limit:
            violations.append(f"{what} {value} > {limit}")

    over("inputs", report.inputs, chip.inputs)
    over("outputs", report.outputs, chip.outputs)
    over("hidden neurons", report.hidden_neurons, chip.hidden_neurons)
    over("synapses", report.synapses, chip.synapses)
    over("weight bits", report.weight_bits, chip.weight_bits)
    over("synaptic layers", len(report.layers), chip.layers)
    for layer in report.layers:
        over(f"{layer.name}: neurons", layer.neurons, chip.neurons_per_layer)
        over(f"{layer.name}: fan-out of its inputs", layer.fan_out, chip.fan_out)
    if chip.reset is not None and chip.reset != report.reset:
        violations.append(f"its neurons reset by {chip.reset}, the policy's to {report.reset}")
    return violations


def deploy_report(
    policy: BasePolicy, target: Optional[str] = None, bits: Optional[int] = None, observations: Optional[np.ndarray] = None
) -> DeployReport:
    """
    The policy's deployment budget, and the limits of ``target`` that it exceeds.

    Counted on its NIR graph (:func:`~sb3_spiking.export.to_nir`): a layer is a synaptic node (``Affine``, ``Conv2d``)
    with the neurons it drives (the spiking layer, or the readout); the recurrent synapses of a stateful policy
    count with the layer they feed back into (its fan-in and synapses); the input normalisation stays with the host
    and is not counted. Synaptic operations per decision (all ``T`` steps) come from the package's counters
    (:func:`~sb3_spiking.telemetry.stats.spike_stats`) on ``observations``.

    :param policy: A spiking policy
    :param target: A name of :data:`CHIPS` (``"xylo-audio-2"``, ``"xylo-imu"``, ``"speck-2b"``, ``"loihi-2"``), or
        ``None`` for the budget alone
    :param bits: Weight bits of the deployed policy (e.g. 8 after :func:`~sb3_spiking.export.quantize_graph`);
        ``None``: 32 (float)
    :param observations: Observations ``[N, *obs_shape]`` to count synaptic operations on; ``None`` does not count
    :return: The report
    """
    if target is not None and target not in CHIPS:
        raise ValueError(f"Unknown target {target!r}: valid choices are {', '.join(map(repr, CHIPS))}")
    graph = to_nir(policy)
    names = list(graph.nodes)
    layers, pending, driven = [], None, {}
    for name in names:
        node = graph.nodes[name]
        role = (getattr(node, "metadata", None) or {}).get("role", "")
        back = [dst for src, dst in graph.edges if src == name and dst in driven]  # recurrent synapses
        if back:
            layer = layers[driven[back[0]]]
            layer.fan_in += _fan_in(node)
            layer.synapses += int(np.asarray(node.weight).size)
        elif isinstance(node, (nir.Affine, nir.Conv2d, nir.Linear)) and role != "normalisation":
            pending = (name, node)
        elif isinstance(node, (nir.LIF, nir.IF, nir.LI, nir.I)) and pending is not None:
            source_name, source = pending
            layers.append(
                LayerBudget(
                    name=source_name,
                    kind=type(node).__name__,
                    neurons=int(np.prod(np.asarray(node.output_type["output"]))),
                    fan_in=_fan_in(source),
                    fan_out=_fan_out(source),
                    synapses=int(np.asarray(source.weight).size),
                )
            )
            driven[name], pending = len(layers) - 1, None
    sop = mac = None
    if observations is not None:
        from sb3_spiking.telemetry.stats import spike_stats

        with spike_stats(policy) as stats:
            policy.predict(np.asarray(observations), deterministic=True)
        energy = stats.energy()
        sop, mac = energy.sop, energy.mac
    neurons = [layer for layer in layers if layer.kind in ("LIF", "IF")]
    report = DeployReport(
        layers=layers,
        inputs=int(np.prod(np.asarray(graph.nodes["input"].input_type["input"]))),
        outputs=layers[-1].neurons,
        T=int(graph.metadata["T"]),
        weight_bits=32 if bits is None else int(bits),
        hidden_neurons=sum(layer.neurons for layer in neurons),
        synapses=sum(layer.synapses for layer in layers),
        sop_per_decision=sop,
        mac_per_decision=mac,
        reset="zero",  # to_nir exports hard-reset neurons only
    )
    if target is not None:
        report.target = CHIPS[target]
        report.violations = _check(report, report.target)
    return report
