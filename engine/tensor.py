"""``Tensor``: an array plus autograd bookkeeping. It holds no math: every method is a one-line
call into ``ops.api``, which applies the ``Function`` classes."""

# Tensor's class body is split in three: this module keeps the data, attributes, autograd,
# indexing and in-place ops (everything that needs the Tensor class itself); _tensor_ops.py holds
# the operators and math methods, _tensor_conversions.py the conversions and dtype/device
# shorthands. Both are mixins with empty __slots__.

from __future__ import annotations

from . import autograd, backend
from ._tensor_conversions import _TensorConversions
from ._tensor_ops import _TensorOps
from .backend import xp_of
from .ops import _api_operands, api
from .ops import elementwise as E
from .ops import shape as S
from .ops.reduce import quiet


class Size(tuple):
    """A tensor's shape: a tuple that prints as PyTorch's ``torch.Size([2, 3])``."""

    def __repr__(self):
        return f"nnrun.Size({list(self)})"

    __str__ = __repr__

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


_LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."


class Tensor(_TensorConversions, _TensorOps):
    """A multi-dimensional array of one dtype on one device, with autograd bookkeeping.

    Build tensors with :func:`nnrun.engine.tensor`, ``zeros``, ``randn``, ...; ``Tensor(data)``
    (float32 copy) and ``Tensor(2, 3)`` (uninitialised) are the legacy constructors. Operators
    and methods follow PyTorch's names, arguments, broadcasting and type promotion.

    Attributes:
        shape (Size): the size of each dimension; ``dtype``, ``device``, ``ndim`` likewise.
        requires_grad (bool): whether operations on it are recorded for autograd.
        grad (Tensor or None): the gradient accumulated by :meth:`backward`.
        grad_fn (Function or None): the node that made it (None for a leaf).

    Example::

        >>> x = nr.tensor(4.0, requires_grad=True)
        >>> (3 * x**3 + 2 * x + 1).backward()
        >>> x.grad
        tensor(146.)
    """

    __slots__ = ("__dict__", "__weakref__", "_data", "grad", "grad_fn", "requires_grad")

    def __init__(self, *args, dtype=None, device=None):
        # legacy constructor: Tensor(data) copies as float32, Tensor(2, 3) is uninitialised
        from .creation import empty, tensor

        if len(args) == 1 and not isinstance(args[0], int):
            t = tensor(args[0], dtype=dtype or backend.default_float(), device=device)
        else:
            t = empty(*args, dtype=dtype, device=device)
        self._data, self.requires_grad, self.grad, self.grad_fn = t._data, False, None, None

    @classmethod
    def _make(cls, array, requires_grad=False, grad_fn=None):
        t = object.__new__(Tensor)
        t._data, t.requires_grad, t.grad, t.grad_fn = array, requires_grad, None, grad_fn
        return t

    # ----------------------------------------------------------------------------- attributes
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        return (
            Size(self._data.shape)
            if dim is None
            else self._data.shape[api.norm_dim(dim, self.ndim)]
        )

    @property
    def dtype(self):
        return backend.from_np(self._data.dtype)

    @property
    def device(self):
        return backend.device_of(self._data)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    @property
    def data(self) -> Tensor:
        return Tensor._make(self._data)

    @data.setter
    def data(self, value: Tensor):
        self._data = value._data

    @property
    def T(self):
        return self.permute(*range(self.ndim - 1, -1, -1))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    # --------------------------------------------------------------------- hashing and copying
    __hash__ = object.__hash__  # here, not in _TensorOps: defining __eq__ there unsets it there

    def __deepcopy__(self, memo):
        """``copy.deepcopy``: a leaf with copied data (and grad); only leaves can be deep-copied,
        as in PyTorch."""
        if id(self) in memo:
            return memo[id(self)]
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support "
                "the deepcopy protocol at the moment."
            )
        out = Tensor._make(self._data.copy(), self.requires_grad)
        if self.grad is not None:
            out.grad = Tensor._make(self.grad._data.copy())
        memo[id(self)] = out
        return out

    # ------------------------------------------------------------------------ dtype and device
    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other)``."""
        dtype, dev = kwargs.pop("dtype", None), kwargs.pop("device", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype, dev = a.dtype, a.device
            elif isinstance(a, backend.dtype) or a in (float, int, bool):
                dtype = a
            elif isinstance(a, (str, backend.device)):
                dev = a
            else:
                dtype = a
        out = self
        if dev is not None:
            dev = backend.get_device(dev)
            if dev != self.device:
                out = E.ToDevice.apply(out, device=dev)
        if dtype is not None:
            dt = backend.to_dtype(dtype)
            if dt.np != out._data.dtype:
                out = E.Cast.apply(out, dtype=dt.np)
        if copy and out is self:
            out = self.clone()
        return out

    def detach(self):
        return Tensor._make(self._data)

    def detach_(self):
        self.grad_fn, self.requires_grad = None, False
        return self

    def clone(self, *, memory_format=None):
        return E.Clone.apply(self)

    def contiguous(self, memory_format=None):
        return self if self._data.flags.c_contiguous else S.Contiguous.apply(self)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you "
                "want to use a computed variable in a subgraph that doesn't require "
                "differentiation use var_no_grad = var.detach()."
            )
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        if not self.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = xp_of(self._data).ones(self._data.shape, dtype=self._data.dtype)
        else:
            g = (
                gradient._data
                if isinstance(gradient, Tensor)
                else xp_of(self._data).asarray(gradient, dtype=self._data.dtype)
            )
            if g.shape != self._data.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[0] has a shape of "
                    f"{Size(g.shape)} and output[0] has a shape of {self.shape}."
                )
        autograd.run_backward(self, g, retain_graph=bool(retain_graph))

    # ------------------------------------------------------------------------------- indexing
    def __getitem__(self, key):
        if type(key) is Tensor:  # the data loader's gather by a 1-D index tensor, fast
            k = key._data
            if k.ndim == 1 and k.dtype.kind in "iu" and k.dtype != backend.np.uint8:
                return S.GetItem.apply(self, key=(k,), advanced=True)
        key, advanced = _index_key(key, self)
        return S.GetItem.apply(self, key=key, advanced=advanced)

    def __setitem__(self, key, value):
        key, _ = _index_key(key, self)
        if autograd._grad_enabled and (
            self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)
        ):
            self._check_inplace()
            if not isinstance(value, Tensor):
                value = (
                    api._as_tensor_like(value, self)
                    if not isinstance(value, (int, float, bool))
                    else value
                )
            if isinstance(value, Tensor) and value.dtype is not self.dtype:
                value = value.to(self.dtype)
            out = S.IndexPut.apply(self, value, key=key)
            self._rebind(out)
        else:
            self._buf()[key] = value._data if isinstance(value, Tensor) else value

    def masked_fill(self, mask, value):
        if isinstance(value, Tensor):
            return api.where(mask, value.to(self.dtype), self)
        from .creation import checked_fill_value  # PyTorch's overflow error for a scalar

        out = api.where(mask, checked_fill_value(value, self.dtype, self.numel()), self)
        return out if out.dtype is self.dtype else out.to(self.dtype)  # 1.5 into int32: 1

    # -------------------------------------------------------------------------------- in-place
    def _check_inplace(self):
        if autograd._grad_enabled and self.requires_grad and self.grad_fn is None:
            raise RuntimeError(_LEAF_INPLACE)

    def _buf(self):
        """The array to write into in place. NumPy returns scalars, not 0-d arrays, from 0-d
        arithmetic and whole reductions; such a result becomes a 0-d array here first."""
        d = self._data
        if not backend.is_array(d):
            d = self._data = backend.np.array(d)
        return d

    def _rebind(self, out):
        self._data, self.grad_fn, self.requires_grad = out._data, out.grad_fn, out.requires_grad

    def _inplace(self, op, *args, **kw):
        """Run ``op`` and write its result into this tensor, keeping dtype and identity."""
        tracked = autograd._grad_enabled and (
            self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)
        )
        if tracked:
            self._check_inplace()
        out = op(self, *args, **kw)
        if out.dtype is not self.dtype:
            if not (out.dtype._kind <= self.dtype._kind):
                raise RuntimeError(
                    f"result type {out.dtype.name} can't be cast to the desired "
                    f"output type {self.dtype.name}"
                )
            out = out.to(self.dtype)
        if out.shape != self.shape:
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast "
                f"shape {list(out.shape)}"
            )
        if tracked:
            self._rebind(out)
        else:
            self._buf()[...] = out._data
        return self

    def add_(self, other, *, alpha=1):
        return self._inplace(api.add, other, alpha=alpha)

    def sub_(self, other, *, alpha=1):
        return self._inplace(api.sub, other, alpha=alpha)

    def mul_(self, other):
        return self._inplace(api.mul, other)

    def div_(self, other, *, rounding_mode=None):
        return self._inplace(api.div, other, rounding_mode=rounding_mode)

    def pow_(self, exponent):
        return self._inplace(api.pow, exponent)

    def clamp_(self, min=None, max=None):
        return self._inplace(api.clamp, min, max)

    clip_ = clamp_

    def masked_fill_(self, mask, value):
        return self._inplace(Tensor.masked_fill, mask, value)

    def zero_(self):
        self._check_inplace()
        self._buf()[...] = 0
        return self

    def fill_(self, value):
        self._check_inplace()
        if isinstance(value, Tensor):  # not checked (PyTorch's rule): out of range becomes inf
            value = value.item()
        else:
            from .creation import checked_fill_value

            value = checked_fill_value(value, self.dtype, self._data.size)
        _assign_quietly(self._buf(), value)
        return self

    def copy_(self, src, non_blocking=False):
        self._check_inplace()
        src_data = src._data if isinstance(src, Tensor) else src
        if backend.device_of(src_data) != self.device:
            src_data = backend.to_device(src_data, self.device)
        self._buf()[...] = src_data
        return self

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        self._check_inplace()
        gen = backend.generator_for(self.device, generator)
        self._buf()[...] = gen.uniform(self._data.shape, self._data.dtype) * (b - a) + a
        return self

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        self._check_inplace()
        gen = backend.generator_for(self.device, generator)
        self._buf()[...] = gen.normal(self._data.shape, self._data.dtype) * std + mean
        return self

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)


api._Tensor = _api_operands._Tensor = autograd._Tensor = Tensor


@quiet  # a value out of the dtype's range becomes inf where PyTorch lets it (no NumPy warning)
def _assign_quietly(buf, value):
    buf[...] = value


def _index_key(key, t):
    """Convert a PyTorch index into a NumPy one; ``advanced`` when it gathers by integer arrays
    (whose backward must accumulate repeated indices)."""
    if not isinstance(key, tuple):
        key = (key,)
    xp = xp_of(t._data)
    out, advanced, has_ellipsis = [], False, False
    for k in key:
        if isinstance(k, Tensor):
            if k.ndim == 0 and not k.dtype.is_floating_point and k.dtype is not backend.bool_:
                k = int(k.item())
            else:
                if k.dtype.is_floating_point:
                    raise IndexError(
                        "tensors used as indices must be long, int, byte or bool tensors"
                    )
                k = k._data
                if k.dtype == backend.np.uint8:
                    k = k.astype(bool)
                advanced = advanced or k.dtype != bool
        elif isinstance(k, (list, tuple)) or backend.is_array(k):
            k = xp.asarray(k)
            if k.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            advanced = advanced or k.dtype != bool
        elif k is Ellipsis:
            has_ellipsis = True
        elif not (k is None or isinstance(k, (int, slice))):
            raise IndexError(
                f"only integers, slices (`:`), ellipsis (`...`), None and long or "
                f"byte Variables are valid indices (got {type(k).__name__})"
            )
        if isinstance(k, int) and not isinstance(k, bool):
            _check_int_index(k, key, out, t)
        out.append(k)
    if not has_ellipsis:
        out.append(
            Ellipsis
        )  # keeps integer indexing a view: a[1, ...] is a 0-d array, not a scalar
    return tuple(out), advanced


def _check_int_index(k, key, done, t):
    # position of this int among the indexed dims (None does not consume a dim)
    dim = sum(
        1
        for x in done
        if x is not None and x is not Ellipsis and not (backend.is_array(x) and x.dtype == bool)
    )
    if Ellipsis not in done and dim < t.ndim:
        n = t.shape[dim]
        if not -n <= k < n:
            raise IndexError(f"index {k} is out of bounds for dimension {dim} with size {n}")
