"""
A fused multi-step update for the hidden spiking neurons on CPU: all ``T`` steps of an IF / LIF / PLIF layer with
a hard reset to 0 or a soft reset (the threshold subtracted) in one call, with a hand-written backward pass.

It computes what SpikingJelly's neurons compute (charge, fire with a surrogate gradient, reset), with fewer
passes over memory and fewer operator calls:

- charge: ``h[t] = a * v[t-1] + b * x[t]`` with ``(a, b)`` = ``(1, 1)`` (IF), ``(1 - 1/tau, 1/tau)`` (LIF) or
  ``(1 - q, q)``, ``q = sigmoid(w)`` (PLIF); ``b * x`` is computed for all steps at once, and only once when
  the input is a constant current (a ``[T, B, ...]`` view with stride 0 over time, see ``RepeatOverTime``);
- fire and reset: ``s[t] = h[t] >= v_threshold``, ``v[t] = h[t]`` if it did not fire, else 0 (hard reset) or
  ``h[t] - v_threshold`` (soft reset). The loop over time holds two operator calls per step (three for the soft
  reset); the spikes of all steps are read from the stored ``h`` in one call;
- backward: the surrogate gradient of all steps in a few vectorised calls, then one fused multiply-add per step
  for the recurrence through the membrane potential.

The potential is stored negated (``-h``) so that a hard reset is one ``th.threshold`` call. Configurations that it
does not cover (other surrogates, resets to another potential, stored voltage sequences, reduced precision, non-CPU
devices, where SpikingJelly selects its own fused CUDA kernels) are left to SpikingJelly: see :func:`fused_supported`.
"""

import math
from typing import Optional

import torch as th
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based import surrogate as sj_surrogate
from torch.autograd.function import once_differentiable

# Surrogate gradients g(z) of the spike function at z = h - v_threshold. They are even functions, so they are
# evaluated at -z, which the negated potential gives without an extra pass.
_SURROGATE_KINDS = {
    sj_surrogate.ATan: "atan",
    sj_surrogate.Sigmoid: "sigmoid",
    sj_surrogate.Erf: "erf",
    sj_surrogate.SoftSign: "soft-sign",
    sj_surrogate.PiecewiseQuadratic: "piecewise-quadratic",
}


def surrogate_gradient(kind: str, alpha: float, z: th.Tensor) -> th.Tensor:
    """
    Derivative of a surrogate spike function at ``z`` (computed in place in ``z``).

    :param kind: One of ``"atan"``, ``"sigmoid"``, ``"erf"``, ``"soft-sign"``, ``"piecewise-quadratic"``
    :param alpha: The surrogate's sharpness parameter
    :param z: Distance to the threshold, ``h - v_threshold`` (or its negative: all these derivatives are even)
    """
    if kind == "atan":
        # alpha / 2 / (1 + (pi / 2 * alpha * z) ** 2)
        z.square_().mul_((math.pi / 2 * alpha) ** 2).add_(1.0)
        return z.reciprocal_().mul_(alpha / 2)
    if kind == "sigmoid":
        s = z.mul_(alpha).sigmoid_()
        return s.sub(s * s).mul_(alpha)
    if kind == "erf":
        return z.mul_(alpha).square_().neg_().exp_().mul_(alpha / math.sqrt(math.pi))
    if kind == "soft-sign":
        z.abs_().add_(1.0 / alpha).square_().mul_(2 * alpha)
        return z.reciprocal_()
    if kind == "piecewise-quadratic":
        return z.abs_().mul_(-(alpha**2)).add_(alpha).clamp_min_(0.0)
    raise ValueError(f"Unknown surrogate {kind!r}")


class _SpikeAndReset(th.autograd.Function):
    """
    One simulation step's fire and hard reset to 0, ``s = h >= thr`` and ``v = h (1 - s)``, as one autograd node
    whose backward is ``dh = ds g + dv (1 - s)`` (``- dv h g`` where the reset is not detached), ``g`` the
    surrogate's derivative at ``h - thr``: one node per step where there were three (the spike, ``1 - s``, the
    product).
    In the ``forward(ctx, ...)`` form, which autograd applies without binding the arguments to the signature at
    every call (SpikingJelly's surrogate functions do, at a cost above the step of a small layer). Once
    differentiable: the stateful policies that use it train with first derivatives only (RecurrentPPO).
    """

    @staticmethod
    def forward(ctx, h: th.Tensor, threshold: float, kind: str, alpha: float, detach: bool):  # type: ignore[override]
        fired = h >= threshold
        ctx.save_for_backward(h)
        ctx.threshold, ctx.kind, ctx.alpha, ctx.detach = threshold, kind, alpha, detach
        return fired.to(h), h.masked_fill(fired, 0.0)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_s: th.Tensor, grad_v: th.Tensor):  # type: ignore[override]
        (h,) = ctx.saved_tensors
        g = surrogate_gradient(ctx.kind, ctx.alpha, h - ctx.threshold)
        through_v = grad_v.masked_fill(h >= ctx.threshold, 0.0)
        if ctx.detach:
            return th.addcmul(through_v, grad_s, g), None, None, None, None
        return th.addcmul(through_v, grad_s - grad_v * h, g), None, None, None, None


def spike_and_reset(node: sj_neuron.BaseNode, h: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """
    The spikes of a neuron layer at the charged potential ``h`` (with its surrogate gradient) and the potential after
    a hard reset to 0, through :class:`_SpikeAndReset` where the surrogate is one of :data:`_SURROGATE_KINDS`.

    :param node: A SpikingJelly neuron layer (``v_reset=0``)
    :param h: The charged potential
    :return: The spikes and the potential after the reset
    """
    threshold = float(node.v_threshold)
    surrogate = node.surrogate_function
    kind = _SURROGATE_KINDS.get(type(surrogate))
    alpha = getattr(surrogate, "alpha", None)
    if kind is None or not getattr(surrogate, "spiking", True) or not isinstance(alpha, (int, float)):
        s = surrogate(h - threshold)
        return s, h * (1.0 - (s.detach() if node.detach_reset else s))
    return _SpikeAndReset.apply(h, threshold, kind, float(alpha), bool(node.detach_reset))


def fused_supported(node: sj_neuron.BaseNode, x_seq: th.Tensor) -> bool:
    """
    Whether :func:`fused_multi_step` computes this neuron layer's update for this input: a multi-step IF, LIF
    (``decay_input=True``) or PLIF layer, hard reset to 0 or soft reset, a surrogate of :data:`_SURROGATE_KINDS` with a float
    ``alpha``, no stored voltage sequence, no reduced neuron precision, and a float32/float64 CPU input ``[T, ...]``.

    :param node: A SpikingJelly neuron layer
    :param x_seq: Its input
    """
    if not isinstance(node, (sj_neuron.IFNode, sj_neuron.LIFNode, sj_neuron.ParametricLIFNode)):
        return False
    surrogate = node.surrogate_function
    return (
        x_seq.device.type == "cpu"
        and x_seq.dtype in (th.float32, th.float64)
        and x_seq.dim() >= 2
        and node.step_mode == "m"
        and node.v_reset in (0.0, None)
        and not node.store_v_seq
        and getattr(node, "_neuron_precision", None) is None
        and getattr(node, "decay_input", True)
        and type(surrogate) in _SURROGATE_KINDS
        and getattr(surrogate, "spiking", True)
        and isinstance(getattr(surrogate, "alpha", None), (int, float))
    )


def _neg_potential_after(neg_h: th.Tensor, threshold: float, soft: bool, out: Optional[th.Tensor] = None) -> th.Tensor:
    """``-v`` after the reset, from the negated charged potential ``-h``: 0 where it fired (hard), ``-h + thr`` (soft)."""
    if not soft:
        return th.threshold(neg_h, -threshold, 0.0, out=out)  # type: ignore[call-arg]
    fired = th.le(neg_h, -threshold).to(neg_h.dtype)
    return th.add(neg_h, fired, alpha=threshold, out=out)  # type: ignore[call-arg]


def _charge_and_fire(x_seq: th.Tensor, a: float, b: float, threshold: float, soft: bool) -> tuple[th.Tensor, th.Tensor]:
    """
    Forward pass from rest. Returns the spikes and the negated charged potential ``-h``, both ``[T, ...]``.
    """
    neg_h = th.empty(x_seq.shape, dtype=x_seq.dtype, device=x_seq.device)
    if x_seq.shape[0] > 1 and x_seq.stride(0) == 0:
        # A constant current: b * x once, on [B, ...]
        neg_h.copy_(th.mul(x_seq[0], -b).expand_as(x_seq))
    else:
        th.mul(x_seq, -b, out=neg_h)
    # -v after each step: -h where it stays below threshold, 0 (hard reset) or -h + threshold (soft) where it fired
    steps = neg_h.unbind(0)  # views of every step, made in one call
    neg_v = _neg_potential_after(steps[0], threshold, soft)
    for neg_h_t in steps[1:]:
        neg_h_t.add_(neg_v, alpha=a)
        _neg_potential_after(neg_h_t, threshold, soft, out=neg_v)
    spikes = th.le(neg_h, -threshold, out=th.empty_like(neg_h))
    return spikes, neg_h


class _FusedNeuronFunction(th.autograd.Function):
    """All ``T`` steps of an IF / LIF / PLIF layer with a surrogate-gradient backward pass."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        x_seq: th.Tensor,
        w: Optional[th.Tensor],
        a: float,
        b: float,
        threshold: float,
        kind: str,
        alpha: float,
        detach_reset: bool,
        soft: bool,
    ) -> th.Tensor:
        spikes, neg_h = _charge_and_fire(x_seq, a, b, threshold, soft)
        # x_seq (a reference) for PLIF's gradient and for second-order uses
        ctx.save_for_backward(neg_h, x_seq, w)
        ctx.constants = (a, b, threshold, kind, alpha, detach_reset, soft)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes: th.Tensor):  # type: ignore[override]
        neg_h, x_seq, w = ctx.saved_tensors
        a, b, threshold, kind, alpha, detach_reset, soft = ctx.constants
        if th.is_grad_enabled():
            # A backward pass that is itself differentiated (create_graph=True, e.g. TRPO's Fisher-vector products):
            # differentiate a plain step-by-step recomputation instead
            return _differentiable_backward(x_seq, w, grad_spikes, ctx.constants)
        # dL/dh[t] = grad_spikes[t] * g(h[t] - thr) + dL/dv[t] * dv[t]/dh[t], dL/dv[t] = a * dL/dh[t+1]
        grad_h = surrogate_gradient(kind, alpha, neg_h + threshold)
        if soft:
            # v = h - thr * s: dv/dh = 1 - thr * g (1 with the reset detached)
            dv_dh = None if detach_reset else th.mul(grad_h, -threshold).add_(1.0)
        else:
            dv_dh = th.gt(neg_h, -threshold, out=th.empty_like(neg_h))  # 1 - s
            if not detach_reset:
                dv_dh.addcmul_(neg_h, grad_h)  # dv/dh = (1 - s) - h * g
        grad_h.mul_(grad_spikes)
        grad_steps = grad_h.unbind(0)
        if dv_dh is None:
            for t in range(grad_h.shape[0] - 2, -1, -1):
                grad_steps[t].add_(grad_steps[t + 1], alpha=a)
        else:
            dv_dh_steps = dv_dh.unbind(0)
            for t in range(grad_h.shape[0] - 2, -1, -1):
                grad_steps[t].addcmul_(dv_dh_steps[t], grad_steps[t + 1], value=a)
        grad_w = None
        if w is not None:
            # PLIF: h = v + (x - v) * q, dL/dq = sum(dL/dh * (x - v[t-1])), -v[t-1] from -h[t-1] after the reset
            grad_q = (grad_h * x_seq).sum()
            if grad_h.shape[0] > 1:
                grad_q = grad_q + (grad_h[1:] * _neg_potential_after(neg_h[:-1], threshold, soft)).sum()
            grad_w = grad_q * (b * (1.0 - b))
        if b != 1.0:
            grad_h.mul_(b)
        return grad_h, grad_w, None, None, None, None, None, None, None


def _differentiable_backward(x_seq: th.Tensor, w: Optional[th.Tensor], grad_spikes: th.Tensor, constants: tuple):
    a, b, threshold, kind, alpha, detach_reset, soft = constants
    surrogate = next(cls for cls, name in _SURROGATE_KINDS.items() if name == kind)(alpha=alpha)
    q = None if w is None else w.sigmoid()
    v: th.Tensor = th.zeros_like(x_seq[0])
    spikes = []
    for x in x_seq:
        h = v + (x - v) * q if q is not None else a * v + b * x
        spike = surrogate(h - threshold)
        fired = spike.detach() if detach_reset else spike
        v = h - threshold * fired if soft else h * (1.0 - fired)
        spikes.append(spike)
    inputs = [x_seq] if w is None else [x_seq, w]
    grads = th.autograd.grad(th.stack(spikes), inputs, grad_spikes, create_graph=True, allow_unused=True)
    return grads[0], (grads[1] if w is not None else None), None, None, None, None, None, None, None


def fused_multi_step(node: sj_neuron.BaseNode, x_seq: th.Tensor) -> th.Tensor:
    """
    The output spikes ``[T, ...]`` of a neuron layer for ``x_seq`` from rest, where :func:`fused_supported`.
    The layer's own state is neither read nor written.

    :param node: A SpikingJelly IF / LIF / PLIF layer
    :param x_seq: Its input ``[T, ...]``
    """
    w = None
    if isinstance(node, sj_neuron.ParametricLIFNode):
        w = node.w
        b = float(w.detach().to(x_seq.dtype).sigmoid())
        a = 1.0 - b
    elif isinstance(node, sj_neuron.LIFNode):
        a, b = 1.0 - 1.0 / node.tau, 1.0 / node.tau
    else:
        a, b = 1.0, 1.0
    threshold = float(node.v_threshold)
    soft = node.v_reset is None
    needs_grad = th.is_grad_enabled() and (x_seq.requires_grad or (w is not None and w.requires_grad))
    if not needs_grad:
        return _charge_and_fire(x_seq, a, b, threshold, soft)[0]
    surrogate = node.surrogate_function
    kind = _SURROGATE_KINDS[type(surrogate)]
    return _FusedNeuronFunction.apply(x_seq, w, a, b, threshold, kind, float(surrogate.alpha), bool(node.detach_reset), soft)
