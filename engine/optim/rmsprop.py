"""RMSprop (optionally centered, with momentum), as ``torch.optim.RMSprop``."""

from __future__ import annotations

from .. import backend
from ..ops.reduce import quiet
from ..tensor import Tensor
from .optimizer import Optimizer, _step_tensor

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop, PyTorch's update rule.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2, \quad
        \tilde v_t = v_t - \bar g_t^2 \text{ if centered else } v_t, \quad
        \theta_t = \theta_{t-1} - \gamma\, g_t / (\sqrt{\tilde v_t} + \epsilon)

    where :math:`\bar g_t` is the running average of the gradient (``centered``); with
    ``momentum`` :math:`\mu`, :math:`b_t = \mu b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon)`
    and :math:`\theta_t = \theta_{t-1} - \gamma b_t`.

    Args:
        params (iterable): tensors to optimize, or dicts defining parameter groups.
        lr (float, optional): learning rate (default: 1e-2).
        alpha (float, optional): smoothing constant (default: 0.99).
        eps (float, optional): term added to the denominator (default: 1e-8).
        weight_decay (float, optional): weight decay (L2 penalty) (default: 0).
        momentum (float, optional): momentum factor (default: 0).
        centered (bool, optional): normalize by the estimated variance of the gradient
            (default: False).
        maximize (bool, optional): maximize the objective (default: False).
        capturable, foreach (optional): accepted for PyTorch compatibility.
            differentiable (bool): must be False.

    State (per parameter): ``step``, ``square_avg``, ``momentum_buffer`` (when
    ``momentum > 0``) and ``grad_avg`` (when ``centered``).

    Example::

        >>> optimizer = nr.optim.RMSprop(model.parameters(), lr=1e-2, momentum=0.9)
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss and returns it."""
        loss = self._eval_closure(closure)
        self._update()
        return loss

    @quiet  # an inf/nan gradient gives PyTorch's inf/nan parameters, without NumPy warnings
    def _update(self):
        for group in self.param_groups:
            lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
            weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
            centered, maximize = group["centered"], group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p._data
                xp = backend.xp_of(d)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["square_avg"] = Tensor._make(xp.zeros_like(d))
                    if momentum > 0:
                        state["momentum_buffer"] = Tensor._make(xp.zeros_like(d))
                    if centered:
                        state["grad_avg"] = Tensor._make(xp.zeros_like(d))
                state["step"]._data += 1
                g = self._grad(d, p.grad._data, weight_decay, maximize, 2)

                v, t = state["square_avg"]._data, self._tmp(d, 0)
                v *= alpha  # v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
                v += xp.multiply(xp.multiply(g, 1 - alpha, out=t), g, out=t)
                if centered:
                    ga = state["grad_avg"]._data  # ga.lerp_(g, 1 - alpha)
                    ga += xp.multiply(xp.subtract(g, ga, out=t), 1 - alpha, out=t)
                    avg = xp.subtract(v, xp.multiply(ga, ga, out=t), out=t)
                    avg = xp.sqrt(avg, out=avg)
                else:
                    avg = xp.sqrt(v, out=t)
                avg += eps

                if momentum > 0:
                    b = state["momentum_buffer"]._data  # b.mul_(momentum).addcdiv_(g, avg)
                    b *= momentum
                    b += xp.divide(g, avg, out=avg)
                    d -= xp.multiply(b, lr, out=avg)
                else:  # param.addcdiv_(g, avg, value=-lr): (-lr * g) / avg
                    u = xp.multiply(g, -lr, out=self._tmp(d, 1))
                    d += xp.divide(u, avg, out=u)
