"""The engine runs unchanged on NumPy (CPU) and CuPy (CUDA), checked without a GPU.

Only ``engine/backend.py`` may know NumPy from CuPy; every other engine module writes ``xp.`` code
(``xp = backend.xp_of(array)`` or ``backend.get_xp(device)``). CI has no GPU, so the CUDA path is
right by construction, and these tests hold the construction in place:

* static, on the source (ast) of every engine module but backend.py: no import of numpy, cupy or
  cupyx; NumPy reached through ``backend.np`` only for host-side work listed in ``HOST_NUMPY``
  with the reason; every ``xp.<name>`` is one CuPy has, with NumPy's meaning (``CUPY_NAMES``);
* dynamic: an MLP and a CNN (with every loss, pooling and optimizer) train a step while each
  array-module lookup is answered by a recording proxy of NumPy; every name used is in
  ``CUPY_NAMES`` too, so a name reached only through a variable is caught as well.
"""

from __future__ import annotations

import ast
import functools
import sys
import types
from pathlib import Path

import nnrun.engine as nr
import numpy as np
import pytest
from nnrun.engine import backend
from nnrun.engine.nn import functional as F

ENGINE = Path(nr.__file__).resolve().parent


def _names(text: str) -> frozenset:
    return frozenset(text.split())


FORBIDDEN_MODULES = {"numpy", "cupy", "cupyx"}

# Module-level names the engine may use through ``xp``. Each exists in CuPy 13.0 (pyproject's
# floor: cupy-cuda12x>=13.0) with NumPy's meaning, checked against CuPy's reference and its
# NumPy comparison table (docs.cupy.dev). Add a name only after checking it there.
CUPY_NAMES = _names(
    """
    array asarray ascontiguousarray empty empty_like zeros zeros_like ones ones_like full full_like
    arange linspace eye identity indices meshgrid tril triu copy
    reshape ravel transpose moveaxis swapaxes expand_dims squeeze broadcast_to broadcast_arrays
    concatenate stack hstack vstack split array_split tile repeat flip roll pad atleast_1d
    take take_along_axis where nonzero argwhere unique diagonal choose compress select searchsorted
    add subtract multiply divide true_divide floor_divide negative power remainder mod fmod
    abs absolute sign sqrt square cbrt reciprocal exp exp2 expm1 log log2 log10 log1p logaddexp
    sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh arcsinh arccosh arctanh
    floor ceil trunc rint round around clip maximum minimum fmax fmin hypot copysign signbit
    sum prod mean var std max min amax amin argmax argmin cumsum cumprod any all count_nonzero
    nanmax nanmin nansum sort argsort partition argpartition diff bincount
    isnan isinf isfinite logical_and logical_or logical_not logical_xor equal not_equal less
    less_equal greater greater_equal allclose isclose array_equal
    matmul dot einsum outer inner tensordot vdot
    bitwise_and
    float16 float32 float64 int8 int16 int32 int64 uint8 bool_ dtype iinfo finfo
    inf nan pi e newaxis ndarray
    """
)
# Names that exist only in CuPy: reached only on a CUDA device, so NumPy never sees them.
CUDA_ONLY = {"cuda.Device": "creation.py builds CUDA arrays inside the device's context"}
# NumPy-only names, allowed where a guard keeps CuPy away from them (file -> reason).
GUARDED = {
    "errstate": {
        "engine/ops/reduce.py": "entered only when `xp is backend.np` (CuPy never warns)",
    },
}
# Known CuPy gaps in files another engineer owns, reported with a fix; remove when fixed.
KNOWN_GAPS: dict = {}
# What to write instead of a name CuPy lacks or spells differently.
HINTS = {
    "add.at": "backend.scatter_add(target, index, values)",
    "lib": "backend.as_strided(a, shape, strides)",
    "random": "backend.generator_for(device, generator)",
    "errstate": "a context entered only for NumPy (see nn/_losses.py quiet)",
    "put_along_axis": "indexing with one arange per axis, or a backend helper",
    "frombuffer": "host-side backend.np, then backend.to_device",
    "shares_memory": "backend.shares_memory",
    "broadcast_shapes": "host-side backend.np.broadcast_shapes (it works on tuples)",
}

# NumPy's own objects that CuPy re-exports unchanged (dtypes, type info, constants): using them
# through ``backend.np`` is the same as through ``xp``.
SAME_IN_CUPY = _names("float16 float32 float64 int8 int16 int32 int64 uint8 uint64 bool_ dtype")
SAME_IN_CUPY |= {"iinfo", "finfo", "inf", "nan"}
# Host-side NumPy through ``backend.np`` (or ``from .backend import np``): file -> (why it is
# host-side, the names used). Every name must be used: the list shrinks when code moves to xp.
HOST_NUMPY = {
    "engine/_format.py": (
        "repr formats a host copy (to_numpy) of the values",
        {"isfinite", "abs", "all", "ceil", "concatenate", "stack"},
    ),
    "engine/autograd.py": (
        (
            "gradcheck compares float64 host copies; a NumPy scalar gradient (CPU only: CuPy "
            "reductions give 0-d arrays) becomes a 0-d array"
        ),
        {"array", "random", "zeros", "allclose", "abs"},
    ),
    "engine/creation.py": (
        (
            "arange/linspace/eye are built on the host (bit-exact with PyTorch's CPU kernels), "
            "then to_device; from_numpy/as_tensor take NumPy arrays"
        ),
        {
            "ndarray",
            "integer",
            "generic",
            "arange",
            "full",
            "longdouble",
            "where",
            "eye",
            "array",
            "isnan",
        },
    ),
    "engine/ops/api.py": ("broadcasting of shape tuples", {"broadcast_shapes"}),
    "engine/ops/elementwise.py": (
        (
            "the CPU ReLU's blocked path (only when xp is backend.np): a cached zero block and "
            "maximum into slices of a new array"
        ),
        {"zeros", "empty_like", "maximum"},
    ),
    "engine/tensor.py": ("a NumPy scalar (CPU only) becomes a 0-d array", {"array"}),
    "engine/random.py": ("the CPU generator's state bytes as a uint8 tensor", {"frombuffer"}),
    "engine/nn/_pool.py": (
        (
            "window geometry from the shapes (divisors, adaptive-pool 0/1 matrices), copied to "
            "the device once per call"
        ),
        {"arange", "minimum", "maximum", "outer"},
    ),
    "engine/serialization.py": (
        "safetensors reads and writes host arrays (to_numpy before, to_device after)",
        {"ndarray", "generic"},
    ),
    "engine/utils/data/collate.py": (
        "collating NumPy samples into CPU batches, as PyTorch's DataLoader",
        {"ndarray", "asarray", "number", "object_"},
    ),
    "engine/utils/data/dataloader.py": (
        "batch indices are made on the host and moved once per batch",
        {"asarray"},
    ),
    "engine/utils/data/sampler.py": ("sampler indices live on the host", {"arange", "concatenate"}),
}


# ------------------------------------------------------------------------------- source scans
@functools.cache
def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(ENGINE.rglob("*.py")):
        rel = "engine/" + path.relative_to(ENGINE).as_posix()
        if rel != "engine/backend.py":
            out[rel] = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    return out


def _called_name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def forbidden_imports(tree: ast.Module):
    """``(line, text)`` for each import of numpy/cupy/cupyx, in any spelling."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in FORBIDDEN_MODULES:
                    yield node.lineno, f"import {a.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                yield node.lineno, f"from {node.module} import ..."
        elif isinstance(node, ast.Call) and _called_name(node) in ("__import__", "import_module"):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and str(arg.value).split(".")[0] in FORBIDDEN_MODULES:
                yield node.lineno, f"{_called_name(node)}({arg.value!r})"


def _parents(tree):
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _is_backend_np(node) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "np"
        and isinstance(node.value, ast.Name)
        and node.value.id == "backend"
    )


def host_numpy_uses(tree: ast.Module):
    """``(line, name)`` for each NumPy name reached through ``backend.np`` or an alias of it
    (``from .backend import np``, ``_np = backend.np``); ``<module>`` for the module itself used
    other than in an alias assignment or an ``is`` test (passing NumPy around hides its uses)."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and node.module:
            if node.module.split(".")[-1] == "backend":
                aliases |= {a.asname or a.name for a in node.names if a.name == "np"}
        elif isinstance(node, ast.Assign) and _is_backend_np(node.value):
            aliases |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    parents = _parents(tree)
    for node in ast.walk(tree):
        if not (_is_backend_np(node) or (isinstance(node, ast.Name) and node.id in aliases)):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            yield node.lineno, parent.attr
        elif not (
            isinstance(parent, ast.Assign)
            or (isinstance(parent, ast.Compare) and isinstance(parent.ops[0], (ast.Is, ast.IsNot)))
        ):
            yield node.lineno, "<module>"


def _is_xp(node) -> bool:
    """``xp``, ``self.xp``, ``xp_of(a)``, ``backend.get_xp(dev)``: the array module."""
    if isinstance(node, ast.Name):
        return node.id == "xp"
    if isinstance(node, ast.Attribute):
        return node.attr == "xp"
    return isinstance(node, ast.Call) and _called_name(node) in ("xp_of", "get_xp")


def xp_names(tree: ast.Module):
    """``(line, dotted name)`` for each ``xp.<name>`` (``add.at`` for ``xp.add.at(...)``)."""
    parents = _parents(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_xp(node.value):
            parts, cur = [node.attr], node
            while isinstance(parents.get(cur), ast.Attribute) and parents[cur].value is cur:
                cur = parents[cur]
                parts.append(cur.attr)
            yield node.lineno, ".".join(parts)


def xp_name_problem(rel: str, name: str) -> str | None:
    """Why ``xp.<name>`` in ``rel`` would break on CuPy, or None when it is fine."""
    if name in CUPY_NAMES or name in CUDA_ONLY:
        return None
    if rel in GUARDED.get(name, {}) or rel in KNOWN_GAPS.get(name, {}):
        return None
    hint = HINTS.get(name) or HINTS.get(name.split(".")[0])
    return f"xp.{name} is not in CUPY_NAMES" + (f"; use {hint}" if hint else "")


# ------------------------------------------------------------------------------- static tests
def test_scan_covers_the_engine():
    mods = _modules()
    assert len(mods) > 30
    for rel in ("engine/tensor.py", "engine/nn/functional.py", "engine/optim/adam.py"):
        assert rel in mods
    assert "engine/backend.py" not in mods


def test_no_engine_module_but_backend_imports_numpy_or_cupy():
    found = [f"{rel}:{line}: {text}" for rel, tree in _modules().items()
             for line, text in forbidden_imports(tree)]  # fmt: skip
    assert not found, "only engine/backend.py may import NumPy/CuPy:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "line",
    [
        "import numpy as np",
        "import numpy",
        "from numpy import add",
        "import numpy.linalg",
        "import cupy as cp",
        "import cupyx",
        "from cupyx import scatter_add",
        "np = __import__('numpy')",
        "cp = importlib.import_module('cupy')",
    ],
)
def test_import_scan_catches_an_added_import(line):
    """The scan fails on an import added to nn/functional.py (as a second commit would)."""
    source = (ENGINE / "nn" / "functional.py").read_text(encoding="utf-8")
    before = list(forbidden_imports(ast.parse(source)))
    after = list(forbidden_imports(ast.parse(line + "\n" + source)))
    assert before == [] and len(after) == 1 and after[0][0] == 1


def test_host_side_numpy_only_where_listed():
    found = []
    for rel, tree in _modules().items():
        _, allowed = HOST_NUMPY.get(rel, ("", set()))
        for line, name in host_numpy_uses(tree):
            if name not in SAME_IN_CUPY and name not in allowed:
                found.append(f"{rel}:{line}: backend.np.{name}")
    assert not found, (
        "NumPy reached through backend.np outside the host-side list: write xp. code (xp = "
        "backend.xp_of(array)), or add the file and name to HOST_NUMPY with the reason it is "
        "host-side:\n" + "\n".join(found)
    )


def test_host_numpy_list_has_no_stale_entries():
    mods = _modules()
    stale = []
    for rel, (_, names) in HOST_NUMPY.items():
        used = {name for _, name in host_numpy_uses(mods[rel])} if rel in mods else set()
        stale += [f"{rel}: {name}" for name in sorted(names - used)]
    assert not stale, "remove from HOST_NUMPY (no longer used):\n" + "\n".join(stale)


def test_xp_names_exist_in_cupy():
    found = []
    for rel, tree in _modules().items():
        for line, name in xp_names(tree):
            problem = xp_name_problem(rel, name)
            if problem:
                found.append(f"{rel}:{line}: {problem}")
    assert not found, "\n".join(found)


def test_guarded_and_known_gap_lists_have_no_stale_entries():
    mods = _modules()
    stale = []
    for table in (GUARDED, KNOWN_GAPS):
        for name, files in table.items():
            for rel in files:
                used = {n for _, n in xp_names(mods[rel])} if rel in mods else set()
                if name not in used:
                    stale.append(f"{rel}: xp.{name}")
    assert not stale, "remove (no longer used):\n" + "\n".join(stale)


@pytest.mark.parametrize(
    "snippet,problem",
    [
        ("xp = backend.xp_of(a)\nxp.add.at(a, i, v)", "backend.scatter_add"),
        ("backend.xp_of(a).lib.stride_tricks.as_strided(a)", "backend.as_strided"),
        ("xp.random.uniform(size=3)", "backend.generator_for"),
        ("self.xp.errstate(divide='ignore')", "not in CUPY_NAMES"),
        ("xp_of(a).put_along_axis(a, i, v, 0)", "not in CUPY_NAMES"),
        ("get_xp(dev).frombuffer(b)", "not in CUPY_NAMES"),
    ],
)
def test_xp_scan_catches_names_cupy_lacks(snippet, problem):
    names = [name for _, name in xp_names(ast.parse(snippet))]
    problems = [xp_name_problem("engine/nn/functional.py", n) for n in names]
    assert any(p and problem in p for p in problems), problems


@pytest.mark.parametrize(
    "snippet,expected",
    [
        ("from .backend import np\nnp.add.at(a, i, v)", ["add"]),
        ("from ..backend import np as host\nhost.lib.stride_tricks", ["lib"]),
        ("_np = backend.np\nx = _np.frombuffer(b)", ["frombuffer"]),
        ("backend.np.random.default_rng(0)", ["random"]),
        ("f(backend.np)", ["<module>"]),
        ("ok = xp is backend.np", []),
    ],
)
def test_host_numpy_scan_sees_every_spelling(snippet, expected):
    assert [name for _, name in host_numpy_uses(ast.parse(snippet))] == expected


# ------------------------------------------------------------------------------ dynamic test
class _Recording:
    """A module (NumPy) whose attribute lookups are recorded as dotted names."""

    def __init__(self, target, seen: set, prefix: str = ""):
        self._target, self._seen, self._prefix = target, seen, prefix

    def __getattr__(self, name):
        value = getattr(self._target, name)
        if name.startswith("__"):
            return value
        full = self._prefix + name
        self._seen.add(full)
        if isinstance(value, (types.ModuleType, np.ufunc)):
            return _Recording(value, self._seen, full + ".")
        return value

    def __call__(self, *args, **kwargs):  # a recorded ufunc
        return self._target(*args, **kwargs)


@pytest.fixture
def recorded_xp(monkeypatch):
    """Every engine module's ``xp_of``/``get_xp`` answers NumPy with a recording proxy."""
    seen: set = set()
    proxy = _Recording(np, seen)
    originals = {"xp_of": backend.xp_of, "get_xp": backend.get_xp}

    def wrap(fn):
        return lambda *a: proxy if (out := fn(*a)) is np else out

    patched = {name: wrap(fn) for name, fn in originals.items()}
    for modname, mod in list(sys.modules.items()):
        if modname.startswith("nnrun.engine") and mod is not None:
            for name, fn in originals.items():
                if getattr(mod, name, None) is fn:
                    monkeypatch.setattr(mod, name, patched[name])
    return seen


def _train_step(model, opt, x, loss_fn):
    opt.zero_grad()
    loss = loss_fn(model(x))
    loss.backward()
    nr.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


def test_training_steps_use_only_cupy_names(recorded_xp):
    nn = nr.nn
    mlp = nn.Sequential(
        nn.Linear(6, 16), nn.BatchNorm1d(16), nn.GELU(), nn.Dropout(0.2), nn.LayerNorm(16),
        nn.SiLU(), nn.Linear(16, 16), nn.ELU(), nn.LeakyReLU(), nn.Linear(16, 4),
    )  # fmt: skip
    cnn = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1), nn.Conv2d(4, 4, 2, groups=2),
        nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False),
        nn.AdaptiveAvgPool2d((3, 2)), nn.Flatten(), nn.Linear(24, 4),
    )  # fmt: skip
    emb = nn.Embedding(10, 4, padding_idx=0, max_norm=1.0, scale_grad_by_freq=True)
    y = nr.tensor([0, 3, 1, 2, 3])
    w = nr.tensor([1.0, 2.0, 0.5, 1.0])
    losses = [
        lambda o: F.cross_entropy(o, y, weight=w, label_smoothing=0.1),
        lambda o: F.nll_loss(F.log_softmax(o, 1), y, ignore_index=1),
        lambda o: F.mse_loss(o, nr.zeros(5, 4)) + F.huber_loss(o, nr.ones(5, 4)),
        lambda o: F.binary_cross_entropy_with_logits(o, nr.ones(5, 4), pos_weight=w),
        lambda o: F.binary_cross_entropy(o.sigmoid(), F.one_hot(y, 4).float()),
        lambda o: F.cross_entropy(o, o.detach().softmax(1)) + F.smooth_l1_loss(o, o.detach() * 2),
    ]
    opts = [
        lambda p: nr.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
        lambda p: nr.optim.Adam(p, lr=1e-2, amsgrad=True, weight_decay=1e-2, maximize=True),
        lambda p: nr.optim.AdamW(p, lr=1e-2),
        lambda p: nr.optim.RMSprop(p, lr=1e-2, momentum=0.5, centered=True),
        lambda p: nr.optim.Adagrad(p, lr=1e-2, lr_decay=0.1),
        lambda p: nr.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5),
    ]
    x_mlp, x_cnn = nr.randn(5, 6), nr.randn(5, 2, 7, 7)
    for i, (loss_fn, make_opt) in enumerate(zip(losses, opts)):
        model, x = (mlp, x_mlp) if i % 2 == 0 else (cnn, x_cnn)
        before = [p.detach().clone() for p in model.parameters()]
        opt = make_opt(model.parameters())
        for _ in range(2):
            loss = _train_step(model, opt, x, loss_fn)
        assert bool(nr.isfinite(loss))
        assert any(not nr.equal(a, p) for a, p in zip(before, model.parameters()))
    idx = nr.tensor([[1, 2, 0], [2, 9, 2]])
    out = F.pad(emb(idx), (1, 1))
    out.sum().backward()
    assert emb.weight.grad[0].abs().sum().item() == 0

    assert {"einsum", "sqrt", "multiply", "ascontiguousarray", "bincount", "where"} <= recorded_xp
    bad = sorted(n for n in recorded_xp if n not in CUPY_NAMES and n not in GUARDED)
    assert not bad, f"array-module names CuPy lacks were used: {bad}"


# ------------------------------------------------------------------------- GPU-only branches
@pytest.mark.parametrize("padding", [0, 1])
def test_max_pool_gpu_pass_equals_cpu_pass_without_nan(padding):
    """On CUDA, max-pool runs its NaN-aware pass directly (no ``isnan().any()`` host sync); on
    inputs without NaN it must give the CPU pass's values and indices, ties and -inf included."""
    from nnrun.engine.nn import _pool

    x = np.round(np.random.default_rng(0).standard_normal((2, 3, 7, 6)), 1).astype(np.float32)
    x[0, 0, :3, :3] = -np.inf
    geom = _pool._check(nr.tensor(x), "max_pool2d", 3, 2, padding, 1, False)
    xpad = _pool.pad2d(x, *geom.pads, value=-np.inf)
    cpu = _pool._window_max(np, xpad, geom, np.uint8, nan_aware=False)
    gpu = _pool._window_max(np, xpad, geom, np.uint8, nan_aware=True)
    assert (cpu[0] == gpu[0]).all() and (cpu[1] == gpu[1]).all()
    assert (np.diff(np.sort(x[np.isfinite(x)])) == 0).any()  # the input has ties
