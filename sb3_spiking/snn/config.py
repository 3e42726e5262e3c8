"""
The spiking knobs, defined once: :class:`SpikingConfig` holds each knob's name, default, validation and doc.

Policies, features extractors, the classifier and the tuner's search space all take their knobs from it; users
pass them as plain keywords (``policy_kwargs=dict(T=8, neuron="lif")``), and saved models keep them.
"""

import math
import numbers
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

from spikingjelly.activation_based import neuron as sj_neuron

from sb3_spiking.snn.initialization import SPIKING_INIT_GAIN
from sb3_spiking.snn.neurons import NEURONS, SURROGATES

DECODERS = ("last-mem", "max-mem", "max-abs-mem", "mean-mem", "fr-mlp")
ENCODERS = ("linear", "population")
ACTION_READOUTS = ("linear", "population")
RESETS = ("hard", "soft")


def choice(kind: str, value: Any, choices: Any) -> str:
    """``value`` if it is one of ``choices`` (strings), else a ``ValueError`` that lists them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Unknown {kind} {value!r}: valid choices are {', '.join(repr(c) for c in choices)}")
    return value


def number(name: str, value: Any, low: float, low_included: bool, doc: str) -> float:
    """
    ``value`` if it is a finite real number (not a bool, not a string) above ``low``, else a ``ValueError``
    naming the knob and its valid range.

    :param name: The knob's name
    :param value: Its value
    :param low: The lower bound
    :param low_included: Whether ``low`` itself is valid
    :param doc: What the knob is, for the message
    """
    valid = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not (valid and (value >= low if low_included else value > low)):
        bound = f"{'>=' if low_included else '>'} {low:g}"
        raise ValueError(f"{name} must be {bound}, a finite number ({doc}); got {value!r}")
    return value


def integer(name: str, value: Any, low: int, doc: str) -> int:
    """``value`` if it is an integer (not a bool) >= ``low``, else a ``ValueError`` naming the knob."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low} ({doc}); got {value!r}")
    return value


def flag(name: str, value: Any) -> bool:
    """``value`` if it is True or False, else a ``ValueError`` naming the knob."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


#: The knobs that only set how a network's weights are first drawn (the state dict of a trained one replaces them).
#: Their defaults in :class:`SpikingConfig` are the values each had before it existed.
INITIALISATION_KNOBS = ("input_span", "input_spread", "input_gain", "centre_second_layer")


@dataclass(frozen=True)
class SpikingConfig:
    """
    The spiking knobs of a network, validated once. Every field is also a keyword of the spiking policies,
    features extractors and the classifier (taken from their ``**kwargs`` by :meth:`pop_from`), saved with the model.

    :param T: Number of simulation time steps per observation (>= 1)
    :param neuron: Hidden neuron model: ``"if"``, ``"lif"`` or ``"plif"`` (learnable time constant)
    :param tau: Membrane time constant of LIF / PLIF neurons (initial value for PLIF), > 1
    :param surrogate: Surrogate gradient of the spike function, one of :data:`SURROGATES`
    :param v_threshold: Firing threshold (> 0)
    :param reset: What a spike does to the membrane potential, one of :data:`RESETS`: ``"hard"`` sets it to 0,
        ``"soft"`` subtracts the threshold (the charge above the threshold is kept, so the firing rate grows
        with the input over a wider range)
    :param detach_reset: Whether the reset is detached from the autograd graph
    :param decoder: How the non-spiking output layer is read out, one of :data:`DECODERS`
    :param decoder_tau: Time constant of the non-spiking output integrator (>= 1; 1 makes it follow its input)
    :param encoder: How vector observations enter the first spiking layer, one of :data:`ENCODERS`: ``"linear"``
        (a learnable linear layer, direct encoding) or ``"population"`` (``pop_size`` Gaussian receptive fields
        with learnable centres and widths per observation dimension, see
        :class:`~sb3_spiking.snn.encoders.PopulationEncoder`, then the linear layer)
    :param input_norm: Whether vector observations are standardised inside the network before they reach the
        encoder, with running statistics (:class:`~sb3_spiking.snn.normalization.RunningNorm`, updated in gradient
        steps only, saved with the model): leaky neurons fed by observations on small scales stay silent without it.
        Applies where the features extractor passes raw vectors on (``FlattenExtractor``, Dict without images)
    :param input_clip: Bound of the standardised observations (``input_norm``): each dimension is clipped to
        ``[-input_clip, input_clip]``, as SB3's ``VecNormalize`` clips at ``clip_obs``, so that a state far from
        the statistics seen so far cannot drive the first layer into a fixed pattern; ``None`` (no clipping) or > 0.
        A population encoder's centres then start spread over the clipped range
    :param input_span: Where the thresholds of the first layer behind standardised observations (``input_norm``,
        linear encoder) start: each neuron reaches its threshold at a random distance from the mean along its
        weights, uniform over ``[-input_span, input_span]`` standard deviations, so that the layer codes how far
        an observation lies from the mean and not only in which direction
        (:func:`~sb3_spiking.snn.initialization.spread_thresholds_`); 0 gives zero biases (every threshold near the
        mean), >= 0. Only the initialisation depends on it
    :param input_spread: The share of the first layer's neurons whose thresholds ``input_span`` spreads, in (0, 1]; the
        others keep theirs at the mean (zero bias), where they code the direction of an observation finely
    :param input_gain: Scale of the weights of that first layer relative to the threshold (the other layers have
        :data:`~sb3_spiking.snn.initialization.SPIKING_INIT_GAIN`, 4), > 0: a neuron's firing rate climbs from 0 to
        its maximum over about ``1 / input_gain`` standard deviations of the input along its weights. Only the
        initialisation depends on it
    :param centre_second_layer: Whether the spiking layer after that first one starts with each neuron's mean input
        current at its threshold, where its surrogate gradient peaks
        (:func:`~sb3_spiking.snn.initialization.centre_second_layer_`): with the thresholds spread, the first-layer
        neurons that fire on nearly every state otherwise add a random constant to each second-layer neuron's current,
        which leaves some of them silent and others always firing. Only the initialisation depends on it
    :param pop_size: Neurons per observation dimension (population encoder) and per action dimension (population
        readout), >= 1
    :param action_readout: How the off-policy actors (SAC / TD3 family) read their continuous outputs, one of
        :data:`ACTION_READOUTS`: ``"linear"`` (the non-spiking readout) or ``"population"`` (a population of
        ``pop_size`` spiking neurons per output whose firing rates a learnable linear map reduces to the output,
        see :class:`~sb3_spiking.snn.readout.PopulationReadout`)
    """

    T: int = 8
    neuron: str = "lif"
    tau: float = 2.0
    surrogate: str = "atan"
    v_threshold: float = 1.0
    reset: str = "hard"
    detach_reset: bool = True
    decoder: str = "max-mem"
    decoder_tau: float = 2.0
    encoder: str = "linear"
    input_norm: bool = True
    input_clip: Optional[float] = None
    input_span: float = 0.0
    input_spread: float = 1.0
    input_gain: float = SPIKING_INIT_GAIN
    centre_second_layer: bool = False
    pop_size: int = 10
    action_readout: str = "linear"

    def __post_init__(self) -> None:
        integer("T", self.T, 1, "number of simulation steps")
        choice("neuron", self.neuron, NEURONS)
        # Checked whatever the neuron: a saved value is a value that a later change of neuron would use
        number("tau", self.tau, 1.0, False, "membrane time constant of LIF / PLIF neurons")
        choice("surrogate", self.surrogate, SURROGATES)
        number("v_threshold", self.v_threshold, 0.0, False, "firing threshold")
        flag("detach_reset", self.detach_reset)
        choice("decoder", self.decoder, DECODERS)
        number("decoder_tau", self.decoder_tau, 1.0, True, "time constant of the non-spiking readout")
        choice("reset", self.reset, RESETS)
        if self.input_clip is not None:
            number("input_clip", self.input_clip, 0.0, False, "bound of the standardised inputs, or None for no clipping")
        number("input_span", self.input_span, 0.0, True, "half-width of the spread of the first layer's thresholds")
        number("input_spread", self.input_spread, 0.0, False, "share of the first layer's neurons spread by input_span")
        if self.input_spread > 1.0:
            raise ValueError(f"input_spread must be in (0, 1] (a share of the neurons); got {self.input_spread!r}")
        number("input_gain", self.input_gain, 0.0, False, "scale of the first layer's weights relative to the threshold")
        flag("centre_second_layer", self.centre_second_layer)
        choice("encoder", self.encoder, ENCODERS)
        flag("input_norm", self.input_norm)
        integer("pop_size", self.pop_size, 1, "neurons per dimension")
        choice("action_readout", self.action_readout, ACTION_READOUTS)

    @classmethod
    def knobs(cls) -> tuple[str, ...]:
        """The names of the knobs."""
        return tuple(field.name for field in fields(cls))

    @classmethod
    def pop_from(cls, kwargs: dict[str, Any], **defaults: Any) -> "SpikingConfig":
        """
        Take the spiking knobs out of a dict of keyword arguments (the rest stays in it) and validate them.

        :param kwargs: Keyword arguments, e.g. a policy's ``**kwargs``; the knobs are removed from it
        :param defaults: Defaults of the caller that differ from the class's (e.g. ``decoder="last-mem"``);
            a knob given as ``None`` takes its default
        """
        given = {name: kwargs.pop(name) for name in cls.knobs() if name in kwargs}
        return cls(**{**defaults, **{name: value for name, value in given.items() if value is not None}})

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any], **defaults: Any) -> "SpikingConfig":
        """
        Validate keyword arguments that must all be spiking knobs.

        :param kwargs: The knobs by name; another name is a ``ValueError`` that lists the valid ones
        :param defaults: See :meth:`pop_from`
        """
        rest = dict(kwargs)
        config = cls.pop_from(rest, **defaults)
        if rest:
            raise ValueError(f"Unknown spiking knob(s) {sorted(rest)}: valid knobs are {', '.join(cls.knobs())}")
        return config

    def replace(self, **changes: Any) -> "SpikingConfig":
        """A copy with some knobs changed (validated again)."""
        return replace(self, **changes)

    def to_kwargs(self) -> dict[str, Any]:
        """The knobs as keyword arguments."""
        return asdict(self)

    def neuron_kwargs(self) -> dict[str, Any]:
        """The knobs that spiking hidden layers (features extractors) take: all but the readouts'."""
        kwargs = self.to_kwargs()
        del kwargs["decoder"], kwargs["decoder_tau"], kwargs["action_readout"]
        return kwargs

    def make_neuron(self) -> sj_neuron.BaseNode:
        """A fresh multi-step spiking neuron layer with these settings."""
        kwargs: dict[str, Any] = dict(
            v_threshold=float(self.v_threshold),
            v_reset=0.0 if self.reset == "hard" else None,
            surrogate_function=SURROGATES[self.surrogate](),
            detach_reset=self.detach_reset,
            step_mode="m",
        )
        if self.neuron == "lif":
            kwargs["tau"] = float(self.tau)
        elif self.neuron == "plif":
            kwargs["init_tau"] = float(self.tau)
        return NEURONS[self.neuron](**kwargs)
