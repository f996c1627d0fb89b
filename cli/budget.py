"""Memory sanity checks made before a model is allocated.

A config can ask for absurd sizes (``out_features: 1000000000000``, a batch of a billion). Built as
asked, such a model either fails with an allocation error after seconds of swapping or gets the
process killed. `planned_params` works out a layer's parameter count from its arguments before it
is constructed, and `too_big` compares it (and activation sizes) with this machine's memory, so
the config error names the layer and the argument instead.

    count = planned_params("Linear", cls, [], {"in_features": 64, "out_features": 10})   # 650
    problem = too_big(params=count)                                                       # None
"""

from __future__ import annotations

import inspect
import math
import os
from typing import Any

BYTES_PER_VALUE = 4  # float32
TRAINING_COPIES = 4  # weights, gradients and an optimizer's two moments (Adam)


def memory_bytes() -> int:
    """This machine's physical memory (16 GiB where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 16 * 2**30


def too_big(*, params: int = 0, activation_values: int = 0) -> str | None:
    """Why ``params`` parameters (trained, so about `TRAINING_COPIES` copies) or one activation of
    ``activation_values`` values cannot fit in memory; None when they can."""
    memory = memory_bytes()
    need = params * BYTES_PER_VALUE * TRAINING_COPIES
    if need > memory:
        return (
            f"{params:,} parameters ({size(params * BYTES_PER_VALUE)} as float32; training "
            f"needs about {TRAINING_COPIES}x that for gradients and optimizer state) are more "
            f"than this machine's {size(memory)} of memory"
        )
    need = activation_values * BYTES_PER_VALUE * TRAINING_COPIES
    if need > memory:
        return (
            f"its output for one batch, {activation_values:,} values, needs about {size(need)} "
            f"with its gradient and the backward pass's buffers, more than this machine's "
            f"{size(memory)} of memory"
        )
    return None


def planned_output(name: str, cls, positional: list, keywords: dict, shape: tuple) -> int | None:
    """The number of values per sample that built-in convolution or pooling layer ``name`` makes
    from an input of ``shape`` (batch first), computed before the layer runs; None otherwise."""
    try:
        a = inspect.signature(cls).bind_partial(*positional, **keywords)
    except (TypeError, ValueError):
        return None
    a.apply_defaults()
    a = a.arguments
    dims = {"Conv1d": 1, "Conv2d": 2, "MaxPool2d": 2, "AvgPool2d": 2}.get(name)
    if name == "AdaptiveAvgPool2d":
        out = _tuple(a.get("output_size"), 2)
        return None if out is None or len(shape) < 3 else shape[1] * math.prod(out)
    if dims is None or len(shape) != dims + 2:
        return None
    kernel = _tuple(a.get("kernel_size"), dims)
    stride = _tuple(a.get("stride") or a.get("kernel_size"), dims)
    padding = _tuple(a.get("padding", 0), dims)
    dilation = _tuple(a.get("dilation", 1), dims)
    if None in (kernel, stride, padding, dilation) or 0 in stride:
        return None
    channels = a.get("out_channels", shape[1]) if name.startswith("Conv") else shape[1]
    if not isinstance(channels, int):
        return None
    spatial = [
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(shape[2:], kernel, stride, padding, dilation)
    ]
    return channels * math.prod(max(n, 0) for n in spatial)


def _tuple(value, dims: int) -> tuple[int, ...] | None:
    value = (value,) * dims if isinstance(value, int) else value
    if (
        isinstance(value, (list, tuple))
        and len(value) == dims
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        return tuple(value)
    return None


def planned_params(name: str, cls, positional: list, keywords: dict[str, Any]) -> int | None:
    """The parameter count of built-in layer ``name`` built with these arguments, without building
    it; None for other layers or arguments that are not plain sizes (the constructor judges)."""
    try:
        signature = inspect.signature(cls)
        bound = signature.bind_partial(*positional, **keywords)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    a = bound.arguments

    def sizes(*keys):
        values = [a.get(k) for k in keys]
        ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)
        return values if ok else None

    if name == "Linear" and (s := sizes("in_features", "out_features")):
        return s[0] * s[1] + (s[1] if a.get("bias", True) else 0)
    if name in ("Conv1d", "Conv2d", "Conv3d") and (s := sizes("in_channels", "out_channels")):
        kernel = a.get("kernel_size")
        dims = int(name[4])
        kernel = [kernel] * dims if isinstance(kernel, int) else kernel
        groups = a.get("groups", 1)
        if not (
            isinstance(kernel, (list, tuple))
            and all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in kernel)
            and isinstance(groups, int)
            and groups > 0
        ):
            return None
        bias = s[1] if a.get("bias", True) else 0
        return s[1] * (s[0] // groups) * math.prod(kernel) + bias
    if name == "Embedding" and (s := sizes("num_embeddings", "embedding_dim")):
        return s[0] * s[1]
    if name.startswith(("BatchNorm", "InstanceNorm")) and (s := sizes("num_features")):
        return 2 * s[0]
    if name == "LayerNorm":
        shape = a.get("normalized_shape")
        shape = [shape] if isinstance(shape, int) else shape
        if isinstance(shape, (list, tuple)) and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            return 2 * math.prod(shape)
    return None


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
