"""Helpers for the CLI and reliability tests: run ``nnrun`` in-process (typer's CliRunner) or as a
subprocess."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
from nnrun.cli.app import app
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
NNRUN = Path(sys.executable).parent / "nnrun"

# A quick classification config: blobs are easy, so a few steps show real learning.
BLOBS = """\
name: blobs
seed: 0
data:
  dataset: blobs
  args: {n_samples: 240, n_features: 4, num_classes: 3}
  val_split: 0.25
  batch_size: 16
model:
  layers:
    - Linear: {out_features: 16}
    - ReLU
    - Dropout: {p: 0.1}
    - Linear: {out_features: 3}
loss: CrossEntropyLoss
optimizer: {name: Adam, lr: 1.0e-2}
train: {epochs: 3}
checkpoint: {monitor: val_accuracy}
"""


def invoke(*args, **kwargs):
    """``nnrun ARGS`` in this process; a bug (an unexpected exception) fails the test."""
    result = CliRunner().invoke(app, [str(a) for a in args], **kwargs)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"nnrun {args} raised (a bug): {result.exception!r}") from (
            result.exception
        )
    assert "Traceback" not in result.output, result.output
    return result


def ok(*args, **kwargs):
    result = invoke(*args, **kwargs)
    assert result.exit_code == 0, result.output
    return result


def fails(code: int, *args, **kwargs):
    """``nnrun ARGS`` must exit with ``code``, one message on stderr and no traceback."""
    result = invoke(*args, **kwargs)
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.stderr.strip(), "an error needs a message on stderr"
    return result


def run(*args, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """The installed console script in a subprocess."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [str(NNRUN), *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def write_config(folder: Path, text: str = BLOBS, name: str = "run.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def without_seconds(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file (gzipped when the name ends in .gz), as MNIST's."""
    codes = {np.dtype(np.uint8): 0x08}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
