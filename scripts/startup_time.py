"""
What the sb3-spiking autoload costs a process that imports Stable-Baselines3 but uses no spiking policy.

Runs ``python -c "import stable_baselines3"`` many times with the autoload on and with it off
(``SB3_SPIKING_AUTOLOAD=0``, which skips the ``.pth`` line before it imports anything, as if the plugin were not
installed), alternating the two so that machine load hits both alike, and prints the fastest whole-process time
of each and their ratio (the fastest run is the one least disturbed by other work; medians are noise on a busy
machine). It also reads ``python -X importtime``: the hook module's own import time at start-up, and which
modules ``import stable_baselines3`` imports with the autoload on that it does not import with it off.

    python scripts/startup_time.py --runs 20
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

CODE = "import stable_baselines3"
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s+)(\S+)\s*$", re.MULTILINE)


def environment(autoload: bool) -> dict:
    return dict(os.environ, SB3_SPIKING_AUTOLOAD="1" if autoload else "0", OMP_NUM_THREADS="1")


def process_seconds(python: str, autoload: bool) -> float:
    """Wall time of one whole ``python -c "import stable_baselines3"`` process."""
    env = environment(autoload)
    start = time.perf_counter()
    subprocess.run([python, "-c", CODE], env=env, check=True)
    return time.perf_counter() - start


def import_times(python: str, autoload: bool) -> dict:
    """``python -X importtime``: each imported module's self time in microseconds."""
    result = subprocess.run(
        [python, "-X", "importtime", "-c", CODE], env=environment(autoload), capture_output=True, text=True, check=True
    )
    return {match.group(4): int(match.group(1)) for match in IMPORT_LINE.finditer(result.stderr)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--runs", type=int, default=20, help="processes of each kind (at least 15)")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the environment to measure")
    args = parser.parse_args()
    if args.runs < 15:
        parser.error("--runs must be at least 15")

    process_seconds(args.python, autoload=True)  # warm the file cache before measuring
    on, off = [], []
    for _ in range(args.runs):
        on.append(process_seconds(args.python, autoload=True))
        off.append(process_seconds(args.python, autoload=False))
    fastest_on, fastest_off = min(on), min(off)

    hook_us = statistics.median(import_times(args.python, autoload=True).get("sb3_spiking_autoload", 0) for _ in range(5))
    extra = sorted(set(import_times(args.python, autoload=True)) - set(import_times(args.python, autoload=False)))

    print(f"interpreter: {args.python}")
    print(f'command    : python -c "{CODE}", {args.runs} runs each way, interleaved')
    print(f"autoload on : fastest {fastest_on * 1e3:7.1f} ms, median {statistics.median(on) * 1e3:7.1f} ms")
    print(f"autoload off: fastest {fastest_off * 1e3:7.1f} ms, median {statistics.median(off) * 1e3:7.1f} ms")
    print(f"ratio on / off (fastest): {fastest_on / fastest_off:.3f}  (target <= 1.05)")
    print(f"hook module sb3_spiking_autoload: {hook_us / 1e3:.2f} ms self time in python -X importtime (median of 5)")
    print(f"modules imported only with the autoload on: {', '.join(extra) or 'none'}")


if __name__ == "__main__":
    main()
