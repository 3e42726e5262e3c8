"""The autoload: installing the package makes SB3 know the spiking policy names, at no cost until one is used."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import sb3_spiking_autoload

ROOT = Path(__file__).resolve().parents[1]
PTH = Path(sysconfig.get_paths()["purelib"]) / "sb3_spiking_autoload.pth"


def python(code: str, autoload: str = "1", *flags: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SB3_SPIKING_AUTOLOAD=autoload, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *flags, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def setup_pth_line() -> str:
    """The ``.pth`` line that setup.py ships."""
    namespace: dict = {}
    source = (ROOT / "setup.py").read_text()
    exec(source.split("\nclass ")[0], namespace)  # the constants, not the setup() call
    return namespace["PTH_LINE"]


def test_installed_pth_is_one_cheap_line():
    lines = PTH.read_text().splitlines()
    assert lines == [setup_pth_line().rstrip("\n")]
    assert lines[0].startswith("import ") and "torch" not in lines[0] and "stable_baselines3" not in lines[0]


def test_startup_imports_only_the_hook():
    heavy = ("torch", "numpy", "stable_baselines3", "sb3_spiking", "spikingjelly", "gymnasium")
    code = f"import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})); print(sys.meta_path[0])"
    result = python(code)
    assert result.returncode == 0 and result.stderr == ""
    loaded, first_finder = result.stdout.splitlines()
    assert loaded == "[]"
    assert "AutoloadFinder" in first_finder


def test_sb3_knows_spiking_names_without_importing_the_plugin():
    result = python(
        "import stable_baselines3 as sb; m = sb.DQN('SpikingMlpPolicy', 'CartPole-v1'); print(type(m.policy).__name__)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SpikingDQNPolicy"


@pytest.mark.parametrize("switch", ["0", "off"])
def test_switched_off_sb3_raises_its_own_error(switch):
    result = python("import stable_baselines3 as sb; sb.DQN('SpikingMlpPolicy', 'CartPole-v1')", autoload=switch)
    assert result.returncode != 0
    assert "ValueError: Policy SpikingMlpPolicy unknown" in result.stderr
    assert "sb3_spiking" not in result.stderr


def test_install_after_sb3_import_hooks_at_once():
    code = (
        "import os, stable_baselines3, sb3_contrib, sb3_spiking_autoload\n"
        "assert 'SpikingMlpPolicy' not in sb3_contrib.QRDQN.policy_aliases\n"
        "os.environ['SB3_SPIKING_AUTOLOAD'] = '1'\n"
        "assert sb3_spiking_autoload.install()\n"
        "print(sb3_contrib.QRDQN.policy_aliases['SpikingMlpPolicy'].__name__)"
    )
    result = python(code, autoload="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SpikingQRDQNPolicy"


HEAVY = ("sb3_spiking", "spikingjelly", "sb3_contrib")


def test_sb3_import_loads_the_plugin_only_when_a_spiking_name_is_used():
    code = (
        "import sys, stable_baselines3 as sb\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "sb.PPO('MlpPolicy', 'CartPole-v1')  # a plain SB3 policy name loads nothing either\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "model = sb.DQN('SpikingMlpPolicy', 'CartPole-v1')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)), type(model.policy).__name__)"
    )
    result = python(code)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    before, plain, after = result.stdout.splitlines()
    assert before == plain == "[]"
    assert after == f"{sorted(HEAVY)} SpikingDQNPolicy"


def test_saved_spiking_model_loads_in_a_process_that_imports_only_sb3(tmp_path):
    from stable_baselines3 import PPO

    PPO("SpikingMlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, policy_kwargs=dict(T=3)).save(tmp_path / "model")
    code = (
        "import sys\nfrom stable_baselines3 import PPO\n"
        "assert 'sb3_spiking' not in sys.modules\n"
        f"model = PPO.load({str(tmp_path / 'model.zip')!r})\n"
        "print(type(model.policy).__module__, type(model.policy).__name__, model.policy.spiking.T)"
    )
    result = python(code)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.split() == ["sb3_spiking.policies.actor_critic", "SpikingActorCriticPolicy", "3"]


def test_failure_to_load_the_plugin_is_a_warning():
    code = (
        "import sys, stable_baselines3 as sb\n"
        "sys.modules['spikingjelly'] = None  # a broken install: importing sb3_spiking fails\n"
        "sb.DQN('SpikingMlpPolicy', 'CartPole-v1')"
    )
    result = python(code)
    assert "UserWarning: sb3-spiking autoload: could not import sb3_spiking" in result.stderr
    assert "ValueError: Policy SpikingMlpPolicy unknown" in result.stderr  # SB3's own error, not the plugin's


def test_any_entry_point_name_loads_the_plugin(tmp_path):
    """A name declared by another package in the entry-point group, without the ``Spiking`` prefix."""
    (tmp_path / "otherplugin.py").write_text(
        "from stable_baselines3.dqn.policies import DQNPolicy\n\n\n"
        "class OtherDQNPolicy(DQNPolicy):\n    pass\n\n\n"
        "def policies():\n    return {DQNPolicy: OtherDQNPolicy}\n"
    )
    info = tmp_path / "otherplugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: otherplugin\nVersion: 1.0\n")
    group = sb3_spiking_autoload.ENTRY_POINT_GROUP
    (info / "entry_points.txt").write_text(f"[{group}]\nOtherPolicy = otherplugin:policies\n")
    code = (
        "import sys, stable_baselines3 as sb\n"
        "assert 'sb3_spiking' not in sys.modules and not dict.__contains__(sb.DQN.policy_aliases, 'OtherPolicy')\n"
        "model = sb.DQN('OtherPolicy', 'CartPole-v1')\n"
        "print(type(model.policy).__name__, 'sb3_spiking' in sys.modules)"
    )
    env = dict(os.environ, SB3_SPIKING_AUTOLOAD="1", OMP_NUM_THREADS="1", PYTHONPATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["OtherDQNPolicy", "True"]


def test_entry_point_group_is_the_registry_one():
    from sb3_spiking.policies import registry

    assert sb3_spiking_autoload.ENTRY_POINT_GROUP == registry.ENTRY_POINT_GROUP


def test_lazy_aliases_answer_like_a_dict():
    aliases = sb3_spiking_autoload.LazyPolicyAliases({"MlpPolicy": int})
    assert "MlpPolicy" in aliases and aliases["MlpPolicy"] is int and aliases.get("MlpPolicy") is int
    # Here sb3_spiking is imported already: a spiking name that nobody registered in this dict stays unknown
    assert "SpikingMlpPolicy" not in aliases and aliases.get("SpikingMlpPolicy", "none") == "none"
    with pytest.raises(KeyError, match="CnnPolicy"):
        aliases["CnnPolicy"]
    assert dict(aliases) == {"MlpPolicy": int}


def test_zoo_tuning_glue_loads_only_to_optimize(tmp_path):
    code = (
        "import argparse, sys\nfrom rl_zoo3 import exp_manager, hyperparams_opt\n"
        "def manager(**kwargs):\n"
        f"    exp_manager.ExperimentManager(argparse.Namespace(), 'dqn', 'CartPole-v1', {str(tmp_path)!r}, **kwargs)\n"
        "    return 'sb3_spiking.tuning.zoo' in sys.modules\n"
        "print(manager(), manager(optimize_hyperparameters=True))\n"
        "print(hasattr(hyperparams_opt.HYPERPARAMS_SAMPLER['dqn'], '__sb3_spiking_wrapped__'))"
    )
    result = python(code)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.split() == ["False", "True", "True"]


def test_missing_module_never_breaks_startup(tmp_path):
    """A .pth left behind by a broken install: the interpreter starts silently, without the hook."""
    (tmp_path / PTH.name).write_text(setup_pth_line())
    code = f"import site, sys; site.addsitedir({str(tmp_path)!r}); print('sb3_spiking_autoload' in sys.modules)"
    result = python(code, "1", "-I", "-S")  # isolated: the installed module is not on the path
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.strip() == "False"


def test_enabled_reads_the_switch(monkeypatch):
    for value, expected in (("1", True), ("0", False), ("false", False), ("OFF", False), ("yes", True)):
        monkeypatch.setenv(sb3_spiking_autoload.ENV_VAR, value)
        assert sb3_spiking_autoload.enabled() is expected
    monkeypatch.delenv(sb3_spiking_autoload.ENV_VAR)
    assert sb3_spiking_autoload.enabled()


def test_regular_wheel_ships_the_pth_and_hook(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "sb3_spiking_autoload.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "sb3_spiking", source / "sb3_spiking", ignore=shutil.ignore_patterns("__pycache__"))
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        str(source),
        "-w",
        str(tmp_path),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("sb3_spiking-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "sb3_spiking_autoload.pth" in names and "sb3_spiking_autoload.py" in names
        assert archive.read("sb3_spiking_autoload.pth").decode() == setup_pth_line()
        record = archive.read(next(name for name in names if name.endswith(".dist-info/RECORD"))).decode()
    assert "sb3_spiking_autoload.pth," in record  # so that pip uninstall removes it


def test_sb3_contrib_first_knows_the_names():
    # sb3_contrib imports SB3 before its own algorithms exist: they are registered once it has finished
    code = (
        "from sb3_contrib import QRDQN, MaskablePPO; QRDQN('SpikingMlpPolicy', 'CartPole-v1'); "
        "print(QRDQN.policy_aliases['SpikingCnnPolicy'].__name__)"
    )
    out = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "SpikingCnnQRDQNPolicy"


def test_recurrent_ppo_knows_the_stateful_names():
    code = (
        "import rl_zoo3.import_envs; from sb3_contrib import RecurrentPPO; "
        "model = RecurrentPPO('SpikingMlpRecurrentPolicy', 'CartPoleNoVel-v1'); print(type(model.policy).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "SpikingRecurrentActorCriticPolicy"
