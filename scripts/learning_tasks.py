"""
The tasks of the learning suite (``scripts/learning_suite.py``): which environment, algorithm, threshold and budget
each task has, and how each policy of a run (``ann``, ``snn`` or a variant of :mod:`suite_variants`) is named to rl-zoo3.
"""

import ast
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from suite_variants import COLORS, LABELS, POLICIES, VARIANTS, Variant  # noqa: F401  (the suite's names, from one place)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Task:
    """One environment and algorithm of the suite."""

    env: str  # gymnasium id
    algo: str  # rl-zoo3's algorithm name
    threshold: float  # return that counts as solved
    threshold_note: str  # where the threshold comes from
    steps: int  # env steps per run (rl-zoo3's n_timesteps for the env unless a note says otherwise)
    eval_freq: int  # env steps between evaluations
    policies: dict[str, str] = field(default_factory=lambda: {"ann": "MlpPolicy", "snn": "SpikingMlpPolicy"})
    conf: Optional[str] = None  # hyperparameter file (None: rl-zoo3's own)
    gym_packages: tuple[str, ...] = ()  # modules that rl-zoo3 imports to register the env
    seeds: Optional[int] = None  # number of seeds if fewer than the suite's
    note: str = ""
    # policy_kwargs of the spiking runs in place of the tuned entry's (where those configure an LSTM), None: the tuned ones
    snn_kwargs: Optional[str] = None


GYM_THRESHOLD = "gymnasium's reward threshold"
PENDULUM_THRESHOLD = "our choice: the pendulum swung up and held (a solved run ends near -150)"
CHEETAH_THRESHOLD = "our choice (no official one): a steady run forward"
CHEETAH_NOTE = "MuJoCo (`pip install gymnasium[mujoco]`, the `mujoco` extra); 100k of rl-zoo3's 1M steps"
# RecurrentPPO (rl-zoo3's ppo_lstm): the LSTM policy against the stateful spiking one. The spiking policies have
# the LSTM policy's layer sizes (an LSTM of 64, then 64) as spiking layers, the rest of the tuned entry unchanged.
RECURRENT_POLICIES = {"ann": "MlpLstmPolicy", "snn": "SpikingMlpRecurrentPolicy"}
RECURRENT_SNN_KWARGS = "dict(ortho_init=False, net_arch=dict(pi=[64, 64], vf=[64, 64]))"
NOVEL_NOTE = "rl-zoo3's tuned ppo_lstm entry; velocities masked (rl_zoo3.import_envs registers the env)"
FULL_NOTE = "the NoVel task's tuned ppo_lstm entry (this package's hyperparams/ppo_lstm.yml), full observations"


def _minatar(game: str, threshold: float, threshold_note: str, note: str) -> Task:
    """A MinAtar game with this package's DQN entry and MinAtar's network (spiking and its ANN twin), 500k steps, 1 seed."""
    minatar = "sb3_spiking.demos.minatar"
    return Task(
        f"MinAtar/{game}-v1",
        "dqn",
        threshold,
        threshold_note,
        500_000,
        25_000,
        policies={"ann": f"{minatar}.MinAtarQPolicy", "snn": f"{minatar}.SpikingMinAtarQPolicy"},
        conf="hyperparams/dqn.yml",
        gym_packages=(minatar,),
        seeds=1,
        note=f"{note}; 500k steps, 1 seed",
    )


def _held_out(env: str, algo: str, threshold: float, steps: int, eval_freq: int, note: str = GYM_THRESHOLD) -> Task:
    """A task of rl-zoo3's tuned entry that no default was chosen on."""
    return Task(env, algo, threshold, note, steps, eval_freq, note="no default was chosen on it")


TASKS: dict[str, Task] = {
    "cartpole-dqn": Task("CartPole-v1", "dqn", 475.0, "gymnasium's reward threshold", 50_000, 2_500),
    "cartpole-ppo": Task("CartPole-v1", "ppo", 475.0, "gymnasium's reward threshold", 100_000, 5_000),
    "cartpole-a2c": Task("CartPole-v1", "a2c", 475.0, "gymnasium's reward threshold", 500_000, 10_000),
    "mountaincar-dqn": Task("MountainCar-v0", "dqn", -110.0, "gymnasium's reward threshold", 120_000, 5_000),
    # held out: tasks that no default was chosen on (the actor-critic ones after its value function, QR-DQN's after the
    # Q-networks' defaults, which it shares)
    "acrobot-dqn": _held_out("Acrobot-v1", "dqn", -100.0, 100_000, 5_000),
    "acrobot-a2c": _held_out("Acrobot-v1", "a2c", -100.0, 500_000, 10_000),
    "pendulum-ppo": _held_out("Pendulum-v1", "ppo", -200.0, 100_000, 5_000, PENDULUM_THRESHOLD),
    "cartpole-trpo": _held_out("CartPole-v1", "trpo", 475.0, 100_000, 5_000),
    "acrobot-trpo": _held_out("Acrobot-v1", "trpo", -100.0, 100_000, 5_000),
    "mountaincar-trpo": _held_out("MountainCar-v0", "trpo", -110.0, 100_000, 5_000),
    "mountaincarcontinuous-ppo": _held_out("MountainCarContinuous-v0", "ppo", 90.0, 20_000, 1_000),
    "cartpole-qrdqn": _held_out("CartPole-v1", "qrdqn", 475.0, 50_000, 2_500),
    "mountaincar-qrdqn": _held_out("MountainCar-v0", "qrdqn", -110.0, 120_000, 5_000),
    # Box2D (the `box2d` extra: `pip install gymnasium[box2d]`)
    "lunarlander-dqn": _held_out("LunarLander-v3", "dqn", 200.0, 100_000, 5_000),
    # DDPG: the off-policy critics' standardisation was chosen on SAC and TD3
    "pendulum-ddpg": _held_out("Pendulum-v1", "ddpg", -200.0, 20_000, 1_000, PENDULUM_THRESHOLD),
    "gridworld-dqn": Task(
        "sb3_spiking/GridWorld-v0",
        "dqn",
        1.0,
        "the optimal return (reach the goal without entering the trap)",
        20_000,
        1_000,
        conf="hyperparams/dqn.yml",
        gym_packages=("sb3_spiking",),
        note="hyperparameters from this package's hyperparams/dqn.yml (rl-zoo3 has no entry)",
    ),
    "breakout-minatar-dqn": _minatar(
        "Breakout",
        10.0,
        "our choice (no official one): 10 bricks per episode on average",
        "MinAtar's DQN settings from this package's hyperparams/dqn.yml",
    ),
    "spaceinvaders-minatar-dqn": _minatar(
        "SpaceInvaders",
        20.0,
        "our choice (no official one): 20 aliens shot per episode on average, a third of a wave",
        "Breakout's settings unchanged (hyperparams/dqn.yml); no default was chosen on it",
    ),
    "pendulum-sac": Task("Pendulum-v1", "sac", -200.0, PENDULUM_THRESHOLD, 20_000, 1_000),
    "pendulum-td3": Task("Pendulum-v1", "td3", -200.0, PENDULUM_THRESHOLD, 20_000, 1_000),
    "halfcheetah-sac": Task("HalfCheetah-v4", "sac", 3000.0, CHEETAH_THRESHOLD, 100_000, 5_000, note=CHEETAH_NOTE),
    "halfcheetah-td3": Task("HalfCheetah-v4", "td3", 3000.0, CHEETAH_THRESHOLD, 100_000, 5_000, note=CHEETAH_NOTE),
    "cartpolenovel-ppo_lstm": Task(
        "CartPoleNoVel-v1",
        "ppo_lstm",
        475.0,
        "gymnasium's reward threshold of CartPole-v1",
        100_000,
        5_000,
        policies=RECURRENT_POLICIES,
        gym_packages=("rl_zoo3.import_envs",),
        note=NOVEL_NOTE,
        snn_kwargs=RECURRENT_SNN_KWARGS,
    ),
    "pendulumnovel-ppo_lstm": Task(
        "PendulumNoVel-v1",
        "ppo_lstm",
        -200.0,
        PENDULUM_THRESHOLD,
        100_000,
        5_000,
        policies=RECURRENT_POLICIES,
        gym_packages=("rl_zoo3.import_envs",),
        note=NOVEL_NOTE,
        snn_kwargs=RECURRENT_SNN_KWARGS,
    ),
    "cartpole-ppo_lstm": Task(
        "CartPole-v1",
        "ppo_lstm",
        475.0,
        "gymnasium's reward threshold",
        100_000,
        5_000,
        policies=RECURRENT_POLICIES,
        conf="hyperparams/ppo_lstm.yml",
        note=FULL_NOTE,
        snn_kwargs=RECURRENT_SNN_KWARGS,
    ),
    "pendulum-ppo_lstm": Task(
        "Pendulum-v1",
        "ppo_lstm",
        -200.0,
        PENDULUM_THRESHOLD,
        100_000,
        5_000,
        policies=RECURRENT_POLICIES,
        conf="hyperparams/ppo_lstm.yml",
        note=FULL_NOTE,
        snn_kwargs=RECURRENT_SNN_KWARGS,
    ),
}


def runs_variant(task: Task, policy: str) -> bool:
    """Whether a task has a run of this policy (a variant may not apply to its algorithm or policy)."""
    variant = VARIANTS.get(policy)
    if variant is None:
        return True
    if variant.algos is not None and task.algo not in variant.algos:
        return False
    return not variant.mlp_only or task.policies["snn"] == "SpikingMlpPolicy"


def zoo_algo(task: Task, policy: str) -> str:
    """The rl-zoo3 algorithm name of a run."""
    variant = VARIANTS.get(policy)
    return variant.algos.get(task.algo, task.algo) if variant is not None and variant.algos else task.algo


def tuned_file(task: Task) -> str:
    """The task's hyperparameter file: its own, or rl-zoo3's ``<algo>.yml``."""
    import rl_zoo3

    zoo_file = os.path.join(os.path.dirname(rl_zoo3.__file__), "hyperparams", f"{task.algo}.yml")
    return os.path.join(ROOT, task.conf) if task.conf else zoo_file


def tuned_entry(task: Task) -> dict[str, Any]:
    """The task's tuned hyperparameters: its env's entry in rl-zoo3's ``<algo>.yml`` (or the task's own file)."""
    import yaml

    with open(tuned_file(task)) as file:
        return yaml.safe_load(file)[task.env]


def policy_name(task: Task, policy: str) -> str:
    """The policy that a run trains."""
    variant = VARIANTS.get(policy)
    if variant is not None and variant.policy:
        return variant.policy.format(ALGO=task.algo.upper())
    return task.policies["ann" if policy == "ann" else "snn"]


def policy_params(task: Task, policy: str) -> list[str]:
    """rl-zoo3 ``-params`` of a run: the policy name, and a variant's knobs merged into the tuned policy_kwargs."""
    params = [f"policy:'{policy_name(task, policy)}'"]
    variant = VARIANTS.get(policy)
    base = task.snn_kwargs if policy != "ann" else None
    if base is not None and not (variant is not None and variant.policy_kwargs):
        params.append(f"policy_kwargs:{base}")
    if variant is not None and variant.policy_kwargs:
        tuned = ast.parse(base or tuned_entry(task).get("policy_kwargs", "dict()"), mode="eval").body
        assert isinstance(tuned, ast.Call) and not tuned.args, f"unsupported policy_kwargs in {task.env}'s entry"
        kwargs = {keyword.arg: ast.unparse(keyword.value) for keyword in tuned.keywords}
        kwargs.update({key: repr(value) for key, value in variant.policy_kwargs.items()})
        params.append(f"policy_kwargs:dict({', '.join(f'{key}={value}' for key, value in kwargs.items())})")
    return params


def describe(task: Task, policy: str) -> str:
    """A run's policy as the tables show it: ``SNN (SpikingMlpPolicy)``, ``SNN, proxy target (..., proxy_td3)``."""
    name = policy_name(task, policy)
    variant = VARIANTS.get(policy)
    extra = [] if variant is None else [f"{key}={value!r}" for key, value in variant.policy_kwargs.items()]
    if zoo_algo(task, policy) != task.algo:
        extra.append(f"--algo {zoo_algo(task, policy)}")
    return f"{LABELS[policy]} ({', '.join([name, *extra])})"


def spiking_policy_available(task: Task) -> bool:
    """Whether the spiking policy of a task can be built by name (the algorithm has the alias, or it is importable)."""
    import importlib

    name = task.policies["snn"]
    if "." in name:
        module, _, attr = name.rpartition(".")
        try:
            return hasattr(importlib.import_module(module), attr)
        except ImportError:
            return False
    import rl_zoo3

    import sb3_spiking  # noqa: F401  (adds the Spiking*Policy names)

    return name in rl_zoo3.ALGOS[task.algo].policy_aliases


def missing_dependency(task: Task) -> Optional[str]:
    """Why the task's environment cannot be made here (a package not installed...), or None if it can."""
    import importlib

    import gymnasium as gym

    try:
        for module in task.gym_packages:
            importlib.import_module(module)
        gym.make(task.env).close()
    except Exception as error:  # gymnasium's DependencyNotInstalled, an unknown id, a failed import
        return f"{type(error).__name__}: {error}"
    return None


def random_return(task: Task, episodes: int, cache: dict[str, float]) -> float:
    """Mean return of uniformly random actions over ``episodes`` episodes (seeded), cached per environment."""
    if task.env in cache:
        return cache[task.env]
    import importlib

    import gymnasium as gym

    for module in task.gym_packages:
        importlib.import_module(module)
    env = gym.make(task.env)
    env.action_space.seed(0)
    total = 0.0
    for episode in range(episodes):
        env.reset(seed=episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
    cache[task.env] = round(total / episodes, 2)
    return cache[task.env]
