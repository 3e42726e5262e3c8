"""
The small grid world of the DeZero book (*Deep Learning from Scratch 4*, Q-learning with a neural network), as a
gymnasium environment. Importing this module registers it::

    import gymnasium as gym
    import sb3_spiking  # noqa: F401  (registers it)

    env = gym.make("sb3_spiking/GridWorld-v0")

The grid has 3 rows and 4 columns; the agent starts in the bottom-left corner; one cell is a wall. Entering the
goal (top-right) pays +1 and ends the episode; entering the trap (below the goal) costs -1 and does not end it.
Every other move pays 0. A move into the wall or off the grid leaves the agent where it is, and pays what its
cell pays. Observations are the one-hot code of the agent's cell (row-major, 12 values)::

    . . . G        G: goal (+1, terminal)
    . # . X        #: wall, X: trap (-1)
    S . . .        S: start
"""

from typing import Any, Optional

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "sb3_spiking/GridWorld-v0"
ACTIONS = ("up", "down", "left", "right")
ARROWS = ("^", "v", "<", ">")
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))

Cell = tuple[int, int]


class GridWorld(gym.Env):
    """
    The 3x4 grid world of the DeZero book: deterministic moves, a wall, a +1 terminal goal and a -1 trap.

    :param exploring_starts: Start each episode in a random free, non-terminal cell instead of the start cell
    :param render_mode: ``"ansi"`` (a text picture of the grid), ``"rgb_array"`` (an image, 16 pixels a cell) or None
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}
    shape = (3, 4)
    start: Cell = (2, 0)
    goal: Cell = (0, 3)
    trap: Cell = (1, 3)
    wall: Cell = (1, 1)
    rewards = {goal: 1.0, trap: -1.0}

    def __init__(self, exploring_starts: bool = False, render_mode: Optional[str] = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"Unknown render_mode {render_mode!r}: valid choices are 'ansi', 'rgb_array' or None")
        self.exploring_starts = exploring_starts
        self.render_mode = render_mode
        self.n_cells = self.shape[0] * self.shape[1]
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.n_cells,), dtype=np.float32)
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.position: Cell = self.start

    @classmethod
    def cells(cls) -> list[Cell]:
        """Every cell the agent can stand in (all but the wall), row-major."""
        return [(row, col) for row in range(cls.shape[0]) for col in range(cls.shape[1]) if (row, col) != cls.wall]

    @classmethod
    def decision_cells(cls) -> list[Cell]:
        """The cells in which the agent chooses an action: all but the wall and the goal."""
        return [cell for cell in cls.cells() if cell != cls.goal]

    @classmethod
    def transition(cls, cell: Cell, action: int) -> tuple[Cell, float, bool]:
        """
        The (deterministic) dynamics.

        :param cell: ``(row, column)`` of the agent
        :param action: 0 up, 1 down, 2 left, 3 right
        :return: next cell, reward, whether the episode ends there
        """
        row, col = cell[0] + MOVES[action][0], cell[1] + MOVES[action][1]
        inside = 0 <= row < cls.shape[0] and 0 <= col < cls.shape[1]
        next_cell = (row, col) if inside and (row, col) != cls.wall else cell
        return next_cell, cls.rewards.get(next_cell, 0.0), next_cell == cls.goal

    def one_hot(self, cell: Cell) -> np.ndarray:
        """The observation of the agent standing in ``cell``."""
        observation = np.zeros(self.n_cells, dtype=np.float32)
        observation[cell[0] * self.shape[1] + cell[1]] = 1.0
        return observation

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None) -> tuple[np.ndarray, dict]:
        """
        :param seed: Seed of the environment's random generator (used by exploring starts)
        :param options: ``{"start": (row, column)}`` starts in that cell
        """
        super().reset(seed=seed)
        if options and "start" in options:
            start = tuple(options["start"])
            if start not in self.decision_cells():
                raise ValueError(f"start must be a free, non-terminal cell, one of {self.decision_cells()}, got {start}")
            self.position = start  # type: ignore[assignment]
        elif self.exploring_starts:
            cells = self.decision_cells()
            self.position = cells[self.np_random.integers(len(cells))]
        else:
            self.position = self.start
        return self.one_hot(self.position), {"cell": self.position}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise ValueError(f"Invalid action {action!r}: valid actions are 0 (up), 1 (down), 2 (left), 3 (right)")
        self.position, reward, terminated = self.transition(self.position, int(action))
        return self.one_hot(self.position), reward, terminated, False, {"cell": self.position}

    def render(self) -> Optional[Any]:
        if self.render_mode == "ansi":
            return self.picture({self.position: "A"})
        if self.render_mode == "rgb_array":
            colours = {self.wall: (60, 60, 60), self.goal: (40, 180, 60), self.trap: (210, 50, 50)}
            colours[self.position] = (50, 90, 220)
            image = np.full((*self.shape, 3), 235, dtype=np.uint8)
            for cell, colour in colours.items():
                image[cell] = colour
            return image.repeat(16, axis=0).repeat(16, axis=1)
        return None

    @classmethod
    def picture(cls, marks: dict[Cell, str]) -> str:
        """
        A text picture of the grid with ``marks`` (one character per cell) drawn over it.

        :param marks: Characters to draw, by cell (e.g. an arrow per cell to show a policy)
        """
        base = {cls.goal: "G", cls.trap: "X", cls.wall: "#"}
        rows = [
            " ".join(marks.get((row, col), base.get((row, col), ".")) for col in range(cls.shape[1]))
            for row in range(cls.shape[0])
        ]
        return "\n".join(rows) + "\n"

    @classmethod
    def optimal_q_values(cls, gamma: float = 0.9, tolerance: float = 1e-10) -> dict[Cell, np.ndarray]:
        """
        The optimal action values ``Q*(cell, action)`` of every decision cell, by value iteration.

        :param gamma: Discount factor (< 1)
        :param tolerance: Stop when no value changes by more than this
        """
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1) for value iteration to converge, got {gamma}")
        values = dict.fromkeys(cls.cells(), 0.0)
        while True:
            q_values = {}
            for cell in cls.decision_cells():
                outcomes = [cls.transition(cell, action) for action in range(len(ACTIONS))]
                q_values[cell] = np.array([r + (0.0 if done else gamma * values[nxt]) for nxt, r, done in outcomes])
            change = max(abs(q_values[cell].max() - values[cell]) for cell in q_values)
            values.update({cell: float(q.max()) for cell, q in q_values.items()})
            if change <= tolerance:
                return q_values


gym.register(id=ENV_ID, entry_point=GridWorld, max_episode_steps=100)

# DQN settings under which a spiking DQN (policy_kwargs=dict(net_arch=[64], T=8)) learns the optimal policy in 8k steps
GRIDWORLD_DQN_KWARGS = dict(
    gamma=0.9,
    learning_rate=1e-3,
    buffer_size=10_000,
    learning_starts=500,
    batch_size=64,
    train_freq=1,
    target_update_interval=100,
    exploration_fraction=0.5,
    exploration_final_eps=0.05,
)
