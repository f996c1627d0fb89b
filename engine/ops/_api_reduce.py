"""Reductions of the functional API (``sum``, ``mean``, ``argmax``, ``softmax``, ...) and
``gather``. ``max``/``min`` stay in ``api``: given a tensor for ``dim`` they are ``maximum``/
``minimum``. Re-exported by ``api``."""

from __future__ import annotations

from .. import backend
from . import reduce as R
from ._api_operands import _wrap
from .reduce import norm_dim, norm_dims


def _sum_dtype(input, dtype):
    if dtype is not None:
        return backend.to_dtype(dtype)
    return backend.int64 if not input.dtype.is_floating_point else None


def sum(input, dim=None, keepdim=False, *, dtype=None):
    dt = _sum_dtype(input, dtype)
    return R.Sum.apply(
        input, axes=norm_dims(dim, input.ndim), keepdim=keepdim, dtype=None if dt is None else dt.np
    )


def _need_float(input, name):
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"{name}(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {_torch_type_name(input.dtype)}"
        )


def _torch_type_name(dt):
    return {
        "int64": "Long",
        "int32": "Int",
        "int16": "Short",
        "int8": "Char",
        "uint8": "Byte",
        "bool": "Bool",
        "float16": "Half",
        "float32": "Float",
        "float64": "Double",
    }.get(dt.name, dt.name)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    _need_float(input, "mean")
    return R.Mean.apply(input, axes=norm_dims(dim, input.ndim), keepdim=keepdim)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    _need_float(input, "var")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return R.Var.apply(
        input, axes=norm_dims(dim, input.ndim), keepdim=keepdim, correction=correction
    )


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    _need_float(input, "std")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return R.Std.apply(
        input, axes=norm_dims(dim, input.ndim), keepdim=keepdim, correction=correction
    )


def amax(input, dim=(), keepdim=False):
    return R.Amax.apply(input, axes=norm_dims(dim, input.ndim), keepdim=keepdim, largest=True)


def amin(input, dim=(), keepdim=False):
    return R.Amax.apply(input, axes=norm_dims(dim, input.ndim), keepdim=keepdim, largest=False)


def _arg(input, dim, keepdim, largest):
    xp = backend.xp_of(input._data)
    f = xp.argmax if largest else xp.argmin
    if dim is None:
        out = f(input._data.reshape(-1))
        out = xp.asarray(out).astype(xp.int64)
        return _wrap(out.reshape((1,) * input.ndim) if keepdim else out)
    axis = norm_dim(dim, input.ndim)
    return _wrap(f(input._data, axis=axis, keepdims=keepdim).astype(xp.int64, copy=False))


def argmax(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, True)


def argmin(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, False)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    elif not input.dtype.is_floating_point:
        input = input.to(backend.int64)
    if dim is None:
        return R.Prod.apply(input)
    return R.Prod.apply(input, axis=norm_dim(dim, input.ndim), keepdim=keepdim)


def logsumexp(input, dim, keepdim=False):
    if not input.dtype.is_floating_point:
        input = input.to(backend.default_float())
    return R.LogSumExp.apply(
        input, axes=norm_dims(dim, input.ndim) or tuple(range(input.ndim)), keepdim=keepdim
    )


def all(input, dim=None, keepdim=False):
    axes = norm_dims(dim, input.ndim)
    return _wrap(backend.xp_of(input._data).asarray(input._data.all(axis=axes, keepdims=keepdim)))


def any(input, dim=None, keepdim=False):
    axes = norm_dims(dim, input.ndim)
    return _wrap(backend.xp_of(input._data).asarray(input._data.any(axis=axes, keepdims=keepdim)))


def cumsum(input, dim, *, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    elif not input.dtype.is_floating_point:
        input = input.to(backend.int64)
    return R.CumSum.apply(input, axis=norm_dim(dim, input.ndim))


def _softmax_input(input, dtype):
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"softmax is not implemented for '{_torch_type_name(input.dtype)}'")
    return input


def softmax(input, dim, dtype=None):
    input = _softmax_input(input, dtype)
    return R.Softmax.apply(input, axis=norm_dim(dim, input.ndim))


def log_softmax(input, dim, dtype=None):
    input = _softmax_input(input, dtype)
    return R.LogSoftmax.apply(input, axis=norm_dim(dim, input.ndim))


def gather(input, dim, index):
    axis = norm_dim(dim, input.ndim)
    return R.Gather.apply(input, index._data, axis=axis)
