"""Module-level checks shared by the nn tests: PyTorch parity of a layer's outputs, input gradient,
every parameter gradient and every buffer (weights copied from PyTorch into nnrun), and a
float64 finite-difference check of a module with all its parameters."""

from __future__ import annotations

import nnrun.engine as nr
import numpy as np
from helpers import DEVICE, to_np, torch


def F(m):
    """``nn.functional`` of ``m`` (nnrun.engine or torch)."""
    return m.nn.functional


def torch_to_nr_state(tm):
    """A PyTorch module's state dict as nnrun tensors (through NumPy)."""
    return {k: nr.tensor(v.detach().numpy(), device=DEVICE) for k, v in tm.state_dict().items()}


def randomize_torch(tm, seed=0):
    """Give every parameter and running statistic non-default values, so parity exercises them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 2 - 1)
        for name, b in tm.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.rand(b.shape, generator=g) - 0.5)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)


def make_pair(make, dtype="float32"):
    """The same layer in both libraries, PyTorch's (randomized) weights copied into nnrun's."""
    tm = make(torch).to(getattr(torch, dtype))
    randomize_torch(tm)
    nm = make(nr).to(DEVICE).to(getattr(nr, dtype))
    nm.load_state_dict(torch_to_nr_state(tm))
    return tm, nm


def module_parity(
    make,
    arrays,
    *,
    train=True,
    steps=1,
    dtypes=("float32", "float64"),
    rtol=1e-5,
    atol=1e-6,
    grad_input=True,
):
    """Run ``steps`` forward/backward passes in both libraries and compare outputs, the input
    gradient, every parameter gradient and every buffer after each step."""
    for dt in dtypes:
        tm, nm = make_pair(make, dt)
        tm.train(train)
        nm.train(train)
        for step in range(steps):
            rng = np.random.default_rng(step)
            ts, ns = [], []
            for a in arrays:
                a = a + rng.uniform(-0.1, 0.1, a.shape) if a.dtype.kind == "f" else a
                floating = a.dtype.kind == "f"
                req = grad_input and floating
                ts.append(
                    torch.tensor(
                        a, dtype=getattr(torch, dt) if floating else None, requires_grad=req
                    )
                )
                ns.append(
                    nr.tensor(
                        a,
                        dtype=getattr(nr, dt) if floating else None,
                        device=DEVICE,
                        requires_grad=req,
                    )
                )
            t_out, n_out = tm(*ts), nm(*ns)
            msg = f"{dt}, step {step}, {'train' if train else 'eval'}"
            assert n_out.dtype is getattr(nr, dt), f"{dt} in, {n_out.dtype} out"
            np.testing.assert_allclose(
                to_np(n_out),
                t_out.detach().numpy(),
                rtol=rtol,
                atol=atol,
                err_msg=f"output ({msg})",
            )
            if t_out.requires_grad:
                w = rng.standard_normal(tuple(t_out.shape))
                (t_out * torch.tensor(w, dtype=t_out.dtype)).sum().backward()
                (n_out * nr.tensor(w, dtype=n_out.dtype, device=DEVICE)).sum().backward()
                for i, (t, n) in enumerate(zip(ts, ns)):
                    if t.grad is not None:
                        assert n.grad.dtype is n.dtype
                        np.testing.assert_allclose(
                            to_np(n.grad),
                            t.grad.numpy(),
                            rtol=rtol,
                            atol=atol,
                            err_msg=f"input {i} grad ({msg})",
                        )
                n_params = dict(nm.named_parameters())
                for name, p in tm.named_parameters():
                    if p.grad is not None:
                        assert n_params[name].grad.dtype is getattr(nr, dt), name
                        np.testing.assert_allclose(
                            to_np(n_params[name].grad),
                            p.grad.numpy(),
                            rtol=rtol,
                            atol=atol,
                            err_msg=f"{name} grad ({msg})",
                        )
                tm.zero_grad()
                nm.zero_grad()
            n_buffers = dict(nm.named_buffers())
            for name, b in tm.named_buffers():
                np.testing.assert_allclose(
                    to_np(n_buffers[name]),
                    b.numpy(),
                    rtol=rtol,
                    atol=atol,
                    err_msg=f"buffer {name} ({msg})",
                )


def module_gradcheck(module, *arrays, train=True, seed=0):
    """Finite differences in float64 w.r.t. the input and every parameter of ``module``."""
    module = module.to(DEVICE).double().train(train)
    xs = [
        nr.tensor(
            a,
            dtype=nr.float64 if a.dtype.kind == "f" else None,
            device=DEVICE,
            requires_grad=a.dtype.kind == "f",
        )
        for a in arrays
    ]
    params = [p for p in module.parameters() if p.requires_grad]

    def fn(*inputs):
        nr.manual_seed(seed)  # the same dropout mask on every evaluation
        return module(*inputs[: len(xs)])

    return nr.autograd.gradcheck(fn, [*xs, *params])
