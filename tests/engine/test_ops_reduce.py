"""Reductions and the softmax family: dim as int or tuple, keepdim, PyTorch parity."""

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import check, torch, torch_parity

DIMS = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]


# dim=None means "all" (no keepdim in PyTorch's signature); logsumexp always needs a dim
REDUCE_CASES = [
    (op, dim, keepdim)
    for op in ["sum", "mean", "var", "std", "logsumexp"]
    for dim in DIMS
    for keepdim in [False, True]
    if dim is not None or (not keepdim and op != "logsumexp")
]


@pytest.mark.parametrize("op,dim,keepdim", REDUCE_CASES)
def test_reduce_dims(op, dim, keepdim):
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    check(lambda m, x: getattr(x, op)(**kw), (2, 3, 4))


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_correction(op, correction):
    check(lambda m, x: getattr(x, op)(dim=1, correction=correction), (3, 5))


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_unbiased_default_and_flag(op):
    a = np.arange(6.0, dtype=np.float32)
    x = nr.tensor(a)
    ddof1 = getattr(np, op)(a, ddof=1)
    assert np.isclose(getattr(x, op)().item(), ddof1)
    assert np.isclose(getattr(x, op)(unbiased=False).item(), getattr(np, op)(a))
    assert np.isclose(getattr(x, op)(0, True).item(), ddof1)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_dim_values_and_indices(op, dim, keepdim):
    check(lambda m, x: getattr(x, op)(dim=dim, keepdim=keepdim).values, (3, 4))
    check(lambda m, x: getattr(x, op)(dim, keepdim)[1], (3, 4), grad=False)


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
def test_max_min_whole(op):
    check(lambda m, x: getattr(x, op)(), (3, 4))


@pytest.mark.parametrize("op", ["amax", "amin"])
@pytest.mark.parametrize("dim", [0, (0, 1), -1])
def test_amax_amin_dims(op, dim):
    check(lambda m, x: getattr(x, op)(dim), (3, 4, 2))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, 1])
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin(op, dim, keepdim):
    check(lambda m, x: getattr(x, op)(dim=dim, keepdim=keepdim), (3, 4), grad=False)


def test_argmax_returns_first_of_ties_and_int64():
    x = nr.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    assert x.argmax(dim=1).tolist() == [1, 0] and x.argmax().dtype is nr.int64


def test_max_tie_gradient_whole_is_shared():
    x = nr.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5]


def test_max_dim_tie_gradient_goes_to_index():
    x = nr.tensor([[3.0, 3.0, 1.0]], requires_grad=True)
    v, i = x.max(dim=1)
    v.sum().backward()
    assert i.tolist() == [0] and x.grad.tolist() == [[1.0, 0.0, 0.0]]


@pytest.mark.parametrize("op", ["amax", "amin"])
def test_amax_ties_share_gradient_like_torch(op):
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    if torch is not None:  # gradients at ties, which finite differences cannot check
        torch_parity(lambda m, x: getattr(x, op)(1), [a if op == "amax" else -a])
        torch_parity(lambda m, x: getattr(x, op)(), [a if op == "amax" else -a])
        torch_parity(lambda m, x: getattr(x, op[1:])(), [a if op == "amax" else -a])
    x = nr.tensor(a if op == "amax" else -a, requires_grad=True)
    getattr(x, op)(dim=1).sum().backward()
    assert np.allclose(x.grad.numpy(), [[0.0, 0.5, 0.5], [1 / 3] * 3])


def test_max_of_two_tensors_is_maximum():
    assert nr.max(nr.tensor([1.0, 5.0]), nr.tensor([2.0, 4.0])).tolist() == [2.0, 5.0]


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_prod(dim, keepdim):
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    check(lambda m, x: x.prod(**kw), (3, 4), low=0.5, high=1.5)


def test_prod_gradient_with_zeros():
    check(lambda m, x: x.prod(dim=1), arrays=[np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0]])])
    check(lambda m, x: x.prod(), arrays=[np.array([[0.0, 2.0], [3.0, 5.0]])])


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_family(op, dim):
    check(lambda m, x: getattr(x, op)(dim), (3, 4, 5))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_is_stable(op):
    x = nr.tensor([[1000.0, 0.0, -1000.0]])
    y = getattr(x, op)(dim=1)
    assert np.all(np.isfinite(y.numpy()))
    assert np.isclose(getattr(nr, op)(x, 1)[0, 0].item(), 1.0 if op == "softmax" else 0.0)


def test_logsumexp_is_stable_and_matches():
    x = nr.tensor([[1000.0, 1000.0], [-1000.0, -1000.0]])
    assert np.allclose(x.logsumexp(dim=1).numpy(), [1000 + np.log(2), -1000 + np.log(2)])
    check(lambda m, x: m.logsumexp(x, dim=(0, 1)), (3, 4))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("op", ["all", "any"])
def test_all_any(op, dim, keepdim):
    a = np.array([[True, False, True], [True, True, True]])
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    y = getattr(nr.tensor(a), op)(**kw)
    npkw = {} if dim is None else {"axis": dim, "keepdims": keepdim}
    assert y.dtype is nr.bool and np.array_equal(y.numpy(), getattr(a, op)(**npkw))


def test_all_any_on_numbers_give_bool():
    assert nr.tensor([1.0, 0.0]).any().dtype is nr.bool
    assert nr.tensor([1, 2]).all().item() is True


@pytest.mark.parametrize("dt", ["int64", "int32", "bool", "uint8"])
def test_sum_of_integers_is_int64(dt):
    x = nr.tensor([1, 1, 0], dtype=getattr(nr, dt))
    assert x.sum().dtype is nr.int64 and x.sum().item() == 2


def test_sum_dtype_argument():
    assert nr.tensor([1, 2]).sum(dtype=nr.float64).dtype is nr.float64


def test_mean_of_integers_raises_like_torch():
    with pytest.raises(RuntimeError, match="Long"):
        nr.tensor([1, 2]).mean()


def test_reduce_float32_stays_float32():
    x = nr.randn(5, 6)
    for y in (x.sum(), x.mean(), x.var(), x.std(), x.prod(), x.logsumexp(0), x.max(), x.softmax(1)):
        assert y.dtype is nr.float32


def test_dim_out_of_range():
    with pytest.raises(IndexError, match="Dimension out of range"):
        nr.zeros(2, 3).sum(dim=2)


@pytest.mark.parametrize("dim", [0, 1])
def test_cumsum(dim):
    check(lambda m, x: x.cumsum(dim), (3, 4))


def test_var_single_element_is_nan_like_torch():
    assert np.isnan(nr.tensor([1.0]).var().item())
    assert nr.tensor([1.0]).var(correction=0).item() == 0.0


@pytest.mark.parametrize("op", ["sum", "mean", "softmax", "log_softmax", "logsumexp", "amax"])
@pytest.mark.parametrize("dim", [0, -1])
def test_zero_dim_reductions_accept_dim_0_and_minus_1(op, dim):
    check(lambda m, x: getattr(x, op)(dim), ())


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_of_empty(op):
    y = getattr(nr.zeros(0, 3), op)(0)
    assert y.shape == (0, 3)
