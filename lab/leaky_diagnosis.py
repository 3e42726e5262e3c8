"""
Why leaky neurons struggle on small vector observations, measured at initialisation on real observations.

The network is the hidden part of the spiking Q-network that rl-zoo3's CartPole / MountainCar DQN settings build
(``net_arch=[256, 256]``, T=8, the package's threshold-aware initialisation), fed with observations from
random-action episodes (seeded) of CartPole-v1, MountainCar-v0 and Pendulum-v1. For IF, LIF (tau=2, the package
default) and PLIF (tau=2 at the start) neurons, and for the current initialisation and candidate fixes, it reports
per hidden layer:

- the input current against the threshold (quantiles of the current, averaged over the T steps, over v_threshold,
  and the share of neuron-observation pairs whose current exceeds the threshold);
- the firing rate, the share of silent neurons (no spike on any observation), the share of neuron-observation
  pairs that are graded (0 < rate < 1: the spike count still tells inputs apart) and saturated (a spike every step);
- the mean surrogate gradient (ATan, the package default; 1 at the threshold) over all neuron-steps: how much
  gradient reaches the weights before the readout.

The candidate fixes: ``norm`` standardises each observation dimension with the mean and std of the first
observations (what VecNormalize does, without clipping); ``calib`` scales each layer's weights, in order, so that
the layer fires at a target rate (0.2) on the first observations (bisection on the scale); ``norm+calib`` both;
``norm+centre`` sets each neuron's bias so that its median current on the first observations sits in the middle of
the band of constant currents that the neuron turns into a graded rate (IF: threshold / T to threshold; LIF tau=2:
about 1 to 2 thresholds).
The measurements use other observations than the ones the fixes were fitted on::

    python lab/leaky_diagnosis.py                    # writes lab/leaky_diagnosis.md (a few minutes)
    python lab/leaky_diagnosis.py --seeds 0 --out -  # prints only
"""

import argparse
import sys
from typing import Optional

import numpy as np
import torch as th
from torch import nn

from sb3_spiking.snn import SpikingConfig, spiking_mlp
from sb3_spiking.snn.fused import surrogate_gradient
from sb3_spiking.telemetry import random_play

ENVS = ("CartPole-v1", "MountainCar-v0", "Pendulum-v1")
# PLIF starts as LIF with the same tau (its 1 / tau = sigmoid(w) is set from it): at initialisation its rows would
# repeat LIF's exactly, so it is left out; LIF tau=4 shows the effect of the time constant
NEURONS = {"IF": dict(neuron="if"), "LIF tau=2": dict(neuron="lif", tau=2.0), "LIF tau=4": dict(neuron="lif", tau=4.0)}
VARIANTS = ("init", "norm", "calib", "norm+calib", "norm+centre")
NET_ARCH = [256, 256]


def observations(env_id: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` observations met by uniformly random actions (episodes reset as they end), as float32."""
    return random_play(env_id, n, seed).astype(np.float32)


def charge_coefficients(neuron: nn.Module) -> tuple[float, float]:
    """``(a, b)`` of the charge ``h = a * v + b * x`` of an IF / LIF / PLIF layer."""
    if hasattr(neuron, "w"):  # PLIF: 1 / tau = sigmoid(w)
        q = float(th.sigmoid(neuron.w))
        return 1.0 - q, q
    if hasattr(neuron, "tau"):
        return 1.0 - 1.0 / float(neuron.tau), 1.0 / float(neuron.tau)
    return 1.0, 1.0


def layer_records(net: nn.Sequential, x: th.Tensor) -> list[dict[str, th.Tensor]]:
    """Each spiking layer's input current ``[T, B, N]``, its spikes, and its pre-spike potential (simulated again)."""
    inputs: list[tuple[nn.Module, th.Tensor, th.Tensor]] = []
    hooks = [
        module.register_forward_hook(lambda m, args, out: inputs.append((m, args[0].detach(), out.detach())))
        for module in net
        if hasattr(module, "v_threshold")
    ]
    with th.no_grad():
        net(x)
    for hook in hooks:
        hook.remove()
    records = []
    for neuron, current, spikes in inputs:
        a, b = charge_coefficients(neuron)
        v_threshold = float(neuron.v_threshold)
        v = th.zeros_like(current[0])
        potentials, simulated = [], []
        for step in current:
            h = a * v + b * step
            fired = (h >= v_threshold).float()
            potentials.append(h)
            simulated.append(fired)
            v = h * (1.0 - fired)
        simulated_spikes = th.stack(simulated)
        # the simulation must agree with the network's own neurons (up to rounding at the threshold: the fused
        # update orders its floating-point operations differently), or the measurements mean nothing
        mismatch = float((simulated_spikes != spikes).float().mean())
        assert mismatch < 1e-3, f"simulated spikes differ from the network's at {mismatch:.2%} of neuron-steps"
        records.append(dict(current=current, spikes=spikes, h=th.stack(potentials), v_threshold=th.tensor(v_threshold)))
    return records


def measure(record: dict[str, th.Tensor]) -> dict[str, float]:
    """The per-layer quantities of the table."""
    theta = float(record["v_threshold"])
    relative = (record["current"].mean(dim=0) / theta).flatten()
    rate = record["spikes"].mean(dim=0)  # [B, N]
    surrogate = surrogate_gradient("atan", 2.0, (record["h"] - theta).clone())
    return dict(
        i_p50=float(relative.quantile(0.5)),
        i_p90=float(relative.quantile(0.9)),
        above=float((relative > 1.0).float().mean()),
        rate=float(rate.mean()),
        silent=float((rate.sum(dim=0) == 0).float().mean()),
        graded=float(((rate > 0) & (rate < 1)).float().mean()),
        saturated=float((rate == 1).float().mean()),
        surrogate=float(surrogate.mean()),
    )


def synaptic_layers(net: nn.Sequential) -> list[nn.Linear]:
    return [module for module in net if isinstance(module, nn.Linear)]


def calibrate_(net: nn.Sequential, x: th.Tensor, target: float = 0.2, iterations: int = 16) -> list[float]:
    """Scale each linear layer's weights, first to last, so that the layer's neurons fire at ``target`` on ``x``."""
    scales = []
    for index, linear in enumerate(synaptic_layers(net)):
        weight = linear.weight.detach().clone()
        low, high = -8.0, 8.0  # log2 of the scale
        for _ in range(iterations):
            middle = (low + high) / 2
            with th.no_grad():
                linear.weight.copy_(weight * 2.0**middle)
            rate = float(layer_records(net, x)[index]["spikes"].mean())
            low, high = (middle, high) if rate < target else (low, middle)
        with th.no_grad():
            linear.weight.copy_(weight * 2.0 ** ((low + high) / 2))
        scales.append(2.0 ** ((low + high) / 2))
    return scales


def graded_band(neuron: nn.Module, T: int) -> tuple[float, float]:
    """The constant currents (over the threshold) that give a rate strictly between 0 and 1 within ``T`` steps."""
    a, b = charge_coefficients(neuron)
    # from rest, h after n steps of a constant x: b * x * (1 + a + ... + a^(n-1)); fires within T steps iff
    # that reaches the threshold at n = T, and fires at every step iff it does at n = 1
    return 1.0 / (b * sum(a**n for n in range(T))), 1.0 / b


def centre_(net: nn.Sequential, x: th.Tensor, T: int) -> None:
    """Set each layer's biases, first to last, so that every neuron's median current sits mid-band on ``x``."""
    neurons = [module for module in net if hasattr(module, "v_threshold")]
    for index, (linear, neuron) in enumerate(zip(synaptic_layers(net), neurons)):
        low, high = graded_band(neuron, T)
        current = layer_records(net, x)[index]["current"].mean(dim=0)  # [B, N]
        with th.no_grad():
            linear.bias.add_(float(neuron.v_threshold) * (low + high) / 2 - current.median(dim=0).values)


def run(env_id: str, label: str, variant: str, seed: int, fit: np.ndarray, test: np.ndarray, T: int) -> list[dict]:
    """Measurements of each hidden layer of one freshly initialised network."""
    th.manual_seed(seed)
    config = SpikingConfig(T=T, **NEURONS[label])
    net = spiking_mlp(fit.shape[1], NET_ARCH, config)
    fit_t, test_t = th.as_tensor(fit), th.as_tensor(test)
    if "norm" in variant:
        mean, std = fit_t.mean(dim=0), fit_t.std(dim=0) + 1e-8
        fit_t, test_t = (fit_t - mean) / std, (test_t - mean) / std
    scales = calibrate_(net, fit_t) if "calib" in variant else [1.0] * len(NET_ARCH)
    if "centre" in variant:
        centre_(net, fit_t, T)
    return [dict(measure(record), scale=scale) for record, scale in zip(layer_records(net, test_t), scales)]


def main(argv: Optional[list[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), help="gymnasium ids with vector observations")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="network seeds (averaged)")
    parser.add_argument("--n-obs", type=int, default=512, help="observations to fit the fixes on, and as many to measure")
    parser.add_argument("--T", type=int, default=8, help="simulation steps per observation")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", default="lab/leaky_diagnosis.md", help="output file ('-': print only)")
    args = parser.parse_args(argv)
    th.set_num_threads(args.threads)
    command = "python lab/leaky_diagnosis.py " + " ".join(sys.argv[1:] if argv is None else argv)

    lines = [
        f"Made by `{command.strip()}`: hidden layers `net_arch={NET_ARCH}`, T={args.T}, v_threshold 1, "
        f"{args.n_obs} observations from random actions to fit the fixes on and {args.n_obs} others to measure, "
        f"mean over network seeds {args.seeds}. I/theta: input current (mean over T) / threshold, quantiles over "
        "neuron-observation pairs; >theta: share of pairs above the threshold; silent: share of neurons that never fire; "
        "graded / saturated: share of pairs firing on some / every step; surrogate: mean ATan surrogate gradient "
        "over neuron-steps; scale: the calibration's weight factor.",
        "",
        "| env | neuron | variant | layer | I/theta p50 | I/theta p90 | >theta | rate | silent | graded | saturated "
        "| surrogate | scale |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for env_id in args.envs:
        data = observations(env_id, 2 * args.n_obs)
        fit, test = data[: args.n_obs], data[args.n_obs :]
        means = ", ".join(f"{m:.3g}" for m in test.mean(axis=0))
        stds = ", ".join(f"{s:.3g}" for s in test.std(axis=0))
        lines.append(f"| {env_id} | observation mean per dim: {means}; std: {stds} | | | | | | | | | | | |")
        for label in NEURONS:
            for variant in VARIANTS:
                per_seed = [run(env_id, label, variant, seed, fit, test, args.T) for seed in args.seeds]
                for layer in range(len(NET_ARCH)):
                    m = {key: np.mean([layers[layer][key] for layers in per_seed]) for key in per_seed[0][layer]}
                    lines.append(
                        f"| {env_id} | {label} | {variant} | {layer + 1} | {m['i_p50']:.2f} | {m['i_p90']:.2f} "
                        f"| {m['above']:.2f} | {m['rate']:.3f} | {m['silent']:.2f} | {m['graded']:.2f} "
                        f"| {m['saturated']:.2f} | {m['surrogate']:.3f} | {m['scale']:.2f} |"
                    )
                print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out != "-":
        with open(args.out, "w") as file:
            file.write(text)
    else:
        print(text)
    return text


if __name__ == "__main__":
    main()
