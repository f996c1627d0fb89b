"""The Optimizer base: param groups, zero_grad, closure, no graph, state_dict / load_state_dict
in PyTorch's format (round trips, across libraries, across dtypes), PyTorch's messages, repr."""

import warnings

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import DEVICE, requires_torch, to_np, torch

OPTIMIZERS = {
    "SGD": {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    "Adam": {"lr": 0.02, "amsgrad": True},
    "AdamW": {"lr": 0.02},
    "RMSprop": {"lr": 0.005, "centered": True, "momentum": 0.5},
    "Adagrad": {"lr": 0.1, "lr_decay": 0.01},
}


def setup(m, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))
    w, b = 0.5 * rng.standard_normal((4, 2)), np.zeros(2)
    if m is nr:
        dt = getattr(nr, dtype)
        x, y = nr.tensor(x, dtype=dt, device=DEVICE), nr.tensor(y, dtype=dt, device=DEVICE)
        params = [nr.tensor(a, dtype=dt, device=DEVICE, requires_grad=True) for a in (w, b)]
    else:
        dt = getattr(torch, dtype)
        x, y = torch.tensor(x, dtype=dt), torch.tensor(y, dtype=dt)
        params = [torch.tensor(a, dtype=dt, requires_grad=True) for a in (w, b)]
    return x, y, params


def loss_of(x, y, w, b):
    return ((x @ w + b - y) ** 2).mean()


def steps(opt, x, y, params, n):
    for _ in range(n):
        opt.zero_grad()
        loss_of(x, y, *params).backward()
        opt.step()


def make_opt(m, name, params, **extra):
    groups = [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.01}]
    return getattr(m.optim, name)(groups, **{**OPTIMIZERS[name], **extra})


# --------------------------------------------------------------------------------- state dict
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_round_trip_continues_identically(name):
    """Saved after 20 steps and loaded into a fresh optimizer on copies of the parameters,
    10 more steps equal 30 uninterrupted steps, bit for bit."""
    x, y, params = setup(nr)
    opt = make_opt(nr, name, params)
    steps(opt, x, y, params, 20)
    saved = opt.state_dict()
    assert list(saved) == ["state", "param_groups"]
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1]]
    copies = [nr.tensor(to_np(p), device=DEVICE, requires_grad=True) for p in params]
    restored = make_opt(nr, name, copies, lr=0.5)  # options come from the state dict
    restored.load_state_dict(saved)
    assert [g["lr"] for g in restored.param_groups] == [OPTIMIZERS[name]["lr"], 0.01]
    for key, value in restored.state[copies[0]].items():  # copies, not the saved tensors
        assert (
            value is not saved["state"][0][key] and value._data is not saved["state"][0][key]._data
        )
    steps(opt, x, y, params, 10)
    steps(restored, x, y, copies, 10)
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(to_np(p), to_np(q))


@requires_torch
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_format_and_cross_library_load(name):
    """Same keys as PyTorch's state dict; PyTorch's state loads into nnrun (and nnrun's into
    PyTorch) and both continue alike."""
    (nx, ny, n_params), (tx, ty, t_params) = setup(nr), setup(torch)
    n_opt, t_opt = make_opt(nr, name, n_params), make_opt(torch, name, t_params)
    steps(n_opt, nx, ny, n_params, 10)
    steps(t_opt, tx, ty, t_params, 10)
    n_sd, t_sd = n_opt.state_dict(), t_opt.state_dict()
    assert n_sd["param_groups"] == t_sd["param_groups"]
    assert {i: list(s) for i, s in n_sd["state"].items()} == {
        i: list(s) for i, s in t_sd["state"].items()
    }
    # torch -> nnrun, continued by both libraries from PyTorch's parameters
    state = {i: {k: nr.tensor(v.numpy()) for k, v in s.items()} for i, s in t_sd["state"].items()}
    groups = [dict(g) for g in t_sd["param_groups"]]
    n_params2 = [nr.tensor(p.detach().numpy(), device=DEVICE, requires_grad=True) for p in t_params]
    n_opt2 = make_opt(nr, name, n_params2)
    n_opt2.load_state_dict({"state": state, "param_groups": groups})
    if name != "SGD":
        assert n_opt2.state[n_params2[0]]["step"].dtype is nr.float32
    steps(n_opt2, nx, ny, n_params2, 10)
    # nnrun -> torch
    t_params2 = [torch.tensor(to_np(p), requires_grad=True) for p in n_params]
    t_opt2 = make_opt(torch, name, t_params2)
    t_opt2.load_state_dict(
        {
            "state": {
                i: {k: torch.tensor(to_np(v)) for k, v in s.items()}
                for i, s in n_sd["state"].items()
            },
            "param_groups": n_sd["param_groups"],
        }
    )
    steps(t_opt, tx, ty, t_params, 10)
    steps(t_opt2, tx, ty, t_params2, 10)
    for a, b, c in zip(n_params2, t_params, t_params2):
        np.testing.assert_allclose(to_np(a), b.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_load_casts_state_to_param_dtype_and_accepts_json_ids():
    x, y, params = setup(nr)
    opt = make_opt(nr, "Adam", params)
    steps(opt, x, y, params, 3)
    saved = opt.state_dict()
    saved = {
        "state": {str(k): v for k, v in saved["state"].items()},
        "param_groups": [
            {**g, "params": [str(i) for i in g["params"]]} for g in saved["param_groups"]
        ],
    }
    params64 = [nr.tensor(to_np(p), dtype=nr.float64, requires_grad=True) for p in params]
    opt64 = make_opt(nr, "Adam", params64)
    opt64.load_state_dict(saved)
    state = opt64.state[params64[0]]
    assert state["exp_avg"].dtype is nr.float64 and state["max_exp_avg_sq"].dtype is nr.float64
    assert state["step"].dtype is nr.float32 and float(state["step"]) == 3.0
    np.testing.assert_allclose(to_np(state["exp_avg"]), to_np(opt.state[params[0]]["exp_avg"]))
    # a plain-number step (an old PyTorch checkpoint) becomes a float32 tensor
    saved["state"]["0"]["step"] = 3
    opt64.load_state_dict(saved)
    assert opt64.state[params64[0]]["step"].dtype is nr.float32


def test_load_state_dict_validates_groups():
    _x, _y, params = setup(nr)
    opt = make_opt(nr, "SGD", params)
    sd = opt.state_dict()
    one_group = nr.optim.SGD(params, lr=0.1)
    with pytest.raises(
        ValueError, match="loaded state dict has a different number of parameter groups"
    ):
        one_group.load_state_dict(sd)
    swapped = nr.optim.SGD([{"params": params}, {"params": [nr.zeros(1, requires_grad=True)]}])
    with pytest.raises(
        ValueError,
        match="loaded state dict contains a parameter group that "
        "doesn't match the size of optimizer's group",
    ):
        swapped.load_state_dict(sd)


def test_adamw_keeps_decoupled_weight_decay_after_load():
    _, _, params = setup(nr)
    sd = nr.optim.Adam(params).state_dict()
    opt = nr.optim.AdamW(params)
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True


# ------------------------------------------------------------------------- steps and grads
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_builds_no_graph_and_keeps_float32(name):
    x, y, params = setup(nr)
    opt = make_opt(nr, name, params)
    arrays = [p._data for p in params]
    steps(opt, x, y, params, 3)
    for p, a in zip(params, arrays):
        assert p._data is a  # updated in place
        assert p.is_leaf and p.grad_fn is None and p.requires_grad and p.dtype is nr.float32
        for key, value in opt.state[p].items():
            assert isinstance(value, nr.Tensor) and value.dtype is nr.float32, key
            assert not value.requires_grad and value.grad_fn is None
        assert p.grad.grad_fn is None


def test_zero_grad():
    x, y, params = setup(nr)
    opt = nr.optim.SGD(params, lr=0.1)
    loss_of(x, y, *params).backward()
    grad = params[0].grad
    opt.zero_grad(set_to_none=False)
    assert params[0].grad is grad and not np.any(to_np(grad))
    assert params[0].grad.shape == params[0].shape
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    opt.zero_grad(set_to_none=False)  # nothing to zero
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_closure_reevaluates_under_enable_grad(name):
    x, y, params = setup(nr)
    opt = make_opt(nr, name, params)
    calls = []

    def closure():
        opt.zero_grad()
        loss = loss_of(x, y, *params)
        loss.backward()
        calls.append(nr.is_grad_enabled())
        return loss

    before = [to_np(p).copy() for p in params]
    with nr.no_grad():
        loss = opt.step(closure)
    assert calls == [True] and isinstance(loss, nr.Tensor)
    assert float(loss) == float(loss_of(x, y, *[nr.tensor(a, device=DEVICE) for a in before]))
    assert not np.array_equal(to_np(params[0]), before[0])
    assert opt.step() is None


def test_closure_loss_value_matches_torch():
    if torch is None:
        pytest.skip("PyTorch is not installed")
    results = []
    for m in (nr, torch):
        x, y, params = setup(m)
        opt = m.optim.SGD(params, lr=0.1)

        def closure(opt=opt, x=x, y=y, params=params):
            opt.zero_grad()
            loss = loss_of(x, y, *params)
            loss.backward()
            return loss.detach()

        results.append([float(opt.step(closure)) for _ in range(5)])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


# ------------------------------------------------------------------------------ param groups
def test_param_groups_defaults_and_add_param_group():
    w, b, c = (nr.zeros(2, requires_grad=True) for _ in range(3))
    opt = nr.optim.SGD([{"params": w}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0, 0.9]
    assert len(opt.param_groups[0]["params"]) == 1 and opt.param_groups[0]["params"][0] is w
    opt.add_param_group({"params": [c], "weight_decay": 0.1})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["weight_decay"] == 0.1
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [b]})
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([c])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        nr.optim.SGD([w, w])


def test_named_parameters_give_param_names():
    w, b = nr.zeros(2, requires_grad=True), nr.zeros(1, requires_grad=True)
    opt = nr.optim.Adam([("weight", w), ("bias", b)])
    assert opt.param_groups[0]["params"][1] is b
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


def test_required_default():
    class Plain(nr.optim.Optimizer):
        def __init__(self, params, lr=nr.optim.optimizer.required):
            super().__init__(params, {"lr": lr})

    w = nr.zeros(2, requires_grad=True)
    assert Plain([{"params": [w], "lr": 1.0}]).param_groups[0]["lr"] == 1.0
    with pytest.raises(
        ValueError,
        match="parameter group didn't specify a value of required optimization parameter lr",
    ):
        Plain([w])
    with pytest.raises(NotImplementedError):
        Plain([{"params": [w], "lr": 1.0}]).step()


W = nr.zeros(2, requires_grad=True)
BAD_PARAMS = [
    (lambda: nr.optim.SGD([]), ValueError, "optimizer got an empty parameter list"),
    (
        lambda: nr.optim.SGD(W),
        TypeError,
        (
            "params argument given to the optimizer should be an "
            "iterable of Tensors or dicts, but got nnrun.Tensor"
        ),
    ),
    (
        lambda: nr.optim.SGD([W, 1.0]),
        TypeError,
        "optimizer can only optimize Tensors, but one of the params is float",
    ),
    (lambda: nr.optim.SGD([W * 2]), ValueError, "can't optimize a non-leaf Tensor"),
    (
        lambda: nr.optim.SGD([{"params": {W}}]),
        TypeError,
        "optimizer parameters need to be organized in ordered collections",
    ),
    (lambda: nr.optim.SGD([W], differentiable=True), ValueError, "differentiable=True"),
]


@pytest.mark.parametrize(("make", "exc", "message"), BAD_PARAMS)
def test_bad_params(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


INVALID = [
    ("SGD", {"lr": -1}, "Invalid learning rate: -1"),
    ("SGD", {"momentum": -0.5}, "Invalid momentum value: -0.5"),
    ("SGD", {"weight_decay": -1e-4}, "Invalid weight_decay value: -0.0001"),
    ("SGD", {"nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
    (
        "SGD",
        {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
        "Nesterov momentum requires a momentum and zero dampening",
    ),
    ("Adam", {"lr": -0.1}, "Invalid learning rate: -0.1"),
    ("Adam", {"eps": -1.0}, "Invalid epsilon value: -1.0"),
    ("Adam", {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
    ("Adam", {"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
    ("Adam", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("Adam", {"betas": (0, 0.9)}, "betas must be either both floats or both Tensors"),
    ("AdamW", {"betas": (0.9, 1.5)}, "Invalid beta parameter at index 1: 1.5"),
    ("RMSprop", {"lr": -1}, "Invalid learning rate: -1"),
    ("RMSprop", {"eps": -1}, "Invalid epsilon value: -1"),
    ("RMSprop", {"momentum": -1}, "Invalid momentum value: -1"),
    ("RMSprop", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("RMSprop", {"alpha": -1}, "Invalid alpha value: -1"),
    ("Adagrad", {"lr": -1}, "Invalid learning rate: -1"),
    ("Adagrad", {"lr_decay": -1}, "Invalid lr_decay value: -1"),
    ("Adagrad", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("Adagrad", {"initial_accumulator_value": -1}, "Invalid initial_accumulator_value value: -1"),
    ("Adagrad", {"eps": -1}, "Invalid epsilon value: -1"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), INVALID)
def test_invalid_arguments(name, kwargs, message):
    with pytest.raises(ValueError) as err:
        getattr(nr.optim, name)([nr.zeros(2, requires_grad=True)], **kwargs)
    assert str(err.value) == message
    if torch is not None:  # PyTorch says exactly the same
        with pytest.raises(ValueError) as t_err:
            getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
        assert str(t_err.value) == message


@requires_torch
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_defaults_and_repr_match_torch(name):
    n_opt = getattr(nr.optim, name)([nr.zeros(2, requires_grad=True)])
    t_opt = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
    assert n_opt.defaults == t_opt.defaults
    assert repr(n_opt) == repr(t_opt)
    _, _, params = setup(nr)
    _, _, t_params = setup(torch)
    assert repr(make_opt(nr, name, params)) == repr(make_opt(torch, name, t_params))


def test_adagrad_state_at_construction():
    w = nr.zeros(3, requires_grad=True)
    opt = nr.optim.Adagrad([w], initial_accumulator_value=0.5)
    assert float(opt.state[w]["step"]) == 0.0
    np.testing.assert_array_equal(to_np(opt.state[w]["sum"]), np.full(3, 0.5, np.float32))
    late = nr.zeros(2, requires_grad=True)
    opt.add_param_group({"params": [late]})
    late.grad = nr.ones(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
    assert float(opt.state[late]["step"]) == 1.0
