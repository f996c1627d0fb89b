"""Losses, module and functional forms: values and gradients against PyTorch (float32 and float64),
finite differences in float64, float32 kept, PyTorch's validation messages."""

from __future__ import annotations

import warnings

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import DEVICE, check, requires_torch, requires_torch_strings, to_np, torch

REDUCTIONS = ["none", "mean", "sum"]
IDX = np.array([1, 0, 3, 3, 2])
IDX_IGNORED = np.array([1, -100, 3, -100, 2])
IDX_2D = np.array([[0, 3, 1], [2, 2, -100]])
W = np.array([0.5, 2.0, 1.0, 1.5])


def F(m):
    return m.nn.functional


def const(m, a, like):
    """A constant (no grad) tensor of ``like``'s dtype and device, in library ``m``."""
    return m.tensor(a, dtype=like.dtype if a.dtype.kind == "f" else None, device=like.device)


# (id, fn(m, reduction, *inputs), input shapes, options for `check`)
POINTWISE = [
    ("mse", lambda m, r, x, t: m.nn.MSELoss(reduction=r)(x, t), {}),
    ("l1", lambda m, r, x, t: F(m).l1_loss(x, t, reduction=r), {}),
    ("huber", lambda m, r, x, t: m.nn.HuberLoss(reduction=r, delta=0.7)(x, t), {}),
    ("huber_2", lambda m, r, x, t: F(m).huber_loss(x, t, reduction=r, delta=2.0), {}),
    ("smooth_l1", lambda m, r, x, t: m.nn.SmoothL1Loss(reduction=r, beta=0.6)(x, t), {}),
    ("smooth_l1_beta0", lambda m, r, x, t: F(m).smooth_l1_loss(x, t, reduction=r, beta=0.0), {}),
    ("bce", lambda m, r, x, t: m.nn.BCELoss(reduction=r)(x, t), {"low": 0.05, "high": 0.95}),
    (
        "bce_weight",
        lambda m, r, x, t: F(m).binary_cross_entropy(
            x, t, weight=const(m, np.array([0.5, 1.0, 2.0]), x), reduction=r
        ),
        {"low": 0.05, "high": 0.95},
    ),
    ("bce_logits", lambda m, r, x, t: m.nn.BCEWithLogitsLoss(reduction=r)(x, t), {}),
    (
        "bce_logits_weights",
        lambda m, r, x, t: m.nn.BCEWithLogitsLoss(
            weight=const(m, np.array([[0.5], [1.0], [2.0], [1.0]]), x),
            reduction=r,
            pos_weight=const(m, np.array([3.0, 0.5, 1.0]), x),
        )(x, t),
        {},
    ),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,opts", POINTWISE, ids=[p[0] for p in POINTWISE])
def test_pointwise_loss(name, fn, opts, reduction):
    # input and target both get gradients, as in PyTorch
    check(lambda m, x, t: fn(m, reduction, x, t), (4, 3), (4, 3), **opts)


# class-index targets: fn(m, reduction, x) with the targets built inside
CLASS_LOSSES = [
    ("ce", lambda m, r, x: m.nn.CrossEntropyLoss(reduction=r)(x, const(m, IDX, x)), (5, 4)),
    (
        "ce_weight",
        lambda m, r, x: F(m).cross_entropy(x, const(m, IDX, x), const(m, W, x), reduction=r),
        (5, 4),
    ),
    (
        "ce_ignore",
        lambda m, r, x: F(m).cross_entropy(
            x, const(m, IDX_IGNORED, x), const(m, W, x), reduction=r
        ),
        (5, 4),
    ),
    (
        "ce_ignore_index_3",
        lambda m, r, x: m.nn.CrossEntropyLoss(ignore_index=3, reduction=r)(x, const(m, IDX, x)),
        (5, 4),
    ),
    (
        "ce_smoothing",
        lambda m, r, x: m.nn.CrossEntropyLoss(label_smoothing=0.2, reduction=r)(
            x, const(m, IDX_IGNORED, x)
        ),
        (5, 4),
    ),
    (
        "ce_smoothing_weight",
        lambda m, r, x: F(m).cross_entropy(
            x, const(m, IDX_IGNORED, x), const(m, W, x), reduction=r, label_smoothing=0.3
        ),
        (5, 4),
    ),
    (
        "ce_kdim",
        lambda m, r, x: F(m).cross_entropy(
            x, const(m, IDX_2D, x), const(m, W, x), reduction=r, label_smoothing=0.1
        ),
        (2, 4, 3),
    ),
    (
        "ce_4d",
        lambda m, r, x: F(m).cross_entropy(
            x, const(m, IDX_2D.reshape(2, 3, 1) % 4, x), reduction=r
        ),
        (2, 4, 3, 1),
    ),
    (
        "ce_unbatched",
        lambda m, r, x: F(m).cross_entropy(x, const(m, np.array(2), x), reduction=r),
        (4,),
    ),
    ("nll", lambda m, r, x: m.nn.NLLLoss(reduction=r)(x, const(m, IDX, x)), (5, 4)),
    (
        "nll_weight_ignore",
        lambda m, r, x: m.nn.NLLLoss(weight=const(m, W, x), reduction=r)(
            x, const(m, IDX_IGNORED, x)
        ),
        (5, 4),
    ),
    (
        "nll_kdim",
        lambda m, r, x: F(m).nll_loss(x, const(m, IDX_2D, x), const(m, W, x), reduction=r),
        (2, 4, 3),
    ),
    (
        "nll_of_log_softmax",
        lambda m, r, x: F(m).nll_loss(F(m).log_softmax(x, 1), const(m, IDX, x), reduction=r),
        (5, 4),
    ),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,shape", CLASS_LOSSES, ids=[c[0] for c in CLASS_LOSSES])
def test_class_index_loss(name, fn, shape, reduction):
    check(lambda m, x: fn(m, reduction, x), shape)


PROB_LOSSES = [
    ("plain", {}),
    ("weight", {"weight": W}),
    ("smoothing", {"label_smoothing": 0.25}),
    ("both", {"weight": W, "label_smoothing": 0.1}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3)])
@pytest.mark.parametrize("name,kw", PROB_LOSSES, ids=[p[0] for p in PROB_LOSSES])
def test_cross_entropy_probability_targets(name, kw, shape, reduction):
    def fn(m, x, t):
        kwargs = {k: const(m, v, x) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        return F(m).cross_entropy(x, F(m).softmax(t, 1), reduction=reduction, **kwargs)

    check(fn, shape, shape)


@requires_torch
@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_cross_entropy_and_bce_logits_are_stable_for_large_logits(scale):
    x = np.array([[1.0, -1.0, 0.5], [-2.0, 3.0, 0.0]]) * scale
    n_ce = F(nr).cross_entropy(nr.tensor(x, device=DEVICE), nr.tensor([0, 2], device=DEVICE))
    t_ce = F(torch).cross_entropy(torch.tensor(x, dtype=torch.float32), torch.tensor([0, 2]))
    np.testing.assert_allclose(n_ce.item(), t_ce.item(), rtol=1e-6)
    t = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=np.float32)
    n_bce = F(nr).binary_cross_entropy_with_logits(
        nr.tensor(x, device=DEVICE), nr.tensor(t, device=DEVICE)
    )
    t_bce = F(torch).binary_cross_entropy_with_logits(
        torch.tensor(x, dtype=torch.float32), torch.tensor(t)
    )
    assert np.isfinite(n_bce.item())
    np.testing.assert_allclose(n_bce.item(), t_bce.item(), rtol=1e-6)


def test_cross_entropy_is_one_fused_node():
    x = nr.randn(4, 3, requires_grad=True, device=DEVICE)
    loss = nr.nn.CrossEntropyLoss()(x, nr.tensor([0, 1, 2, 0], device=DEVICE))
    assert loss.grad_fn.name() == "CrossEntropyBackward0"
    assert loss.grad_fn.next_functions[0][0] is None  # directly on the leaf input
    loss.backward()
    p = to_np(F(nr).softmax(x.detach(), 1))
    p[np.arange(4), [0, 1, 2, 0]] -= 1
    np.testing.assert_allclose(to_np(x.grad), p / 4, rtol=1e-5, atol=1e-7)  # softmax - onehot


@requires_torch
def test_all_ignored_mean_is_nan_like_torch():
    x = np.zeros((2, 3), dtype=np.float32)
    n = F(nr).cross_entropy(nr.tensor(x), nr.tensor([-100, -100]))
    t = F(torch).cross_entropy(torch.tensor(x), torch.tensor([-100, -100]))
    assert np.isnan(n.item()) and np.isnan(t.item())


@requires_torch
def test_bce_log_clamp_matches_torch():
    x, t = np.array([0.0, 1.0, 0.5], dtype=np.float32), np.array([1.0, 0.0, 1.0], np.float32)
    n = F(nr).binary_cross_entropy(nr.tensor(x), nr.tensor(t), reduction="none")
    np.testing.assert_allclose(to_np(n), [100.0, 100.0, np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(
        to_np(n),
        F(torch).binary_cross_entropy(torch.tensor(x), torch.tensor(t), reduction="none").numpy(),
        rtol=1e-6,
    )


def test_loss_modules_register_weights_as_buffers():
    loss = nr.nn.CrossEntropyLoss(weight=nr.ones(3))
    assert list(loss.state_dict()) == ["weight"]
    assert list(nr.nn.BCEWithLogitsLoss(pos_weight=nr.ones(2)).state_dict()) == ["pos_weight"]
    assert repr(nr.nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


def test_mse_size_mismatch_warns_and_broadcasts():
    with pytest.warns(
        UserWarning,
        match=r"Using a target size \(nnrun.Size\(\[3, 1\]\)\) that "
        r"is different to the input size",
    ):
        out = F(nr).mse_loss(nr.zeros(3, 4), nr.ones(3, 1))
    assert out.item() == 1.0


def test_legacy_size_average_maps_to_reduction():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = nr.nn.MSELoss(size_average=False)
    assert loss.reduction == "sum" and "reduction='sum'" in str(caught[0].message)


def _raise(fn, lib):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(lib)
    except Exception as e:  # noqa: BLE001 - the exception is what is compared
        return type(e).__name__, str(e).replace("torch.Size", "nnrun.Size")
    return None


ERRORS = [
    lambda m: F(m).mse_loss(m.zeros(2), m.zeros(2), reduction="avg"),
    lambda m: F(m).cross_entropy(m.zeros(3, 4), m.tensor([0, 1, 5])),
    lambda m: F(m).cross_entropy(m.zeros(3, 4), m.tensor([0, -3, 1])),
    lambda m: F(m).nll_loss(m.zeros(3, 4), m.tensor([0, 1, 9])),
    lambda m: F(m).cross_entropy(m.zeros(3, 4), m.tensor([0, 1])),
    lambda m: F(m).cross_entropy(m.zeros(2, 4, 5), m.zeros(2, 4, dtype=m.int64)),
    lambda m: F(m).cross_entropy(m.zeros(3, 4), m.tensor([0, 1, 2], dtype=m.int32)),
    lambda m: F(m).cross_entropy(m.zeros(3, 4), m.tensor([0.0, 1.0, 2.0])),
    lambda m: F(m).cross_entropy(m.zeros(3, 4), m.zeros(3, 5)),
    lambda m: F(m).cross_entropy(m.zeros(3, 4), m.tensor([0, 1, 2]), weight=m.ones(3)),
    lambda m: F(m).cross_entropy(m.zeros(3, 4), m.tensor([0, 1, 2]), label_smoothing=1.5),
    lambda m: F(m).nll_loss(m.zeros(3), m.tensor([0, 1, 2])),
    lambda m: F(m).huber_loss(m.zeros(2), m.zeros(2), delta=-1.0),
    lambda m: F(m).smooth_l1_loss(m.zeros(2), m.zeros(2), beta=-1.0),
    lambda m: F(m).binary_cross_entropy(m.zeros(3), m.zeros(3, 1)),
    lambda m: F(m).binary_cross_entropy(m.ones(3) * 2, m.zeros(3)),
    lambda m: F(m).binary_cross_entropy_with_logits(m.zeros(3), m.zeros(3, 1)),
]


@requires_torch_strings
@pytest.mark.parametrize("fn", ERRORS)
def test_error_matches_torch(fn):
    expected = _raise(fn, torch)
    assert expected is not None and _raise(fn, nr) == expected
