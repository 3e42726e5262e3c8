"""
What changes in the spiking A2C on CartPole-v1 between its best evaluation (500) and its end (about 340), under the
actor-critic policies' earlier default (the value function spiking too: the suite's ``snn-spikingcritic``)?

rl-zoo3 keeps two models of each learning-suite run: ``best_model.zip`` (the best evaluation so far) and the final
one. This compares them, and the ANN's, on the same states (those of both models' greedy episodes, 10 each,
seeded):

- greedy episodes: mean return, and how the failed ones end (the cart off the track, or the pole fallen);
- the value function: its mean and spread over the states, and the TD residual ``1 + gamma V(s') - V(s)`` along
  each model's own greedy episodes (its std: how noisy the advantages that train the actor are);
- the policy: the mean probability of its greedy action (how deterministic it has become) and the share of states
  on which the two models' greedy actions differ;
- the input standardisation: its running mean and std per observation dimension;
- per hidden spiking layer (:func:`sb3_spiking.telemetry.stats.spike_stats`): the firing rate and the shares of
  silent and saturated neurons. If the layers drift into silence or saturation between the two models, a
  normalisation inside the spiking layers is what the fall-back calls for; if they do not, it is not::

    python lab/a2c_fallback.py                      # writes lab/a2c_fallback.md
    python lab/a2c_fallback.py --seeds 0 1 --out -
"""

import argparse
import glob
import os
import sys

import gymnasium as gym
import numpy as np
import torch as th
from lab_report import write_report
from stable_baselines3 import A2C

import sb3_spiking  # noqa: F401  (registers the spiking policies for loading)
from sb3_spiking.snn.normalization import RunningNorm
from sb3_spiking.telemetry.stats import spike_stats, spiking_layers

# The lab candidate's models name their policy class lab.candidates...: the repository root must be importable
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

X_LIMIT, THETA_LIMIT = 2.4, 0.2095  # CartPole-v1's termination bounds (cart position, pole angle in radians)


def run_folder(logs: str, task: str, policy: str, seed: int, env_id: str) -> str:
    """The rl-zoo3 folder of one suite run (holding ``best_model.zip`` and the final model)."""
    paths = glob.glob(os.path.join(logs, task, f"{policy}-seed{seed}", "a2c", f"{env_id}_*"))
    if not paths:
        raise FileNotFoundError(f"no {policy} run of {task} seed {seed} under {logs}: run the learning suite first")
    return sorted(paths)[-1]


def greedy_episodes(model: A2C, env_id: str, episodes: int) -> tuple[list[float], list[str], list[np.ndarray]]:
    """Returns and endings of greedy episodes (env seeds 0, 1, ...), and the states each visits."""
    env = gym.make(env_id)
    returns, endings, visited = [], [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        done, total = False, 0.0
        visited.append([])
        while not done:
            visited[-1].append(obs)
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            done, total = terminated or truncated, total + float(reward)
        returns.append(total)
        if terminated:
            endings.append("track" if abs(obs[0]) > X_LIMIT else "pole")
    return returns, endings, [np.array(states, dtype=np.float32) for states in visited]


@th.no_grad()
def probabilities(model: A2C, states: th.Tensor) -> th.Tensor:
    """The policy's action probabilities on a batch of states."""
    model.policy.set_training_mode(False)
    return model.policy.get_distribution(states).distribution.probs


@th.no_grad()
def td_residuals(model: A2C, episodes: list[np.ndarray]) -> th.Tensor:
    """``1 + gamma * V(s') - V(s)`` over the steps of the episodes (CartPole pays 1 a step), the last step left out."""
    residuals = []
    for states in episodes:
        values = model.policy.predict_values(th.as_tensor(states)).squeeze(1)
        residuals.append(1.0 + model.gamma * values[1:] - values[:-1])
    return th.cat(residuals)


def describe(name: str, model: A2C, episodes: tuple[list[float], list[str], list[np.ndarray]], states: th.Tensor) -> list[str]:
    """One model's lines of the report."""
    returns, endings, visited = episodes
    model.policy.set_training_mode(False)
    values = model.policy.predict_values(states).detach()
    residuals = td_residuals(model, visited)
    probs = probabilities(model, states)
    lines = [
        f"- {name}: greedy return {np.mean(returns):.1f} (min {np.min(returns):.0f}); failed episodes end with "
        f"the cart off the track {endings.count('track')}, the pole fallen {endings.count('pole')}; probability of the "
        f"greedy action {float(probs.max(dim=1).values.mean()):.3f}",
        f"  - value: mean {float(values.mean()):.1f}, spread {float(values.std()):.2f} over the states; TD residual on its "
        f"own greedy episodes: mean {float(residuals.mean()):.3f}, std {float(residuals.std()):.3f}",
    ]
    norms = [module for module in model.policy.modules() if isinstance(module, RunningNorm)]
    for index, norm in enumerate(norms):
        mean = ", ".join(f"{value:.3g}" for value in norm.running_mean.tolist())
        std = ", ".join(f"{value:.3g}" for value in norm.running_var.sqrt().tolist())
        lines.append(f"  - input standardisation {index}: mean {mean}; std {std}")
    if not spiking_layers(model.policy):
        return lines
    with spike_stats(model.policy) as stats, th.no_grad():
        probabilities(model, states)
        model.policy.predict_values(states)
    for layer, spikes in stats.layers.items():
        lines.append(f"  - {layer}: rate {spikes.rate:.3f}, silent {spikes.silent:.2f}, saturated {spikes.saturated:.2f}")
    return lines


def compare(args: argparse.Namespace, policy: str, seed: int) -> list[str]:
    """Best against final model of one run, on the states of both models' greedy episodes."""
    folder = run_folder(args.logs, args.task, policy, seed, args.env)
    models = {
        "best": A2C.load(os.path.join(folder, "best_model.zip"), device="cpu"),
        "final": A2C.load(os.path.join(folder, f"{args.env}.zip"), device="cpu"),
    }
    episodes = {name: greedy_episodes(model, args.env, args.episodes) for name, model in models.items()}
    states = th.as_tensor(np.concatenate([np.concatenate(visited) for _, _, visited in episodes.values()]))
    greedy = {name: probabilities(model, states).argmax(dim=1) for name, model in models.items()}
    differ = float((greedy["best"] != greedy["final"]).float().mean())
    lines = [f"### {policy}, seed {seed}", "", f"{len(states)} states; greedy actions differ on {differ:.1%} of them", ""]
    for name, model in models.items():
        lines += describe(name, model, episodes[name], states)
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", default="logs/learning_suite", help="the learning suite's log folder")
    parser.add_argument("--task", default="cartpole-a2c")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--policies", nargs="+", default=["snn-spikingcritic", "snn-anncritic", "ann"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--episodes", type=int, default=10, help="greedy episodes per model")
    parser.add_argument("--out", default="lab/a2c_fallback.md", help="output file ('-': print only)")
    args = parser.parse_args()
    lines = [
        f"Made by `python lab/a2c_fallback.py --seeds {' '.join(map(str, args.seeds))} --policies {' '.join(args.policies)}`, "
        "from the models of the last suite run of each in the log folder.",
        "",
        f"Best (`best_model.zip`) against final model of the learning suite's {args.task} runs, on the states of both "
        f"models' greedy episodes ({args.episodes} each).",
        "",
    ]
    for policy in args.policies:
        for seed in args.seeds:
            lines += compare(args, policy, seed)
    text = "\n".join(lines)
    write_report(text, args.out)


if __name__ == "__main__":
    main()
