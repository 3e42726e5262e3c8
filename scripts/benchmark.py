"""
How much a spiking policy costs: our SpikingCnnPolicy against SB3's CnnPolicy (its ANN twin), SpikingJelly's own
Deep Spiking Q-Network model (the reference: same layout, input expanded over T) and the arithmetic floor.

Everything is timed in one process, interleaved (each round calls every contender once), after a warm-up, and
reported as medians and ratios, so that a noisy, shared machine slows every contender alike:

- a DQN gradient step on a batch of 32 Atari observations (online forward, target forward, backward, Adam step)
  and acting (greedy action of a batch of 1 and of 8, under ``torch.inference_mode``), for each T and decoder;
- the peak memory of a training step;
- the spiking MLP against SB3's MlpPolicy on CartPole-sized input;
- end-to-end ``DQN.learn`` env steps/s on Breakout with a small replay buffer;
- the readout's time and peak memory at T = 8, 4000, 20000 beside a T x T integrator (``scripts/readout_cost.py``).

Run ``python scripts/benchmark.py`` (about 10 minutes on 2 CPU cores; writes docs/results/benchmark.json) or ``--quick``
(under a minute). It runs on CUDA when available (``--device``) and says whether SpikingJelly's native CUDA neuron
kernels were used.
"""

import argparse
import contextlib
import copy
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Callable

import numpy as np
import readout_cost  # scripts/readout_cost.py, beside this script
import torch as th
from gymnasium import spaces
from spikingjelly.activation_based import functional as sj_functional
from spikingjelly.activation_based.examples.dsqn.utils.model import DSQN
from stable_baselines3.dqn.policies import CnnPolicy, MlpPolicy

import sb3_spiking
from sb3_spiking.policies import SpikingCnnDQNPolicy, SpikingDQNPolicy
from sb3_spiking.snn import DECODERS

ATARI = spaces.Box(0, 255, (4, 84, 84), np.uint8)
CARTPOLE = spaces.Box(-np.inf, np.inf, (4,), np.float32)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (T=4, max-mem, few repeats) to check it works")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when available)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op CPU threads (0: PyTorch's default)")
    parser.add_argument("--T", type=int, nargs="+", default=[4, 8, 16], help="simulation steps to time")
    parser.add_argument("--decoders", nargs="+", default=list(DECODERS), choices=DECODERS, help="decoders to time at T=8")
    parser.add_argument("--batch", type=int, default=32, help="batch size of a DQN gradient step")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per measurement (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds before timing")
    parser.add_argument("--learn-steps", type=int, default=1000, help="env steps of each end-to-end DQN.learn run")
    parser.add_argument(
        "--json", default="docs/results/benchmark.json", help="also write the results, the command and the report to this file"
    )
    args = parser.parse_args()
    if args.quick:
        args.T, args.decoders, args.repeats, args.warmup, args.learn_steps = [4], ["max-mem"], 3, 1, 100
    return args


# The arithmetic floor, in multiply-accumulates per observation (Nature-CNN / DSQN layout, 84x84x4, 4 actions)
def layer_macs() -> tuple[int, int]:
    """The first convolution's MACs ``c1`` and those of the rest of the network ``R``."""
    conv1 = 32 * 20 * 20 * (4 * 8 * 8)
    conv2 = 64 * 9 * 9 * (32 * 4 * 4)
    conv3 = 64 * 7 * 7 * (64 * 3 * 3)
    return conv1, conv2 + conv3 + 64 * 7 * 7 * 512 + 512 * 4


def floor(T: int) -> dict[str, float]:
    """Our cost over the ANN's at the floor (first layer once, the rest T times), for a step and for acting."""
    c1, rest = layer_macs()
    train_ann = 3 * c1 + 4 * rest  # target forward + online forward + backward (first layer: weight gradient)
    return {
        "train": (3 * c1 + 4 * T * rest) / train_ann,
        "act": (c1 + T * rest) / (c1 + rest),
        "train_slope": 4 * rest / train_ann,  # per unit of T, in ANN steps
        "max_win_vs_expand": T * train_ann / (3 * c1 + 4 * T * rest),
    }


class Contender:
    """A Q-network with its target copy and optimizer: the three functions that the benchmark times."""

    def __init__(self, name: str, q_net: th.nn.Module, target: th.nn.Module, optimizer: th.optim.Optimizer, **kw) -> None:
        self.name, self.q_net, self.target, self.optimizer = name, q_net, target, optimizer
        self.stateful = kw.get("stateful", False)  # SpikingJelly's model: reset after every call
        self.normalize = kw.get("normalize", False)  # SpikingJelly's model takes float images in [0, 1]

    def q_values(self, net: th.nn.Module, obs: th.Tensor) -> th.Tensor:
        q = net(obs.float() / 255.0 if self.normalize else obs)
        if self.stateful:
            sj_functional.reset_net(net)
        return q

    def train_step(self, batch: dict[str, th.Tensor]) -> None:
        with th.no_grad():
            next_q = self.q_values(self.target, batch["next_obs"]).max(dim=1).values
            target = batch["rewards"] + 0.99 * (1.0 - batch["dones"]) * next_q
        q = self.q_values(self.q_net, batch["obs"]).gather(1, batch["actions"]).squeeze(1)
        loss = th.nn.functional.smooth_l1_loss(q, target)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def act(self, obs: th.Tensor) -> th.Tensor:
        with th.inference_mode():
            return self.q_values(self.q_net, obs).argmax(dim=1)


def sb3_contender(name: str, policy_class: type, space: spaces.Space, device: th.device, **kwargs) -> Contender:
    policy = policy_class(space, spaces.Discrete(4), lambda _: 1e-4, **kwargs).to(device)
    return Contender(name, policy.q_net, policy.q_net_target, policy.optimizer)


def dsqn_contender(T: int, decoder: str, device: th.device) -> Contender:
    # SpikingJelly spells one decoder last_mem
    model = DSQN(ATARI.shape, 4, T=T, dec_type=decoder.replace("last-mem", "last_mem")).to(device)
    optimizer = th.optim.Adam(model.parameters(), lr=1e-4)
    return Contender("dsqn", model, copy.deepcopy(model), optimizer, stateful=True, normalize=True)


def make_batch(space: spaces.Box, size: int, device: th.device) -> dict[str, th.Tensor]:
    def obs() -> th.Tensor:
        return th.as_tensor(np.stack([space.sample() for _ in range(size)])).to(device)

    return {
        "obs": obs(),
        "next_obs": obs(),
        "actions": th.randint(0, 4, (size, 1), device=device),
        "rewards": th.rand(size, device=device),
        "dones": th.zeros(size, device=device),
    }


def timed(
    functions: dict[str, Callable[[], object]], args: argparse.Namespace, device: th.device, factor: int = 1
) -> dict[str, float]:
    """Median milliseconds per call, interleaving the functions round by round (``factor`` times more rounds)."""

    def sync() -> None:
        if device.type == "cuda":
            th.cuda.synchronize(device)

    for _ in range(args.warmup):
        for function in functions.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(args.repeats * factor):
        for name, function in functions.items():
            sync()
            start = time.perf_counter()
            function()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def peak_memory_mb(function: Callable[[], object], device: th.device) -> float:
    """Peak memory allocated by PyTorch during one call, above what was allocated before it, in MiB."""
    if device.type == "cuda":
        th.cuda.synchronize(device)
        before = th.cuda.memory_allocated(device)
        th.cuda.reset_peak_memory_stats(device)
        function()
        th.cuda.synchronize(device)
        return (th.cuda.max_memory_allocated(device) - before) / 2**20
    # On CPU, the profiler records each allocation and free: replay them
    with th.profiler.profile(activities=[th.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        function()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as file:
            events = json.load(file)["traceEvents"]
    memory = sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e["ts"])
    live = peak = 0
    blocks: dict[int, int] = {}  # allocated during the call: frees of older blocks do not count
    for event in memory:
        size, address = event["args"]["Bytes"], event["args"]["Addr"]
        if size > 0:
            blocks[address] = size
            live += size
        else:
            live -= blocks.pop(address, 0)
        peak = max(peak, live)
    return peak / 2**20


def cnn_rows(args: argparse.Namespace, device: th.device) -> list[dict]:
    batch = make_batch(ATARI, args.batch, device)
    act_obs = {size: batch["obs"][:size] for size in (1, 8)}
    ann = sb3_contender("ann", CnnPolicy, ATARI, device)
    rows = []
    # Every T with max-mem (SpikingJelly's DSQN choice), every decoder at T=8
    cases = [(T, "max-mem") for T in args.T] + [(8, d) for d in args.decoders if d != "max-mem" and 8 in args.T]
    for T, decoder in cases:
        contenders = [sb3_contender("ours", SpikingCnnDQNPolicy, ATARI, device, T=T, decoder=decoder), ann]
        contenders.append(dsqn_contender(T, decoder, device))
        row: dict = {"T": T, "decoder": decoder, **{f"floor_{k}": v for k, v in floor(T).items()}}
        train = timed({c.name: (lambda c=c: c.train_step(batch)) for c in contenders}, args, device)
        row.update({f"train_{name}": ms for name, ms in train.items()})
        for size, obs in act_obs.items():
            # acting is cheap and its times short: more rounds
            act = timed({c.name: (lambda c=c, obs=obs: c.act(obs)) for c in contenders}, args, device, factor=5)
            row.update({f"act{size}_{name}": ms for name, ms in act.items()})
        if decoder == "max-mem":
            for c in contenders:
                row[f"mem_{c.name}"] = peak_memory_mb(lambda c=c: c.train_step(batch), device)
        rows.append(row)
        print(f"  T={T:<3} {decoder:<12} step: ours {train['ours']:.1f} ms, ANN {train['ann']:.1f} ms, "
              f"DSQN {train['dsqn']:.1f} ms", flush=True)  # fmt: skip
    return rows


def mlp_rows(args: argparse.Namespace, device: th.device) -> list[dict]:
    batch = make_batch(CARTPOLE, args.batch, device)
    ann = sb3_contender("ann", MlpPolicy, CARTPOLE, device)
    rows = []
    for T in args.T:
        ours = sb3_contender("ours", SpikingDQNPolicy, CARTPOLE, device, T=T)
        row = {
            "T": T,
            **{
                f"train_{k}": v
                for k, v in timed({c.name: (lambda c=c: c.train_step(batch)) for c in (ours, ann)}, args, device).items()
            },
        }
        row.update(
            {
                f"act1_{k}": v
                for k, v in timed(
                    {c.name: (lambda c=c: c.act(batch["obs"][:1])) for c in (ours, ann)}, args, device, 5
                ).items()
            }
        )
        rows.append(row)
    return rows


def learn_rates(args: argparse.Namespace, device: th.device) -> dict[str, float]:
    """End-to-end env steps/s of DQN.learn on Breakout, 4 stacked frames, one update every 4 steps."""
    import ale_py  # noqa: F401  (registers the Atari environments)
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    rates: dict[str, float] = {}
    policies = {"ours": ("SpikingCnnPolicy", dict(T=8)), "ann": ("CnnPolicy", {})}
    for name, (policy, kwargs) in policies.items():
        env = VecFrameStack(make_atari_env("BreakoutNoFrameskip-v4", n_envs=1, seed=0), n_stack=4)
        model = DQN(policy, env, buffer_size=10_000, learning_starts=args.learn_steps // 5, train_freq=4,
                    batch_size=args.batch, policy_kwargs=kwargs, device=device, seed=0)  # fmt: skip
        start = time.perf_counter()
        model.learn(args.learn_steps)
        rates[name] = args.learn_steps / (time.perf_counter() - start)
        env.close()
    return rates


def print_report(args, device, cnn, mlp, learn) -> None:  # type: ignore[no-untyped-def]
    print(f"\n## Machine: {platform.processor() or platform.machine()}, {th.get_num_threads()} threads, device {device}, "
          f"torch {th.__version__}, sb3-spiking {sb3_spiking.__version__}")  # fmt: skip
    if device.type == "cuda":
        from spikingjelly.activation_based.functional import neuron_implementation

        impl = neuron_implementation("lif", device)["implementation"]
        fused = impl != "torch-reference"
        print(f"GPU: {th.cuda.get_device_name(device)}; SpikingJelly LIF kernels: {impl} (fused GPU kernels: {fused})")
    else:
        print("Neurons: sb3_spiking.snn.fused (CPU); SpikingJelly's DSQN: its CPU reference kernels")
    print(f"\n### DQN gradient step, batch {args.batch} (median ms; ratios: ours / ANN, floor, ours / DSQN)\n")
    print("| T | decoder | ours | ANN | DSQN | ours/ANN | floor | ours/DSQN | DSQN/ours | peak MiB ours / ANN / DSQN |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in cnn:
        mem = f"{r['mem_ours']:.0f} / {r['mem_ann']:.0f} / {r['mem_dsqn']:.0f}" if "mem_ours" in r else ""
        print(f"| {r['T']} | {r['decoder']} | {r['train_ours']:.1f} | {r['train_ann']:.1f} | {r['train_dsqn']:.1f} | "
              f"{r['train_ours'] / r['train_ann']:.2f}x | {r['floor_train']:.2f}x | {r['train_ours'] / r['train_dsqn']:.2f} | "
              f"{r['train_dsqn'] / r['train_ours']:.2f}x (max {r['floor_max_win_vs_expand']:.2f}x) | {mem} |")  # fmt: skip
    print("\n### Acting: greedy actions, inference mode (median ms; ours / ANN against the floor)\n")
    print("| T | decoder | batch 1: ours | ANN | DSQN | ours/ANN | batch 8: ours | ANN | DSQN | ours/ANN | floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in cnn:
        print(f"| {r['T']} | {r['decoder']} | {r['act1_ours']:.2f} | {r['act1_ann']:.2f} | {r['act1_dsqn']:.2f} | "
              f"{r['act1_ours'] / r['act1_ann']:.2f}x | {r['act8_ours']:.2f} | {r['act8_ann']:.2f} | {r['act8_dsqn']:.2f} | "
              f"{r['act8_ours'] / r['act8_ann']:.2f}x | {r['floor_act']:.2f}x |")  # fmt: skip
    first = [r for r in cnn if r["decoder"] == "max-mem"]
    if len(first) > 1:
        lo, hi = first[0], first[-1]
        slope = (hi["train_ours"] - lo["train_ours"]) / (hi["T"] - lo["T"]) / lo["train_ann"]
        print(f"\nCost per unit of T (training step, max-mem): {slope:.3f} ANN steps; floor {lo['floor_train_slope']:.3f}")
    print("\n### Spiking MLP vs SB3 MlpPolicy (CartPole-sized input, net_arch [64, 64], median ms)\n")
    print("| T | step: ours | ANN | ours/ANN | act batch 1: ours | ANN | ours/ANN |")
    print("|---|---|---|---|---|---|---|")
    for r in mlp:
        print(f"| {r['T']} | {r['train_ours']:.2f} | {r['train_ann']:.2f} | {r['train_ours'] / r['train_ann']:.2f}x | "
              f"{r['act1_ours']:.3f} | {r['act1_ann']:.3f} | {r['act1_ours'] / r['act1_ann']:.2f}x |")  # fmt: skip
    if learn:
        print(f"\n### DQN.learn on Breakout ({args.learn_steps} env steps, buffer 10k, train_freq 4, batch {args.batch})\n")
        print(f"SpikingCnnPolicy (T=8): {learn['ours']:.0f} steps/s; CnnPolicy: {learn['ann']:.0f} steps/s; "
              f"ratio {learn['ann'] / learn['ours']:.2f}x")  # fmt: skip


def off_policy_report(args: argparse.Namespace, device: th.device, batch_size: int = 256) -> str:
    """
    One SAC / TD3 gradient step (critic and actor updates, targets) on Pendulum-v1, batch 256: SB3's MlpPolicy
    beside the spiking actor (ANN critics) at T=5 and T=8, timed in the same rounds; a markdown table.
    """
    from stable_baselines3 import SAC, TD3

    import sb3_spiking  # noqa: F401  (the policy names)

    lines = [
        f"### SAC / TD3 update step on Pendulum-v1, batch {batch_size}, default net_arch (median ms; ratio to the ANN)",
        "",
        "| algo | ANN | spiking T=5 | T=8 | T=5 / ANN | T=8 / ANN |",
        "|---|---|---|---|---|---|",
    ]
    for algo in (SAC, TD3):
        models = {}
        for name, policy, kwargs in (
            ("ann", "MlpPolicy", {}),
            ("T5", "SpikingMlpPolicy", dict(T=5)),
            ("T8", "SpikingMlpPolicy", dict(T=8)),
        ):
            model = algo(policy, "Pendulum-v1", learning_starts=batch_size, batch_size=batch_size, policy_kwargs=kwargs,
                         device=device, seed=0)  # fmt: skip
            model.learn(batch_size)  # fills the replay buffer, no update yet
            models[name] = model
        ms = timed(
            {name: (lambda m=m: m.train(gradient_steps=1, batch_size=batch_size)) for name, m in models.items()}, args, device
        )
        lines.append(
            f"| {algo.__name__} | {ms['ann']:.1f} | {ms['T5']:.1f} | {ms['T8']:.1f} | "
            f"{ms['T5'] / ms['ann']:.2f} | {ms['T8'] / ms['ann']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def load() -> str:
    if not hasattr(os, "getloadavg"):
        return "load unknown"
    return "load average {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())


def main() -> None:
    args = parse_args()
    if args.threads:
        th.set_num_threads(args.threads)
    device = th.device(
        "cuda" if args.device == "auto" and th.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
    )
    th.manual_seed(0)
    start = time.perf_counter()
    print(f"Machine: {os.cpu_count()} CPUs, {load()}")
    print(f"Timing the CNNs (T={args.T}, decoders {args.decoders}) on {device}...", flush=True)
    cnn = cnn_rows(args, device)
    print("Timing the MLPs...", flush=True)
    mlp = mlp_rows(args, device)
    print("Timing DQN.learn on Breakout...", flush=True)
    learn = learn_rates(args, device)
    print("Timing the SAC / TD3 updates...", flush=True)
    print("Timing the readout against T...", flush=True)
    readout = readout_cost.rows([8, 1000] if args.quick else [8, 4000, 20000], 1000 if args.quick else 4000)
    with contextlib.redirect_stdout(io.StringIO()) as report:
        print_report(args, device, cnn, mlp, learn)
        print("\n" + off_policy_report(args, device), end="")
        print("\n### " + readout_cost.format_rows(readout))
    print(report.getvalue(), end="")
    command = f"python {' '.join(sys.argv)}"
    print(f"\nCommand: {command}  ({time.perf_counter() - start:.0f} s; at the end: {load()})")
    if args.json:
        processor = platform.processor() or platform.machine()
        machine = dict(cpus=os.cpu_count(), processor=processor, threads=th.get_num_threads(), load=load())
        results = dict(command=command, torch=th.__version__, machine=machine, device=str(device), args=vars(args))
        results.update(cnn=cnn, mlp=mlp, learn=learn, readout=readout, report=report.getvalue())
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)
        print(f"Wrote {args.json}")


if __name__ == "__main__":
    main()
