"""Element-wise ops with broadcasting. Backward returns broadcast-shaped gradients; the engine
sums them back to each input's shape (``autograd.unbroadcast``)."""

from __future__ import annotations

import itertools

from .. import backend
from ..autograd import Function
from ..backend import xp_of
from .reduce import quiet


def _cast(out, dtype):
    return out if dtype is None or out.dtype == dtype else out.astype(dtype)


@quiet
def _scaled(g, alpha):
    return g * alpha


def _zero(g):
    return xp_of(g).zeros((), g.dtype)


def _sgn(a):
    """PyTorch's ``sign``: 0 for NaN (NumPy gives NaN)."""
    xp = xp_of(a)
    s = xp.sign(a)
    return xp.where(xp.isnan(s), _zero(s), s) if s.dtype.kind == "f" else s


def _power(a, b):
    """``a ** b`` with PyTorch's own arithmetic for a float tensor to the scalar powers 3, -0.5
    and -2 (``x*x*x``, ``1/sqrt(x)``, ``1/(x*x)``: NumPy's ``pow`` differs in the last bit)."""
    if (
        isinstance(b, (int, float))
        and getattr(a, "dtype", None) is not None
        and a.dtype.kind == "f"
    ):
        if b == 3:
            return a * a * a
        if b == -0.5:
            return 1 / xp_of(a).sqrt(a)
        if b == -2:
            return 1 / (a * a)
    return a**b


# ----------------------------------------------------------------------------------------- binary
class Add(Function):
    @quiet
    def forward(self, a, b, dtype=None, alpha=1):
        self.alpha = alpha
        return _cast(a + b if alpha == 1 else a + b * alpha, dtype)

    def backward(self, g):
        return g, (g if self.alpha == 1 else _scaled(g, self.alpha))


class Sub(Function):
    @quiet
    def forward(self, a, b, dtype=None, alpha=1):
        self.alpha = alpha
        return _cast(a - b if alpha == 1 else a - b * alpha, dtype)

    def backward(self, g):
        return g, (-g if self.alpha == 1 else _scaled(g, -self.alpha))


class Rsub(Sub):
    """``scalar - tensor`` (PyTorch names its node RsubBackward1)."""

    grad_name = "RsubBackward1"


class Mul(Function):
    @quiet
    def forward(self, a, b, dtype=None):
        self.a, self.b = a, b
        return _cast(a * b, dtype)

    @quiet
    def backward(self, g):
        na, nb = self.needs_input_grad[:2]
        return (g * self.b if na else None), (g * self.a if nb else None)


class Div(Function):
    @quiet
    def forward(self, a, b, dtype=None):
        self.a, self.b = a, b
        return _cast(a / b, dtype)

    @quiet
    def backward(self, g):
        na, nb = self.needs_input_grad[:2]
        ga = g / self.b if na else None
        gb = -g * (self.a / self.b / self.b) if nb else None  # PyTorch's order: no b*b overflow
        return ga, gb


class Pow(Function):
    def name(self):  # PowBackward0: scalar exponent, 1: tensor ** tensor, 2: scalar ** tensor
        b, a = self.__dict__.get("b", 0), self.__dict__.get("a", 0)
        return (
            "PowBackward0"
            if isinstance(b, (int, float))
            else "PowBackward2"
            if isinstance(a, (int, float))
            else "PowBackward1"
        )

    @quiet
    def forward(self, a, b, dtype=None):
        out = _cast(_power(a, b), dtype)
        self.a, self.b, self.out = a, b, out
        return out

    @quiet
    def backward(self, g):
        na, nb = self.needs_input_grad[:2]
        a, b = self.a, self.b
        xp = xp_of(g)
        ga = gb = None
        if na:  # as PyTorch: grad * (b * a ** (b - 1)), and 0 where the exponent is 0
            if not isinstance(b, (int, float)):
                ga = xp.where(b == 0, _zero(g), g * (b * a ** (b - 1)))
            elif b == 0:
                ga = xp.zeros_like(g)
            else:
                ga = g * (2 * a) if b == 2 else g * (b * _power(a, b - 1))
        if nb:  # as PyTorch: 0 where the base is 0 and the exponent >= 0, else out * log(a)
            gb = g * self.out * xp.log(a)
            gb = xp.where((a == 0) & (b >= 0), 0, gb).astype(g.dtype, copy=False)
        return ga, gb


class Maximum(Function):
    def forward(self, a, b, dtype=None):
        xp = xp_of(a)
        self.a, self.b = a, b
        return _cast(xp.maximum(a, b), dtype)

    @quiet
    def backward(self, g):
        return _minmax_grads(g, self.a, self.b)


class Minimum(Function):
    def forward(self, a, b, dtype=None):
        xp = xp_of(a)
        self.a, self.b = a, b
        return _cast(xp.minimum(a, b), dtype)

    @quiet
    def backward(self, g):
        return _minmax_grads(g, self.b, self.a)


def _minmax_grads(g, hi, lo):
    """The gradients ``(for hi, for lo)`` of ``maximum(hi, lo)``; ``minimum(a, b)`` passes
    ``(b, a)``. As PyTorch's: ties share ``g / 2``, the losing side gets exactly 0, and where a
    NaN makes both comparisons false both sides get ``g``."""
    xp = xp_of(g)
    zero = _zero(g)
    tie = xp.where(hi == lo, g / 2, g)
    return xp.where(hi < lo, zero, tie), xp.where(hi > lo, zero, tie)


class Where(Function):
    def forward(self, cond, a, b, dtype=None):
        self.cond = cond
        return _cast(xp_of(cond).where(cond, a, b), dtype)

    def backward(self, g):
        xp = xp_of(g)
        zero = xp.zeros((), dtype=g.dtype)
        _, na, nb = self.needs_input_grad
        return (
            None,
            xp.where(self.cond, g, zero) if na else None,
            xp.where(self.cond, zero, g) if nb else None,
        )


# ------------------------------------------------------------------------------------------ unary
class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Abs(Function):
    def forward(self, a):
        self.a = a
        return xp_of(a).abs(a)

    @quiet
    def backward(self, g):
        return g * _sgn(self.a)


class Sqrt(Function):
    @quiet
    def forward(self, a):
        self.out = xp_of(a).sqrt(a)
        return self.out

    @quiet
    def backward(self, g):
        return g / (2 * self.out)


class Rsqrt(Function):
    @quiet
    def forward(self, a):
        xp = xp_of(a)
        self.out = 1 / xp.sqrt(a)
        return self.out.astype(a.dtype, copy=False)

    @quiet
    def backward(self, g):
        out = self.out
        return -0.5 * g * (out * out * out)  # PyTorch's arithmetic


class Exp(Function):
    @quiet
    def forward(self, a):
        self.out = xp_of(a).exp(a)
        return self.out

    @quiet
    def backward(self, g):
        return g * self.out


class Log(Function):
    @quiet
    def forward(self, a):
        self.a = a
        return xp_of(a).log(a)

    @quiet
    def backward(self, g):
        return g / self.a


class Log1p(Function):
    grad_name = "Log1PBackward0"

    @quiet
    def forward(self, a):
        self.a = a
        return xp_of(a).log1p(a)

    @quiet
    def backward(self, g):
        return g / (1 + self.a)


class Sin(Function):
    @quiet
    def forward(self, a):
        self.a = a
        return xp_of(a).sin(a)

    @quiet
    def backward(self, g):
        return g * xp_of(g).cos(self.a)


class Cos(Function):
    @quiet
    def forward(self, a):
        self.a = a
        return xp_of(a).cos(a)

    @quiet
    def backward(self, g):
        return -g * xp_of(g).sin(self.a)


class Tanh(Function):
    def forward(self, a):
        self.out = xp_of(a).tanh(a)
        return self.out

    @quiet
    def backward(self, g):
        return g * (1 - self.out * self.out)


class Sigmoid(Function):
    def forward(self, a):
        xp = xp_of(a)
        # split by sign so exp never overflows (stable for large |a|)
        e = xp.exp(-xp.abs(a))
        self.out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        return self.out

    @quiet
    def backward(self, g):
        return g * (1 - self.out) * self.out  # PyTorch's order


# ReLU on the CPU: NumPy's ``maximum(a, 0)`` against a scalar runs a slow loop (1.1 ms for W3's
# 1.6M-element activation here) where ``maximum`` of two arrays is vectorised (0.34 ms), so big
# arrays are taken in blocks against a cached block of zeros; from _RELU_SPLIT_MIN elements the
# blocks are shared out to the engine's threads (backend.run_split).
_ZERO_BLOCK = 1 << 16
_RELU_SPLIT_MIN = 1 << 20
_zero_blocks = {}


def _flat_pieces(size):
    """``(start, stop)`` ranges of a flat array for the engine's threads (one range if small)."""
    parts = backend.cpu_split_workers() if size >= _RELU_SPLIT_MIN else 1
    edges = [size * i // parts // _ZERO_BLOCK * _ZERO_BLOCK for i in range(parts)] + [size]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def _relu_cpu(a):
    np = backend.np
    zeros = _zero_blocks.get(a.dtype)
    if zeros is None:
        zeros = _zero_blocks[a.dtype] = np.zeros(_ZERO_BLOCK, a.dtype)
        zeros.flags.writeable = False
    out = np.empty_like(a)
    src, dst = a.reshape(-1), out.reshape(-1)

    def piece(start, stop):
        for i in range(start, stop, _ZERO_BLOCK):
            j = min(i + _ZERO_BLOCK, stop)
            np.maximum(src[i:j], zeros[: j - i], out=dst[i:j])

    backend.run_split([lambda a=a, b=b: piece(a, b) for a, b in _flat_pieces(src.size)])
    return out


def _relu_grad(xp, out, g):
    """``g`` where ``out`` is not <= 0, else 0, by bit masks: as PyTorch's threshold_backward a
    NaN output passes its gradient and a NaN or inf gradient of a zeroed input becomes 0."""
    ints = xp.dtype(f"i{out.dtype.itemsize}")
    keep = (out <= 0).astype(ints)
    keep -= 1  # all ones where the gradient passes, zero where it is blocked
    xp.bitwise_and(keep, g.view(ints), out=keep)
    return keep.view(out.dtype)


class Relu(Function):
    def forward(self, a):
        xp = xp_of(a)
        if xp is backend.np and a.size >= _ZERO_BLOCK and a.flags.c_contiguous:
            out = _relu_cpu(a)
        else:
            out = xp.maximum(a, 0)
        self.out = out
        return out

    def backward(self, g):
        xp, out = xp_of(g), self.out
        if out.dtype.kind != "f" or g.dtype != out.dtype:
            return g * (out > 0)
        if xp is not backend.np or out.size < _RELU_SPLIT_MIN or not g.flags.c_contiguous:
            return _relu_grad(xp, out, g)
        res = xp.empty_like(out)
        src, gf, dst = out.reshape(-1), g.reshape(-1), res.reshape(-1)

        def piece(a, b):
            dst[a:b] = _relu_grad(xp, src[a:b], gf[a:b])

        backend.run_split([lambda a=a, b=b: piece(a, b) for a, b in _flat_pieces(src.size)])
        return res


class Clamp(Function):
    grad_name = "ClampBackward1"

    def forward(self, a, min=None, max=None):
        xp = xp_of(a)
        self.a, self.min, self.max = a, min, max
        out = a
        if min is not None:
            out = xp.maximum(out, min)
        if max is not None:
            out = xp.minimum(out, max)
        return out.astype(a.dtype, copy=False) if out is not a else out.copy()

    def backward(self, g):
        mask = True
        if self.min is not None:
            mask = self.a >= self.min
        if self.max is not None:
            mask = mask & (self.a <= self.max)
        return xp_of(g).where(mask, g, _zero(g))  # exactly 0 outside, even for an infinite g


class Cast(Function):
    """``to(dtype)``: the gradient is cast back to the input's dtype by the engine."""

    grad_name = "ToCopyBackward0"

    @quiet  # overflow to float16 inf, NaN to an integer: silent in PyTorch
    def forward(self, a, dtype):
        return a.astype(dtype)

    def backward(self, g):
        return g


# -------------------------------------------------------------- piecewise-constant and integer
class _Stepwise(Function):
    """floor/ceil/round/trunc/sign: recorded like PyTorch's, with a zero gradient."""

    def backward(self, g):
        return xp_of(g).zeros_like(g)


class Floor(_Stepwise):
    def forward(self, a):
        return xp_of(a).floor(a)


class Ceil(_Stepwise):
    def forward(self, a):
        return xp_of(a).ceil(a)


class Trunc(_Stepwise):
    def forward(self, a):
        return xp_of(a).trunc(a)


class Round(_Stepwise):
    @quiet  # decimals scale by 10**decimals, which may overflow
    def forward(self, a, decimals=0):
        return xp_of(a).round(a, decimals)  # half to even, as PyTorch


class Sign(_Stepwise):
    def forward(self, a):
        return _sgn(a)


class Remainder(Function):
    """``a % b`` with the sign of ``b`` (Python's and PyTorch's convention)."""

    @quiet
    def forward(self, a, b, dtype=None):
        self.a, self.b = a, b
        return _cast(xp_of(a).remainder(a, b), dtype)

    @quiet
    def backward(self, g):
        na, nb = self.needs_input_grad[:2]
        gb = -g * xp_of(g).floor_divide(self.a, self.b) if nb else None
        return (g if na else None), gb


class DivRounding(Function):
    """``div(a, b, rounding_mode=...)``: recorded like PyTorch's, with zero gradients."""

    grad_name = "DivBackward2"

    @quiet
    def forward(self, a, b, dtype=None, rounding_mode="floor"):
        xp = xp_of(a)
        if rounding_mode == "floor":
            return _cast(xp.floor_divide(a, b), dtype)
        return _cast(xp.trunc(xp.true_divide(a, b)), dtype)

    def backward(self, g):
        zero = xp_of(g).zeros_like(g)
        return zero, zero


def floor_divide(a, b):
    return xp_of(a).floor_divide(a, b)


def remainder(a, b):
    return xp_of(a).remainder(a, b)


def sign_array(a):
    return _sgn(a)


def round_array(a, decimals=0):
    return xp_of(a).round(a, decimals)  # round half to even, as PyTorch


def is_floating(a) -> bool:
    return backend.from_np(a.dtype).is_floating_point


class Clone(Function):
    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


class ToDevice(Function):
    """``to(device)``: the gradient travels back to the source device."""

    grad_name = "ToCopyBackward0"

    def forward(self, a, device):
        self.src = backend.device_of(a)
        return backend.to_device(a, device)

    def backward(self, g):
        return backend.to_device(g, self.src)
