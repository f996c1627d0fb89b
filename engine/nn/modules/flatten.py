"""``Flatten`` and ``Unflatten``."""

from __future__ import annotations

from ..module import Module


class Flatten(Module):
    r"""Flattens the dimensions ``start_dim`` to ``end_dim`` into one.

    Args:
        start_dim: first dim to flatten. Default: 1 (keeps the batch dimension)
        end_dim: last dim to flatten. Default: -1

    Shape:
        - Input: :math:`(*, S_{start}, ..., S_{end}, *)`.
        - Output: :math:`(*, \prod S, *)`.

    Example::

        >>> nr.nn.Flatten()(nr.randn(32, 1, 5, 5)).shape
        nnrun.Size([32, 25])
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    r"""Expands dimension ``dim`` into ``unflattened_size``.

    Args:
        dim: the dimension to unflatten
        unflattened_size: its new shape (a tuple or list of ints; one may be -1)

    Example::

        >>> nr.nn.Unflatten(1, (2, 5))(nr.randn(2, 10)).shape
        nnrun.Size([2, 2, 5])
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not all(
            isinstance(s, int) for s in unflattened_size
        ):
            raise TypeError(
                "unflattened_size must be tuple of ints, but found type "
                f"{type(unflattened_size).__name__}"
            )
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input):
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
