"""Loss modules: each holds its options and calls the fused functional form."""

from __future__ import annotations

from .. import functional as F
from .._loss_functional import get_reduction
from ..module import Module


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = get_reduction(reduction, size_average, reduce)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class L1Loss(_Loss):
    r"""Mean absolute error :math:`|x_n - y_n|`, reduced by ``reduction``.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``

    Shape:
        - Input and Target: :math:`(*)`, the same shape. Output: scalar, or :math:`(*)` for
          ``'none'``.

    Example::

        >>> nr.nn.L1Loss()(nr.tensor([1.0, 2.0]), nr.tensor([0.0, 0.0]))
        tensor(1.5000)
    """

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    r"""Mean squared error :math:`(x_n - y_n)^2`, reduced by ``reduction``.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``

    Example::

        >>> nr.nn.MSELoss()(nr.tensor([1.0, 2.0]), nr.tensor([0.0, 0.0]))
        tensor(2.5000)
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    r"""Squared error below ``delta``, ``delta``-scaled L1 above:
    :math:`0.5 d^2` if :math:`|d| < \delta`, else :math:`\delta (|d| - 0.5 \delta)`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``
        delta: the threshold, positive. Default: 1.0
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    r""":math:`0.5 d^2 / \beta` if :math:`|d| < \beta`, else :math:`|d| - 0.5 \beta`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``
        beta: the threshold, non-negative (0 gives L1). Default: 1.0
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCELoss(_WeightedLoss):
    r"""Binary cross-entropy of probabilities:
    :math:`-w_n (y_n \log x_n + (1 - y_n) \log(1 - x_n))`, each log clamped at -100.

    Args:
        weight: rescaling weight broadcast against the input
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``

    Shape:
        - Input and Target: :math:`(*)`, the same shape; input in [0, 1].
    """

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    r"""Sigmoid and binary cross-entropy in one numerically stable node:
    :math:`-w_n (p_c y_n \log \sigma(x_n) + (1 - y_n) \log(1 - \sigma(x_n)))`.

    Args:
        weight: rescaling weight broadcast against the input
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``
        pos_weight: weight of positive examples per class (last dimension)

    Example::

        >>> loss = nr.nn.BCEWithLogitsLoss(pos_weight=nr.ones(3))
        >>> loss(nr.randn(4, 3), nr.rand(4, 3)).shape
        nnrun.Size([])
    """

    def __init__(
        self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None
    ):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, pos_weight=self.pos_weight, reduction=self.reduction
        )


class CrossEntropyLoss(_WeightedLoss):
    r"""Log-softmax and negative log-likelihood fused into one node.

    Targets are class indices (N,) / (N, d1, ...) for input (N, C) / (N, C, d1, ...), or class
    probabilities of the input's shape.

    Args:
        weight: a manual rescaling weight per class, shape (C,)
        ignore_index: a target value that is ignored and does not count in the mean.
            Default: -100
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. ``'mean'`` divides by the summed
            weights of the non-ignored targets. Default: ``'mean'``
        label_smoothing: in [0, 1]; mixes the target with the uniform distribution.
            Default: 0.0

    Example::

        >>> loss = nr.nn.CrossEntropyLoss()
        >>> loss(nr.randn(3, 5, requires_grad=True), nr.tensor([1, 0, 4])).backward()
    """

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_WeightedLoss):
    r"""Negative log-likelihood of log-probabilities at class-index targets:
    :math:`-w_{y_n} x_{n, y_n}`.

    Args:
        weight: a manual rescaling weight per class, shape (C,)
        ignore_index: a target value that is ignored. Default: -100
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``

    Example::

        >>> x = nr.nn.LogSoftmax(dim=1)(nr.randn(3, 5))
        >>> nr.nn.NLLLoss()(x, nr.tensor([1, 0, 4])).shape
        nnrun.Size([])
    """

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )
