"""
Spiking features extractors and hidden layers.

Tensors inside a spiking network are time-major, ``[T, B, ...]``. The observation is the same at every step, so
the first layer (the learnable encoder of direct encoding) runs once on ``[B, ...]`` and its output is repeated
over ``T`` as a view in front of the first spiking neuron; every later layer runs on all ``T * B`` samples at
once (SpikingJelly's multi-step mode), never in a Python loop over time or layers.
"""

from typing import Any, Optional, Union

import gymnasium as gym
import torch as th
from gymnasium import spaces
from spikingjelly.activation_based import layer
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from sb3_spiking.initialization import spiking_init_
from sb3_spiking.neurons import NonSpikingReadout, SpikingConfig, time_major


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


def spiking_mlp(input_dim: int, net_arch: list[int], spiking: SpikingConfig) -> nn.Sequential:
    """
    Hidden spiking layers ``Linear -> neuron`` for each size in ``net_arch``, the spiking counterpart of SB3's
    ``create_mlp``. It takes a static input ``[B, input_dim]`` (the first linear layer is then the encoder,
    computed once) or a spike train ``[T, B, input_dim]``, and returns a spike train ``[T, B, net_arch[-1]]``.
    With an empty ``net_arch`` it only repeats a static input over time.

    :param input_dim: Size of the input features
    :param net_arch: Sizes of the hidden layers
    :param spiking: The spiking knobs
    """
    modules: list[nn.Module] = []
    last_dim = input_dim
    for index, size in enumerate(net_arch):
        modules.append(nn.Linear(last_dim, size))
        if index == 0:
            modules.append(RepeatOverTime(spiking.T))
        modules.append(spiking.make_neuron())
        last_dim = size
    if not net_arch:
        modules.append(RepeatOverTime(spiking.T))
    return spiking_init_(nn.Sequential(*modules), spiking.v_threshold)


class SpikingFeaturesExtractor(BaseFeaturesExtractor):
    """
    Base class of the spiking features extractors: ``forward`` takes observations ``[B, *obs_shape]`` and returns
    a spike train ``[T, B, features_dim]``. The spiking knobs are keywords, validated at construction.

    :param observation_space: Observation space
    :param features_dim: Number of features (spiking neurons) per time step
    :param T: Number of simulation time steps
    :param neuron: Hidden neuron model (``"if"``, ``"lif"``, ``"plif"``)
    :param tau: Membrane time constant of LIF / PLIF neurons
    :param surrogate: Surrogate gradient name
    :param v_threshold: Firing threshold
    :param detach_reset: Whether the reset is detached from the autograd graph
    """

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int,
        T: int = 8,
        neuron: str = "lif",
        tau: float = 2.0,
        surrogate: str = "atan",
        v_threshold: float = 1.0,
        detach_reset: bool = True,
    ) -> None:
        super().__init__(observation_space, features_dim)
        self.spiking = SpikingConfig(
            T=T, neuron=neuron, tau=tau, surrogate=surrogate, v_threshold=v_threshold, detach_reset=detach_reset
        )


class SpikingNatureCNN(SpikingFeaturesExtractor):
    """
    The spiking Nature-CNN of the Deep Spiking Q-Network (DSQN, seed 002): conv 32-8/4, conv 64-4/2, conv 64-3/1,
    linear ``features_dim``, a spiking neuron after each. The first convolution is the learnable encoder: it runs
    once per observation, and its output drives the first neurons as a constant current for ``T`` steps.

    :param observation_space: An image observation space
    :param features_dim: Number of neurons in the last (linear) layer
    :param normalized_image: Whether to assume that the image is already normalized
        or not (this disables dtype and bounds checks): when True, it only checks that
        the space is a Box and has 3 dimensions.
        Otherwise, it checks that it has expected dtype (uint8) and bounds (values in [0, 255]).
    :param spiking_kwargs: The spiking knobs, see :class:`SpikingFeaturesExtractor`
    """

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 512,
        normalized_image: bool = False,
        **spiking_kwargs: Any,
    ) -> None:
        if not is_image_space(observation_space, check_channels=False, normalized_image=normalized_image):
            raise ValueError(
                "SpikingNatureCNN (SpikingCnnPolicy) needs an image observation space (a uint8 Box of shape "
                f"(C, H, W) or (H, W, C) with values in [0, 255]), got {observation_space}. Use SpikingMlpPolicy for "
                "vector observations, SpikingMultiInputPolicy for Dict ones, or normalized_image=True for float images."
            )
        super().__init__(observation_space, features_dim, **spiking_kwargs)
        assert isinstance(observation_space, spaces.Box)
        n_input_channels = observation_space.shape[0]
        self.encoder = nn.Conv2d(n_input_channels, 32, kernel_size=8, stride=4)
        self.cnn = nn.Sequential(
            RepeatOverTime(self.spiking.T, static_dims=4),
            self.spiking.make_neuron(),
            layer.Conv2d(32, 64, kernel_size=4, stride=2, step_mode="m"),
            self.spiking.make_neuron(),
            layer.Conv2d(64, 64, kernel_size=3, stride=1, step_mode="m"),
            self.spiking.make_neuron(),
            layer.Flatten(step_mode="m"),
        )
        # Compute the flattened size by doing one forward pass
        with th.no_grad():
            sample = th.as_tensor(observation_space.sample()[None]).float()
            n_flatten = self.cnn(self.encoder(sample)).shape[-1]
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), self.spiking.make_neuron())
        spiking_init_(self, self.spiking.v_threshold)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.linear(self.cnn(self.encoder(observations)))


class SpikingCombinedExtractor(SpikingFeaturesExtractor):
    """
    Dict observations: image keys go through a :class:`SpikingNatureCNN`, other keys are flattened. With at least
    one image key the output is a spike train ``[T, B, F]`` in which the flattened vectors are repeated over time
    as a constant current; with none it is the static ``[B, F]`` that the first spiking layer encodes once.

    :param observation_space: A Dict observation space
    :param cnn_output_dim: Number of features of each image key's CNN
    :param normalized_image: Whether to assume that the image is already normalized (see :class:`SpikingNatureCNN`)
    :param spiking_kwargs: The spiking knobs, see :class:`SpikingFeaturesExtractor`
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        cnn_output_dim: int = 256,
        normalized_image: bool = False,
        **spiking_kwargs: Any,
    ) -> None:
        if not isinstance(observation_space, spaces.Dict):
            raise ValueError(f"SpikingCombinedExtractor needs a Dict observation space, got {observation_space}")
        # The size is only known after building the sub-extractors
        super().__init__(observation_space, features_dim=1, **spiking_kwargs)
        extractors: dict[str, nn.Module] = {}
        total_size = 0
        self.has_images = False
        for key, subspace in observation_space.spaces.items():
            if is_image_space(subspace, normalized_image=normalized_image):
                extractors[key] = SpikingNatureCNN(
                    subspace, features_dim=cnn_output_dim, normalized_image=normalized_image, **spiking_kwargs
                )
                total_size += cnn_output_dim
                self.has_images = True
            else:
                extractors[key] = nn.Flatten()
                total_size += get_flattened_obs_dim(subspace)
        self.extractors = nn.ModuleDict(extractors)
        self._features_dim = total_size

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        encoded = [extractor(observations[key]) for key, extractor in self.extractors.items()]
        if self.has_images:
            encoded = [x if x.dim() == 3 else time_major(x, self.spiking.T) for x in encoded]
        return th.cat(encoded, dim=-1)


class SpikingMlpExtractor(nn.Module):
    """
    Spiking counterpart of SB3's ``MlpExtractor``: separate spiking hidden layers for the policy and the value
    function, each returning a spike train ``[T, B, latent_dim]``.

    :param feature_dim: Dimension of the features (static ``[B, F]`` or spike train ``[T, B, F]``)
    :param net_arch: Hidden sizes: a list (same for both) or ``dict(pi=[...], vf=[...])``
    :param spiking: The spiking knobs
    :param device: PyTorch device
    """

    def __init__(
        self,
        feature_dim: int,
        net_arch: Union[list[int], dict[str, list[int]]],
        spiking: SpikingConfig,
        device: Union[th.device, str] = "auto",
    ) -> None:
        super().__init__()
        if isinstance(net_arch, dict):
            pi_arch, vf_arch = net_arch.get("pi", []), net_arch.get("vf", [])
        else:
            pi_arch = vf_arch = net_arch
        self.policy_net = spiking_mlp(feature_dim, list(pi_arch), spiking)
        self.value_net = spiking_mlp(feature_dim, list(vf_arch), spiking)
        self.latent_dim_pi = pi_arch[-1] if pi_arch else feature_dim
        self.latent_dim_vf = vf_arch[-1] if vf_arch else feature_dim

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """
        :return: latent_policy, latent_value: spike trains ``[T, B, latent_dim]``
        """
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.value_net(features)


def spiking_extractor_kwargs(
    features_extractor_class: type[BaseFeaturesExtractor],
    features_extractor_kwargs: Optional[dict[str, Any]],
    spiking: SpikingConfig,
) -> dict[str, Any]:
    """
    The keyword arguments to build a features extractor with: a spiking extractor also gets the policy's spiking
    knobs, which are set once, in ``policy_kwargs``, never in ``features_extractor_kwargs``.
    """
    kwargs = dict(features_extractor_kwargs or {})
    if issubclass(features_extractor_class, SpikingFeaturesExtractor):
        clash = sorted(set(kwargs) & set(spiking.neuron_kwargs()))
        if clash:
            raise ValueError(
                f"Set the spiking knobs {clash} in policy_kwargs, not in features_extractor_kwargs: "
                "the policy passes them to its spiking features extractor."
            )
        kwargs.update(spiking.neuron_kwargs())
    return kwargs


def spiking_head(input_dim: int, output_dim: int, net_arch: list[int], spiking: SpikingConfig) -> nn.Sequential:
    """
    Hidden spiking layers followed by the non-spiking readout: ``[B, F]`` or ``[T, B, F]`` in, ``[B, output_dim]``
    out (Q-values, quantiles, logits...). The spiking counterpart of ``nn.Sequential(*create_mlp(...))``.

    :param input_dim: Size of the input features
    :param output_dim: Size of the real-valued output
    :param net_arch: Sizes of the hidden spiking layers
    :param spiking: The spiking knobs (``decoder`` and ``decoder_tau`` choose the readout)
    """
    hidden = spiking_mlp(input_dim, net_arch, spiking)
    last_dim = net_arch[-1] if net_arch else input_dim
    readout = NonSpikingReadout(nn.Linear(last_dim, output_dim), spiking.T, spiking.decoder, spiking.decoder_tau)
    return nn.Sequential(*hidden, readout)
