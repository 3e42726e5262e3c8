"""
Several tuning workers on one Optuna study, one of them killed with SIGKILL in the middle of a trial.

Creates a study of fixed size (``python -m sb3_spiking.tuning --create-only --max-trials N``), starts standalone
tuner workers and rl-zoo3 ``-optimize`` workers side by side on it (A2C on CartPole, a few hundred steps per trial;
the kind to be killed starts first), waits until a trial of one of them has trained for 2 s, kills that worker,
waits for the others, and reports the trials asked, finished, failed, retried and lost, and the wall time::

    python lab/tuning_workers.py --storage postgresql://tune@127.0.0.1:5432/optuna
    python lab/tuning_workers.py --storage sqlite:///workers.db
    python lab/tuning_workers.py --storage local-postgres   # a throw-away server (tests/postgres.py)

The summary is printed and, with ``--json``, written to a file.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from sb3_spiking.tuning.space import SPIKING_PARAMS
from sb3_spiking.tuning.storage import WORKER_ATTR, make_storage

# A2C: the zoo's A2C sampler (n_steps <= 2048, one update per rollout) keeps a trial of a few hundred steps short
ZOO_YML = "CartPole-v1:\n  n_timesteps: {steps}\n  policy: 'SpikingMlpPolicy'\n  policy_kwargs: 'dict(net_arch=[16])'\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("::")[0].strip())
    parser.add_argument(
        "--storage", required=True, help="Optuna storage URL shared by the workers, or local-postgres: a throw-away server"
    )
    parser.add_argument("--study-name", default="workers", help="name of the study (must not exist yet)")
    parser.add_argument("--trials", type=int, default=8, help="trials asked for (--max-trials of the study)")
    parser.add_argument("--tuners", type=int, default=2, help="standalone tuner workers")
    parser.add_argument("--zoo", type=int, default=2, help="rl-zoo3 -optimize workers")
    parser.add_argument("--kill", choices=["zoo", "tuner", "none"], default="zoo", help="the kind of worker killed")
    parser.add_argument("--steps", type=int, default=300, help="training steps per trial")
    parser.add_argument("--heartbeat", type=int, default=2, help="heartbeat interval of the study (seconds)")
    parser.add_argument("--grace", type=int, default=20, help="seconds without heartbeat before a trial fails")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    parser.add_argument("--json", default=None, help="write the summary to this file")
    parser.add_argument("--summary-only", action="store_true", help="only summarize the existing study (--trials asked)")
    return parser.parse_args()


# The workers read the storage URL from this environment variable: a password stays off their command lines (ps)
STORAGE_VAR = "SB3_SPIKING_WORKERS_STORAGE"
STORAGE_REF = f"env:{STORAGE_VAR}"


def tuner_command(args: argparse.Namespace, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "sb3_spiking.tuning", "--algo", "a2c", "--env", "CartPole-v1", "--no-tune-algo"]
    command += ["--storage", STORAGE_REF, "--study-name", args.study_name, "--n-timesteps", str(args.steps)]
    command += ["--n-evaluations", "1", "--eval-episodes", "2", "--pruner", "none", "--no-progress"]
    command += ["--hyperparams", "n_steps=16", "--policy-kwargs", "{'net_arch': [16]}"]
    return [*command, *extra]


def zoo_command(args: argparse.Namespace, folder: Path) -> list[str]:
    conf = folder / "a2c.yml"
    conf.write_text(ZOO_YML.format(steps=args.steps))
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "a2c", "--env", "CartPole-v1", "-conf", str(conf)]
    command += ["-f", str(folder / "logs"), "-optimize", "--storage", STORAGE_REF, "--study-name", args.study_name]
    command += ["--n-evaluations", "1", "--eval-episodes", "2", "--pruner", "none", "--no-optim-plots", "-n", str(args.steps)]
    return command


def summarize(study: optuna.Study, asked: int) -> dict[str, Any]:
    """Trials asked / finished / failed / retried / lost / duplicated of a study of fixed size."""
    trials = study.get_trials(deepcopy=False)
    states = Counter(trial.state.name for trial in trials)
    finished = [trial for trial in trials if trial.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    retries = [trial for trial in trials if "failed_trial" in trial.system_attrs]
    failed = {trial.number for trial in trials if trial.state == TrialState.FAIL}
    # Lost: trials asked for that did not finish (a failed trial that was not retried, or whose retry did not
    # finish); duplicated: more than one finished trial going back to the same original trial
    recovered = {number for trial in finished for number in trial.system_attrs.get("retry_history", [])}
    origins = Counter(trial.system_attrs.get("failed_trial", f"own {trial.number}") for trial in finished)
    return {
        "asked": asked,
        "trials": len(trials),
        "states": dict(states),
        "finished": len(finished),
        "failed": sorted(failed),
        "retried": len(retries),
        "not_recovered": sorted(failed - recovered),
        "lost": max(0, asked - len(finished)),
        "duplicates": sum(count - 1 for count in origins.values()),
        "left_running": states.get("RUNNING", 0) + states.get("WAITING", 0),
    }


def main() -> None:
    args = parse_args()
    if args.storage == "local-postgres":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from postgres import PostgresServer, find_binaries

        bin_dir = find_binaries()
        if bin_dir is None:
            sys.exit("PostgreSQL server binaries not found: `make install` installs them")
        server = PostgresServer(bin_dir)
        server.start()
        try:
            args.storage = server.create_database("workers")
            run(args)
        finally:
            server.stop()
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    if args.summary_only:
        study = optuna.load_study(study_name=args.study_name, storage=make_storage(args.storage, heartbeat_interval=None))
        for key, value in summarize(study, args.trials).items():
            print(f"{key}: {value}")
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **{STORAGE_VAR: args.storage})
    folder = Path(tempfile.mkdtemp(prefix="tuning-workers-"))
    start = time.monotonic()
    create = tuner_command(args, "--create-only", "--max-trials", str(args.trials))
    create += ["--heartbeat-interval", str(args.heartbeat), "--grace-period", str(args.grace)]
    subprocess.run(create, check=True, env=env, stdout=subprocess.DEVNULL)

    study = optuna.load_study(study_name=args.study_name, storage=make_storage(args.storage, heartbeat_interval=None))
    logs, workers = [], []
    # The kind of worker to be killed starts first, the others once one of its trials runs (or after 120 s), so
    # that the other kind cannot finish the study before there is a trial to kill
    kinds = sorted((("zoo", args.zoo), ("tuner", args.tuners)), key=lambda kind_count: kind_count[0] != args.kill)
    for kind, count in kinds:
        if workers and kind != args.kill:
            deadline = time.monotonic() + 120
            pids = {f"{os.uname().nodename}:{process.pid}" for _, process in workers}
            while time.monotonic() < deadline and not any(
                trial.user_attrs.get(WORKER_ATTR) in pids for trial in study.get_trials(deepcopy=False)
            ):
                time.sleep(0.5)
        for index in range(count):
            log = open(folder / f"{kind}{index}.log", "w")
            if kind == "zoo":
                (folder / f"zoo{index}").mkdir()
                command = zoo_command(args, folder / f"zoo{index}")
            else:
                command = tuner_command(args, "--resume")
            workers.append((kind, subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)))
            logs.append(log)

    killed: dict[str, Any] = {}
    # The victim: the first worker of that kind seen training a trial for 2 s
    candidates = {f"{os.uname().nodename}:{process.pid}": process for kind, process in workers if kind == args.kill}
    while candidates and not killed and time.monotonic() - start < args.timeout:
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            started = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
            sampled = set(SPIKING_PARAMS) <= set(trial.params)  # training has started
            victim = candidates.get(trial.user_attrs.get(WORKER_ATTR))
            if victim is not None and victim.poll() is None and sampled and time.time() - started > 2.0:
                os.kill(victim.pid, signal.SIGKILL)
                killed = {"worker": args.kill, "trial": trial.number, "params": trial.params}
                break
        if all(process.poll() is not None for process in candidates.values()):
            break  # they all ended before one could be killed
        time.sleep(0.2)

    codes = []
    for kind, process in workers:
        try:
            codes.append((kind, process.wait(timeout=max(1.0, args.timeout - (time.monotonic() - start)))))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append((kind, "timeout"))
    for log in logs:
        log.close()
    summary = summarize(study, args.trials)
    summary.update(
        storage=args.storage.split("://")[0].split("+")[0],
        workers=f"{args.tuners} tuner + {args.zoo} rl-zoo3",
        killed=killed,
        exit_codes=[f"{kind}: {code}" for kind, code in codes],
        wall_s=round(time.monotonic() - start, 1),
        logs=str(folder),
    )
    lines = {line.strip() for path in folder.glob("*.log") for line in path.read_text().splitlines()}
    errors = sorted(line for line in lines if "Error" in line or "error" in line)
    summary["errors"] = errors[:10]
    for key, value in summary.items():
        print(f"{key}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
