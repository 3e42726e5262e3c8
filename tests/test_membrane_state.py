"""
The two layouts of a stateful network's potentials (``sb3_spiking.snn.membrane_state``): RecurrentPPO's halves
``(h, c)`` hold the flat state cut between two of its tensors, each part padded with zeros; read and written without
the flat vector.
"""

import pytest
import torch as th

from sb3_spiking.snn.membrane_state import MembraneState
from sb3_spiking.snn.stateful import Carry


def membrane_state(shapes, pairs):
    state = MembraneState([])
    state.shapes, state.pairs = shapes, pairs
    return state


def as_flat(layer_states, n_seq):
    tensors = [t for s in layer_states for t in (s if isinstance(s, tuple) else (s,))]
    return th.cat([t.reshape(n_seq, -1) for t in tensors], dim=1)


LAYOUTS = [
    # shapes, pairs (potential and spikes), half, columns of h used: the state is cut after the last tensor that fits
    # the suite's actor: two recurrent layers of 64 (potential, spikes), the readout: 128 | 130
    ([(128,), (128,), (2,)], [True, True, False], 130, 128),
    ([(128,), (128,), (1,)], [True, True, False], 130, 128),  # its critic in the same halves: c padded by one zero
    ([(64,), (64,), (2,)], [False, False, False], 66, 64),  # no recurrent synapses
    ([(2, 3, 3), (5,), (0,), (1,)], [False, False, False, False], 18, 18),  # a CNN layer, an empty state (fr-mlp)
    ([(4,), (1,)], [True, False], 8, 5),  # all of it in h, c only zeros
]


@pytest.mark.parametrize("shapes, pairs, half, in_h", LAYOUTS)
def test_halves_hold_the_flat_state_cut_between_two_tensors(shapes, pairs, half, in_h):
    state = membrane_state(shapes, pairs)
    n_seq = 3
    generator = th.Generator().manual_seed(0)
    h, c = th.rand(2, n_seq, half, generator=generator)
    flat = th.cat((h[:, :in_h], c[:, : state.size - in_h]), dim=1)
    th.testing.assert_close(state.flat_from_halves(h, c), flat)
    layers = state.from_halves(h, c)
    assert [isinstance(s, tuple) for s in layers] == pairs
    for got, want in zip(layers, state.split(flat)):
        for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            assert g.shape == w.shape
            th.testing.assert_close(g, w)
    th.testing.assert_close(as_flat(layers, n_seq), flat)
    # Back: new potentials (the flat state + 1) written as halves, zeros after each part
    carries = [Carry((n_seq, 1), s) for s in state.split(flat + 1.0)]
    new_h, new_c = state.to_halves(carries, h)
    assert new_h.shape == new_c.shape == (n_seq, half)
    th.testing.assert_close(th.cat((new_h[:, :in_h], new_c[:, : state.size - in_h]), dim=1), flat + 1.0)
    assert not new_h[:, in_h:].any() and not new_c[:, state.size - in_h :].any()
    th.testing.assert_close(MembraneState.flatten(carries, n_seq, h), flat + 1.0)


def test_the_narrowest_halves_cut_between_two_tensors():
    assert membrane_state([(128,), (128,), (2,)], [True, True, False]).best_half() == 130
    assert membrane_state([(64,), (64,), (64,), (64,)], [False] * 4).best_half() == 128
    assert membrane_state([(2, 3, 3), (5,), (0,), (1,)], [False] * 4).best_half() == 18
    assert membrane_state([], []).best_half() == 1


def test_halves_too_small_for_the_state_are_refused():
    state = membrane_state([(128,), (2,)], [True, False])
    with pytest.raises(ValueError, match=r"2 x 65 values cannot hold the 130 potentials .* it needs 2 x 66"):
        state.from_halves(th.zeros(1, 65), th.zeros(1, 65))
