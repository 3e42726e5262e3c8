"""
What spike statistics cost: forward time of a spiking policy that never met spike_stats ("never"), of one that
was measured before (hooks registered, then removed: "after"), and inside spike_stats ("on"). Timings are
interleaved (never, after, on, never, ...) and compared by their medians.

    nice -n 10 python lab/spike_stats_overhead.py --rounds 200
"""

import argparse
import copy
import time

import numpy as np
import torch as th
from stable_baselines3 import DQN, PPO
from torch.nn.modules import module as torch_module

import sb3_spiking  # noqa: F401


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200, help="interleaved rounds (median over them)")
    parser.add_argument("--repeats", type=int, default=10, help="forward passes per timing")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def timer(policy: th.nn.Module, obs: th.Tensor, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        policy._predict(obs, deterministic=True)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    args = parse_args()
    th.set_num_threads(args.threads)
    hooks_before = len(torch_module._global_forward_hooks) + len(torch_module._global_forward_pre_hooks)
    from sb3_spiking.telemetry.stats import spike_stats

    hooks_after = len(torch_module._global_forward_hooks) + len(torch_module._global_forward_pre_hooks)
    print(f"global module hooks before / after importing sb3_spiking.telemetry: {hooks_before} / {hooks_after}")
    print("| algo | batch | never (us) | after (us) | on (us) | after / never | on / never |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for algo in (DQN, PPO):
        model = algo("SpikingMlpPolicy", "CartPole-v1", policy_kwargs=dict(T=8), seed=0, device="cpu")
        never = model.policy
        after = copy.deepcopy(never)
        for batch_size in args.batch_sizes:
            obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(batch_size)]))
            with spike_stats(after):
                after._predict(obs, deterministic=True)
            times: dict[str, list[float]] = {"never": [], "after": [], "on": []}
            with th.no_grad():
                for policy in (never, after):
                    timer(policy, obs, args.repeats)  # warm-up
                for _ in range(args.rounds):
                    times["never"].append(timer(never, obs, args.repeats))
                    times["after"].append(timer(after, obs, args.repeats))
                    with spike_stats(after):
                        times["on"].append(timer(after, obs, args.repeats))
            median = {key: float(np.median(value)) * 1e6 for key, value in times.items()}
            print(
                f"| {algo.__name__} | {batch_size} | {median['never']:.0f} | {median['after']:.0f} | {median['on']:.0f} "
                f"| {median['after'] / median['never']:.3f} | {median['on'] / median['never']:.2f} |"
            )


if __name__ == "__main__":
    main()
