"""Every layer against PyTorch (outputs, input and parameter gradients, buffers; train and eval),
and by finite differences in float64."""

from __future__ import annotations

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import DEVICE, rand_arrays, requires_torch, to_np, torch
from nn_parity import make_pair, module_gradcheck, module_parity

# (name, factory over the library m, input shape)
LAYERS = [
    ("linear", lambda m: m.nn.Linear(5, 3), (4, 5)),
    ("linear_nobias", lambda m: m.nn.Linear(5, 3, bias=False), (4, 5)),
    ("linear_batched", lambda m: m.nn.Linear(5, 3), (2, 4, 5)),
    ("linear_1d", lambda m: m.nn.Linear(5, 3), (5,)),
    ("bn1d", lambda m: m.nn.BatchNorm1d(4), (6, 4)),
    ("bn1d_3d", lambda m: m.nn.BatchNorm1d(4), (5, 4, 3)),
    ("bn1d_cumulative", lambda m: m.nn.BatchNorm1d(4, momentum=None), (6, 4)),
    ("bn1d_noaffine", lambda m: m.nn.BatchNorm1d(4, affine=False, momentum=0.3), (6, 4)),
    ("bn1d_nostats", lambda m: m.nn.BatchNorm1d(4, track_running_stats=False), (6, 4)),
    ("bn2d", lambda m: m.nn.BatchNorm2d(3, eps=1e-3), (4, 3, 5, 2)),
    ("layernorm", lambda m: m.nn.LayerNorm(5), (4, 5)),
    ("layernorm_2d", lambda m: m.nn.LayerNorm((3, 5)), (2, 3, 5)),
    ("layernorm_noaffine", lambda m: m.nn.LayerNorm(5, elementwise_affine=False), (4, 5)),
    ("layernorm_nobias", lambda m: m.nn.LayerNorm(5, bias=False, eps=1e-3), (2, 4, 5)),
    ("flatten", lambda m: m.nn.Flatten(), (2, 3, 4)),
    ("flatten_0_1", lambda m: m.nn.Flatten(0, 1), (2, 3, 4)),
    ("unflatten", lambda m: m.nn.Unflatten(1, (2, 3)), (4, 6)),
    ("identity", lambda m: m.nn.Identity(7, foo=1), (3, 4)),
    ("relu", lambda m: m.nn.ReLU(), (3, 4)),
    ("leaky_relu", lambda m: m.nn.LeakyReLU(0.2), (3, 4)),
    ("elu", lambda m: m.nn.ELU(alpha=0.7), (3, 4)),
    ("gelu", lambda m: m.nn.GELU(), (3, 4)),
    ("gelu_tanh", lambda m: m.nn.GELU(approximate="tanh"), (3, 4)),
    ("silu", lambda m: m.nn.SiLU(), (3, 4)),
    ("sigmoid", lambda m: m.nn.Sigmoid(), (3, 4)),
    ("tanh", lambda m: m.nn.Tanh(), (3, 4)),
    ("softmax", lambda m: m.nn.Softmax(dim=1), (3, 4)),
    ("softmax_last", lambda m: m.nn.Softmax(dim=-1), (2, 3, 4)),
    ("log_softmax", lambda m: m.nn.LogSoftmax(dim=1), (3, 4)),
    (
        "sequential",
        lambda m: m.nn.Sequential(
            m.nn.Linear(5, 4), m.nn.BatchNorm1d(4), m.nn.GELU(), m.nn.Linear(4, 2)
        ),
        (6, 5),
    ),
]
IDS = [name for name, *_ in LAYERS]


@requires_torch
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name,make,shape", LAYERS, ids=IDS)
def test_layer_matches_torch(name, make, shape, train):
    module_parity(make, rand_arrays([shape]), train=train, steps=3 if "bn" in name else 1)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name,make,shape", LAYERS, ids=IDS)
def test_layer_gradcheck(name, make, shape, train):
    assert module_gradcheck(make(nr), *rand_arrays([shape]), train=train)


def test_dropout_gradcheck():
    assert module_gradcheck(nr.nn.Dropout(0.4), *rand_arrays([(4, 5)]), train=True)


EMBEDDINGS = [
    ("plain", lambda m: m.nn.Embedding(7, 3)),
    ("padding", lambda m: m.nn.Embedding(7, 3, padding_idx=2)),
    ("negative_padding", lambda m: m.nn.Embedding(7, 3, padding_idx=-1)),
    ("freq", lambda m: m.nn.Embedding(7, 3, scale_grad_by_freq=True)),
]
INDEX = np.array([[0, 2, 2, 6], [6, 6, 1, 2]])  # repeated indices must accumulate


@requires_torch
@pytest.mark.parametrize("name,make", EMBEDDINGS, ids=[n for n, _ in EMBEDDINGS])
def test_embedding_matches_torch(name, make):
    module_parity(make, [INDEX])


def test_embedding_gradcheck():
    # padding_idx and scale_grad_by_freq change the gradient on purpose: only the plain layer
    assert module_gradcheck(nr.nn.Embedding(7, 3), INDEX)


def test_embedding_padding_row_is_zero_and_gets_no_grad():
    emb = nr.nn.Embedding(5, 2, padding_idx=1).to(DEVICE)
    assert not np.any(to_np(emb.weight[1]))
    emb(nr.tensor([1, 1, 3], device=DEVICE)).sum().backward()
    np.testing.assert_array_equal(to_np(emb.weight.grad)[[0, 1, 2, 4]], 0)
    np.testing.assert_array_equal(to_np(emb.weight.grad)[3], 1)


@requires_torch
def test_embedding_max_norm_renormalizes_looked_up_rows():
    t = torch.nn.Embedding(6, 3, max_norm=1.0)
    n = nr.nn.Embedding(6, 3, max_norm=1.0)
    n.load_state_dict({"weight": nr.tensor(t.weight.detach().numpy() * 3)})
    with torch.no_grad():
        t.weight.mul_(3)
    idx = [0, 2, 2]
    np.testing.assert_allclose(
        to_np(n(nr.tensor(idx))), t(torch.tensor(idx)).detach().numpy(), rtol=1e-5
    )
    np.testing.assert_allclose(to_np(n.weight), t.weight.detach().numpy(), rtol=1e-5)


def test_embedding_from_pretrained_is_frozen():
    emb = nr.nn.Embedding.from_pretrained(nr.eye(3))
    assert not emb.weight.requires_grad and emb.num_embeddings == 3
    assert emb(nr.tensor([2])).tolist() == [[0.0, 0.0, 1.0]]


@requires_torch
def test_batchnorm_running_stats_and_eval_after_training_steps():
    # 5 train steps on shifting batches, then eval outputs use the running statistics
    module_parity(lambda m: m.nn.BatchNorm2d(3, momentum=0.2), rand_arrays([(4, 3, 3, 3)]), steps=5)
    tm, nm = make_pair(lambda m: m.nn.BatchNorm1d(4))
    for step in range(4):
        x = np.random.default_rng(step).normal(step, 1 + step, (8, 4))
        tm(torch.tensor(x, dtype=torch.float32))
        nm(nr.tensor(x, dtype=nr.float32, device=DEVICE))
    assert nm.num_batches_tracked.item() == 4 and nm.num_batches_tracked.dtype is nr.int64
    np.testing.assert_allclose(to_np(nm.running_var), tm.running_var.numpy(), rtol=1e-5)
    tm.eval()
    nm.eval()
    x = np.random.default_rng(9).normal(size=(3, 4))
    np.testing.assert_allclose(
        to_np(nm(nr.tensor(x, dtype=nr.float32, device=DEVICE))),
        tm(torch.tensor(x, dtype=torch.float32)).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_batchnorm_running_var_is_unbiased():
    bn = nr.nn.BatchNorm1d(1, momentum=1.0).to(DEVICE)
    x = nr.tensor([[1.0], [2.0], [3.0], [6.0]], device=DEVICE)
    out = bn(x)
    assert bn.running_var.item() == pytest.approx(np.var([1, 2, 3, 6], ddof=1))
    assert bn.running_mean.item() == pytest.approx(3.0)
    # the normalisation itself uses the biased variance
    np.testing.assert_allclose(
        to_np(out)[:, 0],
        (np.array([1, 2, 3, 6]) - 3) / np.sqrt(np.var([1, 2, 3, 6]) + 1e-5),
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    "make,shape,match",
    [
        (lambda: nr.nn.BatchNorm1d(3), (2, 3, 4, 5), "expected 2D or 3D input \\(got 4D input\\)"),
        (lambda: nr.nn.BatchNorm2d(3), (2, 3), "expected 4D input \\(got 2D input\\)"),
        (lambda: nr.nn.BatchNorm1d(3), (1, 3), "Expected more than 1 value per channel when"),
    ],
)
def test_batchnorm_input_errors(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make().to(DEVICE)(nr.zeros(shape, device=DEVICE))


def test_batchnorm_channel_mismatch_error():
    with pytest.raises(RuntimeError, match="running_mean should contain 4 elements not 3"):
        nr.nn.BatchNorm1d(3)(nr.zeros(2, 4))


def test_linear_keeps_float32_and_has_one_node():
    lin = nr.nn.Linear(4, 3).to(DEVICE)
    out = lin(nr.randn(2, 4, device=DEVICE, requires_grad=True))
    assert out.dtype is nr.float32 and out.grad_fn.name() == "LinearBackward0"
    assert out.grad_fn.next_functions[0][0] is None  # straight to the leaves: no transpose/add


def test_linear_parameter_count():
    assert sum(p.numel() for p in nr.nn.Linear(512, 256).parameters()) == 131_328


@requires_torch
def test_linear_errors_match_torch():
    with pytest.raises(
        RuntimeError,
        match=r"mat1 and mat2 shapes cannot be multiplied \(3x4 and "
        r"5x2\)",
    ):
        nr.nn.functional.linear(nr.zeros(3, 4), nr.zeros(2, 5))
    with pytest.raises(
        RuntimeError, match="expected m1 and m2 to have the same dtype, but got: double != float"
    ):
        nr.nn.Linear(4, 2)(nr.zeros(3, 4, dtype=nr.float64))


def test_layernorm_shape_error():
    with pytest.raises(
        RuntimeError,
        match=r"Given normalized_shape=\[5\], expected input with "
        r"shape \[\*, 5\], but got input of size\[3, 4\]",
    ):
        nr.nn.LayerNorm(5)(nr.zeros(3, 4))
