"""
The Deep Spiking Q-Network (DSQN) of SpikingJelly's tutorial and Atari example on Breakout, with the stock
Nature-CNN DQN beside it.

The defaults are the reference DSQN setting (SpikingJelly's example): T=8, ``max-mem`` readout, LIF neurons,
Adam lr 2.5e-4, gamma 0.99, replay 1e6, 50k warm-up steps, target sync every 10k steps, epsilon 1.0 -> 0.1 over
1M steps, batch 128 with one update every 4 env steps, 20M env steps, DeepMind wrappers. SB3's DQN uses the Huber
loss where the reference uses the mean squared error, and evaluates greedily where it uses epsilon 0.05.

A full run takes about 15 hours of an H200 per agent (docs/results/gpu.md) and is far out of reach on a CPU; the
``--quick`` smoke run checks that the whole path (Atari wrappers, spiking CNN, replay, updates, evaluation) works::

    python scripts/dsqn_breakout.py --policy snn                 # the full-scale DSQN run (GPU: ~15 h on an H200)
    python scripts/dsqn_breakout.py --policy ann                 # the stock DQN, same settings
    python scripts/dsqn_breakout.py --quick --policy both        # smoke run of both, seconds

For runs longer than a machine is available, ``--time-limit`` ends each run after that many seconds and
``--save PREFIX --save-replay`` keeps the model and its replay memory; ``--resume PREFIX`` continues from them::

    python scripts/dsqn_breakout.py --policy snn --time-limit 10000 --save run --save-replay
    python scripts/dsqn_breakout.py --policy snn --time-limit 10000 --resume run --save run --save-replay
"""

import argparse
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

import numpy as np


@dataclass
class Args:
    env_id: str = "BreakoutNoFrameskip-v4"  # Atari game (NoFrameskip-v4 ids, DeepMind wrappers)
    policy: str = "snn"  # snn (DSQN, SpikingCnnPolicy), ann (stock CnnPolicy) or both
    total_timesteps: int = 20_000_000  # env steps per run
    T: int = 8  # simulation time steps of the spiking network
    decoder: str = "max-mem"  # readout of the non-spiking output neurons
    neuron: str = "lif"  # hidden neuron model: if, lif or plif
    learning_rate: float = 2.5e-4  # Adam's learning rate
    buffer_size: int = 1_000_000  # replay memory size
    learning_starts: int = 50_000  # env steps before learning starts
    batch_size: int = 128  # minibatch size
    train_freq: int = 4  # env steps between updates
    target_update_interval: int = 10_000  # env steps between target network syncs
    exploration_steps: int = 1_000_000  # env steps over which epsilon goes from 1.0 to 0.1
    eval_freq: int = 100_000  # env steps between evaluations (0: none)
    eval_episodes: int = 30  # episodes per evaluation
    max_episode_frames: int = 108_000  # emulator frames before an episode is cut (DeepMind: 30 minutes of play)
    seed: int = 123  # seed of the environments and of the network
    device: str = "auto"  # torch device
    save: str = ""  # where to save the trained model(s), a prefix: PREFIX_snn.zip, PREFIX_ann.zip ('' for nowhere)
    save_replay: bool = False  # also save the replay memory beside each model, PREFIX_snn_replay.pkl (56 GB at full scale)
    resume: str = ""  # continue the models saved under this prefix (and their replay memory, if saved) up to total-timesteps
    log: str = ""  # where to write each run's evaluations.npz, a folder per policy under it ('' for nowhere)
    time_limit: float = 0.0  # stop training after this many seconds of wall time (0: train for total-timesteps)
    quick: bool = False  # smoke run: tiny budget, buffer and batch, one short evaluation


def parse_args(argv: Optional[list[str]] = None) -> Args:
    """One command-line flag per :class:`Args` field, its comment as the help."""
    import inspect

    comments = {}
    for line in inspect.getsource(Args).splitlines():
        if ":" in line and "#" in line:
            comments[line.split(":")[0].strip()] = line.split("#", 1)[1].strip()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field in fields(Args):
        flag = "--" + field.name.replace("_", "-")
        if field.type in (bool, "bool"):
            parser.add_argument(flag, action="store_true", help=comments.get(field.name))
        else:
            kind = {"int": int, "float": float, "str": str}.get(str(field.type), field.type)
            parser.add_argument(flag, type=kind, default=field.default, help=comments.get(field.name))
    args = Args(**vars(parser.parse_args(argv)))
    if args.policy not in ("snn", "ann", "both"):
        raise ValueError(f"Unknown policy {args.policy!r}: valid choices are 'snn', 'ann', 'both'")
    if args.quick:
        args.total_timesteps, args.buffer_size, args.learning_starts, args.batch_size = 300, 1_000, 100, 8
        args.target_update_interval, args.exploration_steps, args.eval_freq, args.eval_episodes = 200, 200, 200, 1
        args.max_episode_frames = 200
    return args


def make_model(args: Args, policy: str, env: Any) -> Any:
    """A new DQN with the reference DSQN settings, spiking (``policy="snn"``) or the stock Nature CNN (``"ann"``)."""
    from stable_baselines3 import DQN

    policy_kwargs = dict(T=args.T, decoder=args.decoder, neuron=args.neuron) if policy == "snn" else {}
    return DQN(
        "SpikingCnnPolicy" if policy == "snn" else "CnnPolicy",
        env,
        learning_rate=args.learning_rate,
        buffer_size=args.buffer_size,
        learning_starts=args.learning_starts,
        batch_size=args.batch_size,
        gamma=0.99,
        train_freq=args.train_freq,
        gradient_steps=1,
        target_update_interval=args.target_update_interval,
        exploration_initial_eps=1.0,
        exploration_final_eps=0.1,
        exploration_fraction=min(1.0, args.exploration_steps / args.total_timesteps),
        optimize_memory_usage=False,
        policy_kwargs=policy_kwargs,
        seed=args.seed,
        device=args.device,
        verbose=0,
    )


def train(args: Args, policy: str) -> dict[str, Any]:
    """Train one DQN (``policy`` ``"snn"`` or ``"ann"``) and return its final evaluation."""
    import ale_py
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecFrameStack, VecTransposeImage

    import sb3_spiking  # noqa: F401  (registers the Spiking*Policy names)

    gym.register_envs(ale_py)
    # Seeding: the training and evaluation environments and the network
    env_kwargs = dict(max_episode_steps=args.max_episode_frames)
    env = VecFrameStack(make_atari_env(args.env_id, n_envs=1, seed=args.seed, env_kwargs=env_kwargs), n_stack=4)
    eval_env = make_atari_env(args.env_id, n_envs=1, seed=args.seed + 1000, env_kwargs=env_kwargs)
    eval_env = VecTransposeImage(VecFrameStack(eval_env, n_stack=4))

    if args.resume:
        model = DQN.load(f"{args.resume}_{policy}", env=env, device=args.device)
        replay = Path(f"{args.resume}_{policy}_replay.pkl")
        if replay.exists():
            model.load_replay_buffer(replay)
        print(f"Resuming {args.resume}_{policy}.zip at {model.num_timesteps:,} steps, replay memory "
              f"{'loaded' if replay.exists() else 'empty (not saved)'}", flush=True)  # fmt: skip
    else:
        model = make_model(args, policy, env)
    callbacks = []
    if args.eval_freq > 0:
        log_path = f"{args.log}/{policy}" if args.log else None
        callbacks.append(
            EvalCallback(eval_env, n_eval_episodes=args.eval_episodes, eval_freq=args.eval_freq, log_path=log_path, verbose=1)
        )
    if args.time_limit > 0:

        class StopAfter(BaseCallback):
            """Ends training once ``args.time_limit`` seconds of wall time have passed."""

            def _on_training_start(self) -> None:
                self.deadline = time.perf_counter() + args.time_limit

            def _on_step(self) -> bool:
                return time.perf_counter() < self.deadline

        callbacks.append(StopAfter())
    start, done = time.perf_counter(), model.num_timesteps
    model.learn(max(0, args.total_timesteps - done), callback=CallbackList(callbacks), reset_num_timesteps=not args.resume)
    wall = time.perf_counter() - start
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)
    if args.save:
        model.save(f"{args.save}_{policy}")
        if args.save_replay:
            model.save_replay_buffer(f"{args.save}_{policy}_replay.pkl")
    result = dict(policy=policy, steps=model.num_timesteps, mean_return=float(np.mean(returns)), wall_s=wall)
    rate = (model.num_timesteps - done) / wall
    print(
        f"{args.env_id} {policy.upper()}: {result['steps']:,} steps in {wall:.0f} s ({rate:.0f} steps/s), "
        f"mean return {result['mean_return']:.1f} over {args.eval_episodes} episodes",
        flush=True,
    )
    return result


def main(argv: Optional[list[str]] = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    policies = ["ann", "snn"] if args.policy == "both" else [args.policy]
    return [train(args, policy) for policy in policies]


if __name__ == "__main__":
    main()
