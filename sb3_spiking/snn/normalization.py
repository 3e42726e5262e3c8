"""
Observation normalisation inside the network, for spiking layers fed by raw vector observations.

A leaky neuron only fires when its input current stays above the threshold; observations on small scales
(CartPole's angle, MountainCar's velocity) give currents that leak away first, and whole layers stay silent
(``lab/leaky_diagnosis.md``). :class:`RunningNorm` standardises each observation dimension with running
statistics, as SB3's ``VecNormalize`` does in the environment, but inside the policy: the statistics are saved with
the model (no separate file to keep next to it), the rl-zoo3 hyperparameters stay as tuned, and exports include it.
"""

from typing import Optional

import torch as th
from torch import nn

NORMALISED_RANGE = (-2.0, 2.0)  # where a population encoder's centres start on standardised inputs


class RunningNorm(nn.Module):
    """
    ``(x - mean) / sqrt(var + eps)`` per feature, with the mean and variance of every batch seen in gradient steps
    (all batches weighted by their size, as SB3's ``RunningMeanStd``).

    The statistics change only on a forward pass in training mode with autograd recording, which is where SB3's
    algorithms compute their losses (``train()``: ``policy.set_training_mode(True)``, then the online networks
    with gradients; targets and next observations under ``th.no_grad()``). Rollouts and ``predict`` (evaluation
    mode), target networks, exports and any call under ``th.no_grad()`` only read them, so the policy stays a pure
    function of its input there. A batch with a NaN or an infinite value never enters the statistics, and the
    update is computed in float64, so that huge observations (``1e20``) give a finite variance.

    The buffers are named ``running_*`` so that SB3 copies them to target networks together with the weights, as
    it does for batch-norm statistics (DQN, SAC, TD3). With ``read_before_update`` set, a pass that updates the
    statistics standardises with those from before its batch, so that it gives what the same pass without
    gradients gave (TRPO compares the two, see ``SpikingActorCriticMixin.get_distribution``).

    :param num_features: Number of features (observation dimensions)
    :param eps: Added to the variance before the square root
    :param clip: Bound of the standardised output (clipped to ``[-clip, clip]``), or None for no clipping
    """

    def __init__(self, num_features: int, eps: float = 1e-8, clip: Optional[float] = None) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.clip = clip
        self.register_buffer("running_mean", th.zeros(num_features))
        self.register_buffer("running_var", th.ones(num_features))
        self.register_buffer("running_count", th.zeros(()))
        self.read_before_update = False

    @th.no_grad()
    def update(self, x: th.Tensor) -> bool:
        """
        Merge the mean and variance of a batch ``[B, num_features]`` into the running statistics (Chan et al.'s
        parallel update, in float64).

        :param x: The batch
        :return: Whether it was merged: an empty batch, or one with a NaN or an infinite value, is left out
        """
        if x.shape[0] == 0 or not bool(th.isfinite(x).all()):
            return False
        batch = x.to(th.float64)
        batch_count = batch.shape[0]
        batch_mean = batch.mean(dim=0)
        batch_var = batch.var(dim=0, unbiased=False)
        mean, var = self.running_mean.to(th.float64), self.running_var.to(th.float64)
        count = float(self.running_count)
        total = count + batch_count
        delta = batch_mean - mean
        new_mean = mean + delta * (batch_count / total)
        # Each term stays finite in float64 for any float32 input (|x| < 3.4e38 gives squares below 1.2e77)
        new_var = var * (count / total) + batch_var * (batch_count / total) + delta.square() * (count * batch_count / total**2)
        limit = th.finfo(self.running_var.dtype).max
        self.running_mean.copy_(new_mean)
        self.running_var.copy_(new_var.clamp(max=limit))
        self.running_count.fill_(total)
        return True

    def scale_and_shift(self) -> tuple[th.Tensor, th.Tensor]:
        """``(scale, shift)`` with ``forward(x) == x * scale + shift`` (the affine map that exports write)."""
        scale = th.rsqrt(self.running_var + self.eps)
        return scale, -self.running_mean * scale

    def forward(self, x: th.Tensor) -> th.Tensor:
        if x.dim() != 2:
            raise ValueError(f"RunningNorm reads vector features [B, F], got a tensor of shape {tuple(x.shape)}")
        update = self.training and th.is_grad_enabled()
        if update and not self.read_before_update:
            self.update(x.detach())
        out = (x - self.running_mean) * th.rsqrt(self.running_var + self.eps)
        if update and self.read_before_update:
            self.update(x.detach())  # after: the output holds the earlier statistics (new tensors, not the buffers)
        return out if self.clip is None else out.clamp(-self.clip, self.clip)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}" + ("" if self.clip is None else f", clip={self.clip}")
