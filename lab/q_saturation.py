"""
Why the spiking DQN's bootstrapped updates lag the ANN's on a fixed buffer (``lab/q_offline.py``): its second layer
saturates, and its Q-values then cannot tell a state from the next one.

A spiking network is piecewise constant in its input: its output changes only where a change of the input changes a
spike. DQN's target for a transition ``(s, a, r, s')`` is ``r + gamma * max Q_target(s')``; where ``Q(s') == Q(s)``
exactly, the update pulls ``Q(s, a)`` towards the fixed point ``r / (1 - gamma)`` whatever the return beyond, and
the return propagates back only across the transitions that change a spike. A LIF neuron's count of spikes over the
``T`` steps is graded only over a narrow band of input currents (about 1 to 2 thresholds for ``tau=2``): below it
the neuron is silent, above it it fires on every step. Adam moves every weight by about the learning rate per step
whatever its scale, so the updates can push a layer's currents out of that band, after which its neurons are binary.

The same offline setting as ``lab/q_offline.py`` (50,000 of the teacher's transitions, DQN's own ``train()``), and
after each number of env steps' worth of updates, on 3,000 of the buffer's transitions: the share whose Q-values are
exactly the same for ``s`` and ``s'``; per hidden layer, the share of (state, neuron) pairs at 0 or ``T`` spikes and
the number of neurons whose count differs between ``s`` and ``s'``. A higher ``v_threshold`` draws the weights on a
larger scale (the spikes at initialisation are the same), so that the same Adam steps move the currents relatively
less. Batch-normalising the hidden currents (``lab/candidates.py``) keeps them in the band whatever the weights::

    python lab/q_saturation.py                         # writes lab/q_saturation.md (MountainCar-v0)
    python lab/q_saturation.py --seeds 0 --out -       # prints only
"""

import os
import sys
from typing import Any, Optional

import numpy as np
import torch as th
from lab_report import finish_report, made_by
from q_offline import offline_model, offline_updates
from q_regression import teacher, teacher_parser
from spikingjelly.activation_based import functional
from spikingjelly.activation_based import neuron as sj_neuron
from stable_baselines3 import DQN

import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository, for lab.candidates

from lab.candidates import DirectPathSpikingDQNPolicy, FixedNormalisedSpikingDQNPolicy, NormalisedSpikingDQNPolicy

STUDENTS: dict[str, tuple[Any, dict[str, Any]]] = {
    "ANN (MlpPolicy)": ("MlpPolicy", {}),
    "SNN (defaults)": ("SpikingMlpPolicy", {}),
    "SNN, v_threshold=4": ("SpikingMlpPolicy", dict(v_threshold=4.0)),
    "SNN, v_threshold=16": ("SpikingMlpPolicy", dict(v_threshold=16.0)),
    "SNN, direct linear path (lab.candidates)": (DirectPathSpikingDQNPolicy, {}),
    "SNN, hidden currents batch-normalised (lab.candidates)": (NormalisedSpikingDQNPolicy, {}),
    "SNN, hidden currents batch-normalised, fixed scale (lab.candidates)": (FixedNormalisedSpikingDQNPolicy, {}),
}


def spike_counts(model: DQN, x: th.Tensor) -> list[th.Tensor]:
    """Each hidden spiking layer's spike counts over the ``T`` steps, ``[B, neurons]``, for the inputs ``x``."""
    counts: list[th.Tensor] = []
    hooks = [
        module.register_forward_hook(lambda _module, _inputs, out: counts.append(out.sum(0)))
        for module in model.q_net.modules()
        if isinstance(module, sj_neuron.BaseNode)
    ]
    try:
        functional.reset_net(model.q_net)
        model.q_net(x)
    finally:
        for hook in hooks:
            hook.remove()
    return counts


def reading(model: DQN, obs: th.Tensor, next_obs: th.Tensor) -> list[float]:
    """The same-Q share, then per hidden layer the saturated share and the neurons changed per transition."""
    model.q_net.set_training_mode(False)
    with th.no_grad():
        row = [float(((model.q_net(next_obs) - model.q_net(obs)).abs().max(dim=1).values == 0).float().mean())]
        T = getattr(getattr(model.policy, "spiking", None), "T", None)
        for now, then in zip(spike_counts(model, obs), spike_counts(model, next_obs)):
            row += [float(((now == 0) | (now == T)).float().mean()), float((now != then).float().sum(dim=1).mean())]
    return row


def readings(env_id: str, student: tuple[Any, dict], seed: int, source: DQN, updates: list[int], n: int) -> np.ndarray:
    """``[len(updates), readings]`` of one fresh DQN on the fixed buffer."""
    policy, knobs = student
    model = offline_model(env_id, policy, seed, source, policy_kwargs=knobs)
    buffer = model.replay_buffer
    picked = np.random.default_rng(seed).choice(buffer.size(), n, replace=False)
    obs, next_obs = (th.as_tensor(array[picked, 0]) for array in (buffer.observations, buffer.next_observations))
    return np.array([reading(model, obs, next_obs) for _ in offline_updates(model, updates)])


def main(argv: Optional[list[str]] = None) -> str:
    parser = teacher_parser(__doc__, "lab/q_saturation.md", [0, 1, 2])
    parser.add_argument("--updates", type=int, nargs="+", default=[0, 1_000, 2_000, 8_000, 16_000], help="env steps' worth")
    parser.add_argument("--transitions", type=int, default=3_000, help="buffer transitions read at each checkpoint")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    source = teacher(args.env, args.cache)
    lines = [
        f"Made by `{made_by('lab/q_saturation.py', argv)}`: fresh DQNs (rl-zoo3's tuned {args.env} settings) updated "
        f"offline on 50,000 transitions of the teacher of `lab/q_regression.py` (epsilon 0.3), seeds {args.seeds}, as "
        f"in `lab/q_offline.py`. On {args.transitions:,} of the buffer's transitions after each number of env steps' "
        "worth of updates (8 gradient steps per 16): the share whose Q-values are exactly the same for the state and "
        "the next one; per hidden spiking layer, the share of (state, neuron) pairs at 0 or T spikes (saturated) and "
        "the number of its neurons whose spike count differs between the state and the next one. Median over seeds "
        "(min to max).",
        "",
        "| policy | reading | " + " | ".join(f"{steps:,} steps" for steps in args.updates) + " |",
        "|---|---|" + "---:|" * len(args.updates),
    ]
    for label, student in STUDENTS.items():
        runs = np.array([readings(args.env, student, seed, source, args.updates, args.transitions) for seed in args.seeds])
        names = ["same Q(s), Q(s')"]
        for layer in range(1, (runs.shape[2] - 1) // 2 + 1):
            names += [f"layer {layer} saturated", f"layer {layer} neurons changed"]
        for column, name in enumerate(names):
            form = "{:.1f}" if name.endswith("changed") else "{:.2f}"
            columns = runs[:, :, column].T
            cells = [f"{form.format(np.median(v))} ({form.format(v.min())} to {form.format(v.max())})" for v in columns]
            lines.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    return finish_report(lines, args.out)


if __name__ == "__main__":
    main()
