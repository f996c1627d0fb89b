"""nn.functional: each function against NumPy/PyTorch with gradients (one line each), dropout's
statistics and reproducibility, in-place forms, one_hot, pad, and PyTorch's error messages."""

from __future__ import annotations

import math
import warnings

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import DEVICE, check, nr_tensors, rand_arrays, requires_torch, to_np, torch
from nnrun.engine.nn import _activations


def F(m):
    return m.nn.functional


def np_gelu(x):
    return x * 0.5 * np.vectorize(math.erfc)(-x / math.sqrt(2))  # no cancellation for x << 0


@pytest.mark.parametrize(
    "fn,ref",
    [
        (lambda m, x: F(m).relu(x), lambda x: np.maximum(x, 0)),
        (lambda m, x: F(m).leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
        (lambda m, x: F(m).leaky_relu(x), lambda x: np.where(x > 0, x, 0.01 * x)),
        (lambda m, x: F(m).elu(x), lambda x: np.where(x > 0, x, np.expm1(x))),
        (lambda m, x: F(m).elu(x, alpha=2.0), lambda x: np.where(x > 0, x, 2 * np.expm1(x))),
        (lambda m, x: F(m).gelu(x), np_gelu),
        (lambda m, x: F(m).gelu(x, approximate="tanh"), None),
        (lambda m, x: F(m).silu(x), lambda x: x / (1 + np.exp(-x))),
        (lambda m, x: F(m).sigmoid(x), lambda x: 1 / (1 + np.exp(-x))),
        (lambda m, x: F(m).tanh(x), np.tanh),
        (lambda m, x: F(m).softmax(x, dim=0), None),
        (lambda m, x: F(m).log_softmax(x, dim=-1), None),
    ],
)
def test_activation(fn, ref):
    check(fn, (3, 5), ref=ref, low=-4, high=4)


@pytest.mark.parametrize(
    "fn,shapes",
    [
        (lambda m, x, w, b: F(m).linear(x, w, b), [(4, 3), (2, 3), (2,)]),
        (lambda m, x, w: F(m).linear(x, w), [(2, 4, 3), (5, 3)]),
        (lambda m, x, w, b: F(m).layer_norm(x, (3,), w, b), [(4, 3), (3,), (3,)]),
        (lambda m, x: F(m).layer_norm(x, [2, 3], eps=1e-2), [(4, 2, 3)]),
        (
            lambda m, x, w, b: F(m).batch_norm(x, None, None, w, b, training=True),
            [(5, 3), (3,), (3,)],
        ),
        (
            lambda m, x, w: F(m).embedding(m.tensor([[0, 2], [2, 1]], device=x.device), w),
            [(1,), (3, 4)],
        ),
        (lambda m, x: F(m).pad(x, (1, 2)), [(2, 3)]),
        (lambda m, x: F(m).pad(x, (1, 0, 2, 1), value=0.5), [(2, 3, 4)]),
        (lambda m, x: F(m).pad(x, (-1, 2, 0, -1)), [(3, 4)]),
        (lambda m, x: F(m).dropout(x, 0.5, training=False), [(3, 4)]),
    ],
)
def test_functional(fn, shapes):
    check(fn, *shapes)


@requires_torch
def test_batch_norm_functional_updates_running_stats_like_torch():
    x = rand_arrays([(6, 3)])[0]
    stats = {}
    for m in (nr, torch):
        rm, rv = m.zeros(3, dtype=m.float64), m.ones(3, dtype=m.float64)
        out = F(m).batch_norm(m.tensor(x), rm, rv, training=True, momentum=0.3)
        out = F(m).batch_norm(m.tensor(x) + 1, rm, rv, training=False)
        stats[m.__name__] = [np.asarray(t) for t in (rm, rv, out.numpy())]
    for a, b in zip(*stats.values()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_erfc_fit_accuracy():
    z = np.linspace(0, 12, 20001)
    ref = np.array([math.erfc(v) for v in z])
    rel = np.abs(_activations.erfc_nonneg(z) - ref) / ref
    assert rel.max() < 1e-11
    x = np.linspace(-10, 10, 4001)
    gelu = x * _activations.normal_cdf(x)
    np.testing.assert_allclose(gelu, np_gelu(x), rtol=1e-11, atol=1e-300)


def test_dropout_scales_kept_and_zeroes_about_p():
    x = nr.ones(200, 100, device=DEVICE)
    out = to_np(F(nr).dropout(x, 0.3))
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    assert out.dtype == np.float32


def test_dropout_gradient_is_the_scaled_mask():
    x = nr.randn(50, 20, device=DEVICE, requires_grad=True)
    out = F(nr).dropout(x, 0.4)
    out.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), (to_np(out) != 0) / 0.6, rtol=1e-6)


def test_dropout_is_reproducible_with_manual_seed_and_generator():
    x = nr.ones(10, 10, device=DEVICE)
    nr.manual_seed(5)
    a = to_np(F(nr).dropout(x))
    nr.manual_seed(5)
    b = to_np(F(nr).dropout(x))
    c = to_np(F(nr).dropout(x))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    g1, g2 = nr.Generator(DEVICE).manual_seed(1), nr.Generator(DEVICE).manual_seed(1)
    np.testing.assert_array_equal(
        to_np(F(nr).dropout(x, generator=g1)), to_np(F(nr).dropout(x, generator=g2))
    )


def test_dropout_edge_probabilities_and_eval_identity():
    x = nr.randn(4, 4, device=DEVICE, requires_grad=True)
    assert F(nr).dropout(x, 0.0) is x and F(nr).dropout(x, 0.9, training=False) is x
    assert not np.any(to_np(F(nr).dropout(x, 1.0)))
    drop = nr.nn.Dropout(0.5).eval()
    assert drop(x) is x


@pytest.mark.parametrize(
    "fn",
    [
        F(nr).relu,
        F(nr).silu,
        lambda x, inplace: F(nr).leaky_relu(x, 0.2, inplace),
        lambda x, inplace: F(nr).elu(x, 1.0, inplace),
    ],
)
def test_inplace_activation_overwrites_input_and_keeps_gradient(fn):
    a = rand_arrays([(3, 4)])[0]
    ref_in = nr.tensor(a, device=DEVICE, requires_grad=True)
    fn(ref_in, False).sum().backward()
    leaf = nr.tensor(a, device=DEVICE, requires_grad=True)
    x = leaf * 1
    out = fn(x, inplace=True)
    assert out is x
    np.testing.assert_allclose(to_np(x), to_np(fn(nr.tensor(a, device=DEVICE), False)))
    out.sum().backward()
    np.testing.assert_allclose(to_np(leaf.grad), to_np(ref_in.grad), rtol=1e-6)


def test_inplace_on_leaf_requiring_grad_is_an_error():
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        nr.nn.ReLU(inplace=True)(nr.ones(2, requires_grad=True))


def test_softmax_without_dim_warns_and_picks_torch_dim():
    x = nr.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = nr.nn.Softmax()(x)
    np.testing.assert_allclose(to_np(out.sum(1)), 1, rtol=1e-6)


def test_one_hot():
    out = F(nr).one_hot(nr.tensor([[0, 2], [1, 0]]))
    assert out.dtype is nr.int64 and out.shape == (2, 2, 3)
    assert out.tolist() == [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [1, 0, 0]]]
    assert F(nr).one_hot(nr.tensor([1]), num_classes=4).tolist() == [[0, 1, 0, 0]]


def test_embedding_backward_accumulates_repeated_indices():
    w = nr.randn(4, 2, device=DEVICE, requires_grad=True)
    F(nr).embedding(nr.tensor([3, 3, 0, 3], device=DEVICE), w).sum().backward()
    np.testing.assert_array_equal(to_np(w.grad), [[1, 1], [0, 0], [0, 0], [3, 3]])


def test_functional_keeps_float64():
    (x,) = nr_tensors(rand_arrays([(3, 4)]))
    for fn in (F(nr).gelu, F(nr).silu, F(nr).elu, lambda t: F(nr).dropout(t, 0.2)):
        assert fn(x).dtype is nr.float64


def _raise(fn, lib):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(lib)
    except Exception as e:  # noqa: BLE001 - the exception is what is compared
        return type(e).__name__, str(e).replace("torch.", "nnrun.")
    return None


ERRORS = [
    lambda m: F(m).gelu(m.zeros(2), approximate="foo"),
    lambda m: F(m).dropout(m.zeros(2), 1.5),
    lambda m: m.nn.Dropout(-0.1),
    lambda m: F(m).linear(m.zeros(3, 4), m.zeros(2, 5)),
    lambda m: F(m).one_hot(m.tensor([0, 3]), 3),
    lambda m: F(m).one_hot(m.tensor([0, -1]), 3),
    lambda m: F(m).one_hot(m.tensor([0.0, 1.0])),
    lambda m: F(m).embedding(m.tensor([0, 5]), m.zeros(3, 2)),
    lambda m: F(m).embedding(m.tensor([0.0, 1.0]), m.zeros(3, 2)),
    lambda m: m.nn.Embedding(3, 2, padding_idx=5),
    lambda m: F(m).layer_norm(m.zeros(3, 4), (5,)),
    lambda m: F(m).pad(m.zeros(3, 4), (1, 2, 3)),
    lambda m: F(m).pad(m.zeros(3, 4), (1, 2), mode="foo"),
    lambda m: m.nn.Flatten()(m.zeros(3)),
    lambda m: m.nn.Sequential(m.nn.ReLU())[3],
    lambda m: m.nn.ModuleList([m.nn.ReLU()])[-2],
    lambda m: m.nn.Sequential(1),
    lambda m: m.nn.BatchNorm1d(3)(m.zeros(2, 4)),
]


@requires_torch
@pytest.mark.parametrize("fn", ERRORS)
def test_error_matches_torch(fn):
    expected = _raise(fn, torch)
    assert expected is not None and _raise(fn, nr) == expected


def test_conv_and_pool_are_reexported():
    from nnrun.engine.nn import _conv, _pool

    f = F(nr)
    assert (f.conv1d, f.conv2d) == (_conv.conv1d, _conv.conv2d)
    assert (f.max_pool2d, f.avg_pool2d, f.adaptive_avg_pool2d) == (
        _pool.max_pool2d,
        _pool.avg_pool2d,
        _pool.adaptive_avg_pool2d,
    )
    assert nr.nn.Conv2d(1, 2, 3).weight.shape == (2, 1, 3, 3)
    assert nr.nn.MaxPool2d(2)(nr.ones(1, 1, 4, 4)).shape == (1, 1, 2, 2)
