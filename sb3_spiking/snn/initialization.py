"""
Initialisation of the synapses that drive spiking neurons.

PyTorch's default initialisation (and SB3's orthogonal one) scales weights for ReLU/Tanh units. A spiking neuron
only fires once its membrane reaches the threshold; with those scales the membranes of a freshly built network
stay far below it and whole layers are nearly silent (firing rate below 0.01 in a fresh CartPole network), so the
readouts start with almost no input and learning has to wait for surrogate gradients to wake them.
Here the weights are drawn with a standard deviation proportional to the threshold instead,
``gain * v_threshold / sqrt(fan_in)`` (zero bias), which gives hidden firing rates of roughly 0.15-0.2 at
initialisation.
"""

import math

import torch as th
from torch import nn

SPIKING_INIT_GAIN = 4.0


def spiking_init_(module: nn.Module, v_threshold: float = 1.0, gain: float = SPIKING_INIT_GAIN) -> nn.Module:
    """
    Re-initialise, in place, every linear and convolutional layer inside ``module``: weights from
    ``N(0, (gain * v_threshold)^2 / fan_in)``, biases zero. Apply it only to layers that feed spiking neurons.

    :param module: The layers to initialise
    :param v_threshold: Firing threshold of the neurons they drive
    :param gain: Scale relative to the threshold
    :return: ``module``
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            fan_in = layer.weight[0].numel()
            with th.no_grad():
                layer.weight.normal_(0.0, gain * v_threshold / math.sqrt(fan_in))
                if layer.bias is not None:
                    layer.bias.zero_()
    return module
