"""
Spiking features extractors: SB3's ``BaseFeaturesExtractor`` contract, with observations ``[B, *obs_shape]`` in
and a spike train ``[T, B, features_dim]`` out; and :class:`StandardisedExtractor`, the ANN critics' counterpart of
the spiking layers' standardised input.
"""

from typing import Any, Optional

import gymnasium as gym
import torch as th
from gymnasium import spaces
from spikingjelly.activation_based import layer
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from torch import nn

from sb3_spiking.snn.config import SpikingConfig
from sb3_spiking.snn.encoders import Bounds, observation_bounds, time_major
from sb3_spiking.snn.initialization import spiking_init_
from sb3_spiking.snn.layers import RepeatOverTime
from sb3_spiking.snn.normalization import RunningNorm


class SpikingFeaturesExtractor(BaseFeaturesExtractor):
    """
    Base class of the spiking features extractors: ``forward`` takes observations ``[B, *obs_shape]`` and returns
    a spike train ``[T, B, features_dim]``. The spiking knobs are keywords, validated at construction.

    :param observation_space: Observation space
    :param features_dim: Number of features (spiking neurons) per time step
    :param spiking_kwargs: The spiking knobs of :class:`~sb3_spiking.snn.config.SpikingConfig` (the policy passes its
        own; the readout's ``decoder`` and ``decoder_tau`` do not apply here)
    """

    def __init__(self, observation_space: gym.Space, features_dim: int, **spiking_kwargs: Any) -> None:
        super().__init__(observation_space, features_dim)
        self.spiking = SpikingConfig.from_kwargs(spiking_kwargs)


class SpikingNatureCNN(SpikingFeaturesExtractor):
    """
    The spiking Nature-CNN of the Deep Spiking Q-Network (DSQN, SpikingJelly's Atari example): conv 32-8/4,
    conv 64-4/2, conv 64-3/1, linear ``features_dim``, a spiking neuron after each. The first convolution is the
    learnable encoder: it runs once per observation, and its output drives the first neurons as a constant current
    for ``T`` steps.

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
        if self.has_images and self.spiking.encoder == "population":
            images = [key for key, extractor in extractors.items() if isinstance(extractor, SpikingNatureCNN)]
            raise ValueError(
                f"encoder='population' reads vector observations; the image key(s) {images} go through a spiking CNN "
                "that encodes images itself: use encoder='linear' with SpikingMultiInputPolicy"
            )
        self.extractors = nn.ModuleDict(extractors)
        self._features_dim = total_size

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        encoded = [extractor(observations[key]) for key, extractor in self.extractors.items()]
        if self.has_images:
            encoded = [x if x.dim() == 3 else time_major(x, self.spiking.T) for x in encoded]
        return th.cat(encoded, dim=-1)


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


def reads_raw_vectors(features_extractor: BaseFeaturesExtractor) -> bool:
    """
    Whether a features extractor passes the vector observations on as they are, flattened: SB3's
    ``FlattenExtractor``, or :class:`SpikingCombinedExtractor` without image keys. Only then does the first spiking
    layer get the observation normalisation (``input_norm``); image extractors emit spike trains.
    """
    if isinstance(features_extractor, SpikingCombinedExtractor):
        return not features_extractor.has_images
    return isinstance(features_extractor, FlattenExtractor)


def encoder_input(observation_space: spaces.Space, features_extractor: BaseFeaturesExtractor) -> dict[str, Any]:
    """
    What the first spiking layers after ``features_extractor`` need to know about their input, as the keywords
    ``input_bounds`` (:func:`~sb3_spiking.snn.encoders.observation_bounds`) and ``raw_input``
    (:func:`reads_raw_vectors`) of :func:`~sb3_spiking.snn.layers.spiking_mlp`, ``spiking_head`` and
    ``SpikingMlpExtractor``.

    :param observation_space: The observation space
    :param features_extractor: The policy's features extractor
    """
    bounds: Optional[Bounds] = observation_bounds(observation_space, features_extractor)
    return dict(input_bounds=bounds, raw_input=reads_raw_vectors(features_extractor))


class StandardisedExtractor(BaseFeaturesExtractor):
    """
    An ANN features extractor whose features (the raw vector observations, flattened) are standardised by a
    :class:`~sb3_spiking.snn.RunningNorm`: what the off-policy policies' ANN critics read where the spiking actor's
    first layer reads the observations standardised (``input_norm``), so that both see the same input. The
    statistics are buffers named ``running_*``, which SB3 copies to the target critics with the weights.

    :param extractor: The features extractor that flattens the observations (SB3's ``FlattenExtractor``, or its
        ``CombinedExtractor`` on vector keys)
    :param clip: Bound of the standardised features (``input_clip``), or None for no clipping
    """

    def __init__(self, extractor: BaseFeaturesExtractor, clip: Optional[float] = None) -> None:
        super().__init__(extractor._observation_space, extractor.features_dim)
        self.extractor = extractor
        self.norm = RunningNorm(extractor.features_dim, clip=clip)

    def forward(self, observations: Any) -> th.Tensor:
        return self.norm(self.extractor(observations))
