"""
What the sb3-spiking autoload costs a process that imports Stable-Baselines3 but uses no spiking policy.

Runs ``python -c "import stable_baselines3"`` many times with the autoload on and with it off
(``SB3_SPIKING_AUTOLOAD=0``, which skips the ``.pth`` line before it imports anything, as if the plugin were not
installed), alternating the two so that machine load hits both alike, and prints the fastest whole-process time
of each and their ratio (the fastest run is the one least disturbed by other work; medians are noise on a busy
machine): wall time, and CPU time (user + system), which other processes on a busy machine disturb far less.
It also reads ``python -X importtime``: the hook module's own import time at start-up, and which modules
``import stable_baselines3`` imports with the autoload on that it does not import with it off. The hook module's
bytecode is compiled first, as a regular install (or the first import of an editable one) leaves it.

    python lab/startup_time.py --runs 20
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

CODE = "import stable_baselines3"
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s+)(\S+)\s*$", re.MULTILINE)


def environment(autoload: bool) -> dict:
    return dict(os.environ, SB3_SPIKING_AUTOLOAD="1" if autoload else "0", OMP_NUM_THREADS="1")


def compile_hook(python: str) -> str:
    """Write the hook module's ``.pyc`` (even where ``PYTHONDONTWRITEBYTECODE`` is set); return its path."""
    code = "import py_compile, sb3_spiking_autoload as hook; print(py_compile.compile(hook.__file__, doraise=True))"
    result = subprocess.run([python, "-c", code], env=environment(False), capture_output=True, text=True, check=True)
    return result.stdout.strip()


def process_seconds(python: str, autoload: bool) -> tuple:
    """Wall time and CPU time (user + system) of one whole ``python -c "import stable_baselines3"`` process."""
    env = environment(autoload)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([python, "-c", CODE], env=env, check=True)
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime
    return wall, cpu


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

    bytecode = compile_hook(args.python)
    load_before = os.getloadavg()[0]
    process_seconds(args.python, autoload=True)  # warm the file cache before measuring
    on, off = [], []
    for _ in range(args.runs):
        on.append(process_seconds(args.python, autoload=True))
        off.append(process_seconds(args.python, autoload=False))

    hook_us = statistics.median(import_times(args.python, autoload=True).get("sb3_spiking_autoload", 0) for _ in range(5))
    extra = sorted(set(import_times(args.python, autoload=True)) - set(import_times(args.python, autoload=False)))

    print(f"interpreter: {args.python}")
    print(f"load average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"hook bytecode: {bytecode}")
    print(f'command    : python -c "{CODE}", {args.runs} runs each way, interleaved')
    for index, kind in enumerate(("wall", "CPU (user + system)")):
        times_on, times_off = [run[index] for run in on], [run[index] for run in off]
        print(f"{kind} time:")
        print(f"  autoload on : fastest {min(times_on) * 1e3:7.1f} ms, median {statistics.median(times_on) * 1e3:7.1f} ms")
        print(f"  autoload off: fastest {min(times_off) * 1e3:7.1f} ms, median {statistics.median(times_off) * 1e3:7.1f} ms")
        print(f"  ratio on / off (fastest): {min(times_on) / min(times_off):.3f}  (target <= 1.05)")
        paired = statistics.median(time_on / time_off for time_on, time_off in zip(times_on, times_off))
        print(f"  median of the {args.runs} paired ratios on / off: {paired:.3f}")
    print(f"hook module sb3_spiking_autoload: {hook_us / 1e3:.2f} ms self time in python -X importtime (median of 5)")
    print(f"modules imported only with the autoload on: {', '.join(extra) or 'none'}")


if __name__ == "__main__":
    main()
