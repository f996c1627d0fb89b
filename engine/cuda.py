"""``nnrun.engine.cuda``: whether CuPy sees a GPU. Importing this never imports CuPy."""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    return backend.cuda_is_available()


def device_count() -> int:
    return backend.cuda_device_count()


def manual_seed(seed: int) -> None:
    backend.manual_seed_all(int(seed))


manual_seed_all = manual_seed


def synchronize(device=None) -> None:
    if is_available():
        backend._cupy().cuda.get_current_stream().synchronize()


def current_device() -> int:
    return backend._cupy().cuda.runtime.getDevice()
