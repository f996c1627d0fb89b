"""``Dropout``."""

from __future__ import annotations

from .. import functional as F
from ..module import Module


class Dropout(Module):
    r"""During training, zeroes each element with probability ``p`` and scales the others by
    :math:`1/(1-p)`; in evaluation mode it is the identity.

    Draws from the engine's random generator, so ``nr.manual_seed`` makes it reproducible.

    Args:
        p: probability of an element to be zeroed. Default: 0.5
        inplace: overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(*)`. Output: the same shape.

    Example::

        >>> m = nr.nn.Dropout(p=0.2)
        >>> out = m(nr.randn(20, 16))
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
