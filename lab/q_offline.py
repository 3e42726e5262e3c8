"""
The spiking DQN's bootstrapped learning without its exploration: DQN's updates on a fixed buffer of a teacher's
transitions (offline), spiking (package defaults) against SB3's MlpPolicy.

``lab/q_regression.py`` shows that the spiking Q-network fits fixed targets as fast as the ANN, and
``lab/q_frozen_norm.py`` that the drift of its observation statistics does not make it late on MountainCar. What is
left is DQN itself: the targets that move with the network (bootstrapping) and the data it collects (exploration).
Here the data is fixed: 50,000 transitions of the teacher of ``lab/q_regression.py`` acting epsilon-greedily (epsilon
0.3, so that every action is seen in the states that matter), in the replay buffer of a fresh DQN with rl-zoo3's tuned
settings (the buffer holds them all), which then runs DQN's own ``train()`` as the online algorithm does (its gradient
steps per ``train_freq`` steps, the target network copied every ``target_update_interval`` steps), without acting.
The greedy return of 5 episodes is measured as the updates go. If the spiking network is as fast as the ANN here, what
makes it late online is the data it collects, not the bootstrapping::

    python lab/q_offline.py                         # writes lab/q_offline.md (MountainCar-v0)
    python lab/q_offline.py --seeds 0 --out -       # prints only
"""

from collections.abc import Iterator
from typing import Any, Optional

import numpy as np
import torch as th
from episodes import epsilon_greedy
from lab_report import finish_report, made_by
from q_regression import greedy_return, teacher, teacher_parser, zoo_settings
from stable_baselines3 import DQN
from stable_baselines3.common.logger import Logger

import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)

POLICIES = {"ANN (MlpPolicy)": "MlpPolicy", "SNN (SpikingMlpPolicy)": "SpikingMlpPolicy"}


def fill_buffer(model: DQN, source: DQN, env_id: str, n: int, epsilon: float, seed: int) -> None:
    """``n`` transitions of ``source`` acting epsilon-greedily, into ``model``'s replay buffer."""
    for obs, action, reward, next_obs, terminated in epsilon_greedy(env_id, n, seed, source, epsilon):
        # As SB3 stores a time-limit end: not done, so that the target bootstraps from the next state
        model.replay_buffer.add(
            obs[None], next_obs[None], np.array([action]), np.array([reward]), np.array([terminated]), [{}]
        )


def offline_model(
    env_id: str, policy: Any, seed: int, source: DQN, n: int = 50_000, policy_kwargs: Optional[dict[str, Any]] = None
) -> DQN:
    """A fresh DQN (rl-zoo3's tuned settings, ``policy_kwargs`` added to its own), its replay buffer filled with ``n``
    of ``source``'s transitions."""
    settings, _ = zoo_settings(env_id)
    policy_kwargs = dict(settings["policy_kwargs"], **(policy_kwargs or {}))
    settings = dict(settings, buffer_size=n, learning_starts=0, policy_kwargs=policy_kwargs)
    model = DQN(policy, env_id, seed=seed, device="cpu", **settings)
    model.set_logger(Logger(folder=None, output_formats=[]))
    fill_buffer(model, source, env_id, n, epsilon=0.3, seed=1000 + seed)
    return model


def offline_updates(model: DQN, updates: list[int]) -> Iterator[int]:
    """Run DQN's updates on the fixed buffer; yield the number of env steps' worth done at each of ``updates``."""
    steps = 0
    for target in updates:
        while steps < target:
            for _ in range(model.train_freq.frequency):
                model.num_timesteps += 1
                model._on_step()  # the target network's copy, every target_update_interval steps
            steps += model.train_freq.frequency
            model.train(gradient_steps=model.gradient_steps, batch_size=model.batch_size)
        yield steps


def offline_run(env_id: str, policy: str, seed: int, source: DQN, updates: list[int]) -> list[float]:
    """A fresh DQN's greedy return after each number of env steps' worth of updates in ``updates``."""
    model = offline_model(env_id, policy, seed, source)
    return [greedy_return(model, env_id, episodes=5) for _ in offline_updates(model, updates)]


def main(argv: Optional[list[str]] = None) -> str:
    parser = teacher_parser(__doc__, "lab/q_offline.md", [0, 1, 2])
    parser.add_argument("--updates", type=int, nargs="+", default=[10_000, 20_000, 40_000, 80_000], help="env steps' worth")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    source = teacher(args.env, args.cache)
    command = made_by("lab/q_offline.py", argv)
    lines = [
        f"Made by `{command}`: fresh DQNs (rl-zoo3's tuned {args.env} settings) updated offline on 50,000 transitions "
        f"of the teacher of `lab/q_regression.py` (epsilon 0.3), seeds {args.seeds}. Greedy return (5 episodes) after "
        "the updates of each number of env steps; median over seeds (min to max).",
        "",
        "| policy | " + " | ".join(f"{steps:,} steps" for steps in args.updates) + " |",
        "|---|" + "---:|" * len(args.updates),
    ]
    for label, policy in POLICIES.items():
        runs = np.array([offline_run(args.env, policy, seed, source, args.updates) for seed in args.seeds])
        cells = [f"{np.median(col):.1f} ({col.min():.0f} to {col.max():.0f})" for col in runs.T]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return finish_report(lines, args.out)


if __name__ == "__main__":
    main()
