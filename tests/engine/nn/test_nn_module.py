"""Module and Parameter: registration, traversal order, modes, zero_grad, apply, to(), repr."""

from __future__ import annotations

import copy

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import requires_torch, to_np, torch
from nnrun.engine import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(nr.ones(1))
        self.register_buffer("steps", nr.zeros(1))
        self.register_buffer("cache", nr.zeros(2), persistent=False)
        self.body = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4))
        self.plain = 5

    def forward(self, x):
        return self.body(self.fc(x)) * self.scale


def test_registration_by_attribute_assignment():
    net = Net()
    assert list(net._parameters) == ["scale"] and list(net._buffers) == ["steps", "cache"]
    assert list(net._modules) == ["fc", "body"] and net.__dict__["plain"] == 5
    assert net.scale is net._parameters["scale"] and net.fc is net._modules["fc"]


def test_named_parameters_buffers_and_modules_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale",
        "fc.weight",
        "fc.bias",
        "body.0.weight",
        "body.0.bias",
        "body.2.weight",
        "body.2.bias",
    ]
    assert [n for n, _ in net.named_buffers()] == [
        "steps",
        "cache",
        "body.2.running_mean",
        "body.2.running_var",
        "body.2.num_batches_tracked",
    ]
    assert [n for n, _ in net.named_modules()] == ["", "fc", "body", "body.0", "body.1", "body.2"]
    assert [n for n, _ in net.named_children()] == ["fc", "body"]
    assert len(list(net.modules())) == 6 and len(list(net.children())) == 2
    assert len(list(net.parameters(recurse=False))) == 1


def test_shared_parameters_and_modules_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2 and len(list(seq.modules())) == 3
    assert [n for n, _ in seq.named_parameters(remove_duplicate=False)] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_reassignment_moves_between_kinds_and_delattr():
    net = Net()
    net.fc = nn.Parameter(nr.zeros(2))  # a module name becomes a parameter
    assert "fc" not in net._modules and "fc" in net._parameters
    net.scale = None
    assert net.scale is None and "scale" not in dict(net.named_parameters())
    net.steps = nr.ones(1)
    assert net._buffers["steps"].item() == 1.0
    del net.body, net.steps, net.fc, net.plain
    assert "body" not in net._modules and "steps" not in net._buffers
    assert "fc" not in net._parameters and not hasattr(net, "plain")


@pytest.mark.parametrize(
    "action,exc,match",
    [
        (
            lambda m: setattr(m, "scale", 3),
            TypeError,
            "cannot assign 'int' as parameter 'scale' \\(torch.nn.Parameter or None expected\\)",
        ),
        (
            lambda m: setattr(m, "fc", 3),
            TypeError,
            "cannot assign 'int' as child module 'fc' \\(torch.nn.Module or None expected\\)",
        ),
        (
            lambda m: setattr(m, "steps", 3),
            TypeError,
            "cannot assign 'int' as buffer 'steps' \\(torch.Tensor or None expected\\)",
        ),
        (
            lambda m: m.register_buffer(1, None),
            TypeError,
            "buffer name should be a string. Got int",
        ),
        (lambda m: m.register_buffer("a.b", None), KeyError, "buffer name can.*t contain"),
        (lambda m: m.register_buffer("plain", None), KeyError, "attribute 'plain' already exists"),
        (
            lambda m: m.register_parameter("w", nr.ones(1)),
            TypeError,
            "cannot assign 'nnrun.FloatTensor' object to parameter 'w'",
        ),
        (lambda m: m.register_parameter("", None), KeyError, "parameter name can.*t be empty"),
        (lambda m: m.add_module("x", 3), TypeError, "int is not a Module subclass"),
        (
            lambda m: m.add_module("fc", nn.ReLU()) or m.add_module("plain", nn.ReLU()),
            KeyError,
            "attribute 'plain' already exists",
        ),
        (lambda m: m.missing, AttributeError, "'Net' object has no attribute 'missing'"),
        (lambda m: m.train(1), ValueError, "training mode is expected to be boolean"),
    ],
)
def test_registration_errors(action, exc, match):
    with pytest.raises(exc, match=match):
        action(Net())


def test_assignment_before_init_is_an_error():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(nr.ones(1))

    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__"):
        Early()


def test_non_leaf_parameter_is_rejected():
    p = nn.Parameter(nr.ones(2))
    p.grad_fn = (nr.ones(2, requires_grad=True) * 2).grad_fn  # a Parameter made non-leaf
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'w'"):
        nn.Module().register_parameter("w", p)


def test_train_eval_flags_propagate():
    net = Net()
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    net = Net()
    net(nr.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=set_to_none)
    for p in net.parameters():
        assert p.grad is None if set_to_none else not np.any(to_np(p.grad))


def test_apply_visits_children_first_and_returns_self():
    seen = []
    net = Net()
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "Linear", "ReLU", "BatchNorm1d", "Sequential", "Net"]


def test_to_float64_keeps_parameter_identity_and_int_buffers():
    net = Net()
    w = net.fc.weight
    net(nr.randn(5, 3)).sum().backward()
    assert net.to(nr.float64) is net and net.fc.weight is w
    assert w.dtype is nr.float64 and w.grad.dtype is nr.float64
    assert net.steps.dtype is nr.float64 and net.body[2].num_batches_tracked.dtype is nr.int64
    assert net(nr.randn(5, 3, dtype=nr.float64)).dtype is nr.float64
    assert net.float().fc.weight.dtype is nr.float32 and net.half().scale.dtype is nr.float16
    assert net.double().scale.dtype is nr.float64 and net.cpu().scale.device == nr.device("cpu")
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point"):
        net.to(nr.int64)


def test_requires_grad_false_freezes_all_parameters():
    net = Net().requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    assert not net(nr.randn(5, 3)).requires_grad


def test_call_runs_forward_and_hooks():
    net = nn.Linear(2, 2)
    calls = []
    handle = net.register_forward_hook(lambda m, args, out: calls.append(out.shape))
    net(nr.ones(3, 2))
    handle.remove()
    net(nr.ones(3, 2))
    assert calls == [nr.Size([3, 2])]
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        nn.Module()(1)


def test_parameter_is_a_tensor_sharing_memory():
    data = nr.zeros(3)
    p = nn.Parameter(data)
    assert isinstance(p, nr.Tensor) and p.requires_grad and p.is_leaf
    data._data[0] = 5
    assert p[0].item() == 5
    assert not nn.Parameter(nr.ones(1), requires_grad=False).requires_grad
    assert (
        repr(nn.Parameter(nr.tensor([1.0, 2.0])))
        == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    )
    assert type(p * 2) is nr.Tensor


def test_deepcopy_parameter():
    p = nn.Parameter(nr.ones(2))
    q = copy.deepcopy(p)
    q._data[0] = 3
    assert isinstance(q, nn.Parameter) and p[0].item() == 1


def test_get_submodule_and_parameter():
    net = Net()
    assert net.get_submodule("body.2") is net.body[2]
    assert net.get_parameter("body.0.bias") is net.body[0].bias
    with pytest.raises(AttributeError, match="Sequential has no attribute `9`"):
        net.get_submodule("body.9")


@requires_torch
def test_parameter_repr_matches_torch():
    assert repr(nn.Parameter(nr.tensor([1.5, -2.0]))) == repr(
        torch.nn.Parameter(torch.tensor([1.5, -2.0]))
    )


def test_deepcopy_module_is_independent_and_keeps_sharing():
    lin = nn.Linear(3, 3)
    net = nn.Sequential(lin, nn.BatchNorm1d(3), lin)
    net(nr.randn(4, 3)).sum().backward()
    twin = copy.deepcopy(net)
    assert twin[0] is twin[2] and twin[0] is not lin and twin[0].weight.grad is not None
    assert twin[1].running_mean is not net[1].running_mean
    x = nr.randn(2, 3)
    net.eval(), twin.eval()
    np.testing.assert_array_equal(to_np(net(x)), to_np(twin(x)))
    twin[0].weight._data[...] = 0
    assert to_np(lin.weight).any()
