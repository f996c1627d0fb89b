"""The functional API (``nr.add``, ``nr.sum``, ``nr.cat``, ...): PyTorch's argument handling,
type promotion and error messages, on top of the Function classes. Tensor methods call these."""

# This module holds the ops that broadcast two operands (arithmetic, comparisons, maximum/minimum
# and the clamp/max/min built on them, matmul) beside the broadcasting helpers, which are the only
# host-side NumPy here (test_xp_portability lists them for this file). The other ops live in
# _api_pointwise, _api_reduce and _api_shape, re-exported below: `api.<name>` is the one import
# path for every op.

from __future__ import annotations

import builtins
import operator

from .. import backend
from ..backend import from_np, result_type
from . import elementwise as E
from . import linalg as L
from . import reduce as R
from ._api_operands import (
    _T,
    _as_tensor_like,  # noqa: F401 (tensor.py calls api._as_tensor_like)
    _raw,
    _same_device,
    _scalar_or_tensor,
    _wrap,
)
from ._api_pointwise import (  # noqa: F401
    abs,
    allclose,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    ceil,
    cos,
    equal,
    exp,
    floor,
    isfinite,
    isinf,
    isnan,
    log,
    log1p,
    logical_not,
    neg,
    relu,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    tanh,
    trunc,
)
from ._api_reduce import (  # noqa: F401
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cumsum,
    gather,
    log_softmax,
    logsumexp,
    mean,
    prod,
    softmax,
    std,
    sum,
    var,
)
from ._api_shape import (  # noqa: F401
    cat,
    chunk,
    concat,
    concatenate,
    expand,
    flatten,
    flip,
    infer_shape,
    narrow,
    permute,
    repeat,
    reshape,
    split,
    squeeze,
    stack,
    t,
    transpose,
    unflatten,
    unsqueeze,
    view,
)
from .reduce import norm_dim, norm_dims  # noqa: F401

_Tensor = None  # set by tensor.py (cyclic import)


def _broadcast_shapes(a, b):
    try:
        return backend.np.broadcast_shapes(a, b)
    except ValueError:
        # PyTorch's wording, naming both shapes
        raise RuntimeError(
            f"The size of tensor a ({_mismatch(a, b)[0]}) must match the size of tensor b "
            f"({_mismatch(a, b)[1]}) at non-singleton dimension {_mismatch(a, b)[2]} "
            f"(shapes {list(a)} and {list(b)})"
        ) from None


def _mismatch(a, b):
    n = builtins.max(len(a), len(b))
    a2, b2 = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    for i in range(n - 1, -1, -1):
        if a2[i] != b2[i] and a2[i] != 1 and b2[i] != 1:
            return a2[i], b2[i], i
    return None, None, None


def _binary(fn, a, b, floating=False, **kw):
    """Apply a broadcasting binary Function with PyTorch's type promotion."""
    T = _Tensor
    if isinstance(a, T):
        ad = a._data.dtype
        # fast paths (most ops in a model): two tensors of one dtype, or a float tensor and a
        # Python float; the result keeps the dtype, nothing to promote
        if isinstance(b, T):
            if ad == b._data.dtype and (not floating or ad.kind == "f"):
                return _apply_broadcast(fn, a, b, ad, kw)
        elif type(b) is float and ad.kind == "f":
            return fn.apply(a, b, dtype=ad, **kw)
    else:
        if isinstance(b, T):  # reflected op with a scalar on the left
            a = _scalar_or_tensor(a, b)
            if not isinstance(a, T):
                dt = result_type(b.dtype, b.ndim, None, 0, a)
                if floating and not dt.is_floating_point:
                    dt = backend.default_float()
                return fn.apply(a, b, dtype=dt.np, **kw)
        else:
            raise TypeError(f"expected a Tensor, got {type(a).__name__}")
    b = _scalar_or_tensor(b, a)
    if isinstance(b, T):
        dt = result_type(a.dtype, a.ndim, b.dtype, b.ndim)
    else:
        dt = result_type(a.dtype, a.ndim, None, 0, b)
    if floating and not dt.is_floating_point:
        dt = backend.default_float()
    return _apply_broadcast(fn, a, b, dt.np, kw)


def _apply_broadcast(fn, a, b, np_dtype, kw):
    try:
        return fn.apply(a, b, dtype=np_dtype, **kw)
    except ValueError:  # NumPy's broadcast error: raise PyTorch's, naming both shapes
        if isinstance(b, _Tensor):
            _broadcast_shapes(a._data.shape, b._data.shape)
        raise


# ------------------------------------------------------------------------------------- arithmetic
def add(input, other, *, alpha=1):
    return _binary(E.Add, input, other, alpha=alpha)


_BOOL_SUB = (
    "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
    "trying to invert a mask, use the `~` or `logical_not()` operator instead."
)


def _no_bool(x):
    if (x._data.dtype.kind == "b") if isinstance(x, _T()) else isinstance(x, builtins.bool):
        raise RuntimeError(_BOOL_SUB)


def sub(input, other, *, alpha=1):
    _no_bool(input)
    _no_bool(other)
    return _binary(E.Sub, input, other, alpha=alpha)


def rsub(input, other):
    _no_bool(input)
    _no_bool(other)
    return _binary(E.Rsub, other, input)


def mul(input, other):
    return _binary(E.Mul, input, other)


def div(input, other, *, rounding_mode=None):
    if rounding_mode is None:
        return _binary(E.Div, input, other, floating=True)
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
            f"found '{rounding_mode}'"
        )
    return _binary(E.DivRounding, input, other, rounding_mode=rounding_mode)


def pow(input, exponent):
    return _binary(E.Pow, input, exponent)


def maximum(input, other):
    return _binary(E.Maximum, input, other)


def minimum(input, other):
    return _binary(E.Minimum, input, other)


def where(condition, input, other):
    T = _T()
    if not isinstance(condition, T):
        raise TypeError("where(): condition must be a bool Tensor")
    if condition.dtype is not backend.bool_:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor "
            f"with dtype {condition.dtype.name.capitalize()}"
        )
    ref = input if isinstance(input, T) else other if isinstance(other, T) else condition
    input, other = _scalar_or_tensor(input, ref), _scalar_or_tensor(other, ref)
    if isinstance(input, T) and isinstance(other, T):
        dt = result_type(input.dtype, input.ndim, other.dtype, other.ndim)
    elif isinstance(input, T):
        dt = result_type(input.dtype, input.ndim, None, 0, other)
    elif isinstance(other, T):
        dt = result_type(other.dtype, other.ndim, None, 0, input)
    else:
        dt = (
            backend.default_float()
            if isinstance(input, float) or isinstance(other, float)
            else backend.int64
        )
    return E.Where.apply(condition, input, other, dtype=dt.np)


def _promoted_nograd(a, b):
    T = _T()
    if isinstance(b, T):
        return result_type(a.dtype, a.ndim, b.dtype, b.ndim)
    return result_type(a.dtype, a.ndim, None, 0, b)


def floor_divide(input, other):
    T = _T()
    if not isinstance(input, T):
        input = _scalar_or_tensor(input, other)
    other = _scalar_or_tensor(other, input)
    dt = (
        _promoted_nograd(input, other)
        if isinstance(input, T)
        else result_type(other.dtype, other.ndim, None, 0, input)
    )
    with R._quiet(backend.xp_of(_raw(input) if isinstance(input, T) else _raw(other))):
        out = E.floor_divide(_raw(input), _raw(other))
    return _wrap(out.astype(dt.np, copy=False))


def remainder(input, other):
    x = input if isinstance(input, _T()) else other
    with R._quiet(backend.xp_of(x._data)):
        return _binary(E.Remainder, input, other)


def _compare(op, a, b):
    T = _T()
    b = _scalar_or_tensor(b, a)
    _same_device(_compare, a, b)
    if isinstance(b, T) and a.shape != b.shape:
        _broadcast_shapes(a.shape, b.shape)
    return _wrap(op(a._data, _raw(b)))


def eq(a, b):
    if b is None:  # as PyTorch: a tensor is never equal to None
        return False
    return _compare(operator.eq, a, b)


def ne(a, b):
    if b is None:
        return True
    return _compare(operator.ne, a, b)


def lt(a, b):
    return _compare(operator.lt, a, b)


def le(a, b):
    return _compare(operator.le, a, b)


def gt(a, b):
    return _compare(operator.gt, a, b)


def ge(a, b):
    return _compare(operator.ge, a, b)


# ---------------------------------------------------------------------------- clamp, max, min
def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, _T()) or isinstance(max, _T()):
        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    if not input.dtype.is_floating_point and (isinstance(min, float) or isinstance(max, float)):
        input = input.to(backend.default_float())
    return E.Clamp.apply(input, min=min, max=max)


def _extreme(input, dim, keepdim, largest, name):
    T = _T()
    if isinstance(dim, T):  # max(a, b) is maximum
        return maximum(input, dim) if largest else minimum(input, dim)
    if dim is None:
        return R.MaxAll.apply(input, largest=largest)
    axis = norm_dim(dim, input.ndim)
    xp = backend.xp_of(input._data)
    if input.shape and input.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {dim} to have non-zero size.")
    idx = (
        (xp.argmax if largest else xp.argmin)(input._data, axis=axis, keepdims=True)
        if input.ndim
        else xp.zeros((), dtype=xp.int64)
    )
    if input.ndim == 0:
        return MinMax(input.clone(), _wrap(idx.astype(xp.int64)))
    values = R.MaxDim.apply(input, idx, axis=axis, keepdim=keepdim, largest=largest)
    if not keepdim:
        idx = idx.squeeze(axis)
    return MinMax(values, _wrap(idx.astype(xp.int64, copy=False)))


class MinMax(tuple):
    """``(values, indices)`` with attribute access, as ``torch.return_types.max``."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]

    def __repr__(self):
        return f"return_types(\nvalues={self[0]!r},\nindices={self[1]!r})"


def max(input, dim=None, keepdim=False):
    return _extreme(input, dim, keepdim, True, "max")


def min(input, dim=None, keepdim=False):
    return _extreme(input, dim, keepdim, False, "min")


# --------------------------------------------------------------------------------------- matmul
def matmul(input, other):
    T = _T()
    if not isinstance(other, T) or not isinstance(input, T):
        raise TypeError("matmul(): argument 'other' must be Tensor")
    a, b = input._data, other._data
    sa, sb = a.shape, b.shape
    # fast path: the (N, K) @ (K, M) of every Linear layer
    if len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0] and a.dtype == b.dtype:
        return L.MatMul.apply(input, other)
    _check_matmul(input, other)
    return L.MatMul.apply(input, other)


def _check_matmul(input, other):
    """PyTorch's errors for matmul operands, each naming both shapes."""
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are "
            f"{input.ndim}D and {other.ndim}D"
        )
    k1 = input.shape[-1]
    k2 = other.shape[-2] if other.ndim > 1 else other.shape[0]
    if k1 != k2:
        a = "x".join(map(str, input.shape if input.ndim > 1 else (1,) + tuple(input.shape)))
        b = "x".join(map(str, other.shape if other.ndim > 1 else tuple(other.shape) + (1,)))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a} and {b})")
    if input.ndim > 2 or other.ndim > 2:
        _broadcast_batch(input.shape[:-2], other.shape[:-2], input.shape, other.shape)
    if input.dtype is not other.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: "
            f"{input.dtype.name} != {other.dtype.name}"
        )


def _broadcast_batch(a, b, sa, sb):
    try:
        backend.np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        raise RuntimeError(
            f"matmul: batch dimensions cannot be broadcast: shapes {list(sa)} and {list(sb)}"
        ) from None


def mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2D tensors, got {input.ndim}D and {mat2.ndim}D")
    return matmul(input, mat2)


def bmm(input, mat2):
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: expected 3D tensors, got {input.ndim}D and {mat2.ndim}D")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {input.shape[0]} and {mat2.shape[0]}")
    _check_matmul(input, mat2)
    return L.Bmm.apply(input, mat2)


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    return matmul(input, other)


def from_np_dtype(np_dtype):
    return from_np(np_dtype)
