"""Convolution as im2col + one GEMM (per group), on NumPy or CuPy arrays.

The padded input is viewed through ``backend.as_strided`` as columns laid out
``(C, KH, KW, N, OH, OW)``: copying that view walks each output row contiguously, which measured
several times faster than the ``(N, OH, OW, C, KH, KW)`` layout (see ``bench/conv_layout.py``),
and it makes the GEMM ``weight (O, C*KH*KW) @ cols (C*KH*KW, N*OH*OW)`` need no transpose of the
big matrix. Its ``(O, N, OH, OW)`` result becomes NCHW with one output-sized transpose. Backward:
grad weight is one GEMM against the saved columns; grad input is one GEMM back to columns, then
col2im as KH*KW strided slice-adds. Conv1d is the same computation with H = 1.

Two CPU fast paths (W3 in ``bench/``): with few column rows (C*KH*KW <= 32, e.g. a first layer on
one channel) the columns are laid out per sample ``(N, C*KH*KW, OH*OW)`` and one broadcast
``weight @ cols`` gives NCHW directly; big groups=1 convolutions (either layout) run in sample
chunks on ``backend.run_split``'s threads (single-threaded BLAS each), every chunk doing its own
im2col, GEMM and NCHW write (backward: its transposes, partial grad weight/bias, col2im).
"""

from __future__ import annotations

import itertools

from .. import backend
from ..autograd import Function
from ..ops.reduce import quiet
from ..tensor import Tensor


# ------------------------------------------------------------------------------------ array core
def pad2d(x, top, bottom, left, right, value=0):
    """``x`` (..., H, W) with its last two axes padded by ``value`` (no copy when no padding)."""
    if not (top or bottom or left or right):
        return x
    xp = backend.xp_of(x)
    h, w = x.shape[-2:]
    shape = x.shape[:-2] + (h + top + bottom, w + left + right)
    out = xp.zeros(shape, x.dtype) if value == 0 else xp.full(shape, value, x.dtype)
    out[..., top : top + h, left : left + w] = x
    return out


def _im2col(xpad, kh, kw, oh, ow, stride, dilation):
    """Columns ``(C*KH*KW, N*OH*OW)`` of a padded NCHW array: one strided view, one copy."""
    xp = backend.xp_of(xpad)
    n, c = xpad.shape[:2]
    s_n, s_c, s_h, s_w = xpad.strides
    (sh, sw), (dh, dw) = stride, dilation
    win = backend.as_strided(
        xpad, (c, kh, kw, n, oh, ow), (s_c, dh * s_h, dw * s_w, s_n, sh * s_h, sw * s_w)
    )
    return xp.ascontiguousarray(win).reshape(c * kh * kw, n * oh * ow)


def _im2col_batched(xpad, kh, kw, oh, ow, stride, dilation):
    """Columns ``(N, C*KH*KW, OH*OW)`` of a padded NCHW array, for the per-sample layout."""
    xp = backend.xp_of(xpad)
    n, c = xpad.shape[:2]
    s_n, s_c, s_h, s_w = xpad.strides
    (sh, sw), (dh, dw) = stride, dilation
    win = backend.as_strided(
        xpad, (n, c, kh, kw, oh, ow), (s_n, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w)
    )
    return xp.ascontiguousarray(win).reshape(n, c * kh * kw, oh * ow)


def _col2im_batched(gcols, x_shape, padded_hw, kh, kw, oh, ow, stride, dilation, top, left):
    """Adjoint of ``_im2col_batched`` followed by cropping the padding (no transpose needed)."""
    xp = backend.xp_of(gcols)
    n, c, h, w = x_shape
    (sh, sw), (dh, dw) = stride, dilation
    gc = gcols.reshape(n, c, kh, kw, oh, ow)
    gxpad = xp.zeros((n, c) + padded_hw, gcols.dtype)
    for i in range(kh):
        for j in range(kw):
            r, q = i * dh, j * dw
            gxpad[:, :, r : r + sh * (oh - 1) + 1 : sh, q : q + sw * (ow - 1) + 1 : sw] += gc[
                :, :, i, j
            ]
    return xp.ascontiguousarray(gxpad[:, :, top : top + h, left : left + w])


# Up to this many rows per column (C*KH*KW) the per-sample layout wins: one broadcast
# ``weight (O, K) @ cols (N, K, OH*OW)`` gives NCHW directly, where the single big GEMM with a
# tiny inner dimension is slow and needs output/gradient transposes (measured 0.7 vs 12 ms
# forward, 2.4 vs 7-20 ms backward for W3's first layer, K = 9; K = 288 is faster in one GEMM).
_BATCHED_MAX_K = 32


# Below this many column elements (C*KH*KW * N*OH*OW) a convolution runs in one piece.
_SPLIT_MIN = 1 << 20


def _chunks(x, n, per_sample):
    """Sample ranges for the threaded CPU path, or None (CuPy, small work, one worker)."""
    workers = backend.cpu_split_workers()
    if workers < 2 or n < 2 or n * per_sample < _SPLIT_MIN or backend.xp_of(x) is not backend.np:
        return None
    parts = min(2 * workers, n)  # two per worker: a busy core then holds up less of the work
    edges = [n * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(edges))


def _sum_parts(parts, need_w, need_b):
    """Grad weight and bias from the chunks' ``(partial gw, partial gb)`` (always in chunk
    order, so the sums are deterministic)."""
    gw = sum(pw for pw, _ in parts[1:]) + parts[0][0] if need_w else None
    gb = sum(pb for _, pb in parts[1:]) + parts[0][1] if need_b else None
    return gw, gb


def _col2im(gcols, x_shape, padded_hw, kh, kw, oh, ow, stride, dilation, top, left):
    """Adjoint of ``_im2col`` followed by cropping the padding: KH*KW strided slice-adds."""
    xp = backend.xp_of(gcols)
    n, c, h, w = x_shape
    (sh, sw), (dh, dw) = stride, dilation
    gc = gcols.reshape(c, kh, kw, n, oh, ow)
    # accumulate in (C, N, H, W) so every add reads gc contiguously; one transpose at the end
    gxpad = xp.zeros((c, n) + padded_hw, gcols.dtype)
    for i in range(kh):
        for j in range(kw):
            r, q = i * dh, j * dw
            gxpad[:, :, r : r + sh * (oh - 1) + 1 : sh, q : q + sw * (ow - 1) + 1 : sw] += gc[
                :, i, j
            ]
    gx = gxpad[:, :, top : top + h, left : left + w].transpose(1, 0, 2, 3)
    return xp.ascontiguousarray(gx)


class Convolution(Function):
    """N-d convolution (N = 1 or 2) of ``x`` (N, C, *) or unbatched (C, *) with ``weight``.

    ``padding`` is ``((top, bottom), (left, right))``, already resolved (``"same"`` may be uneven).
    Saves the columns (for grad weight) and the weight (for grad input), nothing else.
    """

    @quiet
    def forward(self, x, weight, bias, *, stride, padding, dilation, groups, nd):
        xp = backend.xp_of(x)
        self.x_shape, self.w_shape = x.shape, weight.shape
        if nd == 1:  # a 1-d convolution is a 2-d one with H = 1
            x, weight = x[..., None, :], weight[..., None, :]
        if x.ndim == 3:
            x = x[None]
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        (top, bottom), (left, right) = padding
        hp, wp = h + top + bottom, w + left + right
        oh = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.geom = (n, c, h, w, o, kh, kw, oh, ow, hp, wp, top, left)
        self.weight = weight
        out_spatial = (ow,) if nd == 1 else (oh, ow)
        batch = (n,) if len(self.x_shape) == nd + 2 else ()
        self.batched = groups == 1 and c * kh * kw <= _BATCHED_MAX_K
        if self.batched:
            # split by samples when the output (the bigger side here) is big
            self.chunks = _chunks(x, n, o * oh * ow)
            xpad = pad2d(x, top, bottom, left, right)
            if self.chunks:
                out = self._forward_batched_split(xp, xpad, weight, bias)
                return out.reshape(batch + (o,) + out_spatial)
            self.cols = cols = _im2col_batched(xpad, kh, kw, oh, ow, stride, dilation)
            out = xp.matmul(weight.reshape(o, -1), cols)
            if bias is not None:
                out += bias[:, None]
            return out.reshape(batch + (o,) + out_spatial)
        self.chunks = _chunks(x, n, c * kh * kw * oh * ow) if groups == 1 else None
        if self.chunks:
            out = self._forward_split(xp, x, weight, bias)
            return out.reshape(batch + (o,) + out_spatial)
        xpad = pad2d(x, top, bottom, left, right)
        cols = _im2col(xpad, kh, kw, oh, ow, stride, dilation)
        m = n * oh * ow
        if groups == 1:
            out = weight.reshape(o, -1) @ cols
        else:
            w3 = weight.reshape(groups, o // groups, -1)
            out = (w3 @ cols.reshape(groups, -1, m)).reshape(o, m)
        if bias is not None:
            out += bias[:, None]
        out = xp.ascontiguousarray(out.reshape(o, n, oh, ow).transpose(1, 0, 2, 3))
        self.cols = cols
        return out.reshape(batch + (o,) + out_spatial)

    @quiet
    def backward(self, g):
        xp = backend.xp_of(g)
        n, c, h, w, o, kh, kw, oh, ow, hp, wp, top, left = self.geom
        groups, m = self.groups, n * oh * ow
        if self.batched:
            return self._backward_batched(xp, g)
        if self.chunks:
            return self._backward_split(xp, g)
        gm = xp.ascontiguousarray(g.reshape(n, o, oh, ow).transpose(1, 0, 2, 3)).reshape(o, m)
        need_x, need_w, need_b = self.needs_input_grad[:3]
        gx = gw = gb = None
        if need_b:
            gb = gm.sum(axis=1)
        if need_w:
            cols = self.cols
            if groups == 1:
                gw = gm @ cols.T
            else:
                g3, c3 = gm.reshape(groups, o // groups, m), cols.reshape(groups, -1, m)
                gw = g3 @ c3.transpose(0, 2, 1)
            gw = gw.reshape(self.w_shape)
        if need_x:
            if groups == 1:
                gcols = self.weight.reshape(o, -1).T @ gm
            else:
                w3 = self.weight.reshape(groups, o // groups, -1)
                gcols = (w3.transpose(0, 2, 1) @ gm.reshape(groups, o // groups, m)).reshape(-1, m)
            gx = _col2im(
                gcols, (n, c, h, w), (hp, wp), kh, kw, oh, ow, self.stride, self.dilation, top, left
            ).reshape(self.x_shape)
        return gx, gw, gb

    # The threaded path works "sample-last": each chunk of samples is copied once into a padded
    # (C, Hp, Wp, n) array, so every kernel offset's columns are one slice whose rows are OW*n
    # contiguous elements (NumPy's loops run long), the columns are ordered (OH, OW, n) and the
    # col2im adds of the backward run as long too. Measured on W3's second convolution (chunks of
    # 16 samples, one core): forward 2.54 -> 2.39 ms, backward 6.32 -> 4.14 ms per chunk against
    # the (N, OH, OW) column order, whose rows are only OW long.
    def _offsets(self):
        """``(i, j, rows, cols)`` per kernel offset: the padded input each column block reads."""
        _, _, _, _, _, kh, kw, oh, ow = self.geom[:9]
        (sh, sw), (dh, dw) = self.stride, self.dilation
        for i in range(kh):
            for j in range(kw):
                r, q = i * dh, j * dw
                yield i, j, slice(r, r + sh * (oh - 1) + 1, sh), slice(q, q + sw * (ow - 1) + 1, sw)

    def _forward_split(self, xp, x, weight, bias):
        """groups = 1 on the CPU, in sample chunks on the worker threads: each chunk pads and
        copies its columns, runs its GEMM and writes its NCHW output (no shared state)."""
        n, c, h, w, o, kh, kw, oh, ow, hp, wp, top, left = self.geom
        out = xp.empty((n, o, oh, ow), x.dtype)
        w2 = weight.reshape(o, c * kh * kw)

        def task(a, b):
            nb = b - a
            xt = xp.zeros((c, hp, wp, nb), x.dtype)
            xt[:, top : top + h, left : left + w] = x[a:b].transpose(1, 2, 3, 0)
            cols = xp.empty((c, kh, kw, oh, ow, nb), x.dtype)
            for i, j, rows, cs in self._offsets():
                cols[:, i, j] = xt[:, rows, cs]
            cols = cols.reshape(c * kh * kw, oh * ow * nb)
            r = w2 @ cols
            if bias is not None:
                r += bias[:, None]
            out[a:b] = r.reshape(o, oh, ow, nb).transpose(3, 0, 1, 2)
            return cols

        self.cols = backend.run_split([lambda a=a, b=b: task(a, b) for a, b in self.chunks])
        return out

    def _backward_split(self, xp, g):
        """Backward of ``_forward_split`` per sample chunk: the gradient in the chunk's column
        order, grad weight and bias partial sums, grad columns and col2im, on the threads."""
        n, c, h, w, o, kh, kw, oh, ow, hp, wp, top, left = self.geom
        need_x, need_w, need_b = self.needs_input_grad[:3]
        w2 = self.weight.reshape(o, -1)
        g = g.reshape(n, o, oh, ow)
        gx = xp.empty((n, c, h, w), g.dtype) if need_x else None

        def task(cols, a, b):
            nb = b - a
            gm = xp.ascontiguousarray(g[a:b].transpose(1, 2, 3, 0)).reshape(o, oh * ow * nb)
            pw = gm @ cols.T if need_w else None
            pb = gm.sum(axis=1) if need_b else None
            if need_x:
                gc = (w2.T @ gm).reshape(c, kh, kw, oh, ow, nb)
                acc = xp.zeros((c, hp, wp, nb), g.dtype)
                for i, j, rows, cs in self._offsets():
                    acc[:, rows, cs] += gc[:, i, j]
                gx[a:b] = acc[:, top : top + h, left : left + w].transpose(3, 0, 1, 2)
            return pw, pb

        parts = backend.run_split(
            [lambda k=k, a=a, b=b: task(self.cols[k], a, b) for k, (a, b) in enumerate(self.chunks)]
        )
        gw, gb = _sum_parts(parts, need_w, need_b)
        if need_w:
            gw = gw.reshape(self.w_shape)
        if need_x:
            gx = gx.reshape(self.x_shape)
        return gx, gw, gb

    def _forward_batched_split(self, xp, xpad, weight, bias):
        """The per-sample layout in sample chunks on the worker threads (columns, GEMM, bias)."""
        n, c, _, _, o, kh, kw, oh, ow = self.geom[:9]
        (sh, sw), (dh, dw) = self.stride, self.dilation
        s_n, s_c, s_h, s_w = xpad.strides
        win = backend.as_strided(
            xpad, (n, c, kh, kw, oh, ow), (s_n, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w)
        )
        cols = xp.empty((n, c * kh * kw, oh * ow), xpad.dtype)
        cols6 = cols.reshape(n, c, kh, kw, oh, ow)
        out = xp.empty((n, o, oh * ow), xpad.dtype)
        w2 = weight.reshape(o, -1)

        def task(a, b):
            cols6[a:b] = win[a:b]
            xp.matmul(w2, cols[a:b], out=out[a:b])
            if bias is not None:
                out[a:b] += bias[:, None]

        backend.run_split([lambda a=a, b=b: task(a, b) for a, b in self.chunks])
        self.cols = cols
        return out

    def _backward_batched(self, xp, g):
        n, c, h, w, o, kh, kw, oh, ow, hp, wp, top, left = self.geom
        g3 = g.reshape(n, o, oh * ow)
        need_x, need_w, need_b = self.needs_input_grad[:3]
        w2 = self.weight.reshape(o, -1)
        geo = ((hp, wp), kh, kw, oh, ow, self.stride, self.dilation, top, left)
        gx = xp.empty((n, c, h, w), g.dtype) if need_x else None

        def task(a, b):
            ga = g3[a:b]
            pb = ga.sum(axis=(0, 2)) if need_b else None
            pw = xp.matmul(ga, self.cols[a:b].transpose(0, 2, 1)).sum(axis=0) if need_w else None
            if need_x:
                gx[a:b] = _col2im_batched(xp.matmul(w2.T, ga), (b - a, c, h, w), *geo)
            return pw, pb

        parts = backend.run_split(
            [lambda a=a, b=b: task(a, b) for a, b in (self.chunks or [(0, n)])]
        )
        gw, gb = _sum_parts(parts, need_w, need_b)
        if need_w:
            gw = gw.reshape(self.w_shape)
        if need_x:
            gx = gx.reshape(self.x_shape)
        return gx, gw, gb


# ---------------------------------------------------------------------------- argument handling
def expand_param(value, n, name, op="convolution"):
    """An int or a sequence of ``n`` ints (or of one) as an ``n``-tuple, with PyTorch's message."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    try:
        t = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        t = None
    if t is not None and len(t) == 1:
        t = t * n
    if t is None or len(t) != n:
        shown = list(value) if isinstance(value, (tuple, list)) else value
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {n} values to match the "
            f"{op} dimensions, but got {name}={shown}"
        )
    return t


_TYPE_NAMES = {
    "float32": "Float",
    "float64": "Double",
    "float16": "Half",
    "int64": "Long",
    "int32": "Int",
    "int16": "Short",
    "int8": "Char",
    "uint8": "Byte",
    "bool": "Bool",
}


def _conv(input, weight, bias, stride, padding, dilation, groups, nd):
    name = f"conv{nd}d"
    for arg, val in (("input", input), ("weight", weight)):
        if not isinstance(val, Tensor):
            raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(val).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{name}(): argument 'bias' must be Tensor, not {type(bias).__name__}")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
            f"input of size: {list(input.shape)}"
        )
    batched = tuple(input.shape) if input.ndim == nd + 2 else (1,) + tuple(input.shape)
    if weight.ndim != nd + 2:
        raise RuntimeError(
            f"Expected {nd + 2}-dimensional weight for {nd + 2}-dimensional input {list(batched)}, "
            f"but got {weight.ndim}-dimensional weight of size {list(weight.shape)} instead"
        )
    if input.dtype is not weight.dtype:
        raise RuntimeError(
            f"expected scalar type {_TYPE_NAMES[input.dtype.name]} but found "
            f"{_TYPE_NAMES[weight.dtype.name]}"
        )
    stride = expand_param(stride, nd, "stride")
    dilation = expand_param(dilation, nd, "dilation")
    if min(stride) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(dilation) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")
    if not isinstance(groups, int) or groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    o, cg, *ks = weight.shape
    if o % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size {list(weight.shape)} instead"
        )
    if batched[1] != cg * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(batched)} to have {cg * groups} channels, but got {batched[1]} channels "
            f"instead"
        )
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != o):
        raise RuntimeError(
            f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
            f"{o} elements, but got bias of size {list(bias.shape)} instead"
        )
    if bias is not None and bias.dtype is not input.dtype:
        raise RuntimeError(
            f"Input type ({_TYPE_NAMES[input.dtype.name].lower()}) and bias type "
            f"({_TYPE_NAMES[bias.dtype.name].lower()}) should be the same"
        )
    pads = _resolve_padding(padding, nd, stride, dilation, ks)
    eff = [d * (k - 1) + 1 for d, k in zip(dilation, ks)]
    padded = [s + lo + hi for s, (lo, hi) in zip(batched[2:], pads)]
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, eff))}). Kernel size can't be greater than "
            f"actual input size"
        )
    if nd == 1:  # the H axis of the 2-d computation
        stride, dilation, pads = (1,) + stride, (1,) + dilation, ((0, 0),) + pads
    return Convolution.apply(
        input, weight, bias, stride=stride, padding=pads, dilation=dilation, groups=groups, nd=nd
    )


def _resolve_padding(padding, nd, stride, dilation, ks):
    """``((lo, hi), ...)`` per spatial dim from an int, a tuple, ``"valid"`` or ``"same"``."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        # PyTorch: the total padding d*(k-1) is split with the extra element on the right
        totals = [d * (k - 1) for d, k in zip(dilation, ks)]
        return tuple((t // 2, t - t // 2) for t in totals)
    pads = expand_param(padding, nd, "padding")
    if min(pads) < 0:
        raise RuntimeError("negative padding is not supported")
    return tuple((p, p) for p in pads)


# ------------------------------------------------------------------------------- functional API
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""Applies a 1D convolution over an input signal composed of several input planes.

    Args:
        input: input tensor of shape :math:`(N, C_{in}, L)` or :math:`(C_{in}, L)`
        weight: filters of shape :math:`(C_{out}, C_{in} / groups, kL)`
        bias: optional bias of shape :math:`(C_{out})`. Default: ``None``
        stride: the stride of the convolving kernel, an int or a one-element tuple. Default: 1
        padding: implicit zero padding on both sides: an int, a one-element tuple, ``"valid"``
            (no padding) or ``"same"`` (output as long as the input; stride 1 only). Default: 0
        dilation: the spacing between kernel elements. Default: 1
        groups: split the input into groups; :math:`C_{in}` must be divisible by it. Default: 1

    Example::

        >>> F.conv1d(nr.randn(20, 16, 50), nr.randn(33, 16, 3)).shape
        nnrun.Size([20, 33, 48])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, nd=1)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""Applies a 2D convolution over an input image composed of several input planes.

    Args:
        input: input tensor of shape :math:`(N, C_{in}, H, W)` or :math:`(C_{in}, H, W)`
        weight: filters of shape :math:`(C_{out}, C_{in} / groups, kH, kW)`
        bias: optional bias of shape :math:`(C_{out})`. Default: ``None``
        stride: the stride of the convolving kernel, an int or a tuple ``(sH, sW)``. Default: 1
        padding: implicit zero padding on both sides: an int, a tuple ``(padH, padW)``,
            ``"valid"`` (no padding) or ``"same"`` (output the input's size; stride 1 only).
            Default: 0
        dilation: the spacing between kernel elements, an int or ``(dH, dW)``. Default: 1
        groups: split the input into groups; :math:`C_{in}` must be divisible by it. Default: 1

    Example::

        >>> F.conv2d(nr.randn(1, 4, 5, 5), nr.randn(8, 4, 3, 3), padding=1).shape
        nnrun.Size([1, 8, 5, 5])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, nd=2)
