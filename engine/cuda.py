"""``nnrun.engine.cuda``: whether CuPy sees a GPU. Importing this never imports CuPy."""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    """Whether CuPy is installed and sees a CUDA GPU (never raises)."""
    return backend.cuda_is_available()


def device_count() -> int:
    """How many CUDA GPUs CuPy sees (0 without CuPy or a GPU)."""
    return backend.cuda_device_count()


def manual_seed(seed: int) -> None:
    """Seed the generator of every CUDA device."""
    backend.manual_seed_all(int(seed))


manual_seed_all = manual_seed


def synchronize(device=None) -> None:
    """Wait for all work queued on the current CUDA stream (no-op without a GPU)."""
    if is_available():
        backend._cupy().cuda.get_current_stream().synchronize()


def current_device() -> int:
    """The index of the current CUDA device."""
    return backend._cupy().cuda.runtime.getDevice()
