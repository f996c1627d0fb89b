"""Dtypes: the table, inference, PyTorch's type promotion (a grid against torch.result_type)."""

import itertools

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import dtype_name, requires_torch, torch

NAMES = ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"]
SCALARS = [True, 2, 2.5]


def _make(lib, name, zero_dim):
    data = 1 if zero_dim else [1, 1]
    return lib.tensor(data, dtype=getattr(lib, name))


@requires_torch
@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
@pytest.mark.parametrize("dims", ["tt", "t0", "0t", "00"])
def test_promotion_grid_matches_torch(a, b, dims):
    ta, tb = _make(torch, a, dims[0] == "0"), _make(torch, b, dims[1] == "0")
    na, nb = _make(nr, a, dims[0] == "0"), _make(nr, b, dims[1] == "0")
    expected = dtype_name(torch.result_type(ta, tb))
    assert (na * nb).dtype.name == expected
    assert (na + nb).dtype.name == expected
    if "bool" in (a, b):
        with pytest.raises(RuntimeError, match="with a bool tensor is not supported"):
            na - nb
    else:
        assert (na - nb).dtype.name == dtype_name((ta - tb).dtype)
    assert (na / nb).dtype.name == dtype_name((ta / tb).dtype)
    assert nr.maximum(na, nb).dtype.name == expected


@requires_torch
@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("s", SCALARS)
@pytest.mark.parametrize("zero_dim", [False, True])
def test_promotion_with_python_scalars_matches_torch(a, s, zero_dim):
    t, n = _make(torch, a, zero_dim), _make(nr, a, zero_dim)
    assert (n * s).dtype.name == dtype_name((t * s).dtype)
    assert (s * n).dtype.name == dtype_name((s * t).dtype)
    assert (n + s).dtype.name == dtype_name((t + s).dtype)
    assert (n / s).dtype.name == dtype_name((t / s).dtype)
    if a == "bool" or isinstance(s, bool):
        with pytest.raises(RuntimeError, match="with a bool tensor is not supported"):
            n - s
    else:
        assert (n - s).dtype.name == dtype_name((t - s).dtype)
        assert (s - n).dtype.name == dtype_name((s - t).dtype)
        assert (n**s).dtype.name == dtype_name((t**s).dtype)


@requires_torch
@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_where_and_cat_promotion_match_torch(a, b):
    cond = torch.tensor([True, False])
    tw = torch.where(cond, _make(torch, a, False), _make(torch, b, False))
    nw = nr.where(nr.tensor([True, False]), _make(nr, a, False), _make(nr, b, False))
    assert nw.dtype.name == dtype_name(tw.dtype)
    tc = torch.cat([_make(torch, a, False), _make(torch, b, False)])
    assert nr.cat([_make(nr, a, False), _make(nr, b, False)]).dtype.name == dtype_name(tc.dtype)


@pytest.mark.parametrize(
    "data,dt",
    [
        ([1, 2, 3], nr.int64),
        ([1.0, 2.0], nr.float32),
        ([True, False], nr.bool),
        (3, nr.int64),
        (3.5, nr.float32),
        (True, nr.bool),
        ([1, 2.5], nr.float32),
        ([[1], [2]], nr.int64),
        (np.array([1.0, 2.0]), nr.float64),
        (np.array([1, 2], dtype=np.int32), nr.int32),
        (np.float64(2.0), nr.float64),
        (np.array([1, 2], dtype=np.uint8), nr.uint8),
        ([np.float32(1.0)], nr.float32),
        ([1, np.float32(2.0)], nr.float32),
        ([np.float64(1.0), 2.0], nr.float64),
        ([np.int32(1)], nr.int32),
        (np.int32(3), nr.int32),
        (np.bool_(True), nr.bool),
        ([np.uint8(3)], nr.uint8),
        ([], nr.float32),
        ([nr.tensor(1.0), nr.tensor(2.0)], nr.float32),
    ],
)
def test_tensor_infers_dtype(data, dt):
    assert nr.tensor(data).dtype is dt


@pytest.mark.parametrize("name", NAMES)
def test_dtype_keyword_and_conversions(name):
    dt = getattr(nr, name)
    x = nr.tensor([0, 1, 2], dtype=dt)
    assert x.dtype is dt and x.to(nr.float32).dtype is nr.float32
    assert str(dt) == f"nnrun.{name}" and dt == getattr(nr, name)


@pytest.mark.parametrize(
    "method,dt",
    [
        ("float", "float32"),
        ("half", "float16"),
        ("double", "float64"),
        ("long", "int64"),
        ("int", "int32"),
        ("bool", "bool"),
    ],
)
def test_dtype_methods(method, dt):
    y = getattr(nr.tensor([0.0, 1.5, -2.0]), method)()
    assert y.dtype is getattr(nr, dt)
    assert y.tolist() == np.array([0.0, 1.5, -2.0]).astype(getattr(nr, dt).np).tolist()


def test_aliases():
    assert nr.float is nr.float32 and nr.double is nr.float64 and nr.half is nr.float16
    assert nr.long is nr.int64 and nr.int is nr.int32


@pytest.mark.parametrize("bad", ["float128", "complex64", object, 3])
def test_bad_dtype_raises_type_error(bad):
    with pytest.raises(TypeError, match="dtype"):
        nr.zeros(2, dtype=bad)


def test_unsupported_numpy_dtype_raises():
    with pytest.raises(TypeError, match="not supported"):
        nr.from_numpy(np.zeros(2, dtype=np.complex64))


def test_float32_never_becomes_float64():
    x = nr.randn(3, 4, requires_grad=True)
    ys = [
        x * 2.5,
        x + np.float64(1.0),
        x / 3,
        x.abs() ** 0.5,
        x - nr.tensor(1.0, dtype=nr.float64),
        x * nr.tensor([1, 2, 3, 4]),
        nr.where(x > 0, x, 0.0),
        x.clamp(-0.5, 0.5),
        x.mean(),
        x @ nr.randn(4, 2),
        nr.maximum(x, nr.tensor(0.0, dtype=nr.float64)),
        2.0**x,
    ]
    for y in ys:
        assert y.dtype is nr.float32, y
    sum(y.sum() for y in ys).backward()
    assert x.grad.dtype is nr.float32


def test_int_tensor_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        nr.tensor([1, 2], requires_grad=True)


def test_gradient_dtype_follows_input_through_casts():
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    x.double().sum().backward()
    assert x.grad.dtype is nr.float32 and x.grad.tolist() == [1.0, 1.0]
