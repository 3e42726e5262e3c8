"""Sphinx configuration of the sb3-spiking documentation (``make docs`` builds it into ``docs/_build/html``)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("SB3_SPIKING_AUTOLOAD", "0")

import sb3_spiking

project = "sb3-spiking"
author = "sb3-spiking contributors"
copyright = "sb3-spiking contributors"
version = release = sb3_spiking.__version__

extensions = ["sphinx.ext.autodoc"]  # no math: the pages read offline, without a script from a CDN
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "results/*.md", "results/gpu"]
templates_path: list = []

html_theme = "sphinx_rtd_theme"
html_title = f"sb3-spiking {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "signature"
autoclass_content = "class"
autodoc_inherit_docstrings = False  # the libraries' own docstrings (gymnasium, SpikingJelly) are not ours to check
python_use_unqualified_type_names = True

# Every cross-reference must resolve (sphinx -n), except the names of the libraries we build on, which are not
# documented here (no intersphinx: the build stays offline)
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(torch|th|nn|np|numpy|gym|gymnasium|spaces|stable_baselines3|sb3_contrib|spikingjelly|optuna|nir|"
        r"onnx|onnxruntime|rl_zoo3|sj_neuron|argparse|pathlib|typing|collections|types)(\..*)?",
    ),
    (
        r"py:class",
        r"(Tensor|Module|Schedule|BaseFeaturesExtractor|BasePolicy|PyTorchObs|Space|Path|Any|Optional|Union|"
        r"Callable|Iterable|Iterator|Sequence|Mapping|ModuleType|NDArray|ndarray|TensorDict|GymEnv|MaybeCallback|"
        r"BaseCallback|BaseAlgorithm|ActorCriticPolicy|DQNPolicy|QRDQNPolicy|SACPolicy|TD3Policy|TQCPolicy|"
        r"CrossQPolicy|MaskableActorCriticPolicy|Actor|ContinuousCritic|NatureCNN|FlattenExtractor|"
        r"CombinedExtractor|TD3|Trial|Study|BaseStorage|BaseNode|Distribution|VecEnv|Logger|ExperimentManager|"
        r"Namespace|ArgumentParser|TextIO|Enum|Sampler|BasePruner|BaseSampler|"
        r"dtype|device|Parameter|Sequential|Linear|Conv2d|Flatten|Identity|Generator|Graph|NIRGraph|Dataclass)",
    ),
    (r"py:(obj|data|class)", r"(optional|callable|iterable|array-like|default|self|cls)"),
    (r"py:.*", r"(.*\.)?_\w+"),  # private helpers and bases, not documented
    (r"py:class", r"surrogate\..*"),
    (r"py:attr", r"(observation_space|action_space|render_mode|metadata)"),
]


def resolve_by_suffix(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """
    Resolve a short Python reference (``:class:`SpikingNatureCNN``` in a module that imports it) to the one documented
    object of that name, wherever it is documented; an ambiguous or unknown name stays unresolved (a warning).
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    domain = env.get_domain("py")
    matches = [name for name in domain.objects if name == target or name.endswith("." + target)]
    if not matches:  # a name re-exported by a package (sb3_spiking.SpikeStatsCallback): the object by its own name
        matches = [name for name in domain.objects if name.endswith("." + target.rsplit(".", 1)[-1])]
    if len(matches) != 1:
        return None
    from sphinx.util.nodes import make_refnode

    entry = domain.objects[matches[0]]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, matches[0])


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("missing-reference", resolve_by_suffix)
