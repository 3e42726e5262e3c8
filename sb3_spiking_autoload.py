"""
Autoload of sb3-spiking: SB3 knows its policy names without an ``import sb3_spiking``, at no cost until one is used.

The installed ``sb3_spiking_autoload.pth`` imports this small module at interpreter start-up; it only puts an
import hook on ``sys.meta_path`` (no torch, no SB3). The hook acts right after these modules have been imported:

- ``stable_baselines3``, ``sb3_contrib``: each algorithm's ``policy_aliases`` dict becomes a
  :class:`LazyPolicyAliases` with the same entries. Nothing else is imported. The first time SB3 looks up a
  spiking name in it (``DQN("SpikingMlpPolicy", env)``), it imports ``sb3_spiking``, which registers the real
  classes (:func:`sb3_spiking.policies.registry.register_policies`), and answers from them. Loading a saved
  spiking model needs no hook: unpickling its policy class imports ``sb3_spiking``.
- ``rl_zoo3``: its train command takes ``-P key=value ...`` as hyperparameter overrides (:func:`progress_overrides`),
  and a command whose ``--algo`` is one of this plugin's algorithms (:data:`ZOO_ALGOS`) finds it in ``ALGOS``
  (:func:`zoo_algorithm`).
- ``rl_zoo3.exp_manager``: an experiment that optimises (``-optimize``) or loads a trial (``--trial-id``) imports
  :mod:`sb3_spiking.tuning.zoo` (the spiking knobs in rl-zoo3's samplers); a spiking policy on an entry written for
  an ANN gets the entry's ``policy_kwargs`` made to fit it (:mod:`sb3_spiking.tuning.entries`).

Set ``SB3_SPIKING_AUTOLOAD=0`` to switch it off. Nothing here may break start-up or an import of SB3: any
failure becomes a warning. This module imports nothing but ``os`` and ``sys`` at start-up.
"""

import os
import sys

ENV_VAR = "SB3_SPIKING_AUTOLOAD"
# The entry-point group of spiking policy names (the same as sb3_spiking.policies.registry.ENTRY_POINT_GROUP)
ENTRY_POINT_GROUP = "sb3_spiking.policies"
# Names that load the plugin when an algorithm does not know them (any entry point's name does too)
NAME_PREFIX = "Spiking"
# rl-zoo3's progress-bar flag, after which key=value words are hyperparameter overrides
PROGRESS_FLAGS = ("-P", "--progress")
HYPERPARAMS_FLAGS = ("-params", "--hyperparams")
CONF_FLAGS = ("-conf", "--conf-file")
# rl-zoo3 algorithm names of this plugin: name -> (its class as "module:attribute", the rl-zoo3 algorithm whose tuned
# hyperparameter file it reads unless the command gives one)
ZOO_ALGOS = {"proxy_td3": ("sb3_spiking.policies.proxy_target:ProxyTargetTD3", "td3")}

_plugin_tried = False
_entry_point_names = None


def enabled() -> bool:
    """Whether the autoload is on (``SB3_SPIKING_AUTOLOAD`` is not ``0``, ``false``, ``no`` or ``off``)."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "false", "no", "off")


def _warn(what: str, error: BaseException) -> None:
    import warnings

    warnings.warn(f"sb3-spiking autoload: {what} ({error!r}); set {ENV_VAR}=0 to silence this", stacklevel=3)


def _import(module_name: str) -> bool:
    """Import a module; a failure is a warning, never an error of the import or the call that asked for it."""
    try:
        __import__(module_name)
        return True
    except Exception as error:
        _warn(f"could not import {module_name}", error)
        return False


def load_plugin() -> None:
    """Import ``sb3_spiking`` (once per process), which registers its policy names with every algorithm."""
    global _plugin_tried
    if not _plugin_tried:
        _plugin_tried = True
        _import("sb3_spiking")


def _is_plugin_name(name: object) -> bool:
    """Whether a policy name is one of this plugin's: ``Spiking...``, or the name of an entry point of the group."""
    global _entry_point_names
    if not isinstance(name, str):
        return False
    if name.startswith(NAME_PREFIX):
        return True
    if _entry_point_names is None:
        # Only for an unknown name before the plugin is loaded: reading the installed metadata takes milliseconds
        try:
            from importlib.metadata import entry_points

            _entry_point_names = frozenset(entry_point.name for entry_point in entry_points(group=ENTRY_POINT_GROUP))
        except Exception:
            _entry_point_names = frozenset()
    return name in _entry_point_names


class LazyPolicyAliases(dict):
    """
    An algorithm's ``policy_aliases`` that imports ``sb3_spiking`` the first time a spiking name is looked up in it.

    SB3 resolves a policy name with ``name in cls.policy_aliases`` and then ``cls.policy_aliases[name]``; both
    (and ``get``) answer from the real registration once the plugin has been imported. Other names are plain
    dict look-ups, and an unknown spiking name still ends in SB3's own ``ValueError: Policy ... unknown``.
    """

    __slots__ = ()

    def __contains__(self, name: object) -> bool:
        if dict.__contains__(self, name):
            return True
        if _plugin_tried or not _is_plugin_name(name):
            return False
        load_plugin()
        return dict.__contains__(self, name)

    def __missing__(self, name: object) -> object:
        if self.__contains__(name):
            return dict.__getitem__(self, name)
        raise KeyError(name)

    def get(self, name: object, default: object = None) -> object:
        return self[name] if self.__contains__(name) else default


def make_aliases_lazy(module: object) -> None:
    """
    Give each algorithm class that ``module`` exports (in its ``__all__``) a :class:`LazyPolicyAliases` with the
    same entries, in place of its own ``policy_aliases`` dict. Idempotent.

    :param module: ``stable_baselines3`` or ``sb3_contrib``, once imported
    """
    for name in getattr(module, "__all__", ()):
        algorithm = getattr(module, name, None)
        aliases = vars(algorithm).get("policy_aliases") if isinstance(algorithm, type) else None
        if type(aliases) is dict:
            algorithm.policy_aliases = LazyPolicyAliases(aliases)


def _is_override(word: str) -> bool:
    key, sep, _ = word.partition("=")
    return bool(sep) and key.isidentifier()


def _as_param(word: str, namespace: dict) -> str:
    """
    ``key=value`` as rl-zoo3's ``key:value``: the value as written if it is a Python expression whose names all
    exist where rl-zoo3 evaluates it (``namespace``, builtins), else as a string. Decided from the syntax alone:
    the value is evaluated once, by rl-zoo3, as a ``-params`` value is.
    """
    import ast
    import builtins

    key, _, value = word.partition("=")
    try:
        tree = ast.parse(value.strip(), mode="eval")
    except SyntaxError:
        return f"{key}:{value!r}"
    nodes = list(ast.walk(tree))
    bound = {node.arg for node in nodes if isinstance(node, ast.arg)}  # lambda arguments, comprehension targets
    bound |= {node.id for node in nodes if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    names = {node.id for node in nodes if isinstance(node, ast.Name)} - bound
    if any(name not in namespace and not hasattr(builtins, name) for name in names):
        value = repr(value)
    return f"{key}:{value}"


def progress_overrides(argv: list, namespace: "dict | None" = None) -> list:
    """
    rl-zoo3's train arguments with the ``key=value`` words after ``-P`` turned into ``-params`` overrides.

    rl-zoo3's ``-P`` (``--progress``) shows a progress bar and takes no value, so ``-P policy=SpikingCnnPolicy``
    used to be an error. Here ``-P`` keeps its meaning and the ``key=value`` words right after it have the effect
    of ``-params key:value``: they go into the command's ``-params`` (first, so that a key that ``-params`` also
    gives takes the ``-params`` value), or into a new ``-params`` at the end. A value is what rl-zoo3 makes of a
    ``-params`` value (a Python expression: ``learning_starts=100``, ``policy_kwargs=dict(T=4)``), and a string
    where that fails (``policy=SpikingCnnPolicy``, ``learning_rate=lin_1e-4``), so no inner quotes are needed.
    Arguments without such words come back unchanged.

    ``-P policy=SpikingCnnPolicy buffer_size=1000 -n 400`` -> ``-P -n 400 -params policy:'SpikingCnnPolicy' buffer_size:1000``

    :param argv: The arguments of the train command (``sys.argv[1:]`` of ``python -m rl_zoo3.train``)
    :param namespace: The globals in which rl-zoo3 evaluates ``-params`` values (``rl_zoo3.utils``)
    :return: The arguments for rl-zoo3's parser
    """
    rest, overrides = [], []
    after_progress = False
    for word in argv:
        if after_progress and _is_override(word):
            overrides.append(_as_param(word, namespace or {}))
            continue
        rest.append(word)
        after_progress = word in PROGRESS_FLAGS
    if not overrides:
        return list(argv)
    for flag in HYPERPARAMS_FLAGS:
        if flag in rest:
            at = rest.index(flag) + 1
            return rest[:at] + overrides + rest[at:]
    return [*rest, HYPERPARAMS_FLAGS[0], *overrides]


def train_arguments_start(argv: list, orig_argv: list) -> int:
    """
    Where rl-zoo3's train arguments start in ``argv`` if this process runs its train command, else 0.

    ``python -m rl_zoo3.train ...``: 1 (while Python locates the module, ``sys.argv[0]`` is ``"-m"``; the
    module's name is in ``sys.orig_argv`` right before the arguments); ``rl_zoo3 train ...`` (rl-zoo3's console
    script) and ``python -m rl_zoo3.cli train ...``: 2.

    :param argv: ``sys.argv``
    :param orig_argv: ``sys.orig_argv``, the interpreter's own command line
    """
    if not argv:
        return 0
    if argv[0] == "-m" and len(orig_argv) > len(argv):
        module = orig_argv[len(orig_argv) - len(argv)]
        module = module[2:] if module.startswith("-m") else module
    else:
        module = os.path.splitext(os.path.basename(argv[0]))[0]
    if module == "rl_zoo3.train":
        return 1
    if module in ("rl_zoo3", "rl_zoo3.cli") and argv[1:2] == ["train"]:
        return 2
    return 0


def _zoo_command(module: object) -> None:
    """
    After ``rl_zoo3`` is imported, before its command parses ``sys.argv``: the ``-P key=value`` words of its train
    command, and this plugin's algorithm names.
    """
    start = train_arguments_start(sys.argv, getattr(sys, "orig_argv", []))
    if start:
        utils = sys.modules.get("rl_zoo3.utils")
        sys.argv[start:] = progress_overrides(sys.argv[start:], vars(utils) if utils is not None else {})
    if _algo_argument(sys.argv) in ZOO_ALGOS:  # train, enjoy or any rl-zoo3 command that takes --algo
        at = start or 1
        sys.argv[at:] = zoo_algorithm(sys.argv[at:], module.ALGOS, os.path.dirname(module.__file__), bool(start))


def _algo_argument(argv: list) -> "str | None":
    """The value of ``--algo`` in a command line (``--algo NAME`` or ``--algo=NAME``), None without one."""
    for index, word in enumerate(argv):
        if word == "--algo" and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith("--algo="):
            return word.partition("=")[2]
    return None


def zoo_algorithm(argv: list, algos: dict, zoo_root: str, train: bool = True) -> list:
    """
    For an rl-zoo3 command run with ``--algo`` one of :data:`ZOO_ALGOS`: add that algorithm to rl-zoo3's ``ALGOS``
    (which imports ``sb3_spiking``), and, for the train command, unless it gives a hyperparameter file (``-conf``),
    point it to the tuned file of the algorithm it extends (``proxy_td3``: rl-zoo3's ``td3.yml``). Other commands
    are left alone.

    ``--algo proxy_td3 --env Pendulum-v1`` -> ``--algo proxy_td3 --env Pendulum-v1 -conf <rl_zoo3>/hyperparams/td3.yml``

    :param argv: The command's arguments
    :param algos: rl-zoo3's ``ALGOS``, completed in place
    :param zoo_root: The folder of the ``rl_zoo3`` package (its ``hyperparams`` folder holds the tuned files)
    :param train: Whether the command is rl-zoo3's train command (the only one that reads a hyperparameter file)
    :return: The command's arguments for rl-zoo3's parser
    """
    name = _algo_argument(argv)
    if name not in ZOO_ALGOS:
        return list(argv)
    target, base = ZOO_ALGOS[name]
    if name not in algos:
        module_name, _, attribute = target.partition(":")
        __import__(module_name)
        algos[name] = getattr(sys.modules[module_name], attribute)
    if not train or any(word in CONF_FLAGS or word.startswith(tuple(flag + "=" for flag in CONF_FLAGS)) for word in argv):
        return list(argv)
    return [*argv, CONF_FLAGS[0], os.path.join(zoo_root, "hyperparams", f"{base}.yml")]


def _zoo_tuning(module: object) -> None:
    """rl-zoo3's ``ExperimentManager`` imports the tuning glue when it optimises or loads a trial."""
    manager = module.ExperimentManager
    init = manager.__init__
    if getattr(init, "_sb3_spiking_autoload", False):
        return

    def __init__(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        if getattr(self, "optimize_hyperparameters", False) or getattr(self, "trial_id", None) is not None:
            _import("sb3_spiking.tuning.zoo")

    __init__.__wrapped__ = init
    __init__.__doc__ = init.__doc__
    __init__._sb3_spiking_autoload = True
    manager.__init__ = __init__
    _zoo_entries(manager)


def _is_plugin_policy(policy: object) -> bool:
    """Whether rl-zoo3's ``policy`` (a name, or the class of a dotted name) may be one of this plugin's."""
    if isinstance(policy, type):
        return any(cls.__module__.split(".")[0] == "sb3_spiking" for cls in policy.__mro__)
    return _is_plugin_name(policy)


def _zoo_entries(manager: type) -> None:
    """A spiking policy on an entry written for an ANN: its ``policy_kwargs`` made to fit (``sb3_spiking.tuning.entries``)."""
    preprocess = manager._preprocess_hyperparams

    def _preprocess_hyperparams(self, hyperparams, *args, **kwargs):
        out = preprocess(self, hyperparams, *args, **kwargs)
        if isinstance(out[0].get("policy_kwargs"), dict) and _is_plugin_policy(out[0].get("policy")):
            if _import("sb3_spiking.tuning.entries"):
                sys.modules["sb3_spiking.tuning.entries"].fit_entry(self.algo, out[0])
        return out

    _preprocess_hyperparams.__wrapped__ = preprocess
    _preprocess_hyperparams.__doc__ = preprocess.__doc__
    manager._preprocess_hyperparams = _preprocess_hyperparams


# Module -> what to do with it right after it has been imported
TRIGGERS = {
    "stable_baselines3": make_aliases_lazy,
    "sb3_contrib": make_aliases_lazy,
    "rl_zoo3": _zoo_command,
    "rl_zoo3.exp_manager": _zoo_tuning,
}


def _run(trigger: str) -> None:
    try:
        TRIGGERS[trigger](sys.modules[trigger])
    except Exception as error:  # the plugin must never break the import of SB3 or rl-zoo3
        _warn(f"could not hook {trigger}", error)


class _AfterImport:
    """Calls the original loader, then the trigger's function."""

    def __init__(self, exec_module, trigger: str) -> None:
        self._exec_module = exec_module
        self._trigger = trigger

    def __call__(self, module) -> None:
        self._exec_module(module)
        _run(self._trigger)


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
            # Keep the loader (and its resource reader); only run the trigger after the module's own code
            loader.exec_module = _AfterImport(loader.exec_module, fullname)
        except Exception:
            pass
        return spec


def install() -> bool:
    """
    Put the hook on ``sys.meta_path`` (idempotent). Modules in :data:`TRIGGERS` that are already imported are
    hooked at once.

    :return: Whether the autoload is on
    """
    if not enabled():
        return False
    if AutoloadFinder not in sys.meta_path:
        sys.meta_path.insert(0, AutoloadFinder)
    for trigger in TRIGGERS:
        if trigger in sys.modules:
            _run(trigger)
    return True
