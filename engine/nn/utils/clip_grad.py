"""Gradient clipping, in place on ``.grad`` (PyTorch's ``nn.utils.clip_grad_norm_`` and
``clip_grad_value_``)."""

from __future__ import annotations

import math

from ... import backend, creation
from ...ops.reduce import quiet
from ...tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


@quiet  # an inf/nan or overflowing norm scales the gradients as PyTorch, without warnings
def clip_grad_norm_(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
) -> Tensor:
    r"""Scale the gradients of ``parameters`` so that their total norm is at most ``max_norm``.

    The total norm is that of all gradients concatenated into one vector; every gradient is
    multiplied by ``min(1, max_norm / (total_norm + 1e-6))``, in place.

    Args:
        parameters: an iterable of Tensors (or one Tensor) whose gradients are clipped
        max_norm: the largest allowed norm
        norm_type: the p of the p-norm, ``inf`` for the max norm. Default: 2.0
        error_if_nonfinite: raise if the total norm is nan or inf. Default: ``False``

    Returns:
        The total norm of the gradients before clipping, a 0-d tensor.

    Example::

        >>> loss.backward()
        >>> nr.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    grads = _grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return creation.tensor(0.0)  # PyTorch's torch.tensor(0.0): a CPU float32 0-d tensor
    xp = backend.xp_of(grads[0]._data)
    dtype = grads[0]._data.dtype
    if norm_type == math.inf:
        norms = [xp.abs(g._data).max() if g._data.size else xp.zeros((), dtype) for g in grads]
        total = xp.max(xp.stack(norms))
    else:
        norms = [_pnorm(xp, g._data.reshape(-1), norm_type) for g in grads]
        total = _pnorm(xp, xp.stack(norms).astype(dtype, copy=False), norm_type)
    total = xp.asarray(total, dtype=dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0).astype(dtype)
    for g in grads:
        g._data *= coef
    return Tensor._make(total)


def _pnorm(xp, flat, p):
    if p == 2.0:
        return xp.sqrt(xp.dot(flat, flat))
    if p == 1.0:
        return xp.abs(flat).sum()
    return (xp.abs(flat) ** p).sum() ** (1.0 / p)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    r"""Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]``, in place.

    Args:
        parameters: an iterable of Tensors (or one Tensor) whose gradients are clipped
        clip_value: the largest allowed absolute value of a gradient element
    """
    clip_value = float(clip_value)
    for g in _grads(parameters):
        xp = backend.xp_of(g._data)
        xp.clip(g._data, -clip_value, clip_value, out=g._data)
