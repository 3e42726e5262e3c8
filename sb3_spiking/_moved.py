"""
The modules of the package's first, flat layout, kept importable under their old names.

A saved model pickles the module path of its policy class and of classes in its ``policy_kwargs`` (e.g.
``sb3_spiking.torch_layers.SpikingNatureCNN``), and users' code and rl-zoo3 yml files name old paths (e.g.
``sb3_spiking.callbacks.SpikeStatsCallback``). A meta-path finder maps each old name to the module that now holds
its contents: importing the old name gives that same module object (so classes keep their identity), and
``python -m`` with an old name runs the new module.
"""

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any, Optional

# Old module -> the module that holds its contents now
MOVED = {
    "sb3_spiking.neurons": "sb3_spiking.snn",
    "sb3_spiking.fused": "sb3_spiking.snn.fused",
    "sb3_spiking.initialization": "sb3_spiking.snn.initialization",
    "sb3_spiking.torch_layers": "sb3_spiking.snn",
    "sb3_spiking.contrib_policies": "sb3_spiking.policies.contrib",
    "sb3_spiking.registry": "sb3_spiking.policies.registry",
    "sb3_spiking.monitor": "sb3_spiking.telemetry.stats",
    "sb3_spiking.energy": "sb3_spiking.telemetry.energy",
    "sb3_spiking.callbacks": "sb3_spiking.telemetry.callbacks",
    "sb3_spiking.nir_sim": "sb3_spiking.export.nir_sim",
    "sb3_spiking.tune": "sb3_spiking.tuning.tuner",
    "sb3_spiking.zoo": "sb3_spiking.tuning.zoo",
    "sb3_spiking.train": "sb3_spiking.demos.train",
    "sb3_spiking.classifier": "sb3_spiking.demos.classifier",
    "sb3_spiking.envs": "sb3_spiking.demos.gridworld",
}


# Building blocks that the package's top level exported before they moved to their subpackage
MOVED_NAMES = {
    name: "sb3_spiking.snn"
    for name in (
        "DECODERS",
        "NEURONS",
        "SURROGATES",
        "NonSpikingReadout",
        "SpikingCombinedExtractor",
        "SpikingFeaturesExtractor",
        "SpikingMlpExtractor",
        "SpikingNatureCNN",
    )
}


def moved_attribute(name: str) -> Any:
    """A name that ``sb3_spiking`` exported before, from the subpackage that holds it now."""
    if name not in MOVED_NAMES:
        raise AttributeError(f"module 'sb3_spiking' has no attribute {name!r}")
    return getattr(importlib.import_module(MOVED_NAMES[name]), name)


class _MovedLoader(importlib.abc.Loader):
    """Gives the new module for an old name; for ``python -m``, the new module's code."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> None:
        return None  # the default module; exec_module swaps it for the new one

    def exec_module(self, module: ModuleType) -> None:
        # The import system returns what sys.modules holds under the name once this returns: the new module
        sys.modules[module.__name__] = importlib.import_module(self.target)

    def get_code(self, fullname: str) -> Any:
        spec = importlib.util.find_spec(self.target)
        if spec is None or spec.loader is None:
            raise ImportError(f"{fullname} moved to {self.target}, which cannot be found")
        return spec.loader.get_code(self.target)  # type: ignore[attr-defined]


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old module names of :data:`MOVED`."""

    @classmethod
    def find_spec(cls, fullname: str, path: Any = None, target: Optional[ModuleType] = None) -> Any:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _MovedLoader(MOVED[fullname]))


def install() -> None:
    """Put the finder on ``sys.meta_path`` (idempotent)."""
    if MovedFinder not in sys.meta_path:
        sys.meta_path.append(MovedFinder)
