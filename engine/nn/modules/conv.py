"""Convolution layers: ``Conv1d`` and ``Conv2d`` (zero padding only)."""

from __future__ import annotations

import math

from ... import creation
from .. import init
from .._conv import conv1d, conv2d
from ..module import Module
from ..parameter import Parameter

__all__ = ["Conv1d", "Conv2d"]


def _ntuple(value, n):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


class _ConvNd(Module):
    """What Conv1d and Conv2d share: argument checks, parameters, init and repr (PyTorch's)."""

    _nd = 2

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        super().__init__()
        n = self._nd
        kernel_size, stride, dilation = (_ntuple(v, n) for v in (kernel_size, stride, dilation))
        if not isinstance(padding, str):
            padding = _ntuple(padding, n)
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}"
                )
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(
                "padding_mode must be one of {'zeros', 'replicate', 'circular', 'reflect'}, but "
                f"got padding_mode='{padding_mode}'"
            )
        if padding_mode != "zeros":
            raise NotImplementedError(
                f"padding_mode='{padding_mode}' is not supported by nnrun; only 'zeros' is. Pad "
                f"the input yourself and use padding=0 instead"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.groups, self.padding_mode = dilation, groups, padding_mode
        self.transposed, self.output_padding = False, (0,) * n
        self.weight = Parameter(
            creation.empty(
                (out_channels, in_channels // groups, *kernel_size), device=device, dtype=dtype
            )
        )
        if bias:
            self.bias = Parameter(creation.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch's: bound gain*sqrt(3/fan_in) with a=sqrt(5) is 1/sqrt(fan_in), as for the bias
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    r"""Applies a 1D convolution over an input signal composed of several input planes.

    Args:
        in_channels (int): number of channels in the input
        out_channels (int): number of channels produced by the convolution
        kernel_size (int or tuple): size of the convolving kernel
        stride (int or tuple, optional): stride of the convolution. Default: 1
        padding (int, tuple or str, optional): zero padding added to both sides, or ``'valid'``
            / ``'same'``. Default: 0
        dilation (int or tuple, optional): spacing between kernel elements. Default: 1
        groups (int, optional): number of blocked connections from input to output. Default: 1
        bias (bool, optional): if ``True``, adds a learnable bias. Default: ``True``
        padding_mode (str, optional): only ``'zeros'`` is supported. Default: ``'zeros'``

    Shape:
        - Input: :math:`(N, C_{in}, L_{in})` or :math:`(C_{in}, L_{in})`
        - Output: :math:`(N, C_{out}, L_{out})` or :math:`(C_{out}, L_{out})`, where
          :math:`L_{out} = \lfloor (L_{in} + 2 \cdot padding - dilation \cdot (kernel\_size - 1)
          - 1) / stride + 1 \rfloor`

    Example::

        >>> m = nr.nn.Conv1d(16, 33, 3, stride=2)
        >>> m(nr.randn(20, 16, 50)).shape
        nnrun.Size([20, 33, 24])
    """

    _nd = 1

    def forward(self, input):
        return conv1d(
            input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class Conv2d(_ConvNd):
    r"""Applies a 2D convolution over an input signal composed of several input planes.

    Args:
        in_channels (int): number of channels in the input image
        out_channels (int): number of channels produced by the convolution
        kernel_size (int or tuple): size of the convolving kernel
        stride (int or tuple, optional): stride of the convolution. Default: 1
        padding (int, tuple or str, optional): zero padding added to all four sides, or
            ``'valid'`` / ``'same'``. Default: 0
        dilation (int or tuple, optional): spacing between kernel elements. Default: 1
        groups (int, optional): number of blocked connections from input to output. Default: 1
        bias (bool, optional): if ``True``, adds a learnable bias. Default: ``True``
        padding_mode (str, optional): only ``'zeros'`` is supported. Default: ``'zeros'``

    Shape:
        - Input: :math:`(N, C_{in}, H_{in}, W_{in})` or :math:`(C_{in}, H_{in}, W_{in})`
        - Output: :math:`(N, C_{out}, H_{out}, W_{out})` or :math:`(C_{out}, H_{out}, W_{out})`,
          where :math:`H_{out} = \lfloor (H_{in} + 2 \cdot padding[0] - dilation[0] \cdot
          (kernel\_size[0] - 1) - 1) / stride[0] + 1 \rfloor`, and likewise :math:`W_{out}`

    Attributes:
        weight (Tensor): shape :math:`(C_{out}, C_{in} / groups, kH, kW)`, initialised from
            :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with :math:`k = groups / (C_{in} kH kW)`
        bias (Tensor): shape :math:`(C_{out})`, initialised the same way

    Example::

        >>> m = nr.nn.Conv2d(16, 33, 3, stride=2)
        >>> m(nr.randn(20, 16, 50, 100)).shape
        nnrun.Size([20, 33, 24, 49])
    """

    def forward(self, input):
        return conv2d(
            input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )
