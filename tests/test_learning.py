"""
Spiking agents learn CartPole-v1 with stock SB3 and rl-zoo3's tuned settings (slow: minutes each).

Budget: 100k environment steps, seed 0, evaluation of 10 deterministic episodes every 5k steps; solved = mean
return >= 475 at an evaluation.
"""

import pytest

from sb3_spiking.demos.train import SOLVED, main, train

BUDGET = 100_000
SEED = 0


def test_evaluation_cadence():
    # 8 PPO environments: SB3's EvalCallback counts vectorised steps, train() converts the env-step frequency
    result = train("ppo", spiking=True, total_timesteps=1024, eval_freq=512, n_eval_episodes=2)
    assert [step for step, _ in result.history] == [512, 1024]
    assert all(8.0 <= value <= 500.0 for _, value in result.history)
    assert result.solved_at is None or result.solved_at == result.history[-1][0]


def test_cli_writes_its_output(tmp_path, capsys):
    out = tmp_path / "docs" / "train.txt"
    results = main(["--algo", "dqn", "--steps", "600", "--out", str(out)])
    text = out.read_text().splitlines()
    assert text[0] == f"$ python -m sb3_spiking.demos.train --algo dqn --steps 600 --out {out}"
    # The spiking agent with the package defaults, then the ANN with the same settings, side by side
    assert text[1] == "Training DQN with SpikingMlpPolicy (package defaults) on CartPole-v1 for up to 600 steps (seed 0)"
    assert text[2] == "Training DQN with MlpPolicy on CartPole-v1 for up to 600 steps (seed 0)"
    snn, ann = results["snn"], results["ann"]
    assert snn.policy.startswith("SpikingMlpPolicy (") and "T=8, max-mem, input_norm=True" in snn.policy
    assert text[-2].startswith(f"{snn.policy}: did not reach 475; final mean return {snn.mean_return:.1f} +- ")
    assert text[-1].startswith(f"MlpPolicy: did not reach 475; final mean return {ann.mean_return:.1f} +- ")
    assert text[-1] in capsys.readouterr().out
    assert list(main(["--algo", "dqn", "--steps", "300", "--only", "ann"])) == ["ann"]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_spiking_agent_solves_cartpole(algo):
    result = train(algo, spiking=True, total_timesteps=BUDGET, seed=SEED)
    assert result.solved_at is not None and result.solved_at <= BUDGET, result.history
    assert result.history[-1][1] >= SOLVED
    assert [step for step, _ in result.history] == list(range(5000, result.solved_at + 1, 5000))
    # The agent that stopped at the solving evaluation still balances on fresh episodes
    assert result.mean_return >= 0.9 * SOLVED, result.mean_return
