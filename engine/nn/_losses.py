"""Loss Functions on raw arrays, each one node that applies its own reduction.

Cross-entropy is fused (log-softmax + NLL in one node; backward ``softmax - onehot``) for speed and
numerical stability: the log-sum-exp is shifted by the row maximum, and ``softmax`` is kept from the
forward pass instead of being recomputed.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import to_numpy, xp_of
from ..ops.elementwise import sign_array
from ..ops.reduce import mean_array, quiet

# Every forward and backward here is @quiet: PyTorch returns inf/nan without a word where NumPy
# warns (an all-ignored mean is 0/0, BCE of a 0 or 1 probability takes log(0), inf - inf).


def reduce_loss(loss, reduction):
    xp = xp_of(loss)
    if reduction == "mean":
        return xp.asarray(mean_array(loss))
    if reduction == "sum":
        return xp.asarray(loss.sum())
    return loss


def _grad_scale(g, reduction, n):
    """The upstream gradient as a factor for each element of an unreduced loss."""
    return g / n if reduction == "mean" else g


def classes_last(x):
    """(N, C, d1, ...) -> (N*d1*..., C) and (C,) -> (1, C); 2-D input is returned as is."""
    if x.ndim == 2:
        return x
    if x.ndim == 1:
        return x[None]
    return xp_of(x).moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def classes_back(g2, shape):
    """Inverse of :func:`classes_last` for a gradient."""
    if len(shape) <= 2:
        return g2.reshape(shape)
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return xp_of(g2).moveaxis(g2.reshape(moved), -1, 1)


def check_targets(t, valid, n_classes):
    """PyTorch's ``Target 5 is out of bounds.`` for a class index outside [0, C).

    On a GPU this is one host sync per call, and it must stay: CuPy wraps out-of-range indices
    around silently where NumPy raises, so without it a bad target gives a wrong loss."""
    bad = valid & ((t < 0) | (t >= n_classes))
    if bad.any():
        first = int(to_numpy(t[bad].reshape(-1)[:1])[0])
        raise IndexError(f"Target {first} is out of bounds.")


def _softmax_rows(x2):
    """Row softmax of an (M, C) array, its row maxima ``m`` and ``log_s``, the log of the
    shifted sum: log-softmax is ``(x - m) - log_s``, PyTorch's arithmetic (``x - (m + log_s)``
    loses ``log_s`` next to a huge ``m``)."""
    xp = xp_of(x2)
    m = x2.max(axis=1, keepdims=True)
    p = x2 - m
    xp.exp(p, out=p)
    s = p.sum(axis=1, keepdims=True)
    p /= s
    return p, m[:, 0], xp.log(s[:, 0])


class CrossEntropy(Function):
    """Cross-entropy with class-index targets: ``weight``, ``ignore_index``, label smoothing.

    Per sample, ``loss_i = -sum_c q_ic log p_ic`` with ``q_ic = (1-eps) w_t [c = t] + eps/C w_c``
    (zero for an ignored target); ``mean`` divides by the summed target weights of non-ignored
    samples, as PyTorch does.
    """

    @quiet
    def forward(self, x, target, weight, *, ignore_index, label_smoothing, reduction):
        xp = xp_of(x)
        x2 = classes_last(x)
        m, c = x2.shape
        t = target.reshape(-1)
        self.fast = False
        if (
            weight is None
            and not label_smoothing
            and reduction != "none"
            and x.ndim == 2
            and m
            and not 0 <= ignore_index < c
            and t.min() >= 0  # two small reductions, one host sync each on a GPU
            and t.max() < c
        ):
            return self._forward_plain(x2, t, reduction)
        valid = t != ignore_index
        check_targets(t, valid, c)
        ts = xp.where(valid, t, 0)
        p, mx, log_s = _softmax_rows(x2)
        rows = xp.arange(m)
        q_t = valid.astype(x.dtype)
        if weight is not None:
            q_t *= weight[ts]
        eps = label_smoothing
        loss = (x2[rows, ts] - mx - log_s) * q_t
        loss *= -(1 - eps)
        if eps:
            wsum = weight.sum() if weight is not None else c  # a 0-d array: no host sync
            logp = x2 - mx[:, None]
            logp -= log_s[:, None]
            loss -= (eps / c) * (logp @ weight if weight is not None else logp.sum(axis=1))
            self.wsum = wsum
        loss = xp.where(valid, loss, xp.zeros((), loss.dtype))  # an ignored row is 0, even at inf
        self.total = q_t.sum() if reduction == "mean" else None
        self.p, self.q_t, self.ts, self.valid, self.weight = p, q_t, ts, valid, weight
        self.eps, self.reduction, self.x_shape = eps, reduction, x.shape
        if reduction == "mean":
            return xp.asarray(loss.sum() / self.total)
        if reduction == "sum":
            return xp.asarray(loss.sum())
        return loss.reshape(target.shape)

    def _forward_plain(self, x2, t, reduction):
        """The common case, with the general path's arithmetic: every target valid, weight 1,
        no smoothing, a reduced loss (the per-sample mask, weights and their sum drop out)."""
        xp = xp_of(x2)
        m = x2.shape[0]
        p, mx, log_s = _softmax_rows(x2)
        rows = xp.arange(m)
        loss = x2[rows, t]
        loss -= mx
        loss -= log_s
        self.fast, self.p, self.ts, self.rows, self.reduction = True, p, t, rows, reduction
        self.total = x2.dtype.type(m) if reduction == "mean" else None
        total = -loss.sum()
        return xp.asarray(total / self.total if reduction == "mean" else total)

    @quiet
    def backward(self, g):
        if self.fast:
            coef = g / self.total if self.reduction == "mean" else g
            gx = self.p * coef
            gx[self.rows, self.ts] -= coef
            return gx, None, None
        m, c = self.p.shape
        coef = g / self.total if self.reduction == "mean" else g.reshape(-1)
        coef = xp_of(g).where(self.valid, coef, xp_of(g).zeros((), g.dtype))  # ignored rows: 0
        s = (1 - self.eps) * self.q_t
        if self.eps:
            s = s + (self.eps / c) * self.wsum * self.valid
        gx = self.p * (coef * s)[:, None]
        rows = xp_of(g).arange(m)
        gx[rows, self.ts] -= coef * (1 - self.eps) * self.q_t
        if self.eps:
            w = self.weight if self.weight is not None else 1
            gx -= (coef * (self.eps / c))[:, None] * w
        return classes_back(gx, self.x_shape), None, None


class CrossEntropyProbs(Function):
    """Cross-entropy with class-probability targets of the input's shape; ``mean`` divides by
    the number of samples."""

    @quiet
    def forward(self, x, target, weight, *, label_smoothing, reduction):
        x2, t2 = classes_last(x), classes_last(target)
        c = x2.shape[1]
        p, mx, log_s = _softmax_rows(x2)
        if label_smoothing:
            t2 = t2 * (1 - label_smoothing) + label_smoothing / c
        a = t2 * weight if weight is not None else t2
        logp = x2 - mx[:, None]
        logp -= log_s[:, None]
        loss = -(a * logp).sum(axis=1)
        self.p, self.a, self.logp, self.weight = p, a, logp, weight
        self.eps, self.reduction, self.x_shape = label_smoothing, reduction, x.shape
        self.n = x2.shape[0]
        if reduction == "none":
            return loss.reshape(x.shape[:1] + x.shape[2:]) if x.ndim > 1 else loss.reshape(())
        return reduce_loss(loss, reduction)

    @quiet
    def backward(self, g):
        nx, nt, _ = self.needs_input_grad
        coef = _grad_scale(g, self.reduction, self.n).reshape(-1, 1)
        gx = gt = None
        if nx:
            gx = classes_back(
                coef * (self.a.sum(axis=1, keepdims=True) * self.p - self.a), self.x_shape
            )
        if nt:
            w = self.weight if self.weight is not None else 1
            gt = classes_back(-(1 - self.eps) * coef * w * self.logp, self.x_shape)
        return gx, gt, None


class NLLLoss(Function):
    """Negative log-likelihood of log-probabilities (N, C, d1, ...) at class-index targets."""

    @quiet
    def forward(self, x, target, weight, *, ignore_index, reduction):
        xp = xp_of(x)
        x2 = classes_last(x)
        m, c = x2.shape
        t = target.reshape(-1)
        valid = t != ignore_index
        check_targets(t, valid, c)
        ts = xp.where(valid, t, 0)
        w = valid.astype(x.dtype)
        if weight is not None:
            w *= weight[ts]
        zero = xp.zeros((), x.dtype)
        loss = xp.where(valid, -x2[xp.arange(m), ts] * w, zero)  # an ignored row is 0, even at inf
        self.w, self.ts, self.reduction, self.x_shape, self.m = w, ts, reduction, x.shape, (m, c)
        self.valid = valid
        if reduction == "mean":
            self.total = w.sum()
            return xp.asarray(loss.sum() / self.total)
        if reduction == "sum":
            return xp.asarray(loss.sum())
        return loss.reshape(target.shape)

    @quiet
    def backward(self, g):
        xp = xp_of(g)
        m, c = self.m
        coef = g / self.total if self.reduction == "mean" else g.reshape(-1)
        gx = xp.zeros((m, c), dtype=g.dtype)
        gx[xp.arange(m), self.ts] = xp.where(self.valid, -coef * self.w, xp.zeros((), g.dtype))
        return classes_back(gx, self.x_shape), None, None


class PointwiseLoss(Function):
    """``mse``, ``l1``, ``huber`` (delta) and ``smooth_l1`` (beta) of ``x - t``, reduced."""

    @quiet
    def forward(self, x, t, *, kind, param, reduction):
        xp = xp_of(x)
        d = x - t
        self.d, self.kind, self.param, self.reduction = d, kind, param, reduction
        if kind == "mse":
            loss = d * d
        elif kind == "l1":
            loss = xp.abs(d)
        else:
            a = xp.abs(d)
            if kind == "huber":
                loss = xp.where(a < param, 0.5 * d * d, param * (a - 0.5 * param))
            else:
                loss = xp.where(a < param, 0.5 * d * d / param, a - 0.5 * param)
            loss = loss.astype(d.dtype, copy=False)
        return reduce_loss(loss, reduction)

    @quiet
    def backward(self, g):
        xp, d, param = xp_of(g), self.d, self.param
        if self.kind == "mse":
            dd = 2 * d
        elif self.kind == "l1":
            dd = sign_array(d)  # PyTorch's sign: 0 at NaN (inf - inf)
        elif self.kind == "huber":
            dd = xp.clip(d, -param, param)
        else:
            dd = xp.clip(d / param, -1, 1)
        dd *= _grad_scale(g, self.reduction, d.size)
        nx, nt = self.needs_input_grad
        return (dd if nx else None), (-dd if nt else None)


class BinaryCrossEntropy(Function):
    """``-w (t log x + (1-t) log(1-x))`` with each log clamped to >= -100, as PyTorch."""

    @quiet
    def forward(self, x, t, weight, *, reduction):
        xp = xp_of(x)
        if ((x < 0) | (x > 1)).any():
            raise RuntimeError("all elements of input should be between 0 and 1")
        log_x = xp.maximum(xp.log(x), -100)
        log_1mx = xp.maximum(xp.log1p(-x), -100)
        loss = -(t * (log_x - log_1mx) + log_1mx)
        if weight is not None:
            loss = loss * weight
        self.x, self.t, self.weight, self.reduction, self.n = x, t, weight, reduction, loss.size
        return reduce_loss(loss, reduction)

    @quiet
    def backward(self, g):
        xp, x, t = xp_of(g), self.x, self.t
        nx, nt, _ = self.needs_input_grad
        scale = _grad_scale(g, self.reduction, self.n)
        if self.weight is not None:
            scale = scale * self.weight
        gx = scale * (x - t) / xp.maximum((1 - x) * x, 1e-12) if nx else None
        gt = scale * (xp.log1p(-x) - xp.log(x)) if nt else None
        return gx, gt, None


class BinaryCrossEntropyWithLogits(Function):
    """``w ((1-t) x + (1 + (pw-1) t) softplus(-x))``: stable for any logit ``x``."""

    @quiet
    def forward(self, x, t, weight, pos_weight, *, reduction):
        xp = xp_of(x)
        sp = xp.log1p(xp.exp(-xp.abs(x)))
        sp += xp.maximum(-x, 0)  # softplus(-x) = -log(sigmoid(x))
        lw = 1 + (pos_weight - 1) * t if pos_weight is not None else None
        loss = (1 - t) * x + (sp if lw is None else lw * sp)
        if weight is not None:
            loss = loss * weight
        self.x, self.t, self.sp, self.pos_weight = x, t, sp, pos_weight
        self.weight, self.reduction, self.n = weight, reduction, loss.size
        return reduce_loss(loss, reduction)

    @quiet
    def backward(self, g):
        xp, x, t, pw = xp_of(g), self.x, self.t, self.pos_weight
        nx, nt = self.needs_input_grad[:2]
        gx = gt = None
        if nx:  # PyTorch's arithmetic: sigmoid(x) - t, exact at x = +-inf
            sig = 1 / (1 + xp.exp(-x))
            gx = self._scale(sig - t if pw is None else (pw * t + 1 - t) * sig - pw * t, g)
        if nt:
            gt = self._scale(-x if pw is None else (pw - 1) * self.sp - x, g)
        return gx, gt, None, None

    def _scale(self, grad, g):
        if self.weight is not None:
            grad = grad * self.weight
        grad = grad * g
        return grad / self.n if self.reduction == "mean" else grad
