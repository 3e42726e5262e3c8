"""
Observation normalisation inside the network, for spiking layers fed by raw vector observations.

A leaky neuron only fires when its input current stays above the threshold; observations on small scales
(CartPole's angle, MountainCar's velocity) give currents that leak away first, and whole layers stay silent
(``docs/leaky_diagnosis.md``). :class:`RunningNorm` standardises each observation dimension with running
statistics, as SB3's ``VecNormalize`` does in the environment, but inside the policy: the statistics are saved with
the model (no separate file to keep next to it), the rl-zoo3 hyperparameters stay as tuned, and exports include it.
"""

from typing import Any, Optional

import torch as th
from torch import nn

NORMALISED_RANGE = (-2.0, 2.0)  # where a population encoder's centres start on standardised inputs


class RunningNorm(nn.Module):
    """
    ``(x - mean) / sqrt(var + eps)`` per feature, with the mean and variance of every batch seen in training mode
    (all batches weighted by their size, as SB3's ``RunningMeanStd``). In evaluation mode (rollouts, ``predict``)
    the statistics are only read, so the policy stays a pure function of its input there.

    The buffers are named ``running_*`` so that SB3 copies them to target networks together with the weights, as
    it does for batch-norm statistics (DQN, SAC, TD3).

    A state dict without these buffers (a model saved before this layer existed) loads with the layer frozen at the
    identity: the loaded network computes exactly what it computed when it was saved.

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
        self.register_buffer("frozen", th.tensor(False))

    @th.no_grad()
    def update(self, x: th.Tensor) -> None:
        """Merge the mean and variance of a batch ``[B, num_features]`` into the running statistics."""
        batch_count = x.shape[0]
        if batch_count == 0:
            return
        batch_mean = x.mean(dim=0)
        batch_var = x.var(dim=0, unbiased=False)
        count = self.running_count
        total = count + batch_count
        delta = batch_mean - self.running_mean
        m2 = self.running_var * count + batch_var * batch_count + delta.square() * count * batch_count / total
        self.running_mean.add_(delta * batch_count / total)
        self.running_var.copy_(m2 / total)
        self.running_count.copy_(total)

    def scale_and_shift(self) -> tuple[th.Tensor, th.Tensor]:
        """``(scale, shift)`` with ``forward(x) == x * scale + shift`` (the affine map that exports write)."""
        scale = th.rsqrt(self.running_var + self.eps)
        return scale, -self.running_mean * scale

    def forward(self, x: th.Tensor) -> th.Tensor:
        if x.dim() != 2:
            raise ValueError(f"RunningNorm reads vector features [B, F], got a tensor of shape {tuple(x.shape)}")
        if self.training and not bool(self.frozen):
            self.update(x.detach())
        x = (x - self.running_mean) * th.rsqrt(self.running_var + self.eps)
        return x if self.clip is None else x.clamp(-self.clip, self.clip)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        if not any(key.startswith(prefix) for key in state_dict):
            # Saved before the layer existed: keep the saved network's function
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.running_count.zero_()
            self.frozen.fill_(True)
            return
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}" + ("" if self.clip is None else f", clip={self.clip}")


def _shift_keys_saved_without_norm(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load-state-dict pre-hook: renumber the layers of a state dict saved before the normalisation was inserted."""
    own = [key for key in state_dict if key.startswith(prefix)]
    if not own or any(key.startswith(f"{prefix}0.running_") for key in own):
        return
    for key in sorted(own, key=lambda k: -int(k[len(prefix) :].split(".", 1)[0])):
        index, rest = key[len(prefix) :].split(".", 1)
        state_dict[f"{prefix}{int(index) + 1}.{rest}"] = state_dict.pop(key)


def with_norm_first(modules: list[nn.Module]) -> nn.Sequential:
    """
    ``nn.Sequential(*modules)``; when it starts with a :class:`RunningNorm`, a state dict saved before the
    normalisation existed (its layers numbered from 0 without it) still loads: its layers are renumbered and the
    normalisation loads as the identity (see :class:`RunningNorm`).
    """
    sequential = nn.Sequential(*modules)
    if modules and isinstance(modules[0], RunningNorm):
        sequential.register_load_state_dict_pre_hook(_shift_keys_saved_without_norm)
    return sequential
