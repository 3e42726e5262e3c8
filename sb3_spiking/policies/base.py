"""
What every spiking policy adds to its SB3 base class (the spiking knobs, the spiking features extractor, acting
without autograd), and the spiking actor-critic that A2C, PPO, TRPO and MaskablePPO share.
"""

import dataclasses
import json
import numbers
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import StateDependentNoiseDistribution
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from sb3_spiking.snn import (
    NonSpikingReadout,
    RunningNorm,
    SpikingCombinedExtractor,
    SpikingConfig,
    SpikingFeaturesExtractor,
    SpikingMlpExtractor,
    SpikingNatureCNN,
    encoder_input,
    spiking_extractor_kwargs,
    spiking_init_,
)
from sb3_spiking.snn.config import INITIALISATION_KNOBS

#: The buffer of a spiking policy's state dict that records its resolved knobs (JSON bytes, see ``resolved_knobs``)
KNOBS_BUFFER = "spiking_knobs"
#: The values that the initialisation's knobs had before each existed
INITIAL_DEFAULTS = {
    field.name: field.default for field in dataclasses.fields(SpikingConfig) if field.name in INITIALISATION_KNOBS
}


def check_net_arch(net_arch: Any) -> None:
    """
    A ``ValueError`` unless ``net_arch`` is None, a list of layer sizes (integers >= 1) or a dict of such lists
    (``pi`` / ``vf`` for actor-critic, ``pi`` / ``qf`` for the off-policy algorithms), as SB3 takes it.

    :param net_arch: The ``net_arch`` keyword of a spiking policy
    """
    if net_arch is None:
        return
    usage = "a list of layer sizes (e.g. [64, 64]) or a dict of them (e.g. dict(pi=[64, 64], vf=[64, 64]))"
    if isinstance(net_arch, dict):
        unknown = sorted(set(net_arch) - {"pi", "vf", "qf"}, key=str)
        if unknown:
            raise ValueError(f"Unknown net_arch key(s) {unknown}: valid keys are 'pi', 'vf' and 'qf'")
        lists = {f"net_arch[{key!r}]": value for key, value in net_arch.items()}
    else:
        lists = {"net_arch": net_arch}
    for name, sizes in lists.items():
        if not isinstance(sizes, (list, tuple)):
            raise ValueError(f"{name} must be {usage}, got {sizes!r}")
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
                raise ValueError(f"{name} must hold layer sizes that are integers >= 1, got {size!r} in {sizes!r}")


def check_finite_observation(module: nn.Module, args: tuple[Any, ...]) -> None:
    """
    Forward pre-hook of the features extractors: a ``ValueError`` naming the observation (batch index, key of a
    Dict observation) when it holds a NaN or an infinite value. A spiking network would turn it into plausible
    actions or, in training, into NaN weights, without an error. Skipped while exporting (tracing).
    """
    if th.jit.is_tracing() or th.onnx.is_in_onnx_export() or not args:
        return
    observations = args[0]
    items = observations.items() if isinstance(observations, dict) else [(None, observations)]
    for key, value in items:
        if not isinstance(value, th.Tensor) or not value.is_floating_point():
            continue
        finite = th.isfinite(value)
        if bool(finite.all()):
            continue
        bad = (~finite).reshape(len(value), -1).any(dim=1) if value.dim() > 0 else ~finite.view(1)
        rows = bad.nonzero().flatten().tolist()
        where = f"observation key {key!r}, " if key is not None else ""
        kinds = " and ".join(kind for kind, found in (("NaN", value.isnan().any()), ("inf", value.isinf().any())) if found)
        raise ValueError(
            f"The observation holds {kinds} values ({where}batch index {rows[:10]}): spiking policies need finite "
            "observations. Find where they come from with stable_baselines3.common.vec_env.VecCheckNan, or replace "
            "them before they reach the policy (e.g. numpy.nan_to_num, or clip them with VecNormalize)."
        )


def check_spiking_critic(spiking_critic: Any, kwargs: dict[str, Any]) -> None:
    """
    Validate ``spiking_critic`` (the critics' or the value function's hidden layers spiking too) against the policy's
    other keywords: a bool, and no ``activation_fn`` with it, since every hidden layer then spikes.

    :param spiking_critic: The keyword's value
    :param kwargs: The policy's other keywords
    """
    if not isinstance(spiking_critic, bool):
        raise ValueError(f"spiking_critic must be True or False, got {spiking_critic!r}")
    if spiking_critic and "activation_fn" in kwargs:
        raise ValueError(
            "With spiking_critic=True every hidden layer spikes: drop activation_fn (the neuron is chosen with "
            "neuron='if', 'lif' or 'plif')"
        )


def knobs_buffer(knobs: dict[str, Any]) -> th.Tensor:
    """The resolved knobs as the bytes of their JSON (the buffer ``spiking_knobs``)."""
    return th.tensor(list(json.dumps(knobs, sort_keys=True).encode()), dtype=th.uint8)


class SpikingPolicyMixin:
    """
    What every spiking policy adds to its SB3 base class: the spiking knobs as keywords (validated here, saved by
    ``_get_constructor_parameters``), passed on to a spiking features extractor.

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule
    :param kwargs: The spiking knobs of :class:`~sb3_spiking.snn.config.SpikingConfig` (``T``, ``neuron``, ``tau``,
        ``decoder``...; ``decoder`` defaults to the class's ``default_decoder``: ``max-mem`` for Q-networks,
        ``last-mem`` for actor-critic; ``neuron`` to its ``default_neuron``: ``"lif"`` for Q-networks and the
        off-policy actors, ``"if"`` for actor-critic; the Q-networks also spread their first layer's thresholds and
        centre the second layer, :data:`~sb3_spiking.policies.dqn.Q_NETWORK_KNOBS`) and the parameters of the SB3
        base policy (``net_arch``, ``features_extractor_class``, ...) except ``activation_fn``: the spiking neurons
        are the activations
    """

    default_decoder = "max-mem"
    default_neuron = "lif"
    #: This family's defaults of the other knobs where they differ from SpikingConfig's
    family_knobs: dict[str, Any] = {}
    default_features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor
    #: Whether ``activation_fn`` is taken, for the policy's ANN parts (the off-policy critics)
    ann_activation_fn = False
    #: Whether the policy has continuous outputs that ``action_readout="population"`` applies to
    population_action_readout = False
    spiking: SpikingConfig
    features_extractor_class: type[BaseFeaturesExtractor]
    features_extractor_kwargs: dict[str, Any]
    observation_space: gym.Space

    def __init__(
        self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule, **kwargs: Any
    ) -> None:
        if "activation_fn" in kwargs and not self.ann_activation_fn:
            raise ValueError(
                "Spiking policies take no activation_fn: their activations are spiking neurons, "
                "chosen with neuron='if', 'lif' or 'plif'."
            )
        check_net_arch(kwargs.get("net_arch"))
        self.spiking = SpikingConfig.pop_from(
            kwargs, decoder=self.default_decoder, neuron=self.default_neuron, **self.family_knobs
        )
        extractor_class = kwargs.setdefault("features_extractor_class", self.default_features_extractor_class)
        if self.spiking.action_readout != "linear" and not self.population_action_readout:
            raise ValueError(
                f"action_readout={self.spiking.action_readout!r} applies to the actors of SAC, TD3, DDPG, TQC and "
                f"CrossQ, not to {type(self).__name__}: use action_readout='linear'"
            )
        if self.spiking.encoder == "population" and issubclass(extractor_class, SpikingNatureCNN):
            raise ValueError(
                "encoder='population' reads vector observations; a spiking CNN encodes images itself: "
                "use encoder='linear' with SpikingCnnPolicy"
            )
        if isinstance(observation_space, spaces.Dict) and not issubclass(extractor_class, SpikingCombinedExtractor):
            raise ValueError(
                f"Dict observation spaces need SpikingMultiInputPolicy (or a Dict-aware features_extractor_class), "
                f"not {type(self).__name__} with {extractor_class.__name__}."
            )
        if kwargs.get("net_arch") is None and issubclass(extractor_class, SpikingNatureCNN):
            # As SB3 does for NatureCNN: its last spiking layer feeds the readout directly (the DSQN layout)
            kwargs["net_arch"] = []
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)  # type: ignore[call-arg]
        # SB3's Algo.save() keeps the user's policy_kwargs, not the resolved knobs: the state dict records them
        self.register_buffer(KNOBS_BUFFER, knobs_buffer(self.resolved_knobs()))  # type: ignore[attr-defined]
        # Evaluation mode until an algorithm's train() asks for training mode: a fresh or loaded policy called
        # directly (``model.q_net(obs)``, an export) leaves its statistics as they are
        self.set_training_mode(False)  # type: ignore[attr-defined]

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """
        :meth:`torch.nn.Module.load_state_dict`, all or nothing: a state dict that does not fit (missing or unexpected
        keys, another shape, knobs that differ) raises and leaves every parameter and buffer as it was (PyTorch alone
        would have copied the entries that fit). SB3's ``set_parameters`` and ``load`` call it.
        """
        before = {name: tensor.detach().clone() for name, tensor in super().state_dict().items()}  # type: ignore[misc]
        spiking = self.spiking
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)  # type: ignore[misc]
        except Exception:
            self.spiking = spiking
            setattr(self, KNOBS_BUFFER, before[KNOBS_BUFFER])
            super().load_state_dict(before, strict=False)  # type: ignore[misc]
            raise

    def make_features_extractor(self) -> BaseFeaturesExtractor:
        """
        Helper method to create a features extractor, spiking ones with the policy's spiking knobs. It refuses
        observations with a NaN or an infinite value (:func:`check_finite_observation`), in ``predict`` as in training.
        """
        kwargs = spiking_extractor_kwargs(self.features_extractor_class, self.features_extractor_kwargs, self.spiking)
        extractor = self.features_extractor_class(self.observation_space, **kwargs)
        extractor.register_forward_pre_hook(check_finite_observation)
        return extractor

    def _predict(self, *args: Any, **kwargs: Any) -> th.Tensor:
        # Acting needs no autograd at all (SB3's predict() turns the result into numpy)
        with th.inference_mode():
            return super()._predict(*args, **kwargs)  # type: ignore[misc]

    def set_training_mode(self, mode: bool) -> None:
        """
        SB3's ``set_training_mode``, skipped where every module is already in that mode: ``predict`` calls it at every
        action, and ``nn.Module.train`` walks the whole network, setting each neuron's flag through SpikingJelly's
        ``__setattr__``, where checking the flags only reads them.

        :param mode: if true, set to training mode, else set to evaluation mode
        """
        if any(module.training != mode for module in self.modules()):  # type: ignore[attr-defined]
            super().set_training_mode(mode)  # type: ignore[misc]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        if not self.ann_activation_fn:
            data.pop("activation_fn", None)
        data.update(self.resolved_knobs())
        return data

    def resolved_knobs(self) -> dict[str, Any]:
        """Every spiking knob of the policy as it was built, defaults resolved (saved in its state dict too, as the
        buffer ``spiking_knobs``: a model whose knobs would resolve otherwise today is refused, with the fix)."""
        knobs = self.spiking.to_kwargs()
        for name in ("spiking_critic", "recurrent_synapses"):  # the policies' own knobs
            if hasattr(self, name):
                knobs[name] = getattr(self, name)
        return knobs

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        key = prefix + KNOBS_BUFFER
        if key in state_dict:
            try:
                saved = json.loads(bytes(state_dict[key].tolist()).decode())
            except (UnicodeDecodeError, ValueError) as error:
                raise ValueError(f"The state dict's {key!r} is not a record of spiking knobs (a damaged file?)") from error
            built = self.resolved_knobs()
            changed = {
                name: value
                for name, value in saved.items()
                if name not in INITIALISATION_KNOBS and (name not in built or built[name] != value)
            }
            # a knob added since: the model was saved with its value from before, which may not be today's default
            legacy = getattr(self, "legacy_knobs", {})
            changed.update({name: old for name, old in legacy.items() if name not in saved and built.get(name) != old})
            if changed:
                raise ValueError(
                    f"This model was saved with the spiking knobs {changed}, and this policy was built with "
                    f"{ {name: built.get(name) for name in changed} } (the package's defaults have changed since it was "
                    f"saved): load it with the knobs it was saved with: Algo.load(path, custom_objects=dict("
                    f"policy_kwargs=dict(<its policy_kwargs>, **{changed!r})))"
                )
            # The initialisation's knobs say how the saved weights were first drawn, whatever today's defaults: the
            # policy records the saved ones (a knob added since: its value from before, SpikingConfig's default)
            drawn = {name: saved.get(name, INITIAL_DEFAULTS[name]) for name in INITIALISATION_KNOBS}
            if any(built[name] != value for name, value in drawn.items()):
                self.spiking = self.spiking.replace(**drawn)
                setattr(self, KNOBS_BUFFER, knobs_buffer(self.resolved_knobs()))
            state_dict[key] = getattr(self, KNOBS_BUFFER)  # they agree (a knob added since takes its default): keep ours
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]


class SpikingActorCriticMixin(SpikingPolicyMixin):
    """
    Spiking actor-critic: spiking hidden layers for the policy and the value function, and non-spiking readouts
    for the action distribution's parameters (logits, Gaussian means; the log-std stays a free parameter as in
    SB3) and for the value; a policy whose ``spiking_critic`` is False keeps SB3's ANN value function instead
    (:class:`~sb3_spiking.policies.actor_critic.AnnValueMixin`). ``ortho_init`` keeps SB3's default (True) and
    applies to the readouts (gain 0.01 for the action layer, 1 for the value layer); the layers that drive spiking
    neurons always keep their threshold-aware initialisation (:func:`~sb3_spiking.snn.initialization.spiking_init_`):
    SB3's orthogonal one, made for ReLU/Tanh units, would leave them silent.
    """

    default_decoder = "last-mem"
    default_neuron = "if"
    mlp_extractor: SpikingMlpExtractor
    action_net: nn.Module
    value_net: nn.Module
    features_dim: int
    net_arch: Any
    device: Any

    def _build_mlp_extractor(self) -> None:
        encoded = encoder_input(self.observation_space, self.features_extractor)  # type: ignore[attr-defined]
        self.mlp_extractor = SpikingMlpExtractor(self.features_dim, self.net_arch, self.spiking, device=self.device, **encoded)

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)  # type: ignore[misc]
        spiking_value = getattr(self, "spiking_critic", True)
        if self.ortho_init:
            # SB3 just re-initialised every layer orthogonally for ReLU/Tanh units, which would leave the spiking
            # layers silent: give the layers that drive spiking neurons their own initialisation back
            for module in {self.features_extractor, self.pi_features_extractor, self.vf_features_extractor}:
                if isinstance(module, SpikingFeaturesExtractor):
                    spiking_init_(module, self.spiking.v_threshold)
            spiking_init_(
                self.mlp_extractor,
                self.spiking.v_threshold,
                input_span=self.spiking.input_span,
                input_spread=self.spiking.input_spread,
                input_gain=self.spiking.input_gain,
                centre_second_layer=self.spiking.centre_second_layer,
            )
            if not spiking_value:
                # an ANN value function (SpikingActorCriticPolicy's default) gets SB3's initialisation back
                self.mlp_extractor.value_net.apply(partial(self.init_weights, gain=np.sqrt(2)))  # type: ignore[attr-defined]
        # The parent built (and initialised) the output layers; their neurons become non-spiking integrators.
        # The wrapped layers are the same objects, so the optimizer already holds their parameters.
        self.action_net = self._readout(self.action_net)
        if spiking_value:
            self.value_net = self._readout(self.value_net)

    def get_distribution(self, *args: Any, **kwargs: Any) -> Any:
        """
        SB3's ``get_distribution``. In a training pass with gradients (TRPO's step, whose KL divergence compares it
        with the same pass without gradients), the observation statistics are updated after they are read, so both
        passes see the same statistics and the KL divergence at the current parameters is zero, as its curvature
        needs; A2C and PPO go through ``evaluate_actions``, unchanged.
        """
        if not (self.training and th.is_grad_enabled()):  # type: ignore[attr-defined]
            # acting (predict, at every env step): the statistics are only read, so nothing to walk the network for
            return super().get_distribution(*args, **kwargs)  # type: ignore[misc]
        norms = [module for module in self.modules() if isinstance(module, RunningNorm)]  # type: ignore[attr-defined]
        for norm in norms:
            norm.read_before_update = True
        try:
            return super().get_distribution(*args, **kwargs)  # type: ignore[misc]
        finally:
            for norm in norms:
                norm.read_before_update = False

    def _readout(self, linear: nn.Module) -> NonSpikingReadout:
        return NonSpikingReadout(linear, self.spiking.T, self.spiking.decoder, self.spiking.decoder_tau)

    def _get_action_dist_from_latent(self, latent_pi):  # type: ignore[no-untyped-def]
        if isinstance(self.action_dist, StateDependentNoiseDistribution):  # type: ignore[attr-defined]
            # gSDE's exploration noise depends on the latent features: give it the firing rates
            mean_actions = self.action_net(latent_pi)
            return self.action_dist.proba_distribution(mean_actions, self.log_std, latent_pi.mean(dim=0))  # type: ignore
        return super()._get_action_dist_from_latent(latent_pi)  # type: ignore[misc]
