"""Fused layer Functions on raw arrays: each is one graph node (forward and backward in one place)
where a composition of primitives would cost several nodes and temporaries."""

from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..backend import xp_of
from ..ops.reduce import quiet


class Linear(Function):
    """``x @ W.T + b`` as one node; leading batch dimensions are folded into one GEMM."""

    @quiet
    def forward(self, x, w, b=None):
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        out = x2 @ w.T
        if b is not None:
            out += b
        self.x2, self.w, self.x_shape = x2, w, x.shape
        return out if x.ndim == 2 else out.reshape(*x.shape[:-1], w.shape[0])

    @quiet
    def backward(self, g):
        nx, nw, nb = self.needs_input_grad
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        gx = (g2 @ self.w).reshape(self.x_shape) if nx else None
        gw = g2.T @ self.x2 if nw else None
        gb = g2.sum(axis=0) if nb else None
        return gx, gw, gb


def _channel_shape(ndim):
    """Broadcast shape of a per-channel (C,) array against (N, C, *) input."""
    return (1, -1) + (1,) * (ndim - 2)


def _channel_dot(a, b):
    """Per-channel ``sum(a * b)`` over (N, C, *) arrays, without an input-sized temporary."""
    n, c = a.shape[:2]
    return xp_of(a).einsum("nci,nci->c", a.reshape(n, c, -1), b.reshape(n, c, -1))


class BatchNorm(Function):
    """Batch normalisation over (N, C, *) input, one node.

    In training it normalises with the biased batch variance and updates the running statistics
    in place with the unbiased one (as PyTorch); in evaluation it uses the running statistics.
    Large temporaries are kept to one per pass (they cost page faults as well as bandwidth).
    """

    @quiet
    def forward(self, x, weight, bias, *, running_mean, running_var, training, momentum, eps):
        xp = xp_of(x)
        cshape = _channel_shape(x.ndim)
        axes = (0,) + tuple(range(2, x.ndim))
        if training:
            n = x.size // x.shape[1]
            mean = x.mean(axis=axes)
            xhat = x - mean.reshape(cshape)
            var = _channel_dot(xhat, xhat) / n
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * n / max(n - 1, 1)) * var
            invstd = 1 / xp.sqrt(var + eps)
            xhat *= invstd.reshape(cshape)  # in place: the centred input becomes x-hat
        else:  # an affine map per channel: one pass, x-hat is not materialised
            invstd = (1 / xp.sqrt(running_var + eps)).astype(x.dtype, copy=False)
            scale = invstd if weight is None else invstd * weight
            shift = -running_mean * scale if bias is None else bias - running_mean * scale
            self.training, self.axes, self.cshape, self.weight = False, axes, cshape, weight
            self.x, self.running_mean, self.invstd = x, running_mean.copy(), invstd
            out = x * scale.reshape(cshape)
            out += shift.reshape(cshape)
            return out
        self.training, self.axes, self.cshape = training, axes, cshape
        self.xhat, self.invstd, self.weight = xhat, invstd.astype(x.dtype, copy=False), weight
        out = xhat * weight.reshape(cshape) if weight is not None else xhat.copy()
        if bias is not None:
            out += bias.reshape(cshape)
        return out

    @quiet
    def backward(self, g):
        nx, nw, nb = self.needs_input_grad
        cshape, axes, full = self.cshape, self.axes, nx and self.training
        gb = g.sum(axis=axes) if (nb or full) else None
        gw = None
        if nw or full:
            if self.training:
                gw = _channel_dot(g, self.xhat)
            else:  # x-hat was not kept in eval mode; centre first (no cancellation)
                gw = _channel_dot(g, self.x - self.running_mean.reshape(cshape)) * self.invstd
        gx = None
        if nx:
            scale = self.invstd if self.weight is None else self.invstd * self.weight
            if self.training:
                n = g.size // g.shape[1]
                gx = self.xhat * (-gw / n).reshape(cshape)
                gx += g
                gx -= (gb / n).reshape(cshape)
                gx *= scale.reshape(cshape)
            else:
                gx = g * scale.reshape(cshape)
        return gx, (gw if nw else None), (gb if nb else None)


class LayerNorm(Function):
    """Layer normalisation over the last ``ndims`` dimensions (biased variance), one node."""

    @quiet
    def forward(self, x, weight, bias, *, ndims, eps):
        xp = xp_of(x)
        axes = tuple(range(x.ndim - ndims, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        xhat = x - mean
        invstd = 1 / xp.sqrt(xp.square(xhat).mean(axis=axes, keepdims=True) + eps)
        xhat *= invstd
        self.xhat, self.invstd, self.weight, self.axes = xhat, invstd, weight, axes
        out = xhat * weight if weight is not None else xhat.copy()
        if bias is not None:
            out += bias
        return out

    @quiet
    def backward(self, g):
        nx, nw, nb = self.needs_input_grad
        xhat, axes = self.xhat, self.axes
        lead = tuple(range(g.ndim - len(axes)))
        gw = (g * xhat).sum(axis=lead) if nw else None
        gb = g.sum(axis=lead) if nb else None
        gx = None
        if nx:
            gxhat = g * self.weight if self.weight is not None else g
            gx = gxhat - gxhat.mean(axis=axes, keepdims=True)
            gx -= xhat * (gxhat * xhat).mean(axis=axes, keepdims=True)
            gx *= self.invstd
        return gx, gw, gb


class Dropout(Function):
    """Multiply by a kept-mask scaled by ``1/(1-p)``; the mask is kept as booleans."""

    @quiet
    def forward(self, x, *, p, generator):
        keep = generator.uniform(x.shape, x.dtype) >= p
        self.keep, self.scale = keep, x.dtype.type(1 / (1 - p))
        out = x * keep
        out *= self.scale
        return out

    @quiet
    def backward(self, g):
        out = g * self.keep
        out *= self.scale
        return out


class Embedding(Function):
    """Row gather ``weight[index]``; backward scatter-adds rows, so repeated indices accumulate."""

    def forward(self, weight, index, *, padding_idx=None, scale_grad_by_freq=False):
        self.index, self.num, self.padding_idx = index, weight.shape[0], padding_idx
        self.scale_grad_by_freq = scale_grad_by_freq
        return xp_of(weight).take(weight, index, axis=0)

    @quiet
    def backward(self, g):
        xp = xp_of(g)
        dim = g.shape[-1]
        flat = self.index.reshape(-1)
        rows = g.reshape(-1, dim)
        if self.scale_grad_by_freq:
            counts = xp.bincount(flat, minlength=self.num)
            rows = rows / counts[flat].astype(g.dtype)[:, None]
        grad = xp.zeros((self.num, dim), dtype=g.dtype)
        backend.scatter_add(grad, flat, rows)
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        return grad, None


class Pad(Function):
    """Constant padding (negative amounts crop); ``pads`` is one (before, after) per dimension."""

    def forward(self, x, *, pads, value):
        xp = xp_of(x)
        shape = tuple(n + a + b for n, (a, b) in zip(x.shape, pads))
        if any(s < 0 for s in shape):
            raise RuntimeError(
                f"The input size {x.shape}, plus negative padding {pads} "
                f"resulted in a negative output size, which is invalid."
            )
        out = xp.full(shape, value, dtype=x.dtype)
        src = tuple(slice(max(-a, 0), n - max(-b, 0)) for n, (a, b) in zip(x.shape, pads))
        dst = tuple(slice(max(a, 0), s - max(b, 0)) for s, (a, b) in zip(shape, pads))
        out[dst] = x[src]
        self.src, self.dst, self.x_shape = src, dst, x.shape
        return out

    def backward(self, g):
        gx = xp_of(g).zeros(self.x_shape, dtype=g.dtype)
        gx[self.src] = g[self.dst]
        return gx
