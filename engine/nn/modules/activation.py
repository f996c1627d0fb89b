"""Activation modules: thin wrappers over ``nn.functional`` with PyTorch's reprs."""

from __future__ import annotations

from ...ops import elementwise as _E
from .. import functional as F
from ..module import Module


def _inplace_str(inplace: bool, sep: str = ", ") -> str:
    return f"{sep}inplace=True" if inplace else ""


class ReLU(Module):
    r"""Applies :math:`\max(0, x)` element-wise.

    Args:
        inplace: overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(*)`. Output: the same shape.

    Example::

        >>> nr.nn.ReLU()(nr.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        if self.inplace:
            return F.relu(input, inplace=True)
        return _E.Relu.apply(input)  # what F.relu calls, without its two wrappers

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace, sep="")


class LeakyReLU(Module):
    r"""Applies :math:`\max(0, x) + \text{negative\_slope} \min(0, x)` element-wise.

    Args:
        negative_slope: slope for negative inputs. Default: 1e-2
        inplace: overwrite the input. Default: ``False``
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace_str(self.inplace)}"


class ELU(Module):
    r"""Applies :math:`x` for :math:`x > 0`, else :math:`\alpha (e^x - 1)`.

    Args:
        alpha: the :math:`\alpha` value. Default: 1.0
        inplace: overwrite the input. Default: ``False``
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace_str(self.inplace)}"


class GELU(Module):
    r"""Applies :math:`x \Phi(x)`, :math:`\Phi` the standard normal CDF.

    Args:
        approximate: ``'none'`` (exact, via erf) or ``'tanh'``. Default: ``'none'``
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    r"""Applies :math:`x \sigma(x)` (swish) element-wise."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace, sep="")


class Sigmoid(Module):
    r"""Applies :math:`1 / (1 + e^{-x})` element-wise."""

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    r"""Applies :math:`\tanh(x)` element-wise."""

    def forward(self, input):
        return F.tanh(input)


class Softmax(Module):
    r"""Applies softmax along ``dim``, so that slices along it sum to 1.

    Args:
        dim: the dimension to normalise. Default: ``None`` (deprecated implicit choice)

    Example::

        >>> nr.nn.Softmax(dim=1)(nr.randn(2, 3)).sum(1)
        tensor([1., 1.])
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    r"""Applies :math:`\log(\text{softmax}(x))` along ``dim``, computed stably.

    Args:
        dim: the dimension to normalise. Default: ``None`` (deprecated implicit choice)
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.log_softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
