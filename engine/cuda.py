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


def get_rng_state(device="cuda"):
    """The CUDA generator's state as a uint8 tensor (on the CPU, as PyTorch's)."""
    from .random import _state_tensor

    return _state_tensor(backend.default_generator(_cuda_device(device)).get_state())


def set_rng_state(new_state, device="cuda") -> None:
    """Restore the CUDA generator from a state made by :func:`get_rng_state`."""
    from .random import _state_bytes

    backend.default_generator(_cuda_device(device)).set_state(_state_bytes(new_state))


def _cuda_device(device):
    dev = backend.get_device(device if not isinstance(device, int) else f"cuda:{device}")
    if dev.type != "cuda":
        raise RuntimeError(f"expected a CUDA device, got {dev}")
    return backend.device("cuda", dev.index or 0)
