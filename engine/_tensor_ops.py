"""Tensor's operators and math methods: each a one-line call into ``ops.api``, which applies
the ``Function`` classes, and the ``new_*`` factories. Mixed into ``Tensor`` (tensor.py)."""

from __future__ import annotations

from .ops import api
from .ops import elementwise as E


class _TensorOps:
    """Operators and math methods of ``Tensor`` (see tensor.py)."""

    __slots__ = ()

    # ------------------------------------------------------------------------------ operators
    def __add__(self, other):
        return api.add(self, other)

    __radd__ = __add__

    def __sub__(self, other):
        return api.sub(self, other)

    def __rsub__(self, other):
        return api.rsub(self, other)

    def __mul__(self, other):
        return api.mul(self, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return api.div(self, other)

    def __rtruediv__(self, other):
        return api._binary(E.Div, other, self, floating=True)

    def __floordiv__(self, other):
        return api.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return api.floor_divide(other, self)

    def __mod__(self, other):
        return api.remainder(self, other)

    def __rmod__(self, other):
        return api.remainder(other, self)

    def __pow__(self, exponent):
        return api.pow(self, exponent)

    def __rpow__(self, base):
        return api._binary(E.Pow, base, self)

    def __matmul__(self, other):
        return api.matmul(self, other)

    def __rmatmul__(self, other):
        return api.matmul(api._as_tensor_like(other, self), self)

    def __neg__(self):
        return api.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return api.abs(self)

    def __invert__(self):
        return api.bitwise_not(self)

    def __and__(self, other):
        return api.bitwise_and(self, other)

    __rand__ = __and__

    def __or__(self, other):
        return api.bitwise_or(self, other)

    __ror__ = __or__

    def __xor__(self, other):
        return api.bitwise_xor(self, other)

    __rxor__ = __xor__

    def __eq__(self, other):
        return api.eq(self, other)

    def __ne__(self, other):
        return api.ne(self, other)

    def __lt__(self, other):
        return api.lt(self, other)

    def __le__(self, other):
        return api.le(self, other)

    def __gt__(self, other):
        return api.gt(self, other)

    def __ge__(self, other):
        return api.ge(self, other)

    # ------------------------------------------------------------------------------ math methods
    add, sub, mul, div, pow = api.add, api.sub, api.mul, api.div, api.pow
    true_divide = divide = api.div
    multiply, subtract = api.mul, api.sub
    floor_divide, remainder = api.floor_divide, api.remainder
    eq, ne, lt, le, gt, ge = api.eq, api.ne, api.lt, api.le, api.gt, api.ge
    greater, less, greater_equal, less_equal = api.gt, api.lt, api.ge, api.le
    maximum, minimum = api.maximum, api.minimum
    neg, abs, sign = api.neg, api.abs, api.sign
    negative, absolute = api.neg, api.abs
    sqrt, rsqrt, exp, log, log1p = api.sqrt, api.rsqrt, api.exp, api.log, api.log1p
    sin, cos, tanh, sigmoid, relu = api.sin, api.cos, api.tanh, api.sigmoid, api.relu
    clamp = clip = api.clamp
    floor, ceil, round, trunc = api.floor, api.ceil, api.round, api.trunc
    isnan, isinf, isfinite = api.isnan, api.isinf, api.isfinite
    logical_not, bitwise_not = api.logical_not, api.bitwise_not
    allclose, equal = api.allclose, api.equal
    sum, mean, var, std, prod = api.sum, api.mean, api.var, api.std, api.prod
    max, min, amax, amin = api.max, api.min, api.amax, api.amin
    argmax, argmin, logsumexp, cumsum = api.argmax, api.argmin, api.logsumexp, api.cumsum
    all, any = api.all, api.any
    softmax, log_softmax = api.softmax, api.log_softmax
    reshape, view, flatten, unflatten = api.reshape, api.view, api.flatten, api.unflatten
    squeeze, unsqueeze, permute, transpose = api.squeeze, api.unsqueeze, api.permute, api.transpose
    t, expand, repeat, flip = api.t, api.expand, api.repeat, api.flip
    split, chunk, narrow = api.split, api.chunk, api.narrow
    matmul, mm, bmm, dot, gather = api.matmul, api.mm, api.bmm, api.dot, api.gather

    def swapaxes(self, dim0, dim1):
        return api.transpose(self, dim0, dim1)

    def view_as(self, other):
        return api.view(self, other.shape)

    def reshape_as(self, other):
        return api.reshape(self, other.shape)

    def expand_as(self, other):
        return api.expand(self, other.shape)

    def where(self, condition, other):
        return api.where(condition, self, other)

    def index_select(self, dim, index):
        axis = api.norm_dim(dim, self.ndim)
        return self[(slice(None),) * axis + (index,)]

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        from .creation import tensor

        return tensor(
            data,
            dtype=dtype or self.dtype,
            device=device or self.device,
            requires_grad=requires_grad,
        )

    def _new(self, fn, size, dtype, device, requires_grad, *extra):
        size = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        return fn(
            *size,
            *extra,
            dtype=dtype or self.dtype,
            device=device or self.device,
            requires_grad=requires_grad,
        )

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        from .creation import zeros

        return self._new(zeros, size, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        from .creation import ones

        return self._new(ones, size, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        from .creation import empty

        return self._new(empty, size, dtype, device, requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        from .creation import full

        return full(
            size,
            fill_value,
            dtype=dtype or self.dtype,
            device=device or self.device,
            requires_grad=requires_grad,
        )
