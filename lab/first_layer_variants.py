"""
The hidden layers of a fresh spiking Q-network under the first-layer knobs (``input_span``, ``input_spread``,
``input_gain``), on the states it will meet.

The network is the Q-network that rl-zoo3's CartPole / MountainCar DQN settings build (``net_arch=[256, 256]``, the
package defaults otherwise), its observation statistics those of random-action episodes (as early in training).
The probe states are those episodes' states for CartPole-v1, and states drawn uniformly over MountainCar-v0's
whole observation space (where a trained agent goes, far from the early statistics). Per hidden layer and setting,
averaged over 3 network seeds:

- the firing rate (spikes per neuron and step);
- the share of silent neurons (no spike on any probe state): the surrogate gradient hardly reaches them;
- the share of saturated neurons (a spike at every step on every state);
- the share of near-constant neurons (their rate varies by less than one spike in 8 steps over all states): they
  tell no state from another::

    python lab/first_layer_variants.py                 # writes lab/first_layer_variants.md
    python lab/first_layer_variants.py --out -         # prints only
"""

import argparse
import sys
from typing import Optional

import gymnasium as gym
import numpy as np
import torch as th
from lab_report import write_report
from spikingjelly.activation_based import neuron as sj_neuron
from stable_baselines3 import DQN

import sb3_spiking  # noqa: F401  (registers the spiking policies)
from sb3_spiking.snn import RunningNorm
from sb3_spiking.telemetry import random_play

OFF = dict(centre_second_layer=False)
SETTINGS = {
    "input_span=0 (the earlier defaults)": dict(input_span=0.0, **OFF),
    "input_span=3": dict(input_span=3.0, **OFF),
    "input_span=3, input_spread=0.5": dict(input_span=3.0, input_spread=0.5, **OFF),
    "input_span=2, input_gain=1 (graded)": dict(input_span=2.0, input_gain=1.0, **OFF),
    "input_span=3, input_gain=1": dict(input_span=3.0, input_gain=1.0, **OFF),
    "input_span=1.5, input_gain=2": dict(input_span=1.5, input_gain=2.0, **OFF),
    "input_span=3, centre_second_layer (today's defaults)": dict(input_span=3.0, centre_second_layer=True),
}
TASKS = {"CartPole-v1": False, "MountainCar-v0": True}  # whether the probe states are uniform over the space


def probe_states(env_id: str, n: int, seed: int, uniform: bool) -> tuple[np.ndarray, np.ndarray]:
    """The states of random-action episodes (the statistics) and the probe states."""
    played = random_play(env_id, n, seed).astype(np.float32)
    if not uniform:
        return played, played
    space = gym.make(env_id).observation_space
    probe = np.random.default_rng(seed).uniform(space.low, space.high, size=(n, space.shape[0]))
    return played, probe.astype(np.float32)


def layer_health(env_id: str, knobs: dict, seed: int, uniform: bool, n: int = 4000) -> np.ndarray:
    """``[layers, 4]``: rate, silent, saturated and near-constant shares of each hidden layer."""
    model = DQN("SpikingMlpPolicy", env_id, policy_kwargs=dict(net_arch=[256, 256], **knobs), seed=seed)
    q_net = model.policy.q_net.eval()
    played, probe = probe_states(env_id, n, seed, uniform)
    for norm in (module for module in q_net.modules() if isinstance(module, RunningNorm)):
        norm.update(th.as_tensor(played))
    spikes: list[th.Tensor] = []
    hooks = [
        module.register_forward_hook(lambda _m, _i, out: spikes.append(out.detach()))
        for module in q_net.modules()
        if isinstance(module, sj_neuron.BaseNode)
    ]
    with th.no_grad():
        q_net(th.as_tensor(probe))
    for hook in hooks:
        hook.remove()
    rows = []
    for train in spikes:
        rate = train.mean(dim=0)  # [states, neurons]
        high, low = rate.max(dim=0).values, rate.min(dim=0).values
        rows.append([float(rate.mean()), float((high == 0).float().mean()), float((low == 1).float().mean()),
                     float((high - low < 0.125).float().mean())])  # fmt: skip
    return np.array(rows)


def main(argv: Optional[list[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="network seeds")
    parser.add_argument("--out", default="lab/first_layer_variants.md", help="output file ('-': print only)")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    seeds = "" if args.seeds == [0, 1, 2] else " --seeds " + " ".join(map(str, args.seeds))
    command = f"python lab/first_layer_variants.py{seeds}"
    lines = [f"Made by `{command}`.", ""]
    for env_id, uniform in TASKS.items():
        where = "uniform over the observation space" if uniform else "the random-action states"
        lines += [
            f"## {env_id} (probe states: {where})",
            "",
            "| setting | layer | rate | silent | saturated | near-constant |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, knobs in SETTINGS.items():
            health = np.mean([layer_health(env_id, knobs, seed, uniform) for seed in args.seeds], axis=0)
            for layer, (rate, silent, saturated, constant) in enumerate(health, start=1):
                lines.append(f"| {name} | {layer} | {rate:.2f} | {silent:.2f} | {saturated:.2f} | {constant:.2f} |")
        lines.append("")
    text = "\n".join(lines)
    write_report(text, args.out, show=False)
    return text


if __name__ == "__main__":
    sys.stdout.write(main() + "\n")
