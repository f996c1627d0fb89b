"""Tensor's conversions: to Python numbers, lists and NumPy arrays, the printed form, the
Python protocols (``len``, ``iter``, ``bool``), and the dtype/device shorthands (``float()``,
``cuda()``, ...) over ``Tensor.to``. Mixed into ``Tensor`` (tensor.py)."""

from __future__ import annotations

from . import backend
from ._format import format_tensor


class _TensorConversions:
    """Conversions of ``Tensor`` (see tensor.py): every method here works through ``self``."""

    __slots__ = ()

    # ---------------------------------------------------------------------------- conversions
    def item(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.item()

    def tolist(self):
        return backend.to_numpy(self._data).tolist()

    def numpy(self, *, force=False):
        if not force and self.requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. "
                "Use tensor.detach().numpy() instead."
            )
        if not force and self.device.type != "cpu":
            raise TypeError(
                f"can't convert {self.device} device type tensor to numpy. Use "
                "Tensor.cpu() to copy the tensor to host memory first."
            )
        return backend.to_numpy(self._data)

    def __array__(self, dtype=None, copy=None):
        a = backend.to_numpy(self._data)
        return a if dtype is None else a.astype(dtype)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_floating_point:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __repr__(self):
        return format_tensor(self)

    def __format__(self, spec):
        if self._data.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self) if not spec else format(repr(self), spec)

    def __reduce_ex__(self, protocol):
        raise TypeError("nnrun tensors cannot be pickled; save them with nnrun.save (safetensors)")

    # ------------------------------------------------------------------------ dtype and device
    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to(
            backend.get_device(
                "cuda"
                if device is None
                else device
                if not isinstance(device, int)
                else f"cuda:{device}"
            )
        )

    def float(self):
        return self.to(backend.float32)

    def half(self):
        return self.to(backend.float16)

    def double(self):
        return self.to(backend.float64)

    def long(self):
        return self.to(backend.int64)

    def int(self):
        return self.to(backend.int32)

    def bool(self):
        return self.to(backend.bool_)

    def type_as(self, other):
        return self.to(other.dtype)

    def type(self, dtype=None):
        return self.dtype if dtype is None else self.to(dtype)
