"""Module's methods over the tensors it holds: device and dtype moves (``to``, ``cuda``,
``float``, ...), ``state_dict``/``load_state_dict`` with PyTorch's key names and messages, and
``copy.deepcopy``. Mixed into ``Module`` (module.py)."""

from __future__ import annotations

import copy
from collections import OrderedDict, namedtuple
from typing import TYPE_CHECKING

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor
from .parameter import Parameter

if TYPE_CHECKING:
    from .module import Module


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _copy_tensor(t: Tensor, memo) -> Tensor:
    if isinstance(t, Parameter):
        return copy.deepcopy(t, memo)
    out = Tensor._make(t._data.copy(), requires_grad=t.requires_grad)
    if t.grad is not None:
        out.grad = Tensor._make(t.grad._data.copy())
    return out


class _ModuleState:
    """Device/dtype moves, state dicts and deep copies of ``Module`` (see module.py)."""

    # ---------------------------------------------------------------------- device and dtype
    def _apply(self, fn) -> Module:
        """Convert every parameter, gradient and buffer with ``fn``; parameters keep identity
        (so an optimizer built before ``.to()`` still holds them)."""
        for module in self.children():
            module._apply(fn)
        with no_grad():
            for p in self._parameters.values():
                if p is None:
                    continue
                p._data = fn(p)._data
                if p.grad is not None:
                    p.grad._data = fn(p.grad)._data
            for k, b in self._buffers.items():
                if b is not None:
                    self._buffers[k] = fn(b)
        return self

    def to(self, *args, **kwargs) -> Module:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``: move and/or
        cast parameters and buffers in place (only floating point ones change dtype)."""
        dev, dt = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() received an invalid combination of arguments: {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dev, dt = a.device, a.dtype
            elif isinstance(a, (str, backend.device, int)) and not isinstance(a, bool):
                dev = a
            else:
                dt = a
        if dt is not None:
            dt = backend.to_dtype(dt)
            if not dt.is_floating_point:
                raise TypeError(
                    "nn.Module.to only accepts floating point or complex dtypes, "
                    f"but got desired dtype={dt}"
                )
        if dev is not None:
            dev = backend.get_device(dev if not isinstance(dev, int) else f"cuda:{dev}")

        def convert(t):
            return (
                t.to(dev, dt)
                if t.is_floating_point() and dt is not None
                else t.to(dev)
                if dev is not None
                else t
            )

        return self._apply(convert)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device=None) -> Module:
        return self.to("cuda" if device is None else device)

    def _cast(self, dt) -> Module:
        return self._apply(lambda t: t.to(dt) if t.is_floating_point() else t)

    def float(self) -> Module:
        return self._cast(backend.float32)

    def double(self) -> Module:
        return self._cast(backend.float64)

    def half(self) -> Module:
        return self._cast(backend.float16)

    def type(self, dst_type) -> Module:
        return self._apply(lambda t: t.to(dst_type))

    # ------------------------------------------------------------------------------ state dict
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ordered dict of every parameter and persistent buffer, keyed like PyTorch
        (``0.weight``, ``bn.running_mean``); values are detached and share memory."""
        if args:  # PyTorch's deprecated positional form state_dict(destination, prefix, ...)
            destination = args[0]
            if len(args) > 1:
                prefix = args[1]
            if len(args) > 2:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        return destination

    def _load_from_state_dict(
        self, state_dict, prefix, strict, missing_keys, unexpected_keys, error_msgs
    ):
        persistent = {
            k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set
        }
        local = {k: v for k, v in {**self._parameters, **persistent}.items() if v is not None}
        for name, param in local.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            data = value._data if isinstance(value, Tensor) else value
            if not backend.is_array(data):
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or '
                    f"Tensor-like object from checkpoint but received {type(value)}"
                )
                continue
            if param.ndim == 0 and data.ndim == 1 and data.shape[0] == 1:
                data = data.reshape(())  # PyTorch accepts a 1-element 1-D tensor for a 0-d one
            if tuple(data.shape) != tuple(param.shape):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape "
                    f"{type(param.shape)(data.shape)} from checkpoint, the shape in current "
                    f"model is {param.shape}."
                )
                continue
            with no_grad():
                param.copy_(Tensor._make(data))
        if strict:
            for key in state_dict:
                if key.startswith(prefix):
                    name = key[len(prefix) :].split(".", 1)[0]
                    if name not in self._modules and name not in local:
                        unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy parameters and buffers from ``state_dict`` into this module, in place.

        With ``strict=True`` the keys must match :meth:`state_dict`'s exactly; any missing or
        unexpected key, or a shape mismatch, raises ``RuntimeError`` listing all of them.
        Returns ``_IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        if assign:
            raise NotImplementedError("load_state_dict(assign=True) is not supported")
        missing, unexpected, errors = [], [], []
        for prefix, module in self.named_modules(remove_duplicate=False):
            module._load_from_state_dict(
                state_dict, prefix + "." if prefix else "", strict, missing, unexpected, errors
            )
        if strict:
            if unexpected:
                errors.insert(
                    0,
                    "Unexpected key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in unexpected)
                    ),
                )
            if missing:
                errors.insert(
                    0,
                    "Missing key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in missing)
                    ),
                )
        if errors:
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(
                    type(self).__name__, "\n\t".join(errors)
                )
            )
        return _IncompatibleKeys(missing, unexpected)

    def __deepcopy__(self, memo):
        # Tensors refuse pickling (and so copy.deepcopy); give the memo a copy of each one this
        # module holds directly, then copy the attributes as the default deepcopy would.
        for value in (*self._buffers.values(), *self.__dict__.values()):
            if isinstance(value, Tensor) and id(value) not in memo:
                memo[id(value)] = _copy_tensor(value, memo)
        new = object.__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = copy.deepcopy(value, memo)
        return new
