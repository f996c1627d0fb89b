"""The functional API (``nr.add``, ``nr.sum``, ``nr.cat``, ...): PyTorch's argument handling,
type promotion and error messages, on top of the Function classes. Tensor methods call these."""

from __future__ import annotations

import builtins
import operator
from numbers import Number

from .. import backend
from ..autograd import _check_same_device
from ..backend import from_np, result_type
from . import elementwise as E
from . import linalg as L
from . import reduce as R
from . import shape as S
from .reduce import norm_dim, norm_dims

_Tensor = None  # set by tensor.py (cyclic import)


def _T():
    return _Tensor


def _as_tensor_like(x, ref):
    """Wrap a non-tensor operand (list, array) as a tensor on ``ref``'s device."""
    from ..tensor import tensor

    return tensor(x, device=ref.device)


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


def _scalar_or_tensor(x, ref):
    t = type(x)
    if t is float or t is int or t is bool or t is _T():
        return x
    if isinstance(x, Number):  # NumPy scalars (np.float64 is a float subclass) act as Python ones
        return x.item() if hasattr(x, "item") else float(x)
    if isinstance(x, _T()):
        return x
    return _as_tensor_like(x, ref)


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


def _wrap(array):
    return _T()._make(array)


def _raw(x):
    return x._data if isinstance(x, _T()) else x


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


def _same_device(fn, a, b):
    if backend._cp is not None and isinstance(b, _T()):  # only CuPy can put tensors elsewhere
        _check_same_device(fn, (a, b), (a._data, b._data))


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


def _logical(op, name, a, b):
    T = _T()
    b = _scalar_or_tensor(b, a)
    _same_device(_logical, a, b)
    for x in (a, b):
        dt = x.dtype if isinstance(x, T) else None
        if (dt is not None and dt.is_floating_point) or isinstance(x, float):
            raise TypeError(f"{name} is only supported for integer and bool tensors")
    return _wrap(op(a._data, _raw(b)))


def bitwise_and(a, b):
    return _logical(lambda x, y: x & y, "bitwise_and", a, b)


def bitwise_or(a, b):
    return _logical(lambda x, y: x | y, "bitwise_or", a, b)


def bitwise_xor(a, b):
    return _logical(lambda x, y: x ^ y, "bitwise_xor", a, b)


def bitwise_not(a):
    if a.dtype.is_floating_point:
        raise TypeError("bitwise_not is only supported for integer and bool tensors")
    return _wrap(~a._data)


def logical_not(a):
    return _wrap(backend.xp_of(a._data).logical_not(a._data))


def isfinite(a):
    return _wrap(backend.xp_of(a._data).isfinite(a._data))


def isnan(a):
    return _wrap(backend.xp_of(a._data).isnan(a._data))


def isinf(a):
    return _wrap(backend.xp_of(a._data).isinf(a._data))


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return builtins.bool(
        backend.xp_of(a._data).allclose(a._data, _raw(b), rtol=rtol, atol=atol, equal_nan=equal_nan)
    )


def equal(a, b) -> bool:
    return a.shape == b.shape and builtins.bool((a._data == b._data).all())


# ------------------------------------------------------------------------------------------ unary
def _float_unary(fn, name):
    def op(input):
        if not input.dtype.is_floating_point:
            input = input.to(backend.default_float())
        return fn.apply(input)

    op.__name__ = name
    return op


def neg(input):
    return E.Neg.apply(input)


exp = _float_unary(E.Exp, "exp")
log = _float_unary(E.Log, "log")
log1p = _float_unary(E.Log1p, "log1p")
sqrt = _float_unary(E.Sqrt, "sqrt")
rsqrt = _float_unary(E.Rsqrt, "rsqrt")
sin = _float_unary(E.Sin, "sin")
cos = _float_unary(E.Cos, "cos")
tanh = _float_unary(E.Tanh, "tanh")
sigmoid = _float_unary(E.Sigmoid, "sigmoid")


def abs(input):
    return E.Abs.apply(input)


def relu(input):
    return E.Relu.apply(input)


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


def _stepwise(fn, input, **kw):
    """floor/ceil/round/trunc: integer tensors come back as copies, as in PyTorch."""
    return fn.apply(input, **kw) if input.dtype.is_floating_point else input.clone()


def sign(input):
    if input.dtype is backend.bool_:
        return input.clone()
    return E.Sign.apply(input)


def floor(input):
    return _stepwise(E.Floor, input)


def ceil(input):
    return _stepwise(E.Ceil, input)


def round(input, *, decimals=0):
    return _stepwise(E.Round, input, decimals=decimals)


def trunc(input):
    return _stepwise(E.Trunc, input)


# ------------------------------------------------------------------------------------- reductions
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


# ------------------------------------------------------------------------------------------ shape
def infer_shape(shape, numel: int) -> tuple:
    """Resolve one ``-1`` in ``shape``; RuntimeError when ``shape`` cannot hold ``numel``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    known = 1
    infer = None
    for i, s in enumerate(shape):
        if s == -1:
            if infer is not None:
                raise RuntimeError("only one dimension can be inferred")
            infer = i
        elif s < 0:
            raise RuntimeError(f"invalid shape dimension {s}")
        else:
            known *= s
    if infer is not None:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = shape[:infer] + (numel // known,) + shape[infer + 1 :]
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def reshape(input, *shape):
    return S.Reshape.apply(input, shape=infer_shape(shape, input.numel()))


def view(input, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
        return input.to(shape[0])  # view(dtype) is not supported beyond same-size casts
    shape = infer_shape(shape, input.numel())
    if not backend.can_view(input._data, shape):
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        )
    return S.Reshape.apply(input, shape=shape)


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return reshape(input, 1)
    s, e = norm_dim(start_dim, input.ndim), norm_dim(end_dim, input.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input  # as PyTorch: nothing to flatten, the tensor itself
    shp = input.shape
    n = 1
    for d in shp[s : e + 1]:
        n *= d
    return reshape(input, *shp[:s], n, *shp[e + 1 :])


def unflatten(input, dim, sizes):
    d = norm_dim(dim, input.ndim)
    sizes = tuple(sizes)
    known = [s for s in sizes if s != -1]
    n = 1
    for s in known:
        n *= s
    if (len(known) == len(sizes) and n != input.shape[d]) or (
            len(known) < len(sizes) and (n == 0 or input.shape[d] % n)):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size "
                           f"of dim {dim} ({input.shape[d]}) in the input tensor")
    sizes = infer_shape(sizes, input.shape[d])
    return reshape(input, *input.shape[:d], *sizes, *input.shape[d + 1 :])


def squeeze(input, dim=None):
    shp = input.shape
    if dim is None:
        return S.Squeeze.apply(input, shape=tuple(s for s in shp if s != 1))
    dims = norm_dims(dim, input.ndim) if input.ndim else ()
    new = tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1))
    return S.SqueezeDim.apply(input, shape=new)


def unsqueeze(input, dim):
    d = norm_dim(dim, input.ndim, extra=1)
    shp = input.shape
    return S.Unsqueeze.apply(input, shape=shp[:d] + (1,) + shp[d:])


def permute(input, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {input.ndim} is not "
            f"equal to len(dims) = {len(dims)}"
        )
    axes = tuple(norm_dim(d, input.ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return S.Permute.apply(input, axes=axes)


def transpose(input, dim0, dim1):
    n = input.ndim
    if n == 0:
        return input.view(())
    axes = list(range(n))
    a, b = norm_dim(dim0, n), norm_dim(dim1, n)
    axes[a], axes[b] = axes[b], axes[a]
    return S.Transpose.apply(input, axes=tuple(axes))


def t(input):
    n = input.ndim
    if n > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {n}D")
    return S.T.apply(input, axes=(1, 0) if n == 2 else tuple(range(n)))


def expand(input, *sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < input.ndim:
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(input.shape)}}}, size={list(sizes)}): the number of "
            f"sizes provided ({len(sizes)}) must be greater or equal to the number of dimensions "
            f"in the tensor ({input.ndim})"
        )
    lead = len(sizes) - input.ndim
    shape = []
    for i, s in enumerate(sizes):
        old = input.shape[i - lead] if i >= lead else None
        if s == -1:
            if old is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = old
        elif old is not None and old != 1 and old != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({old}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(input.shape)}"
            )
        shape.append(s)
    return S.Expand.apply(input, shape=tuple(shape))


def repeat(input, *sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < input.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of "
            "dimensions of tensor"
        )
    return S.Repeat.apply(input, reps=tuple(sizes))


def _same_dtype_list(tensors, name):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{name}(): expected a non-empty list of Tensors")
    dt = tensors[0].dtype
    for x in tensors[1:]:
        dt = backend.promote_types(dt, x.dtype)
    return [x if x.dtype is dt else x.to(dt) for x in tensors]


def cat(tensors, dim=0):
    tensors = _same_dtype_list(tensors, "cat")
    ref = builtins.max(tensors, key=lambda x: x.ndim)
    tensors = [x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)] or tensors[:1]
    axis = norm_dim(dim, ref.ndim)
    for i, x in enumerate(tensors):
        if x.ndim != ref.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {ref.ndim} and {x.ndim}"
            )
        for d in range(ref.ndim):
            if d != axis and x.shape[d] != ref.shape[d]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {axis}. Expected size "
                    f"{ref.shape[d]} but got size {x.shape[d]} for tensor number {i} in the list."
                )
    return S.Cat.apply(*tensors, axis=axis)


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = _same_dtype_list(tensors, "stack")
    first = tensors[0].shape
    for i, x in enumerate(tensors):
        if x.shape != first:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(first)} "
                f"at entry 0 and {list(x.shape)} at entry {i}"
            )
    return S.Stack.apply(*tensors, axis=norm_dim(dim, tensors[0].ndim, extra=1))


def split(tensor, split_size_or_sections, dim=0):
    axis = norm_dim(dim, tensor.ndim)
    n = tensor.shape[axis]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise (
                RuntimeError(
                    f"split_size can only be 0 if dimension size is 0, but got "
                    f"dimension size of {n}"
                )
                if step == 0
                else ValueError("split expects split_size be non-negative")
            )
        sizes = [builtins.min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                f"at dimension {axis}), but got split_sizes={sizes}"
            )
    out, start = [], 0
    for s in sizes:
        out.append(narrow(tensor, axis, start, s))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    n = input.shape[norm_dim(dim, input.ndim)]
    step = -(-n // chunks) if n else 1
    return split(input, step, dim)


def narrow(input, dim, start, length):
    axis = norm_dim(dim, input.ndim)
    key = (slice(None),) * axis + (slice(start, start + length),)
    return S.GetItem.apply(input, key=key)


def flip(input, dims):
    return S.Flip.apply(input, axes=norm_dims(dims, input.ndim))


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


def gather(input, dim, index):
    axis = norm_dim(dim, input.ndim)
    return R.Gather.apply(input, index._data, axis=axis)


def from_np_dtype(np_dtype):
    return from_np(np_dtype)
