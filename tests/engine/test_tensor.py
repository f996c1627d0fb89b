"""Tensor attributes, conversions and repr (compared with PyTorch's own repr)."""

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import requires_torch, torch


def test_attributes():
    x = nr.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and isinstance(x.shape, tuple) and isinstance(x.shape, nr.Size)
    assert x.ndim == 3 and x.dim() == 3 and x.numel() == 24 and x.size() == (2, 3, 4)
    assert x.size(1) == 3 and x.size(-1) == 4 and x.dtype is nr.float32
    assert x.device.type == "cpu" and x.device.index is None and str(x.device) == "cpu"
    assert not x.requires_grad and x.grad is None and x.grad_fn is None and x.is_leaf
    assert len(x) == 2 and x.is_contiguous() and x.element_size() == 4


def test_size_repr_and_numel():
    s = nr.zeros(2, 3).shape
    assert repr(s) == "nnrun.Size([2, 3])" and s.numel() == 6 and s[1] == 3 and s == (2, 3)


@pytest.mark.parametrize("data,expected", [(3.5, 3.5), (7, 7), (True, True), ([[2.0]], 2.0)])
def test_item(data, expected):
    v = nr.tensor(data).item()
    assert v == expected and type(v) is type(expected)


def test_item_of_many_elements_raises():
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted"):
        nr.zeros(2).item()


def test_tolist_and_numpy():
    x = nr.tensor([[1, 2], [3, 4]])
    assert x.tolist() == [[1, 2], [3, 4]] and type(x.tolist()[0][0]) is int
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.int64
    a[0, 0] = 9  # numpy() shares memory, as in PyTorch
    assert x[0, 0].item() == 9


def test_numpy_of_requires_grad_raises():
    with pytest.raises(RuntimeError, match="detach"):
        nr.ones(2, requires_grad=True).numpy()
    assert nr.ones(2, requires_grad=True).detach().numpy().tolist() == [1.0, 1.0]


def test_clone_copies_and_records_grad():
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.grad_fn is not None and c.grad_fn.name() == "CloneBackward0"
    (c * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    d = x.detach().clone()
    d[0] = 5.0
    assert x[0].item() == 1.0


@pytest.mark.parametrize("spec", ["cpu", nr.device("cpu"), nr.float64])
def test_to(spec):
    x = nr.tensor([1.0, 2.0])
    y = x.to(spec)
    assert y.device.type == "cpu"
    if spec in ("cpu",) or isinstance(spec, nr.device):
        assert y is x
    else:
        assert y.dtype is nr.float64


def test_to_keyword_and_tensor_forms():
    x = nr.tensor([1, 2])
    assert x.to(dtype=nr.float32).dtype is nr.float32
    assert x.to("cpu", nr.float16).dtype is nr.float16
    assert x.to(nr.zeros(1, dtype=nr.float64)).dtype is nr.float64
    assert x.cpu() is x and x.to(nr.int64) is x


def test_to_copy_true_copies():
    x = nr.tensor([1.0])
    y = x.to(nr.float32, copy=True)
    y[0] = 5.0
    assert x.item() == 1.0


def test_to_dtype_is_differentiable():
    x = nr.tensor([1.5, 2.5], requires_grad=True)
    y = x.double()
    assert y.grad_fn is not None and y.dtype is nr.float64
    (y * 2).sum().backward()
    assert x.grad.dtype is nr.float32 and x.grad.tolist() == [2.0, 2.0]


def test_contiguous():
    x = nr.arange(6.0).reshape(2, 3)
    assert x.contiguous() is x
    t = x.t()
    assert not t.is_contiguous() and t.contiguous().is_contiguous()
    assert t.contiguous().view(6).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


def test_bool_and_len_and_iter():
    assert bool(nr.tensor([1.0])) and not bool(nr.tensor(0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(nr.ones(2))
    assert [t.item() for t in nr.tensor([1, 2, 3])] == [1, 2, 3]
    with pytest.raises(TypeError):
        len(nr.tensor(1.0))


def test_float_int_index_conversions():
    assert float(nr.tensor(2.5)) == 2.5 and int(nr.tensor(3)) == 3
    assert [10, 20, 30][nr.tensor(1)] == 20


def test_no_pickle():
    import pickle

    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(nr.ones(2))


def test_format_of_zero_dim():
    assert f"{nr.tensor(2.5):.2f}" == "2.50"


def _both(expr):
    ns = {"torch": torch, "DT": torch}
    t = eval(expr.replace("M.", "torch."), ns)
    n = eval(expr.replace("M.", "nr.").replace("torch.", "nr."), {"nr": nr, "torch": nr})
    return t, n


REPRS = [
    "M.tensor(146.)",
    "M.tensor(3)",
    "M.tensor(True)",
    "M.tensor(-0.5)",
    "M.tensor(0.)",
    "M.tensor([1, 2, 3])",
    "M.tensor([-1, 20, 300])",
    "M.tensor([1., 2.5, -3.])",
    "M.tensor([[1., 2.], [3., 4.]])",
    "M.tensor([[1, -2], [30, 4]])",
    "M.tensor([True, False])",
    "M.tensor([1.5, 2.], requires_grad=True)",
    "M.tensor([1., 2.], dtype=torch.float64)",
    "M.tensor(2.5, dtype=torch.float64)",
    "M.tensor([1, 2], dtype=torch.int32)",
    "M.tensor([1, 2], dtype=torch.uint8)",
    "M.tensor([1., 2.], dtype=torch.float16)",
    "M.tensor([0.1, 0.2], dtype=torch.float16)",
    "M.tensor([1e-5, 1., 1000.])",
    "M.tensor([1e10, 1.])",
    "M.tensor([0.1, 0.2, 100000.])",
    "M.tensor([1e-10])",
    "M.tensor(1e-8)",
    "M.tensor(1e20)",
    "M.tensor([123456789.])",
    "M.tensor([0.0001])",
    "M.tensor([0.00001, 0.5])",
    "M.tensor([1.123456789, 2.])",
    "M.tensor([float('nan'), 1., float('inf')])",
    "M.tensor([float('nan'), 1.5])",
    "M.tensor([float('-inf'), 0.])",
    "M.tensor([0., 0.])",
    "M.tensor([-1., -2.])",
    "M.tensor([1., 2.]) * 1e-5",
    "M.tensor([[1e-5, 1.], [2., 3.]])",
    "M.tensor([1, -2]) * 1000000",
    "M.tensor([])",
    "M.zeros(0, 3)",
    "M.tensor([], dtype=torch.int32)",
    "M.arange(30.)",
    "M.arange(100) * 1.5",
    "M.arange(24.).reshape(2, 3, 4)",
    "M.arange(60.).reshape(3, 4, 5)[:, :, :2]",
    "M.arange(10.).reshape(10, 1)",
    "M.arange(2000.)",
    "M.arange(2000)",
    "M.arange(1001.)",
    "M.arange(2000.).reshape(40, 50)",
    "M.arange(5000).reshape(10, 10, 50)",
    "M.arange(1000.) / 7",
    "M.arange(40.).reshape(2, 20) / 3",
    "M.tensor([[True], [False]])",
    "M.linspace(-1, 1, 25)",
    "M.eye(3)",
    "M.tensor([1e-4, 5.])",
    "M.tensor([9999.5, 1.25])",
    "M.tensor([-1e-3, 1e5])",
    "M.tensor(123.456)",
    "M.tensor([100., 0.5])",
    "M.tensor([[1., 2.]], requires_grad=True) * 2",
    "M.tensor([1., 2.], requires_grad=True) + 1",
    "M.tensor([1, 2], dtype=torch.int64) - 1000000000000",
]


@requires_torch
@pytest.mark.parametrize("expr", REPRS)
def test_repr_matches_torch(expr):
    t, n = _both(expr)
    assert repr(n) == repr(t).replace("torch.", "nnrun."), expr
    assert str(n) == str(t).replace("torch.", "nnrun.")


@requires_torch
def test_repr_of_random_matrices_matches_torch():
    rng = np.random.default_rng(0)
    for scale in (1e-6, 1e-2, 1.0, 30.0, 1e4, 1e9):
        a = (rng.standard_normal((4, 5)) * scale).astype(np.float32)
        assert repr(nr.tensor(a)) == repr(torch.tensor(a)).replace("torch.", "nnrun.")


GRAD_FNS = [
    "x + 1",
    "x * 2",
    "x - 1",
    "x / 2",
    "x ** 2",
    "x ** x",
    "2 ** x",
    "-x",
    "x.exp()",
    "x.log()",
    "x.sqrt()",
    "x.rsqrt()",
    "x.abs()",
    "x.sin()",
    "x.cos()",
    "x.tanh()",
    "x.sigmoid()",
    "x.relu()",
    "x.sum()",
    "x.sum(0)",
    "x.mean()",
    "x.mean(0)",
    "x.var()",
    "x.std()",
    "x.prod()",
    "x.prod(0)",
    "x.max()",
    "x.min()",
    "x.max(dim=0)[0]",
    "x.min(0).values",
    "x.logsumexp(0)",
    "x.softmax(0)",
    "x.log_softmax(0)",
    "x.clamp(0, 1)",
    "x.clamp(min=0)",
    "x.clone()",
    "x.double()",
    "x.reshape(2, 1)",
    "x.view(2, 1)",
    "x.unsqueeze(0)",
    "x.unsqueeze(1).squeeze(1)",
    "x.unsqueeze(1).squeeze()",
    "x.reshape(2, 1).t()",
    "x.reshape(2, 1).permute(1, 0)",
    "x.reshape(2, 1).transpose(0, 1)",
    "x.expand(3, 2)",
    "x.repeat(2)",
    "x.flip(0)",
    "x[0]",
    "x[1:]",
    "x[[0, 1]]",
    "x[x > 1]",
    "x[None]",
    "M.cat([x, x])",
    "M.stack([x, x])",
    "M.maximum(x, x)",
    "M.where(x > 1, x, x)",
    "x @ x",
    "x.reshape(1, 2) @ x.reshape(2, 1)",
    "x.reshape(1, 2) @ x",
    "x.cumsum(0)",
    "x.floor()",
    "x.ceil()",
    "x.round()",
    "x.sign()",
    "1 - x",
    "x.log1p()",
    "x.amax(0)",
    "M.bmm(x.reshape(1, 1, 2), x.reshape(1, 2, 1))",
    "x.reshape(2, 1).flatten()",
]


@requires_torch
@pytest.mark.parametrize("expr", GRAD_FNS)
def test_grad_fn_names_match_torch(expr):
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    nx = nr.tensor([1.0, 2.0], requires_grad=True)
    t = eval(expr.replace("M.", "torch."), {"x": tx, "torch": torch})
    n = eval(expr.replace("M.", "nr."), {"x": nx, "nr": nr})
    assert n.grad_fn.name() == t.grad_fn.name()
    assert repr(n) == repr(t).replace("torch.", "nnrun.")


def test_deepcopy_copies_a_leaf_and_refuses_a_non_leaf():
    import copy

    a = nr.randn(2, 3, requires_grad=True)
    a.grad = nr.ones(2, 3)
    b = copy.deepcopy(a)
    assert b is not a and b.requires_grad and nr.equal(a, b) and nr.equal(a.grad, b.grad)
    with nr.no_grad():
        b.add_(1)
    assert not nr.equal(a, b)
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(a * 2)


def test_unflatten_error_matches_pytorch():
    with pytest.raises(
        RuntimeError,
        match=r"Provided sizes \[2, 3\] don't multiply up to the "
        r"size of dim 1 \(5\)",
    ):
        nr.zeros(2, 5).unflatten(1, (2, 3))


def test_list_and_array_operands_become_tensors_on_the_operand_device():
    """nnrun accepts lists beside a tensor (PyTorch raises TypeError); NumPy arrays as PyTorch's
    operators do. This once failed with an ImportError."""
    t = nr.tensor([1.0, 2.0])
    assert (t + [1, 2]).tolist() == [2.0, 4.0]
    assert ([1, 2] + t).tolist() == [2.0, 4.0]
    assert ([[1.0, 0.0], [0.0, 1.0]] @ t).tolist() == [1.0, 2.0]
    assert (t + np.array([1.0, 2.0], np.float32)).tolist() == [2.0, 4.0]
    t[:] = [3.0, 4.0]
    assert t.tolist() == [3.0, 4.0]


MASKED_FILL_CASES = [
    ("float32", 1e40),
    ("float32", float("inf")),
    ("float32", float("nan")),
    ("float32", 2.5),
    ("int32", 2**40),
    ("int32", 1.5),
    ("int32", float("nan")),
    ("int32", -1),
    ("float16", 1e5),
    ("float16", 3.0),
    ("uint8", -1),
    ("uint8", 300),
    ("bool", 2),
]


@requires_torch
@pytest.mark.parametrize("dtype,value", MASKED_FILL_CASES, ids=str)
def test_masked_fill_keeps_the_dtype_and_raises_torchs_overflow_error(dtype, value):
    results = []
    for m in (torch, nr):
        mask = m.tensor([True, False, True])
        try:
            out = m.zeros(3, dtype=getattr(m, dtype)).masked_fill(mask, value)
            results.append((str(out.dtype).split(".")[-1], out.tolist()))
        except RuntimeError as e:
            results.append(str(e))
    assert str(results[1]) == str(results[0])  # str: nan == nan
