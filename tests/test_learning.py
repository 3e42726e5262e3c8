"""
Spiking agents learn CartPole-v1 with stock SB3 and rl-zoo3's tuned settings (slow: minutes each).

Budget: 100k environment steps, seed 0, evaluation of 10 deterministic episodes every 5k steps; solved = mean
return >= 475 at an evaluation.
"""

import pytest

from sb3_spiking.demos.train import SOLVED, train

BUDGET = 100_000
SEED = 0


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_spiking_agent_solves_cartpole(algo):
    result = train(algo, spiking=True, total_timesteps=BUDGET, seed=SEED)
    assert result.solved_at is not None and result.solved_at <= BUDGET, result.history
    assert result.history[-1][1] >= SOLVED
    # The agent that stopped at the solving evaluation still balances on fresh episodes
    assert result.mean_return >= 0.9 * SOLVED, result.mean_return
