"""``nr.save`` / ``nr.load``: safetensors files, never pickle, so a checkpoint can never run code.

Tensors go into the safetensors file; everything else (the nesting of dicts, lists and tuples, and
numbers, strings, bools and None) goes as JSON into the header's ``__metadata__`` under ``"nnrun"``.
A model's flat ``state_dict`` is stored under its own key names, so
``safetensors.torch.load_file(path)`` returns exactly PyTorch's ``state_dict`` keys, and a file
written by ``safetensors.torch.save_file`` loads here as a flat ``{name: Tensor}`` dict.

File layout (safetensors): 8 bytes little-endian header length ``N``, ``N`` bytes of JSON header
(``{name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}``), then the tensor bytes.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import math
import os
import re
import struct
import tempfile

import safetensors
import safetensors.numpy

from . import backend
from .tensor import Tensor

__all__ = ["SerializationError", "load", "save"]

_np = backend.np
_KEY, _VERSION = "nnrun", 1
_MAX_HEADER = 100_000_000  # safetensors' own limit on the header length
_DTYPES = {
    "BOOL": _np.dtype(bool),
    "U8": _np.dtype(_np.uint8),
    "I8": _np.dtype(_np.int8),
    "I16": _np.dtype(_np.int16),
    "I32": _np.dtype(_np.int32),
    "I64": _np.dtype(_np.int64),
    "F16": _np.dtype(_np.float16),
    "F32": _np.dtype(_np.float32),
    "F64": _np.dtype(_np.float64),
}
_UMASK = os.umask(0o022)  # read once: a new file gets the usual permissions, not mkstemp's 0600
os.umask(_UMASK)


class SerializationError(RuntimeError):
    """A file that is not a readable nnrun/safetensors checkpoint: truncated, corrupt or foreign."""


# -------------------------------------------------------------------------------------- saving
def save(obj, f) -> None:
    r"""Save ``obj`` to a safetensors file (atomically: temp file, fsync, rename).

    ``obj`` may be a tensor, or dicts, lists and tuples nesting tensors, NumPy arrays, ``int``,
    ``float`` (also nan/inf), ``str``, ``bool``, ``bytes`` and ``None`` — a model's, an
    optimizer's or a scheduler's ``state_dict``. Dict keys may be ``str``, ``int``, ``float``,
    ``bool``, ``None`` or tuples of those. Nothing is pickled.

    Args:
        obj: the object to save.
        f: a path (``str`` or ``os.PathLike``) or a writable binary file object.

    Example::

        >>> nr.save(model.state_dict(), "model.pth")
        >>> # in PyTorch: model.load_state_dict(safetensors.torch.load_file("model.pth"))
    """
    arrays, metadata = _encode(obj)  # raises TypeError before anything is written
    if hasattr(f, "write"):
        f.write(safetensors.numpy.save(arrays, metadata=metadata))
        return
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"save() expects a path or a writable binary file, got {type(f).__name__}")
    _atomic_write(os.fspath(f), arrays, metadata)


def _atomic_write(path: str, arrays: dict, metadata: dict) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        try:
            safetensors.numpy.save_file(arrays, tmp, metadata=metadata)
        except safetensors.SafetensorError as e:  # a failed write (disk full, ...) is an OSError
            raise _os_error(e, path) from None
        os.chmod(tmp, 0o666 & ~_UMASK)
        with open(tmp, "r+b") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _os_error(e: Exception, path: str) -> OSError:
    """safetensors' "I/O error: No space left on device (os error 28)" as ``OSError(28, ...)``."""
    found = re.search(r"os error (\d+)", str(e))
    code = int(found.group(1)) if found else errno.EIO
    return OSError(code, os.strerror(code) if found else f"cannot write: {e}", path)


def _encode(obj):
    """``obj`` → (``{name: contiguous array}``, safetensors metadata)."""
    arrays: dict = {}

    def add(array, path):
        name = ".".join(str(p) for p in path) or "tensor"
        if name in arrays:
            n = 1
            while f"{name}#{n}" in arrays:
                n += 1
            name = f"{name}#{n}"
        backend.from_np(array.dtype)  # TypeError for dtypes nnrun does not have
        a = backend.to_numpy(array)
        arrays[name] = a if a.flags.c_contiguous else a.copy(order="C")  # keeps 0-d arrays 0-d
        return name

    def node(x, path):
        if x is None or isinstance(x, (bool, str, int)):
            return x
        if isinstance(x, float):
            return x if math.isfinite(x) else {"float": repr(x)}  # JSON has no nan/inf
        if isinstance(x, Tensor):
            return {"tensor": add(x._data, path)}
        if isinstance(x, _np.ndarray):
            return {"ndarray": add(x, path)}
        if isinstance(x, _np.generic):  # NumPy scalars are stored as the Python number
            return node(x.item(), path)
        if isinstance(x, bytes):
            return {"bytes": base64.b64encode(x).decode("ascii")}
        if isinstance(x, tuple):
            return {"tuple": [node(v, (*path, i)) for i, v in enumerate(x)]}
        if isinstance(x, list):
            return {"list": [node(v, (*path, i)) for i, v in enumerate(x)]}
        if isinstance(x, dict):
            return {"dict": [[key(k, path), node(v, (*path, k))] for k, v in x.items()]}
        raise TypeError(
            f"nnrun.save cannot store an object of type {type(x).__name__} "
            f"(at {_where(path)}); it stores tensors, NumPy arrays, numbers, strings, "
            "bools, bytes, None, and dicts, lists and tuples of them"
        )

    def key(k, path):
        if k is None or isinstance(k, (bool, str, int, float)):
            return node(k, path)
        if isinstance(k, tuple):
            return {"tuple": [key(v, path) for v in k]}
        raise TypeError(
            f"nnrun.save cannot store a dict key of type {type(k).__name__} "
            f"(at {_where(path)}); keys may be str, int, float, bool, None or tuples"
        )

    root = node(obj, ())
    spec = json.dumps({"version": _VERSION, "root": root}, allow_nan=False, separators=(",", ":"))
    return arrays, {"format": "pt", _KEY: spec}


def _where(path) -> str:
    return "the top level" if not path else "".join(f"[{p!r}]" for p in path)


# ------------------------------------------------------------------------------------- loading
def load(f, map_location=None, *, weights_only=True, mmap=None):
    r"""Load an object saved with :func:`save`, or any safetensors file.

    A file without nnrun's metadata (e.g. written by ``safetensors.torch.save_file``) loads as a
    flat ``{name: Tensor}`` dict in the file's order. Nothing is ever unpickled, so
    ``weights_only`` is accepted for compatibility and is always in effect.

    Args:
        f: a path (``str`` or ``os.PathLike``) or a readable binary file object.
        map_location: where to put the tensors: a device (``'cpu'``, ``'cuda:0'``,
            ``nr.device``), a dict mapping the saved location (``'cpu'``) to a device, or a
            callable ``fn(tensor, 'cpu')`` returning the tensor to use (or None to keep it).
            Default: the CPU.
        weights_only, mmap: accepted for compatibility with ``torch.load``; files are always
            read as data only, into memory.

    Raises:
        SerializationError: the file is empty, truncated, corrupt, or not a safetensors file
            (for example a pickle/zip checkpoint written by ``torch.save``).

    Example::

        >>> model.load_state_dict(nr.load("model.pth"))
    """
    place = _placer(map_location)
    if hasattr(f, "read"):
        name = str(getattr(f, "name", None) or type(f).__name__)
        data = f.read()
        order, meta = _parse_header(name, len(data), lambda off, n: data[off : off + n])
        arrays = _read_arrays(name, lambda: safetensors.numpy.load(data))
    else:
        if not isinstance(f, (str, os.PathLike)):
            raise TypeError(
                f"load() expects a path or a readable binary file, got {type(f).__name__}"
            )
        name = os.fspath(f)
        with open(name, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size

            def read(off, n):
                fh.seek(off)
                return fh.read(n)

            order, meta = _parse_header(name, size, read)
        arrays = _read_arrays(name, lambda: _load_file(name, order))
    return _decode(name, meta, arrays, order, place)


def _load_file(path, names):
    with safetensors.safe_open(path, framework="numpy") as st:
        return {k: st.get_tensor(k) for k in names}


def _read_arrays(name, read):
    try:
        arrays = read()
    except (OSError, ValueError, safetensors.SafetensorError) as e:
        raise SerializationError(
            f"{name} is corrupt: safetensors could not read it ({e})"
        ) from None
    # our own writable copies: loaded tensors are updated in place (optimizer state, ...)
    return {k: a if a.flags.writeable and a.flags.aligned else a.copy() for k, a in arrays.items()}


def _looks_like(head: bytes) -> str | None:
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive, such as a PyTorch checkpoint written by torch.save"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "a Python pickle, such as a legacy torch.save checkpoint"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file"
    return None


def _parse_header(name: str, size: int, read):
    """Check the file's framing and header; return (tensor names in file order, metadata).

    Sizes are checked against the file size before anything is read, so a corrupt length field
    can never make us allocate a huge buffer."""
    if size == 0:
        raise SerializationError(f"{name} is empty (0 bytes); it is not a safetensors file")
    head = read(0, min(size, 16))
    foreign = _looks_like(head)
    if foreign:
        raise SerializationError(
            f"{name} is not a safetensors file (it looks like {foreign}; nnrun never unpickles: "
            "if you trust the file, convert it in PyTorch with safetensors.torch.save_file("
            "torch.load(path), 'model.safetensors'))"
        )
    if size < 8:
        raise SerializationError(
            f"{name} is truncated or not a safetensors file: it has {size} "
            "bytes, fewer than the 8-byte header length"
        )
    (n,) = struct.unpack("<Q", head[:8])
    if n > _MAX_HEADER or 8 + n > size:
        raise SerializationError(
            f"{name} is truncated or not a safetensors file: its first 8 bytes give a header "
            f"length of {n} bytes, but only {size - 8} bytes follow"
        )
    try:
        header = json.loads(read(8, n).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SerializationError(
            f"{name} is corrupt or not a safetensors file: its header is not valid JSON ({e})"
        ) from None
    if not isinstance(header, dict):
        raise SerializationError(f"{name} is corrupt: its header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (
        isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())
    ):
        raise SerializationError(f"{name} is corrupt: __metadata__ is not a string→string map")
    spans = sorted(_check_entry(name, k, v) for k, v in header.items())
    end = 0
    for begin, stop, k in spans:
        if begin != end:
            raise SerializationError(
                f"{name} is corrupt: the data of tensor {k!r} starts at "
                f"byte {begin}, expected {end}"
            )
        end = stop
    data_len = size - 8 - n
    if end > data_len:
        raise SerializationError(
            f"{name} is truncated: its header describes {end} bytes of "
            f"tensor data but only {data_len} are present"
        )
    if end < data_len:
        raise SerializationError(
            f"{name} is corrupt: {data_len - end} unexpected bytes follow the tensor data"
        )
    return list(header), meta or {}


def _check_entry(name, k, v):
    if not (
        isinstance(v, dict)
        and isinstance(v.get("shape"), list)
        and isinstance(v.get("data_offsets"), list)
        and len(v["data_offsets"]) == 2
        and all(isinstance(d, int) and d >= 0 for d in v["shape"] + v["data_offsets"])
    ):
        raise SerializationError(f"{name} is corrupt: the header entry of {k!r} is malformed")
    if v.get("dtype") not in _DTYPES:
        raise SerializationError(
            f"{name}: tensor {k!r} has dtype {v.get('dtype')}, which nnrun cannot load "
            f"(supported: {', '.join(_DTYPES)})"
        )
    begin, stop = v["data_offsets"]
    if stop - begin != math.prod(v["shape"]) * _DTYPES[v["dtype"]].itemsize:
        raise SerializationError(
            f"{name} is corrupt: the data size of tensor {k!r} does not "
            f"match its shape {v['shape']} and dtype {v['dtype']}"
        )
    return begin, stop, k


def _placer(map_location):
    if map_location is None:
        return lambda t: t
    if callable(map_location) and not isinstance(map_location, backend.device):

        def call(t):
            out = map_location(t, "cpu")
            return t if out is None else out

        return call
    if isinstance(map_location, dict):
        map_location = map_location.get("cpu")
        if map_location is None:
            return lambda t: t
    if not isinstance(map_location, (str, int, backend.device)):
        raise TypeError(
            f"map_location should be a device, a string, a dict or a callable, "
            f"got {type(map_location).__name__}"
        )
    dev = backend.get_device(map_location)
    if dev.type == "cpu":
        return lambda t: t
    return lambda t: Tensor._make(backend.to_device(t._data, dev))


def _decode(name, meta, arrays, order, place):
    spec = meta.get(_KEY)
    if spec is None:  # a plain safetensors file: a flat {name: tensor} dict
        return {k: place(Tensor._make(arrays[k])) for k in order}
    made = {}

    def bad(what):
        return SerializationError(f"{name} has malformed nnrun metadata: {what}")

    def tensor(k, numpy):
        if not isinstance(k, str) or k not in arrays:
            raise bad(f"it refers to a tensor {k!r} that is not in the file")
        if numpy:
            return arrays[k]
        if k not in made:
            made[k] = place(Tensor._make(arrays[k]))
        return made[k]

    def node(x, is_key=False):
        if x is None or isinstance(x, (bool, str, int, float)):
            return x
        if not (isinstance(x, dict) and len(x) == 1):
            raise bad(f"unexpected value {str(x)[:80]}")
        ((tag, v),) = x.items()
        if tag == "tuple" and isinstance(v, list):
            return tuple(node(e, is_key) for e in v)
        if tag == "float" and v in ("nan", "inf", "-inf"):
            return float(v)
        if is_key:
            raise bad(f"unexpected dict key {str(x)[:80]}")
        if tag == "list" and isinstance(v, list):
            return [node(e) for e in v]
        if (
            tag == "dict"
            and isinstance(v, list)
            and all(isinstance(p, list) and len(p) == 2 for p in v)
        ):
            return {node(k, True): node(e) for k, e in v}
        if tag in ("tensor", "ndarray"):
            return tensor(v, tag == "ndarray")
        if tag == "bytes" and isinstance(v, str):
            try:
                return base64.b64decode(v, validate=True)
            except ValueError:
                raise bad("invalid base64 bytes") from None
        raise bad(f"unknown entry {str(x)[:80]}")

    try:
        doc = json.loads(spec)
    except (ValueError, RecursionError) as e:
        raise bad(f"not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("version") != _VERSION or "root" not in doc:
        raise bad(f"expected {{'version': {_VERSION}, 'root': ...}}")
    try:
        return node(doc["root"])
    except RecursionError:
        raise bad("nested too deeply") from None
