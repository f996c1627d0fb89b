"""Learning-rate schedulers: 50 steps give PyTorch's learning rates (and OneCycleLR's momentum)
exactly; state_dict round trips (through JSON) continue identically; PyTorch's messages."""

import json
import math
import warnings

import nnrun.engine as nr
import pytest
from helpers import requires_torch, torch

sched = nr.optim.lr_scheduler

CASES = [
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [5, 12, 12, 30]}),
    ("ExponentialLR", {"gamma": 0.95}),
    ("CosineAnnealingLR", {"T_max": 50}),
    ("CosineAnnealingLR", {"T_max": 12, "eta_min": 0.001}),  # past T_max: back up, periodically
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 0.5, "total_iters": 20}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 50}),
    (
        "OneCycleLR",
        {
            "max_lr": [0.5, 0.2],
            "epochs": 5,
            "steps_per_epoch": 10,
            "anneal_strategy": "linear",
            "pct_start": 0.25,
        },
    ),
    (
        "OneCycleLR",
        {
            "max_lr": 0.3,
            "total_steps": 60,
            "three_phase": True,
            "base_momentum": [0.8, 0.7],
            "max_momentum": 0.9,
            "div_factor": 10.0,
        },
    ),
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": 50, "cycle_momentum": False}),
]
ids = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def optimizer(m, name="SGD"):
    w, b = m.zeros(3, requires_grad=True), m.zeros(1, requires_grad=True)
    if name == "SGD":
        return getattr(m.optim, name)(
            [{"params": [w]}, {"params": [b], "lr": 0.01}], lr=0.1, momentum=0.9
        )
    return getattr(m.optim, name)([{"params": [w]}, {"params": [b], "lr": 0.01}], lr=0.1)


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def run(m, name, kwargs, steps=50, opt_name="SGD", state=None, opt_state=None):
    """Learning rates and momenta after construction and after each step."""
    opt = optimizer(m, opt_name)
    s = getattr(m.optim.lr_scheduler, name)(opt, **kwargs)
    if state is not None:
        opt.load_state_dict(opt_state)
        s.load_state_dict(state)
    history = [(s.get_last_lr(), momenta(opt))]
    for _ in range(steps):
        opt.step()
        s.step()
        history.append((s.get_last_lr(), momenta(opt)))
    return history, s, opt


@requires_torch
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=ids)
def test_lrs_match_torch(name, kwargs):
    n_hist, n_s, n_opt = run(nr, name, kwargs)
    t_hist, t_s, t_opt = run(torch, name, kwargs)
    assert n_hist == t_hist  # exact floats: the same recursive formulas
    assert sorted(n_s.state_dict()) == sorted(t_s.state_dict())
    assert [g["lr"] for g in n_opt.param_groups] == [g["lr"] for g in t_opt.param_groups]
    assert [sorted(g) for g in n_opt.state_dict()["param_groups"]] == [
        sorted(g) for g in t_opt.state_dict()["param_groups"]
    ]  # initial_lr, max_lr, ...


@requires_torch
def test_onecycle_cycles_adam_beta1():
    kwargs = {"max_lr": 0.01, "total_steps": 50}
    n_hist, _, n_opt = run(nr, "OneCycleLR", kwargs, opt_name="Adam")
    t_hist, _, t_opt = run(torch, "OneCycleLR", kwargs, opt_name="Adam")
    assert n_hist == t_hist
    assert n_hist[0][1] == [0.95, 0.95] and min(h[1][0] for h in n_hist) == 0.85
    assert [g["betas"] for g in n_opt.param_groups] == [g["betas"] for g in t_opt.param_groups]


def test_cosine_is_the_recursive_form():
    """PyTorch's chainable form, not the closed form: they differ in the last bits."""
    hist, _, _ = run(nr, "CosineAnnealingLR", {"T_max": 50}, steps=49)
    closed = [0.1 * (1 + math.cos(math.pi * t / 50)) / 2 for t in range(50)]
    lrs = [h[0][0] for h in hist]
    assert lrs != closed
    assert all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15) for a, b in zip(lrs, closed))


PLATEAU = [
    {},
    {"patience": 2, "factor": 0.5},
    {"mode": "max", "patience": 1, "threshold": 0.1, "threshold_mode": "abs", "cooldown": 2},
    {"patience": 0, "cooldown": 1, "min_lr": [0.02, 0.005], "eps": 1e-3},
    {"mode": "max", "patience": 3, "threshold": 0.01, "factor": 0.3, "min_lr": 0.001},
]
METRICS = [
    1.0,
    0.9,
    0.95,
    0.95,
    0.89,
    0.95,
    0.96,
    0.97,
    0.97,
    0.98,
    0.5,
    0.6,
    0.6,
    0.6,
    0.6,
    0.4,
    0.41,
    0.41,
    0.39,
    0.4,
] * 3


def run_plateau(m, kwargs, metrics, state=None, opt_state=None):
    opt = optimizer(m)
    s = m.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    if state is not None:
        opt.load_state_dict(opt_state)
        s.load_state_dict(state)
    history = []
    for value in metrics:
        opt.step()
        s.step(m.tensor(value) if len(history) % 2 else value)  # a number or a 0-d tensor
        history.append(s.get_last_lr())
    return history, s, opt


@requires_torch
@pytest.mark.parametrize("kwargs", PLATEAU, ids=str)
def test_plateau_matches_torch(kwargs):
    n_hist, n_s, _ = run_plateau(nr, kwargs, METRICS)
    t_hist, t_s, _ = run_plateau(torch, kwargs, METRICS)
    assert n_hist == t_hist
    assert n_hist[-1] != n_hist[0]  # the sequence does reduce the rate
    assert n_s.state_dict() == t_s.state_dict()


def json_round_trip(state):
    return json.loads(json.dumps(state))


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=ids)
def test_state_dict_round_trip(name, kwargs):
    """A scheduler restored mid-run (state through JSON) continues identically."""
    full, _, _ = run(nr, name, kwargs, steps=50)
    _, s, opt = run(nr, name, kwargs, steps=20)
    state = json_round_trip(s.state_dict())
    assert "optimizer" not in state
    rest, _, _ = run(nr, name, kwargs, steps=30, state=state, opt_state=opt.state_dict())
    assert rest == full[20:]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=str)
def test_plateau_state_dict_round_trip(kwargs):
    full, _, _ = run_plateau(nr, kwargs, METRICS)
    _, s, opt = run_plateau(nr, kwargs, METRICS[:25])
    state = json_round_trip(s.state_dict())
    rest, _, _ = run_plateau(nr, kwargs, METRICS[25:], state=state, opt_state=opt.state_dict())
    assert rest == full[25:]


def test_multisteplr_loads_pytorch_counter_layout():
    opt = optimizer(nr)
    s = sched.MultiStepLR(opt, milestones=[2, 4, 4])
    assert s.state_dict()["milestones"] == [2, 4, 4]
    s2 = sched.MultiStepLR(optimizer(nr), milestones=[9])
    s2.load_state_dict({**s.state_dict(), "milestones": {"2": 1, "4": 2}})  # JSON'd Counter
    assert s2.milestones == {2: 1, 4: 2}


@requires_torch
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("StepLR", {"step_size": 3}),
        ("MultiStepLR", {"milestones": [2, 5]}),
        ("ExponentialLR", {"gamma": 0.9}),
        ("CosineAnnealingLR", {"T_max": 10}),
        ("LinearLR", {"total_iters": 4}),
    ],
)
def test_step_with_epoch_uses_closed_form(name, kwargs):
    results = []
    for m in (nr, torch):
        s = getattr(m.optim.lr_scheduler, name)(optimizer(m), **kwargs)
        s.optimizer.step()
        with pytest.warns(UserWarning, match="epoch parameter"):
            s.step(7)
        results.append(s.get_last_lr())
    assert results[0] == results[1]


def test_base_lrs_initial_lr_and_resume():
    opt = optimizer(nr)
    s = sched.StepLR(opt, step_size=2)
    assert s.base_lrs == [0.1, 0.01] and s.last_epoch == 0
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.01]
    with pytest.raises(KeyError, match=r"param 'initial_lr' is not specified in param_groups\[0\]"):
        sched.StepLR(optimizer(nr), step_size=2, last_epoch=3)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        s.get_lr()


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda o: sched.StepLR(object(), 3), TypeError, "object is not an Optimizer"),
        (
            lambda o: sched.LinearLR(o, start_factor=0),
            ValueError,
            "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.",
        ),
        (
            lambda o: sched.LinearLR(o, end_factor=1.5),
            ValueError,
            "Ending multiplicative factor expected to be between 0 and 1.",
        ),
        (
            lambda o: sched.OneCycleLR(o, 0.1),
            ValueError,
            r"You must define either total_steps OR \(epochs AND steps_per_epoch\)",
        ),
        (
            lambda o: sched.OneCycleLR(o, 0.1, total_steps=0),
            ValueError,
            "Expected positive integer total_steps, but got 0",
        ),
        (
            lambda o: sched.OneCycleLR(o, 0.1, epochs=2, steps_per_epoch=-1),
            ValueError,
            "Expected positive integer steps_per_epoch, but got -1",
        ),
        (
            lambda o: sched.OneCycleLR(o, 0.1, total_steps=5, pct_start=1.5),
            ValueError,
            "Expected float between 0 and 1 pct_start, but got 1.5",
        ),
        (
            lambda o: sched.OneCycleLR(o, 0.1, total_steps=5, anneal_strategy="exp"),
            ValueError,
            "anneal_strategy must be one of 'cos' or 'linear', instead got exp",
        ),
        (
            lambda o: sched.OneCycleLR(o, [0.1], total_steps=5),
            ValueError,
            (
                "max_lr must have the same length as optimizer.param_groups. max_lr has 1 values, "
                "param_groups has 2."
            ),
        ),
        (lambda o: sched.ReduceLROnPlateau(o, factor=1.0), ValueError, r"Factor should be < 1.0."),
        (lambda o: sched.ReduceLROnPlateau(o, mode="up"), ValueError, "mode up is unknown!"),
        (
            lambda o: sched.ReduceLROnPlateau(o, threshold_mode="x"),
            ValueError,
            "threshold mode x is unknown!",
        ),
        (
            lambda o: sched.ReduceLROnPlateau(o, min_lr=[0.1]),
            ValueError,
            "expected 2 min_lrs, got 1",
        ),
    ],
)
def test_invalid_arguments(make, exc, message):
    with pytest.raises(exc, match=message):
        make(optimizer(nr))


def test_onecycle_errors_past_total_steps_and_without_momentum():
    opt = optimizer(nr)
    s = sched.OneCycleLR(opt, 0.1, total_steps=3)
    opt.step()
    for _ in range(3):
        s.step()
    with pytest.raises(
        ValueError, match="Tried to step 4 times. The specified number of total steps is 3"
    ):
        s.step()
    w = nr.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        sched.OneCycleLR(nr.optim.Adagrad([w]), 0.1, total_steps=3)


def test_warns_when_scheduler_steps_before_optimizer():
    s = sched.StepLR(optimizer(nr), step_size=2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before"):
        s.step()
    opt = optimizer(nr)
    s = sched.StepLR(opt, step_size=2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()
        s.step()
