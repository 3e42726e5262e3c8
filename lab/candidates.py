"""
Candidate defaults screened in the learning suite before any of them becomes a knob of the package (the suite names
them by their dotted path, e.g. ``policy="lab.candidates.CentredSpikingDQNPolicy"``).

``CentredSpikingDQNPolicy``: the spiking DQN policy whose second layer starts centred on what the first layer
sends it. With the first layer's thresholds spread (``input_span``), a neuron whose threshold lies far below the mean
fires on nearly every state, so it adds a constant to each second-layer neuron's current, of random sign and about
1.6 thresholds in size with ``input_span=3``: 13% of CartPole's second layer then never fires and another share
always does (``lab/first_layer_variants.md``). Centring sets each second-layer neuron's bias to minus the current
that the first layer's expected rates give it, the rate of first-layer neuron ``j`` taken as the chance that a
standard normal projection exceeds its threshold's offset ``c_j``, ``P(z > c_j)``. Centred at 0, CartPole's second
layer fires at 0.09 (0.28 uncentred); ``ThresholdCentredSpikingDQNPolicy`` centres each neuron's mean current at its
threshold instead, where its surrogate gradient peaks: no silent neuron and a rate of 0.29 on CartPole.

``DirectPathSpikingDQNPolicy``: the spiking DQN policy whose Q-values add a linear map of the standardised
observation (a direct, non-spiking path from the input to the readout, zero at the start) to the spiking network's.
A spiking network is piecewise constant in its input: after a thousand of DQN's gradient steps on MountainCar, 70% of
the transitions of a trained agent's replay buffer get exactly the same Q-values for the state and the next one from
the default spiking Q-network, none from the ANN (``lab/q_saturation.md``), and DQN's bootstrapped target
``r + gamma * max Q(s')`` then pins ``Q(s)`` to the fixed point ``r / (1 - gamma)``. The direct path makes the
Q-values change with every state.

``NormalisedSpikingDQNPolicy``: the spiking DQN policy whose hidden layers after the first standardise their input
currents per neuron (SpikingJelly's multi-step ``BatchNorm1d`` over the batch and the ``T`` steps, as
threshold-dependent batch normalisation does), then scale them to half a threshold around the threshold, where a
LIF neuron's spike count is graded. DQN's updates drive the second layer's currents out of that band on MountainCar
(99% of its (state, neuron) pairs at 0 or ``T`` spikes after 1,000 gradient steps, ``lab/q_saturation.md``): the
standardisation keeps them in it whatever the scale of the weights. ``FixedNormalisedSpikingDQNPolicy`` keeps the
scale and shift fixed (Adam would move them by about the learning rate per step, as it moves the weights).

``AnnCriticSpikingActorCriticPolicy``: the spiking actor-critic policy with SB3's ANN value function, as the
off-policy policies keep ANN critics, for A2C's fall-back on CartPole (``lab/a2c_fallback.md``).

``NormCriticSpikingActorCriticPolicy``: the actor-critic policy whose ANN value function reads the observations
standardised, as the spiking actor's first layer reads them, instead of raw: on CartPole A2C the spiking actor spent
about 100k steps with the cart running off the track before it learned to hold it, behind a value function on the raw
observations (whose angle varies on a scale of 0.04 rad). It is now the package's default.

``NormCriticSpikingSACPolicy``, ``NormCriticSpikingTD3Policy``: the same for the off-policy policies, whose ANN
critics read the raw observations while the spiking actor reads them standardised. It is now the package's default;
``RawCriticSpikingSACPolicy`` and ``RawCriticSpikingTD3Policy`` keep the earlier one (the suite's ``snn-rawq``).
"""

from functools import partial

import numpy as np
import torch as th
from spikingjelly.activation_based import layer as sj_layer
from spikingjelly.activation_based.neuron import BaseNode
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from sb3_spiking.policies.actor_critic import SpikingActorCriticPolicy
from sb3_spiking.policies.dqn import SpikingDQNPolicy, SpikingQNetwork
from sb3_spiking.policies.sac import SpikingSACPolicy
from sb3_spiking.policies.td3 import SpikingTD3Policy
from sb3_spiking.snn import RunningNorm, StandardisedExtractor
from sb3_spiking.snn.initialization import centre_second_layer_ as centre_at_threshold_


def centre_second_layer_(sequence: nn.Sequential, v_threshold: float, offset: float = 0.0) -> None:
    """In place: the bias of the linear layer after the first spiking layer behind a RunningNorm cancels the current
    that the first layer's expected rates give it, plus ``offset`` (the mean current then left). The package's
    :func:`~sb3_spiking.snn.initialization.centre_second_layer_` (knob ``centre_second_layer``) is ``offset=v_threshold``."""
    modules = list(sequence)
    for index, (previous, first) in enumerate(zip(modules, modules[1:])):
        if isinstance(previous, RunningNorm) and isinstance(first, nn.Linear):
            second = next((module for module in modules[index + 2 :] if isinstance(module, nn.Linear)), None)
            if second is not None and second.bias is not None:
                centre_at_threshold_(first, second, v_threshold)
                with th.no_grad():
                    second.bias.add_(offset - v_threshold)


class CentredSpikingDQNPolicy(SpikingDQNPolicy):
    """:class:`~sb3_spiking.policies.dqn.SpikingDQNPolicy` with :func:`centre_second_layer_` applied to its Q-network
    (the target network copies it)."""

    #: The mean current left to each second-layer neuron, in thresholds
    offset = 0.0

    def make_q_net(self) -> SpikingQNetwork:
        q_net = super().make_q_net()
        for module in q_net.modules():
            if isinstance(module, nn.Sequential):
                centre_second_layer_(module, self.spiking.v_threshold, self.offset * self.spiking.v_threshold)
        return q_net


class ThresholdCentredSpikingDQNPolicy(CentredSpikingDQNPolicy):
    """:class:`CentredSpikingDQNPolicy` whose second-layer neurons start with their mean current at the threshold."""

    offset = 1.0


class DirectPathHead(nn.Module):
    """
    A spiking head that begins with a :class:`~sb3_spiking.snn.RunningNorm`, plus a linear map of its standardised
    input added to its output: ``head(x) + direct(norm(x))``, the map zero at the start.

    :param head: The spiking head (``RunningNorm`` first, the non-spiking readout last)
    :param output_dim: Number of outputs of the head
    """

    def __init__(self, head: nn.Sequential, output_dim: int) -> None:
        super().__init__()
        if not isinstance(head[0], RunningNorm):
            raise ValueError(f"a direct path needs a head that standardises its input first, got {type(head[0]).__name__}")
        self.norm, self.spiking = head[0], head[1:]
        self.direct = nn.Linear(self.norm.num_features, output_dim)
        nn.init.zeros_(self.direct.weight)
        nn.init.zeros_(self.direct.bias)

    def forward(self, x: th.Tensor) -> th.Tensor:
        z = self.norm(x)
        return self.spiking(z) + self.direct(z)


class DirectPathSpikingDQNPolicy(SpikingDQNPolicy):
    """:class:`~sb3_spiking.policies.dqn.SpikingDQNPolicy` whose Q-network is a :class:`DirectPathHead` (the online
    network's spiking weights are the default's from the same seed: the direct map is drawn after them)."""

    def make_q_net(self) -> SpikingQNetwork:
        q_net = super().make_q_net()
        q_net.q_net = DirectPathHead(q_net.q_net, int(self.action_space.n)).to(self.device)
        return q_net


def with_normalised_currents(sequence: nn.Sequential, v_threshold: float, learnable: bool = True) -> nn.Sequential:
    """A copy of a spiking head's module list with a multi-step batch norm between each linear layer that reads
    spikes and its spiking neurons (not the first layer's, nor the readout's): currents standardised per neuron, then
    scaled by ``v_threshold / 2`` around ``v_threshold``."""
    modules, out = list(sequence), []
    for index, module in enumerate(modules):
        out.append(module)
        after_spikes = any(isinstance(previous, BaseNode) for previous in modules[:index])
        following = modules[index + 1] if index + 1 < len(modules) else None
        if isinstance(module, nn.Linear) and after_spikes and isinstance(following, BaseNode):
            norm = sj_layer.BatchNorm1d(module.out_features, step_mode="m")
            with th.no_grad():
                norm.weight.fill_(v_threshold / 2)
                norm.bias.fill_(v_threshold)
            norm.weight.requires_grad_(learnable)
            norm.bias.requires_grad_(learnable)
            out.append(norm)
    return nn.Sequential(*out)


class NormalisedSpikingDQNPolicy(SpikingDQNPolicy):
    """:class:`~sb3_spiking.policies.dqn.SpikingDQNPolicy` whose hidden currents after the first layer are batch
    normalised (:func:`with_normalised_currents`); the scale and shift are learned."""

    learnable = True

    def make_q_net(self) -> SpikingQNetwork:
        q_net = super().make_q_net()
        q_net.q_net = with_normalised_currents(q_net.q_net, self.spiking.v_threshold, self.learnable).to(self.device)
        return q_net


class FixedNormalisedSpikingDQNPolicy(NormalisedSpikingDQNPolicy):
    """:class:`NormalisedSpikingDQNPolicy` with the scale and shift fixed."""

    learnable = False


class AnnCriticSpikingActorCriticPolicy(SpikingActorCriticPolicy):
    """
    :class:`~sb3_spiking.policies.actor_critic.SpikingActorCriticPolicy` whose value function is SB3's own ANN (the
    ``MlpPolicy`` value branch: ``Tanh`` layers of the same sizes, orthogonal initialisation, on the raw
    observations), the actor left spiking, as the off-policy policies keep ANN critics. Only the actor acts, so the
    deployed network is as spiking as before; the critic only trains it. It is now the package's default, knob
    ``spiking_critic=False``; this class keeps its own construction (from the spiking value function, which it
    replaces) as it was when the suite's ``snn-anncritic`` runs were made.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, spiking_critic=True, **kwargs)

    def _build_mlp_extractor(self) -> None:
        super()._build_mlp_extractor()
        arch = self.net_arch.get("vf", []) if isinstance(self.net_arch, dict) else self.net_arch
        layers: list[nn.Module] = []
        size = self.features_dim
        for width in arch:
            layers += [nn.Linear(size, width), nn.Tanh()]
            size = width
        self.mlp_extractor.value_net = nn.Sequential(*layers).to(self.device)
        self.mlp_extractor.latent_dim_vf = size

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        # The mixin's spiking initialisation and readout apply to the actor; give the ANN value branch SB3's own
        # (the optimizer already holds these parameters: the layers are the same objects)
        if self.ortho_init:
            self.mlp_extractor.value_net.apply(partial(self.init_weights, gain=np.sqrt(2)))
        self.value_net = self.value_net.linear


class NormCriticSpikingActorCriticPolicy(SpikingActorCriticPolicy):
    """
    :class:`~sb3_spiking.policies.actor_critic.SpikingActorCriticPolicy` (the ANN value function) whose value function
    reads the observations standardised as the actor's first layer does (its own
    :class:`~sb3_spiking.snn.RunningNorm`, the same ``input_clip``) where the actor standardises them, instead of the raw
    observations. A :class:`~sb3_spiking.snn.RunningNorm` draws no random numbers: the other parameters are today's
    default's, from the same seed. It is now the package's default: the class adds the standardisation only where
    the default has none (it had none when the suite's ``snn-normcritic`` runs were made).
    """

    def _build_mlp_extractor(self) -> None:
        super()._build_mlp_extractor()
        actor, value = self.mlp_extractor.policy_net, self.mlp_extractor.value_net
        standardised = any(isinstance(module, RunningNorm) for module in value)
        if len(actor) and isinstance(actor[0], RunningNorm) and not standardised:
            value = list(self.mlp_extractor.value_net)
            norm = RunningNorm(self.features_dim, clip=self.spiking.input_clip).to(self.device)
            self.mlp_extractor.value_net = nn.Sequential(value[0], norm, *value[1:])


class NormCriticOffPolicyMixin:
    """
    The off-policy policies' ANN critics (and their targets, which SB3 gives the ``running_*`` statistics with the
    weights) on the observations standardised as the spiking actor's first layer reads them, where the critics would
    flatten the raw observations. A :class:`~sb3_spiking.snn.RunningNorm` draws no random numbers: the other
    parameters are the default's, from the same seed. It is now the package's default: the mixin builds the
    standardisation itself on the earlier default (``standardised_critics = False``), as it did when the suite's
    ``snn-normq`` runs were made, so that the test comparing it with the default can tell them apart.
    """

    standardised_critics = False

    def make_ann_features_extractor(self) -> BaseFeaturesExtractor:
        extractor = super().make_ann_features_extractor()  # type: ignore[misc]
        if self.spiking.input_norm and type(extractor) is FlattenExtractor:  # type: ignore[attr-defined]
            return StandardisedExtractor(extractor, clip=self.spiking.input_clip)  # type: ignore[attr-defined]
        return extractor


class NormCriticSpikingSACPolicy(NormCriticOffPolicyMixin, SpikingSACPolicy):
    """:class:`~sb3_spiking.policies.sac.SpikingSACPolicy` with :class:`NormCriticOffPolicyMixin`'s critics."""


class NormCriticSpikingTD3Policy(NormCriticOffPolicyMixin, SpikingTD3Policy):
    """:class:`~sb3_spiking.policies.td3.SpikingTD3Policy` with :class:`NormCriticOffPolicyMixin`'s critics."""


class RawCriticSpikingSACPolicy(SpikingSACPolicy):
    """:class:`~sb3_spiking.policies.sac.SpikingSACPolicy`, its ANN critics on the raw observations (the earlier default)."""

    standardised_critics = False


class RawCriticSpikingTD3Policy(SpikingTD3Policy):
    """:class:`~sb3_spiking.policies.td3.SpikingTD3Policy`, its ANN critics on the raw observations (the earlier default)."""

    standardised_critics = False
