"""2-D max, average and adaptive average pooling on NumPy or CuPy arrays.

Every window op is a loop over the KH*KW kernel offsets, each one whole-array operation on a
strided slice of the padded input (output-sized), never a loop over pixels. Backward scatters with
the same slices: an assignment where windows do not overlap, an add where they do.
"""

from __future__ import annotations

import itertools

from .. import backend
from ..autograd import Function
from ..ops.reduce import quiet
from ..tensor import Tensor
from ._conv import _TYPE_NAMES, expand_param, pad2d


# ------------------------------------------------------------------------------------ geometry
class _Geometry:
    """Kernel, stride, dilation, padding (top, bottom, left, right) and output size of a pool."""

    def __init__(self, h, w, kernel, stride, padding, dilation, ceil_mode):
        self.kernel, self.stride, self.dilation = kernel, stride, dilation
        self.oh = _out_size(h, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
        self.ow = _out_size(w, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
        self.eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        # with ceil_mode the last window may run past the padding: pad up to what it reads
        bottom = max((self.oh - 1) * stride[0] + self.eff[0] - h - padding[0], 0)
        right = max((self.ow - 1) * stride[1] + self.eff[1] - w - padding[1], 0)
        self.pads = (padding[0], bottom, padding[1], right)
        self.overlap = stride[0] < self.eff[0] or stride[1] < self.eff[1]

    def offsets(self):
        """``(k, slice_h, slice_w)`` for each kernel offset: the input each window reads there."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        for i in range(kh):
            for j in range(kw):
                r, q = i * dh, j * dw
                yield (
                    i * kw + j,
                    slice(r, r + sh * (self.oh - 1) + 1, sh),
                    slice(q, q + sw * (self.ow - 1) + 1, sw),
                )

    def first_real_offsets(self, xp):
        """``(OH, OW)``: the kernel offset of each window's first input that is not padding
        (built with ``xp`` where it is used, so no host-to-device copy)."""
        (sh, sw), (dh, dw), (kw,) = self.stride, self.dilation, self.kernel[1:]
        start_h = xp.arange(self.oh) * sh - self.pads[0]
        start_w = xp.arange(self.ow) * sw - self.pads[2]
        i0, j0 = xp.maximum(-(start_h // dh), 0), xp.maximum(-(start_w // dw), 0)
        return i0[:, None] * kw + j0[None, :]

    def crop(self, gxpad, h, w):
        top, _, left, _ = self.pads
        if gxpad.shape[-2:] == (h, w):
            return gxpad
        return backend.xp_of(gxpad).ascontiguousarray(gxpad[..., top : top + h, left : left + w])


def _out_size(size, k, s, p, d, ceil_mode):
    """PyTorch's ``pooling_output_shape``."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or the left padding
    return out


def _check(input, name, kernel_size, stride, padding, dilation, ceil_mode):
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise RuntimeError(
            f"non-empty 3D or 4D (batch mode) tensor expected for input, but got input of size: "
            f"{list(input.shape)}"
        )
    if 0 in input.shape[-3:]:
        raise RuntimeError(
            f"Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
            f"got:{list(input.shape)}"
        )
    try:
        kernel = expand_param(kernel_size, 2, "kernel_size")
        stride = (
            kernel
            if stride is None or stride == () or stride == []
            else expand_param(stride, 2, "stride")
        )
    except RuntimeError:
        raise RuntimeError(
            f"{name}: kernel_size and stride must either be a single int, or a tuple of two ints"
        ) from None
    padding = expand_param(padding, 2, "padding", op=name)
    dilation = expand_param(dilation, 2, "dilation", op=name)
    if min(kernel) <= 0:
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kH: {kernel[0]} kW: {kernel[1]}"
        )
    if min(stride) <= 0:
        raise RuntimeError(
            f"stride should be greater than zero, but got dH: {stride[0]} dW: {stride[1]}"
        )
    if min(dilation) <= 0:
        raise RuntimeError(
            f"dilation should be greater than zero, but got dilationH: "
            f"{dilation[0]} dilationW: {dilation[1]}"
        )
    if min(padding) < 0:
        raise RuntimeError(f"pad must be non-negative, but got pad: {min(padding)}")
    for p, k, d in zip(padding, kernel, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got "
                f"pad={p}, kernel_size={k} and dilation={d}"
            )
    c, h, w = input.shape[-3:]
    geom = _Geometry(h, w, kernel, stride, padding, dilation, bool(ceil_mode))
    if geom.oh < 1 or geom.ow < 1:
        raise RuntimeError(
            f"Given input size: ({c}x{h}x{w}). Calculated output size: "
            f"({c}x{geom.oh}x{geom.ow}). Output size is too small"
        )
    return geom


# ------------------------------------------------------------------------------------- max pool
class MaxPool2DWithIndices(Function):
    """Max over each window. Saves only the winning kernel offset per output (uint8 usually).

    Ties go to the first maximum and a NaN wins over numbers, as in PyTorch; ``indices_out``, a
    list, receives the flat ``H*W`` indices when the caller asked for them.
    """

    def forward(self, x, *, geom, indices_out=None):
        xp = backend.xp_of(x)
        floating = x.dtype.kind == "f"
        low = -backend.np.inf if floating else backend.np.iinfo(x.dtype).min
        xpad = pad2d(x, *geom.pads, value=low)
        kk = geom.kernel[0] * geom.kernel[1]
        idx_dtype = backend.np.uint8 if kk <= 256 else backend.np.int32
        # NaN inputs need PyTorch's rule for their indices. On the CPU the cheaper pass runs
        # first and is redone in the rare case of a NaN; on a GPU ``isnan(out).any()`` would be
        # a host sync in every forward, so the NaN-aware pass (same result without NaNs) runs.
        nan_first = floating and backend.device_of(x).type != "cpu"
        chunks = _chunks(xpad)
        if chunks and not nan_first:
            out = xp.empty(xpad.shape[:2] + (geom.oh, geom.ow), x.dtype)
            arg = xp.empty(out.shape, idx_dtype)
            backend.run_split(
                [
                    lambda a=a, b=b: _window_max(
                        xp, xpad[a:b], geom, idx_dtype, False, into=(out[a:b], arg[a:b])
                    )
                    for a, b in chunks
                ]
            )
        else:
            out, arg = _window_max(xp, xpad, geom, idx_dtype, nan_aware=nan_first)
        if floating and not nan_first and xp.isnan(out).any():
            out, arg = _window_max(xp, xpad, geom, idx_dtype, nan_aware=True)
        if floating and (geom.pads[0] or geom.pads[2]):
            # a window whose real inputs are all -inf points at the first of them, never at the
            # padding (PyTorch's rule)
            first = geom.first_real_offsets(xp).astype(idx_dtype)
            arg = xp.where(out == low, first, arg)
        self.arg, self.geom, self.pad_shape, self.hw = arg, geom, xpad.shape, x.shape[-2:]
        if indices_out is not None:
            indices_out.append(self._flat_indices(xp))
        return out

    def _flat_indices(self, xp):
        """Indices into the flattened ``H*W`` input plane, like PyTorch's ``return_indices``."""
        g, w = self.geom, self.hw[1]
        arg = self.arg.astype(backend.np.int64)
        rows = (xp.arange(g.oh) * g.stride[0] - g.pads[0])[:, None] + (
            arg // g.kernel[1]
        ) * g.dilation[0]
        cols = xp.arange(g.ow) * g.stride[1] - g.pads[2] + (arg % g.kernel[1]) * g.dilation[1]
        return rows * w + cols

    @quiet
    def backward(self, grad):
        xp = backend.xp_of(grad)
        geom, arg = self.geom, self.arg
        chunks = _chunks(grad, self.pad_shape)
        if not chunks:
            gxpad = xp.zeros(self.pad_shape, grad.dtype)
            _scatter_max(xp, gxpad, arg, grad, geom)
            return geom.crop(gxpad, *self.hw)
        gxpad = xp.empty(self.pad_shape, grad.dtype)

        def task(a, b):
            gxpad[a:b] = 0
            _scatter_max(xp, gxpad[a:b], arg[a:b], grad[a:b], geom)

        backend.run_split([lambda a=a, b=b: task(a, b) for a, b in chunks])
        return geom.crop(gxpad, *self.hw)


# Inputs of at least this many elements (batched, on the CPU) are pooled in sample chunks on the
# worker threads (NumPy releases the GIL in these ufuncs).
_SPLIT_MIN = 1 << 19


def _chunks(a, shape=None):
    """Sample ranges for the threaded CPU path, or None."""
    shape = a.shape if shape is None else shape
    n = shape[0]
    workers = backend.cpu_split_workers()
    if len(shape) != 4 or workers < 2 or n < 2 or backend.xp_of(a) is not backend.np:
        return None
    if n * shape[1] * shape[2] * shape[3] < _SPLIT_MIN:
        return None
    parts = min(2 * workers, n)
    edges = [n * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(edges))


def _scatter_max(xp, gxpad, arg, grad, geom):
    """Each window's gradient to its winning offset in ``gxpad`` (zeros where nothing lands)."""
    for k, sh, sw in geom.offsets():
        hit = arg == arg.dtype.type(k)
        if geom.overlap:
            gxpad[..., sh, sw] += _select(xp, hit, grad)
        else:  # each input element is in at most one window
            _select(xp, hit, grad, out=gxpad[..., sh, sw])


def _select(xp, hit, grad, out=None):
    """``grad`` where ``hit``, else exactly 0, by bit masks: an inf or nan gradient stays on its
    window's maximum as in PyTorch (``hit * grad`` gave nan to every input of the window)."""
    ints = xp.dtype(f"i{grad.dtype.itemsize}")
    mask = hit.astype(ints)
    xp.negative(mask, out=mask)  # all bits set where hit
    if out is None:
        return xp.bitwise_and(mask, grad.view(ints), out=mask).view(grad.dtype)
    xp.bitwise_and(mask, grad.view(ints), out=out.view(ints))
    return out


def _window_max(xp, xpad, geom, idx_dtype, nan_aware, into=None):
    """Running max over the kernel offsets and the offset it came from (the first maximum; with
    ``nan_aware``, the last NaN, as PyTorch's ``val > max || isnan(val)`` picks). ``into``: the
    ``(out, arg)`` arrays to fill instead of new ones."""
    out = arg = None
    for k, sh, sw in geom.offsets():
        v = xpad[..., sh, sw]
        if out is None:
            if into is None:
                out, arg = v.copy(), xp.zeros(v.shape, idx_dtype)
            else:
                out, arg = into
                out[...], arg[...] = v, 0
            continue
        take = v > out
        if nan_aware:
            take |= xp.isnan(v)
        xp.maximum(out, v, out=out)  # propagates NaN like PyTorch's max
        # offsets only grow, so "arg = k where taken" is a max: no slow masked write
        take = take.view(idx_dtype) if idx_dtype == backend.np.uint8 else take.astype(idx_dtype)
        xp.maximum(arg, take * idx_dtype(k) if k > 1 else take, out=arg)
    return out, arg


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    r"""Applies a 2D max pooling over an input signal composed of several input planes.

    Args:
        input: input tensor :math:`(N, C, H, W)` or :math:`(C, H, W)`
        kernel_size: size of the pooling window, an int or ``(kH, kW)``
        stride: stride of the window. Default: ``kernel_size``
        padding: implicit negative infinity padding on both sides, at most half the kernel
        dilation: spacing between elements of the window. Default: 1
        ceil_mode: use ceil instead of floor to compute the output shape. Default: ``False``
        return_indices: also return the argmax as indices into each flattened ``H*W`` plane

    Example::

        >>> F.max_pool2d(nr.randn(1, 3, 8, 8), 2).shape
        nnrun.Size([1, 3, 4, 4])
    """
    geom = _check(input, "max_pool2d", kernel_size, stride, padding, dilation, ceil_mode)
    if not return_indices:
        return MaxPool2DWithIndices.apply(input, geom=geom)
    sink = []
    out = MaxPool2DWithIndices.apply(input, geom=geom, indices_out=sink)
    return out, Tensor._make(sink[0])


# ------------------------------------------------------------------------------------- avg pool
class AvgPool2D(Function):
    """Sum over each window divided by ``divisor`` (a number or an ``(OH, OW)`` array)."""

    @quiet
    def forward(self, x, *, geom, divisor):
        xpad = pad2d(x, *geom.pads)
        acc = None
        for _, sh, sw in geom.offsets():
            v = xpad[..., sh, sw]
            if acc is None:
                acc = v.astype(backend.np.float64) if x.dtype.kind != "f" else v.copy()
            else:
                acc += v
        self.geom, self.divisor, self.pad_shape, self.hw = geom, divisor, xpad.shape, x.shape[-2:]
        acc /= divisor
        return acc.astype(x.dtype, copy=False)  # integer inputs: C's division truncates too

    @quiet
    def backward(self, grad):
        xp = backend.xp_of(grad)
        geom = self.geom
        gd = grad / self.divisor
        gxpad = xp.zeros(self.pad_shape, grad.dtype)
        for _, sh, sw in geom.offsets():
            if geom.overlap:
                gxpad[..., sh, sw] += gd
            else:
                gxpad[..., sh, sw] = gd
        return geom.crop(gxpad, *self.hw)


def _avg_divisor(x, h, w, geom, count_include_pad):
    """PyTorch's per-window divisor: the window clipped to the padded (or, without
    ``count_include_pad``, the real) input. A Python number when all windows agree.

    Host-side geometry (NumPy on the shapes only); a non-uniform divisor is copied to the device.
    """
    np = backend.np

    def counts(size, out, k, s, p):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)
        return end - start, np.minimum(end, size) - np.maximum(start, 0)

    ph, vh = counts(h, geom.oh, geom.kernel[0], geom.stride[0], geom.pads[0])
    pw, vw = counts(w, geom.ow, geom.kernel[1], geom.stride[1], geom.pads[2])
    d = np.outer(ph, pw) if count_include_pad else np.outer(vh, vw)
    if (d == d.flat[0]).all():
        return float(d.flat[0])
    dt = x.dtype.np if x.dtype.is_floating_point else np.float64
    return backend.to_device(d.astype(dt), x.device)


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    r"""Applies 2D average pooling over an input signal composed of several input planes.

    Args:
        input: input tensor :math:`(N, C, H, W)` or :math:`(C, H, W)`
        kernel_size: size of the pooling window, an int or ``(kH, kW)``
        stride: stride of the window. Default: ``kernel_size``
        padding: implicit zero padding on both sides, at most half the kernel. Default: 0
        ceil_mode: use ceil instead of floor to compute the output shape. Default: ``False``
        count_include_pad: include the zero-padding in the averaging. Default: ``True``
        divisor_override: if given, the divisor of every window. Default: ``None``

    Example::

        >>> F.avg_pool2d(nr.randn(1, 3, 8, 8), 2).shape
        nnrun.Size([1, 3, 4, 4])
    """
    geom = _check(input, "avg_pool2d", kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError("divisor must be not zero")
        divisor = float(divisor_override)
    else:
        divisor = _avg_divisor(input, *input.shape[-2:], geom, count_include_pad)
    return AvgPool2D.apply(input, geom=geom, divisor=divisor)


# ---------------------------------------------------------------------------- adaptive avg pool
class AdaptiveAvgPool2D(Function):
    """Window ``i`` spans ``[floor(i*H/OH), ceil((i+1)*H/OH))`` (PyTorch's formula).

    Evenly divisible sizes are a reshape + mean; otherwise window sums are two GEMMs with 0/1
    matrices (windows of different sizes may overlap), then divided by the window areas.
    """

    @quiet
    def forward(self, x, *, out_hw):
        xp = backend.xp_of(x)
        self.shape, (h, w), (oh, ow) = x.shape, x.shape[-2:], out_hw
        lead = x.shape[:-2]
        if oh and ow and h % oh == 0 and w % ow == 0:
            self.mats = None
            return x.reshape(lead + (oh, h // oh, ow, w // ow)).mean(axis=(-3, -1))
        (ph, ch), (pw, cw) = _window_matrix(h, oh), _window_matrix(w, ow)
        dev = backend.device_of(x)
        ph, pw = (backend.to_device(m.astype(x.dtype), dev) for m in (ph, pw))
        area = backend.to_device(backend.np.outer(ch, cw).astype(x.dtype), dev)
        self.mats = ph, pw, area
        return xp.matmul(ph, x @ pw.T) / area

    @quiet
    def backward(self, grad):
        xp = backend.xp_of(grad)
        (h, w), (oh, ow) = self.shape[-2:], grad.shape[-2:]
        if self.mats is None:
            kh, kw = h // oh, w // ow
            gd = (grad / (kh * kw))[..., :, None, :, None]
            return xp.broadcast_to(gd, grad.shape[:-2] + (oh, kh, ow, kw)).reshape(self.shape)
        ph, pw, area = self.mats
        return xp.matmul(ph.T, grad / area) @ pw


def _window_matrix(size, out):
    """0/1 matrix ``(out, size)`` marking each window's inputs, and each window's length
    (host-side geometry: NumPy on the sizes only; the caller copies them to the device)."""
    np = backend.np
    i = np.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    pos = np.arange(size)
    m = (pos >= start[:, None]) & (pos < end[:, None])
    return m, end - start


def adaptive_avg_pool2d(input, output_size):
    r"""Applies a 2D adaptive average pooling over an input signal of several input planes.

    Args:
        input: input tensor :math:`(N, C, H, W)` or :math:`(C, H, W)`
        output_size: the target output size, an int or ``(H_out, W_out)``; ``None`` keeps the
            input's size in that dimension

    Example::

        >>> F.adaptive_avg_pool2d(nr.randn(1, 64, 8, 9), (5, 7)).shape
        nnrun.Size([1, 64, 5, 7])
    """
    if not isinstance(input, Tensor):
        raise TypeError(
            f"adaptive_avg_pool2d(): argument 'input' must be Tensor, not {type(input).__name__}"
        )
    if input.ndim not in (3, 4):
        raise RuntimeError(
            f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}"
        )
    for d in range(input.ndim - 2, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(
                f"adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch "
                f"dimensions, but input has sizes {list(input.shape)} with dimension {d} being "
                f"empty"
            )
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"adaptive_avg_pool2d\" not implemented for '{_TYPE_NAMES[input.dtype.name]}'"
        )
    size = (
        (output_size, output_size)
        if isinstance(output_size, int) or output_size is None
        else tuple(output_size)
    )
    if len(size) != 2:
        raise RuntimeError("adaptive_avg_pool2d: output_size must be 2")
    out_hw = tuple(s if o is None else int(o) for s, o in zip(input.shape[-2:], size))
    if min(out_hw) < 0:
        raise RuntimeError(
            f"elements of output_size must be greater than or equal to 0 but "
            f"received {list(out_hw)}"
        )
    return AdaptiveAvgPool2D.apply(input, out_hw=out_hw)
