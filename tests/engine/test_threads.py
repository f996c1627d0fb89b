"""CPU threads and memory: ``set_num_threads``/``get_num_threads``, ``NNRUN_NUM_THREADS``, the
engine's work split (``backend.run_split``), OpenBLAS's shortened spin and glibc's thresholds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import nnrun.engine as nr
import numpy as np
import pytest
from nnrun.engine import backend

try:
    import torch
except ImportError:  # pragma: no cover - the parity checks skip without PyTorch
    torch = None


def _run(code, **env):
    """Run ``code`` in a fresh interpreter with ``env`` added; return its stdout and stderr."""
    full = {**os.environ, **env}
    for key, value in env.items():
        if value is None:
            full.pop(key, None)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr


@pytest.fixture
def threads():
    """Restore the thread count a test changes."""
    before = nr.get_num_threads()
    yield
    nr.set_num_threads(before)


def test_set_and_get_num_threads(threads):
    assert nr.get_num_threads() >= 1
    nr.set_num_threads(1)
    assert nr.get_num_threads() == 1
    assert backend.cpu_split_workers() == 1
    nr.set_num_threads(2)
    assert nr.get_num_threads() == 2
    assert backend.cpu_split_workers() in (1, 2)  # 1 where NumPy's BLAS is not OpenBLAS


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_what_torch_rejects(bad, threads):
    with pytest.raises(RuntimeError) as ours:
        nr.set_num_threads(bad)
    if torch is not None and not isinstance(bad, str):  # torch's message for a str is its parser's
        with pytest.raises(RuntimeError) as theirs:
            torch.set_num_threads(bad)
        assert str(ours.value) == str(theirs.value)
    assert nr.get_num_threads() >= 1


def test_num_threads_from_the_environment():
    out, _ = _run("import nnrun.engine as nr; print(nr.get_num_threads())", NNRUN_NUM_THREADS="3")
    assert out == "3"


def test_a_bad_num_threads_variable_is_named_and_ignored():
    out, err = _run(
        "import nnrun.engine as nr; print(nr.get_num_threads() == len(__import__('os')"
        ".sched_getaffinity(0)))",
        NNRUN_NUM_THREADS="lots",
    )
    assert out == "True"
    assert "NNRUN_NUM_THREADS='lots' is not a positive whole number" in err


def test_run_split_returns_results_in_order_and_uses_other_threads(threads):
    import threading

    nr.set_num_threads(2)
    names = backend.run_split([lambda i=i: (i, threading.current_thread().name) for i in range(6)])
    assert [i for i, _ in names] == list(range(6))
    if backend.cpu_split_workers() > 1:
        assert any(name.startswith("nnrun-split") for _, name in names)


def test_run_split_raises_a_task_error_after_every_task_ran(threads):
    nr.set_num_threads(2)
    ran = []

    def bad():
        raise ValueError("piece 1 failed")

    tasks = [lambda: ran.append(0), bad, lambda: ran.append(2), lambda: ran.append(3)]
    with pytest.raises(ValueError, match="piece 1 failed"):
        backend.run_split(tasks)
    assert sorted(ran) == [0, 2, 3]


def test_run_split_restores_openblas_threads(threads):
    nr.set_num_threads(2)
    backend.cpu_split_workers()
    if not backend._blas:
        pytest.skip("NumPy's BLAS is not an OpenBLAS whose threads can be set")
    seen = backend.run_split([lambda: backend._blas["get"]() for _ in range(2)])
    assert seen == [1, 1]  # the pieces run single-threaded BLAS
    assert backend._blas["get"]() == 2


def test_openblas_spin_is_shortened_and_the_environment_left_alone():
    code = """
        import os
        import nnrun.engine as nr
        from nnrun.engine import backend
        backend.cpu_split_workers()
        print("OPENBLAS_THREAD_TIMEOUT" in os.environ)
        """
    out, _ = _run(code, OPENBLAS_THREAD_TIMEOUT=None)
    assert out == "False"


def test_openblas_timeout_value_reaches_openblas():
    code = """
        import ctypes, glob, os, numpy as np
        import nnrun.engine as nr
        from nnrun.engine import backend
        backend.cpu_split_workers()
        libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                      "*openblas*"))
        fn = getattr(ctypes.CDLL(libs[0]), "openblas_thread_timeout", None) if libs else None
        print(fn() if fn is not None and backend._blas else "none")
        """
    out, _ = _run(code, OPENBLAS_THREAD_TIMEOUT=None)
    if out == "none":
        pytest.skip("NumPy's BLAS is not an OpenBLAS exporting openblas_thread_timeout")
    assert out == backend._BLAS_SPIN_CYCLES_LOG2
    out, _ = _run(code, OPENBLAS_THREAD_TIMEOUT="25")  # a user's setting wins
    assert out == "25"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_malloc_tuning_on_by_default_and_can_be_turned_off():
    code = "import nnrun.engine as nr; print(nr.backend._malloc_tuned)"
    on, _ = _run(code, NNRUN_MALLOC_TUNING=None)
    off, _ = _run(code, NNRUN_MALLOC_TUNING="0")
    assert off == "False"
    import platform

    if platform.libc_ver()[0] == "glibc":
        assert on == "True"


def _train_steps(threads_n):
    nr.set_num_threads(threads_n)
    nr.manual_seed(0)
    model = nr.nn.Sequential(
        nr.nn.Conv2d(8, 16, 3, padding=1),
        nr.nn.ReLU(),
        nr.nn.MaxPool2d(2),
        nr.nn.Flatten(),
        nr.nn.Linear(16 * 16 * 16, 64),
        nr.nn.ReLU(),
        nr.nn.Linear(64, 10),
    )
    opt = nr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = nr.randn(128, 8, 32, 32)  # conv columns of 9.4M elements: the split path
    y = nr.randint(0, 10, (128,))
    for _ in range(3):
        loss = nr.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_training_is_deterministic_for_a_thread_count(threads):
    first, again = _train_steps(2), _train_steps(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    one = _train_steps(1)  # another partition: equal within float32 rounding, maybe not bitwise
    for a, b in zip(first, one):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
