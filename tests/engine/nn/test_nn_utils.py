"""nn.utils: gradient clipping and parameter/vector conversion against PyTorch."""

from __future__ import annotations

import math

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import DEVICE, requires_torch, to_np, torch
from nnrun.engine.nn import utils

GRADS = [np.array([[3.0, -4.0], [1.0, 2.0]]), np.array([0.5, -12.0, 7.0])]


def params_with_grads(m, scale=1.0):
    ps = []
    for g in GRADS:
        p = (
            m.nn.Parameter(m.zeros(g.shape))
            if m is torch
            else nr.nn.Parameter(nr.zeros(g.shape, device=DEVICE))
        )
        p.grad = (
            m.tensor(g * scale, dtype=m.float32)
            if m is torch
            else nr.tensor(g * scale, dtype=nr.float32, device=DEVICE)
        )
        ps.append(p)
    return ps


@requires_torch
@pytest.mark.parametrize(
    "max_norm,norm_type", [(1.0, 2.0), (100.0, 2.0), (2.0, 1.0), (3.0, math.inf), (0.5, 3.0)]
)
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    n_ps, t_ps = params_with_grads(nr), params_with_grads(torch)
    n_total = utils.clip_grad_norm_(n_ps, max_norm, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(t_ps, max_norm, norm_type)
    assert n_total.dtype is nr.float32 and n_total.shape == ()
    np.testing.assert_allclose(n_total.item(), t_total.item(), rtol=1e-6)
    for n, t in zip(n_ps, t_ps):
        np.testing.assert_allclose(to_np(n.grad), t.grad.numpy(), rtol=1e-6)


def test_clip_grad_norm_edge_cases():
    p = nr.nn.Parameter(nr.ones(2))
    assert utils.clip_grad_norm_([p], 1.0).item() == 0.0  # no gradients at all
    p.grad = nr.tensor([float("inf"), 1.0])
    with pytest.raises(
        RuntimeError,
        match="The total norm of order 2.0 for gradients from `parameters` is non-finite",
    ):
        utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    p.grad = g = nr.tensor([3.0, 4.0])
    utils.clip_grad_norm_(p, 1.0)  # a single tensor; the gradient is scaled in place
    assert p.grad is g
    np.testing.assert_allclose(to_np(g), [0.6, 0.8], rtol=1e-5)


@requires_torch
def test_clip_grad_value_matches_torch():
    n_ps, t_ps = params_with_grads(nr), params_with_grads(torch)
    assert utils.clip_grad_value_(n_ps, 2.5) is None
    torch.nn.utils.clip_grad_value_(t_ps, 2.5)
    for n, t in zip(n_ps, t_ps):
        np.testing.assert_array_equal(to_np(n.grad), t.grad.numpy())


def test_parameters_to_vector_and_back():
    model = nr.nn.Sequential(nr.nn.Linear(3, 2), nr.nn.Linear(2, 1)).to(DEVICE)
    vec = utils.parameters_to_vector(model.parameters())
    assert vec.shape == (11,)
    np.testing.assert_array_equal(to_np(vec[:6]), to_np(model[0].weight).reshape(-1))
    utils.vector_to_parameters(nr.arange(11.0, device=DEVICE), model.parameters())
    assert model[0].bias.tolist() == [6.0, 7.0] and model[1].weight.tolist() == [[8.0, 9.0]]
    assert isinstance(model[0].weight, nr.nn.Parameter)


def test_parameters_to_vector_is_differentiable():
    lin = nr.nn.Linear(2, 2)
    (utils.parameters_to_vector(lin.parameters()) * nr.arange(6.0)).sum().backward()
    assert lin.weight.grad.tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert lin.bias.grad.tolist() == [4.0, 5.0]


def test_vector_to_parameters_type_error():
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        utils.vector_to_parameters([1], [])
