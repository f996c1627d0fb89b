"""The functional losses of ``nn.functional``: argument checks with PyTorch's messages, then one
fused node each (``_losses``)."""

from __future__ import annotations

import warnings

from .. import backend
from ..creation import as_tensor
from ..tensor import Tensor
from . import _losses as L
from .module import dtype_name

_REDUCTIONS = ("none", "mean", "sum")


def get_reduction(reduction: str, size_average=None, reduce=None) -> str:
    """Validate ``reduction``; map PyTorch's deprecated ``size_average``/``reduce`` onto it."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use "
            f"reduction='{reduction}' instead.",
            stacklevel=3,
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _common_float(input, target):
    """Cast both operands to their promoted floating dtype (PyTorch computes losses in it)."""
    if not isinstance(target, Tensor):
        target = as_tensor(target, dtype=input.dtype, device=input.device)
    dt = backend.promote_types(input.dtype, target.dtype)
    if not dt.is_floating_point:
        dt = backend.default_float()
    return input.to(dt), target.to(dt)


def _pointwise(kind, input, target, reduction, param=None):
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input "
            f"size ({input.size()}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )
    input, target = _common_float(input, target)
    return L.PointwiseLoss.apply(input, target, kind=kind, param=param, reduction=reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean") -> Tensor:
    """Mean squared error ``(x - y)^2``, reduced."""
    return _pointwise("mse", input, target, get_reduction(reduction, size_average, reduce))


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean") -> Tensor:
    """Mean absolute error ``|x - y|``, reduced."""
    return _pointwise("l1", input, target, get_reduction(reduction, size_average, reduce))


def huber_loss(input, target, reduction="mean", delta=1.0) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - delta/2)``, with ``d = x - y``."""
    reduction = get_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    return _pointwise("huber", input, target, reduction, float(delta))


def smooth_l1_loss(
    input, target, size_average=None, reduce=None, reduction="mean", beta=1.0
) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - beta/2``; ``beta=0`` is L1."""
    reduction = get_reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0:
        return _pointwise("l1", input, target, reduction)
    return _pointwise("smooth_l1", input, target, reduction, float(beta))


def binary_cross_entropy(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean"
) -> Tensor:
    """``-w (y log x + (1-y) log(1-x))`` for probabilities ``x``; each log is clamped at -100."""
    reduction = get_reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input "
            f"size ({input.size()}) is deprecated. Please ensure they have the same "
            "size."
        )
    input, target = _common_float(input, target)
    return L.BinaryCrossEntropy.apply(input, target, _same(weight, input), reduction=reduction)


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
) -> Tensor:
    """Sigmoid + binary cross-entropy in one numerically stable node; ``pos_weight`` (C,)
    weighs the positive term of each class (last dimension)."""
    reduction = get_reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(
            f"Target size ({target.size()}) must be the same as input size ({input.size()})"
        )
    input, target = _common_float(input, target)
    return L.BinaryCrossEntropyWithLogits.apply(
        input, target, _same(weight, input), _same(pos_weight, input), reduction=reduction
    )


def _same(t, ref):
    """An optional weight tensor as ``ref``'s dtype (never part of the graph)."""
    return None if t is None else t.detach().to(ref.dtype)._data


def _class_weight(weight, input, n_classes):
    if weight is None:
        return None
    if weight.numel() != n_classes:
        raise RuntimeError(
            f"weight tensor should be defined either for all {n_classes} classes "
            f"or no classes but got weight tensor of shape: {list(weight.shape)}"
        )
    return _same(weight, input).reshape(-1)


def _check_index_target(input, target):
    """PyTorch's shape and dtype checks of class-index targets against (N, C, d1, ...) input."""
    if input.ndim == 0:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    if input.ndim == 1:
        if target.ndim > 1 or (target.ndim == 1 and target.shape[0] != 1):
            raise ValueError(
                f"For 1D input, 1D target must have size 1, but got target size: {target.numel()}"
            )
    elif input.ndim == 2:
        if target.ndim != 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if target.shape[0] != input.shape[0]:
            raise ValueError(
                f"Expected input batch_size ({input.shape[0]}) to match target "
                f"batch_size ({target.shape[0]})."
            )
    else:
        expected = (input.shape[0],) + tuple(input.shape[2:])
        if tuple(target.shape) != expected:
            raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")
    if target.dtype not in (backend.int64, backend.uint8):
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {dtype_name(target.dtype)}"
        )


def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index=-100,
    reduce=None,
    reduction="mean",
    label_smoothing=0.0,
) -> Tensor:
    """Log-softmax over dimension 1 and negative log-likelihood, fused into one node.

    ``target`` holds class indices, shape (N,) or (N, d1, ...) for input (N, C) or
    (N, C, d1, ...), or class probabilities of the input's shape. ``mean`` divides by the summed
    ``weight`` of the non-ignored targets (by the sample count for probability targets).
    """
    reduction = get_reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"\"log_softmax_lastdim_kernel_impl\" not implemented for '{dtype_name(input.dtype)}'"
        )
    n_classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    w = _class_weight(weight, input, n_classes)
    if target.shape == input.shape:
        if not target.dtype.is_floating_point:
            raise RuntimeError(
                "Expected floating point type for target with class "
                f"probabilities, got {dtype_name(target.dtype)}"
            )
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        return L.CrossEntropyProbs.apply(
            input, target.to(input.dtype), w, label_smoothing=label_smoothing, reduction=reduction
        )
    _check_index_target(input, target)
    return L.CrossEntropy.apply(
        input,
        target,
        w,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )


def nll_loss(
    input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C, d1, ...) at class
    indices ``target`` (N, d1, ...); ``mean`` divides by the summed weights of non-ignored
    targets."""
    reduction = get_reduction(reduction, size_average, reduce)
    _check_index_target(input, target)
    n_classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    return L.NLLLoss.apply(
        input,
        target,
        _class_weight(weight, input, n_classes),
        ignore_index=ignore_index,
        reduction=reduction,
    )
