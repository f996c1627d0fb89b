"""``default_collate`` and ``default_convert``: how a list of samples becomes a batch.

The rules and result types are PyTorch's: tensors are stacked, NumPy arrays become tensors and are
stacked, Python floats become a float64 tensor, ints an int64 tensor (bools a bool tensor), strings
are left as a list, and tuples, lists, namedtuples and dicts are collated field by field (a batch
of tuples becomes a *list* of batched fields, as in PyTorch).
"""

from __future__ import annotations

import collections.abc
import copy
import re

from ... import backend
from ...creation import as_tensor, from_numpy, tensor
from ...ops.api import stack
from ...tensor import Tensor

__all__ = ["collate", "default_collate", "default_collate_fn_map", "default_convert"]

_np = backend.np
np_str_obj_array_pattern = re.compile(r"[SaUO]")
default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def default_convert(data):
    r"""Convert each NumPy array in ``data`` into a tensor, recursing into mappings and sequences.

    Used as the ``collate_fn`` when automatic batching is off (``batch_size=None``).

    Example::

        >>> default_convert(np.array([0, 1]))
        tensor([0, 1])
    """
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_"):
        if isinstance(data, _np.ndarray) and np_str_obj_array_pattern.search(data.dtype.str):
            return data
        return _from_numpy_like(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {k: default_convert(data[k]) for k in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # PyTorch: a tuple becomes a list
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _from_numpy_like(a):
    """A NumPy array or scalar as a tensor of the same dtype (``torch.as_tensor``)."""
    return from_numpy(a) if isinstance(a, _np.ndarray) else from_numpy(_np.asarray(a))


def _rebuild_mapping(elem, values: dict):
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(values)
            return clone
        return type(elem)(values)
    except TypeError:  # the mapping type cannot be rebuilt from a dict
        return values


def _rebuild_sequence(elem, values: list):
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, v in enumerate(values):
                clone[i] = v
            return clone
        return type(elem)(values)
    except TypeError:
        return values


def collate(batch, *, collate_fn_map=None):
    r"""Collate ``batch`` (a list of samples) by the element type, recursing into containers.

    ``collate_fn_map`` maps an element type to a function ``fn(batch, *, collate_fn_map)``; a
    type not found exactly is matched by ``isinstance`` in insertion order.
    """
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(
            elem, {k: collate([d[k] for d in batch], collate_fn_map=collate_fn_map) for k in elem}
        )
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)]
        return fields if isinstance(elem, tuple) else _rebuild_sequence(elem, fields)
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def collate_tensor_fn(batch, *, collate_fn_map=None):
    return stack(batch, 0)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    if np_str_obj_array_pattern.search(batch[0].dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(batch[0].dtype))
    return collate([as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    return from_numpy(_np.asarray(batch))


def collate_float_fn(batch, *, collate_fn_map=None):
    return tensor(batch, dtype=backend.float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    return tensor(batch)


def collate_str_fn(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map = {
    Tensor: collate_tensor_fn,
    _np.ndarray: collate_numpy_array_fn,
    (_np.bool_, _np.number, _np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch):
    r"""Stack a list of samples into a batch with a new leading dimension (PyTorch's rules).

    ==========================  ================================================
    element type                batch
    ==========================  ================================================
    Tensor                      ``nr.stack(batch)``
    NumPy array / scalar        a tensor of the same dtype, stacked
    float                       float64 tensor
    int (bool)                  int64 (bool) tensor
    str, bytes                  the list, unchanged
    Mapping                     the same mapping of collated values
    namedtuple                  the same namedtuple of collated fields
    tuple / list                a list (tuple) / list of collated fields
    ==========================  ================================================

    Example::

        >>> default_collate([(0, 1.0), (2, 3.0)])
        [tensor([0, 2]), tensor([1., 3.], dtype=nnrun.float64)]
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)
