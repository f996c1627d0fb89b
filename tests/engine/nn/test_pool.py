"""max_pool2d / avg_pool2d / adaptive_avg_pool2d and their modules: forward, gradients and
indices against PyTorch over grids with overlapping windows, padding and ceil_mode; finite
differences in float64; PyTorch's errors and reprs."""

from __future__ import annotations

import itertools

import nnrun.engine as nr
import nnrun.engine.nn.functional as nrF
import numpy as np
import pytest
from helpers import DEVICE, nr_tensors, rand_arrays, requires_torch, to_np, torch, torch_parity
from nnrun.engine.nn import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from nnrun.engine.nn.functional import adaptive_avg_pool2d, avg_pool2d, max_pool2d


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny pools: PyTorch's thread pool costs ~100x the work on a busy 2-core machine."""
    if torch is None:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def F(m):
    return torch.nn.functional if m is torch else nrF


def parity(fn, arrays):
    """Forward and gradient vs PyTorch. Overlapping windows sum gradients in another order than
    PyTorch's, so float32 gets atol 1e-6 (values are O(1)); float64 is near exact."""
    torch_parity(fn, arrays, rtol=1e-5, atol=1e-6, dtypes=("float32",))
    torch_parity(fn, arrays, rtol=1e-10, atol=1e-12, dtypes=("float64",))


def distinct(shape, seed=0):
    """Distinct values (no ties for max), spread over [-2, 2)."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n).reshape(shape) / n * 4 - 2).astype(float)


def _valid(kernel, padding, dilation=1):
    kernel = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    return all(padding <= (dilation * (k - 1) + 1) // 2 for k in kernel)


# -------------------------------------------------------------------------------------- max pool
MAX_GRID = [
    c
    for c in itertools.product([1, 2, 3, (2, 3)], [None, 1, 2, 3], [0, 1], [1, 2], [False, True])
    if _valid(c[0], c[2], c[3])
]


@requires_torch
@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", MAX_GRID)
def test_max_pool2d_matches_torch(kernel, stride, padding, dilation, ceil_mode):
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "ceil_mode": ceil_mode}
    x = distinct((2, 3, 9, 8))
    parity(lambda m, t: F(m).max_pool2d(t, kernel, **kw), [x])
    out, idx = max_pool2d(nr.tensor(x), kernel, return_indices=True, **kw)
    t_out, t_idx = torch.nn.functional.max_pool2d(
        torch.tensor(x), kernel, return_indices=True, **kw
    )
    assert idx.dtype is nr.int64
    np.testing.assert_array_equal(to_np(idx), t_idx.numpy())
    np.testing.assert_array_equal(to_np(out), t_out.numpy())


@requires_torch
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), (2, 1, 1)])
def test_max_pool2d_threaded_chunks_match_torch(monkeypatch, kernel, stride, padding):
    """The threaded CPU path (sample chunks; threshold lowered to 0), with ties, NaN and -inf."""
    monkeypatch.setattr("nnrun.engine.nn._pool._SPLIT_MIN", 0)
    x = np.round(rand_arrays([(5, 2, 7, 6)])[0])
    x[0, 0, 1, 2] = x[3, 1, 4, 4] = np.nan
    x[4, 1, 0:3, 0:3] = -np.inf
    parity(lambda m, t: F(m).max_pool2d(t, kernel, stride, padding), [x])
    _, idx = max_pool2d(nr.tensor(x), kernel, stride, padding, return_indices=True)
    _, t_idx = torch.nn.functional.max_pool2d(
        torch.tensor(x), kernel, stride, padding, return_indices=True
    )
    np.testing.assert_array_equal(to_np(idx), t_idx.numpy())
    y = distinct((6, 3, 9, 8))
    parity(lambda m, t: F(m).max_pool2d(t, kernel, stride, padding), [y])


@requires_torch
@pytest.mark.parametrize("kernel,stride", [(2, 1), (3, 2)])
def test_max_pool2d_ties_and_nan_like_torch(kernel, stride):
    x = np.round(rand_arrays([(2, 2, 7, 7)])[0])  # many ties
    x[0, 0, 1, 2] = x[1, 1, 4, 4] = x[1, 1, 4, 5] = np.nan
    x[0, 1, 1:3, 1:3] = -np.inf
    parity(lambda m, t: F(m).max_pool2d(t, kernel, stride, 1), [x])
    _, idx = max_pool2d(nr.tensor(x), kernel, stride, 1, return_indices=True)
    _, t_idx = torch.nn.functional.max_pool2d(
        torch.tensor(x), kernel, stride, 1, return_indices=True
    )
    np.testing.assert_array_equal(to_np(idx), t_idx.numpy())


@requires_torch
@pytest.mark.parametrize("dilation", [1, 2])
def test_max_pool2d_all_inf_window_points_at_real_input(dilation):
    x = np.full((1, 1, 6, 5), -np.inf)
    x[0, 0, 4:, 3:] = 1.0
    parity(lambda m, t: F(m).max_pool2d(t, 3, 2, 1, dilation), [x])
    _, idx = max_pool2d(nr.tensor(x), 3, 2, 1, dilation, return_indices=True)
    _, t_idx = torch.nn.functional.max_pool2d(
        torch.tensor(x), 3, 2, 1, dilation, return_indices=True
    )
    np.testing.assert_array_equal(to_np(idx), t_idx.numpy())


@requires_torch
def test_max_pool2d_unbatched_and_integer():
    x = distinct((3, 6, 7))
    parity(lambda m, t: F(m).max_pool2d(t, 2, ceil_mode=True), [x])
    xi = (x * 10).astype(np.int64)
    out = max_pool2d(nr.tensor(xi), 3, 2, 1)
    assert out.dtype is nr.int64
    np.testing.assert_array_equal(
        to_np(out), torch.nn.functional.max_pool2d(torch.tensor(xi), 3, 2, 1).numpy()
    )


# -------------------------------------------------------------------------------------- avg pool
AVG_GRID = [
    c
    for c in itertools.product(
        [1, 2, 3, (3, 2)], [None, 1, 2], [0, 1], [False, True], [True, False], [None, 5]
    )
    if _valid(c[0], c[2])
]


@requires_torch
@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,count_include_pad,divisor", AVG_GRID)
def test_avg_pool2d_matches_torch(kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    def fn(m, t):
        return F(m).avg_pool2d(t, kernel, stride, padding, ceil_mode, count_include_pad, divisor)

    parity(fn, rand_arrays([(2, 3, 9, 8)]))


@requires_torch
def test_avg_pool2d_unbatched():
    parity(lambda m, t: F(m).avg_pool2d(t, 3, 2, 1), rand_arrays([(3, 7, 6)]))


# ----------------------------------------------------------------------------- adaptive avg pool
@requires_torch
@pytest.mark.parametrize(
    "shape,size",
    [
        ((2, 3, 8, 6), (4, 3)),  # divisible
        ((2, 3, 9, 7), (4, 3)),  # overlapping windows of different sizes
        ((2, 3, 5, 4), (7, 6)),  # larger than the input
        ((2, 3, 9, 7), 1),
        ((2, 3, 9, 7), (None, 2)),
        ((3, 10, 5), 3),  # unbatched
    ],
)
def test_adaptive_avg_pool2d_matches_torch(shape, size):
    parity(lambda m, t: F(m).adaptive_avg_pool2d(t, size), rand_arrays([shape]))


# ------------------------------------------------------------------------------------ gradcheck
@pytest.mark.parametrize(
    "fn",
    [
        lambda t: max_pool2d(t, 2),
        lambda t: max_pool2d(t, 3, stride=1, padding=1, dilation=1),
        lambda t: max_pool2d(t, (2, 3), stride=2, padding=1, ceil_mode=True),
        lambda t: avg_pool2d(t, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        lambda t: avg_pool2d(t, 2, stride=1, divisor_override=3),
        lambda t: adaptive_avg_pool2d(t, (3, 2)),
        lambda t: adaptive_avg_pool2d(t, (2, 5)),
    ],
)
def test_pool_gradcheck(fn):
    assert nr.autograd.gradcheck(fn, nr_tensors([distinct((2, 2, 5, 6))]))


def test_pools_keep_float32():
    x = nr.tensor(distinct((2, 3, 6, 6)), dtype=nr.float32, requires_grad=True)
    outs = [max_pool2d(x, 2), avg_pool2d(x, 3, 1, 1), adaptive_avg_pool2d(x, 4)]
    sum(o.sum() for o in outs).backward()
    assert all(o.dtype is nr.float32 for o in outs) and x.grad.dtype is nr.float32


def test_max_pool2d_gradient_goes_to_the_max():
    x = nr.tensor([[[[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 7.0]]]], requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    assert to_np(x.grad).tolist() == [[[[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]]]
    y = nr.tensor(distinct((1, 1, 4, 4)), requires_grad=True)
    max_pool2d(y, 3, stride=1).sum().backward()  # overlapping windows accumulate
    assert float(to_np(y.grad).sum()) == 4.0


# ---------------------------------------------------------------------------------------- errors
def test_pool_errors():
    x = nr.randn(1, 1, 5, 5)
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel size"):
        max_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel size"):
        avg_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError) as e:
        max_pool2d(nr.randn(1, 1, 1, 1), 3)
    assert str(e.value) == (
        "Given input size: (1x1x1). Calculated output size: (1x0x0). Output size is too small"
    )
    with pytest.raises(RuntimeError, match="kernel size should be greater than zero"):
        max_pool2d(x, 0)
    with pytest.raises(RuntimeError, match="stride should be greater than zero"):
        avg_pool2d(x, 2, stride=0)
    with pytest.raises(RuntimeError, match="dilation should be greater than zero"):
        max_pool2d(x, 2, dilation=0)
    with pytest.raises(RuntimeError, match="pad must be non-negative"):
        max_pool2d(x, 2, padding=-1)
    with pytest.raises(RuntimeError, match="3D or 4D"):
        max_pool2d(nr.randn(5, 5), 2)
    with pytest.raises(RuntimeError, match="divisor must be not zero"):
        avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(RuntimeError, match=r"Expected 3D or 4D tensor, but got \[5, 5\]"):
        adaptive_avg_pool2d(nr.randn(5, 5), 2)
    with pytest.raises(RuntimeError, match="output_size must be 2"):
        adaptive_avg_pool2d(x, (2, 3, 4))
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        adaptive_avg_pool2d(nr.zeros(1, 1, 4, 4, dtype=nr.int64), 2)


# --------------------------------------------------------------------------------------- modules
MODULES = [
    (MaxPool2d, (2,), {}),
    (MaxPool2d, (3, 2, 1, 2, True, True), {}),
    (MaxPool2d, ((2, 3),), {"stride": 1, "ceil_mode": True}),
    (AvgPool2d, (2,), {}),
    (AvgPool2d, ((2, 3), 1, 1, True, False, 3), {}),
    (AdaptiveAvgPool2d, ((None, 3),), {}),
    (AdaptiveAvgPool2d, (1,), {}),
]


@requires_torch
@pytest.mark.parametrize("cls,args,kw", MODULES)
def test_pool_module_repr_and_forward_match_torch(cls, args, kw):
    ours, ref = cls(*args, **kw), getattr(torch.nn, cls.__name__)(*args, **kw)
    assert repr(ours) == repr(ref)
    x = distinct((2, 3, 9, 8)).astype(np.float32)
    out, t_out = ours(nr.tensor(x)), ref(torch.tensor(x))
    if isinstance(t_out, tuple):  # return_indices=True
        np.testing.assert_array_equal(to_np(out[1]), t_out[1].numpy())
        out, t_out = out[0], t_out[0]
    np.testing.assert_allclose(to_np(out), t_out.numpy(), rtol=1e-6, atol=1e-7)
    assert list(ours.state_dict()) == []


@requires_torch
@pytest.mark.parametrize("kernel,stride", [(2, 2), (3, 1), ((1, 2), 1)])
def test_max_pool2d_nonfinite_gradient_goes_only_to_the_maximum(kernel, stride):
    """An inf/nan output gradient lands on its window's maximum alone (non-overlapping and
    overlapping windows), never as nan on the other inputs."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 6)).astype("float32")
    n_x = nr.tensor(x, device=DEVICE, requires_grad=True)
    t_x = torch.tensor(x, requires_grad=True)
    n_y, t_y = (
        nrF.max_pool2d(n_x, kernel, stride),
        torch.nn.functional.max_pool2d(t_x, kernel, stride),
    )
    g = rng.standard_normal(tuple(t_y.shape)).astype("float32")
    g.reshape(-1)[:3] = [np.inf, -np.inf, np.nan]
    n_y.backward(nr.tensor(g, device=DEVICE))
    t_y.backward(torch.tensor(g))
    # overlapping windows add in another order: equal to rounding, inf/nan in the same places
    np.testing.assert_allclose(to_np(n_x.grad), t_x.grad.numpy(), rtol=1e-6, atol=0)
