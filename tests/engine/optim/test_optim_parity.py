"""Every optimizer and option that changes the update rule: 50 steps on the same problem (same
initial weights, gradients from each library's own autograd) give PyTorch's parameters and state
(float32 within 1e-5 relative, float64 within 1e-10)."""

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import DEVICE, requires_torch, to_np, torch

pytestmark = requires_torch

CASES = [
    ("SGD", {}),  # lr defaults to 1e-3
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}),
    (
        "SGD",
        {"lr": 0.01, "momentum": 0.5, "nesterov": True, "weight_decay": 0.05, "maximize": True},
    ),
    ("Adam", {}),
    ("Adam", {"lr": 0.02}),
    ("Adam", {"lr": 0.02, "amsgrad": True}),
    ("Adam", {"lr": 0.02, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.02, "maximize": True}),
    (
        "Adam",
        {
            "lr": 0.02,
            "betas": (0.8, 0.99),
            "eps": 1e-6,
            "amsgrad": True,
            "weight_decay": 0.05,
            "maximize": True,
        },
    ),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.02, "amsgrad": True, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.005, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.005, "centered": True}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.005, "weight_decay": 0.1, "maximize": True}),
    ("RMSprop", {"lr": 0.002, "centered": True, "momentum": 0.5, "weight_decay": 0.05}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-8}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.05, "maximize": True}),
]
# "state": max error over the largest element, for state buffers. RMSprop's (centered) momentum
# buffer magnifies the last-bit differences between the two libraries' gradients to 2.5e-5;
# fed identical gradients, every buffer agrees within 1e-6 (test_identical_gradients).
TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}
STATE_TOL = {"float32": 5e-5, "float64": 1e-10}


def problem(seed=0):
    """A small regression problem and initial weights, as float64 NumPy arrays."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 5))
    y = x @ rng.standard_normal((5, 3)) + 0.1 * rng.standard_normal((32, 3))
    labels = rng.integers(0, 3, 32)
    w, b, unused = 0.5 * rng.standard_normal((5, 3)), 0.1 * rng.standard_normal(3), np.ones(2)
    return x, y, labels, (w, b, unused)


def make(m, arrays, dtype):
    if m is nr:
        return [nr.tensor(a, dtype=getattr(nr, dtype), device=DEVICE) for a in arrays]
    return [torch.tensor(a, dtype=getattr(torch, dtype)) for a in arrays]


def loss_fn(m, kind, x, y, labels, w, b):
    out = x @ w + b
    if kind == "regression":
        return ((out - y) ** 2).mean()
    return -m.log_softmax(out, dim=1).gather(1, labels.reshape(-1, 1)).mean()


def train(
    m, name, kwargs, dtype, *, kind="regression", groups=None, steps=50, start=None, opt_state=None
):
    """``steps`` optimizer steps; returns the parameters and the optimizer."""
    x, y, labels, params0 = problem()
    x, y = make(m, [x, y], dtype)
    labels = nr.tensor(labels, device=DEVICE) if m is nr else torch.tensor(labels)
    params = make(m, start if start is not None else params0, dtype)
    for p in params:
        p.requires_grad_(True)
    w, b, unused = params
    spec = (
        [w, b, unused] if groups is None else [{"params": [w, unused]}, {"params": [b], **groups}]
    )
    opt = getattr(m.optim, name)(spec, **kwargs)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(m, kind, x, y, labels, w, b).backward()
        opt.step()
    return params, opt


def assert_state_equal(nr_opt, torch_opt, tol):
    ns, ts = nr_opt.state_dict(), torch_opt.state_dict()
    assert list(ns) == ["state", "param_groups"]
    assert sorted(ns["state"]) == sorted(ts["state"])
    for i, t_state in ts["state"].items():
        assert list(ns["state"][i]) == list(t_state), f"state keys of param {i}"
        for key, t_val in t_state.items():
            n_val = ns["state"][i][key]
            assert isinstance(n_val, nr.Tensor)
            if key == "step":
                assert n_val.dtype is nr.float32 and n_val.shape == ()
            # buffers such as RMSprop's momentum (sums of g / sqrt(v)) magnify last-bit
            # differences of the gradients: compare them relative to their largest element
            scale = float(np.abs(t_val.numpy()).max())
            err = float(np.abs(to_np(n_val) - t_val.numpy()).max()) / max(scale, 1e-30)
            assert err <= tol, f"{key}: max error {err:.3g} of its largest element"
    for n_group, t_group in zip(ns["param_groups"], ts["param_groups"]):
        assert n_group == t_group


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=lambda c: str(c))
def test_matches_torch(name, kwargs, dtype):
    n_params, n_opt = train(nr, name, kwargs, dtype)
    t_params, t_opt = train(torch, name, kwargs, dtype)
    for i, (n, t) in enumerate(zip(n_params, t_params)):
        assert n.dtype is getattr(nr, dtype) and n.is_leaf and n.grad_fn is None
        np.testing.assert_allclose(to_np(n), t.detach().numpy(), **TOL[dtype], err_msg=f"param {i}")
    assert_state_equal(n_opt, t_opt, STATE_TOL[dtype])


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("Adam", {"lr": 0.01, "amsgrad": True}),
        ("AdamW", {"lr": 0.01}),
        ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
        ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ],
    ids=lambda c: str(c),
)
def test_classification_with_param_groups(name, kwargs):
    """Cross-entropy loss; the bias in a second group with its own lr and weight decay."""
    groups = {"lr": kwargs["lr"] * 3, "weight_decay": 0.01}
    n_params, n_opt = train(nr, name, kwargs, "float32", kind="classification", groups=groups)
    t_params, t_opt = train(torch, name, kwargs, "float32", kind="classification", groups=groups)
    for n, t in zip(n_params, t_params):
        np.testing.assert_allclose(to_np(n), t.detach().numpy(), **TOL["float32"])
    assert [g["lr"] for g in n_opt.param_groups] == [kwargs["lr"], kwargs["lr"] * 3]
    assert_state_equal(n_opt, t_opt, STATE_TOL["float32"])


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_unused_param_is_skipped(name):
    """A parameter whose grad stays None is left alone, and (but for Adagrad) gets no state."""
    (w, _, unused), opt = train(
        nr, name, {"lr": 0.1, "momentum": 0.9} if name == "SGD" else {"lr": 0.1}, "float32", steps=3
    )
    assert unused.grad is None
    np.testing.assert_array_equal(to_np(unused), np.ones(2, np.float32))
    if name == "Adagrad":  # PyTorch's Adagrad creates its state at construction
        assert float(opt.state[unused]["step"]) == 0.0
    else:
        assert unused not in opt.state
    assert float(opt.state[w].get("step", nr.tensor(3.0))) == 3.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=lambda c: str(c))
def test_identical_gradients(name, kwargs, dtype):
    """Fed the same gradients, the update rules agree to the last bits (PyTorch fuses some
    multiply-adds, NumPy rounds twice): max error <= 1e-6 (float32) of the largest element."""
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal((40, 30))
    grads = [rng.standard_normal((40, 30)) * (0.1 + i / 25) for i in range(50)]
    n_p = nr.tensor(p0, dtype=getattr(nr, dtype), device=DEVICE, requires_grad=True)
    t_p = torch.tensor(p0, dtype=getattr(torch, dtype), requires_grad=True)
    n_opt, t_opt = (
        getattr(nr.optim, name)([n_p], **kwargs),
        getattr(torch.optim, name)([t_p], **kwargs),
    )
    for g in grads:
        n_p.grad = nr.tensor(g, dtype=getattr(nr, dtype), device=DEVICE)
        t_p.grad = torch.tensor(g, dtype=getattr(torch, dtype))
        n_opt.step()
        t_opt.step()
    tol = 1e-6 if dtype == "float32" else 1e-14
    pairs = [("param", n_p, t_p.detach())] + [
        (k, n_opt.state[n_p][k], v) for k, v in t_opt.state[t_p].items()
    ]
    for key, n, t in pairs:
        t = t.numpy()
        err = float(np.abs(to_np(n) - t).max()) / float(np.abs(t).max())
        assert err <= tol, f"{key}: {err:.3g}"


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        (
            "SGD",
            {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1, "maximize": True},
        ),
        ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
        ("Adam", {"lr": 0.02, "amsgrad": True, "weight_decay": 0.1, "maximize": True}),
        ("AdamW", {"lr": 0.02, "maximize": True}),
        ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
        ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "maximize": True}),
    ],
    ids=lambda c: str(c),
)
def test_large_params_share_scratch_buffers(name, kwargs):
    """Parameters of >= 65536 elements and different sizes take their temporaries from the
    same kept scratch buffers; results stay PyTorch's."""
    rng = np.random.default_rng(2)
    shapes = [(300, 250), (100,), (400, 200)]
    p0 = [rng.standard_normal(s) for s in shapes]
    n_ps = [nr.tensor(a, dtype=nr.float32, device=DEVICE, requires_grad=True) for a in p0]
    t_ps = [torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in p0]
    n_opt, t_opt = (
        getattr(nr.optim, name)(n_ps, **kwargs),
        getattr(torch.optim, name)(t_ps, **kwargs),
    )
    for _ in range(5):
        for n, t, s in zip(n_ps, t_ps, shapes):
            g = rng.standard_normal(s)
            n.grad, t.grad = nr.tensor(g, dtype=nr.float32, device=DEVICE), torch.tensor(g).float()
        n_opt.step()
        t_opt.step()
    assert n_opt._scratch, "the scratch path was not taken"
    for n, t in zip(n_ps, t_ps):
        np.testing.assert_allclose(to_np(n), t.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_with_nn_module():
    """Parameters of an nn.Module (nn.Parameter), stepped like PyTorch's."""
    if not hasattr(nr, "nn") or not hasattr(nr.nn, "Linear"):
        pytest.skip("nnrun.engine.nn is not available")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))
    n_model, t_model = nr.nn.Linear(4, 2), torch.nn.Linear(4, 2)
    with torch.no_grad():
        t_model.weight.copy_(torch.tensor(to_np(n_model.weight)))
        t_model.bias.copy_(torch.tensor(to_np(n_model.bias)))
    results = []
    for m, model in ((nr, n_model), (torch, t_model)):
        opt = m.optim.AdamW(model.parameters(), lr=0.05)
        xs, ys = m.tensor(x, dtype=m.float32), m.tensor(y, dtype=m.float32)
        for _ in range(20):
            opt.zero_grad()
            ((model(xs) - ys) ** 2).mean().backward()
            opt.step()
        results.append([to_np(p) if m is nr else p.detach().numpy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
