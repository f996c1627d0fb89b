"""Shared fixtures. Set NNRUN_TEST_DEVICE=cuda to run the engine tests on a GPU."""

import os

import nnrun.engine as nr
import pytest

DEVICE = os.environ.get("NNRUN_TEST_DEVICE", "cpu")

try:  # PyTorch's parity runs use tiny tensors: its thread pool only adds contention on 2 cores
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass


@pytest.fixture
def device():
    return DEVICE


@pytest.fixture(autouse=True)
def _seed():
    nr.manual_seed(0)
