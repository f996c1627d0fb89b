"""Flatten parameters into one vector and back (PyTorch's ``parameters_to_vector`` and
``vector_to_parameters``)."""

from __future__ import annotations

from ...ops import api
from ...tensor import Tensor
from ..module import typename


def _check_param_device(param, old_device):
    if old_device is not None and param.device != old_device:
        raise TypeError(
            "Found two parameters on different devices, this is currently not supported."
        )
    return param.device


def parameters_to_vector(parameters) -> Tensor:
    """One 1-D tensor of all ``parameters``, flattened and concatenated (differentiable).

    Example::

        >>> nr.nn.utils.parameters_to_vector(nr.nn.Linear(3, 2).parameters()).shape
        nnrun.Size([8])
    """
    device, flat = None, []
    for p in parameters:
        device = _check_param_device(p, device)
        flat.append(p.reshape(-1))
    return api.cat(flat)


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy slices of the 1-D ``vec`` into ``parameters`` (each then shares ``vec``'s memory)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {typename(vec)}")
    device, pointer = None, 0
    for p in parameters:
        device = _check_param_device(p, device)
        n = p.numel()
        p.data = vec[pointer : pointer + n].view_as(p).data
        pointer += n
