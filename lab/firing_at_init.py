"""
Hidden-layer firing rates of freshly initialised spiking PPO policies on real CartPole-v1 observations.

The policy of an early tuning run (docs/guide/zoo.rst) (``net_arch=dict(pi=[64], vf=[64])``, ``T=16``, SB3's default
``ortho_init=True``) with IF neurons and with LIF neurons of time constant 2 and 4, one policy per seed. The
observations come from random-action episodes (seeded), so they have CartPole's real scale. The rate of a layer is
the fraction of its neuron-steps with a spike (spikes / (neurons x observations x T)), measured with
:func:`sb3_spiking.spike_stats`::

    python lab/firing_at_init.py                        # writes lab/firing_at_init.md
    python lab/firing_at_init.py --seeds 0 1 --out -    # prints only
"""

import argparse
import sys
from typing import Optional

import numpy as np
import torch as th
from lab_report import write_report
from stable_baselines3 import PPO

from sb3_spiking import spike_stats
from sb3_spiking.telemetry import random_play

SETTINGS = {"IF": dict(neuron="if"), "LIF tau=2": dict(neuron="lif", tau=2.0), "LIF tau=4": dict(neuron="lif", tau=4.0)}


def firing_rates(setting: dict, seed: int, observations: np.ndarray, T: int = 16) -> dict[str, float]:
    """Firing rate of each hidden spiking layer, and of all of them together (``"all"``), at initialisation."""
    policy_kwargs = dict(net_arch=dict(pi=[64], vf=[64]), T=T, spiking_critic=True, **setting)  # the value layer spikes too
    model = PPO("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=policy_kwargs, seed=seed, device="cpu")
    model.policy.set_training_mode(False)  # as in the first rollout: the observation statistics are still the identity
    with th.no_grad(), spike_stats(model.policy) as stats:
        model.policy(model.policy.obs_to_tensor(observations)[0])
    rates = {name: layer.rate for name, layer in stats.layers.items()}
    spikes = sum(layer.n_spikes for layer in stats.layers.values())
    steps = sum(layer.n_neurons * layer.n_obs * layer.T for layer in stats.layers.values())
    return dict(rates, all=spikes / steps)


def main(argv: Optional[list[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="policy seeds")
    parser.add_argument("--n-obs", type=int, default=2048, help="CartPole observations (random actions)")
    parser.add_argument("--T", type=int, default=16, help="simulation steps per observation")
    parser.add_argument("--out", default="lab/firing_at_init.md", help="output file ('-': print only)")
    args = parser.parse_args(argv)
    th.set_num_threads(1)

    observations = random_play("CartPole-v1", args.n_obs).astype(np.float32)
    command = "python lab/firing_at_init.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        f"Firing rates at initialisation, made by `{command.strip()}`: spiking PPO policy, `net_arch=dict(pi=[64], "
        f"vf=[64])`, T={args.T}, `ortho_init=True`, {args.n_obs} CartPole-v1 observations from random actions. "
        "Rate = spikes per neuron per step.",
        "",
        "| neuron | seed | policy layer | value layer | all hidden |",
        "|---|---:|---:|---:|---:|",
    ]
    summary = ["", "| neuron | all hidden, mean over seeds | min | max |", "|---|---:|---:|---:|"]
    for label, setting in SETTINGS.items():
        totals = []
        for seed in args.seeds:
            rates = firing_rates(setting, seed, observations, args.T)
            policy_layer = next(value for name, value in rates.items() if "policy_net" in name)
            value_layer = next(value for name, value in rates.items() if "value_net" in name)
            lines.append(f"| {label} | {seed} | {policy_layer:.3f} | {value_layer:.3f} | {rates['all']:.3f} |")
            totals.append(rates["all"])
        summary.append(f"| {label} | {np.mean(totals):.3f} | {min(totals):.3f} | {max(totals):.3f} |")
    text = "\n".join(lines + summary) + "\n"
    write_report(text, args.out)
    return text


if __name__ == "__main__":
    main()
