"""Indexing (ints, slices, None, ..., bool masks, integer tensors), __setitem__ and in-place ops."""

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import check, requires_torch

A = np.arange(60.0).reshape(3, 4, 5)


@pytest.mark.parametrize(
    "key",
    [
        1,
        -1,
        (0, 2),
        (0, 2, 3),
        slice(1, None),
        (slice(None), 1),
        (slice(None, None, 2), 1),
        (Ellipsis, 2),
        (1, Ellipsis),
        (None, 0),
        (slice(None), None, 2),
        (Ellipsis, None),
        (0, slice(1, 3), slice(None, None, -1) if False else slice(0, 5, 2)),
        (-2, -1, -3),
        (slice(-2, None), Ellipsis, slice(1, 2)),
    ],
)
def test_basic_indexing(key):
    check(lambda m, x: x[key], A.shape, ref=lambda a: a[key])


@pytest.mark.parametrize(
    "key",
    [
        "[0, 2, 0]",
        "[[0, 1], [2, 2]]",
        "(slice(None), [3, 3, 0])",
        "([0, 2], [1, 1])",
        "([2, 2, 2], Ellipsis, [0, 4, 0])",
        "(1, [0, 0, 3])",
    ],
)
def test_integer_tensor_indexing_accumulates(key):
    def fn(m, x):
        k = eval(key, {"slice": slice, "Ellipsis": Ellipsis})
        k = (
            tuple(m.tensor(i) if isinstance(i, list) else i for i in k)
            if isinstance(k, tuple)
            else m.tensor(k)
        )
        return x[k]

    check(fn, A.shape)


def test_repeated_index_gradient_accumulates():
    x = nr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[nr.tensor([0, 0, 2, 0])].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "index",
    [
        lambda x: x > 0,
        lambda x: (x > 0).any(2),
        lambda x: (slice(None), (x[0] > 0).any(1)),
        lambda x: (Ellipsis, (x[0, 0] > 0)),
    ],
)
def test_bool_mask_indexing(index):
    check(lambda m, x: x[index(x)], A.shape, arrays=[A - 29.5])


def test_bool_mask_matches_numpy():
    a = np.array([[1.0, -2.0], [-3.0, 4.0]], dtype=np.float32)
    x = nr.tensor(a)
    assert x[x > 0].tolist() == [1.0, 4.0]
    assert x[nr.tensor([True, False])].tolist() == [[1.0, -2.0]]


def test_index_int_tensor_scalar_and_python_list():
    x = nr.arange(10)
    assert x[nr.tensor(3)].item() == 3 and x[[1, 2]].tolist() == [1, 2]
    assert x[nr.tensor(3)].shape == ()


@pytest.mark.parametrize("key", [3, (0, 4), (slice(None), 5)])
def test_out_of_range_raises_index_error(key):
    with pytest.raises(IndexError, match="out of bounds"):
        nr.zeros(3, 4)[key]


def test_float_index_raises():
    with pytest.raises(IndexError):
        nr.zeros(3)[nr.tensor([0.0])]


def test_indexing_is_a_view():
    x = nr.zeros(3, 4)
    row = x[1]
    row[2] = 5.0
    assert x[1, 2].item() == 5.0


@pytest.mark.parametrize(
    "key,value",
    [
        ((0,), 7.0),
        ((slice(None), 1), "row"),
        ((Ellipsis, 0), "col"),
        (("mask",), -1.0),
        (([0, 2],), 3.0),
    ],
)
def test_setitem_matches_numpy(key, value):
    a = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    x = nr.tensor(a)
    if key == ("mask",):
        key = (a > 5,)
        x[x > 5] = value
    else:
        v = (
            {"row": np.array([1.0, 2.0, 3.0], dtype=np.float32), "col": np.float32(9)}.get(
                value, value
            )
            if isinstance(value, str)
            else value
        )
        x[key] = nr.tensor(v) if isinstance(v, np.ndarray) else v
        value = v
    a[key] = value
    assert np.array_equal(x.numpy(), a)


def test_setitem_with_grad_records_copy_slices():
    x = nr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = nr.tensor(10.0, requires_grad=True)
    y = x * 2
    y[1] = v * 3
    y.sum().backward()
    assert y.tolist() == [2.0, 30.0, 6.0]
    assert x.grad.tolist() == [2.0, 0.0, 2.0] and v.grad.item() == 3.0


@requires_torch
def test_setitem_gradient_matches_torch():
    def fn(m, x, v):
        y = x * 1.0
        y[:, 1:3] = v.exp()
        return y * y

    check(fn, (3, 4), (3, 2))


def test_setitem_on_leaf_requiring_grad_raises():
    x = nr.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 1.0
    with nr.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "op,args,expected",
    [
        ("add_", (2.0,), [3.0, 4.0]),
        ("sub_", (1.0,), [0.0, 1.0]),
        ("mul_", (3.0,), [3.0, 6.0]),
        ("div_", (2.0,), [0.5, 1.0]),
        ("zero_", (), [0.0, 0.0]),
        ("fill_", (7.0,), [7.0, 7.0]),
        ("clamp_", (1.5, None), [1.5, 2.0]),
        ("clamp_", (None, 1.5), [1.0, 1.5]),
        ("copy_", ("src",), [5.0, 6.0]),
        ("add_", ("src", 2.0), [11.0, 14.0]),
        ("pow_", (2,), [1.0, 4.0]),
    ],
)
def test_inplace_ops(op, args, expected):
    x = nr.tensor([1.0, 2.0])
    args = list(args)
    if args and args[0] == "src":
        args[0] = nr.tensor([5.0, 6.0])
    kw = {"alpha": args.pop()} if len(args) == 2 and op == "add_" else {}
    ident = x._data
    out = getattr(x, op)(*args, **kw)
    assert out is x and x.tolist() == expected and x._data is ident and x.dtype is nr.float32


@pytest.mark.parametrize(
    "op,args",
    [
        ("add_", (1.0,)),
        ("sub_", (1.0,)),
        ("mul_", (2.0,)),
        ("div_", (2.0,)),
        ("zero_", ()),
        ("fill_", (1.0,)),
        ("copy_", ("src",)),
        ("clamp_", (0.0, 1.0)),
    ],
)
def test_inplace_on_leaf_requiring_grad_raises_outside_no_grad(op, args):
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    args = [nr.tensor([3.0, 4.0]) if a == "src" else a for a in args]
    with pytest.raises(
        RuntimeError,
        match="a leaf Variable that requires grad is being used in an in-place operation",
    ):
        getattr(x, op)(*args)
    with nr.no_grad():
        getattr(x, op)(*args)
    assert x.requires_grad and x.grad_fn is None


def test_inplace_on_non_leaf_is_recorded():
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    y.mul_(3.0).add_(x)
    y.sum().backward()
    assert y.tolist() == [4.0, 8.0] and x.grad.tolist() == [4.0, 4.0]


def test_inplace_int_tensor_cannot_take_float_result():
    x = nr.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        x.add_(1.5)
    x.add_(3)
    assert x.tolist() == [4, 5] and x.dtype is nr.int64


def test_inplace_broadcast_shape_mismatch():
    with pytest.raises(RuntimeError):
        nr.zeros(3).add_(nr.zeros(2, 3))


def test_augmented_assignment_keeps_identity():
    x = nr.ones(3)
    y = x
    x += 1
    x *= 3
    assert y is x and x.tolist() == [6.0, 6.0, 6.0]


def test_index_select_and_gather_and_masked_fill():
    check(lambda m, x: x.index_select(1, m.tensor([0, 2, 2])), (3, 4))
    check(lambda m, x: x.gather(1, m.tensor([[0, 0], [1, 3], [2, 2]])), (3, 4))
    check(lambda m, x: x.masked_fill(x > 0, 0.5), (3, 4))


@pytest.mark.parametrize("op", ["zero_", "fill_", "add_", "mul_", "copy_", "clamp_"])
def test_inplace_on_zero_dim_results(op):
    y = nr.tensor(2.0) * 3  # NumPy gives a scalar for 0-d arithmetic: in-place ops still work
    s = nr.ones(3).sum()
    for t in (y, s):
        args = {
            "fill_": (1.0,),
            "add_": (1.0,),
            "mul_": (2.0,),
            "copy_": (nr.tensor(4.0),),
            "clamp_": (0.0, 0.5),
        }.get(op, ())
        before = t.item()
        getattr(t, op)(*args)
        expected = {
            "zero_": 0.0,
            "fill_": 1.0,
            "add_": before + 1,
            "mul_": before * 2,
            "copy_": 4.0,
            "clamp_": 0.5,
        }[op]
        assert t.item() == expected and t.shape == ()


def test_setitem_on_zero_dim_result():
    y = nr.tensor(2.0) * 3
    y[...] = 1.0
    assert y.item() == 1.0


@pytest.mark.parametrize("key", [
    lambda y: y > 0, lambda y: ([2, 0], slice(None)), lambda y: (slice(None), [1, 3]),
])  # fmt: skip
def test_setitem_gradients_with_advanced_keys(key):
    def fn(m, x, v):
        y = x * 1.0
        k = key(y)
        k = (
            tuple(m.tensor(i) if isinstance(i, list) else i for i in k)
            if isinstance(k, tuple)
            else k
        )
        y[k] = v.sum()
        return y * x

    check(fn, (3, 4), (2,))
