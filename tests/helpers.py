"""One-line op checks: forward against NumPy, backward by finite differences in float64, and
forward + gradients against PyTorch when it is installed.

    check(lambda m, x: m.exp(x), (3, 4), ref=np.exp)

``fn(m, *tensors)`` is written once for both libraries: ``m`` is ``nnrun.engine`` or ``torch``.
"""

from __future__ import annotations

import os

import nnrun.engine as nr
import numpy as np
import pytest

try:
    import torch
except ImportError:  # the parity tests skip cleanly without PyTorch
    torch = None

DEVICE = os.environ.get("NNRUN_TEST_DEVICE", "cpu")
requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
# Exact strings (reprs, error messages) are PyTorch 2.13's, the version .ci/run pins; others word
# some of them differently (2.11 on the GPU machines: BatchNorm's repr has no bias=, two loss
# messages changed).
TORCH_2_13 = torch is not None and tuple(
    int(part) for part in torch.__version__.split("+")[0].split(".")[:2]
) >= (2, 13)
requires_torch_strings = pytest.mark.skipif(
    not TORCH_2_13, reason="PyTorch's exact strings are compared with 2.13's (pinned in .ci/run)"
)


def rand_arrays(shapes, low=-2.0, high=2.0, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        a = rng.uniform(low, high, size=s)
        if positive:
            a = np.abs(a) + 0.5
        out.append(a)
    return out


def nr_tensors(arrays, dtype=nr.float64, requires_grad=True):
    return [nr.tensor(a, dtype=dtype, device=DEVICE, requires_grad=requires_grad) for a in arrays]


def to_np(t):
    return nr.backend.to_numpy(t._data) if isinstance(t, nr.Tensor) else np.asarray(t)


def dtype_name(dt) -> str:
    """``float32`` for both ``nnrun.float32`` and ``torch.float32``."""
    return str(dt).split(".")[-1]


def check(
    fn,
    *shapes,
    ref=None,
    low=-2.0,
    high=2.0,
    positive=False,
    grad=True,
    rtol=1e-5,
    atol=1e-6,
    arrays=None,
):
    """Check ``fn`` on random inputs of ``shapes`` (or the given ``arrays``).

    float32 inputs must give a float32 (or, for index/bool results, PyTorch's) output; the
    forward must match NumPy's ``ref``; gradients pass a float64 finite-difference gradcheck;
    forward and gradients match PyTorch in float32 and float64.
    """
    arrays = arrays if arrays is not None else rand_arrays(shapes, low, high, positive=positive)
    out32 = fn(nr, *nr_tensors(arrays, nr.float32, requires_grad=False))
    if torch is not None:
        expected_dt = dtype_name(
            fn(torch, *[torch.tensor(a, dtype=torch.float32) for a in arrays]).dtype
        )
    else:
        expected_dt = "float32" if out32.dtype.is_floating_point else out32.dtype.name
    # float32 in, float32 out: no op silently promotes to float64
    assert out32.dtype.name == expected_dt, f"float32 input gave {out32.dtype}"
    if ref is not None:
        expected = ref(*[a.astype(np.float32) for a in arrays])
        np.testing.assert_allclose(to_np(out32), expected, rtol=1e-5, atol=1e-6)
    if grad:
        inputs = nr_tensors(arrays)
        assert nr.autograd.gradcheck(lambda *xs: fn(nr, *xs), inputs)
    if torch is not None:
        torch_parity(fn, arrays, rtol=rtol, atol=atol, grad=grad)


def torch_parity(fn, arrays, rtol=1e-5, atol=1e-6, grad=True, dtypes=("float32", "float64")):
    """Forward, its dtype and every input gradient of ``fn`` equal PyTorch's within ``rtol``."""
    for dt in dtypes:
        ts = [torch.tensor(a, dtype=getattr(torch, dt), requires_grad=grad) for a in arrays]
        ns = [
            nr.tensor(a, dtype=getattr(nr, dt), device=DEVICE, requires_grad=grad) for a in arrays
        ]
        t_out, n_out = fn(torch, *ts), fn(nr, *ns)
        assert tuple(n_out.shape) == tuple(t_out.shape), f"shape ({dt})"
        assert n_out.dtype.name == dtype_name(t_out.dtype), f"dtype ({dt})"
        np.testing.assert_allclose(
            to_np(n_out), t_out.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"forward ({dt})"
        )
        assert n_out.requires_grad == t_out.requires_grad, f"requires_grad ({dt})"
        if grad and t_out.requires_grad:
            w = np.random.default_rng(1).standard_normal(tuple(t_out.shape))
            (t_out * torch.tensor(w, dtype=t_out.dtype)).sum().backward()
            (n_out * nr.tensor(w, dtype=n_out.dtype, device=DEVICE)).sum().backward()
            for i, (t, n) in enumerate(zip(ts, ns)):
                if t.grad is None:
                    assert n.grad is None or not np.any(to_np(n.grad)), f"input {i}"
                    continue
                assert n.grad is not None, f"input {i} got no gradient ({dt})"
                assert n.grad.dtype.name == dt
                np.testing.assert_allclose(
                    to_np(n.grad),
                    t.grad.numpy(),
                    rtol=rtol,
                    atol=atol,
                    err_msg=f"gradient of input {i} ({dt})",
                )
