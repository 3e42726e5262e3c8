"""
What an action costs: the stateful spiking policy (RecurrentPPO, ``SpikingMlpRecurrentPolicy``, 1 simulation step
per env step, with and without its recurrent synapses) against the stateless spiking policy (PPO,
``SpikingMlpPolicy``, T=8 from rest) and sb3-contrib's ``MlpLstmPolicy``, side by side in one process.

All of them have the learning suite's CartPoleNoVel layer sizes (spiking: ``net_arch=dict(pi=[64, 64], vf=[64, 64])``;
LSTM: 64 LSTM units then 64). Each round calls every contender once, interleaved, after a warm-up, and the report
gives medians and ratios, so that a busy, shared machine slows every contender alike:

- ``predict``: ``model.predict(obs, state, episode_start, deterministic=True)`` for 1 env and for 8 envs, the state
  carried from call to call (what a deployed agent and rl-zoo3's evaluation run);
- ``_predict``: the policy's own action function on tensors, without SB3's numpy conversions, and the number of
  PyTorch operators it dispatches;
- the spiking policies' input statistics (``input_norm``) are those of these observations, as after training;
- synaptic operations (SOP) and multiply-accumulates (MAC) per action, and the energy estimate, from
  :func:`sb3_spiking.telemetry.spike_stats` on the observations of random CartPoleNoVel episodes.

- end-to-end ``model.learn`` with the tuned CartPoleNoVel entry (the stateless policy under PPO).

Run ``python scripts/benchmark_recurrent.py`` (a few minutes; writes docs/results/benchmark_recurrent.md) or ``--quick``.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import gymnasium as gym
import numpy as np
import rl_zoo3.import_envs  # noqa: F401  (CartPoleNoVel-v1)
import torch as th
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import sb3_spiking
from sb3_spiking.snn import RunningNorm
from sb3_spiking.telemetry import spike_stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = "CartPoleNoVel-v1"
SPIKING = dict(ortho_init=False, net_arch=dict(pi=[64, 64], vf=[64, 64]))
LSTM = dict(ortho_init=False, activation_fn=nn.ReLU, lstm_hidden_size=64, net_arch=dict(pi=[64], vf=[64]))


#: name, algorithm, policy, policy_kwargs of each contender
CONTENDERS = [
    ("stateful spiking, T=1 (RecurrentPPO, SpikingMlpRecurrentPolicy)", RecurrentPPO, "SpikingMlpRecurrentPolicy", SPIKING),
    (
        "stateful spiking, T=1, no recurrent synapses",
        RecurrentPPO,
        "SpikingMlpRecurrentPolicy",
        dict(SPIKING, recurrent_synapses=False),
    ),
    ("stateless spiking, T=8 (PPO, SpikingMlpPolicy)", PPO, "SpikingMlpPolicy", dict(SPIKING, T=8)),
    ("LSTM (RecurrentPPO, MlpLstmPolicy)", RecurrentPPO, "MlpLstmPolicy", LSTM),
]
BASE = CONTENDERS[2][0]  # the ratios are against the stateless spiking policy at T=8
SPIKING_NAMES = [name for name, _, policy, _ in CONTENDERS if policy.startswith("Spiking")]


def contenders() -> dict:
    return {name: algo(policy, ENV, policy_kwargs=kwargs, seed=0) for name, algo, policy, kwargs in CONTENDERS}


def observations(n: int) -> np.ndarray:
    env = gym.make(ENV)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    found = []
    while len(found) < n:
        found.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    return np.array(found, dtype=np.float32)


class Actor:
    """One contender's action function with its state carried from call to call."""

    def __init__(self, model, n_envs: int) -> None:
        self.model, self.n_envs = model, n_envs
        self.recurrent = isinstance(model, RecurrentPPO)
        self.state = None
        self.start = np.ones(n_envs, dtype=bool)
        policy = model.policy
        self.tensor_state = (
            tuple(th.zeros(policy.lstm_hidden_state_shape[0], n_envs, policy.lstm_hidden_state_shape[2]) for _ in range(2))
            if self.recurrent
            else None
        )

    def predict(self, obs: np.ndarray) -> None:
        if self.recurrent:
            _, self.state = self.model.predict(obs, state=self.state, episode_start=self.start, deterministic=True)
            self.start = np.zeros(self.n_envs, dtype=bool)
        else:
            self.model.predict(obs, deterministic=True)

    def raw(self, obs: th.Tensor) -> None:
        policy = self.model.policy
        with th.inference_mode():
            if self.recurrent:
                _, self.tensor_state = policy._predict(obs, self.tensor_state, th.zeros(self.n_envs), deterministic=True)
            else:
                policy._predict(obs, deterministic=True)


def time_interleaved(calls: dict, rounds: int, warmup: int) -> dict:
    times: dict = {name: [] for name in calls}
    for index in range(warmup + rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


class _OperatorCount(TorchDispatchMode):
    """Counts the PyTorch operators dispatched inside the block."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def operator_calls(call) -> int:
    """The number of PyTorch operators (aten) that one call dispatches: at these sizes each costs about as much as
    its arithmetic."""
    with _OperatorCount() as counter:
        call()
    return counter.count


def operations(model, obs: np.ndarray) -> dict:
    """SOP, MAC and energy per action on a sequence of observations (state carried for the recurrent ones)."""
    policy = model.policy
    tensors = th.as_tensor(obs)
    with spike_stats(policy) as stats, th.no_grad():
        if isinstance(model, RecurrentPPO):
            state = tuple(th.zeros(1, 1, policy.lstm_hidden_state_shape[2]) for _ in range(2))
            for index, o in enumerate(tensors):
                _, state = policy._predict(o[None], state, th.tensor([float(index == 0)]), deterministic=True)
        else:
            policy._predict(tensors, deterministic=True)
    energy = stats.energy()
    return dict(sop=energy.sop, mac=energy.mac, ann_mac=energy.ann_mac, nj=energy.snn_energy_pj / 1e3)


# rl-zoo3's tuned CartPoleNoVel-v1 ppo_lstm entry (constant learning rate and clip range: the time is the same)
TUNED = dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate=1e-3)


def learn_times(steps: int, rounds: int) -> dict:
    """Median wall time of ``model.learn(steps)`` per contender (8 envs, the tuned entry), runs interleaved."""
    from stable_baselines3.common.env_util import make_vec_env

    builders = {name: (algo, policy, kwargs) for name, algo, policy, kwargs in CONTENDERS}
    times: dict = {name: [] for name in builders}
    for seed in range(rounds):
        for name, (algo, policy, kwargs) in builders.items():
            model = algo(policy, make_vec_env(ENV, n_envs=8, seed=seed), policy_kwargs=kwargs, seed=seed, **TUNED)
            start = time.perf_counter()
            model.learn(steps)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="timed calls per contender and setting")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "results", "benchmark_recurrent.md"))
    parser.add_argument("--quick", action="store_true", help="30 rounds, printed only")
    args = parser.parse_args()
    rounds = 30 if args.quick else args.rounds
    th.set_num_threads(1)
    models = contenders()
    obs = observations(200)
    for model in models.values():  # the observation statistics of trained policies, fixed (evaluation mode)
        for norm in (m for m in model.policy.modules() if isinstance(m, RunningNorm)):
            norm.update(th.as_tensor(obs))
        model.policy.set_training_mode(False)
    rows = []
    for n_envs in (1, 8):
        actors = {name: Actor(model, n_envs) for name, model in models.items()}
        batch = obs[:n_envs]
        tensor = th.as_tensor(batch)
        predict = time_interleaved({n: (lambda a=a, b=batch: a.predict(b)) for n, a in actors.items()}, rounds, 10)
        raw = time_interleaved({n: (lambda a=a, t=tensor: a.raw(t)) for n, a in actors.items()}, rounds, 10)
        counts = {n: operator_calls(lambda a=a, t=tensor: a.raw(t)) for n, a in actors.items()}
        rows.append((n_envs, predict, raw, counts))
    ops = {name: operations(models[name], obs) for name in SPIKING_NAMES}
    names, base = list(models), BASE
    lines = [
        f"Made by `python scripts/benchmark_recurrent.py{' --quick' if args.quick else ''}` "
        f"({rounds} interleaved rounds, medians; torch {th.__version__}, 1 thread, "
        f"{platform.processor() or platform.machine()}, a CPU shared with other work). "
        "Ratio: time / time of the stateless spiking policy at T=8.",
        "",
        "| Policy | envs | predict (us) | ratio | _predict (us) | ratio | operators per _predict |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n_envs, predict, raw, counts in rows:
        for name in names:
            lines.append(
                f"| {name} | {n_envs} | {predict[name] * 1e6:.0f} | {predict[name] / predict[base]:.2f} "
                f"| {raw[name] * 1e6:.0f} | {raw[name] / raw[base]:.2f} | {counts[name]} |"
            )
    lines += [
        "",
        f"Operations per action over {len(obs)} observations of random {ENV} episodes (actor only; SOP = synaptic "
        "operations of spikes, MAC = multiply-accumulates of the non-spike inputs; ANN MAC = the same layers as an ANN):",
        "",
        "| Policy | SOP | MAC | ANN MAC | energy (nJ, 45 nm estimate) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in SPIKING_NAMES:
        o = ops[name]
        lines.append(f"| {name} | {o['sop']:.0f} | {o['mac']:.0f} | {o['ann_mac']:.0f} | {o['nj']:.3f} |")
    steps, learn_rounds = (1024, 1) if args.quick else (4096, 3)
    learned = learn_times(steps, learn_rounds)
    lines += [
        "",
        f"End-to-end `model.learn({steps})` on {ENV} (8 envs, rl-zoo3's tuned ppo_lstm entry: 32 steps per env and "
        f"rollout, 20 epochs of one 256-step minibatch; the stateless policy under PPO), median of {learn_rounds} "
        "interleaved runs:",
        "",
        "| Policy | learn (s) | ratio |",
        "|---|---:|---:|",
    ]
    for name in names:
        lines.append(f"| {name} | {learned[name]:.1f} | {learned[name] / learned[base]:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        with open(args.out, "w") as file:
            file.write(text)
        print(f"Wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    sb3_spiking.register_policies()
    main()
