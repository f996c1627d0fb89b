"""``Parameter``: a Tensor that a ``Module`` registers as one of its parameters."""

from __future__ import annotations

from ..tensor import Tensor


class Parameter(Tensor):
    r"""A kind of Tensor that is to be considered a module parameter.

    Assigning a ``Parameter`` as a ``Module`` attribute adds it to the module's
    :meth:`~Module.parameters`. It shares memory with ``data``.

    Args:
        data (Tensor): parameter tensor.
        requires_grad (bool, optional): if the parameter requires gradient. Default: `True`

    Example::

        >>> p = nr.nn.Parameter(nr.zeros(2))
        >>> p
        Parameter containing:
        tensor([0., 0.], requires_grad=True)
    """

    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..creation import empty

            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}"
            )
        if requires_grad and not data.dtype.is_floating_point:
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        p = object.__new__(cls)
        p._data, p.requires_grad, p.grad, p.grad_fn = data._data, bool(requires_grad), None, None
        return p

    def __init__(self, data=None, requires_grad=True):
        pass  # everything happens in __new__; Tensor.__init__ is the legacy constructor

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(Tensor._make(self._data.copy()), self.requires_grad)
        if self.grad is not None:
            out.grad = Tensor._make(self.grad._data.copy())
        memo[id(self)] = out
        return out
