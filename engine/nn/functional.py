"""``nnrun.engine.nn.functional`` (``F``): the stateless forms of the layers, activations and
losses, with PyTorch's signatures, defaults and error messages."""

from __future__ import annotations

import math
import warnings

from .. import backend
from ..ops import api
from ..ops.reduce import quiet
from ..tensor import Tensor
from . import _activations as A
from . import _functions as _F
from ._conv import conv1d, conv2d
from ._loss_functional import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from ._pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .module import dtype_name

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "gelu",
    "huber_loss",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "pad",
    "relu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "tanh",
]

_C_NAMES = {"float16": "c10::Half", "float32": "float", "float64": "double"}


# ------------------------------------------------------------------------------------- linear
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y = x W^T + b`` as one fused node. ``input`` (*, in), ``weight`` (out, in)."""
    if input.shape[-1:] != weight.shape[1:2]:
        rows = math.prod(input.shape[:-1])
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x"
            f"{input.shape[-1] if input.ndim else 1} and {weight.shape[-1]}x"
            f"{weight.shape[0]})"
        )
    if input.dtype is not weight.dtype:
        a, b = (_C_NAMES.get(t.dtype.name, t.dtype.name) for t in (input, weight))
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a} != {b}")
    return _F.Linear.apply(input, weight, bias)


# -------------------------------------------------------------------------------- activations
def _maybe_inplace(input, inplace, op, **kw):
    return input._inplace(lambda x: op(x, **kw)) if inplace else op(input, **kw)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, inplace, api.relu)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _maybe_inplace(
        input, inplace, lambda x: A.LeakyReLU.apply(x, negative_slope=negative_slope)
    )


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, inplace, lambda x: A.ELU.apply(x, alpha=alpha))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``x * Phi(x)``; ``approximate='tanh'`` uses ``0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))``."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return A.GELU.apply(input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, inplace, A.SiLU.apply)


sigmoid = api.sigmoid
tanh = api.tanh


def _softmax_dim(name, ndim, stacklevel):
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call "
        "to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return api.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    return api.log_softmax(input, dim, dtype=dtype)


# ------------------------------------------------------------------------------------ dropout
def dropout(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, *, generator=None
) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (training
    only; identity otherwise). Draws from the engine generator, so ``nr.manual_seed`` fixes it."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return _maybe_inplace(input, inplace, lambda x: x * 0)
    gen = backend.generator_for(input.device, generator)
    return _maybe_inplace(input, inplace, lambda x: _F.Dropout.apply(x, p=p, generator=gen))


# ------------------------------------------------------------------------------ normalisation
def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise (N, C, *) input per channel; in training, update the running statistics in
    place (the variance with Bessel's correction, as PyTorch)."""
    c = input.shape[1] if input.ndim > 1 else 0
    for name, t in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    if training:
        if input.numel() // max(c, 1) <= 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got input "
                f"size {input.size()}"
            )
    elif running_mean is None or running_var is None:
        raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
    return _F.BatchNorm.apply(
        input,
        weight,
        bias,
        running_mean=None if running_mean is None else running_mean._data,
        running_var=None if running_var is None else running_var._data,
        training=training,
        momentum=momentum,
        eps=eps,
    )


def layer_norm(
    input: Tensor,
    normalized_shape,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dimensions (biased variance)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if (
        not shape
        or tuple(input.shape[input.ndim - len(shape) :]) != shape
        or input.ndim < len(shape)
    ):
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size{list(input.shape)}"
        )
    return _F.LayerNorm.apply(input, weight, bias, ndims=len(shape), eps=eps)


# ---------------------------------------------------------------------------------- embedding
def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Look up rows of ``weight`` (num_embeddings, embedding_dim) by integer ``input`` (*);
    the output is (*, embedding_dim). Rows at ``padding_idx`` get no gradient."""
    if input.dtype not in (backend.int64, backend.int32):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got nnrun.{dtype_name(input.dtype)}Tensor instead "
            "(while checking arguments for embedding)"
        )
    if sparse:
        raise NotImplementedError("sparse embedding gradients are not supported; use sparse=False")
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= n
    index = input._data
    # a host sync on a GPU, but needed: CuPy's take wraps out-of-range indices silently
    if index.size and (int(index.min()) < 0 or int(index.max()) >= n):
        raise IndexError("index out of range in self")
    if max_norm is not None:
        _renorm_rows(weight, index, max_norm, norm_type)
    return _F.Embedding.apply(
        weight, index, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq
    )


@quiet  # an infinite row scales by 0: nan, silently, as PyTorch's embedding_renorm_
def _renorm_rows(weight, index, max_norm, norm_type):
    """Rescale, in place, the looked-up rows whose norm exceeds ``max_norm``."""
    xp = backend.xp_of(weight._data)
    rows = xp.unique(index)
    w = weight._data[rows]
    norms = (xp.abs(w) ** norm_type).sum(axis=1) ** (1 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1).astype(w.dtype)
    weight._data[rows] = w * scale[:, None]


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 (*, num_classes) with a 1 at each index of ``tensor``; ``-1`` infers the count."""
    if tensor.dtype is not backend.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    a = tensor._data
    xp = backend.xp_of(a)
    if a.size and int(a.min()) < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        if not a.size:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(a.max()) + 1
    elif a.size and int(a.max()) >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return Tensor._make((a[..., None] == xp.arange(num_classes)).astype(xp.int64))


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)``
    starting from the last dimension; negative amounts crop. Only ``mode='constant'``."""
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input "
            f"dimension but got padding length {len(pad)} and input of dimension "
            f"{input.ndim}"
        )
    if mode != "constant":
        if mode in ("reflect", "replicate", "circular"):
            raise NotImplementedError(
                f"pad mode '{mode}' is not supported; nnrun supports mode='constant'"
            )
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pairs[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return _F.Pad.apply(input, pads=tuple(pairs), value=0 if value is None else value)
