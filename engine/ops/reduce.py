"""Reductions and the softmax family. ``axes`` is a tuple of non-negative axes, or None for all."""

from __future__ import annotations

import os
import sys
import warnings

from .. import backend
from ..autograd import Function
from ..backend import xp_of


def _numpy_ignore_all():
    xp = backend.get_xp(backend.CPU)  # NumPy's own state: CuPy never warns
    return xp.errstate(all="ignore")


_IGNORE_ALL = _numpy_ignore_all()


def quiet(method):
    """Run an op's ``forward`` or ``backward`` with NumPy's floating-point warnings off.

    PyTorch returns inf/nan silently (``log(0)``, ``0/0``, ``exp(1000)``, ``inf - inf``, a float16
    overflow); NumPy would print ``RuntimeWarning: divide by zero ...``. Only the decorated body is
    silenced: the user's own NumPy code keeps its error state. Put it on the methods that can meet
    inf/nan, no others: it costs 0.6-1 us a call (NumPy's ``errstate`` in its decorator form, a
    context variable set and reset, safe across threads), 15-20% of a small op. The pieces the
    body runs on the engine's threads (``backend.run_split``) run in a copy of its context, so
    they are silenced too.
    """
    return _IGNORE_ALL(method)


def mean_array(a, axis=None, keepdims=False):
    """``a.mean(...)``, with PyTorch's silent nan for an empty reduction (NumPy warns "Mean of
    empty slice"); the caller silences the 0/0 with :func:`quiet`."""
    if a.size:
        return a.mean(axis=axis, keepdims=keepdims)
    return a.sum(axis=axis, keepdims=keepdims) / a.dtype.type(0)


def norm_dims(dim, ndim: int):
    """PyTorch's dim argument (int, tuple, list or None) as a sorted tuple of axes, or None."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if not dims:
        return None
    axes = tuple(sorted({norm_dim(d, ndim) for d in dims}))
    return None if ndim == 0 else axes  # a 0-d tensor accepts dim 0 or -1: reduce "all"


def norm_dim(d, ndim: int, extra: int = 0) -> int:
    """One dim in ``[-ndim-extra, ndim+extra)`` as a non-negative axis (IndexError otherwise)."""
    if not isinstance(d, int) or isinstance(d, bool):
        raise TypeError(f"dim must be an int, got {type(d).__name__}")
    n = max(ndim + extra, 1)
    if not -n <= d < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
        )
    return d + n if d < 0 else d


def _expand_back(g, shape, axes, keepdim):
    """A reduced gradient broadcast back over the reduced axes (a view, no copy)."""
    xp = xp_of(g)
    if axes is not None and not keepdim:
        g = xp.expand_dims(g, axes)
    elif axes is None and not keepdim:
        g = g.reshape((1,) * len(shape))
    return xp.broadcast_to(g, shape)


def _dim_name(base):
    """PyTorch numbers the whole reduction 0 and the one with ``dim`` 1."""

    def name(self):
        return f"{base}Backward{0 if self.__dict__.get('axes') is None else 1}"

    return name


class Sum(Function):
    name = _dim_name("Sum")

    @quiet
    def forward(self, a, axes=None, keepdim=False, dtype=None):
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim, dtype=dtype)

    def backward(self, g):
        return _expand_back(g, self.shape, self.axes, self.keepdim)


class Mean(Function):
    name = _dim_name("Mean")

    @quiet
    def forward(self, a, axes=None, keepdim=False):
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        out = mean_array(a, axes, keepdim)
        self.n = a.size // max(out.size, 1) if a.size else 0
        return out.astype(a.dtype, copy=False)

    def backward(self, g):
        return _expand_back(g / self.n if self.n else g, self.shape, self.axes, self.keepdim)


class Var(Function):
    @quiet
    def forward(self, a, axes=None, keepdim=False, correction=1):
        xp = xp_of(a)
        mean = mean_array(a, axes, keepdims=True)
        self.centered = a - mean
        n = a.size // max(mean.size, 1)
        self.denom = max(n - correction, 0)
        if n - correction <= 0:  # PyTorch's warning (its nan/inf results are silent)
            _warn_at_caller(
                f"{type(self).__name__.lower()}(): degrees of freedom is <= 0. Correction should "
                "be strictly less than the reduction factor (input numel divided by output "
                "numel)."
            )
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        sq = (self.centered * self.centered).sum(axis=axes, keepdims=keepdim)
        return (sq / self.denom if self.denom else sq * xp.nan).astype(a.dtype, copy=False)

    @quiet
    def backward(self, g):
        g = _expand_back(g, self.shape, self.axes, self.keepdim)
        return (
            g * self.centered * (2 / self.denom) if self.denom else g * self.centered * xp_of(g).nan
        )


class Std(Var):
    """``sqrt(var)`` as one node (PyTorch's StdBackward0)."""

    @quiet
    def forward(self, a, axes=None, keepdim=False, correction=1):
        self.out = xp_of(a).sqrt(Var.forward(self, a, axes, keepdim, correction))
        return self.out

    @quiet
    def backward(self, g):
        xp = xp_of(g)
        # as PyTorch: no gradient where the deviation is 0 (not 0 * inf = nan)
        gv = xp.where(self.out == 0, xp.zeros((), g.dtype), g / (2 * self.out))
        return Var.backward(self, gv)


_ENGINE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _warn_at_caller(message):
    """A UserWarning located at the first frame outside the engine (and NumPy's errstate
    wrapper), as PyTorch's warnings name the Python line that called the op."""
    frame, level = sys._getframe(1), 2
    while frame is not None and (
        frame.f_code.co_filename.startswith(_ENGINE_DIR)
        or frame.f_code.co_filename.endswith("_ufunc_config.py")
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


class _quiet:
    """``with _quiet(xp):`` the context form of :func:`quiet`, for code outside a Function."""

    def __init__(self, xp):
        self.xp = xp

    def __enter__(self):
        if self.xp is backend.np:  # CuPy never warns
            self.state = self.xp.errstate(all="ignore")
            self.state.__enter__()

    def __exit__(self, *exc):
        if hasattr(self, "state"):
            self.state.__exit__(*exc)


class MaxAll(Function):
    """max()/min() over every element; ties share the gradient evenly (as PyTorch's)."""

    def name(self):
        return "MaxBackward1" if self.__dict__.get("largest", True) else "MinBackward1"

    def forward(self, a, largest=True):
        self.largest = largest
        if a.size == 0:
            raise RuntimeError(
                "max(): Expected reduction dim to be specified for input.numel() "
                "== 0. Specify the reduction dim with the 'dim' argument."
            )
        out = a.max() if largest else a.min()
        self.a, self.out = a, out
        return out

    @quiet
    def backward(self, g):
        xp = xp_of(g)
        # as PyTorch's evenly_distribute_backward: a NaN maximum is taken by the NaN inputs; the
        # others get exactly 0 on the CPU, and mask * g (nan for an infinite g) on CUDA
        mask = (self.a == self.out) | (xp.isnan(self.a) & xp.isnan(self.out))
        share = g / mask.sum().astype(g.dtype)
        return xp.where(mask, share, xp.zeros((), g.dtype)) if _on_cpu(g) else mask * share


class Gather(Function):
    """``take_along_axis``: the value half of max(dim)/min(dim)/gather/sort."""

    def forward(self, a, index, axis):
        self.shape, self.index, self.axis = a.shape, index, axis
        return xp_of(a).take_along_axis(a, index, axis=axis)

    @quiet  # repeated indices add their gradients: inf + -inf
    def backward(self, g):
        xp = xp_of(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        if self.index.shape[self.axis] == 1:  # one index per slice: no repeats, plain put
            backend.put_along_axis(out, self.index, g, self.axis)
        else:
            from ..backend import scatter_add

            nd = self.index.ndim  # an open grid of aranges (CuPy's indices() has no sparse=)
            idx = [
                xp.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1))
                for d, n in enumerate(self.index.shape)
            ]
            idx[self.axis] = self.index
            scatter_add(out, tuple(idx), g)
        return out, None


class MaxDim(Gather):
    """The values of ``max(dim)``/``min(dim)``: taken at the arg index, so the gradient goes to
    that one element (PyTorch's MaxBackward0/MinBackward0)."""

    def name(self):
        return "MaxBackward0" if self.__dict__.get("largest", True) else "MinBackward0"

    def forward(self, a, index, axis, keepdim=False, largest=True):
        self.keepdim, self.largest = keepdim, largest
        out = Gather.forward(self, a, index, axis)
        return out if keepdim else out.squeeze(axis)

    def backward(self, g):
        if not self.keepdim:
            g = xp_of(g).expand_dims(g, self.axis)
        return Gather.backward(self, g)


class Amax(Function):
    """``amax``/``amin``: ties share the gradient evenly (unlike ``max(dim)``)."""

    def name(self):
        return "AmaxBackward0" if self.__dict__.get("largest", True) else "AminBackward0"

    def forward(self, a, axes, keepdim=False, largest=True):
        if a.size == 0:
            raise IndexError(
                "amax(): Expected reduction dim to be specified for input.numel() == 0."
            )
        out = a.max(axis=axes, keepdims=True) if largest else a.min(axis=axes, keepdims=True)
        self.a, self.out, self.axes, self.keepdim, self.largest = a, out, axes, keepdim, largest
        return out if keepdim else out.squeeze(axis=axes)

    @quiet
    def backward(self, g):
        if not self.keepdim:
            g = g.reshape(self.out.shape)
        mask = self.a == self.out  # a NaN maximum has no match: nan gradients, as PyTorch's
        return g / mask.sum(axis=self.axes, keepdims=True).astype(g.dtype) * mask


class Prod(Function):
    def name(self):
        return f"ProdBackward{0 if self.__dict__.get('axis') is None else 1}"

    @quiet
    def forward(self, a, axis=None, keepdim=False):
        self.a, self.axis, self.keepdim = a, axis, keepdim
        return a.prod(axis=axis, keepdims=keepdim)

    @quiet
    def backward(self, g):
        xp = xp_of(g)
        a = self.a
        if self.axis is None:
            flat = a.reshape(-1)
            others = _exclusive_prod(xp, flat, 0).reshape(a.shape)
            return g.reshape(()) * others if g.ndim == 0 else g.reshape((1,) * a.ndim) * others
        others = _exclusive_prod(xp, a, self.axis)
        if not self.keepdim:
            g = xp.expand_dims(g, self.axis)
        return g * others


def _exclusive_prod(xp, a, axis):
    """Product of all other elements along ``axis`` without dividing (exact with zeros)."""
    ones_shape = list(a.shape)
    ones_shape[axis] = 1
    ones = xp.ones(ones_shape, dtype=a.dtype)
    left = xp.cumprod(
        xp.concatenate([ones, xp.take(a, range(a.shape[axis] - 1), axis=axis)], axis=axis),
        axis=axis,
    )
    rev = xp.flip(a, axis=axis)
    right = xp.cumprod(
        xp.concatenate([ones, xp.take(rev, range(a.shape[axis] - 1), axis=axis)], axis=axis),
        axis=axis,
    )
    return left * xp.flip(right, axis=axis)


class LogSumExp(Function):
    grad_name = "LogsumexpBackward0"

    @quiet
    def forward(self, a, axes, keepdim=False):
        xp = xp_of(a)
        if a.size:
            m = a.max(axis=axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
        else:  # an empty reduction is log(0) = -inf, as PyTorch's (NumPy's max raises)
            m = xp.zeros_like(a.sum(axis=axes, keepdims=True))
        lse = xp.log(xp.exp(a - m).sum(axis=axes, keepdims=True)) + m
        self.a, self.lse, self.axes, self.keepdim = a, lse, axes, keepdim
        return lse if keepdim else lse.squeeze(axis=axes)

    @quiet
    def backward(self, g):
        xp = xp_of(g)
        if not self.keepdim:
            g = xp.expand_dims(g, self.axes)
        return g * xp.exp(self.a - self.lse)


class Softmax(Function):
    @quiet
    def forward(self, a, axis):
        xp = xp_of(a)
        axis = None if a.ndim == 0 else axis  # CuPy has no axis 0 on a 0-d array
        if a.size == 0:
            self.out, self.axis = a, axis
            return a.copy()
        e = xp.exp(a - a.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        self.out, self.axis = e, axis
        return e

    @quiet
    def backward(self, g):
        out = self.out
        return out * (g - (g * out).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    @quiet
    def forward(self, a, axis):
        xp = xp_of(a)
        axis = None if a.ndim == 0 else axis  # CuPy has no axis 0 on a 0-d array
        if a.size == 0:
            self.out, self.axis = a, axis
            return a.copy()
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.out, self.axis = out, axis
        return out

    @quiet
    def backward(self, g):
        xp = xp_of(g)
        return g - xp.exp(self.out) * g.sum(axis=self.axis, keepdims=True)


class CumSum(Function):
    grad_name = "CumsumBackward0"

    @quiet
    def forward(self, a, axis):
        self.axis = axis
        return _cumsum(a, axis)

    @quiet
    def backward(self, g):
        xp = xp_of(g)
        return xp.flip(_cumsum(xp.flip(g, self.axis), self.axis), self.axis)


def _cumsum(a, axis):
    """``cumsum`` with PyTorch's accumulator: on the CPU float16 adds in float32 and float32 in
    float64 (each partial sum is rounded once, so ``[1e8, 1, -1e8]`` ends in 1, not 0); its
    CUDA kernel adds in the input's own type, as CuPy does."""
    if a.dtype.kind != "f" or a.dtype.itemsize > 4 or not _on_cpu(a):
        return a.cumsum(axis=axis)
    return a.cumsum(axis=axis, dtype="f4" if a.dtype.itemsize == 2 else "f8").astype(a.dtype)


def _on_cpu(a):
    return xp_of(a) is backend.np
