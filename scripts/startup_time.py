"""
What the sb3-spiking autoload costs at interpreter start-up.

Starts ``python -c pass`` many times with the autoload on and with it off (``SB3_SPIKING_AUTOLOAD=0``, which skips
the ``.pth`` line before it imports anything, as if the plugin were not installed), alternating the two so that
machine load hits both alike, and prints the median start-up times and their ratio. It also reads the hook
module's own import time from ``python -X importtime``.

    python scripts/startup_time.py --runs 40
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time


def start_up_seconds(python: str, autoload: bool) -> float:
    """Wall time of one ``python -c pass``."""
    env = dict(os.environ, SB3_SPIKING_AUTOLOAD="1" if autoload else "0")
    start = time.perf_counter()
    subprocess.run([python, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - start


def hook_import_microseconds(python: str) -> int:
    """Self import time of ``sb3_spiking_autoload`` at start-up (0 if it is not imported, e.g. not installed)."""
    env = dict(os.environ, SB3_SPIKING_AUTOLOAD="1")
    result = subprocess.run([python, "-X", "importtime", "-c", "pass"], env=env, capture_output=True, text=True, check=True)
    match = re.search(r"import time:\s+(\d+)\s+\|\s+\d+\s+\|\s+sb3_spiking_autoload\s*$", result.stderr, re.MULTILINE)
    return int(match.group(1)) if match else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--runs", type=int, default=30, help="start-ups of each kind")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the environment to measure")
    args = parser.parse_args()

    on, off = [], []
    for _ in range(args.runs):
        on.append(start_up_seconds(args.python, autoload=True))
        off.append(start_up_seconds(args.python, autoload=False))
    median_on, median_off = statistics.median(on), statistics.median(off)
    hook_us = statistics.median(hook_import_microseconds(args.python) for _ in range(5))
    print(f"interpreter: {args.python}")
    print(f"start-up, autoload on : {median_on * 1e3:7.2f} ms (median of {args.runs})")
    print(f"start-up, autoload off: {median_off * 1e3:7.2f} ms (median of {args.runs})")
    print(f"ratio on / off        : {median_on / median_off:7.3f}")
    print(f"hook module import    : {hook_us / 1e3:7.2f} ms (python -X importtime, self time)")


if __name__ == "__main__":
    main()
