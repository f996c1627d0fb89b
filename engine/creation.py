"""Tensor creation: ``tensor``, ``zeros``, ``randn``, ``arange``, ... with PyTorch's dtype rules."""

from __future__ import annotations

import math
from numbers import Integral, Number, Real

from . import backend
from .backend import default_float, get_device, get_xp, np, to_dtype
from .ops.reduce import quiet
from .tensor import Tensor


def _finish(array, requires_grad):
    t = Tensor._make(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(
                f"size must be a tuple of ints, but got an element of type {type(s).__name__}"
            )
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return tuple(int(s) for s in size)


def _infer_dtype(data):
    """PyTorch's inference: Python floats -> default float, ints -> int64, bools -> bool; NumPy
    scalars keep their dtype (np.float64 is a float subclass, so it is tested first)."""
    if isinstance(data, np.generic):
        return backend.int64 if data.dtype == np.uint64 else backend.from_np(data.dtype)
    if isinstance(data, bool):
        return backend.bool_
    if isinstance(data, int):
        return backend.int64
    if isinstance(data, float):
        return default_float()
    return None


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """A new tensor holding a copy of ``data`` (a number, nested lists, an array or a tensor)."""
    if device is not None:
        dev = get_device(device)
    elif isinstance(data, Tensor):
        dev = data.device
    else:  # a CuPy array stays on its GPU, like torch.tensor(cuda_tensor)
        dev = backend.device_of(data) if backend.is_array(data) else backend.CPU
    dt = to_dtype(dtype) if dtype is not None else None
    if isinstance(data, Tensor):
        arr = data._data
        if dt is None:
            dt = data.dtype
        return _finish(
            backend.asarray(backend.to_device(arr, dev), dt, dev, copy=True), requires_grad
        )
    if backend.is_array(data):
        a = data
        if dt is None:
            dt = backend.from_np(a.dtype)
    else:
        a = np.array(_unwrap(data))
        if a.dtype == object or a.dtype.kind not in "biuf":
            raise TypeError(f"Could not infer dtype of {type(data).__name__}")
        if dt is None:
            dt = _infer_dtype(data) or _leaf_dtype(data)
        elif dt.np.kind in "iu" and a.dtype.kind in "iuf" and a.size:
            _check_integer_range(a, dt)
    return _finish(backend.asarray(a, dt, dev, copy=True), requires_grad)


def _check_integer_range(a, dt):
    """PyTorch's check when Python numbers become an integer tensor: nan, inf or a value beyond
    the type's range is an error (NumPy would wrap it silently); as in PyTorch, negative ints
    down to -255 wrap into uint8."""
    info = np.iinfo(dt.np)
    if a.dtype.kind == "f":
        bad = np.isnan(a) | (a < info.min) | (a > info.max)
    else:
        low = -int(info.max) if dt.name == "uint8" else info.min
        bad = (a < low) | (a > info.max)
    if bad.any():
        raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow")


def _leaf_dtype(data):
    """PyTorch's inference over nested sequences: each Python float counts as the default float,
    each int as int64, each NumPy scalar/array or tensor as its own dtype; then they promote."""
    found = None
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
            continue
        if isinstance(x, Tensor):
            dt = x.dtype
        elif isinstance(x, (np.generic, np.ndarray)):
            dt = backend.int64 if x.dtype == np.uint64 else backend.from_np(x.dtype)
        else:
            dt = _infer_dtype(x)
            if dt is None:
                raise TypeError(f"Could not infer dtype of {type(x).__name__}")
        found = dt if found is None else backend.promote_types(found, dt)
    return found or default_float()  # tensor([]) is float32


def _unwrap(data):
    if isinstance(data, Tensor):
        return backend.to_numpy(data._data)
    if isinstance(data, (list, tuple)):
        return [_unwrap(x) for x in data]
    return data


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array (or tensor) when no copy is needed."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (device or dtype) else data
    if isinstance(data, np.ndarray) and (device is None or get_device(device).type == "cpu"):
        out = from_numpy(data)
        return out.to(dtype) if dtype is not None else out
    return tensor(data, dtype=dtype, device=device)


def from_numpy(ndarray) -> Tensor:
    """A CPU tensor sharing memory with ``ndarray``."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    backend.from_np(ndarray.dtype)  # raises for unsupported dtypes
    return Tensor._make(ndarray)


# The C++ type names in PyTorch's "value cannot be converted to type float without overflow"
_CPP_NAMES = {
    "float16": "c10::Half",
    "float32": "float",
    "float64": "double",
    "int8": "int8_t",
    "int16": "int16_t",
    "int32": "int",
    "int64": "int64_t",
    "uint8": "uint8_t",
}


def checked_fill_value(value, dt, numel):
    """``value`` (a Python or NumPy number) as ``full`` and ``fill_`` store it in dtype ``dt``,
    or PyTorch's error where it does not fit: a finite number beyond the type's range, inf or
    nan into an integer type. inf and nan fill a floating type; bool takes anything; a negative
    int wraps into uint8 down to -255. As PyTorch, one float16 element is not checked (it
    becomes inf)."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = int(value)
        if value >= 2**64:
            raise OverflowError("int too big to convert")
        if value < -(2**63):
            raise OverflowError("can't convert negative int to unsigned")
    elif not isinstance(value, Real) or isinstance(value, bool):
        return value  # bool, complex: NumPy's conversion
    if dt.name == "bool":
        return bool(value)
    if dt.name == "float16" and numel == 1:
        return value
    if dt.is_floating_point:
        fits = not math.isfinite(value) or abs(value) <= float(np.finfo(dt.np).max)
    else:
        info = np.iinfo(dt.np)
        if dt.name == "uint8" and isinstance(value, int) and -info.max <= value < 0:
            return value % (info.max + 1)  # PyTorch wraps small negative ints
        fits = not math.isnan(value) and info.min <= value <= info.max
    if not fits:
        raise RuntimeError(
            f"value cannot be converted to type {_CPP_NAMES[dt.name]} without overflow"
        )
    return value


@quiet  # a fill beyond the dtype's range (one float16 element) becomes inf silently
def _full(xp, shape, fill, np_dtype):
    return xp.full(shape, fill, dtype=np_dtype)


def _filled(fn_name, size, fill, dtype, device, requires_grad):
    dev = get_device(device)
    dt = to_dtype(dtype) if dtype is not None else default_float()
    xp = get_xp(dev)
    shape = _size(size)
    if fill is not None:
        fill = checked_fill_value(fill, dt, math.prod(shape))
    if dev.type == "cpu":
        arr = (
            getattr(xp, fn_name)(shape, dtype=dt.np)
            if fill is None
            else _full(xp, shape, fill, dt.np)
        )
    else:
        with xp.cuda.Device(dev.index):
            arr = (
                getattr(xp, fn_name)(shape, dtype=dt.np)
                if fill is None
                else xp.full(shape, fill, dtype=dt.np)
            )
    return _finish(arr, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``size`` filled with 0 (float32 unless ``dtype`` says otherwise)."""
    return _filled("zeros", size, None, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``size`` filled with 1."""
    return _filled("ones", size, None, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """An uninitialised tensor of ``size`` (its values are whatever memory held)."""
    return _filled("empty", size, None, dtype, device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; the dtype is inferred from it."""
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if dtype is None:
        dtype = _infer_dtype(fill_value) or default_float()
    return _filled(
        "full",
        (tuple(size) if not isinstance(size, int) else (size,),),
        fill_value,
        dtype,
        device,
        requires_grad,
    )


def _like(t, dtype, device):
    return (dtype if dtype is not None else t.dtype, device if device is not None else t.device)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``zeros`` with ``input``'s shape, dtype and device."""
    return zeros(
        input.shape,
        dtype=_like(input, dtype, device)[0],
        device=_like(input, dtype, device)[1],
        requires_grad=requires_grad,
    )


def ones_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``ones`` with ``input``'s shape, dtype and device."""
    return ones(
        input.shape,
        dtype=_like(input, dtype, device)[0],
        device=_like(input, dtype, device)[1],
        requires_grad=requires_grad,
    )


def empty_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``empty`` with ``input``'s shape, dtype and device."""
    return empty(
        input.shape,
        dtype=_like(input, dtype, device)[0],
        device=_like(input, dtype, device)[1],
        requires_grad=requires_grad,
    )


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``full`` with ``input``'s shape, dtype and device."""
    dt, dev = _like(input, dtype, device)
    return full(input.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def _random(kind, size, dtype, device, requires_grad, generator):
    dev = get_device(device)
    dt = to_dtype(dtype) if dtype is not None else default_float()
    if not dt.is_floating_point:
        raise RuntimeError(f"\"{kind}\" not implemented for '{dt.name}'")
    gen = backend.generator_for(dev, generator)
    shape = _size(size)
    arr = gen.uniform(shape, dt.np) if kind == "uniform" else gen.normal(shape, dt.np)
    return _finish(arr, requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples on [0, 1)."""
    return _random("uniform", size, dtype, device, requires_grad, generator)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples."""
    return _random("normal", size, dtype, device, requires_grad, generator)


def rand_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``rand`` with ``input``'s shape, dtype and device."""
    dt, dev = _like(input, dtype, device)
    return rand(input.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``randn`` with ``input``'s shape, dtype and device."""
    dt, dev = _like(input, dtype, device)
    return randn(input.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def randint(
    *args, size=None, generator=None, dtype=None, device=None, requires_grad=False
) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high)."""
    args = list(args)
    if size is None:
        if not args or not isinstance(args[-1], (tuple, list)):
            raise TypeError("randint() missing required argument 'size' (a tuple of ints)")
        size = args.pop()
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError("randint() expects (high, size) or (low, high, size)")
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    dev = get_device(device)
    dt = to_dtype(dtype) if dtype is not None else backend.int64
    gen = backend.generator_for(dev, generator)
    arr = gen.integers(low, high, _size((size,)), np.int64).astype(dt.np, copy=False)
    return _finish(arr, requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None) -> Tensor:
    """``randint(low, high)`` with ``input``'s shape, dtype and device."""
    if high is None:
        low, high = 0, low
    dt, dev = _like(input, dtype, device)
    return randint(low, high, tuple(input.shape), dtype=dt, device=dev)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64)."""
    dev = get_device(device)
    gen = backend.generator_for(dev, generator)
    dt = to_dtype(dtype) if dtype is not None else backend.int64
    return _finish(gen.permutation(int(n)).astype(dt.np, copy=False), requires_grad)


def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 unless a float is given.

    Example::

        >>> nr.arange(5)
        tensor([0, 1, 2, 3, 4])
    """
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        dtype = default_float() if any(isinstance(v, float) for v in vals) else backend.int64
    dt = to_dtype(dtype)
    n = max(0, math.ceil((end - start) / step))
    arr = (
        (start + step * np.arange(n, dtype=np.float64)).astype(dt.np)
        if dt.is_floating_point
        else np.arange(start, start + n * step, step, dtype=dt.np)[:n]
    )
    return _finish(backend.to_device(arr, get_device(device)), requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end)]
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    dt = to_dtype(dtype) if dtype is not None else default_float()
    return _finish(
        backend.to_device(_linspace(*vals, int(steps), dt), get_device(device)), requires_grad
    )


def _linspace(start, end, steps, dt):
    """PyTorch's CPU kernel: the first half counts up from ``start``, the second half down from
    ``end``, each point one fused multiply-add in the dtype (emulated in a wider type, so every
    float32 and float64 value is bit-identical to PyTorch's)."""
    if steps <= 1:
        return np.full((steps,), start, dtype=dt.np)
    calc = dt.np if dt.is_floating_point else np.dtype(np.float64)
    wide = np.float64 if calc == np.float32 or calc == np.float16 else np.longdouble
    lo, hi = calc.type(start), calc.type(end)
    step = wide((hi - lo) / calc.type(steps - 1))
    i = np.arange(steps, dtype=wide)
    out = np.where(i < steps // 2, wide(lo) + step * i, wide(hi) - step * (steps - 1 - i))
    return out.astype(dt.np)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A 2-D tensor with ones on the diagonal (``n`` x ``m``, ``m`` defaulting to ``n``)."""
    dt = to_dtype(dtype) if dtype is not None else default_float()
    arr = np.eye(n, n if m is None else m, dtype=dt.np)
    return _finish(backend.to_device(arr, get_device(device)), requires_grad)


def scalar_tensor(value, *, dtype=None, device=None) -> Tensor:
    """A 0-d tensor holding ``value`` (float32 unless ``dtype`` says otherwise)."""
    return tensor(
        value if isinstance(value, Number) else float(value),
        dtype=dtype or default_float(),
        device=device,
    )
