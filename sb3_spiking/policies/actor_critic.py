"""
Spiking policies for SB3's actor-critic algorithms (A2C, PPO, and sb3-contrib's TRPO).

Each policy is its SB3 counterpart with the actor's ReLU/Tanh layers replaced by spiking neurons and its output
layer by a non-spiking readout (:class:`~sb3_spiking.snn.readout.NonSpikingReadout`). The value function is SB3's
own ANN unless ``spiking_critic=True``, as the critics of the off-policy policies are: only the actor acts (and is
exported), the value function only trains it, and a spiking one held A2C back (the learning results' "The
actor-critic value function"). A forward pass simulates ``T`` steps from rest and keeps no state, so SB3 trains,
saves and loads these policies like any other.
"""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from sb3_spiking.policies.base import KNOBS_BUFFER, SpikingActorCriticMixin, check_spiking_critic, knobs_buffer
from sb3_spiking.snn import (
    RunningNorm,
    SpikingCombinedExtractor,
    SpikingMlpExtractor,
    SpikingNatureCNN,
    ann_mlp,
    encoder_input,
)

#: The value readout's weight in the state dict of a policy whose value function spikes
SPIKING_VALUE_KEY = "value_net.linear.weight"


class AnnValueMixin(SpikingActorCriticMixin):
    """
    ``spiking_critic`` for the actor-critic policies of A2C, PPO, TRPO and MaskablePPO: the actor spikes; the value
    function is the ANN branch that SB3's ``MlpExtractor`` builds (``activation_fn`` applies to it only, ``Tanh``
    by default, orthogonal initialisation with ``ortho_init``), reading the same features as the actor (their firing
    rates where the features extractor spikes) as the actor's first layer reads them: standardised by its own
    :class:`~sb3_spiking.snn.RunningNorm` (the same ``input_clip``) where the actor standardises them
    (``input_norm``, vector observations), unless ``spiking_critic``.

    A model saved before this knob existed has a spiking value function, and SB3 saves the ``policy_kwargs`` it was
    given, without the knob: loading such a model (or one saved again since) builds a spiking value function (and
    the optimizer again) before its parameters are copied, so it loads and acts as it was trained. A model whose ANN
    value function read the observations unstandardised (saved before it standardised them) loads into one without
    the standardisation.

    :param spiking_critic: Whether the value function is spiking too (spiking hidden layers, a non-spiking readout);
        then ``activation_fn`` is not taken
    :param kwargs: The parameters of the SB3 policy and the spiking knobs, see
        :class:`~sb3_spiking.policies.base.SpikingPolicyMixin`
    """

    #: ``activation_fn`` is taken, for the ANN value function (not with ``spiking_critic=True``)
    ann_activation_fn = True
    activation_fn: type[nn.Module]
    optimizer: th.optim.Optimizer

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        spiking_critic: bool = False,
        **kwargs: Any,
    ) -> None:
        check_spiking_critic(spiking_critic, kwargs)
        self.spiking_critic = spiking_critic
        self.ann_activation_fn = not spiking_critic
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _vf_arch(self) -> list[int]:
        return list(self.net_arch.get("vf", []) if isinstance(self.net_arch, dict) else self.net_arch)

    def _build_mlp_extractor(self) -> None:
        super()._build_mlp_extractor()
        if not self.spiking_critic:
            encoded = encoder_input(self.observation_space, self.features_extractor)  # type: ignore[attr-defined]
            standardised = self.spiking.input_norm and encoded["raw_input"]  # as the actor's first layer reads them
            norm = RunningNorm(self.features_dim, clip=self.spiking.input_clip) if standardised else None
            value_net, latent_dim = ann_mlp(self.features_dim, self._vf_arch(), self.activation_fn, norm)
            self.mlp_extractor.value_net = value_net.to(self.device)
            self.mlp_extractor.latent_dim_vf = latent_dim

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """
        :meth:`~sb3_spiking.policies.base.SpikingPolicyMixin.load_state_dict`; a state dict whose value function
        spikes, loaded into an ANN one, first gets a spiking value function built to load into (if the load fails,
        the policy is left as it was).
        """
        if self.spiking_critic:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        if SPIKING_VALUE_KEY not in state_dict:
            return self._load_ann_value(state_dict, strict=strict, assign=assign)
        before = (self.mlp_extractor.value_net, self.mlp_extractor.latent_dim_vf, self.value_net, self.optimizer)
        knobs = getattr(self, KNOBS_BUFFER)
        try:
            self._build_spiking_value()
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except Exception:
            self.mlp_extractor.value_net, self.mlp_extractor.latent_dim_vf, self.value_net, self.optimizer = before
            self.spiking_critic, self.ann_activation_fn = False, True
            setattr(self, KNOBS_BUFFER, knobs)
            raise

    def _load_ann_value(self, state_dict: Any, strict: bool, assign: bool) -> Any:
        """Into the ANN value function; one saved without the standardisation loads into one without it."""
        value_net = self.mlp_extractor.value_net
        index = next((index for index, module in enumerate(value_net) if isinstance(module, RunningNorm)), None)
        if index is None or f"mlp_extractor.value_net.{index}.running_mean" in state_dict:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        # Saved without it: the same layers without the standardisation (no parameters: the optimizer's stay as they are)
        self.mlp_extractor.value_net = nn.Sequential(*value_net[:index], *value_net[index + 1 :])
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except Exception:
            self.mlp_extractor.value_net = value_net
            raise

    def _build_spiking_value(self) -> None:
        """In place: the value function as it was before ``spiking_critic`` existed, and the optimizer again."""
        encoded = encoder_input(self.observation_space, self.features_extractor)  # type: ignore[attr-defined]
        with th.random.fork_rng(devices=[]):  # the weights are about to be overwritten: leave the user's stream alone
            extractor = SpikingMlpExtractor(self.features_dim, dict(pi=[], vf=self._vf_arch()), self.spiking, **encoded)
            value_net = self._readout(nn.Linear(extractor.latent_dim_vf, 1))
        # Assigned in place of the ANN modules, so the parameters keep their order (the optimizer's state follows it)
        self.mlp_extractor.value_net = extractor.value_net.to(self.device)
        self.mlp_extractor.latent_dim_vf = extractor.latent_dim_vf
        self.value_net = value_net.to(self.device)
        self.spiking_critic, self.ann_activation_fn = True, False
        setattr(self, KNOBS_BUFFER, knobs_buffer(self.resolved_knobs()))
        self.optimizer = type(self.optimizer)(self.parameters(), **self.optimizer.defaults)


class SpikingActorCriticPolicy(AnnValueMixin, ActorCriticPolicy):
    """
    Spiking policy for A2C, PPO and TRPO. Takes :class:`ActorCriticPolicy`'s parameters, ``spiking_critic`` and the
    spiking knobs of :class:`SpikingPolicyMixin` (decoder ``last-mem`` by default, as in SpikingJelly's spiking PPO).
    """


class SpikingActorCriticCnnPolicy(SpikingActorCriticPolicy):
    """Spiking actor-critic policy for image observations (:class:`SpikingNatureCNN`)."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingMultiInputActorCriticPolicy(SpikingActorCriticPolicy):
    """Spiking actor-critic policy for Dict observations (:class:`SpikingCombinedExtractor`)."""

    default_features_extractor_class = SpikingCombinedExtractor
