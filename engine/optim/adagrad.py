"""Adagrad, as ``torch.optim.Adagrad``."""

from __future__ import annotations

from .. import backend
from ..ops.reduce import quiet
from ..tensor import Tensor
from .optimizer import Optimizer, _step_tensor

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad, PyTorch's update rule.

    .. math::
        \tilde\gamma_t = \frac{\gamma}{1 + (t-1)\eta}, \quad s_t = s_{t-1} + g_t^2, \quad
        \theta_t = \theta_{t-1} - \tilde\gamma_t\, g_t / (\sqrt{s_t} + \epsilon)

    Args:
        params (iterable): tensors to optimize, or dicts defining parameter groups.
        lr (float, optional): learning rate (default: 1e-2).
        lr_decay (float, optional): learning rate decay :math:`\eta` (default: 0).
        weight_decay (float, optional): weight decay (L2 penalty) (default: 0).
        initial_accumulator_value (float, optional): initial value of the sum of squares
            (default: 0).
        eps (float, optional): term added to the denominator (default: 1e-10).
        foreach, fused (optional): accepted for PyTorch compatibility.
        maximize (bool, optional): maximize the objective (default: False).
        differentiable (bool): must be False.

    State (per parameter, created at construction as in PyTorch): ``step`` and ``sum``.

    Example::

        >>> optimizer = nr.optim.Adagrad(model.parameters(), lr=1e-2)
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
    ):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, initial_accumulator_value)

    def _init_state(self, p, initial_accumulator_value):
        state = self.state[p]
        state["step"] = _step_tensor()
        state["sum"] = Tensor._make(
            backend.xp_of(p._data).full_like(p._data, initial_accumulator_value)
        )

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss and returns it."""
        loss = self._eval_closure(closure)
        self._update()
        return loss

    @quiet  # an inf/nan gradient gives PyTorch's inf/nan parameters, without NumPy warnings
    def _update(self):
        for group in self.param_groups:
            lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
            weight_decay, maximize = float(group["weight_decay"]), group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p._data
                xp = backend.xp_of(d)
                state = self.state[p]
                if len(state) == 0:  # a group added later (PyTorch reads the defaults here)
                    self._init_state(p, self.defaults["initial_accumulator_value"])
                st = state["step"]._data
                st += 1
                step = float(st)
                g = self._grad(d, p.grad._data, weight_decay, maximize, 2)
                clr = lr / (1 + (step - 1) * lr_decay)

                s, t = state["sum"]._data, self._tmp(d, 0)
                s += xp.multiply(g, g, out=t)  # s.addcmul_(g, g, value=1)
                std = xp.sqrt(s, out=t)
                std += eps
                # param.addcdiv_(g, std, value=-clr): (-clr * g) / std
                u = xp.multiply(g, -clr, out=self._tmp(d, 1))
                d += xp.divide(u, std, out=u)
