"""
The spiking core: the knobs (:class:`SpikingConfig`), SpikingJelly's neurons made stateless, the fused CPU update,
the threshold-aware initialisation, the non-spiking readout, hidden layers and features extractors
(MLP, Nature-CNN / DSQN, small CNN for MinAtar-sized images).

It imports nothing else of the package; the policies, telemetry, export and tuning build on it.
"""

from sb3_spiking.snn.config import ACTION_READOUTS, DECODERS, ENCODERS, SpikingConfig
from sb3_spiking.snn.encoders import PopulationEncoder, observation_bounds, time_major
from sb3_spiking.snn.extractors import (
    SpikingCombinedExtractor,
    SpikingFeaturesExtractor,
    SpikingNatureCNN,
    StandardisedExtractor,
    encoder_input,
    reads_raw_vectors,
    spiking_extractor_kwargs,
)
from sb3_spiking.snn.initialization import spiking_init_
from sb3_spiking.snn.layers import (
    RepeatOverTime,
    SpikeRates,
    SpikingMlpExtractor,
    ann_mlp,
    spiking_head,
    spiking_mlp,
    spiking_mlp_output_dim,
)
from sb3_spiking.snn.neurons import NEURONS, SURROGATES, IFNode, LIFNode, ParametricLIFNode
from sb3_spiking.snn.normalization import RunningNorm
from sb3_spiking.snn.readout import NonSpikingReadout, PopulationReadout, leaky_integrator_kernel
from sb3_spiking.snn.small_cnn import SpikingSmallCNN

__all__ = [
    "ACTION_READOUTS",
    "DECODERS",
    "ENCODERS",
    "NEURONS",
    "SURROGATES",
    "IFNode",
    "LIFNode",
    "NonSpikingReadout",
    "ParametricLIFNode",
    "PopulationEncoder",
    "PopulationReadout",
    "RepeatOverTime",
    "RunningNorm",
    "SpikeRates",
    "SpikingCombinedExtractor",
    "SpikingConfig",
    "SpikingFeaturesExtractor",
    "SpikingMlpExtractor",
    "SpikingNatureCNN",
    "SpikingSmallCNN",
    "StandardisedExtractor",
    "ann_mlp",
    "encoder_input",
    "leaky_integrator_kernel",
    "observation_bounds",
    "reads_raw_vectors",
    "spiking_extractor_kwargs",
    "spiking_head",
    "spiking_init_",
    "spiking_mlp",
    "spiking_mlp_output_dim",
    "time_major",
]
