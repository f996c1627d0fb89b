"""Pointwise ops of the functional API with no type promotion: bitwise and logical ops,
predicates (``isnan``, ``allclose``, ...), unary math and rounding. Re-exported by ``api``."""

from __future__ import annotations

import builtins

from .. import backend
from . import elementwise as E
from ._api_operands import _T, _raw, _same_device, _scalar_or_tensor, _wrap


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
