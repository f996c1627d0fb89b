"""Autograd: backward, accumulation, retain_graph, freeing, deep graphs, grad modes, gradcheck."""

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import check
from nnrun.engine.autograd import Function, GradcheckError, gradcheck


def test_scalar_backward_and_gradient_argument():
    x = nr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]
    x.grad = None
    (x * 3).backward(nr.tensor([1.0, 0.0, 2.0]))
    assert x.grad.tolist() == [3.0, 0.0, 6.0]


def test_backward_non_scalar_without_gradient_raises():
    x = nr.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2).backward()


def test_backward_gradient_shape_mismatch_raises():
    x = nr.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(nr.ones(2))


def test_backward_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nr.ones(2).sum().backward()


def test_gradients_accumulate_until_zeroed():
    x = nr.tensor(2.0, requires_grad=True)
    for _ in range(3):
        (x * x).backward()
    assert x.grad.item() == 12.0
    x.grad.zero_()
    (x * 5).backward()
    assert x.grad.item() == 5.0


def test_second_backward_without_retain_graph_raises():
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]


def test_graph_is_freed_after_backward():
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    y = (h * x).sum()
    y.backward()
    assert not hasattr(h.grad_fn, "out") and not hasattr(y.grad_fn, "parents")


def test_chain_of_10000_ops_backprops():
    x = nr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert np.isclose(x.grad.item(), 1.0001**10_000, rtol=1e-3)


def test_wide_chain_of_10000_distinct_leaves():
    xs = [nr.tensor(float(i), requires_grad=True) for i in range(10_000)]
    total = xs[0]
    for x in xs[1:]:
        total = total + x * 2
    total.backward()
    assert xs[0].grad.item() == 1.0 and xs[-1].grad.item() == 2.0


def test_diamond_graph():
    x = nr.tensor(3.0, requires_grad=True)
    a = x * 2
    b = x.exp()
    y = a * b + a
    y.backward()
    assert np.isclose(x.grad.item(), 2 * np.exp(3) + 6 * np.exp(3) + 2)


@pytest.mark.parametrize(
    "fn,expected",
    [
        (lambda a: a + a, [2.0, 2.0]),
        (lambda a: a * a, [2.0, 4.0]),
        (lambda a: a - a, [0.0, 0.0]),
        (lambda a: (a + a) + (a + a), [4.0, 4.0]),
        (lambda a: a.reshape(2) + a, [2.0, 2.0]),
        (lambda a: a[0] + a[0] + a, [5.0, 1.0]),
    ],
)
def test_shared_pass_through_gradients(fn, expected):
    a = nr.tensor([1.0, 2.0], requires_grad=True)
    fn(a).sum().backward()
    assert a.grad.tolist() == expected


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_zero_dim_node_used_many_times(n):
    x = nr.tensor(1.5, requires_grad=True)
    y = x * 2
    z = y
    for _ in range(n - 1):
        z = z + y
    z.backward()
    assert x.grad.item() == 2.0 * n and z.item() == 3.0 * n


def test_leaf_grads_never_alias():
    a = nr.tensor([1.0, 2.0], requires_grad=True)
    b = nr.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.zero_()
    assert b.grad.tolist() == [1.0, 1.0]
    c = nr.tensor([1.0, 2.0], requires_grad=True)
    d = c * 1.0
    d.backward(g := nr.tensor([5.0, 6.0]))
    g.zero_()
    assert c.grad.tolist() == [5.0, 6.0]


def test_leaf_grad_does_not_alias_gradient_of_leaf_backward():
    a = nr.tensor([1.0, 2.0], requires_grad=True)
    g = nr.tensor([1.0, 1.0])
    a.backward(g)
    g.add_(1.0)
    assert a.grad.tolist() == [1.0, 1.0]


def test_expand_gradient_is_not_a_broadcast_view():
    a = nr.tensor([1.0], requires_grad=True)
    b = nr.tensor([2.0, 3.0], requires_grad=True)
    (a.expand(2) + b).sum().backward()
    a.grad.add_(1.0)
    assert a.grad.tolist() == [3.0] and b.grad.tolist() == [1.0, 1.0]


def test_no_grad_context_and_decorator():
    x = nr.ones(2, requires_grad=True)
    with nr.no_grad():
        assert not nr.is_grad_enabled()
        y = x * 2
        with nr.enable_grad():
            assert nr.is_grad_enabled()
            z = x * 2
    assert nr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and z.requires_grad

    @nr.no_grad()
    def f(t):
        return t * 3, nr.is_grad_enabled()

    out, mode = f(x)
    assert not out.requires_grad and mode is False and nr.is_grad_enabled()


def test_bare_decorators_and_enable_grad_decorator():
    x = nr.ones(2, requires_grad=True)

    @nr.no_grad
    def off(t):
        return t * 2

    @nr.enable_grad
    def on(t):
        return t * 2

    @nr.enable_grad()
    def on2(t):
        return t * 2

    assert not off(x).requires_grad and off.__name__ == "off"
    with nr.no_grad():
        assert on(x).requires_grad and on2(x).requires_grad
        assert not (x * 2).requires_grad


def test_no_grad_restores_mode_on_exception():
    with pytest.raises(ValueError), nr.no_grad():
        raise ValueError
    assert nr.is_grad_enabled()


def test_set_grad_enabled():
    with nr.set_grad_enabled(False):
        assert not nr.is_grad_enabled()
    assert nr.is_grad_enabled()


def test_detach_and_requires_grad_():
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d.requires_grad_()
    (d * 3).sum().backward()
    assert d.grad.tolist() == [3.0, 3.0] and x.grad is None


def test_detach_shares_memory():
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    d[0] = 9.0
    assert x[0].item() == 9.0


def test_requires_grad_on_non_leaf_false_raises():
    x = nr.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf variables"):
        (x * 2).requires_grad_(False)


def test_is_leaf_and_grad_fn():
    x = nr.ones(2, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.grad_fn.name() == "MulBackward0"
    assert nr.ones(2).is_leaf


def test_grad_only_reaches_requiring_leaves():
    a = nr.ones(2, requires_grad=True)
    b = nr.ones(2)
    (a * b).sum().backward()
    assert b.grad is None and a.grad.tolist() == [1.0, 1.0]


def test_autograd_grad_function():
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    (gx,) = nr.autograd.grad((x**3).sum(), x)
    assert gx.tolist() == [3.0, 12.0] and x.grad is None


class _WrongSquare(Function):
    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        return g * self.a  # should be 2 * a


class _Square(_WrongSquare):
    def backward(self, g):
        return 2 * g * self.a


def test_gradcheck_passes_right_and_catches_wrong_backward():
    x = nr.tensor(np.array([0.5, -1.5, 2.0]), dtype=nr.float64, requires_grad=True)
    assert gradcheck(_Square.apply, (x,))
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradcheck(_WrongSquare.apply, (x,))
    assert gradcheck(_WrongSquare.apply, (x,), raise_exception=False) is False


def test_gradcheck_requires_float64():
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda t: t * 2, (nr.ones(2, requires_grad=True),))


def test_custom_function_with_broadcast_gradient_is_reduced():
    class AddRow(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, g):
            return g, g

    a = nr.ones(3, 4, requires_grad=True)
    b = nr.ones(4, requires_grad=True)
    AddRow.apply(a, b).sum().backward()
    assert b.grad.shape == (4,) and b.grad.tolist() == [3.0] * 4


def test_function_constant_args_pass_through():
    class Scale(Function):
        def forward(self, a, k):
            self.k = k
            return a * k

        def backward(self, g):
            return g * self.k, None

    a = nr.ones(2, requires_grad=True)
    Scale.apply(a, 3.0).sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]


def test_composite_expression_matches_torch():
    def fn(m, x, w, b):
        h = (x @ w + b).relu()
        return (h.softmax(dim=1) * h.sigmoid()).sum(dim=1).log().mean()

    check(fn, (4, 3), (3, 5), (5,), low=0.1, high=1.0)
