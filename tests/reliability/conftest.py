"""The reliability tests train on the CPU even on a GPU machine: they fork training processes
(CUDA is not fork-safe once the test process has used a GPU) and compare runs bit for bit, so
every run of a test must be on the same device. GPU resumes are covered by tests/cli."""

import nnrun.engine as nr
import pytest


@pytest.fixture(autouse=True, scope="module")
def _cpu_runs():
    """``device: auto`` resolves to the CPU (console-script runs pass ``--device cpu``); module
    scope, so the modules' reference runs (module fixtures) are made on the CPU too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nr.cuda, "is_available", lambda: False)
        yield
