"""Whole models: state dict keys and loading (PyTorch's names and errors), repr equal to PyTorch's,
and the seed MLP with BatchNorm1d and Dropout in train and eval mode."""

from __future__ import annotations

from collections import OrderedDict

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import DEVICE, requires_torch, requires_torch_strings, to_np, torch
from nn_parity import torch_to_nr_state


def seed_mlp(m):
    nn = m.nn
    return nn.Sequential(
        nn.Linear(784, 256),
        nn.BatchNorm1d(256),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def small_mlp(m):
    nn = m.nn
    return nn.Sequential(
        nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 3)
    )


REPR_MODELS = [
    seed_mlp,
    lambda m: m.nn.Sequential(
        OrderedDict(
            fc=m.nn.Linear(2, 3, bias=False),
            act=m.nn.GELU("tanh"),
            drop=m.nn.Dropout(0.1, inplace=True),
        )
    ),
    lambda m: m.nn.Sequential(
        m.nn.Conv2d(1, 8, 3, padding=1),
        m.nn.BatchNorm2d(8),
        m.nn.ReLU(inplace=True),
        m.nn.MaxPool2d(2),
        m.nn.Flatten(),
        m.nn.Linear(8 * 14 * 14, 10),
        m.nn.LogSoftmax(dim=1),
    ),
    lambda m: m.nn.ModuleList([m.nn.Linear(4, 4) for _ in range(3)] + [m.nn.Tanh()]),
    lambda m: m.nn.ModuleDict(
        {
            "enc": m.nn.Sequential(m.nn.Embedding(10, 4, padding_idx=0), m.nn.LayerNorm(4)),
            "head": m.nn.ModuleList(
                [m.nn.ELU(0.5), m.nn.LeakyReLU(0.2), m.nn.SiLU(), m.nn.Sigmoid()]
            ),
        }
    ),
    lambda m: m.nn.Sequential(
        m.nn.Unflatten(1, (2, 3)),
        m.nn.Flatten(0, -1),
        m.nn.Identity(),
        m.nn.Softmax(dim=0),
        m.nn.BatchNorm1d(3, momentum=None, affine=False),
    ),
    lambda m: m.nn.Sequential(
        m.nn.CrossEntropyLoss(),
        m.nn.MSELoss(),
        m.nn.HuberLoss(delta=2.0),
        m.nn.BCEWithLogitsLoss(),
        m.nn.LayerNorm((2, 3), eps=1e-3),
    ),
]


@requires_torch_strings
@pytest.mark.parametrize("make", REPR_MODELS)
def test_repr_matches_torch(make):
    assert repr(make(nr)) == repr(make(torch))


@requires_torch
def test_state_dict_keys_match_torch():
    n_sd, t_sd = small_mlp(nr).state_dict(), small_mlp(torch).state_dict()
    assert list(n_sd) == list(t_sd)
    assert all(tuple(n_sd[k].shape) == tuple(t_sd[k].shape) for k in t_sd)
    assert n_sd["1.num_batches_tracked"].dtype is nr.int64


def test_state_dict_values_are_detached_and_share_memory():
    model = small_mlp(nr)
    sd = model.state_dict()
    assert not sd["0.weight"].requires_grad and type(sd["0.weight"]) is nr.Tensor
    sd["0.weight"]._data[0, 0] = 42.0
    assert model[0].weight[0, 0].item() == 42.0
    assert model.state_dict(keep_vars=True)["0.weight"] is model[0].weight
    assert model.state_dict(prefix="m.")["m.0.bias"] is not None


def test_non_persistent_buffer_is_not_saved():
    m = nr.nn.Module()
    m.register_buffer("a", nr.zeros(1))
    m.register_buffer("b", nr.zeros(1), persistent=False)
    assert list(m.state_dict()) == ["a"] and len(list(m.buffers())) == 2


@requires_torch
def test_load_torch_state_dict_gives_same_outputs():
    torch.manual_seed(0)
    tm = small_mlp(torch)
    with torch.no_grad():  # non-trivial running statistics
        tm[1].running_mean.uniform_(-1, 1)
        tm[1].running_var.uniform_(0.5, 2)
    nm = small_mlp(nr).to(DEVICE)
    result = nm.load_state_dict(torch_to_nr_state(tm))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    tm.eval()
    nm.eval()
    np.testing.assert_allclose(
        to_np(nm(nr.tensor(x, device=DEVICE))),
        tm(torch.tensor(x)).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    # the other way round: PyTorch loads nnrun's state dict as is
    tm2 = small_mlp(torch)
    tm2.load_state_dict({k: torch.tensor(to_np(v)) for k, v in nm.state_dict().items()})
    tm2.eval()
    np.testing.assert_allclose(
        tm2(torch.tensor(x)).detach().numpy(),
        to_np(nm(nr.tensor(x, device=DEVICE))),
        rtol=1e-5,
        atol=1e-6,
    )


def test_load_state_dict_copies_in_place_and_accepts_arrays():
    model = small_mlp(nr)
    w = model[0].weight
    sd = {k: np.ones_like(to_np(v)) for k, v in model.state_dict().items()}
    model.load_state_dict(sd)
    assert model[0].weight is w and to_np(w).min() == 1 and w.requires_grad


def test_load_state_dict_strict_error_lists_everything():
    model = small_mlp(nr)
    sd = model.state_dict()
    del sd["0.bias"], sd["1.running_var"]
    sd["4.weight"] = nr.zeros(3, 4)
    sd["extra.weight"] = nr.zeros(1)
    with pytest.raises(RuntimeError) as err:
        model.load_state_dict(sd)
    assert str(err.value) == (
        "Error(s) in loading state_dict for Sequential:\n"
        '\tMissing key(s) in state_dict: "0.bias", "1.running_var". \n'
        '\tUnexpected key(s) in state_dict: "extra.weight". \n'
        "\tsize mismatch for 4.weight: copying a param with shape nnrun.Size([3, 4]) from "
        "checkpoint, the shape in current model is nnrun.Size([3, 5])."
    )


def test_load_state_dict_non_strict_reports_keys():
    model = small_mlp(nr)
    sd = model.state_dict()
    del sd["0.bias"]
    sd["extra"] = nr.zeros(1)
    result = model.load_state_dict(sd, strict=False)
    assert result == (["0.bias"], [])  # unexpected keys are only collected when strict
    assert result.missing_keys == ["0.bias"]


@requires_torch
def test_load_state_dict_error_text_matches_torch():
    def message(m, sd):
        with pytest.raises(RuntimeError) as err:
            small_mlp(m).load_state_dict(sd)
        return str(err.value).replace("torch.Size", "nnrun.Size")

    t_sd = small_mlp(torch).state_dict()
    del t_sd["1.weight"]
    t_sd["5.bias"] = torch.zeros(2)
    t_sd["0.weight"] = torch.zeros(1, 6)
    n_sd = {k: nr.tensor(v.numpy()) for k, v in t_sd.items()}
    assert message(nr, n_sd) == message(torch, t_sd)


def test_seed_mlp_parameter_count_and_modes():
    model = seed_mlp(nr).to(DEVICE)
    assert (
        sum(p.numel() for p in model.parameters())
        == 784 * 256 + 256 + 512 + 256 * 128 + 128 + 128 * 10 + 10
    )
    x = nr.randn(16, 784, device=DEVICE)
    model.train()
    a, b = model(x), model(x)
    assert a.shape == (16, 10) and not np.allclose(to_np(a), to_np(b))  # dropout is active
    assert model[1].num_batches_tracked.item() == 2
    nr.manual_seed(3)
    c = model(x)
    nr.manual_seed(3)
    np.testing.assert_array_equal(to_np(c), to_np(model(x)))  # seeded: reproducible
    model.eval()
    running = to_np(model[1].running_mean).copy()
    d, e = model(x), model(x)
    np.testing.assert_array_equal(to_np(d), to_np(e))  # eval: deterministic
    np.testing.assert_array_equal(to_np(model[1].running_mean), running)  # stats frozen
    assert model[1].num_batches_tracked.item() == 4


def test_seed_mlp_trains():
    model = seed_mlp(nr).to(DEVICE)
    x = nr.randn(64, 784, device=DEVICE)
    y = nr.randint(0, 10, (64,), device=DEVICE)
    loss_fn = nr.nn.CrossEntropyLoss()
    first = None
    for _ in range(15):
        loss = loss_fn(model(x), y)
        first = first if first is not None else loss.item()
        model.zero_grad()
        loss.backward()
        with nr.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    assert loss.item() < 0.5 * first
