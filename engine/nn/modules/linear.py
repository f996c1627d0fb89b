"""``Identity`` and ``Linear``."""

from __future__ import annotations

import math

from ... import creation
from .. import _functions as _F
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter


class Identity(Module):
    r"""A placeholder that returns its input; any constructor arguments are ignored.

    Shape:
        - Input: :math:`(*)`, any shape. Output: the same.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    r"""Applies an affine transformation :math:`y = xA^T + b` as one fused node.

    Args:
        in_features: size of each input sample
        out_features: size of each output sample
        bias: if ``False``, the layer will not learn an additive bias. Default: ``True``

    Shape:
        - Input: :math:`(*, H_{in})`; Output: :math:`(*, H_{out})`.

    Attributes:
        weight: shape (out_features, in_features), initialised from
            :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with :math:`k = 1/\text{in\_features}`
        bias: shape (out_features), same distribution.

    Example::

        >>> m = nr.nn.Linear(20, 30)
        >>> m(nr.randn(128, 20)).size()
        nnrun.Size([128, 30])
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(
            creation.empty(out_features, in_features, device=device, dtype=dtype)
        )
        if bias:
            self.bias = Parameter(creation.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        weight = self.weight
        x, w = getattr(input, "_data", None), weight._data
        # the checks of F.linear, on the arrays: its messages are built only when they fail
        if x is not None and x.shape[-1:] == w.shape[1:2] and x.dtype == w.dtype:
            return _F.Linear.apply(input, weight, self.bias)
        return F.linear(input, weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
