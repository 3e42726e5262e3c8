"""
Memory and time of the non-spiking readout against ``T``: the readout as it is (one matrix product up to
``BLOCK`` steps, block by block beyond) side by side with a ``T x T`` integrator matrix (the readout before
it went block by block), forward and backward of a batch::

    python scripts/readout_cost.py                 # T = 8, 4000, 20000 (the T x T matrix up to 4000)
    python scripts/readout_cost.py --T 8 64 1000 --quadratic-up-to 1000

Each measurement runs in a fresh process: its peak resident memory (``ru_maxrss``) above what the process held
before the call is the readout's cost. ``scripts/benchmark.py`` prints the same table.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch as th
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


class QuadraticReadout(nn.Module):
    """A max-mem readout through the ``[T, T]`` integrator matrix (what the readout did before; for comparison)."""

    def __init__(self, linear: nn.Module, T: int, tau: float = 2.0) -> None:
        super().__init__()
        from sb3_spiking.snn import leaky_integrator_kernel

        self.linear = linear
        self.register_buffer("kernel", leaky_integrator_kernel(T, tau), persistent=False)

    def forward(self, x: th.Tensor) -> th.Tensor:
        current = self.linear(x)
        v = th.mm(self.kernel, current.reshape(current.shape[0], -1)).view(-1, *current.shape[1:])
        return v.max(dim=0).values


def measure_one(kind: str, T: int, batch: int, features: int, repeats: int) -> dict:
    """Peak memory (MiB) and median time (ms) of building the readout and a forward + backward pass."""
    import resource

    from sb3_spiking.snn import NonSpikingReadout

    th.set_num_threads(1)
    th.manual_seed(0)
    linear = nn.Linear(features, 4)
    spikes = (th.rand(T, batch, features) < 0.2).float()

    def build() -> nn.Module:
        return NonSpikingReadout(linear, T, "max-mem") if kind == "linear" else QuadraticReadout(linear, T)

    NonSpikingReadout(linear, 8, "max-mem")(spikes[:8]).sum().backward()  # warm up PyTorch's kernels
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        build()(spikes).sum().backward()
        times.append(time.perf_counter() - start)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return {"kind": kind, "T": T, "ms": 1000 * sorted(times)[len(times) // 2], "peak_mib": peak}


def measure(kind: str, T: int, batch: int = 8, features: int = 64, repeats: int = 5) -> dict:
    """:func:`measure_one` in a fresh process (so that its peak memory is its own)."""
    code = f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'scripts')!r}); "
    code += f"import readout_cost; print(json.dumps(readout_cost.measure_one({kind!r}, {T}, {batch}, {features}, {repeats})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=900)
    return json.loads(result.stdout.strip().splitlines()[-1])


def rows(T_values: list[int], quadratic_up_to: int, batch: int = 8, features: int = 64) -> list[dict]:
    """One row per ``T``: this readout and the ``T x T`` one (None beyond ``quadratic_up_to``)."""
    table = []
    for T in T_values:
        repeats = 21 if T <= 64 else 3
        row = {"T": T, "linear": measure("linear", T, batch, features, repeats)}
        row["quadratic"] = measure("quadratic", T, batch, features, repeats) if T <= quadratic_up_to else None
        table.append(row)
    return table


def format_rows(table: list[dict], batch: int = 8, features: int = 64) -> str:
    lines = [f"Readout (max-mem, batch {batch}, {features} inputs, 4 outputs), forward + backward, one thread:", ""]
    lines += [
        "| T | time ms: block by block | T x T matrix | peak MiB: block by block | T x T matrix |",
        "|---|---|---|---|---|",
    ]
    for row in table:
        linear, quadratic = row["linear"], row["quadratic"]
        theirs = (f"{quadratic['ms']:.3f}", f"{quadratic['peak_mib']:.0f}") if quadratic else ("not run", "not run")
        lines.append(f"| {row['T']} | {linear['ms']:.3f} | {theirs[0]} | {linear['peak_mib']:.0f} | {theirs[1]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("::")[0].strip())
    parser.add_argument("--T", type=int, nargs="+", default=[8, 4000, 20000], help="simulation steps")
    parser.add_argument("--quadratic-up-to", type=int, default=4000, help="largest T for the T x T matrix (GBs beyond)")
    args = parser.parse_args()
    print(format_rows(rows(args.T, args.quadratic_up_to)))


if __name__ == "__main__":
    main()
