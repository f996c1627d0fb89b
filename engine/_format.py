"""``repr`` of tensors exactly as PyTorch prints them: ``tensor(146.)``, ``tensor([1, 2, 3])``.

A port of ``torch/_tensor_str.py`` with its default print options (precision 4, 80 columns,
summarised past 1000 elements with 3 edge items), so output can be compared character for
character with PyTorch's (with ``torch.`` read as ``nnrun.``).
"""

from __future__ import annotations

import math

from . import backend
from .backend import np

_PRECISION, _LINEWIDTH, _THRESHOLD, _EDGE = 4, 80, 1000, 3


class _Formatter:
    """Chooses integer, fixed or scientific notation and one width for every element."""

    def __init__(self, values, floating: bool):
        self.floating = floating
        self.int_mode, self.sci_mode, self.max_width = True, False, 1
        if not floating:
            for v in values.tolist():
                self.max_width = max(self.max_width, len(str(v)))
            return
        v = values.astype(np.float64)
        nonzero = v[np.isfinite(v) & (v != 0)]
        if nonzero.size == 0:
            return
        absv = np.abs(nonzero)
        lo, hi = absv.min(), absv.max()
        self.int_mode = bool(np.all(nonzero == np.ceil(nonzero)))
        self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4)
        vals = nonzero.tolist()
        if self.sci_mode:
            self.max_width = max(len(f"{x:.{_PRECISION}e}") for x in vals)
        elif self.int_mode:
            self.max_width = max(len(f"{x:.0f}") + 1 for x in vals)
        else:
            self.max_width = max(len(f"{x:.{_PRECISION}f}") for x in vals)

    def format(self, value) -> str:
        if self.floating:
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{_PRECISION}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{_PRECISION}f}"
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret


def _summarized(a):
    """The elements that will be printed (only the edges when summarising)."""
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate([a[:_EDGE], a[-_EDGE:]]) if a.shape[0] > 2 * _EDGE else a
    rows = (
        list(range(_EDGE)) + list(range(len(a) - _EDGE, len(a)))
        if a.shape[0] > 2 * _EDGE
        else range(a.shape[0])
    )
    return np.stack([_summarized(a[i]) for i in rows])


def _vector_str(a, indent, summarize, fmt: _Formatter) -> str:
    per_line = max(1, math.floor((_LINEWIDTH - indent) / (fmt.max_width + 2)))
    if summarize and a.shape[0] > 2 * _EDGE:
        data = (
            [fmt.format(v) for v in a[:_EDGE].tolist()]
            + [" ..."]
            + [fmt.format(v) for v in a[-_EDGE:].tolist()]
        )
    else:
        data = [fmt.format(v) for v in a.tolist()]
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str(a, indent, summarize, fmt: _Formatter) -> str:
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector_str(a, indent, summarize, fmt)
    if summarize and a.shape[0] > 2 * _EDGE:
        slices = (
            [_tensor_str(a[i], indent + 1, summarize, fmt) for i in range(_EDGE)]
            + ["..."]
            + [_tensor_str(a[i], indent + 1, summarize, fmt) for i in range(len(a) - _EDGE, len(a))]
        )
    else:
        slices = [_tensor_str(a[i], indent + 1, summarize, fmt) for i in range(a.shape[0])]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _add_suffixes(text: str, suffixes, indent: int) -> str:
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > _LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def format_tensor(t) -> str:
    a = backend.to_numpy(t._data)
    if a.dtype == np.float16:
        a = a.astype(np.float32)  # as PyTorch, which prints half tensors through float
    dt = t.dtype
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    if a.size == 0:
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        if dt is not backend.default_float():
            suffixes.append(f"dtype={dt!r}")
        body = "[]"
    else:
        if dt not in (backend.default_float(), backend.int64, backend.bool_):
            suffixes.append(f"dtype={dt!r}")
        summarize = a.size > _THRESHOLD
        fmt = _Formatter((_summarized(a) if summarize else a).reshape(-1), dt.is_floating_point)
        body = _tensor_str(a, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
