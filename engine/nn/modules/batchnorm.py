"""``BatchNorm1d`` and ``BatchNorm2d``: one fused node each forward and backward."""

from __future__ import annotations

from ... import backend, creation
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter


class _BatchNorm(Module):
    _version = 2

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(creation.empty(num_features, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(creation.empty(num_features, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer(
                "running_mean", creation.zeros(num_features, device=device, dtype=dtype)
            )
            self.register_buffer(
                "running_var", creation.ones(num_features, device=device, dtype=dtype)
            )
            self.register_buffer(
                "num_batches_tracked", creation.tensor(0, dtype=backend.int64, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input):
        raise NotImplementedError

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked._data += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        # in eval mode without running statistics, the batch statistics are used
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if keep else None,
            self.running_var if keep else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    r"""Batch normalisation over a 2-D (N, C) or 3-D (N, C, L) input.

    In training, normalises each channel with the batch mean and biased variance and updates
    ``running_mean``/``running_var`` as :math:`(1 - m)\hat{x} + m x_t` with the *unbiased* batch
    variance (``momentum=None``: cumulative average); in evaluation, uses the running statistics.

    Args:
        num_features: C, the number of channels
        eps: added to the variance. Default: 1e-5
        momentum: running statistics factor, or ``None``. Default: 0.1
        affine: learn ``weight`` (ones) and ``bias`` (zeros). Default: ``True``
        track_running_stats: keep running statistics. Default: ``True``
        bias: learn ``bias`` when affine (keyword only). Default: ``True``

    Shape:
        - Input: :math:`(N, C)` or :math:`(N, C, L)`. Output: the same shape.

    Example::

        >>> nr.nn.BatchNorm1d(100)(nr.randn(20, 100)).shape
        nnrun.Size([20, 100])
    """

    def _check_input_dim(self, input):
        if input.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    r"""Batch normalisation over a 4-D (N, C, H, W) input, per channel; see
    :class:`BatchNorm1d` for the statistics and arguments.

    Shape:
        - Input: :math:`(N, C, H, W)`. Output: the same shape.

    Example::

        >>> nr.nn.BatchNorm2d(16)(nr.randn(8, 16, 5, 5)).shape
        nnrun.Size([8, 16, 5, 5])
    """

    def _check_input_dim(self, input):
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")
