"""PyTorch returns inf/nan without a word where NumPy prints ``RuntimeWarning: divide by zero``,
``invalid value`` or ``overflow``: nnrun must be as silent, in forward and backward, give
PyTorch's values (nan and inf in the same places), and leave the user's own NumPy error state
as it was."""

from __future__ import annotations

import math
import warnings

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import DEVICE, requires_torch, to_np, torch
from nnrun.engine.ops.reduce import quiet

INF, NAN = math.inf, math.nan
V = [-2.0, -1.0, -0.0, 0.0, 1e-30, 0.5, 1.0, 2.0, 1e30, 3e38, INF, -INF, NAN]
R = V[::-1]
ROWS = [[-INF, -INF], [INF, 1.0], [INF, INF], [NAN, 1.0], [3e38, 3e38], [1.0, -INF]]


class Leaves:
    """Makes a case's input tensors for one library (nnrun or torch) and keeps the ones that
    require grad, to compare their gradients. On CUDA PyTorch runs there too: its CUDA kernels
    differ from its CPU ones (a float32 cumsum adds in float32 there, in float64 on the CPU)."""

    def __init__(self, m):
        self.m, self.kw, self.leaves = m, {"device": DEVICE}, []

    def __call__(self, data, dtype="float32", grad=True):
        t = self.m.tensor(data, dtype=getattr(self.m, dtype), requires_grad=grad, **self.kw)
        if grad:
            self.leaves.append(t)
        return t

    def index(self, data):
        return self.m.tensor(data, **self.kw)

    @property
    def F(self):
        return self.m.nn.functional


# name -> fn(m, t): m is nnrun.engine or torch, t makes the inputs
CASES = {
    # element-wise
    "log": lambda m, t: m.log(t(V)),
    "log1p": lambda m, t: m.log1p(t(V + [-2.0])),
    "sqrt": lambda m, t: m.sqrt(t(V)),
    "rsqrt": lambda m, t: m.rsqrt(t(V)),
    "exp": lambda m, t: m.exp(t(V + [1000.0])),
    "sin": lambda m, t: m.sin(t(V)),
    "cos": lambda m, t: m.cos(t(V)),
    "tanh": lambda m, t: m.tanh(t(V)) * t([INF] * len(V), grad=False),
    "sigmoid": lambda m, t: m.sigmoid(t(V)) * t([INF] * len(V), grad=False),
    "abs": lambda m, t: m.abs(t(V)),
    "sign": lambda m, t: m.sign(t(V, grad=False)),
    "mul-overflow": lambda m, t: t(V) * 1e30,
    "mul": lambda m, t: t(V) * t(R),
    "add-overflow": lambda m, t: t(V) + 3e38,
    "add": lambda m, t: t(V) + t(R),
    "sub": lambda m, t: t(V) - t(R),
    "div-by-zero": lambda m, t: t(V) / 0,
    "div": lambda m, t: t(V) / t(R),
    "rdiv": lambda m, t: 1 / t(V),
    "pow-1": lambda m, t: t(V).pow(-1),
    "pow0.5": lambda m, t: t(V).pow(0.5),
    "pow2": lambda m, t: t(V).pow(2),
    "pow3": lambda m, t: t(V).pow(3),
    "pow-2": lambda m, t: t(V).pow(-2),
    "pow-0.5": lambda m, t: t(V).pow(-0.5),
    "pow0": lambda m, t: t(V).pow(0),
    "pow-tensor": lambda m, t: t(V).pow(t(R)),
    "pow-zero-exponent": lambda m, t: t([0.0, 2.0, INF]).pow(t([0.0, 0.0, 0.0])),
    "rpow": lambda m, t: 2.0 ** t(V),
    "maximum": lambda m, t: m.maximum(t(V), t(R)),
    "minimum": lambda m, t: m.minimum(t(V), t(R)),
    "clamp": lambda m, t: t(V).clamp(-1, 1) * t([INF] * len(V), grad=False),
    "remainder": lambda m, t: m.remainder(t(V), t(R)),
    "remainder-by-zero": lambda m, t: m.remainder(t(V), 0.0),
    "floor-divide-by-zero": lambda m, t: m.floor_divide(t(V, grad=False), 0.0),
    "div-floor": lambda m, t: m.div(t(V, grad=False), 0.0, rounding_mode="floor"),
    "div-trunc": lambda m, t: m.div(t(V, grad=False), 0.0, rounding_mode="trunc"),
    "round-decimals": lambda m, t: t([3e38, -3e38, 1.5]).round(decimals=2),
    "to-float16": lambda m, t: t(V).half(),
    "float64-to-float16": lambda m, t: t([1e5, 7e4, 1e-10], "float64").to(m.float16),
    "float16-mul": lambda m, t: t([60000.0, 1.0], "float16") * 2,
    "float16-add": lambda m, t: t([60000.0, 1.0], "float16") + t([60000.0, 1.0], "float16"),
    # reductions
    "sum-overflow": lambda m, t: t([3e38, 3e38, 1.0]).sum(),
    "sum-inf-minus-inf": lambda m, t: t([INF, -INF, 1.0]).sum(),
    "sum-dim": lambda m, t: t([[3e38, 3e38], [INF, -INF]]).sum(1),
    "mean-overflow": lambda m, t: t([3e38, 3e38, 1.0]).mean(),
    "mean-inf": lambda m, t: t([INF, -INF]).mean(),
    "mean-empty": lambda m, t: t([]).mean(),
    "mean-empty-dim": lambda m, t: t(np.zeros((0, 3))).mean(0),
    "var-one-element": lambda m, t: t([1.0]).var(),
    "std-one-element": lambda m, t: t([1.0]).std(),
    "std-constant": lambda m, t: t([1.0, 1.0]).std(),
    "std-dim-constant": lambda m, t: t([[1.0, 1.0], [1.0, 2.0]]).std(1),
    "var-inf": lambda m, t: t([INF, 1.0]).var(),
    "std-inf": lambda m, t: t([INF, 1.0]).std(),
    "var-overflow": lambda m, t: t([3e38, -3e38]).var(),
    "var-empty": lambda m, t: t([]).var(),
    "std-empty": lambda m, t: t([]).std(),
    "prod-overflow": lambda m, t: t([1e30, 1e30, 0.0]).prod(),
    "prod-inf-times-zero": lambda m, t: t([INF, 0.0, 1.0]).prod(),
    "prod-dim": lambda m, t: t([[1e30, 1e30], [INF, 0.0]]).prod(1),
    "cumsum": lambda m, t: m.cumsum(t([3e38, 3e38, -INF, INF]), 0),
    "cumsum-float32-accumulates-in-float64": lambda m, t: m.cumsum(t([1e8, 1.0, -1e8]), 0),
    "cumsum-float16": lambda m, t: m.cumsum(t([60000.0, 60000.0, -60000.0], "float16"), 0),
    "max-nan": lambda m, t: t([1.0, NAN, 2.0, NAN]).max(),
    "min-nan": lambda m, t: t([1.0, NAN, 2.0]).min(),
    "max-inf-grad": lambda m, t: t([INF, 1.0]).max() * INF,
    "amax-nan": lambda m, t: m.amax(t([[1.0, NAN], [2.0, 3.0]]), 1),
    "max-dim-nan": lambda m, t: t([[1.0, NAN], [2.0, 3.0]]).max(1)[0],
    "logsumexp": lambda m, t: m.logsumexp(t(ROWS), 1),
    "logsumexp-empty": lambda m, t: m.logsumexp(t(np.zeros((2, 0))), 1),
    "softmax": lambda m, t: m.softmax(t(ROWS), 1),
    "log-softmax": lambda m, t: m.log_softmax(t(ROWS), 1),
    "F.softmax": lambda m, t: t.F.softmax(t(ROWS), dim=1),
    # losses
    "bce-at-0-and-1": lambda m, t: t.F.binary_cross_entropy(
        t([0.0, 1.0, 0.5, 0.0, 1.0]), t([0.0, 1.0, 0.5, 1.0, 0.0])
    ),
    "bce-none": lambda m, t: t.F.binary_cross_entropy(
        t([0.0, 1.0, 0.5, 0.0, 1.0]), t([0.0, 1.0, 0.5, 1.0, 0.0]), reduction="none"
    ),
    "bce-logits-inf": lambda m, t: t.F.binary_cross_entropy_with_logits(
        t([INF, -INF, 0.0, 100.0, -100.0, NAN]),
        t([1.0, 0.0, 0.5, 0.0, 1.0, 1.0]),
        reduction="none",
    ),
    "bce-logits-inf-pos-weight": lambda m, t: t.F.binary_cross_entropy_with_logits(
        t([INF, -INF, 3.0]), t([1.0, 0.0, 1.0]), pos_weight=t([2.0, 2.0, 2.0], grad=False)
    ),
    "nll-inf": lambda m, t: t.F.nll_loss(
        t([[-INF, 0.0], [INF, 1.0], [NAN, 1.0]]), t.index([0, 0, 1])
    ),
    "nll-inf-none": lambda m, t: t.F.nll_loss(
        t([[-INF, 0.0], [INF, 1.0], [NAN, 1.0]]), t.index([0, 0, 1]), reduction="none"
    ),
    "nll-all-ignored": lambda m, t: t.F.nll_loss(
        t([[-1.0, 0.0], [1.0, 1.0]]), t.index([-100, -100])
    ),
    "nll-ignored-inf-row": lambda m, t: t.F.nll_loss(
        t([[-INF, 0.0], [1.0, 2.0]]), t.index([-100, 0]), reduction="none"
    ),
    "ce-inf": lambda m, t: t.F.cross_entropy(t(ROWS), t.index([0, 0, 1, 0, 1, 1])),
    "ce-inf-none": lambda m, t: t.F.cross_entropy(
        t(ROWS), t.index([0, 0, 1, 0, 1, 1]), reduction="none"
    ),
    "ce-inf-label-smoothing": lambda m, t: t.F.cross_entropy(
        t([[-INF, 0.0], [INF, 1.0]]), t.index([0, 0]), label_smoothing=0.1
    ),
    "ce-all-ignored": lambda m, t: t.F.cross_entropy(
        t([[-1.0, 0.0], [1.0, 1.0]]), t.index([-100, -100])
    ),
    "ce-zero-weight": lambda m, t: t.F.cross_entropy(
        t([[-1.0, 0.0], [1.0, 1.0]]), t.index([1, 1]), weight=t([1.0, 0.0], grad=False)
    ),
    "ce-ignored-inf-row": lambda m, t: t.F.cross_entropy(
        t([[-1.0, -INF], [1.0, 2.0]]), t.index([-100, 0]), reduction="none"
    ),
    "ce-probabilities-inf": lambda m, t: t.F.cross_entropy(
        t([[-INF, 0.0], [INF, 1.0]]), t([[0.5, 0.5], [1.0, 0.0]])
    ),
    "mse-inf": lambda m, t: t.F.mse_loss(t([INF, 3e38, -INF]), t([INF, -3e38, 1.0])),
    "l1-inf": lambda m, t: t.F.l1_loss(t([INF, 3e38, -INF]), t([INF, -3e38, 1.0])),
    "huber-inf": lambda m, t: t.F.huber_loss(t([INF, 3e38, -INF]), t([INF, -3e38, 1.0])),
    "smooth-l1-inf": lambda m, t: t.F.smooth_l1_loss(t([INF, 3e38, -INF]), t([INF, -3e38, 1.0])),
    "mse-empty": lambda m, t: t.F.mse_loss(t([]), t([])),
    # functional
    "embedding-max-norm-inf-row": lambda m, t: t.F.embedding(
        t.index([0, 1]), t([[INF, 1.0], [3.0, 4.0]], grad=False), max_norm=1.0
    ),
    "dropout-p1-inf": lambda m, t: t.F.dropout(t([INF, NAN, 1.0]), p=1.0),
}

# Silent, but the values are the platform's float -> int conversion of nan/inf (not compared)
SILENT_ONLY = {
    "nan-to-int64": lambda m, t: t(V, grad=False).long(),
    "nan-to-int32": lambda m, t: t(V, grad=False).int(),
    "nan-to-uint8": lambda m, t: t(V, grad=False).to(m.uint8),
}


# PyTorch's own warnings (its values stay silent): nnrun gives the same
_DOF = (
    "{}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction "
    "factor (input numel divided by output numel)."
)
EXPECTED = {
    "var-one-element": [_DOF.format("var")],
    "std-one-element": [_DOF.format("std")],
    "var-empty": [_DOF.format("var")],
    "std-empty": [_DOF.format("std")],
}


def _message(w):
    return str(w.message).split(" (Triggered internally at")[0]


def _host(t):
    return to_np(t).copy() if isinstance(t, nr.Tensor) else t.cpu().numpy()


def run(m, fn):
    """Forward and backward of one case: values, input gradients, and the warnings of each."""
    t = Leaves(m)
    with warnings.catch_warnings(record=True) as fwd:
        warnings.simplefilter("always")
        out = fn(m, t)
    bwd, grads = [], []
    if out.requires_grad:
        seed = m.ones_like(out.detach())
        with warnings.catch_warnings(record=True) as bwd:
            warnings.simplefilter("always")
            out.backward(seed)
        grads = [None if x.grad is None else _host(x.grad) for x in t.leaves]
    values = to_np(out.detach()) if m is nr else out.detach().cpu().numpy()
    return values, grads, [_message(w) for w in fwd], [_message(w) for w in bwd]


@pytest.mark.parametrize("name", list(CASES) + list(SILENT_ONLY))
def test_silent_in_forward_and_backward(name):
    _, _, fwd, bwd = run(nr, {**CASES, **SILENT_ONLY}[name])
    assert fwd == EXPECTED.get(name, []), f"forward warned: {fwd}"
    assert bwd == [], f"backward warned: {bwd}"


# Where PyTorch's CUDA kernels give other values than its CPU ones, and CuPy follows NumPy
CUDA_DIFFERS = {
    "remainder": "PyTorch's CUDA remainder of an infinite divisor is not NumPy's (nor its CPU's)",
    "round-decimals": "CuPy's round(3e38, 2) does not overflow to inf, PyTorch's CUDA one does",
    "prod-overflow": "the reduction order decides between inf * 0 = nan and 1e30 * 0 = 0",
}


def assert_same(ours, theirs, what):
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != {theirs.dtype}"
    # nan and +-inf must sit in the same places; finite values agree to float32 rounding, and a
    # subnormal may be flushed to zero (CuPy's kernels do, PyTorch's do not)
    tiny = np.finfo(ours.dtype).tiny if ours.dtype.kind == "f" else 0
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=tiny, equal_nan=True, err_msg=what)


@requires_torch
@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients_match_pytorch(name):
    if DEVICE != "cpu" and name in CUDA_DIFFERS:
        pytest.skip(CUDA_DIFFERS[name])
    out, grads, _, _ = run(nr, CASES[name])
    t_out, t_grads, t_fwd, t_bwd = run(torch, CASES[name])
    assert (t_fwd, t_bwd) == (EXPECTED.get(name, []), [])  # what the reference itself says
    assert_same_results(out, grads, t_out, t_grads)


def assert_same_results(out, grads, t_out, t_grads):
    """The forward value and every input's gradient (None where PyTorch has none) equal."""
    assert_same(out, t_out, "forward")
    assert len(grads) == len(t_grads)
    for i, (g, tg) in enumerate(zip(grads, t_grads)):
        assert (g is None) == (tg is None), f"gradient of input {i}"
        if g is not None:
            assert_same(g, tg, f"gradient of input {i}")


def _numpy_warns_on_log_of_minus_one():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np.log(np.array([-1.0, 0.0]))
    return [w.category for w in caught]


def test_users_numpy_still_warns_after_engine_ops():
    before = np.geterr()
    x = nr.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    (nr.log(x) / 0).sum().backward()
    loss = nr.nn.functional.cross_entropy(nr.tensor([[INF, 0.0]]), nr.tensor([0]))
    assert math.isnan(loss.item())
    assert np.geterr() == before
    assert RuntimeWarning in _numpy_warns_on_log_of_minus_one()


def test_error_state_restored_when_an_op_raises_inside():
    before = np.geterr()
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        nr.nn.functional.binary_cross_entropy(nr.tensor([2.0]), nr.tensor([1.0]))
    assert np.geterr() == before
    assert RuntimeWarning in _numpy_warns_on_log_of_minus_one()


def test_users_raise_setting_kept_around_silent_ops():
    """Under the user's ``errstate(all="raise")`` an op still returns nan/inf (PyTorch never
    raises), and the user's own NumPy call right after it still raises."""
    with np.errstate(all="raise"):
        x = nr.tensor([0.0, -1.0], requires_grad=True)
        y = nr.log(x)
        y.backward(nr.ones_like(y))
        assert to_np(y)[0] == -INF and math.isnan(to_np(y)[1])
        assert to_np(x.grad)[0] == INF
        with pytest.raises(FloatingPointError):
            np.log(np.array([0.0]))


def test_quiet_silences_only_the_decorated_body():
    @quiet
    def body(a):
        return np.log(a)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = body(np.array([0.0, -1.0]))
        assert caught == []
        np.log(np.array([0.0]))
    assert out[0] == -INF and math.isnan(out[1])
    assert [w.category for w in caught] == [RuntimeWarning]


def test_degrees_of_freedom_warning_names_the_callers_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = nr.tensor([1.0], requires_grad=True).std()
    assert math.isnan(out.item())
    assert [(w.category, w.filename) for w in caught] == [(UserWarning, __file__)]
