"""Pooling layers: ``MaxPool2d``, ``AvgPool2d`` and ``AdaptiveAvgPool2d``."""

from __future__ import annotations

from .._pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from ..module import Module

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "MaxPool2d"]


class MaxPool2d(Module):
    r"""Applies a 2D max pooling over an input signal composed of several input planes.

    Args:
        kernel_size (int or tuple): the size of the window to take a max over
        stride (int or tuple, optional): the stride of the window. Default: ``kernel_size``
        padding (int or tuple, optional): implicit negative infinity padding on both sides, at
            most half the kernel size. Default: 0
        dilation (int or tuple, optional): stride between elements of the window. Default: 1
        return_indices (bool, optional): also return the max indices (into each flattened
            ``H*W`` plane). Default: ``False``
        ceil_mode (bool, optional): use ceil instead of floor to compute the output shape.
            Default: ``False``

    Shape:
        - Input: :math:`(N, C, H_{in}, W_{in})` or :math:`(C, H_{in}, W_{in})`
        - Output: :math:`(N, C, H_{out}, W_{out})` or :math:`(C, H_{out}, W_{out})`, where
          :math:`H_{out} = \lfloor (H_{in} + 2 \cdot padding[0] - dilation[0] \cdot
          (kernel\_size[0] - 1) - 1) / stride[0] + 1 \rfloor` (ceil with ``ceil_mode``)

    Example::

        >>> m = nr.nn.MaxPool2d(3, stride=2)
        >>> m(nr.randn(20, 16, 50, 32)).shape
        nnrun.Size([20, 16, 24, 15])
    """

    def __init__(
        self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    r"""Applies a 2D average pooling over an input signal composed of several input planes.

    Args:
        kernel_size (int or tuple): the size of the window
        stride (int or tuple, optional): the stride of the window. Default: ``kernel_size``
        padding (int or tuple, optional): implicit zero padding on both sides, at most half the
            kernel size. Default: 0
        ceil_mode (bool, optional): use ceil instead of floor to compute the output shape.
            Default: ``False``
        count_include_pad (bool, optional): include the zero-padding in the averaging
            calculation. Default: ``True``
        divisor_override (int, optional): if given, it is used as the divisor of every window.
            Default: ``None``

    Shape:
        - Input: :math:`(N, C, H_{in}, W_{in})` or :math:`(C, H_{in}, W_{in})`
        - Output: :math:`(N, C, H_{out}, W_{out})` or :math:`(C, H_{out}, W_{out})`, where
          :math:`H_{out} = \lfloor (H_{in} + 2 \cdot padding[0] - kernel\_size[0]) / stride[0]
          + 1 \rfloor` (ceil with ``ceil_mode``)

    Example::

        >>> m = nr.nn.AvgPool2d((3, 2), stride=(2, 1))
        >>> m(nr.randn(20, 16, 50, 32)).shape
        nnrun.Size([20, 16, 24, 31])
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode=False,
        count_include_pad=True,
        divisor_override=None,
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    r"""Applies a 2D adaptive average pooling over an input signal of several input planes.

    The output is of size :math:`H_{out} \times W_{out}` for any input size; window ``i`` spans
    rows :math:`\lfloor i H_{in} / H_{out} \rfloor` to :math:`\lceil (i+1) H_{in} / H_{out}
    \rceil`.

    Args:
        output_size (int or tuple): the target output size, ``H`` for ``H x H`` or
            ``(H, W)``; ``None`` keeps the input's size in that dimension

    Shape:
        - Input: :math:`(N, C, H_{in}, W_{in})` or :math:`(C, H_{in}, W_{in})`
        - Output: :math:`(N, C, H_{out}, W_{out})` or :math:`(C, H_{out}, W_{out})`

    Example::

        >>> m = nr.nn.AdaptiveAvgPool2d((5, 7))
        >>> m(nr.randn(1, 64, 8, 9)).shape
        nnrun.Size([1, 64, 5, 7])
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
