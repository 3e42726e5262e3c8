"""Load a script of ``scripts/`` (the user tools) or ``lab/`` (the one-off measurements) as a module, for tests."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = (ROOT / "scripts", ROOT / "lab")


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` or ``lab/<name>.py`` as a module; its folder joins ``sys.path`` as when it runs."""
    path = next((folder / f"{name}.py" for folder in FOLDERS if (folder / f"{name}.py").exists()), None)
    assert path is not None, f"no script {name}.py in scripts/ or lab/"
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
