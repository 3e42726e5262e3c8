"""
The state of a stateful spiking network (:mod:`sb3_spiking.snn.stateful`): the potentials of its layers, handed to
them before a forward pass and taken back after it.

Two layouts hold the same numbers, per sequence:

- flat, ``[n_seq, size]``: the layers' potentials in the order they run, a layer with recurrent synapses giving its
  potential then its spikes; what the streaming export (:mod:`sb3_spiking.export.streaming`) takes and gives;
- halves, RecurrentPPO's ``(h, c)`` (``[n_seq, half]`` each): the flat vector cut between two of its tensors, each
  part padded with zeros to ``half`` columns (the policies take the narrowest ``half`` that fits both their
  networks, :meth:`MembraneState.best_half`). :meth:`MembraneState.from_halves` reads it as views and
  :meth:`MembraneState.to_halves` writes it with one concatenation per half, without the flat vector: at one env
  step per action, the state's bookkeeping would otherwise cost as much as a layer.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional, Union

import torch as th
from torch import nn

from sb3_spiking.snn.stateful import Carry, StatefulReadout, _CarriedStartMixin

#: The state of one layer for ``n_seq`` sequences: a potential, or a pair (potential, spikes)
LayerState = Union[th.Tensor, tuple[th.Tensor, th.Tensor]]


class MembraneState:
    """
    The potentials of the stateful layers of one network (an actor or a critic).

    The layers are those of ``modules`` in their registration order (duplicates once); the size of each layer's
    potential is found by one forward pass at rest (:meth:`probe`).

    :param modules: The network's parts, in the order they run (features extractor, hidden layers, readout)
    """

    def __init__(self, modules: list[nn.Module]) -> None:
        layers: list[nn.Module] = []
        for module in modules:
            for sub in module.modules():
                if isinstance(sub, (_CarriedStartMixin, StatefulReadout)) and all(sub is not seen for seen in layers):
                    layers.append(sub)
        self.layers = layers
        #: The shape of each layer's state per sequence (a pair, potential and spikes, as one vector)
        self.shapes: list[tuple[int, ...]] = []
        #: Whether each layer's state is a pair (potential and spikes)
        self.pairs: list[bool] = []
        self._halves: dict[int, tuple[list[int], list[int], int]] = {}

    @property
    def size(self) -> int:
        """Number of potentials per sequence (all layers)."""
        return sum(math.prod(shape) for shape in self.shapes)

    def probe(self, run: "callable", n_seq: int = 1) -> None:  # type: ignore[valid-type]
        """Find the shape of each layer's potential from one forward pass at rest (``run()`` runs the network)."""
        carries = [Carry((n_seq, 1), None) for _ in self.layers]
        self._set(carries)
        try:
            with th.no_grad():
                run()
        finally:
            self._set([None] * len(self.layers))
        self.shapes = [_state_shape(carry.v) for carry in carries]
        self.pairs = [isinstance(carry.v, tuple) for carry in carries]
        self._halves = {}

    def _tensor_sizes(self) -> list[int]:
        """The width of each tensor of the flat state, in order (a pair's potential and spikes apart)."""
        sizes = []
        for shape, pair in zip(self.shapes, self.pairs):
            sizes += [math.prod(shape) // 2] * 2 if pair else [math.prod(shape)]
        return sizes

    def _cuts(self) -> list[int]:
        """The columns of the flat state where one of its tensors ends and the next begins (0 and its size too)."""
        cuts = [0]
        for width in self._tensor_sizes():
            cuts.append(cuts[-1] + width)
        return cuts

    def best_half(self) -> int:
        """The narrowest ``half`` (at least 1) for which :meth:`from_halves` can cut the state between two tensors."""
        size = self.size
        return max(1, min(max(cut, size - cut) for cut in self._cuts()))

    def _layer_states(self, tensors: list[th.Tensor], n_seq: int) -> list[LayerState]:
        """The tensors of the flat state ``[n_seq, width]`` grouped and shaped per layer."""
        states: list[LayerState] = []
        index = 0
        for shape, pair in zip(self.shapes, self.pairs):
            if pair:
                states.append((tensors[index], tensors[index + 1]))
                index += 2
            else:
                tensor = tensors[index]
                states.append(tensor if len(shape) == 1 else tensor.reshape(n_seq, *shape))
                index += 1
        return states

    def split(self, flat: th.Tensor) -> list[LayerState]:
        """The state of each layer (``[n_seq, *shape]``, or a pair) from the flat state ``[n_seq, size]``."""
        tensors = flat[:, : self.size].split_with_sizes(self._tensor_sizes(), dim=1)
        return self._layer_states(list(tensors), flat.shape[0])

    def _layout(self, half: int) -> tuple[list[int], list[int], int]:
        """How ``(h, c)`` of width ``half`` hold the flat state's tensors: the widths to split each into (the tensors,
        then the padding) and the number of tensors in ``h``; the state is cut after the last tensor that fits in h."""
        layout = self._halves.get(half)
        if layout is None:
            sizes, size = self._tensor_sizes(), self.size
            fits = [k for k, cut in enumerate(self._cuts()) if cut <= half and size - cut <= half]
            if not fits:
                raise ValueError(
                    f"A state of 2 x {half} values cannot hold the {size} potentials of this network (cut between its "
                    f"layers, it needs 2 x {self.best_half()})"
                )
            k = fits[-1]
            h_used, c_used = sum(sizes[:k]), sum(sizes[k:])
            pad_h, pad_c = [half - h_used] * (h_used < half), [half - c_used] * (c_used < half)
            layout = self._halves[half] = (sizes[:k] + pad_h, sizes[k:] + pad_c, k)
        return layout

    def from_halves(self, h: th.Tensor, c: th.Tensor) -> list[LayerState]:
        """The state of each layer (views) from RecurrentPPO's halves ``h`` and ``c`` (``[n_seq, half]`` each)."""
        h_sizes, c_sizes, k = self._layout(h.shape[1])
        n_c = len(self.pairs) + sum(self.pairs) - k  # the tensors in c
        pieces = h.split_with_sizes(h_sizes, dim=1)[:k] + c.split_with_sizes(c_sizes, dim=1)[:n_c]
        return self._layer_states(list(pieces), h.shape[0])

    def flat_from_halves(self, h: th.Tensor, c: th.Tensor) -> th.Tensor:
        """The flat state ``[n_seq, size]`` from RecurrentPPO's halves ``h`` and ``c`` (``[n_seq, half]`` each)."""
        tensors = [t.reshape(h.shape[0], -1) for state in self.from_halves(h, c) for t in _tensors(state)]
        return th.cat(tensors, dim=1) if tensors else h.new_zeros(h.shape[0], 0)

    def to_halves(self, carries: list[Carry], like: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """
        RecurrentPPO's halves ``(h, c)`` (``[n_seq, half]`` each, like ``like``) of the state that a forward pass
        inside :meth:`carry` ended with.
        """
        n_seq, half = like.shape
        k = self._layout(half)[2]
        tensors = [t.reshape(n_seq, -1) if t.dim() != 2 else t for carry in carries for t in _tensors(carry.v)]
        return _joined(tensors[:k], like), _joined(tensors[k:], like)

    def _set(self, carries: list) -> None:
        for layer, carry in zip(self.layers, carries):
            # A plain attribute, set without nn.Module.__setattr__ (whose checks cost more than a step of a small layer)
            layer.__dict__["carry"] = carry

    @contextmanager
    def carry(self, state: Union[th.Tensor, list[LayerState]], episode_starts: th.Tensor) -> Iterator[list[Carry]]:
        """
        Inside the block, a forward pass of the network starts from ``state`` and resets to rest where episodes start.
        After it, :meth:`flatten` or :meth:`to_halves` give the end state.

        :param state: The state after the previous env step: flat, ``[n_seq, size]`` (or more columns, ignored), or
            per layer (:meth:`split`, :meth:`from_halves`)
        :param episode_starts: ``[n_seq * L]``, sequence major: 1 where an episode starts
        """
        states = self.split(state) if isinstance(state, th.Tensor) else state
        carries = []
        if states:
            first = _tensors(states[0])[0]
            n_seq = first.shape[0]
            length = episode_starts.numel() // n_seq
            # The env steps where an episode starts somewhere (RecurrentPPO's sequences: at most their first): the
            # layers reset only there, and not at all where none starts (most steps of a rollout or a deployment).
            # Not while tracing, where a branch on values would be frozen into the trace.
            if th.jit.is_tracing():
                starting = None
            elif length == 1:  # a rollout or a deployment step: one call
                starting = [bool(episode_starts.any())]
            else:
                starting = episode_starts.reshape(n_seq, length).any(dim=0).tolist()
            keep = None
            if starting is None or any(starting):
                keep = (1.0 - episode_starts.to(first)).reshape(n_seq, length)
            carries = [Carry((n_seq, length), v, keep, starting) for v in states]
        self._set(carries)
        try:
            yield carries
        finally:
            self._set([None] * len(self.layers))

    @staticmethod
    def flatten(carries: list[Carry], n_seq: int, like: th.Tensor) -> th.Tensor:
        """The flat state ``[n_seq, size]`` that a forward pass inside :meth:`carry` ended with."""
        if not carries:
            return like.new_zeros(n_seq, 0)
        return th.cat([t.reshape(n_seq, -1) for carry in carries for t in _tensors(carry.v)], dim=1)


def _tensors(state: LayerState) -> tuple[th.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def _joined(tensors: list[th.Tensor], like: th.Tensor) -> th.Tensor:
    """The tensors side by side, padded with zeros to the width of ``like``."""
    if not tensors:
        return th.zeros_like(like)
    joined = tensors[0] if len(tensors) == 1 else th.cat(tensors, dim=1)
    missing = like.shape[1] - joined.shape[1]
    return nn.functional.pad(joined, (0, missing)) if missing else joined


def _state_shape(v: Optional[LayerState]) -> tuple[int, ...]:
    """The shape of one sequence's state of a layer (a pair: potential and spikes, one flat vector)."""
    if v is None:
        return (0,)
    if isinstance(v, tuple):
        return (sum(part[0].numel() for part in v),)
    return tuple(v.shape[1:])
