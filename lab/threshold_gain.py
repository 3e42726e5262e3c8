"""
Would a learnable threshold let a spiking layer compute anything it cannot compute now?

With the package's neurons (IF or LIF, membrane starting at 0, hard reset to 0 or soft reset by the threshold), the
membrane is a linear function of the input current, so a neuron with threshold ``theta`` fed the current ``x``
fires exactly when a neuron with threshold 1 fed ``x / theta`` does: a threshold is the inverse of a gain on the
neuron's incoming weights and bias, which training already learns. This checks it on random currents, per neuron
kind and reset, and measures what does change: the surrogate gradient that reaches the current (in the rescaled
layer it is the original one scaled by ``1 / theta`` and with its width scaled by ``theta``)::

    python lab/threshold_gain.py                    # writes lab/threshold_gain.md
"""

import argparse

import torch as th
from lab_report import write_report

from sb3_spiking.snn import SpikingConfig


def spikes_and_grad(config: SpikingConfig, current: th.Tensor, weights: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """A layer's spikes on ``current`` ``[T, B, N]`` and the gradient of ``sum(spikes * weights)`` on that current."""
    current = current.clone().requires_grad_(True)
    spikes = config.make_neuron()(current)
    (spikes * weights).sum().backward()
    return spikes.detach(), current.grad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thresholds", nargs="+", type=float, default=[0.5, 2.0])
    parser.add_argument("--out", default="lab/threshold_gain.md", help="output file ('-': print only)")
    args = parser.parse_args()
    generator = th.Generator().manual_seed(0)
    current = th.randn(8, 4096, 64, generator=generator)  # T=8 steps, 4096 states, 64 neurons
    weights = th.randn(8, 4096, 64, generator=generator)
    lines = [
        "Made by `python lab/threshold_gain.py`.",
        "",
        "Random currents (T = 8, 4096 states, 64 neurons, standard normal): a layer with threshold theta on the current x "
        "against a layer with threshold 1 on x / theta. Spikes that differ (of 2.1M), and the gradient on x of the "
        "rescaled layer (chain rule included) relative to the original's, as the ratio of their norms.",
        "",
        "| neuron | reset | theta | spikes that differ | gradient norm, rescaled / original |",
        "|---|---|---:|---:|---:|",
    ]
    for neuron in ("if", "lif"):
        for reset in ("hard", "soft"):
            for theta in args.thresholds:
                spikes, grad = spikes_and_grad(SpikingConfig(neuron=neuron, reset=reset, v_threshold=theta), current, weights)
                rescaled = SpikingConfig(neuron=neuron, reset=reset, v_threshold=1.0)
                spikes_1, grad_1 = spikes_and_grad(rescaled, current / theta, weights)
                differ = int((spikes != spikes_1).sum())
                ratio = float(grad_1.norm() / theta / grad.norm())  # d/dx of f(x / theta) = f'(x / theta) / theta
                lines.append(f"| {neuron} | {reset} | {theta:g} | {differ} | {ratio:.3f} |")
    text = "\n".join(lines) + "\n"
    write_report(text, args.out)


if __name__ == "__main__":
    main()
