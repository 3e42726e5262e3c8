"""
Train a spiking DQN (or PPO) agent on CartPole with SpikeStatsCallback logging to CSV and TensorBoard, plot the logged
spike statistics and energy estimate (lab/spike_stats.png), and write the statistics and energy tables of the
trained agent and its export round-trip errors (lab/spike_stats.md).

    nice -n 10 python lab/plot_spike_stats.py --timesteps 50000

About five minutes on two idle CPU cores.
"""

import argparse
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import torch as th
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.preprocessing import preprocess_obs

import sb3_spiking  # noqa: F401
from sb3_spiking.demos.train import CARTPOLE_SETTINGS, algorithm_kwargs
from sb3_spiking.export import action_network, nir_readout, to_nir, to_onnx, to_torchscript
from sb3_spiking.telemetry import SpikeStatsCallback
from sb3_spiking.telemetry.stats import spike_stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=70_000, help="training steps")
    parser.add_argument("--log-freq", type=int, default=2_048, help="SpikeStatsCallback log_freq (env steps)")
    parser.add_argument("--algo", choices=["dqn", "ppo"], default="dqn")
    parser.add_argument("--net-arch", type=int, nargs="+", default=[256, 256], help="hidden spiking layers")
    parser.add_argument("--neuron", choices=["if", "lif", "plif"], default="if", help="hidden spiking neuron")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logdir", default="runs/spike_stats", help="CSV and TensorBoard logs")
    parser.add_argument("--out", default="lab/spike_stats", help="writes OUT.png and OUT.md")
    parser.add_argument("--eval-episodes", type=int, default=5)
    return parser.parse_args()


def train(args: argparse.Namespace) -> BaseAlgorithm:
    """rl-zoo3's tuned CartPole DQN / PPO settings (hyperparams/dqn.yml, ppo.yml) with a spiking policy."""
    if args.algo == "dqn":
        model: BaseAlgorithm = DQN(
            "SpikingMlpPolicy",
            "CartPole-v1",
            **algorithm_kwargs("dqn"),
            # The agent of `python -m sb3_spiking.demos.train --algo dqn`: IF neurons, T=8, max-mem
            policy_kwargs=dict(net_arch=args.net_arch, neuron=args.neuron, T=8, decoder="max-mem"),
            seed=args.seed,
        )
    else:
        model = PPO(
            "SpikingMlpPolicy",
            make_vec_env("CartPole-v1", n_envs=CARTPOLE_SETTINGS["ppo"]["n_envs"], seed=args.seed),
            **algorithm_kwargs("ppo"),
            policy_kwargs=dict(net_arch=dict(pi=args.net_arch, vf=args.net_arch), neuron=args.neuron, T=8, decoder="last-mem"),
            seed=args.seed,
        )
    model.set_logger(configure(args.logdir, ["csv", "tensorboard"]))
    start = time.time()
    model.learn(args.timesteps, callback=SpikeStatsCallback(log_freq=args.log_freq, n_obs=512))
    print(f"trained {args.timesteps} steps in {time.time() - start:.0f} s")
    return model


def evaluate(model: BaseAlgorithm, episodes: int, seed: int) -> tuple[np.ndarray, list[float]]:
    """Observations met by the deterministic agent, and its episode returns."""
    env = make_vec_env("CartPole-v1", n_envs=1, seed=seed + 1000)
    observations, returns, total = [], [], 0.0
    obs = env.reset()
    while len(returns) < episodes:
        observations.append(obs[0])
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, done, _ = env.step(action)
        total += float(reward[0])
        if done[0]:
            returns.append(total)
            total = 0.0
    return np.stack(observations), returns


def export_errors(model: BaseAlgorithm, observations: np.ndarray) -> list[str]:
    """Round-trip errors of the NIR, TorchScript and ONNX exports on the evaluation observations."""
    import onnxruntime

    policy = model.policy
    obs_tensor = policy.obs_to_tensor(observations)[0]
    x = preprocess_obs(obs_tensor, policy.observation_space).float()
    with th.no_grad():
        logits = x
        for module in action_network(policy):  # Q-values (DQN) or action logits (PPO)
            logits = module(logits)
    actions, _ = model.predict(observations, deterministic=True)
    lines = ["| export | max abs error (Q-values / logits) | actions equal |", "|---|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        to_nir(policy, f"{tmp}/actor.nir")
        import nir

        nir_logits = nir_readout(nir.read(f"{tmp}/actor.nir"), x)
        agree = float((nir_logits.argmax(dim=1).numpy() == actions).mean())
        lines.append(f"| NIR (file, re-simulated) | {float((nir_logits - logits).abs().max()):.2e} | {agree:.4f} |")
        scripted = to_torchscript(policy, f"{tmp}/actor.pt")
        with th.no_grad():
            ts_actions = scripted(obs_tensor).numpy()
        lines.append(f"| TorchScript | - | {float((ts_actions == actions).mean()):.4f} |")
        to_onnx(policy, f"{tmp}/actor.onnx")
        session = onnxruntime.InferenceSession(f"{tmp}/actor.onnx")
        onnx_actions = session.run(None, {"observations": observations.astype(np.float32)})[0]
        lines.append(f"| ONNX (onnxruntime) | - | {float((onnx_actions == actions).mean()):.4f} |")
    return lines


def plot(logdir: str, path: Path, title: str) -> None:
    log = pd.read_csv(Path(logdir) / "progress.csv")
    steps = log["time/total_timesteps"]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    axes[0].plot(steps, log["rollout/ep_rew_mean"], color="black")
    axes[0].set_title("episode return")
    for ax, kind, name in ((axes[1], "rate", "firing rate (spikes / neuron / step)"), (axes[2], "silent", "silent neurons")):
        for column in sorted(c for c in log.columns if c.startswith(f"spikes/{kind}/")):
            data = log[["time/total_timesteps", column]].dropna()
            label = column.split("/", 2)[2]
            ax.plot(data["time/total_timesteps"], data[column], marker=".", label=label)
        ax.set_title(name)
        ax.legend(fontsize=8)
    energy = log[["time/total_timesteps", "energy/sop", "energy/ratio_vs_ann"]].dropna()
    axes[3].plot(energy["time/total_timesteps"], energy["energy/sop"], marker="o", color="tab:green", linewidth=3)
    axes[3].set_ylabel("SOP / observation (action network)", color="tab:green")
    twin = axes[3].twinx()
    twin.plot(energy["time/total_timesteps"], energy["energy/ratio_vs_ann"], marker=".", color="tab:red")
    twin.set_ylabel("SNN / ANN energy", color="tab:red")
    axes[3].set_title("synaptic operations and energy")
    for ax in axes:
        ax.set_xlabel("environment steps")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    args = parse_args()
    th.manual_seed(args.seed)
    model = train(args)
    out = Path(args.out)
    network = f"T=8, {args.neuron.upper()}, hidden {args.net_arch}"
    title = f"Spiking {args.algo.upper()} on CartPole-v1 ({network}): SpikeStatsCallback logs"
    plot(args.logdir, out.with_suffix(".png"), title)
    observations, returns = evaluate(model, args.eval_episodes, args.seed)
    with th.no_grad(), spike_stats(model.policy) as stats:
        model.predict(observations, deterministic=True)
    critic = None
    if isinstance(model, PPO):
        with th.no_grad(), spike_stats(model.policy) as critic:
            model.policy.predict_values(model.policy.obs_to_tensor(observations)[0])
    report = [
        f"# Spike statistics of a trained spiking {args.algo.upper()} agent on CartPole-v1 "
        f"({args.timesteps} steps, seed {args.seed}, hidden {args.net_arch}, T=8, {args.neuron.upper()})",
        "",
        f"Deterministic evaluation: returns {returns}, {len(observations)} observations.",
        "",
        "## Action network (Q-network or actor): spike statistics",
        stats.table(),
        "",
        *(["## Critic: spike statistics", critic.table(), ""] if critic is not None else []),
        "## Action network: synaptic operations and energy per observation (45 nm: 4.6 pJ / MAC, 0.9 pJ / AC)",
        stats.energy().table(),
        "",
        "## Export round trip on the same observations",
        *export_errors(model, observations),
    ]
    text = "\n".join(report) + "\n"
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
