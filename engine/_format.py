"""``repr`` of tensors as PyTorch prints them: ``tensor(146.)``, ``tensor([1, 2, 3])``."""

from __future__ import annotations

import numpy as np

from . import backend

_EDGE, _THRESHOLD, _WIDTH, _PRECISION = 3, 1000, 80, 4


def _float_formatter(values: np.ndarray):
    finite = values[np.isfinite(values)] if values.size else values
    if finite.size == 0:
        return lambda x: _special(x) or f"{x:.4f}"
    absf = np.abs(finite.astype(np.float64))
    nonzero = absf[absf != 0]
    if np.all(finite == np.round(finite)):  # integer-valued: `1.`, or `1e+10` when huge
        if absf.max() >= 1e8:
            return lambda x: _special(x) or f"{x:.{_PRECISION}e}"
        return lambda x: _special(x) or f"{x:.0f}."
    if nonzero.size and (nonzero.max() / nonzero.min() > 1000 or nonzero.max() > 1e8
                         or nonzero.min() < 1e-4):
        return lambda x: _special(x) or f"{x:.{_PRECISION}e}"
    return lambda x: _special(x) or f"{x:.{_PRECISION}f}"


def _special(x):
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return None


def _summarized(a: np.ndarray) -> np.ndarray:
    """The elements that will be printed (edges only when summarising)."""
    if a.ndim == 0:
        return a.reshape(1)
    if a.shape[0] > 2 * _EDGE:
        a = np.concatenate([a[:_EDGE], a[-_EDGE:]])
    return np.concatenate([_summarized(x) for x in a]) if a.ndim > 1 else a


def format_tensor(t) -> str:
    a = backend.to_numpy(t._data)
    dt = t.dtype
    summarize = a.size > _THRESHOLD
    shown = _summarized(a) if summarize else a.reshape(-1)
    if dt is backend.bool_:
        fmt = lambda x: str(bool(x))
    elif dt.is_floating_point:
        fmt = _float_formatter(shown.astype(np.float64))
    else:
        fmt = lambda x: str(int(x))
    width = max((len(fmt(x)) for x in shown), default=0)
    prefix = "tensor("
    if a.size == 0 and a.ndim == 1 or a.size == 0:
        body = "[]"
    else:
        body = _format_nd(a, fmt, width, len(prefix), summarize)
    suffix = []
    if a.size == 0 and a.ndim != 1:
        suffix.append(f"size={tuple(a.shape)}")
    if dt not in (backend.float32, backend.int64, backend.bool_):
        suffix.append(f"dtype={dt!r}")
    if t.device.type != "cpu":
        suffix.append(f"device='{t.device}'")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffix) + ")"


def _format_nd(a, fmt, width, indent, summarize):
    if a.ndim == 0:
        return fmt(a.item())
    if a.ndim == 1:
        items = [x if isinstance(x, str) else fmt(x).rjust(width) for x in _edges(a, summarize)]
        per_line = max(1, (_WIDTH - indent) // (width + 2))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = [_format_nd(x, fmt, width, indent + 1, summarize) if x is not None else "..."
            for x in _edges(a, summarize)]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(rows) + "]"


def _edges(a, summarize):
    if summarize and a.shape[0] > 2 * _EDGE:
        return [*a[:_EDGE], None, *a[-_EDGE:]] if a.ndim > 1 else \
            [*a[:_EDGE].tolist(), "...", *a[-_EDGE:].tolist()]
    return list(a) if a.ndim > 1 else a.tolist()
