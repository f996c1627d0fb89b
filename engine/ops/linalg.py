"""Matrix products. 1-D operands are promoted to matrices as in ``torch.matmul`` and the added
dimension is removed from the result; batch dimensions broadcast."""

from __future__ import annotations

from ..autograd import Function, unbroadcast
from .reduce import quiet


def _swap(x):
    return x.swapaxes(-1, -2)


_MATMUL_NAMES = {
    (2, 2): "MmBackward0",
    (2, 1): "MvBackward0",
    (1, 1): "DotBackward0",
    (1, 2): "SqueezeBackward4",
}


class MatMul(Function):
    def name(self):
        a, b = self.__dict__.get("a_shape", ()), self.__dict__.get("b_shape", ())
        return _MATMUL_NAMES.get((len(a), len(b)), "UnsafeViewBackward0")

    @quiet
    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        self.a2, self.b2 = a2, b2
        out = a2 @ b2
        if a.ndim == 1:
            out = out.squeeze(-2)
        if b.ndim == 1:
            out = out.squeeze(-1)
        return out

    @quiet
    def backward(self, g):
        a2, b2 = self.a2, self.b2
        if len(self.b_shape) == 1:
            g = g[..., None]
        if len(self.a_shape) == 1:
            g = g[..., None, :]
        na, nb = self.needs_input_grad
        ga = gb = None
        if na:
            ga = unbroadcast(g @ _swap(b2), a2.shape).reshape(self.a_shape)
        if nb:
            gb = unbroadcast(_swap(a2) @ g, b2.shape).reshape(self.b_shape)
        return ga, gb


class Bmm(MatMul):
    grad_name = "BmmBackward0"

    def name(self):
        return self.grad_name
