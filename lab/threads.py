"""
What torch's thread count does to a small SAC update on a shared CPU: 200 gradient steps of SAC on Pendulum-v1
(batch 256, the default networks), the spiking actor (``SpikingMlpPolicy``) and SB3's ``MlpPolicy``, each with
1 and with 2 intra-op threads, every setting in its own process, the settings interleaved for ``--rounds`` rounds.
It prints the median seconds per setting and the 2-thread / 1-thread ratio, with the load average before and after.

    nice -n 10 python lab/threads.py --rounds 3 --out lab/threads.txt
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
import torch as th
th.set_num_threads(int(sys.argv[2]))
import sb3_spiking  # noqa: F401
from stable_baselines3 import SAC
model = SAC(sys.argv[1], "Pendulum-v1", learning_starts=300, batch_size=256, seed=0)
model.learn(300)  # fills the replay buffer, no update yet
start = time.perf_counter()
model.train(gradient_steps=int(sys.argv[3]), batch_size=256)
print(json.dumps(time.perf_counter() - start))
"""


def run(policy: str, threads: int, updates: int) -> float:
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, policy, str(threads), str(updates)], env=env, capture_output=True, text=True, check=True
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1]))


def main(argv: "list[str] | None" = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every setting")
    parser.add_argument("--updates", type=int, default=200, help="SAC gradient steps per run")
    parser.add_argument("--out", default="-", help="also write the report to this file ('-': print only)")
    args = parser.parse_args(argv)
    policies, counts = ("SpikingMlpPolicy", "MlpPolicy"), (1, 2)
    load_before = os.getloadavg()
    times: dict = {(policy, n): [] for policy in policies for n in counts}
    for _ in range(args.rounds):
        for policy in policies:
            for n in counts:
                times[(policy, n)].append(run(policy, n, args.updates))
    load_after = os.getloadavg()
    command = "python lab/threads.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        f"Made by `{command}`: {args.updates} SAC updates on Pendulum-v1 (batch 256), median of {args.rounds} runs "
        f"per setting, {os.cpu_count()} CPU cores; load average (1 min) {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after.",
        "",
        "| policy | 1 thread (s) | 2 threads (s) | 2 threads / 1 thread |",
        "|---|---:|---:|---:|",
    ]
    for policy in policies:
        one, two = statistics.median(times[(policy, 1)]), statistics.median(times[(policy, 2)])
        lines.append(f"| {policy} | {one:.1f} | {two:.1f} | {two / one:.1f}x |")
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if args.out != "-":
        with open(args.out, "w") as file:
            file.write(report)


if __name__ == "__main__":
    main()
