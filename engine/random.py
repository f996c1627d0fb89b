"""Global seeding and RNG state: ``manual_seed`` makes every random op reproducible."""

from __future__ import annotations

from . import backend
from .backend import np


def manual_seed(seed: int) -> backend.Generator:
    """Seed the CPU generator and every CUDA one; returns the CPU generator."""
    backend.manual_seed_all(int(seed))
    return backend.default_generator()


def seed() -> int:
    """Seed the CPU generator from OS entropy and return the seed."""
    return backend.default_generator().seed()


def initial_seed() -> int:
    """The seed the CPU generator was last seeded with."""
    return backend.default_generator().initial_seed()


def get_rng_state():
    """The CPU generator's state as a uint8 tensor (it round-trips through safetensors)."""
    return _state_tensor(backend.default_generator().get_state())


def set_rng_state(new_state) -> None:
    """Restore the CPU generator from a state made by :func:`get_rng_state`."""
    backend.default_generator().set_state(_state_bytes(new_state))


def _state_tensor(state: bytes):
    from .tensor import Tensor

    return Tensor._make(np.frombuffer(state, dtype=np.uint8).copy())


def _state_bytes(new_state) -> bytes:
    data = new_state._data if hasattr(new_state, "_data") else new_state
    return bytes(backend.to_numpy(data).astype(np.uint8))
