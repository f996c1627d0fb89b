"""The seed cheat-sheet's examples, and manual_seed reproducibility."""

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import requires_torch, torch


def test_polynomial_gradient_prints_like_torch():
    x = nr.tensor(4.0, requires_grad=True)
    y = 3 * x**3 + 2 * x + 1
    y.backward()
    assert repr(x.grad) == "tensor(146.)" and str(x.grad) == "tensor(146.)"
    assert x.grad.item() == 146.0


def test_square_gradient():
    x = nr.tensor(3.0, requires_grad=True)
    (x**2).backward()
    assert x.grad.item() == 6.0 and repr(x.grad) == "tensor(6.)"


def test_image_batch_shapes():
    x = nr.randn(4, 3, 28, 28)
    assert x.view(4, -1).shape == (4, 2352)
    assert x.permute(0, 2, 3, 1).shape == (4, 28, 28, 3)
    assert x[:, 0, :, :].shape == (4, 28, 28)


def test_matmul_and_unsqueeze_squeeze_shapes():
    assert (nr.randn(32, 64) @ nr.randn(64, 128)).shape == (32, 128)
    assert nr.randn(8, 16).unsqueeze(0).unsqueeze(2).shape == (1, 8, 1, 16)
    assert nr.randn(3, 1, 5).squeeze().shape == (3, 5)
    v = nr.randn(100)
    assert v.unsqueeze(1).shape == (100, 1) and v.reshape(100, 1).shape == (100, 1)
    assert np.array_equal(v.unsqueeze(1).numpy(), v.reshape(100, 1).numpy())


def test_elementwise_vs_matrix_product():
    x, y = nr.randn(10, 5), nr.randn(10, 5)
    assert (x * y).shape == (10, 5)
    assert np.allclose((x * y).numpy(), x.numpy() * y.numpy())
    with pytest.raises(RuntimeError, match=r"10x5 and 10x5"):
        x @ y
    assert (x @ y.t()).shape == (10, 10) and (x.t() @ y).shape == (5, 5)


def test_accuracy_idiom():
    output = nr.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5], [0.2, 0.1, 0.9], [1.0, 2.0, 3.0]])
    y = nr.tensor([1, 0, 0, 2])
    preds = output.argmax(dim=1)
    acc = (preds == y).float().mean().item()
    assert preds.tolist() == [1, 0, 2, 2] and acc == 0.75 and isinstance(acc, float)


@requires_torch
def test_accuracy_idiom_matches_torch():
    rng = np.random.default_rng(0)
    out, y = rng.standard_normal((50, 10)).astype(np.float32), rng.integers(0, 10, 50)
    ours = (nr.tensor(out).argmax(dim=1) == nr.tensor(y)).float().mean().item()
    theirs = (torch.tensor(out).argmax(dim=1) == torch.tensor(y)).float().mean().item()
    assert ours == theirs


RANDOM_OPS = [
    lambda g: nr.rand(3, 4, generator=g), lambda g: nr.randn(5, generator=g),
    lambda g: nr.randint(0, 10, (6,), generator=g), lambda g: nr.randperm(8, generator=g),
    lambda g: nr.randn(3, dtype=nr.float64, generator=g),
    lambda g: nr.rand(2, dtype=nr.float16, generator=g),
    lambda g: nr.empty(4).uniform_(-1, 1, generator=g), lambda g: nr.empty(4).normal_(2, 3, generator=g),
    lambda g: nr.rand_like(nr.zeros(3)) if g is None else nr.rand(3, generator=g),
    lambda g: nr.randn_like(nr.zeros(3)) if g is None else nr.randn(3, generator=g),
]  # fmt: skip


@pytest.mark.parametrize("op", RANDOM_OPS)
def test_manual_seed_reproduces_every_random_op(op):
    nr.manual_seed(123)
    a = op(None).numpy().copy()
    b = op(None).numpy().copy()
    nr.manual_seed(123)
    c = op(None).numpy()
    assert np.array_equal(a, c) and a.dtype == c.dtype
    assert not np.array_equal(a, b) or a.size == 1
    g = nr.Generator().manual_seed(7)
    d = op(g).numpy().copy()
    g.manual_seed(7)
    assert np.array_equal(d, op(g).numpy())


def test_different_seeds_differ():
    nr.manual_seed(1)
    a = nr.randn(10).numpy()
    nr.manual_seed(2)
    assert not np.array_equal(a, nr.randn(10).numpy())


def test_rng_state_round_trip():
    nr.manual_seed(5)
    state = nr.get_rng_state()
    a = nr.rand(4).numpy()
    nr.rand(7)
    nr.set_rng_state(state)
    assert np.array_equal(a, nr.rand(4).numpy()) and state.dtype is nr.uint8
    assert nr.initial_seed() == 5


def test_generator_state_round_trip_and_bad_state():
    g = nr.Generator().manual_seed(3)
    s = g.get_state()
    x = nr.randn(3, generator=g).numpy()
    g.set_state(s)
    assert np.array_equal(x, nr.randn(3, generator=g).numpy())
    with pytest.raises(RuntimeError, match="invalid generator state"):
        g.set_state(b"not a state")


def test_dropout_style_mask_reproducible():
    nr.manual_seed(0)
    m1 = (nr.rand(100) > 0.5).tolist()
    nr.manual_seed(0)
    assert m1 == (nr.rand(100) > 0.5).tolist()
