"""``Optimizer``: the base of every optimizer. It keeps ``param_groups`` (the parameters with their
options) and ``state`` (per-parameter buffers), and saves both in PyTorch's ``state_dict`` format.

Subclasses update the raw arrays (``p._data``) in place from ``p.grad._data``: an optimizer step
builds no graph, keeps every dtype and allocates no temporaries it can reuse.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from itertools import chain

from .. import autograd, backend, creation
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a default that every parameter group must give (``lr=required``)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()

# Scratch arrays at least this large are kept between steps: allocating one per step costs page
# faults (measured 30 ms vs 15 ms for ``d -= 0.1 * g`` on 10M float32), small ones are cheap.
_SCRATCH_MIN = 1 << 16


def _typename(obj) -> str:
    if isinstance(obj, Tensor):
        return "nnrun.Tensor"
    cls = type(obj)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _step_tensor(value=0.0) -> Tensor:
    """A step counter: a float32 0-d CPU tensor, as in PyTorch (non-capturable optimizers).
    It stays on the host whatever the parameters' device, so reading it never syncs a GPU."""
    return creation.tensor(float(value), dtype=backend.float32)


class Optimizer:
    r"""Base class for all optimizers.

    Args:
        params (iterable): an iterable of :class:`Tensor` s (or ``(name, Tensor)`` pairs) or of
            dicts. Dicts are parameter groups: ``{"params": [...], "lr": 0.1}`` gives options
            to that group only; options a group leaves out take the ``defaults``.
        defaults (dict): default values of the optimization options.

    ``state`` maps each parameter to a dict of its buffers (``step``, ``exp_avg``,
    ``momentum_buffer``, ...), all of them nnrun Tensors; ``step`` is a float32 0-d CPU tensor,
    as in PyTorch.

    Example::

        >>> opt = nr.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.1}], lr=0.01)
        >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        if defaults.get("differentiable"):
            raise ValueError(
                f"{type(self).__name__}(differentiable=True) is not supported by "
                "nnrun: optimizer steps never build a graph"
            )
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of "
                "Tensors or dicts, but got " + _typename(params)
            )
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        self._scratch: dict = {}
        self._views: dict = {}  # (slot, shape, dtype, device) -> a view of a scratch buffer
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(dict(group) if isinstance(group, dict) else group)

    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    # ------------------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a parameter group (a dict with ``"params"`` and any per-group options)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, "
                "but the ordering of tensors in sets will change between runs. "
                "Please use a list instead."
            )
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        param_group["params"] = params
        if names:
            if len(names) != len(params):
                raise ValueError(
                    "all optimizer params should be with/without names. "
                    "Some param names are missing"
                )
            param_group["param_names"] = names

        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is " + _typename(p)
                )
            if p.grad_fn is not None and not getattr(p, "retains_grad", False):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required "
                    f"optimization parameter {name}"
                )
            param_group.setdefault(name, default)
        if param_group.get("differentiable"):
            raise ValueError("differentiable=True is not supported by nnrun")

        ids = {id(p) for p in params}
        if len(ids) != len(params):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error; see "
                "github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                txt = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {txt} to the optimizer"
                )
            if not ids.isdisjoint(id(p) for p in group["params"]):
                raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------------------- steps
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors: to ``None`` (default), or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        g.grad_fn, g.requires_grad = None, False
                        g._data.fill(0)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss and returns it."""
        raise NotImplementedError

    @staticmethod
    def _eval_closure(closure):
        if closure is None:
            return None
        with autograd.enable_grad():
            return closure()

    def _tmp(self, like, slot: int):
        """An uninitialised array shaped like ``like``. Large ones are views of one buffer per
        ``slot`` (and dtype/device) kept between steps; two temporaries alive at once need two
        slots."""
        if like.size < _SCRATCH_MIN:
            return backend.xp_of(like).empty_like(like)
        key = (slot, like.shape, like.dtype, backend.device_of(like))
        view = self._views.get(key)
        if view is not None:
            return view
        bkey = (slot, like.dtype, key[3])
        buf = self._scratch.get(bkey)
        if buf is None or buf.size < like.size:
            buf = self._scratch[bkey] = backend.xp_of(like).empty(like.size, like.dtype)
            self._views = {}  # views of the smaller buffer it replaces
        view = self._views[key] = buf[: like.size].reshape(like.shape)
        return view

    def _grad(self, d, g, weight_decay, maximize, slot: int):
        """The gradient PyTorch steps with: ``g`` negated when maximizing, plus
        ``weight_decay * d``. A scratch array (of ``slot``) when it differs from ``g``."""
        if weight_decay != 0:
            xp = backend.xp_of(d)
            t = xp.multiply(d, weight_decay, out=self._tmp(d, slot))
            return xp.subtract(t, g, out=t) if maximize else xp.add(t, g, out=t)
        if maximize:
            return backend.xp_of(d).negative(g, out=self._tmp(d, slot))
        return g

    # -------------------------------------------------------------------------- state dict
    def state_dict(self) -> dict:
        """The optimizer's state in PyTorch's format::

            {"state": {0: {"step": tensor(3.), "exp_avg": tensor([...]), ...}, 1: {...}},
             "param_groups": [{"lr": 0.001, ..., "params": [0, 1]}]}

        Parameters are replaced by their integer index over all groups. The state tensors are the
        optimizer's own (not copies), as in PyTorch: save them before the next step.
        """
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {
            (mapping[id(k)] if isinstance(k, Tensor) else k): dict(v) for k, v in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state from :meth:`state_dict` (nnrun's or PyTorch's layout).

        State tensors are copied to their parameter's device and (floating) dtype; parameter
        ids may be ints or digit strings (as after a JSON round trip).
        """
        groups = self.param_groups
        saved_groups = [_copy_tree(g) for g in state_dict["param_groups"]]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match "
                "the size of optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(_ids(g["params"]) for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            k = int(k) if isinstance(k, str) and k.isdigit() else k
            if k in id_map:
                param = id_map[k]
                state[param] = {key: _cast(param, key, value) for key, value in v.items()}
            else:
                state[k] = v
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            for name, default in self.defaults.items():
                saved.setdefault(name, default)
        self.state, self.param_groups = state, saved_groups
        self._after_load()

    def _after_load(self) -> None:
        """Hook for subclasses that force options on loaded groups (AdamW)."""


def _ids(params):
    return [int(i) if isinstance(i, str) else i for i in params]


def _copy_tree(value):
    """Copy the containers of a param group (not deepcopy: tensors are never pickled)."""
    if isinstance(value, dict):
        return {k: _copy_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_tree(v) for v in value)
    return value


def _cast(param: Tensor, key, value):
    """A copy of a loaded state value on ``param``'s device (and dtype, when floating)."""
    if key == "step":
        if isinstance(value, Tensor):
            value = value.item()
        return _step_tensor(value)
    if isinstance(value, Tensor):
        arr = backend.to_device(value._data, param.device)
        if param.dtype.is_floating_point:
            return Tensor._make(arr.astype(param._data.dtype))
        return Tensor._make(arr.copy() if arr is value._data else arr)
    if isinstance(value, dict):
        return {k: _cast(param, k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(param, None, v) for v in value)
    return value
