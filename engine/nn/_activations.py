"""Activation Functions that the core ops do not provide, each one node on raw arrays."""

from __future__ import annotations

import math

from ..autograd import Function
from ..backend import xp_of
from ..ops.reduce import quiet

# erfc(z) = t * exp(-z^2 + P(t)), t = 1 / (1 + z/2), z >= 0: the form of Numerical Recipes'
# erfcc, refitted (Chebyshev least squares against math.erfc on 0 <= z <= 26, degree 16) to a
# relative error below 5e-12 on the whole range. NumPy has no erf and SciPy is not a dependency.
_ERFC_P = (
    -1.2655121314789661,
    1.0000004374833862,
    0.37499011966548923,
    0.08344893588804007,
    -0.08658809964787907,
    -0.14415718019734494,
    -0.05541289733530856,
    -0.2801952813483497,
    1.6521331975396747,
    -4.895357292095863,
    11.612104667480372,
    -19.20366576170677,
    20.972095024749184,
    -14.974228414496281,
    6.78572609079964,
    -1.783606723314998,
    0.20822530802089131,
)


def erfc_nonneg(z):
    """``erfc(z)`` for an array ``z >= 0``, in ``z``'s dtype."""
    xp = xp_of(z)
    t = 1 / (1 + 0.5 * z)
    p = xp.full_like(z, _ERFC_P[-1])
    for c in _ERFC_P[-2::-1]:
        p *= t
        p += c
    p -= z * z
    return t * xp.exp(p, out=p)


def normal_cdf(x):
    """``Phi(x) = (1 + erf(x / sqrt 2)) / 2``, accurate in the tails (no cancellation)."""
    xp = xp_of(x)
    half_tail = 0.5 * erfc_nonneg(xp.abs(x) * (1 / math.sqrt(2)))
    return xp.where(x >= 0, 1 - half_tail, half_tail)


class LeakyReLU(Function):
    @quiet
    def forward(self, x, *, negative_slope):
        self.pos, self.slope = x > 0, negative_slope
        return x * xp_of(x).where(self.pos, x.dtype.type(1), x.dtype.type(negative_slope))

    @quiet
    def backward(self, g):
        return g * xp_of(g).where(self.pos, g.dtype.type(1), g.dtype.type(self.slope))


class ELU(Function):
    @quiet
    def forward(self, x, *, alpha):
        xp = xp_of(x)
        # PyTorch's test is ``x <= 0``: a NaN input takes the identity branch (gradient 1)
        self.nonpos, self.alpha = x <= 0, alpha
        self.neg = alpha * xp.expm1(xp.minimum(x, 0))  # alpha * (exp(x) - 1) where x <= 0
        return xp.where(self.nonpos, self.neg, x)

    @quiet
    def backward(self, g):
        slope = xp_of(g).where(self.nonpos, self.neg + self.alpha, 1)
        return g * slope.astype(g.dtype, copy=False)


class GELU(Function):
    """``x * Phi(x)``, exactly (erf) or with PyTorch's tanh approximation."""

    K = math.sqrt(2 / math.pi)

    @quiet
    def forward(self, x, *, approximate):
        xp = xp_of(x)
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            self.th = xp.tanh(self.K * (x + 0.044715 * x * x * x))
            return 0.5 * x * (1 + self.th)
        self.cdf = normal_cdf(x)
        return x * self.cdf

    @quiet
    def backward(self, g):
        xp, x = xp_of(g), self.x
        if self.approximate == "tanh":
            th = self.th
            dinner = self.K * (1 + 3 * 0.044715 * x * x)
            return g * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * dinner)
        pdf = xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return g * (self.cdf + x * pdf)


class SiLU(Function):
    @quiet
    def forward(self, x):
        xp = xp_of(x)
        e = xp.exp(-xp.abs(x))  # sigmoid split by sign: exp never overflows
        self.x = x
        self.s = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        return x * self.s

    @quiet
    def backward(self, g):
        s = self.s
        return g * (s * (1 + self.x * (1 - s)))
