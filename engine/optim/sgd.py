"""Stochastic gradient descent, with momentum and Nesterov momentum, as ``torch.optim.SGD``."""

from __future__ import annotations

from .. import backend
from ..ops.reduce import quiet
from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), PyTorch's update rule.

    With :math:`g_t` the gradient (negated when ``maximize``) plus ``weight_decay`` times the
    parameter, momentum :math:`\mu` and dampening :math:`\tau`:

    .. math::
        b_1 = g_1, \quad b_t = \mu b_{t-1} + (1 - \tau) g_t, \quad
        \theta_t = \theta_{t-1} - \gamma\,(g_t + \mu b_t \text{ if nesterov else } b_t)

    Note the first buffer is the gradient itself and there is no :math:`(1-\mu)` factor.

    Args:
        params (iterable): tensors to optimize, or dicts defining parameter groups.
        lr (float, optional): learning rate (default: 1e-3).
        momentum (float, optional): momentum factor (default: 0).
        dampening (float, optional): dampening for momentum (default: 0).
        weight_decay (float, optional): weight decay (L2 penalty) (default: 0).
        nesterov (bool, optional): enables Nesterov momentum (default: False).
        maximize (bool, optional): maximize the objective instead of minimizing it
            (default: False).
        foreach, fused (optional): accepted for PyTorch compatibility; nnrun has one
            implementation. differentiable (bool): must be False.

    State (per parameter, only when ``momentum != 0``): ``momentum_buffer``.

    Example::

        >>> optimizer = nr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> optimizer.zero_grad()
        >>> loss_fn(model(input), target).backward()
        >>> optimizer.step()
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    ):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss and returns it."""
        loss = self._eval_closure(closure)
        self._update()
        return loss

    @quiet  # an inf/nan gradient gives PyTorch's inf/nan parameters, without NumPy warnings
    def _update(self):
        for group in self.param_groups:
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
            nesterov, maximize = group["nesterov"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d, g = p._data, p.grad._data
                xp = backend.xp_of(d)
                g = self._grad(d, g, weight_decay, maximize, 1)
                own = g is not p.grad._data  # a temporary we may overwrite
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        b = g.copy()  # the first buffer is the gradient itself
                        state["momentum_buffer"] = Tensor._make(b)
                    else:
                        b = buf._data
                        b *= momentum
                        if dampening == 0:
                            b += g
                        else:
                            b += xp.multiply(g, 1 - dampening, out=self._tmp(d, 0))
                    if nesterov:
                        t = xp.multiply(b, momentum, out=self._tmp(d, 0))
                        g = xp.add(g, t, out=g if own else t)
                        own = True
                    else:
                        g, own = b, False
                # theta -= lr * g  (PyTorch: param.add_(g, alpha=-lr))
                t = g if own else self._tmp(d, 0)
                d -= xp.multiply(g, lr, out=t)
