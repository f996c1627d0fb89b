"""Operands of the functional API, shared by ``api.py`` and its ``_api_*`` parts: the Tensor
class (set by tensor.py), Python scalars and lists beside tensors, raw arrays in and out."""

from __future__ import annotations

from numbers import Number

from .. import backend
from ..autograd import _check_same_device

_Tensor = None  # set by tensor.py (cyclic import)


def _T():
    return _Tensor


def _as_tensor_like(x, ref):
    """Wrap a non-tensor operand (list, array) as a tensor on ``ref``'s device."""
    from ..creation import tensor

    return tensor(x, device=ref.device)


def _scalar_or_tensor(x, ref):
    t = type(x)
    if t is float or t is int or t is bool or t is _T():
        return x
    if isinstance(x, Number):  # NumPy scalars (np.float64 is a float subclass) act as Python ones
        return x.item() if hasattr(x, "item") else float(x)
    if isinstance(x, _T()):
        return x
    return _as_tensor_like(x, ref)


def _wrap(array):
    return _T()._make(array)


def _raw(x):
    return x._data if isinstance(x, _T()) else x


def _same_device(fn, a, b):
    if backend._cp is not None and isinstance(b, _T()):  # only CuPy can put tensors elsewhere
        _check_same_device(fn, (a, b), (a._data, b._data))
