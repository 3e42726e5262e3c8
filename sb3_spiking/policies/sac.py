"""
Spiking policies for the squashed-Gaussian actors: SB3's SAC and sb3-contrib's TQC and CrossQ.

The actor's hidden layers spike; the Gaussian's mean and log-std are read from non-spiking output neurons
(:class:`~sb3_spiking.snn.readout.NonSpikingReadout`), and the action is ``tanh`` of a sample (``tanh(mean)`` when
deterministic), as in SB3. The critics are the algorithm's own (see :mod:`~sb3_spiking.policies.off_policy`).
"""

from typing import Any, Optional

import torch as th
from sb3_contrib.crossq.policies import Actor as CrossQActor
from sb3_contrib.crossq.policies import CrossQPolicy
from sb3_contrib.tqc.policies import Actor as TQCActor
from sb3_contrib.tqc.policies import Critic as TQCCritic
from sb3_contrib.tqc.policies import TQCPolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.type_aliases import PyTorchObs
from stable_baselines3.sac.policies import Actor, SACPolicy
from torch import nn

from sb3_spiking.policies.off_policy import SpikingOffPolicyMixin, critic_input, spike_q_networks
from sb3_spiking.snn import (
    NonSpikingReadout,
    PopulationReadout,
    SpikingCombinedExtractor,
    SpikingConfig,
    SpikingNatureCNN,
    encoder_input,
    spiking_mlp,
    spiking_mlp_output_dim,
)


class SpikingGaussianActorMixin:
    """
    Spiking squashed-Gaussian actor: hidden spiking layers (``net_arch``), then two non-spiking readouts for the
    mean and the log-std (with gSDE: the mean only; the exploration features are the hidden layer's firing rates).
    Takes the SB3 actor's parameters (``activation_fn`` is unused) and the spiking knobs.

    :param spiking: The spiking knobs
    """

    use_sde: bool
    log_std_init: float
    clip_mean: float
    action_dist: Any
    latent_pi: nn.Module
    mu: nn.Module
    log_std: Any

    def __init__(self, *args: Any, net_arch: list[int], features_dim: int, spiking: SpikingConfig, **kwargs: Any) -> None:
        # net_arch=[] keeps the throw-away ANN layers that the parent builds as small as possible
        super().__init__(*args, net_arch=[], features_dim=features_dim, **kwargs)  # type: ignore[call-arg]
        self.net_arch = net_arch
        self.spiking = spiking
        encoded = encoder_input(self.observation_space, self.features_extractor)  # type: ignore[attr-defined]
        self.latent_pi = spiking_mlp(features_dim, net_arch, spiking, **encoded)
        last_dim = spiking_mlp_output_dim(features_dim, net_arch, spiking)
        action_dim = get_action_dim(self.action_space)  # type: ignore[attr-defined]
        if self.use_sde:
            mu, self.log_std = self.action_dist.proba_distribution_net(
                latent_dim=last_dim, latent_sde_dim=last_dim, log_std_init=self.log_std_init
            )
            self.mu = (
                self._readout(mu) if spiking.action_readout == "linear" else PopulationReadout(last_dim, action_dim, spiking)
            )
            if self.clip_mean > 0.0:
                self.mu = nn.Sequential(self.mu, nn.Hardtanh(min_val=-self.clip_mean, max_val=self.clip_mean))
        else:
            self.mu = self._output(last_dim, action_dim)
            self.log_std = self._output(last_dim, action_dim)

    def _readout(self, linear: nn.Module) -> NonSpikingReadout:
        return NonSpikingReadout(linear, self.spiking.T, self.spiking.decoder, self.spiking.decoder_tau)

    def _output(self, in_features: int, out_features: int) -> nn.Module:
        """The non-spiking readout, or the population readout (``action_readout="population"``)."""
        if self.spiking.action_readout == "population":
            return PopulationReadout(in_features, out_features, self.spiking)
        return self._readout(nn.Linear(in_features, out_features))

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, dict[str, th.Tensor]]:
        if not self.use_sde:
            return super().get_action_dist_params(obs)  # type: ignore[misc]
        features = self.extract_features(obs, self.features_extractor)  # type: ignore[attr-defined]
        latent_pi = self.latent_pi(features)
        # gSDE's exploration noise depends on the latent features: give it the firing rates
        return self.mu(latent_pi), self.log_std, dict(latent_sde=latent_pi.mean(dim=0))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data["spiking"] = self.spiking
        return data


class SpikingSACActor(SpikingGaussianActorMixin, Actor):
    """SAC's actor with spiking hidden layers and non-spiking readouts, see :class:`SpikingGaussianActorMixin`."""


class SpikingTQCActor(SpikingGaussianActorMixin, TQCActor):
    """TQC's actor with spiking hidden layers and non-spiking readouts, see :class:`SpikingGaussianActorMixin`."""


class SpikingCrossQActor(SpikingGaussianActorMixin, CrossQActor):
    """
    CrossQ's actor with spiking hidden layers and non-spiking readouts, see :class:`SpikingGaussianActorMixin`.
    It has no batch renormalisation (CrossQ's critics keep theirs).
    """


class SpikingTQCCritic(TQCCritic):
    """
    TQC's quantile critics with spiking hidden layers: quantiles decoded from non-spiking output neurons.
    Takes TQC ``Critic``'s parameters (``activation_fn`` is unused) and the spiking knobs.

    :param spiking: The spiking knobs
    """

    def __init__(self, *args: Any, net_arch: list[int], spiking: SpikingConfig, **kwargs: Any) -> None:
        super().__init__(*args, net_arch=[], **kwargs)
        self.net_arch = net_arch
        spike_q_networks(self, self.n_quantiles, net_arch, spiking)

    def forward(self, obs: PyTorchObs, action: th.Tensor) -> th.Tensor:
        with th.set_grad_enabled(not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        qvalue_input = critic_input(features, action)
        return th.stack(tuple(qf(qvalue_input) for qf in self.q_networks), dim=1)


class SpikingSACPolicy(SpikingOffPolicyMixin, SACPolicy):
    """
    Spiking policy for SAC: a spiking squashed-Gaussian actor and SB3's ANN critics (``spiking_critic=True``: spiking
    critics). Takes :class:`SACPolicy`'s parameters, ``spiking_critic`` and the spiking knobs
    (see :class:`~sb3_spiking.policies.off_policy.SpikingOffPolicyMixin`).
    """

    actor_class = SpikingSACActor


class SpikingSACCnnPolicy(SpikingSACPolicy):
    """Spiking SAC policy for image observations: the actor reads a :class:`SpikingNatureCNN`, the critics a NatureCNN."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingSACMultiInputPolicy(SpikingSACPolicy):
    """Spiking SAC policy for Dict observations (:class:`SpikingCombinedExtractor`)."""

    default_features_extractor_class = SpikingCombinedExtractor


class SpikingTQCPolicy(SpikingOffPolicyMixin, TQCPolicy):
    """
    Spiking policy for TQC: a spiking squashed-Gaussian actor and TQC's quantile critics (ANN unless
    ``spiking_critic=True``). Takes :class:`TQCPolicy`'s parameters, ``spiking_critic`` and the spiking knobs.
    """

    actor_class = SpikingTQCActor
    critic_class = SpikingTQCCritic


class SpikingTQCCnnPolicy(SpikingTQCPolicy):
    """Spiking TQC policy for image observations (:class:`SpikingNatureCNN` for the actor)."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingTQCMultiInputPolicy(SpikingTQCPolicy):
    """Spiking TQC policy for Dict observations (:class:`SpikingCombinedExtractor`)."""

    default_features_extractor_class = SpikingCombinedExtractor


class SpikingCrossQPolicy(SpikingOffPolicyMixin, CrossQPolicy):
    """
    Spiking policy for CrossQ: a spiking squashed-Gaussian actor (without batch renormalisation) and CrossQ's
    batch-renormalised ANN critics, which CrossQ's target-free update relies on: ``spiking_critic`` is not
    available. Takes :class:`CrossQPolicy`'s parameters and the spiking knobs.
    """

    actor_class = SpikingCrossQActor
    critic_class: Optional[type[nn.Module]] = None
    standardised_critics = False  # its critics renormalise their input before each linear layer
