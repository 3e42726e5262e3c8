"""
Every ```python and ```bash block of README.md runs as written, with small budgets (tests/test_docs.py runs the
documentation's pages with the same rules).

The blocks of one section (a ``## `` heading) run in order, each in a fresh process, in one temporary folder that
holds links to the repository's ``hyperparams/``, ``scripts/`` and the scripts of ``lab/``, and an empty
``docs/results/`` (so a script's default output never overwrites a tracked file). Budgets are substituted by
rules, not per block, so that a block added later is picked up and shrunk the same way:

- Python: ``.learn(N`` becomes ``.learn(256`` (:data:`LEARN_STEPS`);
- shell: ``-n N`` (not ``nice -n``) and ``--n-timesteps N`` become 512 (:data:`STEPS`), ``--n-trials N`` and
  ``--max-trials N`` 2 (:data:`TRIALS`), ``--steps N`` 1000 (a smaller number stays as it is); an
  ``rl_zoo3.train`` command without a step budget gets ``-n 512``; ``python scripts/X.py`` (or ``lab/X.py``)
  gets ``--quick`` when that script has the option; ``make TARGET`` becomes ``make -n -C <repository> TARGET``
  (it prints the target's commands: ``make test`` would run this very test, ``make train`` is the train
  command); a bare ``wait`` waits for each background job and fails with it.

Lines that cannot run here are listed in :data:`NOT_RUN` with the reason, and script lines whose ``--quick`` run
another test already makes in :data:`RUN_ELSEWHERE` with that test (to spare CI minutes); the test checks that each
is still in the README or a documentation page and that each named test exists. Sections that train on Atari,
call rl-zoo3 or run a script are marked slow.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

LEARN_STEPS = 256
STEPS = 512
TRIALS = 2
TRAIN_STEPS = 1000

# Lines (their command, without a trailing comment) that are not run, and why
NOT_RUN = {
    'pip install "sb3-spiking[zoo,atari]"': "installs from PyPI; the tests run in the checkout's environment",
    "python scripts/dsqn_breakout.py --policy both": "the full-scale DSQN run: 20M Atari steps, ~15 h of an H200 per agent",
}

# Script lines (their command, with or without `nice -n 10`) whose --quick run is made by another test
RUN_ELSEWHERE = {
    "python scripts/reproduce_seeds.py": "tests/test_seed_scripts.py::test_reproduce_seeds_quick",
    "python scripts/dsqn_breakout.py --quick": "tests/test_seed_scripts.py::test_dsqn_breakout_quick",
    "python scripts/benchmark.py": "tests/test_benchmark.py::test_benchmark_quick_runs",
    "python scripts/learning_suite.py --tasks pendulum-sac pendulum-td3 halfcheetah-sac halfcheetah-td3": (
        "tests/test_learning_suite.py::test_quick_suite_runs_the_variants"
    ),
    "python scripts/learning_suite.py": "tests/test_learning_suite.py::test_quick_suite_writes_consistent_results",
}

SLOW = re.compile(r"rl_zoo3|scripts/|BreakoutNoFrameskip|make_atari_env|sb3_spiking\.tuning|sb3_spiking\.demos")


def sections(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The README's ``## `` sections, each with its runnable blocks in order: ``(heading, [(language, code)])``."""
    result: list[tuple[str, list[tuple[str, str]]]] = [("top", [])]
    fence, lines = None, []
    for line in text.splitlines():
        if fence is None and line.startswith("## "):
            result.append((line[3:].strip(), []))
        elif fence is None and line.startswith("```"):
            fence, lines = line[3:].strip(), []
        elif fence is not None and line.startswith("```"):
            if fence in ("python", "bash"):
                result[-1][1].append((fence, "\n".join(lines) + "\n"))
            fence = None
        elif fence is not None:
            lines.append(line)
    return [(heading, blocks) for heading, blocks in result if blocks]


def split_comment(line: str) -> tuple[str, str]:
    """A shell line's command and its trailing comment (``  # ...``), if any."""
    match = re.search(r"\s+#\s.*$", line)
    return (line[: match.start()], line[match.start() :]) if match else (line, "")


def at_most(budget: int, prefix: str = ""):  # type: ignore[no-untyped-def]
    """A ``re.sub`` replacement that writes ``prefix`` and the smaller of the matched number (group 1) and ``budget``."""
    return lambda match: f"{prefix}{min(int(match.group(1).replace('_', '')), budget)}"


def shrink_python(code: str) -> str:
    return re.sub(r"\.learn\(\s*(\d[\d_]*)", at_most(LEARN_STEPS, ".learn("), code)


def shrink_shell(code: str) -> str:
    code = code.replace("\\\n", " ")  # one line per command
    lines = []
    for line in code.splitlines():
        command, comment = split_comment(line)
        if command.strip() in NOT_RUN:
            lines.append(f"# not run: {command.strip()}")
            continue
        elsewhere = [
            test for start, test in RUN_ELSEWHERE.items() if command.strip().removeprefix("nice -n 10 ").startswith(start)
        ]
        if elsewhere:
            lines.append(f"# run by {elsewhere[0]}: {command.strip()}")
            continue
        command = re.sub(r"(?<!nice )(?<![\w-])-n (\d[\d_]*)", at_most(STEPS, "-n "), command)
        command = re.sub(r"--n-timesteps (\d[\d_]*)", at_most(STEPS, "--n-timesteps "), command)
        command = re.sub(r"--n-trials (\d+)", at_most(TRIALS, "--n-trials "), command)
        command = re.sub(r"--max-trials (\d+)", at_most(TRIALS, "--max-trials "), command)
        command = re.sub(r"--steps (\d[\d_]*)", at_most(TRAIN_STEPS, "--steps "), command)
        if re.search(r"rl_zoo3[. ]train", command) and not re.search(r"(^|\s)(-n|--n-timesteps) ", command):
            command += f" -n {STEPS}"
        script = re.search(r"python ((?:scripts|lab)/[\w/]+\.py)", command)
        if script and "--quick" not in command and '"--quick"' in (ROOT / script.group(1)).read_text():
            command = command.replace(script.group(0), script.group(0) + " --quick", 1)
        command = re.sub(r"^(\s*)make (\w)", rf"\1make -n -C {ROOT} \2", command)
        if command.strip() == "wait":  # a bare wait succeeds whatever its jobs did: wait for each, failing with it
            command = command.replace("wait", 'for job in $(jobs -p); do wait "$job"; done')
        lines.append(command + comment)
    return "\n".join(lines) + "\n"


def workdir(tmp_path: Path) -> Path:
    for name in ("hyperparams", "scripts"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "lab").mkdir()
    for script in (ROOT / "lab").glob("*.py"):  # the scripts, not their outputs: a run writes its own
        (tmp_path / "lab" / script.name).symlink_to(script)
    return tmp_path


def run_block(language: str, code: str, cwd: Path, index: int) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    if language == "python":
        path = cwd / f"block_{index}.py"
        path.write_text(shrink_python(code))
        command = [sys.executable, str(path)]
    else:
        path = cwd / f"block_{index}.sh"
        path.write_text("set -e\n" + shrink_shell(code))
        command = ["bash", str(path)]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"README block {index} failed:\n{path.read_text()}\n{result.stderr[-4000:]}"


CASES = [
    pytest.param(heading, blocks, id=heading, marks=[pytest.mark.slow] if any(SLOW.search(c) for _, c in blocks) else [])
    for heading, blocks in sections(README)
]


@pytest.mark.parametrize("heading, blocks", CASES)
def test_readme_section_runs(tmp_path, heading, blocks):
    cwd = workdir(tmp_path)
    for index, (language, code) in enumerate(blocks):
        run_block(language, code, cwd, index)


def test_readme_reads_in_five_minutes():
    # An introduction, with everything else in the documentation (docs/): SB3's README is 285 lines
    assert len(README.splitlines()) <= 300


def test_extractor_finds_every_block():
    fenced = re.findall(r"^```(python|bash)$", README, flags=re.MULTILINE)
    assert sum(len(blocks) for _, blocks in sections(README)) == len(fenced) >= 5
    pages = README + "".join(path.read_text() for path in sorted((ROOT / "docs").rglob("*.rst")))
    for line in [*NOT_RUN, *RUN_ELSEWHERE]:
        assert line in pages, f"{line!r} is listed here, but neither the README nor a documentation page has it"
    for test in RUN_ELSEWHERE.values():
        path, name = test.split("::")
        assert f"def {name}(" in (ROOT / path).read_text(), f"{test} does not exist"


def test_budgets_are_substituted():
    assert shrink_python("model.learn(100_000)\nmodel.learn(total_timesteps=5)") == (
        f"model.learn({LEARN_STEPS})\nmodel.learn(total_timesteps=5)"
    )
    shell = shrink_shell(
        "nice -n 10 python scripts/reproduce_seeds.py --jobs 2    # writes docs\n"
        "python -m rl_zoo3.train --algo dqn --env CartPole-v1 \\\n    -optimize --n-trials 20 --n-timesteps 20000\n"
        "python -m rl_zoo3.train --algo ppo --env CartPole-v1 -P policy=SpikingMlpPolicy  # comment\n"
        "python -m rl_zoo3.enjoy --algo ppo -n 5000 --deterministic\n"
        "make train    # trains\n"
        "python scripts/dsqn_breakout.py --policy both            # full scale, GPU\n"
        "python scripts/dsqn_breakout.py --quick --policy both    # smoke run\n"
    ).splitlines()
    assert shell[0] == (
        "# run by tests/test_seed_scripts.py::test_reproduce_seeds_quick: "
        "nice -n 10 python scripts/reproduce_seeds.py --jobs 2"
    )
    assert shell[1].endswith(f"-optimize --n-trials {TRIALS} --n-timesteps {STEPS}")
    assert shell[2] == f"python -m rl_zoo3.train --algo ppo --env CartPole-v1 -P policy=SpikingMlpPolicy -n {STEPS}  # comment"
    assert shell[3] == f"python -m rl_zoo3.enjoy --algo ppo -n {STEPS} --deterministic"
    assert shrink_shell("python x.py --steps 300 -n 400 --n-trials 1\n") == "python x.py --steps 300 -n 400 --n-trials 1\n"
    assert shrink_python("model.learn(100)") == "model.learn(100)"
    assert shrink_shell("sleep 1 &\nwait\n") == 'sleep 1 &\nfor job in $(jobs -p); do wait "$job"; done\n'
    assert shell[4] == f"make -n -C {ROOT} train    # trains"
    assert shell[5] == "# not run: python scripts/dsqn_breakout.py --policy both"
    assert shell[6].startswith("# run by tests/test_seed_scripts.py::test_dsqn_breakout_quick: ")
    assert shrink_shell("python lab/firing_at_init.py\npython scripts/profile_step.py --threads 1\n") == (
        "python lab/firing_at_init.py\npython scripts/profile_step.py --threads 1\n"
    )
