"""
Build hook of sb3-spiking; the metadata is in pyproject.toml.

It ships ``sb3_spiking_autoload.pth`` at the root of site-packages, for regular and editable installs alike, so
that SB3 knows the spiking policy names without an ``import sb3_spiking`` (see ``sb3_spiking_autoload.py``).
The line only puts an import hook on ``sys.meta_path``; a missing module or ``SB3_SPIKING_AUTOLOAD=0`` makes it
a no-op, and it never stops the interpreter from starting.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "sb3_spiking_autoload.pth"
# One line, executed by the site module at start-up
PTH_LINE = (
    "import os; os.environ.get('SB3_SPIKING_AUTOLOAD') == '0' or exec('try:\\n import sb3_spiking_autoload\\n"
    " sb3_spiking_autoload.install()\\nexcept Exception:\\n pass')\n"
)


class BuildPyWithAutoload(build_py):
    """``build_py`` that also writes the autoload ``.pth`` next to the packages."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            # An editable wheel holds no package files, only what is written to its root (the "install" target)
            target_dir = self.get_finalized_command("install").install_lib
        else:
            target_dir = self.build_lib
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, PTH_NAME)
        with open(target, "w", encoding="utf-8") as file:
            file.write(PTH_LINE)
        self._pth_output = target

    def get_outputs(self, include_bytecode: bool = True) -> list:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs.append(os.path.join(self.build_lib, PTH_NAME))
        return outputs


setup(cmdclass={"build_py": BuildPyWithAutoload})
