"""
Export a spiking policy's action path: to NIR (:func:`to_nir`, with :func:`run_nir`, a small simulator for the
round trip) for neuromorphic hardware and simulators, checked in closed loop in other NIR consumers
(:func:`verify_export`), and to TorchScript / ONNX (:func:`to_torchscript`, :func:`to_onnx`) for deployment without
SB3; for the stateful policies, the streaming step (observation and potentials in, action and potentials out):
:func:`to_torchscript_step`, :func:`to_onnx_step`, :func:`to_nir_streaming`.

Each name is imported when first used, so TorchScript works without the optional ``nir`` package and a missing
package is an error that names the extra to install (``pip install "sb3-spiking[extra]"``).
"""

import importlib
from typing import Any

# Name -> the module that defines it
_WHERE = {
    "NIR_EXPRESSIBLE_DECODERS": "nir_graph",
    "READOUTS": "nir_graph",
    "action_network": "nir_graph",
    "to_nir": "nir_graph",
    "nir_readout": "nir_sim",
    "run_nir": "nir_sim",
    "CHIPS": "budget",
    "CONSUMERS": "consumers",
    "ChipLimits": "budget",
    "DeployReport": "budget",
    "deploy_report": "budget",
    "ExportCheck": "verify",
    "consumer_runner": "consumers",
    "graph_actions": "verify",
    "host_readout": "nir_sim",
    "verify_export": "verify",
    "quantize_graph": "quantize",
    "quantize_policy": "quantize",
    "quantize_weight": "quantize",
    "DeterministicActor": "torchscript",
    "UnrolledNeuron": "torchscript",
    "to_onnx": "torchscript",
    "to_torchscript": "torchscript",
    "StreamingActor": "streaming",
    "flat_actor_state": "streaming",
    "run_nir_streaming": "streaming",
    "to_nir_streaming": "streaming",
    "to_onnx_step": "streaming",
    "to_torchscript_step": "streaming",
}
# Optional packages the export modules import, and the extra that installs them
_EXTRA = {"nir": "extra", "onnx": "extra", "onnxscript": "extra", "snntorch": "deploy", "sinabs": "deploy"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
    except ModuleNotFoundError as error:
        if error.name not in _EXTRA:
            raise
        raise ImportError(
            f"sb3_spiking.export.{name} needs the optional package {error.name!r}: "
            f'pip install "sb3-spiking[{_EXTRA[error.name]}]"'
        ) from error
    return getattr(module, name)


def __dir__() -> list[str]:
    return __all__
