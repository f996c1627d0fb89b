"""nn.init and the layers' default initialisation: PyTorch's gains, fans and bounds, in place under
no_grad, reproducible from the engine generator."""

from __future__ import annotations

import math

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import DEVICE, requires_torch, to_np, torch
from nnrun.engine.nn import init


@requires_torch
@pytest.mark.parametrize(
    "args",
    [
        ("linear",),
        ("conv2d",),
        ("sigmoid",),
        ("tanh",),
        ("relu",),
        ("leaky_relu",),
        ("leaky_relu", 0.2),
        ("leaky_relu", 3),
        ("selu",),
    ],
)
def test_calculate_gain_matches_torch(args):
    assert init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args))


@requires_torch
@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5, 5), (6, 2, 7)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(
        nr.empty(shape)
    ) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


# (initialiser, kwargs, expected bound of a uniform draw or std of a normal draw for (300, 200))
FAN_IN, FAN_OUT = 200, 300
SCHEMES = [
    (init.kaiming_uniform_, {}, "bound", math.sqrt(2) * math.sqrt(3 / FAN_IN)),  # a=0: slope 0
    (init.kaiming_uniform_, {"a": math.sqrt(5)}, "bound", 1 / math.sqrt(FAN_IN)),
    (
        init.kaiming_uniform_,
        {"mode": "fan_out", "nonlinearity": "relu"},
        "bound",
        math.sqrt(2) * math.sqrt(3 / FAN_OUT),
    ),
    (init.kaiming_normal_, {"nonlinearity": "relu"}, "std", math.sqrt(2 / FAN_IN)),
    (
        init.kaiming_normal_,
        {"mode": "fan_out", "a": 0.1},
        "std",
        math.sqrt(2 / 1.01) / math.sqrt(FAN_OUT),
    ),
    (init.xavier_uniform_, {}, "bound", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (init.xavier_uniform_, {"gain": 2.0}, "bound", 2 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (init.xavier_normal_, {"gain": 0.5}, "std", 0.5 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    (init.uniform_, {"a": -0.3, "b": 0.3}, "bound", 0.3),
    (init.normal_, {"std": 0.02}, "std", 0.02),
]


@pytest.mark.parametrize("fn,kwargs,kind,value", SCHEMES)
def test_init_distribution(fn, kwargs, kind, value):
    w = nr.nn.Parameter(nr.empty(FAN_OUT, FAN_IN, device=DEVICE))
    assert fn(w, **kwargs) is w and w.requires_grad and w.grad_fn is None
    a = to_np(w)
    if kind == "bound":
        assert value * 0.99 < np.abs(a).max() <= value * (1 + 1e-6)  # float32 rounding
        assert abs(a.std() - value / math.sqrt(3)) < 0.02 * value
    else:
        assert abs(a.std() - value) < 0.02 * value and abs(a.mean()) < 0.02 * value


def test_constant_inits():
    w = nr.nn.Parameter(nr.empty(3, 2))
    assert to_np(init.ones_(w)).tolist() == [[1, 1]] * 3
    assert to_np(init.zeros_(w)).sum() == 0
    assert to_np(init.constant_(w, 0.25)).min() == 0.25


def test_init_uses_generator_and_manual_seed():
    g = nr.Generator().manual_seed(7)
    a = to_np(init.kaiming_uniform_(nr.empty(5, 4), generator=g)).copy()
    g.manual_seed(7)
    np.testing.assert_array_equal(a, to_np(init.kaiming_uniform_(nr.empty(5, 4), generator=g)))
    nr.manual_seed(11)
    first = [to_np(p).copy() for p in nr.nn.Linear(4, 3).parameters()]
    nr.manual_seed(11)
    for p, q in zip(first, nr.nn.Linear(4, 3).parameters()):
        np.testing.assert_array_equal(p, to_np(q))


def test_linear_default_init_bounds():
    lin = nr.nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (lin.weight, lin.bias):
        a = np.abs(to_np(p))
        assert a.max() <= bound and a.max() > 0.95 * bound
    assert abs(to_np(lin.weight).std() - bound / math.sqrt(3)) < 0.02 * bound


def test_layer_default_inits():
    bn = nr.nn.BatchNorm1d(4)
    assert to_np(bn.weight).tolist() == [1] * 4 and to_np(bn.bias).tolist() == [0] * 4
    assert to_np(bn.running_var).tolist() == [1] * 4 and bn.num_batches_tracked.item() == 0
    ln = nr.nn.LayerNorm(3)
    assert to_np(ln.weight).tolist() == [1] * 3 and to_np(ln.bias).tolist() == [0] * 3
    emb = to_np(nr.nn.Embedding(1000, 20).weight)
    assert abs(emb.std() - 1) < 0.02 and abs(emb.mean()) < 0.02


def test_zero_element_tensor_warns():
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(nr.empty(0, 3))


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: init.kaiming_uniform_(nr.empty(3, 4), mode="foo"),
            r"Mode foo not supported, please use one of \['fan_in', 'fan_out'\]",
        ),
        (lambda: init.calculate_gain("foo"), "Unsupported nonlinearity foo"),
        (lambda: init.calculate_gain("leaky_relu", "x"), "negative_slope x not a valid number"),
        (
            lambda: init.xavier_uniform_(nr.empty(3)),
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions",
        ),
    ],
)
def test_init_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
