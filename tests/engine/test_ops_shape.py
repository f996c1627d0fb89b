"""Shape ops, concatenation and matrix products, with gradients and PyTorch parity."""

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import check, requires_torch, torch


@pytest.mark.parametrize(
    "fn,shape",
    [
        (lambda m, x: x.reshape(4, 6), (2, 3, 4)),
        (lambda m, x: x.reshape(-1), (2, 3, 4)),
        (lambda m, x: x.reshape((3, -1)), (2, 3, 4)),
        (lambda m, x: x.view(2, -1), (2, 3, 4)),
        (lambda m, x: x.view(24), (2, 3, 4)),
        (lambda m, x: x.view(-1, 4)[1:].reshape(-1), (2, 3, 4)),
        (lambda m, x: x.t().reshape(12), (3, 4)),
        (lambda m, x: x.squeeze(), (1, 3, 1, 4)),
        (lambda m, x: x.squeeze(0), (1, 3, 1, 4)),
        (lambda m, x: x.squeeze(-2), (1, 3, 1, 4)),
        (lambda m, x: x.squeeze(1), (1, 3, 1, 4)),
        (lambda m, x: x.unsqueeze(0), (3, 4)),
        (lambda m, x: x.unsqueeze(-1), (3, 4)),
        (lambda m, x: x.unsqueeze(1), (3, 4)),
        (lambda m, x: x.permute(2, 0, 1), (2, 3, 4)),
        (lambda m, x: x.permute((1, 2, 0)), (2, 3, 4)),
        (lambda m, x: x.transpose(0, 2), (2, 3, 4)),
        (lambda m, x: x.transpose(-1, -2), (2, 3, 4)),
        (lambda m, x: x.t(), (3, 4)),
        (lambda m, x: x.t(), (4,)),
        (lambda m, x: x.T, (3, 4)),
        (lambda m, x: x.mT, (2, 3, 4)),
        (lambda m, x: x.flatten(), (2, 3, 4)),
        (lambda m, x: x.flatten(1), (2, 3, 4)),
        (lambda m, x: x.flatten(0, 1), (2, 3, 4)),
        (lambda m, x: x.flatten(start_dim=1, end_dim=-2), (2, 3, 4, 5)),
        (lambda m, x: x.unflatten(1, (3, 4)), (2, 12)),
        (lambda m, x: x.unflatten(-1, (2, -1)), (2, 12)),
        (lambda m, x: x.expand(3, 4), (1, 4)),
        (lambda m, x: x.expand(2, 3, -1), (3, 1)),
        (lambda m, x: x.expand_as(m.zeros(5, 3, 4)), (3, 1)),
        (lambda m, x: x.repeat(2, 3), (2, 3)),
        (lambda m, x: x.repeat(2, 1, 3), (2, 3)),
        (lambda m, x: x.flip(0), (2, 3)),
        (lambda m, x: x.flip((0, 1)), (2, 3)),
        (lambda m, x: x.narrow(1, 1, 2), (2, 3)),
        (lambda m, x: x.contiguous(), (2, 3)),
        (lambda m, x: x.t().contiguous() * 2, (2, 3)),
        (lambda m, x: x.view_as(m.zeros(6)), (2, 3)),
    ],
)
def test_shape_ops(fn, shape):
    check(fn, shape)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(dim):
    check(lambda m, a, b: m.cat([a, b], dim=dim), (2, 3), (2, 3))


def test_cat_different_sizes_and_three_inputs():
    check(lambda m, a, b, c: m.cat((a, b, c), 1), (2, 1), (2, 3), (2, 2))


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim):
    check(lambda m, a, b: m.stack([a, b], dim=dim), (2, 3), (2, 3))


@pytest.mark.parametrize("arg,dim", [(2, 0), (1, 1), ([1, 2], 1), (4, 0)])
def test_split(arg, dim):
    check(lambda m, x: m.cat([c * (i + 1) for i, c in enumerate(x.split(arg, dim))], dim), (3, 3))


@pytest.mark.parametrize("chunks,dim", [(2, 0), (3, 1), (2, 1)])
def test_chunk(chunks, dim):
    check(
        lambda m, x: m.cat([c * (i + 1) for i, c in enumerate(x.chunk(chunks, dim))], dim), (5, 3)
    )


@requires_torch
@pytest.mark.parametrize("n,chunks", [(5, 2), (6, 4), (5, 4), (1, 3)])
def test_chunk_sizes_match_torch(n, chunks):
    got = [tuple(c.shape) for c in nr.zeros(n).chunk(chunks)]
    assert got == [tuple(c.shape) for c in torch.zeros(n).chunk(chunks)]


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (2, 4, 5)),
        ((2, 3, 4), (4, 5)),
        ((3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((4,), (4, 5)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4,)),
        ((4,), (2, 4, 3)),
    ],
)
def test_matmul(sa, sb):
    check(lambda m, a, b: a @ b, sa, sb, ref=np.matmul)
    check(lambda m, a, b: m.matmul(a, b), sa, sb)


def test_mm_bmm():
    check(lambda m, a, b: m.mm(a, b), (3, 4), (4, 2))
    check(lambda m, a, b: m.bmm(a, b), (2, 3, 4), (2, 4, 2))
    check(lambda m, a, b: a.mm(b), (3, 4), (4, 2))


@pytest.mark.parametrize(
    "sa,sb,msg",
    [
        ((3, 4), (5, 6), r"3x4 and 5x6"),
        ((2, 3, 4), (2, 5, 6), r"2x3x4 and 2x5x6"),
        ((2, 3, 4), (3, 4, 5), r"\[2, 3, 4\].*\[3, 4, 5\]"),
    ],
)
def test_matmul_shape_mismatch_names_both_shapes(sa, sb, msg):
    with pytest.raises(RuntimeError, match=msg):
        nr.zeros(*sa) @ nr.zeros(*sb)


def test_bmm_and_mm_need_right_ranks():
    with pytest.raises(RuntimeError):
        nr.bmm(nr.zeros(3, 4), nr.zeros(4, 3))
    with pytest.raises(RuntimeError):
        nr.mm(nr.zeros(2, 3, 4), nr.zeros(4, 3))


def test_matmul_mixed_dtypes_raise():
    with pytest.raises(RuntimeError, match="dtype"):
        nr.zeros(2, 3) @ nr.zeros(3, 2, dtype=nr.float64)


def test_view_of_transposed_raises_reshape_copies():
    x = nr.arange(6.0).reshape(2, 3).t()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.view(6)
    assert x.reshape(6).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


def test_view_shares_memory():
    x = nr.zeros(2, 3)
    v = x.view(6)
    v[0] = 5.0
    assert x[0, 0].item() == 5.0
    p = x.permute(1, 0)
    p[2, 1] = 7.0
    assert x[1, 2].item() == 7.0


@pytest.mark.parametrize("shape,bad", [((2, 3), (4, 2)), ((2, 3), (-1, 4)), ((6,), (-1, -1))])
def test_bad_reshape_raises(shape, bad):
    with pytest.raises(RuntimeError):
        nr.zeros(*shape).reshape(*bad)


def test_expand_errors():
    with pytest.raises(RuntimeError, match="expanded size"):
        nr.zeros(2, 3).expand(4, 3)


def test_permute_errors():
    with pytest.raises(RuntimeError):
        nr.zeros(2, 3).permute(0, 0)
    with pytest.raises(RuntimeError):
        nr.zeros(2, 3).permute(0)


def test_cat_errors():
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        nr.cat([nr.zeros(2, 3), nr.zeros(3, 4)], dim=0)
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        nr.stack([nr.zeros(2), nr.zeros(3)])


def test_cat_promotes_dtypes():
    assert nr.cat([nr.tensor([1]), nr.tensor([2.0])]).dtype is nr.float32


def test_flatten_of_scalar_and_t_of_3d():
    assert nr.tensor(3.0).flatten().shape == (1,)
    with pytest.raises(RuntimeError):
        nr.zeros(2, 3, 4).t()
