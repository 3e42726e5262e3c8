"""
Spiking policies for SB3's DQN and actor-critic algorithms (A2C, PPO, and sb3-contrib's TRPO).

Each policy is its SB3 counterpart with the ReLU/Tanh layers replaced by spiking neurons and the output layers by
non-spiking readouts (:class:`~sb3_spiking.neurons.NonSpikingReadout`). A forward pass simulates ``T`` steps from
rest and keeps no state, so SB3 trains, saves and loads these policies like any other.
"""

from typing import Any, Optional

import gymnasium as gym
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import StateDependentNoiseDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn

from sb3_spiking.initialization import spiking_init_
from sb3_spiking.neurons import NonSpikingReadout, SpikingConfig
from sb3_spiking.torch_layers import (
    SpikingCombinedExtractor,
    SpikingFeaturesExtractor,
    SpikingMlpExtractor,
    SpikingNatureCNN,
    spiking_extractor_kwargs,
    spiking_head,
)


class SpikingPolicyMixin:
    """
    What every spiking policy adds to its SB3 base class: the spiking knobs as keywords (validated here, saved by
    ``_get_constructor_parameters``), passed on to a spiking features extractor.

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule
    :param T: Number of simulation time steps per observation
    :param neuron: Hidden neuron model: ``"if"``, ``"lif"`` or ``"plif"``
    :param tau: Membrane time constant of LIF / PLIF neurons (> 1)
    :param surrogate: Surrogate gradient: ``"atan"``, ``"sigmoid"``, ``"erf"``, ``"soft-sign"``, ``"piecewise-quadratic"``
    :param v_threshold: Firing threshold of the hidden neurons
    :param detach_reset: Whether the reset after a spike is detached from the autograd graph
    :param decoder: Readout of the non-spiking output layer: ``"last-mem"``, ``"max-mem"``, ``"max-abs-mem"``,
        ``"mean-mem"`` or ``"fr-mlp"``; ``None`` takes the class default (``max-mem`` for Q-networks,
        ``last-mem`` for actor-critic)
    :param decoder_tau: Time constant of the non-spiking output integrator (>= 1)
    :param kwargs: The parameters of the SB3 base policy (``net_arch``, ``features_extractor_class``, ...),
        except ``activation_fn``: the spiking neurons are the activations
    """

    default_decoder = "max-mem"
    default_features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor
    spiking: SpikingConfig
    features_extractor_class: type[BaseFeaturesExtractor]
    features_extractor_kwargs: dict[str, Any]
    observation_space: gym.Space

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *,
        T: int = 8,
        neuron: str = "lif",
        tau: float = 2.0,
        surrogate: str = "atan",
        v_threshold: float = 1.0,
        detach_reset: bool = True,
        decoder: Optional[str] = None,
        decoder_tau: float = 2.0,
        **kwargs: Any,
    ) -> None:
        if "activation_fn" in kwargs:
            raise ValueError(
                "Spiking policies take no activation_fn: their activations are spiking neurons, "
                "chosen with neuron='if', 'lif' or 'plif'."
            )
        self.spiking = SpikingConfig(
            T=T,
            neuron=neuron,
            tau=tau,
            surrogate=surrogate,
            v_threshold=v_threshold,
            detach_reset=detach_reset,
            decoder=self.default_decoder if decoder is None else decoder,
            decoder_tau=decoder_tau,
        )
        extractor_class = kwargs.setdefault("features_extractor_class", self.default_features_extractor_class)
        if isinstance(observation_space, spaces.Dict) and not issubclass(extractor_class, SpikingCombinedExtractor):
            raise ValueError(
                f"Dict observation spaces need SpikingMultiInputPolicy (or a Dict-aware features_extractor_class), "
                f"not {type(self).__name__} with {extractor_class.__name__}."
            )
        if kwargs.get("net_arch") is None and issubclass(extractor_class, SpikingNatureCNN):
            # As SB3 does for NatureCNN: its last spiking layer feeds the readout directly (the DSQN layout)
            kwargs["net_arch"] = []
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)  # type: ignore[call-arg]

    def make_features_extractor(self) -> BaseFeaturesExtractor:
        """Helper method to create a features extractor, spiking ones with the policy's spiking knobs."""
        kwargs = spiking_extractor_kwargs(self.features_extractor_class, self.features_extractor_kwargs, self.spiking)
        return self.features_extractor_class(self.observation_space, **kwargs)

    def _predict(self, *args: Any, **kwargs: Any) -> th.Tensor:
        # Acting needs no autograd at all (SB3's predict() turns the result into numpy)
        with th.inference_mode():
            return super()._predict(*args, **kwargs)  # type: ignore[misc]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data.pop("activation_fn", None)
        data.update(self.spiking.to_kwargs())
        return data


class SpikingQNetwork(QNetwork):
    """
    Action-value network whose hidden layers spike and whose Q-values are read from non-spiking output neurons.

    :param observation_space: Observation space
    :param action_space: Action space
    :param features_extractor: Features extractor (static ``[B, F]`` or spiking ``[T, B, F]`` features)
    :param features_dim: Number of features
    :param net_arch: Sizes of the hidden spiking layers
    :param activation_fn: Unused (kept for SB3's ``net_args``): the activations are spiking neurons
    :param normalize_images: Whether to normalize images or not, dividing by 255.0 (True by default)
    :param spiking: The spiking knobs
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        net_arch: Optional[list[int]] = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        spiking: Optional[SpikingConfig] = None,
    ) -> None:
        # net_arch=[] keeps the throw-away ANN head that the parent builds as small as possible
        super().__init__(
            observation_space, action_space, features_extractor, features_dim, [], activation_fn, normalize_images
        )
        self.net_arch = [64, 64] if net_arch is None else net_arch
        self.spiking = SpikingConfig() if spiking is None else spiking
        self.q_net = spiking_head(self.features_dim, int(self.action_space.n), self.net_arch, self.spiking)


class SpikingDQNPolicy(SpikingPolicyMixin, DQNPolicy):
    """
    Spiking policy for DQN (the Deep Spiking Q-Network, DSQN): its Q-values are the decoded membrane potentials
    of non-spiking output neurons (``max-mem`` by default). Takes :class:`DQNPolicy`'s parameters and the spiking
    knobs of :class:`SpikingPolicyMixin`.
    """

    def make_q_net(self) -> SpikingQNetwork:
        # Make sure we always have separate networks for features extractors etc
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return SpikingQNetwork(**net_args, spiking=self.spiking).to(self.device)


class SpikingActorCriticMixin(SpikingPolicyMixin):
    """
    Spiking actor-critic: spiking hidden layers for the policy and the value function, and non-spiking readouts
    for the action distribution's parameters (logits, Gaussian means; the log-std stays a free parameter as in
    SB3) and for the value. ``ortho_init`` keeps SB3's default (True) and applies to the readouts (gain 0.01
    for the action layer, 1 for the value layer); the layers that drive spiking neurons always keep their
    threshold-aware initialisation (:func:`~sb3_spiking.initialization.spiking_init_`): SB3's orthogonal one,
    made for ReLU/Tanh units, would leave them silent.
    """

    default_decoder = "last-mem"
    mlp_extractor: SpikingMlpExtractor
    action_net: nn.Module
    value_net: nn.Module
    features_dim: int
    net_arch: Any
    device: Any

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = SpikingMlpExtractor(self.features_dim, self.net_arch, self.spiking, device=self.device)

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)  # type: ignore[misc]
        if self.ortho_init:
            # SB3 just re-initialised every layer orthogonally for ReLU/Tanh units, which would leave the spiking
            # layers silent: give the layers that drive spiking neurons their own initialisation back
            for module in {self.features_extractor, self.pi_features_extractor, self.vf_features_extractor}:
                if isinstance(module, SpikingFeaturesExtractor):
                    spiking_init_(module, self.spiking.v_threshold)
            spiking_init_(self.mlp_extractor, self.spiking.v_threshold)
        # The parent built (and initialised) the output layers; their neurons become non-spiking integrators.
        # The wrapped layers are the same objects, so the optimizer already holds their parameters.
        self.action_net = self._readout(self.action_net)
        self.value_net = self._readout(self.value_net)

    def _readout(self, linear: nn.Module) -> NonSpikingReadout:
        return NonSpikingReadout(linear, self.spiking.T, self.spiking.decoder, self.spiking.decoder_tau)

    def _get_action_dist_from_latent(self, latent_pi):  # type: ignore[no-untyped-def]
        if isinstance(self.action_dist, StateDependentNoiseDistribution):  # type: ignore[attr-defined]
            # gSDE's exploration noise depends on the latent features: give it the firing rates
            mean_actions = self.action_net(latent_pi)
            return self.action_dist.proba_distribution(mean_actions, self.log_std, latent_pi.mean(dim=0))  # type: ignore
        return super()._get_action_dist_from_latent(latent_pi)  # type: ignore[misc]


class SpikingActorCriticPolicy(SpikingActorCriticMixin, ActorCriticPolicy):
    """
    Spiking policy for A2C, PPO and TRPO. Takes :class:`ActorCriticPolicy`'s parameters and the spiking knobs of
    :class:`SpikingPolicyMixin` (decoder ``last-mem`` by default, as in SpikingJelly's spiking PPO).
    """


class SpikingCnnDQNPolicy(SpikingDQNPolicy):
    """Spiking DQN policy for image observations: the DSQN network (:class:`SpikingNatureCNN`)."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingMultiInputDQNPolicy(SpikingDQNPolicy):
    """Spiking DQN policy for Dict observations (:class:`SpikingCombinedExtractor`)."""

    default_features_extractor_class = SpikingCombinedExtractor


class SpikingActorCriticCnnPolicy(SpikingActorCriticPolicy):
    """Spiking actor-critic policy for image observations (:class:`SpikingNatureCNN`)."""

    default_features_extractor_class = SpikingNatureCNN


class SpikingMultiInputActorCriticPolicy(SpikingActorCriticPolicy):
    """Spiking actor-critic policy for Dict observations (:class:`SpikingCombinedExtractor`)."""

    default_features_extractor_class = SpikingCombinedExtractor
