"""Readers for raw binary image formats: IDX (MNIST, Fashion-MNIST) and CIFAR-10's binary version.

Images come back as a `LazyArray` over the raw uint8 pixels, memory-mapped when the file is not
compressed: a batch is converted to float32 (scaled to [0, 1] unless ``scale=False``) only when it
is indexed. Every size a header claims is checked against the file before anything is allocated.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from .base import LazyArray, make_dataset
from .errors import DataError
from .files import is_gzip, resolve_path

IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAX_RATIO = 1100  # deflate never expands data by more than about 1032x
READ_CHUNK = 16 * 2**20

CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
CIFAR10_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue bytes


def read_idx(images, labels, scale: bool = True, mmap: bool = True, *, base_dir=None, **common):
    """An IDX images file and its labels file (gzipped or not); images (N, 1, H, W)."""
    ip, lp = resolve_path(images, base_dir), resolve_path(labels, base_dir)
    raw = read_idx_array(ip, role="images", mmap=mmap)
    labels = read_idx_array(lp, role="labels", mmap=False)  # make_dataset checks and casts
    if raw.ndim == 3:
        raw = raw[:, None]  # add the channel axis (a view: a memmap stays a memmap)
    x = LazyArray(raw, scale=1 / 255 if scale and raw.dtype == np.uint8 else 1.0)
    source = f"{ip} (labels: {lp})"
    return make_dataset(x, labels, source=source, info=f"IDX files {ip.name}", **common)


def read_idx_array(path: Path, *, role: str, mmap: bool = True) -> np.ndarray:
    """One IDX file as an array: a read-only memmap for uncompressed files when ``mmap``."""
    if is_gzip(path):
        return _read_idx_gzip(path, role)
    available = path.stat().st_size
    with open(path, "rb") as f:
        dtype, shape = _idx_header(f, path, role)
        offset = f.tell()
    nbytes = _nbytes(dtype, shape)
    actual = available - offset
    if actual != nbytes:
        _size_error(path, dtype, shape, truncated=actual < nbytes, holds=f"the file has {actual:,}")
    if mmap and nbytes:
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    count = nbytes // dtype.itemsize
    return np.fromfile(path, dtype=dtype, count=count, offset=offset).reshape(shape)


def read_cifar10(path, scale: bool = True, *, base_dir=None, **common):
    """CIFAR-10 binary batches: a file, a list of files, or a folder of ``data_batch_*.bin``.

    Images (N, 3, 32, 32). One file stays memory-mapped; several are read into memory as uint8.
    """
    paths = _cifar_paths(path, base_dir)
    parts = []
    for p in paths:
        size = p.stat().st_size
        if size == 0 or size % CIFAR10_RECORD:
            raise DataError(
                f"{p}: {size:,} bytes is not a whole number of {CIFAR10_RECORD}-byte CIFAR-10 "
                "records (1 label byte + 3072 pixel bytes); the file is truncated or is not the "
                "CIFAR-10 binary version (CIFAR-100 and the pickled Python version are not read)."
            )
        parts.append(
            np.memmap(p, dtype=np.uint8, mode="r", shape=(size // CIFAR10_RECORD, CIFAR10_RECORD))
        )
    records = parts[0] if len(parts) == 1 else np.concatenate(parts)
    x = LazyArray(records[:, 1:].reshape(-1, 3, 32, 32), scale=1 / 255 if scale else 1.0)
    y = np.array(records[:, 0], dtype=np.int64)
    if common.get("classes") is None and common.get("num_classes") is None:
        common["classes"] = CIFAR10_CLASSES
    common.setdefault("num_classes", 10)
    source = str(paths[0]) if len(paths) == 1 else f"{paths[0].parent} ({len(paths)} files)"
    return make_dataset(x, y, source=source, info=f"CIFAR-10 binary {source}", **common)


def _cifar_paths(path, base_dir) -> list[Path]:
    if isinstance(path, (list, tuple)):
        if not path:
            raise DataError("cifar10: path is an empty list; give at least one batch file.")
        return [resolve_path(p, base_dir) for p in path]
    p = resolve_path(path, base_dir, allow_dir=True)
    if not p.is_dir():
        return [p]
    batches = sorted(p.glob("data_batch_*.bin"))
    if not batches:
        raise DataError(f"{p}: holds no data_batch_*.bin files; point path at the batch files.")
    return batches


def _idx_header(f, path: Path, role: str) -> tuple[np.dtype, tuple[int, ...]]:
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: truncated: {len(head)} bytes is too short for an IDX header.")
    magic = int.from_bytes(head, "big")
    zero, type_code, ndim = magic >> 16, head[2], head[3]
    if zero or type_code not in IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{path}: not an IDX file: magic number 0x{magic:08X}; expected 0x00000803 (images) "
            "or 0x00000801 (labels). Check that images and labels point at MNIST-style files."
        )
    if (role == "labels") != (ndim == 1):
        other = "labels" if role == "images" else "images"
        raise DataError(
            f"{path}: has {ndim} dimensions (magic 0x{magic:08X}), so it is an {other} file but "
            f"was given as {role}; swap images and labels in the dataset spec."
        )
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(
            f"{path}: truncated IDX header: {ndim} dimensions declared, file ends early."
        )
    return IDX_DTYPES[type_code], struct.unpack(f">{ndim}I", dims)


def _read_idx_gzip(path: Path, role: str) -> np.ndarray:
    compressed = path.stat().st_size
    try:
        with gzip.open(path, "rb") as f:
            dtype, shape = _idx_header(f, path, role)
            nbytes = _nbytes(dtype, shape)
            if nbytes > GZIP_MAX_RATIO * compressed:
                holds = f"a {compressed:,}-byte gzip file cannot hold that much"
                _size_error(path, dtype, shape, truncated=True, holds=holds)
            data = bytearray()
            while len(data) < nbytes:
                chunk = f.read(min(READ_CHUNK, nbytes - len(data)))
                if not chunk:
                    break
                data += chunk
            extra = len(f.read(1))
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated gzip file ({e}); re-download it.") from None
    if len(data) != nbytes or extra:
        holds = f"it holds {len(data):,}{' or more' if extra else ''}"
        _size_error(path, dtype, shape, truncated=len(data) < nbytes, holds=holds)
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _nbytes(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    count = 1
    for d in shape:
        count *= d
    return count * dtype.itemsize


def _size_error(path: Path, dtype, shape, *, truncated: bool, holds: str):
    problem = "truncated" if truncated else "longer than its header says"
    raise DataError(
        f"{path}: {problem}: the IDX header claims {'x'.join(map(str, shape))} {dtype.name} values "
        f"= {_nbytes(dtype, shape):,} bytes of data, but {holds}. Re-download it or check that it "
        "is an IDX file."
    )
