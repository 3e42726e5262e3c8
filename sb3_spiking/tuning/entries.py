"""
rl-zoo3 entries written for an ANN policy, trained with a spiking one: what the entry's ``policy_kwargs`` become.

rl-zoo3's tuned entries configure SB3's ANN policies. Naming a spiking policy instead (``-P policy=SpikingMlpPolicy``)
keeps every hyperparameter of the entry, and of its ``policy_kwargs`` all but those that configure what a spiking
policy does not have:

- ``activation_fn`` is dropped where the spiking neurons are the only activations (the Q-networks, and any policy with
  ``spiking_critic=True``); the ANN critics of the off-policy algorithms and the ANN value functions of the
  actor-critic ones keep it;
- for the stateful policies (``SpikingMlpRecurrentPolicy``...) on a ``ppo_lstm`` entry, the LSTM's layers become
  spiking layers of the same width in front of the entry's ``net_arch``, whose memory is their potential and their
  recurrent synapses: ``lstm_hidden_size=64, net_arch=dict(pi=[64], vf=[64])`` becomes
  ``net_arch=dict(pi=[64, 64], vf=[64, 64])`` (``n_lstm_layers`` of them, 1 by default). ``shared_lstm``,
  ``enable_critic_lstm`` and ``lstm_kwargs`` are dropped: the actor and the critic are separate spiking networks.

The zoo prints each change. Given to SB3 directly (no zoo), these keywords still raise a ``ValueError``: there the
caller wrote them for this policy. The hook that calls :func:`fit_entry` is installed by the autoload when
``rl_zoo3.exp_manager`` is imported.
"""

import inspect
from typing import Any

from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy

from sb3_spiking.policies import SpikingPolicyMixin
from sb3_spiking.policies.recurrent import LSTM_KEYWORDS, SpikingRecurrentActorCriticPolicy

#: RecurrentActorCriticPolicy's defaults for the keywords that size the LSTM (read from its signature)
LSTM_DEFAULTS = {
    name: inspect.signature(RecurrentActorCriticPolicy.__init__).parameters[name].default
    for name in ("lstm_hidden_size", "n_lstm_layers")
}
#: ActorCriticPolicy's layers after the features when ``net_arch`` is not given
DEFAULT_NET_ARCH = [64, 64]


def spiking_policy_kwargs(policy_class: type, policy_kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """
    The ``policy_kwargs`` of an entry written for an ANN policy, for a spiking policy class.

    :param policy_class: The spiking policy
    :param policy_kwargs: The entry's ``policy_kwargs``
    :return: The keywords for the spiking policy, and one line per change
    """
    kwargs, notes = dict(policy_kwargs), []
    all_spiking = not policy_class.ann_activation_fn or kwargs.get("spiking_critic") is True
    if "activation_fn" in kwargs and all_spiking:
        notes.append(f"activation_fn={_name(kwargs.pop('activation_fn'))} dropped: the spiking neurons are the activations")
    lstm = {key: kwargs.pop(key) for key in LSTM_KEYWORDS if key in kwargs}
    if lstm and issubclass(policy_class, SpikingRecurrentActorCriticPolicy):
        sizes = {key: lstm.get(key, default) for key, default in LSTM_DEFAULTS.items()}
        memory = [sizes["lstm_hidden_size"]] * sizes["n_lstm_layers"]
        net_arch = kwargs.get("net_arch", DEFAULT_NET_ARCH)
        pi, vf = (net_arch.get("pi", []), net_arch.get("vf", [])) if isinstance(net_arch, dict) else (net_arch, net_arch)
        kwargs["net_arch"] = dict(pi=memory + list(pi), vf=memory + list(vf))
        notes.append(
            f"{', '.join(f'{key}={value!r}' for key, value in lstm.items())}: the LSTM's layers are spiking layers with "
            f"recurrent synapses here, net_arch={kwargs['net_arch']!r}"
        )
    elif lstm:
        kwargs.update(lstm)  # an LSTM entry for a stateless policy: the policy's own error says what to do
    return kwargs, notes


def fit_entry(algo: str, hyperparams: dict[str, Any]) -> list[str]:
    """
    In place: the ``policy_kwargs`` of rl-zoo3's preprocessed hyperparameters made to fit their spiking policy
    (:func:`spiking_policy_kwargs`), each change printed. Nothing changes for another policy.

    :param algo: rl-zoo3's algorithm name (``ppo_lstm``...)
    :param hyperparams: The hyperparameters after rl-zoo3's ``_preprocess_hyperparams`` (``policy`` a name or a class)
    :return: The changes
    """
    from rl_zoo3.utils import ALGOS

    policy, kwargs = hyperparams.get("policy"), hyperparams.get("policy_kwargs")
    if isinstance(policy, str):
        policy = getattr(ALGOS.get(algo), "policy_aliases", {}).get(policy)
    if not isinstance(kwargs, dict) or not (isinstance(policy, type) and issubclass(policy, SpikingPolicyMixin)):
        return []
    hyperparams["policy_kwargs"], notes = spiking_policy_kwargs(policy, kwargs)
    for note in notes:
        print(f"sb3-spiking: the entry's policy_kwargs for {policy.__name__}: {note}")
    return notes


def _name(value: Any) -> str:
    return getattr(value, "__name__", repr(value))
