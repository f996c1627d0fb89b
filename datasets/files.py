"""Readers for NumPy (.npz, .npy) and CSV files. Never unpickles: object arrays are refused."""

from __future__ import annotations

import csv
import gzip
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .base import LazyArray, make_dataset
from .errors import DataError, did_you_mean

_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)


def resolve_path(path, base_dir=None, *, allow_dir: bool = False) -> Path:
    """``path`` made absolute against ``base_dir`` (the config's folder), checked to exist."""
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"a dataset path must be a string; got {path!r}.")
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    p = p.absolute()
    folder = base_dir if base_dir is not None else "the current folder"
    where = f" (resolved from {str(path)!r} against {folder})" if p != Path(path) else ""
    if not p.exists():
        raise DataError(f"{p}: file not found{where}; check the path in the dataset spec.")
    if p.is_dir() and not allow_dir:
        raise DataError(f"{p}: is a directory; the dataset spec needs a file here.")
    return p


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def read_npz(path, x: str = "x", y: str = "y", *, base_dir=None, **common):
    """Features and targets stored under the names ``x`` and ``y`` of one ``.npz`` archive."""
    p = resolve_path(path, base_dir)
    if not zipfile.is_zipfile(p):
        with open(p, "rb") as f:
            npy = f.read(6) == b"\x93NUMPY"
        hint = "it is a single .npy array; use format: npy" if npy else "the file is not a zip"
        raise DataError(f"{p}: is not an .npz archive ({hint}).")
    try:
        archive = np.load(p, allow_pickle=False)
    except _READ_ERRORS as e:
        raise DataError(f"{p}: cannot read as an .npz archive ({e}).") from None
    with archive:
        arrays = [_npz_member(archive, name, p, role) for name, role in ((x, "x"), (y, "y"))]
    return make_dataset(*arrays, source=str(p), info=f"npz file {p.name}", **common)


def read_npy(x, y, mmap: bool = True, *, base_dir=None, **common):
    """Features and targets in two .npy files (features memory-mapped unless mmap=False)."""
    xp, yp = resolve_path(x, base_dir), resolve_path(y, base_dir)
    features = _npy_file(xp, mmap=mmap)
    if isinstance(features, np.memmap):
        features = LazyArray(features.reshape(-1, 1) if features.ndim == 1 else features)
    targets = _npy_file(yp, mmap=False)
    source = f"{xp} (targets: {yp})"
    return make_dataset(features, targets, source=source, info=f"npy files {xp.name}", **common)


def read_csv(path, target=-1, header="auto", delimiter: str = ",", *, base_dir=None, **common):
    """A table of numbers, one sample per line, plain or gzipped.

    ``target`` is the target column (index or header name; a list for several regression
    targets). ``header`` is True, False or ``"auto"`` (a first line that is not all numbers).
    Class labels may be names; they map onto ``classes`` (sorted names when not given).
    """
    p = resolve_path(path, base_dir)
    if header not in (True, False, "auto"):
        raise DataError(f"{p}: header must be true, false or 'auto'; got {header!r}.")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise DataError(f"{p}: delimiter must be one character; got {delimiter!r}.")
    lines = _csv_lines(p, delimiter)
    if header == "auto":
        header = not all(_is_number(cell) for cell in lines[0][1])
    names = [c.strip() for c in lines[0][1]] if header else None
    rows = lines[1:] if header else lines
    if not rows:
        raise DataError(f"{p}: has no data rows.")
    width = len(lines[0][1])
    for line_no, row in rows:
        if len(row) != width:
            raise DataError(
                f"{p}: line {line_no} has {len(row)} fields but line {lines[0][0]} has {width}; "
                "every row needs the same number of columns."
            )
    targets = [_column_index(t, names, width, p) for t in _as_list(target)]
    if not targets:
        raise DataError(f"{p}: target is an empty list; name at least one target column.")
    columns = [i for i in range(width) if i not in targets]
    if not columns:
        raise DataError(f"{p}: has no feature columns besides the target.")
    x = _numbers(rows, columns, names, p)
    task = common.pop("task", None)
    y, task, classes = _csv_targets(rows, targets, names, task, common.pop("classes", None), p)
    return make_dataset(
        x, y, source=str(p), task=task, classes=classes, info=f"csv file {p.name}", **common
    )


def _npz_member(archive, name, path: Path, role: str) -> np.ndarray:
    if not isinstance(name, str) or name not in archive.files:
        raise DataError(
            f"{path}: has no array named {name!r} for {role}; it holds {', '.join(archive.files)}. "
            f"Set {role}: <name> in the dataset spec." + did_you_mean(name, archive.files)
        )
    info = archive.zip.getinfo(f"{name}.npy")
    try:
        with archive.zip.open(info) as f:
            _check_npy_header(f, info.file_size, f"{path}[{name!r}]")
        return archive[name]
    except _READ_ERRORS as e:
        raise DataError(f"{path}: cannot read array {name!r} ({e}).") from None


def _npy_file(path: Path, *, mmap: bool) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            _check_npy_header(f, path.stat().st_size, str(path))
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except _READ_ERRORS as e:
        raise DataError(f"{path}: cannot read as a .npy array ({e}).") from None


def _check_npy_header(f, available: int, source: str) -> None:
    """Refuse object dtypes and headers that claim more data than the file holds."""
    try:
        version = np.lib.format.read_magic(f)
    except ValueError:
        raise DataError(f"{source}: is not a .npy array (bad magic string).") from None
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        return  # version 3 (rare): np.load checks it
    if dtype.hasobject:
        raise DataError(
            f"{source}: holds a Python object array, which would need pickle to load; nnrun never "
            "unpickles. Save plain numeric arrays."
        )
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if claimed > available - f.tell():
        raise DataError(
            f"{source}: header claims {claimed:,} bytes of {dtype} {shape} but the file holds "
            f"{available - f.tell():,}; the file is truncated or corrupt."
        )


def _csv_lines(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter=delimiter)
            lines = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except (UnicodeDecodeError, csv.Error, *_READ_ERRORS) as e:
        raise DataError(f"{path}: cannot read as CSV text ({e}).") from None
    if not lines:
        raise DataError(f"{path}: is empty.")
    return lines


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _as_list(target) -> list:
    return list(target) if isinstance(target, (list, tuple)) else [target]


def _column_index(target, names, width: int, path: Path) -> int:
    if isinstance(target, str):
        if names is None:
            raise DataError(
                f"{path}: target {target!r} is a column name but the file has no header."
            )
        if target not in names:
            raise DataError(
                f"{path}: has no column {target!r}; columns: {', '.join(names)}."
                + did_you_mean(target, names)
            )
        return names.index(target)
    if isinstance(target, bool) or not isinstance(target, int) or not -width <= target < width:
        raise DataError(f"{path}: target column {target!r} does not exist; the file has {width}.")
    return target % width


def _numbers(rows, columns: list[int], names, path: Path) -> np.ndarray:
    cells = [[row[i] for i in columns] for _, row in rows]
    try:
        return np.array(cells, dtype=np.float64).reshape(len(rows), len(columns))
    except ValueError:
        pass
    for (line_no, row), values in zip(rows, cells):
        for i, cell in zip(columns, values):
            if not _is_number(cell):
                column = repr(names[i]) if names else i
                raise DataError(
                    f"{path}: line {line_no}, column {column}: {cell!r} is not a number."
                )
    raise AssertionError("unreachable")  # pragma: no cover


def _csv_targets(rows, targets, names, task, classes, path: Path):
    """(targets, task, classes): numbers, or class names mapped onto indices."""
    if (
        len(targets) > 1
        or task == "regression"
        or all(_is_number(row[targets[0]]) for _, row in rows)
    ):
        y = _numbers(rows, targets, names, path)
        y = y[:, 0] if len(targets) == 1 else y
        if task is None:
            task = "classification" if np.all(y == np.round(y)) else "regression"
        return y, task, classes
    labels = [row[targets[0]].strip() for _, row in rows]
    classes = sorted(set(labels)) if classes is None else [str(c) for c in classes]
    lookup = {name: i for i, name in enumerate(classes)}
    for (line_no, _), label in zip(rows, labels):
        if label not in lookup:
            raise DataError(
                f"{path}: line {line_no}: label {label!r} is not one of classes {classes}."
                + did_you_mean(label, classes)
            )
    return np.array([lookup[label] for label in labels], dtype=np.int64), task, classes
