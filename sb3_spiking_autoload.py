"""
Autoload of sb3-spiking: its policy names are known to SB3 as soon as ``stable_baselines3`` is imported.

The installed ``sb3_spiking_autoload.pth`` imports this small module at interpreter start-up; it only puts an
import hook on ``sys.meta_path`` (no torch, no SB3). When ``stable_baselines3`` is imported later, the hook
imports ``sb3_spiking``, which adds ``SpikingMlpPolicy`` & co. to every algorithm's ``policy_aliases``; when
rl-zoo3's ``exp_manager`` is imported, it also installs :mod:`sb3_spiking.tuning.zoo` (spiking knobs in ``-optimize``).

Set ``SB3_SPIKING_AUTOLOAD=0`` to switch it off. Nothing here may break start-up or an import of SB3: any
failure becomes a warning.
"""

import os
import sys

ENV_VAR = "SB3_SPIKING_AUTOLOAD"

# Module -> what to import (and call, if "module:function") right after it has been imported
TRIGGERS = {
    "stable_baselines3": "sb3_spiking",
    # sb3-contrib imports SB3 first, so the plugin loads while sb3_contrib is half-imported: register again at its end
    "sb3_contrib": "sb3_spiking.policies.registry:register_when_ready",
    "rl_zoo3.exp_manager": "sb3_spiking.tuning.zoo",
}


def enabled() -> bool:
    """Whether the autoload is on (``SB3_SPIKING_AUTOLOAD`` is not ``0``, ``false``, ``no`` or ``off``)."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "false", "no", "off")


def _run(target: str) -> None:
    try:
        module_name, _, function = target.partition(":")
        __import__(module_name)
        if function:
            getattr(sys.modules[module_name], function)()
    except Exception as error:  # the plugin must never break the import of SB3 or rl-zoo3
        import warnings

        warnings.warn(f"sb3-spiking autoload: could not import {target} ({error!r}); set {ENV_VAR}=0 to silence this")


class _AfterImport:
    """Calls the original loader, then imports the plugin module for this trigger."""

    def __init__(self, exec_module, target: str) -> None:
        self._exec_module = exec_module
        self._target = target

    def __call__(self, module) -> None:
        self._exec_module(module)
        _run(self._target)


class AutoloadFinder:
    """A meta-path finder that finds nothing itself; it hooks the loaders of the modules in :data:`TRIGGERS`."""

    _busy: set = set()

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname not in TRIGGERS or fullname in cls._busy:
            return None
        cls._busy.add(fullname)
        try:
            from importlib.util import find_spec

            spec = find_spec(fullname)
        except Exception:
            return None
        finally:
            cls._busy.discard(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        try:
            # Keep the loader (and its resource reader); only run the plugin after the module's own code
            loader.exec_module = _AfterImport(loader.exec_module, TRIGGERS[fullname])
        except Exception:
            pass
        return spec


def install() -> bool:
    """
    Put the hook on ``sys.meta_path`` (idempotent). Modules in :data:`TRIGGERS` that are already imported get
    their plugin module imported at once.

    :return: Whether the autoload is on
    """
    if not enabled():
        return False
    if AutoloadFinder not in sys.meta_path:
        sys.meta_path.insert(0, AutoloadFinder)
    for trigger, target in TRIGGERS.items():
        if trigger in sys.modules:
            _run(target)
    return True
