"""Adam and AdamW (decoupled weight decay), as ``torch.optim.Adam`` / ``torch.optim.AdamW``."""

from __future__ import annotations

from .. import backend
from ..ops.reduce import quiet
from ..tensor import Tensor
from .optimizer import Optimizer, _step_tensor

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam, PyTorch's update rule (eps is added *outside* the square root).

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,
        \quad \theta_t = \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
        \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}

    with :math:`v_t` replaced by its running maximum when ``amsgrad``; ``weight_decay`` adds
    :math:`\lambda\theta` to the gradient (or, with ``decoupled_weight_decay``, multiplies the
    parameter by :math:`1-\gamma\lambda` as AdamW does).

    Args:
        params (iterable): tensors to optimize, or dicts defining parameter groups.
        lr (float, optional): learning rate (default: 1e-3).
        betas (tuple[float, float], optional): coefficients of the running averages of the
            gradient and its square (default: (0.9, 0.999)).
        eps (float, optional): term added to the denominator (default: 1e-8).
        weight_decay (float, optional): weight decay (L2 penalty) (default: 0).
        amsgrad (bool, optional): use the AMSGrad variant (default: False).
        maximize (bool, optional): maximize the objective (default: False).
        decoupled_weight_decay (bool, optional): AdamW's decay (default: False).
        foreach, capturable, fused (optional): accepted for PyTorch compatibility; nnrun has one
            implementation. differentiable (bool): must be False.

    State (per parameter): ``step`` (float32 0-d CPU tensor), ``exp_avg``, ``exp_avg_sq`` and,
    with ``amsgrad``, ``max_exp_avg_sq``.

    Example::

        >>> optimizer = nr.optim.Adam(model.parameters(), lr=1e-3)
        >>> optimizer.zero_grad(); loss.backward(); optimizer.step()
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=False,
    ):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (isinstance(betas[0], float) and isinstance(betas[1], float)):
            raise ValueError("betas must be either both floats or both Tensors")  # noqa: TRY004
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
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
            beta1, beta2 = (float(b) for b in group["betas"])
            lr, eps, weight_decay = (
                float(group["lr"]),
                float(group["eps"]),
                float(group["weight_decay"]),
            )
            amsgrad, maximize = group["amsgrad"], group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d, g = p._data, p.grad._data
                xp = backend.xp_of(d)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["exp_avg"] = Tensor._make(xp.zeros_like(d))
                    state["exp_avg_sq"] = Tensor._make(xp.zeros_like(d))
                    if amsgrad:
                        state["max_exp_avg_sq"] = Tensor._make(xp.zeros_like(d))
                st = state["step"]._data
                st += 1
                step = float(st)

                if weight_decay != 0:
                    if decoupled:
                        d *= 1 - lr * weight_decay
                    g = self._grad(d, g, 0 if decoupled else weight_decay, maximize, 2)
                elif maximize:
                    g = self._grad(d, g, 0, maximize, 2)

                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                t = self._tmp(d, 0)
                # m.lerp_(g, 1 - beta1): m + w * (g - m)
                m += xp.multiply(xp.subtract(g, m, out=t), 1 - beta1, out=t)
                # v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                v *= beta2
                v += xp.multiply(xp.multiply(g, 1 - beta2, out=t), g, out=t)

                step_size = lr / (1 - beta1**step)
                bias_correction2_sqrt = (1 - beta2**step) ** 0.5
                if amsgrad:
                    vmax = state["max_exp_avg_sq"]._data
                    xp.maximum(vmax, v, out=vmax)
                    v = vmax
                denom = xp.sqrt(v, out=t)
                denom /= bias_correction2_sqrt
                denom += eps
                # param.addcdiv_(m, denom, value=-step_size): (-step_size * m) / denom
                u = xp.multiply(m, -step_size, out=self._tmp(d, 1))
                d += xp.divide(u, denom, out=u)


class AdamW(Adam):
    r"""Adam with decoupled weight decay: each step first scales the parameter by
    :math:`1 - \gamma\lambda`, then applies Adam's update to the undecayed gradient.

    Args:
        params (iterable): tensors to optimize, or dicts defining parameter groups.
        lr (float, optional): learning rate (default: 1e-3).
        betas (tuple[float, float], optional): running-average coefficients
            (default: (0.9, 0.999)).
        eps (float, optional): term added to the denominator (default: 1e-8).
        weight_decay (float, optional): decoupled weight decay coefficient (default: 1e-2).
        amsgrad (bool, optional): use the AMSGrad variant (default: False).
        maximize (bool, optional): maximize the objective (default: False).

    State: as :class:`Adam`.

    Example::

        >>> optimizer = nr.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def _after_load(self):
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
