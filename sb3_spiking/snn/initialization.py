"""
Initialisation of the synapses that drive spiking neurons.

PyTorch's default initialisation (and SB3's orthogonal one) scales weights for ReLU/Tanh units. A spiking neuron
only fires once its membrane reaches the threshold; with those scales the membranes of a freshly built network
stay far below it and whole layers are nearly silent (firing rate below 0.01 in a fresh CartPole network), so the
readouts start with almost no input and learning has to wait for surrogate gradients to wake them.
Here the weights are drawn with a standard deviation proportional to the threshold instead,
``gain * v_threshold / sqrt(fan_in)`` (zero bias), which gives hidden firing rates of roughly 0.15-0.2 at
initialisation.

With zero biases every neuron of the first layer behind standardised observations reaches its threshold within a
quarter of a standard deviation of the mean (``v_threshold / |w|`` with ``|w|`` near ``gain``): the layer then codes
the direction of an observation from the mean and hardly its distance, and observations far along one direction
all look alike (MountainCar's states of high energy are as those of low). ``input_span`` spreads these thresholds:
each neuron's bias puts its threshold at a random distance, uniform over ``[-input_span, input_span]`` standard
deviations, along its weight vector, so that the layer tiles the standardised range as a ReLU layer with PyTorch's
random biases tiles its inputs. ``input_gain`` sets how steep each of these neurons is: its firing rate climbs
from 0 to its maximum over about ``1 / input_gain`` standard deviations of the input along its weights (a quarter
of one with the gain of the other layers), so that a smaller gain makes the first layer a graded, ramp-like code of each
direction rather than a bank of steps.
"""

import math
from typing import Optional

import torch as th
from torch import nn

from sb3_spiking.snn.normalization import RunningNorm

#: Scale of the weights that drive spiking neurons, relative to their threshold (see :func:`spiking_init_`)
SPIKING_INIT_GAIN = 4.0


def spiking_init_(
    module: nn.Module,
    v_threshold: float = 1.0,
    gain: float = SPIKING_INIT_GAIN,
    input_span: float = 0.0,
    input_spread: float = 1.0,
    input_gain: Optional[float] = None,
    centre_second_layer: bool = False,
) -> nn.Module:
    """
    Re-initialise, in place, every linear and convolutional layer inside ``module``: weights from
    ``N(0, (gain * v_threshold)^2 / fan_in)``, biases zero, except that a linear layer that directly follows a
    :class:`~sb3_spiking.snn.normalization.RunningNorm` in a ``nn.Sequential`` has its weights on the scale of
    ``input_gain`` and its thresholds spread over ``input_span`` (see :func:`spread_thresholds_`). Apply it only to
    layers that feed spiking neurons.

    :param module: The layers to initialise
    :param v_threshold: Firing threshold of the neurons they drive
    :param gain: Scale relative to the threshold
    :param input_span: Half-width, in standard deviations, of the range over which the thresholds of the layers
        behind standardised inputs are spread (0: zero biases there too)
    :param input_spread: The share of those layers' neurons that are spread (the others keep zero biases)
    :param input_gain: Scale of those layers' weights relative to the threshold (None: ``gain``)
    :param centre_second_layer: Whether the next linear layer after each of those starts with its neurons' mean current
        at the threshold (see :func:`centre_second_layer_`)
    :return: ``module``
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            fan_in = layer.weight[0].numel()
            with th.no_grad():
                layer.weight.normal_(0.0, gain * v_threshold / math.sqrt(fan_in))
                if layer.bias is not None:
                    layer.bias.zero_()
    rescale = input_gain is not None and input_gain != gain
    if input_span > 0 or rescale:
        for sequence in module.modules():
            if isinstance(sequence, nn.Sequential):
                children = list(sequence)
                for previous, layer in zip(children, children[1:]):
                    if isinstance(previous, RunningNorm) and isinstance(layer, nn.Linear):
                        if rescale:
                            with th.no_grad():  # the same draw on another scale (no other random numbers)
                                layer.weight.mul_(input_gain / gain)  # type: ignore[operator]
                        if input_span > 0:
                            spread_thresholds_(layer, v_threshold, input_span, input_spread)
    if centre_second_layer:
        for sequence in module.modules():
            if isinstance(sequence, nn.Sequential):
                children = list(sequence)
                for index, (previous, layer) in enumerate(zip(children, children[1:])):
                    second = next((child for child in children[index + 2 :] if isinstance(child, nn.Linear)), None)
                    if isinstance(previous, RunningNorm) and isinstance(layer, nn.Linear) and second is not None:
                        centre_second_layer_(layer, second, v_threshold)
    return module


def spread_thresholds_(layer: nn.Linear, v_threshold: float, span: float, share: float = 1.0) -> nn.Linear:
    """
    Set, in place, the biases of a linear layer fed by standardised inputs so that neuron ``j``'s input current
    ``w_j . x + b_j`` reaches ``v_threshold`` where the projection of ``x`` on ``w_j / |w_j|`` equals ``c_j``, with
    ``c_j`` uniform over ``[-span, span]``: ``b_j = v_threshold - |w_j| c_j``; the last ``1 - share`` of the neurons
    keep zero biases (their thresholds near the mean).

    :param layer: The layer (its weights already initialised)
    :param v_threshold: Firing threshold of the neurons it drives
    :param span: Half-width of the range of the offsets ``c_j``
    :param share: The share of the neurons that are spread (the first ``round(share * out_features)``)
    :return: ``layer``
    """
    if layer.bias is None:
        raise ValueError("Spreading the thresholds needs a layer with biases")
    with th.no_grad():
        spread = round(share * layer.out_features)
        offsets = th.empty(spread, dtype=layer.bias.dtype, device=layer.bias.device).uniform_(-span, span)
        layer.bias[:spread] = v_threshold - layer.weight[:spread].norm(dim=1) * offsets
    return layer


def centre_second_layer_(first: nn.Linear, second: nn.Linear, v_threshold: float) -> nn.Linear:
    """
    In place: the biases of ``second`` (the layer after the spiking neurons that ``first`` drives, behind standardised
    inputs) such that each of its neurons' mean current is at the threshold. The firing rate of first-layer neuron
    ``j`` is taken as the chance that a standard normal input along its weights ``w_j`` passes its threshold,
    ``P(z > (v_threshold - b_j) / |w_j|)``; the bias cancels the current these expected rates send and adds the
    threshold. With the thresholds spread (``input_span``) the first-layer neurons far below the mean fire on nearly
    every state and would otherwise add a constant of random sign to each second-layer neuron.

    :param first: The linear layer behind the standardised inputs
    :param second: The next linear layer
    :param v_threshold: Firing threshold of the neurons
    :return: ``second``
    """
    with th.no_grad():
        offsets = (v_threshold - first.bias) / first.weight.norm(dim=1)
        rates = 0.5 * th.erfc(offsets / math.sqrt(2.0))
        second.bias.copy_(v_threshold - second.weight @ rates)
    return second
