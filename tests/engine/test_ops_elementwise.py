"""Element-wise ops: forward vs NumPy, gradcheck in float64, PyTorch parity, broadcasting."""

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import check, rand_arrays, requires_torch, torch, torch_parity

B = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3)), ((), (2, 3))]


@pytest.mark.parametrize("sa,sb", B)
@pytest.mark.parametrize(
    "fn,ref",
    [
        (lambda m, a, b: a + b, np.add),
        (lambda m, a, b: a - b, np.subtract),
        (lambda m, a, b: a * b, np.multiply),
        (lambda m, a, b: m.maximum(a, b), np.maximum),
        (lambda m, a, b: m.minimum(a, b), np.minimum),
        (lambda m, a, b: m.add(a, b, alpha=2.5), lambda a, b: a + 2.5 * b),
        (lambda m, a, b: m.sub(a, b, alpha=-3), lambda a, b: a + 3 * b),
        (lambda m, a, b: m.where(a > b, a, b), lambda a, b: np.where(a > b, a, b)),
    ],
)
def test_binary_broadcast(fn, ref, sa, sb):
    check(fn, sa, sb, ref=ref)


@pytest.mark.parametrize("sa,sb", B)
def test_div_broadcast(sa, sb):
    check(lambda m, a, b: a / b, sa, sb, ref=np.divide, positive=True)


@pytest.mark.parametrize("sa,sb", B)
def test_pow_tensor_exponent(sa, sb):
    check(lambda m, a, b: a**b, sa, sb, ref=np.power, positive=True)


@pytest.mark.parametrize(
    "fn,ref",
    [
        (lambda m, a: a + 2, lambda a: a + 2),
        (lambda m, a: 2 + a, lambda a: a + 2),
        (lambda m, a: a - 1.5, lambda a: a - 1.5),
        (lambda m, a: 1.5 - a, lambda a: 1.5 - a),
        (lambda m, a: a * 3, lambda a: a * 3),
        (lambda m, a: 3 * a, lambda a: a * 3),
        (lambda m, a: a / 4, lambda a: a / 4),
        (lambda m, a: a**2, np.square),
        (lambda m, a: a**3, lambda a: a**3),
        (lambda m, a: 3 * a**3 + 2 * a + 1, lambda a: 3 * a**3 + 2 * a + 1),
        (lambda m, a: -a, np.negative),
        (lambda m, a: a.abs(), np.abs),
        (lambda m, a: abs(a), np.abs),
        (lambda m, a: m.sin(a), np.sin),
        (lambda m, a: m.cos(a), np.cos),
        (lambda m, a: m.tanh(a), np.tanh),
        (lambda m, a: m.sigmoid(a), lambda a: 1 / (1 + np.exp(-a))),
        (lambda m, a: m.relu(a), lambda a: np.maximum(a, 0)),
        (lambda m, a: m.exp(a), np.exp),
        (lambda m, a: a.clamp(-1, 0.5), lambda a: np.clip(a, -1, 0.5)),
        (lambda m, a: a.clamp(min=-0.3), lambda a: np.maximum(a, -0.3)),
        (lambda m, a: a.clamp(max=0.3), lambda a: np.minimum(a, 0.3)),
        (lambda m, a: m.clamp(a, -0.5, 0.5) * a, lambda a: np.clip(a, -0.5, 0.5) * a),
        (lambda m, a: a * a, np.square),
        (lambda m, a: a + a, lambda a: 2 * a),
        (lambda m, a: a - a * 0.5, lambda a: a * 0.5),
        (lambda m, a: a / a.abs().clamp(min=0.5), lambda a: a / np.maximum(np.abs(a), 0.5)),
    ],
)
def test_unary(fn, ref):
    check(fn, (3, 4), ref=ref)


@pytest.mark.parametrize(
    "fn,ref",
    [
        (lambda m, a: m.sqrt(a), np.sqrt),
        (lambda m, a: m.rsqrt(a), lambda a: 1 / np.sqrt(a)),
        (lambda m, a: m.log(a), np.log),
        (lambda m, a: m.log1p(a), np.log1p),
        (lambda m, a: a**0.5, np.sqrt),
        (lambda m, a: a**-1.5, lambda a: a**-1.5),
        (lambda m, a: 2**a, lambda a: 2**a),
        (lambda m, a: 1 / a, lambda a: 1 / a),
    ],
)
def test_unary_positive(fn, ref):
    check(fn, (2, 5), ref=ref, positive=True)


@pytest.mark.parametrize("fn,ref", [
    (lambda m, a: a.sign(), np.sign),
    (lambda m, a: a.floor(), np.floor),
    (lambda m, a: a.ceil(), np.ceil),
    (lambda m, a: a.round(), np.round),
    (lambda m, a: a.trunc(), np.trunc),
    (lambda m, a: a % 0.7, lambda a: np.remainder(a, np.float32(0.7))),
])  # fmt: skip
def test_stepwise_ops_and_remainder(fn, ref):
    check(fn, (4, 5), ref=ref)


def test_remainder_tensor_gradients():
    check(lambda m, a, b: a % b, (3, 4), (4,), positive=True)


def test_floor_divide_has_no_gradient():
    check(lambda m, a: a // 0.7, (4, 5), ref=lambda a: np.floor_divide(a, np.float32(0.7)),
          grad=False)  # fmt: skip


@pytest.mark.parametrize("op", ["floor", "ceil", "round", "trunc", "sign"])
def test_stepwise_ops_have_zero_grad(op):
    x = nr.tensor([0.3, -1.7, 2.5], requires_grad=True)
    y = getattr(x, op)()
    y.sum().backward()
    assert y.requires_grad and x.grad.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("op", ["floor", "ceil", "round", "trunc"])
def test_stepwise_on_integers_copies(op):
    x = nr.tensor([1, -2])
    y = getattr(x, op)()
    assert y.dtype is nr.int64 and y.tolist() == [1, -2] and y._data is not x._data


def test_round_half_to_even():
    assert nr.tensor([0.5, 1.5, 2.5, -0.5]).round().tolist() == [0.0, 2.0, 2.0, -0.0]


@pytest.mark.parametrize("a,b", [([7, -7, 7, -7], [2, 2, -2, -2]), ([7.5, -7.5], [2.0, 2.0])])
@pytest.mark.parametrize("op", ["__floordiv__", "__mod__"])
@requires_torch
def test_floordiv_mod_signs_match_torch(a, b, op):
    n = getattr(nr.tensor(a), op)(nr.tensor(b))
    t = getattr(torch.tensor(a), op)(torch.tensor(b))
    assert n.tolist() == t.tolist() and str(n.dtype)[6:] == str(t.dtype)[6:]


@pytest.mark.parametrize("op", ["__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"])
@pytest.mark.parametrize("other", [0.5, "tensor", "row"])
def test_comparisons_give_bool(op, other):
    a = np.array([[0.2, 0.5, 0.9], [1.0, -1.0, 0.5]], dtype=np.float32)
    o = {"tensor": a[::-1].copy(), "row": a[0]}.get(other, other)
    x = nr.tensor(a)
    y = getattr(x, op)(nr.tensor(o) if isinstance(o, np.ndarray) else o)
    assert y.dtype is nr.bool and np.array_equal(y.numpy(), getattr(a, op)(o))


def test_logical_ops_on_bool():
    a, b = nr.tensor([True, True, False]), nr.tensor([True, False, False])
    assert (a & b).tolist() == [True, False, False]
    assert (a | b).tolist() == [True, True, False]
    assert (a ^ b).tolist() == [False, True, False]
    assert (~a).tolist() == [False, False, True]
    assert (~a).dtype is nr.bool


def test_bitwise_on_float_raises():
    with pytest.raises(TypeError):
        ~nr.tensor([1.0])


def test_maximum_ties_split_gradient():
    a = nr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = nr.tensor([1.0, 0.0, 5.0], requires_grad=True)
    nr.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 1.0, 0.0] and b.grad.tolist() == [0.5, 0.0, 1.0]


def test_relu_gradient_at_zero_is_zero():
    x = nr.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_abs_gradient_at_zero_is_zero():
    x = nr.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.abs().sum().backward()
    assert x.grad.tolist() == [-1.0, 0.0, 1.0]


def test_clamp_gradient_at_bounds_passes():
    x = nr.tensor([-1.0, 0.0, 1.0, 2.0], requires_grad=True)
    x.clamp(0.0, 1.0).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0]


def test_where_with_scalar_branches():
    x = nr.tensor([-1.0, 2.0], requires_grad=True)
    y = nr.where(x > 0, x, 0.0)
    y.sum().backward()
    assert y.tolist() == [0.0, 2.0] and x.grad.tolist() == [0.0, 1.0] and y.dtype is nr.float32


def test_where_needs_bool_condition():
    with pytest.raises(RuntimeError, match="boolean"):
        nr.where(nr.tensor([1.0]), nr.tensor([1.0]), nr.tensor([2.0]))


def test_sigmoid_is_stable_for_large_inputs():
    y = nr.tensor([-1000.0, 0.0, 1000.0]).sigmoid()
    assert y.tolist() == [0.0, 0.5, 1.0]


def test_pow_zero_base_exponent_gradient_is_zero():
    base = nr.tensor([0.0, 2.0], requires_grad=True)
    e = nr.tensor([2.0, 3.0], requires_grad=True)
    (base**e).sum().backward()
    assert e.grad.tolist()[0] == 0.0 and np.isclose(e.grad.tolist()[1], 8 * np.log(2))


def test_int_tensor_unary_float_ops_give_float32():
    x = nr.tensor([1, 4, 9])
    assert x.sqrt().dtype is nr.float32 and x.sqrt().tolist() == [1.0, 2.0, 3.0]
    assert x.exp().dtype is nr.float32 and nr.sigmoid(x).dtype is nr.float32


def test_int_division_is_true_division():
    y = nr.tensor([1, 2, 3]) / 2
    assert y.dtype is nr.float32 and y.tolist() == [0.5, 1.0, 1.5]
    assert (2 / nr.tensor([4])).tolist() == [0.5]


def test_float16_ops_stay_float16():
    x = nr.tensor([1.0, 2.0], dtype=nr.float16)
    for y in (x + 1, x * 2.5, x.exp(), x.sigmoid(), x / 3, x**2, x.sum(), x.mean()):
        assert y.dtype is nr.float16


def test_broadcast_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"\[3, 4\].*\[5\]"):
        nr.zeros(3, 4) + nr.zeros(5)


def test_unary_and_binary_on_noncontiguous():
    a = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    x = nr.tensor(a).t()
    assert np.array_equal((x * 2).numpy(), a.T * 2)
    assert np.array_equal(x.exp().numpy(), np.exp(a.T))


@requires_torch
def test_pow_exponent_gradient_negative_base_is_nan_like_torch():
    base = nr.tensor([-2.0, 0.0, 3.0])
    e = nr.tensor([2.0, 2.0, 2.0], requires_grad=True)
    (base**e).sum().backward()
    tb, te = torch.tensor([-2.0, 0.0, 3.0]), torch.tensor([2.0, 2.0, 2.0], requires_grad=True)
    (tb**te).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), te.grad.numpy(), equal_nan=True)


@pytest.mark.parametrize("mode", ["floor", "trunc"])
def test_div_rounding_modes(mode):
    check(lambda m, a, b: a.div(b, rounding_mode=mode), (3, 4), (4,), grad=False)
    check(lambda m, a: m.div(a, 0.3, rounding_mode=mode), (3, 4), grad=False)
    if torch is not None:
        torch_parity(lambda m, a, b: a.div(b, rounding_mode=mode), rand_arrays([(2, 3), (3,)]))
    x = nr.tensor([7, -7])
    assert x.div(2, rounding_mode=mode).tolist() == ([3, -4] if mode == "floor" else [3, -3])
    assert x.div(2, rounding_mode=mode).dtype is nr.int64


def test_div_bad_rounding_mode():
    with pytest.raises(ValueError, match="rounding_mode"):
        nr.ones(2).div(2, rounding_mode="round")


def test_comparison_with_none_is_plain_bool():
    x = nr.ones(2)
    assert (x == None) is False and (x != None) is True


@requires_torch
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum", "pow"])
def test_broadcasting_property_matches_torch(op):
    from hypothesis import given, settings
    from hypothesis.extra.numpy import mutually_broadcastable_shapes

    @settings(max_examples=15, deadline=None, derandomize=True)
    @given(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    def run(shapes):
        arrays = rand_arrays(shapes.input_shapes, positive=op in ("div", "pow"))
        torch_parity(lambda m, a, b: getattr(m, op)(a, b), arrays)

    run()


@requires_torch
@pytest.mark.parametrize("shape", [(7,), (3, 70000), (64, 32, 28, 28)])  # scalar, blocked, split
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_relu_blocked_and_split_paths_match_torch_with_special_values(shape, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    # NaN/inf inputs and gradients: a NaN output passes its gradient, a zeroed input blocks even
    # a NaN or inf gradient (PyTorch's threshold_backward)
    a.reshape(-1)[:7] = [-0.0, 0.0, np.nan, np.inf, -np.inf, 1.0, -2.0]
    g.reshape(-1)[:7] = [np.nan, np.inf, 1.0, 1.0, np.nan, 2.0, np.inf]
    if a.size > 70000:
        a.reshape(-1)[-5:] = [np.nan, -1.0, 3.0, -np.inf, 0.5]  # in the last piece too
        g.reshape(-1)[-5:] = [1.0, np.nan, 2.0, np.inf, 1.0]
    x = nr.from_numpy(a.copy()).requires_grad_(True)
    y = nr.relu(x)
    y.backward(nr.from_numpy(g.copy()))
    t = torch.from_numpy(a.copy()).requires_grad_(True)
    ty = torch.relu(t)
    ty.backward(torch.from_numpy(g.copy()))
    assert y.dtype == getattr(nr, dtype)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_relu_on_a_non_contiguous_input_and_gradient():
    base = nr.randn(300, 400, requires_grad=True)
    y = base.t().relu()  # a transposed view: not C-contiguous
    y.backward(nr.ones(800, 300)[::2].t().t())
    np.testing.assert_array_equal(base.grad.numpy(), (base.detach().numpy() > 0).astype("float32"))
