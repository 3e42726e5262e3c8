"""
A small discrete-time simulator of NIR graphs, to check exported spiking networks by value.

It runs the graph for ``T`` steps of length ``dt`` on an input held constant, with forward Euler on NIR's
continuous-time equations: ``IF`` and ``I``: ``dv/dt = r x``; ``LIF`` and ``LI``: ``tau dv/dt = v_leak - v + r x``;
``IF`` / ``LIF`` fire when ``v >= v_threshold`` (as SpikingJelly does; NIR writes ``>``) and then reset to
``v_reset`` (from the node's ``metadata`` with ``nir`` releases that lack the field; 0 if neither has it).
Nodes: ``Input``, ``Output``, ``Affine``, ``Linear``, ``Conv2d``, ``Flatten``, ``IF``, ``LIF``, ``LI``, ``I``.
A node's input is the sum of its incoming edges. In a graph with cycles (recurrent synapses), the edge that closes
a cycle, seen from the input, carries its source's value of the step before (0 at the first step).
"""

from typing import Any, Optional

import nir
import numpy as np
import torch as th


def _order(graph: nir.NIRGraph) -> list[str]:
    """The nodes in the order one time step computes them: each after its sources, but for the edges that close a
    cycle (found by a depth-first walk from the nodes without sources), which read the step before."""
    outgoing = {name: [dst for src, dst in graph.edges if src == name] for name in graph.nodes}
    roots = [name for name in graph.nodes if all(dst != name for _, dst in graph.edges)]
    closing, walking, finished = set(), set(), []

    def walk(name: str) -> None:
        walking.add(name)
        for dst in outgoing[name]:
            if dst in walking:
                closing.add((name, dst))
            elif dst not in finished:
                walk(dst)
        walking.discard(name)
        finished.append(name)

    for name in roots + list(graph.nodes):
        if name not in finished:
            walk(name)
    incoming = {name: [src for src, dst in graph.edges if dst == name and (src, dst) not in closing] for name in graph.nodes}
    order: list[str] = []
    while len(order) < len(graph.nodes):
        order += [n for n in graph.nodes if n not in order and all(src in order for src in incoming[n])]
    return order


def _step(node: nir.NIRNode, x: th.Tensor, v: Optional[th.Tensor], dt: float) -> tuple[th.Tensor, Optional[th.Tensor]]:
    """One time step of a node: (output, new state)."""

    def param(value: Any) -> th.Tensor:
        return th.as_tensor(np.asarray(value, dtype=np.float64)).to(x)

    if isinstance(node, (nir.Input, nir.Output)):
        return x, None
    if isinstance(node, nir.Affine):
        return x @ param(node.weight).T + param(node.bias), None
    if isinstance(node, nir.Linear):
        return x @ param(node.weight).T, None
    if isinstance(node, nir.Conv2d):
        bias = None if node.bias is None else param(node.bias)
        return th.nn.functional.conv2d(
            x, param(node.weight), bias, node.stride, node.padding, node.dilation, node.groups
        ), None
    if isinstance(node, nir.Flatten):
        return x.flatten(node.start_dim + 1, node.end_dim if node.end_dim < 0 else node.end_dim + 1), None
    v = th.zeros_like(x) if v is None else v
    if isinstance(node, (nir.IF, nir.I)):  # dv/dt = r x
        v = v + x * th.as_tensor(np.asarray(node.r, dtype=np.float64) * dt).to(x)
    elif isinstance(node, (nir.LIF, nir.LI)):  # tau dv/dt = v_leak - v + r x
        tau_steps = th.as_tensor(np.asarray(node.tau, dtype=np.float64) / dt).to(x)
        v = v + (param(node.v_leak) - v + param(node.r) * x) / tau_steps
    else:
        raise ValueError(f"run_nir does not simulate {type(node).__name__} nodes")
    if isinstance(node, (nir.IF, nir.LIF)):
        spikes = (v >= param(node.v_threshold)).to(x)
        reset = getattr(node, "v_reset", None)
        reset = node.metadata.get("v_reset", 0.0) if reset is None else reset
        v = th.where(spikes.bool(), param(reset).expand_as(v), v)
        return spikes, v
    return v, v


def run_nir(graph: nir.NIRGraph, x: th.Tensor, T: Optional[int] = None, dt: Optional[float] = None) -> th.Tensor:
    """
    Simulate a feed-forward NIR graph in discrete time (forward Euler, step ``dt``) on a constant input.

    :param graph: A NIR graph (e.g. from :func:`to_nir`, or ``nir.read`` of its file)
    :param x: Input held over time, ``[B, *input_shape]``
    :param T: Number of steps (default: ``graph.metadata["T"]``)
    :param dt: Time step in seconds (default: ``graph.metadata["dt"]``)
    :return: The output at every step, ``[T, B, *output_shape]``
    """
    T = int(graph.metadata["T"] if T is None else T)
    dt = float(graph.metadata["dt"] if dt is None else dt)
    order = _order(graph)
    state: dict[str, Optional[th.Tensor]] = {}
    return th.stack([graph_step(graph, order, x, state, dt) for _ in range(T)])


def graph_step(
    graph: nir.NIRGraph, order: list[str], x: th.Tensor, state: dict[str, Optional[th.Tensor]], dt: float
) -> th.Tensor:
    """
    One time step of every node of ``graph`` (in ``order``) on the input ``x``; ``state`` (each node's state, by
    name) is updated in place.

    :return: The output node's value ``[B, out]``
    """
    values: dict[str, th.Tensor] = {}
    for name in order:
        # an edge from a node not computed yet closes a cycle: it carries that node's value of the step before
        sources = [values[src] if src in values else state.get(f"{src}:previous") for src, dst in graph.edges if dst == name]
        sources = [value for value in sources if value is not None]
        inp = x if not sources else sum(sources[1:], sources[0])
        values[name], state[name] = _step(graph.nodes[name], inp, state.get(name), dt)
    position = {name: index for index, name in enumerate(order)}
    for src, dst in graph.edges:
        if position[src] >= position[dst]:
            state[f"{src}:previous"] = values[src]
    return values["output"]


def nir_readout(graph: nir.NIRGraph, x: th.Tensor) -> th.Tensor:
    """
    Simulate a graph from :func:`to_nir` and read out its output as the policy does (``metadata["readout"]``).

    :param graph: The graph
    :param x: Preprocessed observations ``[B, *input_shape]``
    :return: Q-values, quantiles, logits or means, ``[B, out]``
    """
    trace = run_nir(graph, x) * float(graph.metadata.get("output_scale", 1.0))
    return host_readout(trace, str(graph.metadata.get("readout", "last")))


def host_readout(trace: th.Tensor, readout: str) -> th.Tensor:
    """
    What the host reads from the output potentials ``[T, B, out]``: ``"last"`` step, running ``"max"`` or the
    value of largest magnitude (``"max-abs"``, sign kept), as ``graph.metadata["readout"]`` names it.
    """
    if readout == "last":
        return trace[-1]
    if readout == "max":
        return trace.max(dim=0).values
    if readout == "max-abs":
        return trace.gather(0, trace.abs().argmax(dim=0, keepdim=True)).squeeze(0)
    raise ValueError(f"Unknown readout {readout!r}: valid choices are 'last', 'max', 'max-abs'")
