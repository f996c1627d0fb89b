"""The one module that knows NumPy from CuPy.

It owns devices, the array-module lookup (``xp``), the dtype table, random generators and the few
calls whose NumPy and CuPy spellings differ. Everything else in the engine writes ``xp.`` code that
runs unchanged on both. CuPy is imported lazily, only when a CUDA device is asked for.
"""

from __future__ import annotations

import contextvars
import json
import os
import re

import numpy as np

__all__ = [
    "CPU",
    "device",
    "device_of",
    "dtype",
    "get_device",
    "get_xp",
    "to_device",
    "to_numpy",
    "xp_of",
]


# ----------------------------------------------------------------------------------------- dtypes
class dtype:
    """A tensor element type; compares equal only to itself (``t.dtype == nr.float32``)."""

    __slots__ = ("_kind", "is_floating_point", "is_signed", "itemsize", "name", "np")

    def __init__(self, name: str, np_dtype, kind: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = kind == 2
        self.is_signed = self.np.kind in "if"
        self.itemsize = self.np.itemsize
        self._kind = kind  # 0 bool, 1 integer, 2 floating: PyTorch's promotion categories

    def __repr__(self):
        return f"nnrun.{self.name}"

    def __reduce__(self):  # no pickle of engine objects; dtypes are referred to by name
        raise TypeError("nnrun dtypes are not picklable; store dtype.name instead")


float16 = dtype("float16", np.float16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
uint8 = dtype("uint8", np.uint8, 1)
bool_ = dtype("bool", np.bool_, 0)

DTYPES = {d.name: d for d in (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)}
_BY_NP = {d.np: d for d in DTYPES.values()}
ALIASES = {
    "half": float16,
    "float": float32,
    "double": float64,
    "long": int64,
    "int": int32,
    "short": int16,
}

_default_float = float32


def default_float() -> dtype:
    return _default_float


def from_np(np_dtype) -> dtype:
    """The engine dtype of a NumPy/CuPy array dtype."""
    try:
        return _BY_NP[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(
            f"arrays of dtype {np.dtype(np_dtype)} are not supported; "
            f"use one of {', '.join(DTYPES)}"
        ) from None


def to_dtype(d) -> dtype:
    """Accept an engine dtype, its name, or a NumPy dtype; anything else is a TypeError."""
    if isinstance(d, dtype):
        return d
    if isinstance(d, str):
        found = DTYPES.get(d) or ALIASES.get(d)
        if found is None:
            raise TypeError(f"unknown dtype {d!r}; expected one of {', '.join(DTYPES)}")
        return found
    if d is float:
        return _default_float
    if d is int:
        return int64
    if d is bool:
        return bool_
    try:
        return from_np(d)
    except TypeError:
        raise TypeError(f"expected a dtype such as nnrun.float32, got {d!r}") from None


def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's promotion of two tensor dtypes: the higher category (bool < integer < floating)
    wins outright (int64 with float32 is float32, where NumPy says float64); within a category
    it is NumPy's promotion."""
    if a is b:
        return a
    if a._kind != b._kind:
        return a if a._kind > b._kind else b
    return from_np(np.promote_types(a.np, b.np))


def result_type(a: dtype, a_dim: int, b: dtype | None, b_dim: int, b_scalar=None) -> dtype:
    """Result dtype of a binary op, following PyTorch.

    Operands are ranked dimensioned tensor > zero-dim tensor > Python scalar; a lower-ranked
    operand decides the dtype only when it is of a higher category (bool < integer < floating).
    ``b`` is None for a Python scalar ``b_scalar``.
    """
    if b is None:  # Python scalar
        kind = 0 if isinstance(b_scalar, bool) else 1 if isinstance(b_scalar, int) else 2
        if kind <= a._kind:
            return a
        return _default_float if kind == 2 else int64
    if a is b:
        return a
    if (a_dim == 0) == (b_dim == 0) or a._kind == b._kind:
        if a._kind == b._kind and (a_dim == 0) != (b_dim == 0):
            return b if a_dim == 0 else a
        return promote_types(a, b)
    # one zero-dim, one dimensioned, different categories: the higher category wins
    return a if a._kind > b._kind else b


# ---------------------------------------------------------------------------------------- devices
class device:
    """``device("cpu")``, ``device("cuda")``, ``device("cuda:1")`` or ``device("cuda", 1)``."""

    __slots__ = ("index", "type")

    def __init__(self, type="cpu", index: int | None = None):
        spec = type
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if isinstance(spec, int):
            spec, index = "cuda", spec
        if not isinstance(spec, str):
            raise TypeError(f"expected a device string such as 'cpu' or 'cuda:0', got {spec!r}")
        m = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", spec.strip())
        if m is None:
            raise RuntimeError(
                f"Expected one of cpu, cuda, cuda:N device type at start of device string: {spec}"
            )
        kind, idx = m.group(1), m.group(2)
        if kind == "mps":
            raise RuntimeError(
                "nnrun has no 'mps' (Apple Metal) backend; use 'cpu', or 'cuda' on an NVIDIA GPU"
            )
        if idx is not None:
            if index is not None:
                raise RuntimeError(f"device index given twice: {spec!r} and index={index}")
            index = int(idx)
        if kind == "cpu" and index not in (None, 0):
            raise RuntimeError(f"the cpu device has no index {index}")
        self.type = kind
        self.index = None if kind == "cpu" else index

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and _norm_index(self) == _norm_index(other)

    def __hash__(self):
        return hash((self.type, _norm_index(self)))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"


def _norm_index(d: device):
    return 0 if d.type == "cuda" and d.index is None else d.index


CPU = device("cpu")
_cuda_devices: dict[int, device] = {}


def get_device(spec) -> device:
    """Normalise a device spec; a CUDA device gets its index resolved (current device)."""
    if spec is None:
        return CPU
    d = spec if isinstance(spec, device) else device(spec)
    if d.type == "cpu":
        return CPU
    cp = _cupy()
    idx = d.index if d.index is not None else cp.cuda.runtime.getDevice()
    count = cp.cuda.runtime.getDeviceCount()
    if idx >= count:
        raise RuntimeError(f"CUDA error: invalid device ordinal {idx}; this machine has {count}")
    if idx not in _cuda_devices:
        _cuda_devices[idx] = device("cuda", idx)
    return _cuda_devices[idx]


# -------------------------------------------------------------------------------------- CuPy side
_cp = None
_cp_error: str | None = None


def _cupy():
    """Import CuPy on first use; raise a clear error when it or a GPU is missing."""
    global _cp, _cp_error
    if _cp is not None:
        return _cp
    if _cp_error is None:
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() < 1:
                raise RuntimeError("no CUDA GPU is visible")
            _cp = cupy
            return cupy
        except ImportError:
            _cp_error = (
                "CUDA was requested but CuPy is not installed. "
                "Install it with: pip install 'nnrun[cuda]'"
            )
        except Exception as e:  # noqa: BLE001 - any CUDA driver/runtime failure means "no GPU"
            _cp_error = (
                f"CUDA was requested but no usable GPU was found ({e}). Use device 'cpu', or on "
                "a machine with an NVIDIA GPU install CuPy with: pip install 'nnrun[cuda]'"
            )
    raise RuntimeError(_cp_error)


def cuda_is_available() -> bool:
    try:
        _cupy()
        return True
    except RuntimeError:
        return False


def cuda_device_count() -> int:
    return _cupy().cuda.runtime.getDeviceCount() if cuda_is_available() else 0


# ---------------------------------------------------------------------------- array-module lookup
def get_xp(dev: device):
    return np if dev.type == "cpu" else _cupy()


def xp_of(a):
    return np if type(a) is np.ndarray or _cp is None else _cp.get_array_module(a)


def device_of(a) -> device:
    if _cp is None or isinstance(a, np.ndarray) or np.isscalar(a):
        return CPU
    if isinstance(a, _cp.ndarray):
        dev = _cuda_devices.get(a.device.id)
        return dev if dev is not None else get_device(device("cuda", a.device.id))
    return CPU


def is_array(a) -> bool:
    return isinstance(a, np.ndarray) or (_cp is not None and isinstance(a, _cp.ndarray))


def to_device(a, dev: device):
    """Copy an array to ``dev`` (no copy when it is already there)."""
    if dev.type == "cpu":
        return to_numpy(a)
    cp = _cupy()
    with cp.cuda.Device(dev.index):
        return cp.asarray(a)


def to_numpy(a):
    if isinstance(a, np.ndarray):
        return a
    if _cp is not None and isinstance(a, _cp.ndarray):
        return _cp.asnumpy(a)
    return np.asarray(a)


@np.errstate(over="ignore", invalid="ignore")  # out of range: inf (or wrapped), silently
def _cast_array(data, np_dtype, copy):
    return np.array(data, dtype=np_dtype, copy=copy)


def asarray(data, dt: dtype | None, dev: device, copy: bool):
    """Build an array on ``dev`` from Python data or an array."""
    xp = get_xp(dev)
    if dev.type == "cpu":
        return _cast_array(data, None if dt is None else dt.np, copy)
    with xp.cuda.Device(dev.index):
        arr = xp.array(
            to_numpy(data) if not is_array(data) else data,
            dtype=None if dt is None else dt.np,
            copy=copy,
        )
    return arr


# ---------------------------------------------------------------- calls spelled differently in CuPy
def scatter_add(target, indices, values):
    """``target[indices] += values`` with repeated indices accumulated."""
    if isinstance(target, np.ndarray):
        np.add.at(target, indices, values)
    elif hasattr(_cp.add, "at"):  # CuPy >= 13; cupyx.scatter_add is its deprecated spelling
        _cp.add.at(target, indices, values)
    else:
        import cupyx

        cupyx.scatter_add(target, indices, values)


def put_along_axis(a, indices, values, axis):
    """``np.put_along_axis`` (CuPy has it only from v14)."""
    xp = xp_of(a)
    if hasattr(xp, "put_along_axis"):
        xp.put_along_axis(a, indices, values, axis=axis)
        return
    index = [
        xp.arange(n).reshape((1,) * i + (n,) + (1,) * (indices.ndim - i - 1))
        for i, n in enumerate(indices.shape)
    ]
    index[axis] = indices
    a[tuple(index)] = values


def as_strided(a, shape, strides):
    """A read-only strided view (for im2col and pooling windows)."""
    if isinstance(a, np.ndarray):
        return np.lib.stride_tricks.as_strided(a, shape=shape, strides=strides, writeable=False)
    return _cp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides)


def bincount_add(index, weights, minlength):
    """Sum ``weights`` into ``minlength`` bins by a 1-D integer ``index`` (fast scatter-add)."""
    return xp_of(weights).bincount(index, weights=weights, minlength=minlength)


def shares_memory(a, b) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return np.shares_memory(a, b)
    return False


# ---------------------------------------------------------------------------------------- random
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


class _CounterStream:
    """The CUDA generator's stream: SplitMix64 used counter-based, value ``i`` of the stream being
    ``mix64(seed + (i + 1) * golden)``. Its whole state is ``(seed, position)``, so saving and
    restoring it is exact (a resumed run draws the same dropout masks), a draw is one chain of
    element-wise kernels on the device, and nothing touches CUDA before the first draw (a forked
    DataLoader worker may reseed it). Runs on any ``xp``; the tests check it on NumPy."""

    def __init__(self, dev: device, seed: int):
        self.device, self.seed, self.position = dev, seed & _MASK64, 0

    def _bits(self, n: int):
        xp = get_xp(self.device)
        u64 = xp.uint64
        with _device_context(self.device):
            i = xp.arange(1, n + 1, dtype=u64)
            i += u64(self.position)
            self.position += n
            z = i * u64(0x9E37_79B9_7F4A_7C15)
            z += u64(self.seed)
            z ^= z >> u64(30)
            z *= u64(0xBF58_476D_1CE4_E5B9)
            z ^= z >> u64(27)
            z *= u64(0x94D0_49BB_1331_11EB)
            z ^= z >> u64(31)
        return z

    def random(self, shape, np_dtype):
        """Uniform on [0, 1): 24 random bits for float32 (and float16), 53 for float64."""
        n = int(np.prod(shape, dtype=np.int64))
        xp = get_xp(self.device)
        with _device_context(self.device):
            z = self._bits(n)
            if np_dtype == np.float64:
                out = (z >> xp.uint64(11)).astype(np.float64) * (2.0**-53)
            else:  # float16 keeps 11 bits: 24 would round up to 1.0 (as PyTorch, [0, 1) holds)
                bits = 11 if np_dtype == np.float16 else 24
                out = (z >> xp.uint64(64 - bits)).astype(np.float32) * np.float32(2.0**-bits)
            return out.reshape(shape).astype(np_dtype, copy=False)

    def normal(self, shape, np_dtype):
        """Standard normal by Box-Muller from two 53-bit uniforms per value."""
        n = int(np.prod(shape, dtype=np.int64))
        xp = get_xp(self.device)
        with _device_context(self.device):
            z = self._bits(2 * n)
            u = ((z >> xp.uint64(11)).astype(np.float64) + 1.0) * (2.0**-53)  # (0, 1]
            out = xp.sqrt(-2.0 * xp.log(u[:n])) * xp.cos((2.0 * np.pi) * u[n:])
            return out.reshape(shape).astype(np_dtype, copy=False)

    def integers(self, low, high, shape, np_dtype):
        n = int(np.prod(shape, dtype=np.int64))
        xp = get_xp(self.device)
        with _device_context(self.device):
            span = xp.uint64(int(high) - int(low))
            v = (self._bits(n) % span).astype(np.int64) + int(low)
            return v.reshape(shape).astype(np_dtype, copy=False)

    def permutation(self, n):
        xp = get_xp(self.device)
        with _device_context(self.device):
            return xp.argsort(self._bits(int(n)), kind="stable").astype(np.int64, copy=False)


def _device_context(dev: device):
    """The CUDA device's context (CuPy allocates on the current device); nothing on the CPU."""
    if dev.type == "cpu":
        import contextlib

        return contextlib.nullcontext()
    return _cupy().cuda.Device(dev.index or 0)


class Generator:
    """A seeded random stream (``nnrun.Generator``): PCG64 on the CPU, a counter-based
    SplitMix64 stream (``_CounterStream``) on CUDA devices.

    ``get_state``/``set_state`` round-trip exactly on both, so a resumed run draws the same
    numbers.
    """

    def __init__(self, device="cpu"):
        self.device = get_device(device)
        self._seed = 67280421310721  # PyTorch's default seed
        self._rng = self._make(self._seed)

    def _make(self, seed):
        if self.device.type == "cpu":
            return np.random.Generator(np.random.PCG64(seed))
        return _CounterStream(self.device, seed)

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        if seed < 0:
            seed &= _MASK64
        self._seed = seed
        self._rng = self._make(seed)
        return self

    def seed(self) -> int:
        return self.manual_seed(int(np.random.SeedSequence().entropy) & _MASK64)._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> bytes:
        """The state as JSON bytes."""
        if self.device.type != "cpu":
            state = {"seed": self._seed, "stream": "splitmix64", "position": self._rng.position}
            return json.dumps(state, sort_keys=True).encode()
        return json.dumps(
            {"seed": self._seed, "bit_generator": self._rng.bit_generator.state}, sort_keys=True
        ).encode()

    def set_state(self, state: bytes) -> None:
        try:
            d = json.loads(bytes(state).decode())
            if self.device.type != "cpu":
                if d.get("stream") != "splitmix64":
                    raise ValueError("not the state of a CUDA generator")
                seed, position = int(d["seed"]), int(d["position"])
                if not (0 <= seed <= _MASK64 and position >= 0):
                    raise ValueError("seed or position out of range")
                rng = _CounterStream(self.device, seed)
                rng.position = position
            else:
                seed = d["seed"]
                rng = np.random.Generator(np.random.PCG64())
                rng.bit_generator.state = d["bit_generator"]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise RuntimeError(f"invalid generator state: {e}") from None
        self._seed, self._rng = seed, rng

    # draws -------------------------------------------------------------------------------------
    def uniform(self, shape, np_dtype):
        if self.device.type == "cpu":
            if np_dtype != np.float16:
                return self._rng.random(shape, dtype=np_dtype)
            u = self._rng.random(shape, dtype=np.float32)  # 11 bits: 24 could round up to 1.0
            return (np.floor(u * np.float32(2048)) * np.float32(1 / 2048)).astype(np.float16)
        return self._rng.random(shape, np_dtype)

    def normal(self, shape, np_dtype):
        if self.device.type == "cpu":
            wide = np.float32 if np_dtype == np.float16 else np_dtype
            return self._rng.standard_normal(shape, dtype=wide).astype(np_dtype, copy=False)
        return self._rng.normal(shape, np_dtype)

    def integers(self, low, high, shape, np_dtype):
        if self.device.type == "cpu":
            return self._rng.integers(low, high, size=shape, dtype=np_dtype)
        return self._rng.integers(low, high, shape, np_dtype)

    def permutation(self, n):
        if self.device.type == "cpu":
            return self._rng.permutation(n).astype(np.int64, copy=False)
        return self._rng.permutation(n)


_default_generators: dict[device, Generator] = {}


def default_generator(dev: device = CPU) -> Generator:
    gen = _default_generators.get(dev)
    if gen is None:
        gen = _default_generators[dev] = Generator(dev)
        if dev.type != "cpu" and _pending_cuda_seed is not None:
            gen.manual_seed(_pending_cuda_seed)  # nr.manual_seed ran before this device's first use
    return gen


def manual_seed_all(seed: int) -> None:
    """Seed the CPU generator and every CUDA generator made so far (or made later)."""
    default_generator(CPU).manual_seed(seed)
    for dev, gen in _default_generators.items():
        if dev.type != "cpu":
            gen.manual_seed(seed)
    global _pending_cuda_seed
    _pending_cuda_seed = seed


_pending_cuda_seed: int | None = None


def generator_for(dev: device, generator: Generator | None) -> Generator:
    if generator is not None:
        if generator.device != dev:
            raise RuntimeError(
                f"Expected a '{dev.type}' generator device but found '{generator.device.type}'"
            )
        return generator
    return default_generator(dev)


def can_view(a, shape) -> bool:
    """Whether ``a`` can be reshaped to ``shape`` without copying (``Tensor.view``'s rule)."""
    if a.size == 0 or a.flags.c_contiguous:
        return True
    if isinstance(a, np.ndarray):
        try:
            a.reshape(shape, copy=False)
            return True
        except TypeError:  # NumPy < 2.1 has no copy= argument
            return np.may_share_memory(a.reshape(shape), a)
        except ValueError:
            return False
    r = a.reshape(shape)
    return r.data.ptr == a.data.ptr and r.base is not None


# ------------------------------------------------------------------- CPU threads and memory
# NumPy releases the GIL in BLAS calls, copies and ufuncs, so a few Python threads can share big
# CPU kernels: convolutions, pools and big element-wise ops are split by samples into pieces that
# run on the calling thread and a small pool (``run_split``), with OpenBLAS set to one thread while
# they run. GEMMs outside those pieces use OpenBLAS's own threads. Its idle threads spin for about
# 0.1 s (2**28 cycles) after every parallel GEMM by default, so on W3 (bench/) they took a core
# from the engine's pieces all the time (25-40% slower, twice the CPU time); the engine shortens
# that spin to 2**22 cycles (about 1.5 ms, like OpenMP's spin-then-block) unless
# OPENBLAS_THREAD_TIMEOUT is set: GEMMs that follow each other still find the threads awake.
# ``set_num_threads`` / ``get_num_threads`` are PyTorch's intra-op thread controls (OpenBLAS's
# threads and the pieces); the default is the usable cores, or ``NNRUN_NUM_THREADS``. Without a
# settable OpenBLAS (NumPy on MKL or Accelerate) the engine does not split.
# Results are deterministic for a given thread count (OpenBLAS's sums depend on its partition).
_MAX_SPLIT_WORKERS = 8
_BLAS_SPIN_CYCLES_LOG2 = "22"
_num_threads = None  # set_num_threads / NNRUN_NUM_THREADS / the usable cores, resolved lazily
_split_pool = None
_split_ready = 1  # how many pieces run at once (the caller plus the pool's threads)
_split_key = None  # (threads, pid) the pool was made for: a forked child makes its own pool
_blas = None  # NumPy's OpenBLAS thread calls (a dict), or False when not found


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _openblas():
    """The thread calls of the OpenBLAS bundled with NumPy as a dict (``get``, ``set`` and, when
    exported, ``read_env`` and ``shutdown``), or None."""
    import ctypes
    import glob

    names = [
        ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
        ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
        ("openblas_get_num_threads", "openblas_set_num_threads"),
    ]
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")
    for path in glob.glob(libs):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in names:
            get_, set_ = getattr(lib, get_name, None), getattr(lib, set_name, None)
            if get_ is not None and set_ is not None:
                get_.argtypes, get_.restype = [], ctypes.c_int
                set_.argtypes, set_.restype = [ctypes.c_int], None
                calls = {"get": get_, "set": set_}
                for key, name in (
                    ("read_env", "openblas_read_env"),
                    ("shutdown", "blas_thread_shutdown_"),
                ):
                    fn = getattr(lib, name, None)
                    if fn is not None:
                        fn.argtypes, fn.restype = [], ctypes.c_int
                        calls[key] = fn
                return calls
    return None


def _shorten_blas_spin(blas):
    """Restart OpenBLAS's threads with a spin of 2**22 cycles (see above); the environment is
    left as it was. Called once, before the engine's first parallel work."""
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ or "read_env" not in blas or "shutdown" not in blas:
        return
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = _BLAS_SPIN_CYCLES_LOG2
    try:
        blas["read_env"]()
    finally:
        del os.environ["OPENBLAS_THREAD_TIMEOUT"]
    blas["shutdown"]()  # its threads are made again, with the new timeout, by the next GEMM


def _env_threads():
    raw = os.environ.get("NNRUN_NUM_THREADS", "").strip()
    if not raw:
        return None
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    import warnings

    warnings.warn(
        f"NNRUN_NUM_THREADS={raw!r} is not a positive whole number and is ignored; set it to the "
        f"number of CPU threads nnrun may use (e.g. NNRUN_NUM_THREADS=2) or unset it",
        RuntimeWarning,
        stacklevel=4,
    )
    return None


def get_num_threads() -> int:
    """The number of threads used for intra-op parallelism on the CPU."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _env_threads() or _usable_cpus()
    return _num_threads


def set_num_threads(n: int) -> None:
    """Sets the number of threads used for intra-op parallelism on the CPU (OpenBLAS's threads
    and the engine's own), as ``torch.set_num_threads``."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int):
        raise RuntimeError(  # noqa: TRY004 - PyTorch raises RuntimeError here
            f"set_num_threads expects an int, but got {type(n).__name__}"
        )
    if n <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    _num_threads = n
    cpu_split_workers()


def cpu_split_workers() -> int:
    """How many pieces ``run_split`` runs at once: ``get_num_threads()`` (at most 8) when NumPy's
    OpenBLAS thread count can be set, else 1 (callers then do the work in one piece)."""
    global _split_pool, _split_ready, _split_key, _blas
    key = (get_num_threads(), os.getpid())
    if _split_key == key:
        return _split_ready
    if _blas is None:
        _blas = _openblas() or False
        if _blas:
            _shorten_blas_spin(_blas)
    if _split_pool is not None and _split_key[1] == key[1]:
        _split_pool.shutdown(wait=False)  # set_num_threads changed the count
    _split_pool, _split_key, _split_ready = None, key, 1
    if _blas:
        _blas["set"](key[0])
        _split_ready = min(key[0], _MAX_SPLIT_WORKERS)
    if _split_ready > 1:
        from concurrent.futures import ThreadPoolExecutor

        _split_pool = ThreadPoolExecutor(_split_ready - 1, "nnrun-split")
    return _split_ready


def run_split(tasks):
    """Run zero-argument callables (NumPy work on disjoint outputs) on the calling thread and the
    pool's threads together, with OpenBLAS on one thread, and return their results in order; all
    in the calling thread when there is one worker or one task. A task's exception is raised once
    all have finished."""
    workers = cpu_split_workers() if len(tasks) > 1 else 1
    if workers <= 1:
        return [t() for t in tasks]
    import itertools

    results = [None] * len(tasks)
    errors = []
    ticket = itertools.count()  # next() on it is atomic under the GIL

    def drain():
        for i in ticket:
            if i >= len(tasks):
                return
            try:
                results[i] = tasks[i]()
            except BaseException as e:  # noqa: BLE001 - raised in the caller below
                errors.append(e)

    _blas["set"](1)
    try:
        # each helper runs in a copy of the caller's context: NumPy's error state (errstate is a
        # context variable) reaches the pool's threads, so a silenced op stays silent there
        helpers = [
            _split_pool.submit(contextvars.copy_context().run, drain)
            for _ in range(min(workers, len(tasks)) - 1)
        ]
        drain()
        for h in helpers:
            h.result()
    finally:
        _blas["set"](_split_key[0])
    if errors:
        raise errors[0]
    return results


# glibc returns freed memory at the top of the heap to the system beyond 128 KiB by default and
# serves big arrays with fresh mmaps, so every training step page-faults its big temporaries anew
# (measured: ReLU forward + backward on W3's first layer 6.2 -> 2.0 ms with the thresholds below).
# Arrays under 64 MiB are then reused from the heap and up to 256 MiB of free heap is kept.
# Process-wide, so it can be turned off: NNRUN_MALLOC_TUNING=0.
_malloc_tuned = False


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds for training (once; Linux/glibc only). Returns whether
    they are set."""
    global _malloc_tuned
    if _malloc_tuned or os.environ.get("NNRUN_MALLOC_TUNING", "1").strip() == "0":
        return _malloc_tuned
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt thresholds)
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3
    _malloc_tuned = bool(
        mallopt(m_mmap_threshold, 64 << 20) and mallopt(m_trim_threshold, 256 << 20)
    )
    return _malloc_tuned
