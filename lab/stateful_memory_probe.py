"""
Can the stateful spiking actor represent what CartPoleNoVel hides? A supervised probe, no RL: the actor of each
policy is trained by BPTT (Adam, MSE) to output the masked velocities (cart and pole) from the positions it sees,
along episodes of random actions, the state carried and reset at each episode start, as RecurrentPPO runs it.
Reported: R^2 on held-out episodes for

- the stateful spiking actor (``SpikingMlpRecurrentPolicy``, LIF tau 2, T=1, hidden 64-64, recurrent synapses);
- the same without recurrent synapses (each layer a low-pass filter of its input, then a threshold);
- the same actor with its state reset at every step (memoryless: the floor);
- sb3-contrib's ``MlpLstmPolicy`` actor (LSTM 64, then 64), the anchor.

Run ``python lab/stateful_memory_probe.py`` (a few CPU-minutes; ``--knobs``: also the stateful actor with other
spiking knobs); prints a markdown table.
"""

import argparse

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from torch import nn

import sb3_spiking  # noqa: F401
from sb3_spiking.policies.recurrent import SpikingRecurrentActorCriticPolicy
from sb3_spiking.snn import RunningNorm


def episodes(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(masked observations [L, 4], velocities [L, 2]) of ``n`` random-action CartPole episodes."""
    env = gym.make("CartPole-v1")
    env.action_space.seed(seed)
    found = []
    for index in range(n):
        obs, _ = env.reset(seed=seed * 10_000 + index)
        seen, target, done = [], [], False
        while not done:
            seen.append(obs * np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32))
            target.append(obs[[1, 3]])
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
        found.append((np.array(seen), np.array(target)))
    return found


def batch(data: list, length: int) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
    """Sequence-major padded batch: obs [n * L, 4], targets [n * L, 2], starts [n * L], mask [n * L]."""
    n = len(data)
    obs, target = np.zeros((n, length, 4), np.float32), np.zeros((n, length, 2), np.float32)
    mask, starts = np.zeros((n, length), np.float32), np.zeros((n, length), np.float32)
    for i, (o, t) in enumerate(data):
        m = min(len(o), length)
        obs[i, :m], target[i, :m], mask[i, :m] = o[:m], t[:m], 1.0
        starts[i, 0] = 1.0
    return tuple(th.as_tensor(x.reshape(n * length, *x.shape[2:])) for x in (obs, target, starts, mask))  # type: ignore


def outputs(policy, obs, starts, n_seq, memoryless):
    state = tuple(th.zeros(1, n_seq, policy.lstm_hidden_state_shape[2]) for _ in range(2))
    starts = th.ones_like(starts) if memoryless else starts
    distribution, _ = policy.get_distribution(obs, state, starts)
    return distribution.distribution.mean


def r2(pred: th.Tensor, target: th.Tensor, mask: th.Tensor) -> float:
    keep = mask.bool()
    p, t = pred[keep], target[keep]
    return float(1.0 - ((p - t) ** 2).sum() / ((t - t.mean(dim=0)) ** 2).sum())


def train(kind: str, train_data, test_data, steps: int, seed: int, **knobs) -> float:
    th.manual_seed(seed)
    obs_space = spaces.Box(-np.inf, np.inf, (4,), np.float32)
    act_space = spaces.Box(-10.0, 10.0, (2,), np.float32)
    if kind == "lstm":
        policy = RecurrentActorCriticPolicy(
            obs_space, act_space, lambda _: 1e-3, lstm_hidden_size=64, net_arch=dict(pi=[64], vf=[64]), activation_fn=nn.ReLU
        )
    else:
        policy = SpikingRecurrentActorCriticPolicy(
            obs_space, act_space, lambda _: 1e-3, net_arch=dict(pi=[64, 64], vf=[64]), **knobs
        )
        for norm in (m for m in policy.modules() if isinstance(m, RunningNorm)):
            norm.update(th.as_tensor(np.concatenate([o for o, _ in train_data])))
    policy.set_training_mode(False)  # statistics fixed; the gradient is all that trains
    memoryless = kind == "memoryless"
    optimizer = th.optim.Adam(policy.parameters(), lr=1e-3)
    generator = np.random.default_rng(seed)
    for _ in range(steps):
        chosen = [train_data[i] for i in generator.choice(len(train_data), 32, replace=False)]
        obs, target, starts, mask = batch(chosen, 40)
        pred = outputs(policy, obs, starts, 32, memoryless)
        loss = (((pred - target) ** 2).sum(dim=1) * mask).sum() / mask.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    obs, target, starts, mask = batch(test_data, 40)
    with th.no_grad():
        return r2(outputs(policy, obs, starts, len(test_data), memoryless), target, mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600, help="Adam steps (32 episodes each)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--knobs", action="store_true", help="also the stateful actor with other spiking knobs")
    args = parser.parse_args()
    th.set_num_threads(1)
    train_data, test_data = episodes(400, seed=1), episodes(100, seed=2)
    print(f"R^2 of the masked velocities on 100 held-out random episodes, {args.steps} Adam steps, seeds {args.seeds}\n")
    print("| actor | R^2 per seed |\n|---|---|")
    for kind, label, knobs in (
        ("spiking", "stateful spiking (SpikingMlpRecurrentPolicy, LIF, T=1, recurrent synapses)", {}),
        ("spiking", "same, recurrent_synapses=False", dict(recurrent_synapses=False)),
        ("memoryless", "same, state reset every step (memoryless)", {}),
        ("lstm", "MlpLstmPolicy (LSTM 64, then 64)", {}),
    ):
        scores = [train(kind, train_data, test_data, args.steps, seed, **knobs) for seed in args.seeds]
        print(f"| {label} | {', '.join(f'{s:.3f}' for s in scores)} |", flush=True)
    for knobs in (
        (dict(tau=8.0), dict(neuron="plif"), dict(neuron="if"), dict(T=4), dict(decoder_tau=1.0)) if args.knobs else ()
    ):
        scores = [train("spiking", train_data, test_data, args.steps, seed, **knobs) for seed in args.seeds]
        label = ", ".join(f"{key}={value!r}" for key, value in knobs.items())
        print(f"| stateful spiking, {label} | {', '.join(f'{s:.3f}' for s in scores)} |", flush=True)


if __name__ == "__main__":
    main()
