"""Creation functions: values, dtypes, keywords, memory sharing, PyTorch parity."""

import warnings

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import dtype_name, requires_torch, torch


def test_tensor_copies():
    a = np.array([1.0, 2.0], dtype=np.float32)
    t = nr.tensor(a)
    a[0] = 9.0
    assert t.tolist() == [1.0, 2.0]
    u = nr.tensor(t)
    t[1] = 5.0
    assert u.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("fn", [nr.as_tensor, nr.from_numpy])
def test_as_tensor_and_from_numpy_share_memory(fn):
    a = np.array([1.0, 2.0], dtype=np.float32)
    t = fn(a)
    a[0] = 9.0
    assert t.tolist() == [9.0, 2.0] and t.dtype is nr.float32
    t[1] = 7.0
    assert a[1] == 7.0


def test_from_numpy_keeps_float64_and_int():
    assert nr.from_numpy(np.zeros(2)).dtype is nr.float64
    assert nr.from_numpy(np.zeros(2, dtype=np.int32)).dtype is nr.int32
    with pytest.raises(TypeError):
        nr.from_numpy([1, 2])


def test_as_tensor_of_list_and_dtype():
    assert nr.as_tensor([1, 2]).dtype is nr.int64
    t = nr.tensor([1.0])
    assert nr.as_tensor(t) is t and nr.as_tensor(t, dtype=nr.float64).dtype is nr.float64


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "rand", "randn"])
@pytest.mark.parametrize("size", [(2, 3), ((2, 3),), ([4],), ()])
def test_size_forms(fn, size):
    t = getattr(nr, fn)(*size)
    expected = size[0] if size and isinstance(size[0], (tuple, list)) else size
    assert t.shape == tuple(expected) and t.dtype is nr.float32


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "rand", "randn"])
def test_keywords(fn):
    t = getattr(nr, fn)(2, dtype=nr.float64, device="cpu", requires_grad=True)
    assert t.dtype is nr.float64 and t.device.type == "cpu" and t.requires_grad and t.is_leaf


@requires_torch
@pytest.mark.parametrize("expr", [
    "M.zeros(2, 3)", "M.ones(3, dtype=M.int64)", "M.full((2, 2), 7)", "M.full((2,), 1.5)",
    "M.full((2,), True)", "M.full((2,), 3, dtype=M.float16)", "M.arange(5)", "M.arange(1, 4)",
    "M.arange(0, 1, 0.1)", "M.arange(-3, 3, 0.7)", "M.arange(10, 0, -1.5)", "M.arange(1, 10, 3)",
    "M.arange(5.)", "M.arange(0, 5, dtype=M.float64)", "M.arange(0, 0.5, 0.1, dtype=M.float64)",
    "M.linspace(0, 1, 5)", "M.linspace(-1, 1, 25)", "M.linspace(-1, 1, 24)",
    "M.linspace(0.1, 0.7, 1000)", "M.linspace(3, -2.5, 17, dtype=M.float64)",
    "M.linspace(0, 10, 5, dtype=M.int64)", "M.linspace(2, 2, 1)", "M.linspace(0, 1, 0)",
    "M.eye(3)", "M.eye(2, 4)", "M.eye(3, dtype=M.int64)", "M.zeros_like(M.ones(2, dtype=M.int32))",
    "M.ones_like(M.zeros(2, 2))", "M.full_like(M.zeros(3), 2)", "M.full_like(M.zeros(3, dtype=M.int64), 2.7)",
    "M.tensor([])", "M.zeros(0)", "M.tensor([[1, 2], [3, 4]], dtype=M.float64)",
])  # fmt: skip
def test_values_and_dtypes_match_torch(expr):
    t = eval(expr.replace("M.", "torch."), {"torch": torch})
    n = eval(expr.replace("M.", "nr."), {"nr": nr})
    assert n.dtype.name == dtype_name(t.dtype) and tuple(n.shape) == tuple(t.shape)
    assert np.array_equal(n.numpy(), t.numpy()), expr


@pytest.mark.parametrize("fn", ["rand_like", "randn_like", "zeros_like", "ones_like"])
def test_like_functions_follow_input(fn):
    x = nr.zeros(2, 3, dtype=nr.float64)
    y = getattr(nr, fn)(x)
    assert y.shape == (2, 3) and y.dtype is nr.float64 and not y.requires_grad
    assert getattr(nr, fn)(x, dtype=nr.float16).dtype is nr.float16


def test_rand_range_and_randn_moments():
    r = nr.rand(10000)
    assert 0.0 <= r.min().item() and r.max().item() < 1.0 and abs(r.mean().item() - 0.5) < 0.02
    z = nr.randn(20000)
    assert abs(z.mean().item()) < 0.03 and abs(z.std().item() - 1.0) < 0.03


@pytest.mark.parametrize("args,kw,low,high", [
    ((10, (5,)), {}, 0, 10), ((3, 7, (2, 4)), {}, 3, 7), ((5,), {"size": (3,)}, 0, 5),
    ((-2, 2, (100,)), {}, -2, 2), ((0, 2, (4,)), {"dtype": nr.uint8}, 0, 2),
])  # fmt: skip
def test_randint(args, kw, low, high):
    t = nr.randint(*args, **kw)
    assert t.dtype is kw.get("dtype", nr.int64)
    assert low <= t.min().item() and t.max().item() < high


def test_randint_errors():
    with pytest.raises(RuntimeError, match="from"):
        nr.randint(5, 5, (2,))
    with pytest.raises(TypeError):
        nr.randint(5)


def test_randperm():
    p = nr.randperm(10)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype is nr.int64


@pytest.mark.parametrize("fn", ["rand", "randn"])
def test_random_needs_float_dtype(fn):
    with pytest.raises(RuntimeError, match="not implemented for"):
        getattr(nr, fn)(2, dtype=nr.int64)


def test_negative_size_raises():
    with pytest.raises(RuntimeError, match="negative dimension"):
        nr.zeros(2, -1)
    with pytest.raises(TypeError):
        nr.zeros(2.5)


def test_arange_errors():
    with pytest.raises(RuntimeError):
        nr.arange(0, 5, 0)
    with pytest.raises(RuntimeError):
        nr.arange(5, 0, 1)


def test_requires_grad_needs_float():
    with pytest.raises(RuntimeError):
        nr.zeros(2, dtype=nr.int64, requires_grad=True)


def test_tensor_requires_grad_and_nested():
    t = nr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.shape == (2, 2)
    with pytest.raises(TypeError):
        nr.tensor("abc")
    with pytest.raises((ValueError, TypeError)):
        nr.tensor([[1, 2], [3]])


INTEGER_RANGE_CASES = [
    ([-1.0], "uint8"),
    ([255.5], "uint8"),
    ([-255], "uint8"),
    ([-256], "uint8"),
    ([300], "uint8"),
    ([2**63 - 1], "int64"),
    ([2.0**63], "int64"),
    ([-129], "int8"),
    ([1e10], "int32"),
    ([[1, 2], [3, 1e20]], "int64"),
    ([float("inf")], "int32"),
    ([float("nan")], "int64"),
    (70000, "int16"),
    ([1.5, -2.7], "int32"),
    ([3.0, 1e40], "bool"),
]


@requires_torch
@pytest.mark.parametrize("data,dtype", INTEGER_RANGE_CASES, ids=str)
def test_python_numbers_out_of_an_integer_range_raise_as_in_torch(data, dtype):
    """nan, inf or a number beyond an integer type's range is PyTorch's overflow error (NumPy
    would wrap it silently), silently everywhere else."""
    results = []
    for m in (torch, nr):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                results.append(m.tensor(data, dtype=getattr(m, dtype)).tolist())
            except RuntimeError as e:
                results.append(str(e))
    assert results[1] == results[0]
