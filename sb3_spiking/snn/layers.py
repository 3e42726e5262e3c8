"""
Spiking hidden layers: the counterparts of SB3's ``create_mlp`` and ``MlpExtractor``, and the Q-network / quantile
head (hidden spiking layers, then the non-spiking readout).

Tensors inside a spiking network are time-major, ``[T, B, ...]``. The observation is the same at every step, so
the first layer (the learnable encoder of direct encoding) runs once on ``[B, ...]`` and its output is repeated
over ``T`` as a view in front of the first spiking neuron; every later layer runs on all ``T * B`` samples at
once (SpikingJelly's multi-step mode), never in a Python loop over time or layers.
"""

from typing import Optional, Union

import torch as th
from torch import nn

from sb3_spiking.snn.config import SpikingConfig
from sb3_spiking.snn.encoders import Bounds, PopulationEncoder, time_major
from sb3_spiking.snn.initialization import spiking_init_
from sb3_spiking.snn.normalization import NORMALISED_RANGE, RunningNorm
from sb3_spiking.snn.readout import NonSpikingReadout


class RepeatOverTime(nn.Module):
    """
    Turns the output of an encoder layer, computed once on a static ``[B, ...]`` input, into a constant current
    ``[T, B, ...]`` (a view, no copy). A time-major input (``extra_dims + 2`` dimensions) passes through unchanged.

    :param T: Number of time steps
    :param static_dims: Number of dimensions of a static input (2 for vectors, 4 for images)
    """

    def __init__(self, T: int, static_dims: int = 2) -> None:
        super().__init__()
        self.T = T
        self.static_dims = static_dims

    def forward(self, x: th.Tensor) -> th.Tensor:
        return time_major(x, self.T) if x.dim() == self.static_dims else x

    def extra_repr(self) -> str:
        return f"T={self.T}"


class SpikeRates(nn.Module):
    """
    The firing rates of a spike train ``[T, B, F]`` (its mean over the ``T`` steps), for an ANN layer reading a spiking
    one; static features ``[B, F]`` pass unchanged.
    """

    def forward(self, x: th.Tensor) -> th.Tensor:
        return x.mean(dim=0) if x.dim() == 3 else x


def ann_mlp(
    input_dim: int, net_arch: list[int], activation_fn: type[nn.Module], input_norm: Optional[RunningNorm] = None
) -> tuple[nn.Sequential, int]:
    """
    The ANN branch that SB3's ``MlpExtractor`` builds (``Linear`` then ``activation_fn`` per hidden layer), reading
    static features or the rates of a spike train (:class:`SpikeRates`).

    :param input_dim: Dimension of the features
    :param net_arch: Hidden sizes
    :param activation_fn: Activation after each hidden layer
    :param input_norm: A standardisation of the features before the first layer (None: the features as they come)
    :return: The branch and the size of its output
    """
    modules: list[nn.Module] = [SpikeRates()] + ([] if input_norm is None else [input_norm])
    for size in net_arch:
        modules += [nn.Linear(input_dim, size), activation_fn()]
        input_dim = size
    return nn.Sequential(*modules), input_dim


def spiking_mlp(
    input_dim: int,
    net_arch: list[int],
    spiking: SpikingConfig,
    input_bounds: Optional[Bounds] = None,
    raw_input: bool = False,
) -> nn.Sequential:
    """
    Hidden spiking layers ``Linear -> neuron`` for each size in ``net_arch``, the spiking counterpart of SB3's
    ``create_mlp``. It takes a static input ``[B, input_dim]`` (the first linear layer is then the encoder,
    computed once) or a spike train ``[T, B, input_dim]``, and returns a spike train ``[T, B, net_arch[-1]]``.
    With an empty ``net_arch`` it only repeats a static input over time. With ``encoder="population"`` a
    :class:`~sb3_spiking.snn.encoders.PopulationEncoder` comes first (static input only), and before everything a
    :class:`~sb3_spiking.snn.normalization.RunningNorm` when the input is raw observations and ``input_norm`` is on.

    :param input_dim: Size of the input features
    :param net_arch: Sizes of the hidden layers
    :param spiking: The spiking knobs
    :param input_bounds: Range of each input dimension, where the population encoder's centres start
        (default: [-1, 1])
    :param raw_input: Whether the input is the raw vector observations (see
        :func:`~sb3_spiking.snn.extractors.reads_raw_vectors`)
    """
    modules: list[nn.Module] = []
    if raw_input and spiking.input_norm:
        modules.append(RunningNorm(input_dim, clip=spiking.input_clip))
        # where the population encoder's centres start: over the clipped range, or the bulk of standardised inputs
        clip = spiking.input_clip
        input_bounds = NORMALISED_RANGE if clip is None else (-float(clip), float(clip))
    if spiking.encoder == "population":
        modules.append(PopulationEncoder(input_dim, spiking.pop_size, *(input_bounds or (-1.0, 1.0))))
    last_dim = encoded_dim(input_dim, spiking)
    for index, size in enumerate(net_arch):
        modules.append(nn.Linear(last_dim, size))
        if index == 0:
            modules.append(RepeatOverTime(spiking.T))
        modules.append(spiking.make_neuron())
        last_dim = size
    if not net_arch:
        modules.append(RepeatOverTime(spiking.T))
    return spiking_init_(
        nn.Sequential(*modules),
        spiking.v_threshold,
        input_span=spiking.input_span,
        input_spread=spiking.input_spread,
        input_gain=spiking.input_gain,
        centre_second_layer=spiking.centre_second_layer,
    )


def encoded_dim(input_dim: int, spiking: SpikingConfig) -> int:
    """Size of the input of :func:`spiking_mlp` once encoded: ``pop_size`` values per dimension with the population encoder."""
    return input_dim * spiking.pop_size if spiking.encoder == "population" else input_dim


def spiking_mlp_output_dim(input_dim: int, net_arch: list[int], spiking: SpikingConfig) -> int:
    """Size of the spike train (or repeated input) that :func:`spiking_mlp` returns."""
    return net_arch[-1] if net_arch else encoded_dim(input_dim, spiking)


class SpikingMlpExtractor(nn.Module):
    """
    Spiking counterpart of SB3's ``MlpExtractor``: separate spiking hidden layers for the policy and the value
    function, each returning a spike train ``[T, B, latent_dim]``.

    :param feature_dim: Dimension of the features (static ``[B, F]`` or spike train ``[T, B, F]``)
    :param net_arch: Hidden sizes: a list (same for both) or ``dict(pi=[...], vf=[...])``
    :param spiking: The spiking knobs
    :param device: PyTorch device
    :param input_bounds: Range of each feature, for the population encoder (see :func:`spiking_mlp`)
    :param raw_input: Whether the features are the raw vector observations (see :func:`spiking_mlp`)
    """

    def __init__(
        self,
        feature_dim: int,
        net_arch: Union[list[int], dict[str, list[int]]],
        spiking: SpikingConfig,
        device: Union[th.device, str] = "auto",
        input_bounds: Optional[Bounds] = None,
        raw_input: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(net_arch, dict):
            pi_arch, vf_arch = net_arch.get("pi", []), net_arch.get("vf", [])
        else:
            pi_arch = vf_arch = net_arch
        self.policy_net = spiking_mlp(feature_dim, list(pi_arch), spiking, input_bounds, raw_input)
        self.value_net = spiking_mlp(feature_dim, list(vf_arch), spiking, input_bounds, raw_input)
        self.latent_dim_pi = spiking_mlp_output_dim(feature_dim, list(pi_arch), spiking)
        self.latent_dim_vf = spiking_mlp_output_dim(feature_dim, list(vf_arch), spiking)

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """
        :return: latent_policy, latent_value: spike trains ``[T, B, latent_dim]``
        """
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.value_net(features)


def spiking_head(
    input_dim: int,
    output_dim: int,
    net_arch: list[int],
    spiking: SpikingConfig,
    input_bounds: Optional[Bounds] = None,
    raw_input: bool = False,
) -> nn.Sequential:
    """
    Hidden spiking layers followed by the non-spiking readout: ``[B, F]`` or ``[T, B, F]`` in, ``[B, output_dim]``
    out (Q-values, quantiles, logits...). The spiking counterpart of ``nn.Sequential(*create_mlp(...))``.

    :param input_dim: Size of the input features
    :param output_dim: Size of the real-valued output
    :param net_arch: Sizes of the hidden spiking layers
    :param spiking: The spiking knobs (``decoder`` and ``decoder_tau`` choose the readout)
    :param input_bounds: Range of each input dimension, for the population encoder (see :func:`spiking_mlp`)
    :param raw_input: Whether the input is the raw vector observations (see :func:`spiking_mlp`)
    """
    hidden = spiking_mlp(input_dim, net_arch, spiking, input_bounds, raw_input)
    last_dim = spiking_mlp_output_dim(input_dim, net_arch, spiking)
    readout = NonSpikingReadout(nn.Linear(last_dim, output_dim), spiking.T, spiking.decoder, spiking.decoder_tau)
    return nn.Sequential(*hidden, readout)
