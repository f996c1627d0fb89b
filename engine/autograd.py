"""Reverse-mode automatic differentiation.

Each differentiable op is a :class:`Function` subclass with ``forward(ctx, *arrays)`` and
``backward(ctx, grad)`` on raw arrays; the instance itself is the ``ctx`` that carries what
backward needs. Calling ``Fn.apply(*tensors)`` records a node only when grad mode is on and an input
requires grad. :func:`run_backward` walks the graph in topological order without recursion.
"""

from __future__ import annotations

import functools

from . import backend

_grad_enabled = True
_Tensor = None  # the Tensor class, set by tensor.py (the import is cyclic by nature)


def is_grad_enabled() -> bool:
    """Whether operations are currently recorded for autograd."""
    return _grad_enabled


def _set_grad_enabled(mode: bool) -> None:
    global _grad_enabled
    _grad_enabled = bool(mode)


class _GradMode:
    """Base of ``no_grad``/``enable_grad``: a context manager and a decorator."""

    mode = True

    def __enter__(self):
        self._prev = _grad_enabled
        _set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class _NoParamGradMode(_GradMode):
    """Also a bare decorator, as PyTorch allows: ``@nr.no_grad`` as well as ``@nr.no_grad()``."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamGradMode):
    """Disable graph recording: ``with nr.no_grad(): ...`` or ``@nr.no_grad()``."""

    mode = False


class enable_grad(_NoParamGradMode):
    """Re-enable graph recording inside ``no_grad``: a context manager and a decorator."""

    mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(mode)``: recording on or off, as a call, context manager or decorator."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._prev = _grad_enabled
        _set_grad_enabled(self.mode)  # like PyTorch, it also works as a plain function call

    def __enter__(self):
        return self

    def __call__(self, fn):
        mode = self.mode
        _set_grad_enabled(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the adjoint of broadcasting is summation."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    out = grad.sum(axis=axes, keepdims=True) if axes else grad
    return out.reshape(shape)


class Function:
    """One differentiable op. Subclasses define ``forward`` and ``backward`` on arrays.

    ``backward`` returns one gradient per tensor input (``None`` where no gradient flows); a
    gradient may have the broadcast shape, the engine sums it back to the input's shape. It
    returns new arrays or views of ``grad``, never an array it keeps: a fresh array may become
    a leaf's ``.grad`` without a copy.
    """

    grad_name: str | None = None  # PyTorch's node name where it is not f"{ClassName}Backward0"

    # set by apply(): for each input, its grad_fn, the leaf Tensor that wants .grad, or None
    parents: tuple
    needs_input_grad: tuple

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *tensors, **params):
        T = _Tensor
        ctx = cls()
        # inputs are Tensors, or constants (Python scalars, None) that never get a gradient
        arrays = [t._data if isinstance(t, T) else t for t in tensors]
        if backend._cp is not None and len(arrays) > 1:
            _check_same_device(cls, tensors, arrays)
        out = ctx.forward(*arrays, **params)
        if _grad_enabled:
            parents, shapes, dtypes, needs, record = [], [], [], [], False
            for t, a in zip(tensors, arrays):
                if isinstance(t, T) and t.requires_grad:
                    parents.append(t.grad_fn or t)
                    shapes.append(a.shape)
                    dtypes.append(a.dtype)
                    needs.append(True)
                    record = True
                else:
                    parents.append(None)
                    shapes.append(None)
                    dtypes.append(None)
                    needs.append(False)
            if record:
                ctx.needs_input_grad = tuple(needs)
                ctx.parents, ctx.shapes, ctx.dtypes = tuple(parents), shapes, dtypes
                return T._make(out, True, ctx)
        return T._make(out)

    def name(self) -> str:
        return self.grad_name or f"{type(self).__name__}Backward0"

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"

    @property
    def next_functions(self):
        from .tensor import Tensor

        return tuple((p if not isinstance(p, Tensor) else None, 0) for p in self.parents)


def _check_same_device(cls, tensors, arrays):
    """Tensors from two devices in one op: PyTorch's RuntimeError, naming both devices."""
    cp = backend._cp
    if cp is None:  # CuPy never imported: every array is a NumPy array
        return
    from .tensor import Tensor

    first = None
    for t, a in zip(tensors, arrays):
        if isinstance(t, Tensor):
            key = a.device.id if isinstance(a, cp.ndarray) else -1
            if first is None:
                first = key
            elif key != first:
                _raise_device_mismatch(cls, tensors)


def _raise_device_mismatch(cls, tensors):
    from .tensor import Tensor

    names = " and ".join(dict.fromkeys(str(t.device) for t in tensors if isinstance(t, Tensor)))
    raise RuntimeError(
        f"Expected all tensors to be on the same device, but found at least two devices, "
        f"{names}! (in {getattr(cls, '__name__', cls)}). Move them with .to(device) first."
    )


_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


def _topological_order(root: Function) -> list[Function]:
    """Nodes reachable from ``root``, each before every node it feeds into (iterative DFS)."""
    order: list[Function] = []
    seen = {id(root)}
    stack = [(root, iter(root.parents))]
    while stack:
        node, it = stack[-1]
        for p in it:
            if isinstance(p, Function) and id(p) not in seen:
                seen.add(id(p))
                if not hasattr(p, "parents"):
                    raise RuntimeError(_FREED)
                stack.append((p, iter(p.parents)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()  # root first
    return order


def run_backward(tensor, grad, retain_graph: bool = False) -> None:
    """Backpropagate ``grad`` (an array of ``tensor``'s shape) into every leaf's ``.grad``."""
    root = tensor.grad_fn
    if root is None:
        if tensor.requires_grad:  # a leaf: its own gradient is the seed
            _accumulate(tensor, grad, fresh=False)
        return
    if not hasattr(root, "parents"):
        raise RuntimeError(_FREED)
    order = _topological_order(root)
    prev_mode = _grad_enabled
    _set_grad_enabled(False)  # backward functions never record a graph
    try:
        _backward_pass(order, root, grad, retain_graph)
    finally:
        _set_grad_enabled(prev_mode)


def _backward_pass(order, root, grad, retain_graph):
    T = _Tensor
    grads = {id(root): grad}
    owned: set[int] = set()  # keys of `grads` whose arrays this pass allocated (safe to add into)
    given: set[int] = set()  # arrays handed to a leaf's .grad without a copy
    for node in order:
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if not hasattr(node, "needs_input_grad"):
            raise RuntimeError(_FREED)
        input_grads = node.backward(g)
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        if len(input_grads) < len(node.parents):
            _check_grad_count(node, input_grads)
        for p, ig, shape, dtype in zip(node.parents, input_grads, node.shapes, node.dtypes):
            if p is None or ig is None:
                continue
            if ig.shape != shape:
                ig = unbroadcast(ig, shape)
            if ig.dtype != dtype:
                ig = ig.astype(dtype)
            if isinstance(p, T):
                fresh = ig is not g and ig.base is None and id(ig) not in given
                given.add(id(ig))
                _accumulate(p, ig, fresh)
            else:
                key = id(p)
                prev = grads.get(key)
                if prev is None:
                    grads[key] = ig
                elif key in owned:
                    prev += ig
                    grads[key] = prev  # a NumPy scalar (0-d result) is immutable: += rebinds
                else:  # never write into an array another node may still hold
                    grads[key] = prev + ig
                    owned.add(key)
        if not retain_graph:
            node.__dict__.clear()


def _check_grad_count(node, input_grads):
    """Too few gradients are fine only where the missing inputs need none (constants)."""
    if any(p is not None for p in node.parents[len(input_grads) :]):
        raise RuntimeError(
            f"function {node.name()} returned an incorrect number of gradients "
            f"(expected {len(node.parents)}, got {len(input_grads)})"
        )


def _accumulate(leaf, g, fresh: bool):
    """Add ``g`` into ``leaf.grad``. ``fresh``: this pass allocated ``g`` and no one else holds
    it, so it may become the leaf's ``.grad`` without a copy. NumPy returns scalars, not 0-d
    arrays, from 0-d arithmetic: ``.grad`` always gets an array."""
    if leaf.grad is None:
        if not backend.is_array(g):
            g = backend.np.array(g)
        elif not fresh:
            g = g.copy()
        leaf.grad = _Tensor._make(g)
    else:
        total = leaf.grad._data + g
        leaf.grad._data = total if backend.is_array(total) else backend.np.array(total)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, allow_unused=False):
    """``autograd.grad``: gradients of ``outputs`` w.r.t. ``inputs``, leaving ``.grad`` alone."""
    from .tensor import Tensor

    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    saved = [(t, t.grad) for t in inputs]
    for t in inputs:
        t.grad = None
    try:
        outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
        gos = (
            [None] * len(outs)
            if grad_outputs is None
            else ([grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs))
        )
        for o, go in zip(outs, gos):
            o.backward(go, retain_graph=bool(retain_graph))
        result = []
        for t in inputs:
            if t.grad is None and not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been "
                    "used in the graph. Set allow_unused=True if this is the "
                    "desired behavior."
                )
            result.append(t.grad)
    finally:
        for t, g in saved:
            t.grad = g
    return tuple(result)


def gradcheck(
    fn,
    inputs,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare ``fn``'s analytic gradients with central finite differences, in float64.

    Every input that requires grad must be float64 (as in PyTorch). The scalar checked is
    ``sum(out * r)`` for a fixed random ``r`` per output, so every output element contributes.
    """
    from .tensor import Tensor

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in diff:
        if t.dtype is not backend.float64:
            raise ValueError(f"gradcheck needs float64 inputs, got {t.dtype}")

    def outputs():
        out = fn(*inputs)
        return out if isinstance(out, (tuple, list)) else (out,)

    outs = [o for o in outputs() if isinstance(o, Tensor) and o.dtype.is_floating_point]
    rng = backend.np.random.default_rng(0)
    weights = [rng.standard_normal(o.shape) for o in outs]

    def scalar():
        with no_grad():
            total = 0.0
            for o, w in zip(
                [o for o in outputs() if isinstance(o, Tensor) and o.dtype.is_floating_point],
                weights,
            ):
                total += float((backend.to_numpy(o._data) * w).sum())
            return total

    for t in diff:
        t.grad = None
    loss = None
    for o, w in zip(outs, weights):
        term = (o * Tensor._make(backend.to_device(w, o.device))).sum()
        loss = term if loss is None else loss + term
    if loss is not None and loss.requires_grad:
        loss.backward()
    for i, t in enumerate(diff):
        analytic = (
            backend.to_numpy(t.grad._data) if t.grad is not None else backend.np.zeros(t.shape)
        )
        numeric = backend.np.zeros(t.shape)
        flat = t._data.reshape(-1)  # a view: perturb in place
        for j in range(flat.size):
            orig = float(flat[j])
            flat[j] = orig + eps
            plus = scalar()
            flat[j] = orig - eps
            minus = scalar()
            flat[j] = orig
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        if not backend.np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            if raise_exception:
                worst = backend.np.abs(analytic - numeric).argmax()
                raise GradcheckError(
                    f"Jacobian mismatch for input {i} of shape {tuple(t.shape)}: analytic "
                    f"{analytic.reshape(-1)[worst]:.8g} vs numeric {numeric.reshape(-1)[worst]:.8g}"
                    f" at flat index {worst}"
                )
            return False
    return True


class GradcheckError(RuntimeError):
    """Raised by :func:`gradcheck` when analytic and numeric gradients disagree."""
