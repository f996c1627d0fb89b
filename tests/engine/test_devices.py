"""Devices: cpu/cuda/cuda:N specs, CuPy imported only on demand, clear errors without a GPU."""

import subprocess
import sys
import types

import nnrun.engine as nr
import numpy as np
import pytest
from nnrun.engine import backend

HAS_GPU = nr.cuda.is_available()
no_gpu = pytest.mark.skipif(HAS_GPU, reason="checks the errors of a machine without a GPU")


def test_cpu_work_never_imports_cupy():
    code = (
        "import sys\n"
        "import nnrun.engine as nr\n"
        "x = nr.randn(4, 3, requires_grad=True)\n"
        "y = (x @ nr.randn(3, 2)).relu().softmax(1).sum()\n"
        "y.backward(); print(repr(x.grad)[:6], x.device, nr.tensor([1, 2]).to('cpu'))\n"
        "assert 'cupy' not in sys.modules and 'cupyx' not in sys.modules, 'cupy was imported'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("tensor")


@pytest.mark.parametrize("spec,type_,index,text", [
    ("cpu", "cpu", None, "cpu"), ("cuda", "cuda", None, "cuda"), ("cuda:1", "cuda", 1, "cuda:1"),
    (("cuda", 2), "cuda", 2, "cuda:2"), ((0,), "cuda", 0, "cuda:0"),
])  # fmt: skip
def test_device_specs(spec, type_, index, text):
    d = nr.device(*spec) if isinstance(spec, tuple) else nr.device(spec)
    assert d.type == type_ and d.index == index and str(d) == text
    assert nr.device(d) == d and eval(repr(d), {"device": nr.device}) == d


def test_device_equality():
    assert nr.device("cpu") == "cpu" and nr.device("cuda") == nr.device("cuda:0")
    assert nr.device("cuda:0") != nr.device("cuda:1") and nr.device("cpu") != "cuda"
    assert len({nr.device("cpu"), nr.device("cpu")}) == 1


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu:0", "cpu:1"])
def test_bad_device_strings(bad):
    with pytest.raises(RuntimeError):
        nr.device(bad)


def test_mps_is_refused_clearly():
    with pytest.raises(RuntimeError, match="mps"):
        nr.zeros(2, device="mps")


def test_tensor_device_attribute():
    x = nr.zeros(2, device="cpu")
    assert x.device == nr.device("cpu") and x.device.type == "cpu" and not x.is_cuda
    assert x.to(nr.device("cpu")) is x


@no_gpu
def test_cuda_is_not_available_here():
    assert nr.cuda.is_available() is False and nr.cuda.device_count() == 0


@no_gpu
@pytest.mark.parametrize("make", [
    lambda: nr.zeros(2, device="cuda"), lambda: nr.tensor([1.0], device="cuda:0"),
    lambda: nr.ones(2).cuda(), lambda: nr.ones(2).to("cuda"), lambda: nr.randn(2, device="cuda"),
    lambda: nr.ones(2).to(nr.device("cuda", 0)), lambda: nr.arange(3, device="cuda"),
])  # fmt: skip
def test_cuda_without_gpu_names_the_install(make):
    with pytest.raises(RuntimeError, match=r"pip install 'nnrun\[cuda\]'"):
        make()


def test_mixing_devices_raises_naming_both(monkeypatch):
    """No GPU here: a stand-in 'CUDA' array type exercises the engine's device check."""

    class FakeCudaArray(np.ndarray):
        device = types.SimpleNamespace(id=0)

    cuda0 = nr.device("cuda", 0)
    monkeypatch.setattr(backend, "_cp", types.SimpleNamespace(ndarray=FakeCudaArray))
    monkeypatch.setattr(
        backend, "device_of", lambda a: cuda0 if isinstance(a, FakeCudaArray) else backend.CPU
    )
    gpu = nr.Tensor._make(np.ones(3, dtype=np.float32).view(FakeCudaArray))
    cpu = nr.ones(3)
    assert gpu.device == cuda0 and cpu.device == nr.device("cpu")
    for op in (
        lambda: gpu + cpu,
        lambda: cpu * gpu,
        lambda: nr.cat([cpu, gpu]),
        lambda: cpu @ gpu,
        lambda: cpu < gpu,
        lambda: nr.where(cpu > 0, cpu, gpu),
    ):
        with pytest.raises(RuntimeError, match=r"same device.*(cuda:0 and cpu|cpu and cuda:0)"):
            op()
    assert (cpu + cpu).tolist() == [2.0, 2.0, 2.0]  # same device still works


def test_cupy_without_a_gpu_is_a_clear_error(monkeypatch):
    """CuPy importable but no device visible: the error says so and names the install."""

    def no_devices():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_devices))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(backend, "_cp", None)
    monkeypatch.setattr(backend, "_cp_error", None)
    with pytest.raises(RuntimeError, match=r"no usable GPU.*pip install 'nnrun\[cuda\]'"):
        nr.zeros(2, device="cuda")
    assert nr.cuda.is_available() is False and nr.cuda.device_count() == 0
    assert nr.zeros(2).device.type == "cpu"


def test_put_along_axis_fallback_for_cupy_13(monkeypatch):
    """CuPy gained put_along_axis only in v14: the backend's indexing fallback must agree."""
    import types

    np = nr.backend.np
    fake = types.SimpleNamespace(arange=np.arange)  # an array module without put_along_axis
    monkeypatch.setattr(nr.backend, "xp_of", lambda a: fake)
    rng = np.random.default_rng(0)
    for axis in (0, 1, 2):
        a, expected = np.zeros((3, 4, 5)), np.zeros((3, 4, 5))
        shape = [3, 4, 5]
        shape[axis] = 1
        idx = rng.integers(0, (3, 4, 5)[axis], size=shape)
        values = rng.standard_normal(shape)
        nr.backend.put_along_axis(a, idx, values, axis)
        np.put_along_axis(expected, idx, values, axis=axis)
        assert np.array_equal(a, expected)
