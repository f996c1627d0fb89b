"""conv1d / conv2d and the Conv1d / Conv2d modules: forward and every gradient against PyTorch over
a grid of kernel, stride, padding, dilation, groups and bias; finite differences in float64;
PyTorch's errors, parameter shapes, init and repr."""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import sys

import nnrun.engine as nr
import nnrun.engine.nn.functional as nrF
import numpy as np
import pytest
from helpers import DEVICE, nr_tensors, rand_arrays, requires_torch, to_np, torch, torch_parity
from nnrun.engine.nn import Conv1d, Conv2d
from nnrun.engine.nn.functional import conv1d, conv2d


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny convolutions: PyTorch's thread pool costs ~100x the work on a busy 2-core machine."""
    if torch is None:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def F(m):
    return torch.nn.functional if m is torch else nrF


def _parity(op, x_shape, w_shape, bias, **kw):
    shapes = [x_shape, w_shape] + ([(w_shape[0],)] if bias else [])

    def fn(m, x, w, b=None):
        return getattr(F(m), op)(x, w, b, **kw)

    # float32: the GEMM sums in another order than PyTorch's kernels, hence atol 1e-5 (see report)
    torch_parity(fn, rand_arrays(shapes), rtol=1e-4, atol=1e-5, dtypes=("float32",))
    torch_parity(fn, rand_arrays(shapes), rtol=1e-5, atol=1e-8, dtypes=("float64",))


KERNELS = [1, 2, 3, 5, (3, 2)]
GRID = list(
    itertools.product(KERNELS, [1, 2], [0, 1, 2, "same", "valid"], [1, 2], [1, 2, 4], [True, False])
)


@requires_torch
@pytest.mark.parametrize("kernel,stride,padding,dilation,groups,bias", GRID)
def test_conv2d_matches_torch(kernel, stride, padding, dilation, groups, bias):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x_shape, w_shape = (2, 4, 11, 9), (8, 4 // groups, kh, kw)
    kw_args = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    if padding == "same" and stride != 1:
        x, w = nr_tensors(rand_arrays([x_shape, w_shape]))
        with pytest.raises(RuntimeError, match="padding='same' is not supported for strided"):
            conv2d(x, w, **kw_args)
        return
    _parity("conv2d", x_shape, w_shape, bias, **kw_args)


@requires_torch
@pytest.mark.parametrize(
    "x_shape,w_shape,kw",
    [
        ((5, 6, 9, 8), (7, 6, 3, 3), {"padding": 1}),  # the threaded split: 2 uneven chunks
        ((3, 5, 10, 9), (4, 5, 3, 2), {"stride": 2, "dilation": (2, 1), "padding": (2, 0)}),
        ((4, 1, 12, 12), (6, 1, 3, 3), {"padding": 1}),  # the per-sample layout (C*KH*KW <= 32)
        ((2, 3, 9, 7), (5, 3, 3, 3), {"stride": 2, "dilation": 2, "padding": 3}),  # K = 27
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_fast_paths_match_torch(monkeypatch, x_shape, w_shape, kw, bias):
    """Each CPU path (threaded sample chunks, per-sample layout) on shapes small enough for a
    test: the size threshold of the threaded path is lowered to 0."""
    monkeypatch.setattr("nnrun.engine.nn._conv._SPLIT_MIN", 0)
    _parity("conv2d", x_shape, w_shape, bias, **kw)


SPLIT_GRID = [
    (kernel, stride, padding, dilation, bias)
    for kernel, stride, padding, dilation, groups, bias in GRID
    if groups == 1 and not (padding == "same" and stride != 1)
]


@requires_torch
@pytest.mark.parametrize("kernel,stride,padding,dilation,bias", SPLIT_GRID)
def test_conv2d_threaded_paths_match_torch_over_the_grid(
    monkeypatch, kernel, stride, padding, dilation, bias
):
    """The grid again with every convolution on the threaded sample-chunk paths: with 8 input
    channels the 3x3, 5x5 and (3, 2) kernels (72, 200, 48 column rows) take the sample-last
    im2col path, 1x1 and 2x2 (8, 32 rows) the per-sample layout's threaded path."""
    monkeypatch.setattr("nnrun.engine.nn._conv._SPLIT_MIN", 0)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x_shape, w_shape = (5, 8, 11, 9), (6, 8, kh, kw)
    _parity("conv2d", x_shape, w_shape, bias, stride=stride, padding=padding, dilation=dilation)


@requires_torch
@pytest.mark.parametrize("kw", [{"stride": 3, "padding": 2}, {"dilation": 2, "padding": "same"}])
def test_conv1d_threaded_path_matches_torch(monkeypatch, kw):
    monkeypatch.setattr("nnrun.engine.nn._conv._SPLIT_MIN", 0)
    _parity("conv1d", (5, 12, 30), (6, 12, 5), True, **kw)


def test_conv2d_split_paths_agree_without_input_grad(monkeypatch):
    """A first layer (input without grad) gets weight and bias gradients on every path."""
    x = nr.tensor(rand_arrays([(4, 3, 8, 8)])[0], device=DEVICE)
    w0, b0 = rand_arrays([(5, 3, 3, 3), (5,)])
    grads = []
    for split_min in (0, 1 << 62):
        monkeypatch.setattr("nnrun.engine.nn._conv._SPLIT_MIN", split_min)
        w, b = nr_tensors([w0, b0])
        (conv2d(x, w, b, padding=1) ** 2).sum().backward()
        assert x.grad is None
        grads.append((to_np(w.grad), to_np(b.grad)))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-5)


def _conv_in_child(queue):
    x, w = nr.ones(4, 6, 8, 8), nr.ones(7, 6, 3, 3)
    queue.put(float(conv2d(x, w, padding=1).sum().item()))


@pytest.mark.skipif(
    DEVICE != "cpu" or not hasattr(os, "fork") or sys.platform == "darwin", reason="fork, CPU"
)
def test_conv2d_split_path_works_in_a_forked_child(monkeypatch):
    """The worker threads do not survive a fork: a child must not wait on its parent's pool."""
    monkeypatch.setattr("nnrun.engine.nn._conv._SPLIT_MIN", 0)
    x, w = nr.ones(4, 6, 8, 8), nr.ones(7, 6, 3, 3)
    expected = float(conv2d(x, w, padding=1).sum().item())  # the parent's pool now exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_conv_in_child, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=60) == expected
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0


@requires_torch
@pytest.mark.parametrize("groups,out", [(4, 4), (4, 8)])  # depthwise, and depthwise multiplier 2
def test_conv2d_depthwise(groups, out):
    _parity("conv2d", (3, 4, 8, 10), (out, 1, 3, 3), True, padding=1, groups=groups)


@requires_torch
@pytest.mark.parametrize("padding,stride", [(1, 1), ("same", 1), (0, 2)])
def test_conv2d_unbatched(padding, stride):
    _parity("conv2d", (3, 7, 6), (5, 3, 3, 2), True, padding=padding, stride=stride)


@requires_torch
@pytest.mark.parametrize(
    "kernel,stride,padding,dilation,groups,bias",
    list(
        itertools.product(
            [1, 2, 3, 5], [1, 2], [0, 2, "same", "valid"], [1, 2], [1, 2], [True, False]
        )
    ),
)
def test_conv1d_matches_torch(kernel, stride, padding, dilation, groups, bias):
    if padding == "same" and stride != 1:
        return  # the same check as conv2d's, covered there
    _parity(
        "conv1d",
        (2, 4, 13),
        (6, 4 // groups, kernel),
        bias,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )


@requires_torch
def test_conv1d_unbatched():
    _parity("conv1d", (4, 9), (3, 4, 3), True, padding=1)


@requires_torch
def test_conv2d_same_even_kernel_pads_right_bottom():
    _parity("conv2d", (1, 2, 6, 7), (3, 2, 4, 2), False, padding="same", dilation=(1, 3))


@pytest.mark.parametrize(
    "op,x,w,b,kw",
    [
        (conv2d, (2, 4, 6, 5), (6, 2, 3, 2), True, {"stride": 2, "padding": 1, "groups": 2}),
        (conv2d, (4, 5, 5), (3, 4, 2, 2), False, {"padding": "same", "dilation": 2}),
        (conv1d, (2, 3, 7), (4, 3, 3), True, {"stride": 2, "padding": 1, "dilation": 2}),
    ],
)
def test_conv_gradcheck(op, x, w, b, kw):
    inputs = nr_tensors(rand_arrays([x, w] + ([(w[0],)] if b else [])))
    assert nr.autograd.gradcheck(lambda *t: op(*t, **kw), inputs)


def test_conv_keeps_float32():
    x, w, b = nr_tensors(rand_arrays([(2, 3, 6, 6), (4, 3, 3, 3), (4,)]), dtype=nr.float32)
    out = conv2d(x, w, b, padding=1)
    out.sum().backward()
    assert out.dtype is nr.float32
    assert x.grad.dtype is nr.float32 and w.grad.dtype is nr.float32 and b.grad.dtype is nr.float32
    assert out.shape == (2, 4, 6, 6)


def test_conv_without_grad_matches_with_grad():
    x, w = nr_tensors(rand_arrays([(2, 3, 6, 6), (4, 3, 3, 3)]))
    with nr.no_grad():
        a = conv2d(x, w, padding=1)
    assert a.grad_fn is None
    np.testing.assert_array_equal(to_np(a), to_np(conv2d(x, w, padding=1)))


# ---------------------------------------------------------------------------------------- errors
def _raises(exc, match, *args, **kw):
    with pytest.raises(exc, match=match):
        conv2d(*args, **kw)


def test_conv_errors():
    x = nr.randn(64, 1, 28, 28)
    with pytest.raises(RuntimeError) as e:
        conv2d(x, nr.randn(32, 3, 3, 3))
    assert str(e.value) == (
        "Given groups=1, weight of size [32, 3, 3, 3], expected input[64, 1, 28, 28] to have 3 "
        "channels, but got 1 channels instead"
    )
    small = nr.randn(1, 3, 2, 2)
    with pytest.raises(RuntimeError) as e:
        conv2d(small, nr.randn(4, 3, 3, 3))
    assert str(e.value) == (
        "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size "
        "can't be greater than actual input size"
    )
    img = nr.randn(1, 4, 5, 5)
    _raises(
        RuntimeError, "expected weight to be divisible by 2", img, nr.randn(3, 2, 3, 3), groups=2
    )
    _raises(
        RuntimeError,
        r"expected input\[1, 4, 5, 5\] to have 6 channels",
        img,
        nr.randn(4, 3, 3, 3),
        groups=2,
    )
    _raises(RuntimeError, "Invalid padding string: 'foo'", img, nr.randn(2, 4, 3, 3), padding="foo")
    _raises(RuntimeError, "non-positive stride", img, nr.randn(2, 4, 3, 3), stride=0)
    _raises(RuntimeError, "negative padding", img, nr.randn(2, 4, 3, 3), padding=-1)
    _raises(
        RuntimeError, "dilation should be greater than zero", img, nr.randn(2, 4, 3, 3), dilation=0
    )
    _raises(RuntimeError, "non-positive groups", img, nr.randn(2, 4, 3, 3), groups=0)
    _raises(RuntimeError, "list of 2 values", img, nr.randn(2, 4, 3, 3), stride=(1, 1, 1))
    _raises(
        RuntimeError,
        r"expected bias to be 1-dimensional with 2 elements",
        img,
        nr.randn(2, 4, 3, 3),
        nr.randn(3),
    )
    _raises(
        RuntimeError,
        r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d",
        nr.randn(5, 5),
        nr.randn(2, 4, 3, 3),
    )
    _raises(
        RuntimeError,
        "expected scalar type Float but found Double",
        img,
        nr.randn(2, 4, 3, 3, dtype=nr.float64),
    )
    with pytest.raises(RuntimeError, match=r"input to conv1d, but got input of size: \[5\]"):
        conv1d(nr.randn(5), nr.randn(2, 1, 3))


# --------------------------------------------------------------------------------------- modules
def test_conv2d_module_parameters():
    m = Conv2d(3, 64, 3)
    assert sum(p.numel() for p in m.parameters()) == 1792
    assert list(m.state_dict()) == ["weight", "bias"]
    g = Conv2d(8, 16, (3, 5), groups=4, bias=False)
    assert g.weight.shape == (16, 2, 3, 5) and g.bias is None
    assert list(g.state_dict()) == ["weight"]
    assert Conv1d(4, 6, 5).weight.shape == (6, 4, 5)


def test_conv2d_module_init_bounds():
    m = Conv2d(16, 64, 3)
    bound = 1 / math.sqrt(16 * 9)  # kaiming_uniform_(a=sqrt(5)) and the bias share this bound
    w, b = to_np(m.weight), to_np(m.bias)
    assert m.weight.dtype is nr.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound  # uniform on [-bound, bound]
    assert abs(w.mean()) < 0.05 * bound


MODULE_CONFIGS = [
    (Conv2d, (3, 64, 3), {}),
    (Conv2d, (3, 64, (3, 5)), {"stride": 2, "padding": (1, 2), "dilation": 2, "bias": False}),
    (Conv2d, (4, 8, 3), {"padding": "same", "groups": 2}),
    (Conv2d, (4, 8, 1), {"padding": "valid", "stride": (2, 1)}),
    (Conv1d, (3, 4, 5), {"padding": "valid"}),
    (Conv1d, (4, 4, 3), {"stride": 2, "padding": 1, "groups": 4}),
]


@requires_torch
@pytest.mark.parametrize("cls,args,kw", MODULE_CONFIGS)
def test_conv_module_repr_and_forward_match_torch(cls, args, kw):
    ours, ref = cls(*args, **kw), getattr(torch.nn, cls.__name__)(*args, **kw)
    assert repr(ours) == repr(ref)
    ours.load_state_dict({k: nr.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    shape = (2, args[0], 9, 8) if cls is Conv2d else (2, args[0], 11)
    x = rand_arrays([shape])[0].astype(np.float32)
    np.testing.assert_allclose(
        to_np(ours(nr.tensor(x))), ref(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_conv_module_errors():
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"Invalid padding string 'foo', should be one of"):
        Conv2d(3, 4, 3, padding="foo")
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        Conv2d(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        Conv2d(4, 4, 3, padding_mode="foo")
    with pytest.raises(NotImplementedError, match="padding_mode='reflect' is not supported"):
        Conv2d(4, 4, 3, padding_mode="reflect")


def test_conv2d_module_trains():
    m = Conv2d(2, 3, 3, padding=1)
    x = nr.randn(4, 2, 5, 5, device=DEVICE) if DEVICE == "cpu" else nr.randn(4, 2, 5, 5)
    m(x).pow(2).mean().backward()
    assert m.weight.grad.shape == m.weight.shape and m.bias.grad.shape == (3,)
    assert float(m.weight.grad.abs().sum()) > 0
