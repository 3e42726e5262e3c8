"""
Run a graph from :func:`~sb3_spiking.export.to_nir` in other NIR consumers, as each one reads NIR.

A consumer here is a function ``x [B, *input_shape] -> output potentials [T, B, out]``; the host then reads the
output out as ``graph.metadata["readout"]`` asks (:func:`~sb3_spiking.export.nir_sim.host_readout`). The consumers
read NIR's continuous-time neurons in different ways, and the package adapts to each, or stops with an error naming the node:

- ``"nir_sim"``: the package's own simulator (:func:`~sb3_spiking.export.run_nir`, forward Euler with the graph's
  ``dt``). Every node of the export.
- ``"snntorch"`` (snnTorch 1.0.0, ``snntorch.import_nir.import_from_nir``): steps one time step per call with
  hidden state in its ``Leaky`` modules, forward Euler with ``dt = 1e-4`` fixed in its importer (so the graph must
  be written with ``dt=1e-4``, :func:`to_nir`'s default), ``LIF`` as ``Leaky(beta=1 - dt/tau, reset="zero")`` with
  the input scale folded into the threshold. It has no ``LI``: the readout is given to it as the equivalent ``LIF``
  with an infinite threshold (never fires, so never resets) and the host reads that module's membrane ``mem``,
  scaled back by ``r dt / tau``. It reads ``IF`` as a leaky neuron (``beta = 0.9``, reset by subtraction), so an
  ``IF`` is given to it as a ``LIF`` with ``tau = 1e4`` s and ``r = tau / dt``: its ``beta = 1 - 1e-8`` is 1 in
  float32, so snntorch integrates without leak, exactly the IF (under NIR's equations the leak is 1e-8 per step).
  It has no ``I``: the ``mean-mem`` / ``fr-mlp`` readouts raise ``ValueError``; so do a reset potential other
  than 0 (its ``Leaky`` resets to zero) and ``Flatten`` (read as ``torch.nn.Flatten(0, -1)``, which flattens the
  batch too: CNN graphs).
- ``"sinabs"`` (Sinabs 3.1.3, ``sinabs.from_nir``): runs all ``T`` steps in one call on ``[B * T, ...]`` (batch
  major), reads time constants in time steps with exact exponential decay ``alpha = exp(-1 / tau)``. The graph is
  rewritten for it with ``dt = 1``: ``tau_steps = -1 / log(1 - dt / tau)``, so that its decay is the export's Euler
  factor. Its importer builds layers with its own defaults that are not NIR's equations (several spikes per step,
  reset by subtraction, inputs not scaled by ``1 - alpha``, ``IF`` potentials clipped at ``-threshold``); after
  import the adapter sets them to the graph's: ``SingleSpike``, ``MembraneReset(v_reset)``, ``norm_input=True``,
  ``min_v_mem=None``. Its importer's check of ``v_leak`` fails on convolutional layers (``any`` of a 3-D array):
  their (zero) ``v_leak`` is handed to it as one element. It has no ``I`` node: ``mean-mem`` / ``fr-mlp`` graphs
  raise ``ValueError``.

Neither consumer reads ``max-mem``'s running maximum (no NIR node holds one): the host takes it from the output
potentials at every step, as ``metadata["readout"]`` says.
"""

import contextlib
import importlib
import io
from typing import Callable

import nir
import numpy as np
import torch as th

from sb3_spiking.export.nir_sim import run_nir

CONSUMERS = ("nir_sim", "snntorch", "sinabs")
SNNTORCH_DT = 1e-4  # snntorch 1.0.0's import_nir uses this step for every LIF
SNNTORCH_IF_TAU = 1e4  # seconds: beta = 1 - dt / tau = 1 - 1e-8, which is 1.0 in float32


def _need(package: str) -> None:
    try:
        importlib.import_module(package)
    except ModuleNotFoundError as error:
        raise ImportError(f'The {package!r} consumer needs its package: pip install "sb3-spiking[deploy]"') from error


def _rebuilt(graph: nir.NIRGraph, nodes: dict[str, nir.NIRNode], **metadata) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), metadata={**graph.metadata, **metadata})


def _reject(graph: nir.NIRGraph, consumer: str, kinds: dict[type, str]) -> None:
    for name, node in graph.nodes.items():
        if type(node) in kinds:
            raise ValueError(f"{consumer} cannot run node {name!r} ({type(node).__name__}): {kinds[type(node)]}")


def _uniform(value: np.ndarray, what: str, name: str) -> float:
    values = np.unique(np.asarray(value))
    if values.size != 1:
        raise ValueError(f"node {name!r}: this consumer needs one {what} for the whole layer, got {values.size}")
    return float(values[0])


_NO_I = "NIR I (the integrator of the mean-mem and fr-mlp readouts); export with decoder 'last-mem' or 'max-mem'"


def snntorch_consumer(graph: nir.NIRGraph) -> Callable[[th.Tensor], th.Tensor]:
    """The graph as snnTorch 1.0.0 reads it (see the module documentation); returns ``x -> [T, B, out]``."""
    _need("snntorch")
    import snntorch
    from snntorch.import_nir import import_from_nir

    _reject(
        graph,
        "snntorch",
        {
            nir.I: _NO_I,
            nir.Flatten: "snntorch 1.0.0 reads NIR Flatten as torch Flatten(0, -1), which flattens the batch too",
        },
    )
    dt = float(graph.metadata["dt"])
    if not np.isclose(dt, SNNTORCH_DT):
        raise ValueError(f"snntorch 1.0.0 reads NIR LIF with dt = {SNNTORCH_DT}: export with to_nir(policy, dt=1e-4)")
    readouts = [name for name, node in graph.nodes.items() if isinstance(node, nir.LI)]
    if len(readouts) != 1:
        raise ValueError("snntorch: expected one LI readout node (the export of a spiking policy)")
    nodes = dict(graph.nodes)
    for name, node in graph.nodes.items():
        if isinstance(node, (nir.IF, nir.LIF)):
            reset = getattr(node, "v_reset", None)
            if _uniform(node.metadata.get("v_reset", 0.0) if reset is None else reset, "v_reset", name) != 0.0:
                raise ValueError(f"snntorch: node {name!r} resets to a potential other than 0, which its Leaky cannot")
        if isinstance(node, nir.IF):  # a LIF whose leak is below float32's resolution: snntorch's IF
            if not np.allclose(np.asarray(node.r) * dt, 1.0):
                raise ValueError(f"snntorch: IF node {name!r} needs r dt = 1 (the export's IF)")
            tau = np.full_like(node.v_threshold, SNNTORCH_IF_TAU)
            nodes[name] = nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros_like(tau), v_threshold=node.v_threshold)
    li = nodes[readouts[0]]
    # An LI is a LIF that never fires: snntorch has no LI, so it gets that LIF and the host reads its membrane
    nodes[readouts[0]] = nir.LIF(tau=li.tau, r=li.r, v_leak=li.v_leak, v_threshold=np.full_like(li.tau, np.inf))
    scale = th.as_tensor(np.asarray(li.r) * dt / np.asarray(li.tau), dtype=th.float32)
    with contextlib.redirect_stdout(io.StringIO()):  # its importer prints a warning per LIF with r dt / tau != 1
        net = import_from_nir(_rebuilt(graph, nodes))
    net.eval()
    readout = getattr(net, readouts[0])
    T = int(graph.metadata["T"])

    def run(x: th.Tensor) -> th.Tensor:
        for module in net.modules():
            if isinstance(module, snntorch.SpikingNeuron):
                module.mem = th.zeros(0)  # a fresh state: snntorch re-creates it with the input's shape
        trace = []
        with th.no_grad():
            for _ in range(T):
                net(x.float())
                trace.append(readout.mem * scale)
        return th.stack(trace)

    return run


def sinabs_consumer(graph: nir.NIRGraph) -> Callable[[th.Tensor], th.Tensor]:
    """The graph as Sinabs 3.1.3 reads it (see the module documentation); returns ``x -> [T, B, out]``."""
    _need("sinabs")
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    _reject(graph, "sinabs", {nir.I: _NO_I})
    dt, T = float(graph.metadata["dt"]), int(graph.metadata["T"])
    nodes: dict[str, nir.NIRNode] = {}
    resets = []
    for name, node in graph.nodes.items():
        if isinstance(node, (nir.LIF, nir.LI)):
            if not np.allclose(node.r, 1.0) or not np.allclose(node.v_leak, 0.0):
                raise ValueError(f"sinabs: node {name!r} needs r = 1 and v_leak = 0 (neurons with decay_input=True)")
            steps = np.asarray(node.tau, dtype=np.float64) / dt
            if np.any(steps < 1.0):
                raise ValueError(f"sinabs: node {name!r} has tau < dt, which exponential decay cannot follow")
            with np.errstate(divide="ignore"):
                tau = (-1.0 / np.log1p(-1.0 / steps)).astype(np.float32)
            kwargs = dict(tau=tau, r=np.ones_like(tau), v_leak=np.zeros_like(tau))
            nodes[name] = nir.LIF(v_threshold=node.v_threshold, **kwargs) if isinstance(node, nir.LIF) else nir.LI(**kwargs)
            if isinstance(node, nir.LIF) and tau.ndim > 1:  # its importer tests `any(v_leak) != 0`, which fails on 2-D+
                nodes[name].v_leak = np.zeros(1, dtype=np.float32)  # zero, as checked above
        elif isinstance(node, nir.IF):
            if not np.allclose(np.asarray(node.r) * dt, 1.0):
                raise ValueError(f"sinabs: IF node {name!r} needs r dt = 1 (the export's IF)")
            nodes[name] = nir.IF(r=np.ones_like(node.r), v_threshold=node.v_threshold)
        else:
            nodes[name] = node
        if isinstance(node, (nir.LIF, nir.IF)):
            reset = getattr(node, "v_reset", None)
            resets.append(_uniform(node.metadata.get("v_reset", 0.0) if reset is None else reset, "v_reset", name))
    net = sinabs.from_nir(_rebuilt(graph, nodes, dt=1.0), num_timesteps=T)
    spiking = [m for m in net.modules() if isinstance(m, (sl.LIF, sl.IAF)) and not isinstance(m, sl.ExpLeak)]
    if len(spiking) != len(resets):
        raise ValueError(f"sinabs: built {len(spiking)} spiking layers for {len(resets)} neuron nodes")
    for module, reset in zip(spiking, resets):  # the graph's equations where its importer keeps its own defaults
        module.spike_fn, module.reset_fn, module.min_v_mem = SingleSpike, MembraneReset(reset_value=reset), None
    for module in net.modules():
        if isinstance(module, sl.LIF) and not isinstance(module, sl.IAF):
            module.norm_input = True  # NIR's LIF / LI: tau dv/dt = -v + r x, so the input enters as (1 - alpha) x
    net.eval()

    def run(x: th.Tensor) -> th.Tensor:
        sinabs.reset_states(net)
        B = x.shape[0]
        held = x.float().unsqueeze(1).expand(B, T, *x.shape[1:]).reshape(B * T, *x.shape[1:])
        with th.no_grad():
            out = net(held)
        out = out[0] if isinstance(out, tuple) else out
        return out.reshape(B, T, *out.shape[1:]).transpose(0, 1)

    return run


def consumer_runner(graph: nir.NIRGraph, consumer: str) -> Callable[[th.Tensor], th.Tensor]:
    """
    A function ``x [B, *input_shape] -> output potentials [T, B, out]`` that runs the graph in the named consumer.

    :param graph: A graph from :func:`~sb3_spiking.export.to_nir`
    :param consumer: ``"nir_sim"``, ``"snntorch"`` or ``"sinabs"``
    """
    if consumer == "nir_sim":
        return lambda x: run_nir(graph, x.double()).float()
    if consumer == "snntorch":
        return snntorch_consumer(graph)
    if consumer == "sinabs":
        return sinabs_consumer(graph)
    raise ValueError(f"Unknown consumer {consumer!r}: valid choices are {', '.join(map(repr, CONSUMERS))}")
