"""
What the spiking policies of the off-policy continuous-control algorithms (SAC, TD3, DDPG, TQC, CrossQ) share: a
spiking actor, and critics that stay SB3's own ANNs unless ``spiking_critic=True``.

Only the actor is deployed (on a neuromorphic chip, or exported); the critics only train it. By default they are
the algorithm's own critics, with their own non-spiking features extractor and ``activation_fn``, the hybrid used
by PopSAN and its successors, reading the observations as the actor's first layer does: standardised where it
standardises them. With ``spiking_critic=True`` their hidden layers spike too and the Q-values are read from
non-spiking output neurons, as in the Deep Spiking Q-Network.
"""

from typing import Any, Optional

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    NatureCNN,
)
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from sb3_spiking.policies.base import SpikingPolicyMixin, check_spiking_critic
from sb3_spiking.snn import (
    SpikingCombinedExtractor,
    SpikingConfig,
    SpikingFeaturesExtractor,
    SpikingNatureCNN,
    StandardisedExtractor,
    reads_raw_vectors,
    spiking_head,
    time_major,
)

# The non-spiking features extractor that SB3's critics get in place of a spiking one
ANN_EXTRACTORS: dict[type[BaseFeaturesExtractor], type[BaseFeaturesExtractor]] = {
    SpikingNatureCNN: NatureCNN,
    SpikingCombinedExtractor: CombinedExtractor,
}


def critic_input(features: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """
    Features and actions side by side: ``[B, F + A]``, or ``[T, B, F + A]`` (the actions repeated over time as a
    constant current) when the features are a spike train.
    """
    if features.dim() == 3:
        actions = time_major(actions, features.shape[0])
    return th.cat([features, actions], dim=-1)


def spike_q_networks(critic: nn.Module, n_outputs: int, net_arch: list[int], spiking: SpikingConfig) -> None:
    """
    Replace, in place, the ANN heads ``qf0, qf1, ...`` of an SB3 / sb3-contrib critic by spiking heads of the
    same input and output sizes (hidden spiking layers, then the non-spiking readout).

    :param critic: The critic, built with ``net_arch=[]`` (its throw-away heads are single linear layers)
    :param n_outputs: Outputs per head (1 Q-value, or the number of quantiles)
    :param net_arch: Sizes of the hidden spiking layers
    :param spiking: The spiking knobs
    """
    for index, old in enumerate(critic.q_networks):  # type: ignore[union-attr, arg-type]
        input_dim = next(module for module in old.modules() if isinstance(module, nn.Linear)).in_features
        head = spiking_head(input_dim, n_outputs, net_arch, spiking)
        critic.add_module(f"qf{index}", head)
        critic.q_networks[index] = head  # type: ignore[index]


class SpikingContinuousCritic(ContinuousCritic):
    """
    SB3's ``ContinuousCritic`` (SAC, TD3, DDPG) with spiking hidden layers: Q-values decoded from non-spiking output
    neurons. Takes ``ContinuousCritic``'s parameters (``activation_fn`` is unused) and the spiking knobs.

    :param spiking: The spiking knobs
    """

    def __init__(self, *args: Any, net_arch: list[int], spiking: SpikingConfig, **kwargs: Any) -> None:
        super().__init__(*args, net_arch=[], **kwargs)
        self.net_arch = net_arch
        spike_q_networks(self, 1, net_arch, spiking)

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        with th.set_grad_enabled(not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        qvalue_input = critic_input(features, actions)
        return tuple(q_net(qvalue_input) for q_net in self.q_networks)

    def q1_forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        with th.no_grad():
            features = self.extract_features(obs, self.features_extractor)
        return self.q_networks[0](critic_input(features, actions))


class SpikingOffPolicyMixin(SpikingPolicyMixin):
    """
    The spiking knobs and ``spiking_critic`` for the policies of SAC, TD3, DDPG, TQC and CrossQ. The actor spikes;
    the critics are the algorithm's own ANNs (``activation_fn`` applies to them only) unless ``spiking_critic``.
    Where the actor standardises the observations (``input_norm``, vector observations) and the critics have their
    own features extractor (``share_features_extractor=False``, the default), the critics read them standardised
    too, by their own :class:`~sb3_spiking.snn.StandardisedExtractor` (the same ``input_clip``); not CrossQ's, which
    renormalise their input themselves. A model whose critics read them raw (saved before they standardised them)
    loads into critics without the standardisation.

    :param spiking_critic: Whether the critics are spiking too (their hidden layers spike, their Q-values are read
        from non-spiking output neurons); then ``activation_fn`` is not taken
    :param kwargs: The parameters of the SB3 policy and the spiking knobs, see :class:`SpikingPolicyMixin`
        (``decoder`` defaults to ``last-mem``)
    """

    default_decoder = "last-mem"
    ann_activation_fn = True
    #: Whether the ANN critics read the observations standardised where the actor does
    standardised_critics = True
    population_action_readout = True
    actor_class: type[nn.Module]
    critic_class: Optional[type[nn.Module]] = SpikingContinuousCritic
    actor_kwargs: dict[str, Any]
    critic_kwargs: dict[str, Any]
    share_features_extractor: bool
    device: th.device

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        spiking_critic: bool = False,
        **kwargs: Any,
    ) -> None:
        check_spiking_critic(spiking_critic, kwargs)
        if spiking_critic and self.critic_class is None:
            raise ValueError(
                f"{type(self).__name__} has no spiking critic (spiking_critic=True): use spiking_critic=False, "
                "the algorithm's own critics"
            )
        self.spiking_critic = spiking_critic
        extractor_class = kwargs.get("features_extractor_class", self.default_features_extractor_class)
        if kwargs.get("net_arch") is None and issubclass(extractor_class, SpikingNatureCNN):
            # The actor as the DSQN network (its last spiking layer feeds the readout); SB3's critic head
            kwargs["net_arch"] = dict(pi=[], qf=[256, 256])
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def make_actor(self, features_extractor: Optional[BaseFeaturesExtractor] = None) -> nn.Module:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)  # type: ignore[attr-defined]
        return self.actor_class(**actor_kwargs, spiking=self.spiking).to(self.device)

    def make_critic(self, features_extractor: Optional[BaseFeaturesExtractor] = None) -> nn.Module:
        if self.spiking_critic:
            critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)  # type: ignore[attr-defined]
            assert self.critic_class is not None
            return self.critic_class(**critic_kwargs, spiking=self.spiking).to(self.device)
        if features_extractor is None:
            features_extractor = self.make_ann_features_extractor()
            if self.standardised_critics and not self.share_features_extractor and self._actor_standardises():
                features_extractor = StandardisedExtractor(features_extractor, clip=self.spiking.input_clip)
        elif isinstance(features_extractor, SpikingFeaturesExtractor):
            raise ValueError(
                "The ANN critics cannot share the actor's spiking features extractor: use share_features_extractor=False "
                "(the default) or spiking_critic=True"
            )
        return super().make_critic(features_extractor)  # type: ignore[misc]

    def _actor_standardises(self) -> bool:
        """Whether the actor's first spiking layer reads the observations standardised (SB3 builds the actor first)."""
        actor = getattr(self, "actor", None)
        return actor is not None and self.spiking.input_norm and reads_raw_vectors(actor.features_extractor)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """
        :meth:`~sb3_spiking.policies.base.SpikingPolicyMixin.load_state_dict`; a state dict whose critics read the
        observations raw loads into critics without the standardisation (if the load fails, they keep it).
        """
        critics = [getattr(self, name, None) for name in ("critic", "critic_target")]
        critics = [critic for critic in critics if critic is not None]
        standardised = [critic for critic in critics if isinstance(critic.features_extractor, StandardisedExtractor)]
        if not standardised or "critic.features_extractor.norm.running_mean" in state_dict:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        extractors = [critic.features_extractor for critic in standardised]
        for critic, extractor in zip(standardised, extractors):
            critic.features_extractor = extractor.extractor  # no parameters: the optimizers' stay as they are
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except Exception:
            for critic, extractor in zip(standardised, extractors):
                critic.features_extractor = extractor
            raise

    def make_ann_features_extractor(self) -> BaseFeaturesExtractor:
        """The critics' own features extractor: the policy's, or the SB3 counterpart of a spiking one."""
        extractor_class = self.features_extractor_class
        if issubclass(extractor_class, SpikingFeaturesExtractor):
            if extractor_class not in ANN_EXTRACTORS:
                raise ValueError(
                    f"The ANN critics need a non-spiking counterpart of {extractor_class.__name__} (known: "
                    f"{', '.join(cls.__name__ for cls in ANN_EXTRACTORS)}): use spiking_critic=True"
                )
            extractor_class = ANN_EXTRACTORS[extractor_class]
        return extractor_class(self.observation_space, **self.features_extractor_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        if self.spiking_critic:
            data.pop("activation_fn", None)
        data["spiking_critic"] = self.spiking_critic
        return data
