"""W2 in raw NumPy, no framework: the floor a NumPy engine can approach.

Forward, backward and Adam are written out by hand for the MLP 784-H1-H2-10 with the same math as
``nn.Linear`` + ``nn.ReLU`` + ``nn.CrossEntropyLoss`` (mean) + ``optim.Adam`` (PyTorch's rule: eps
outside the square root), reusing buffers wherever NumPy allows.
"""

from __future__ import annotations

import time

import numpy as np


class _Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.tmp = [np.empty_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1**self.t)
        bc2 = (1 - b2**self.t) ** 0.5
        for p, g, m, v, t in zip(self.params, grads, self.m, self.v, self.tmp):
            m *= b1
            m += np.multiply(g, 1 - b1, out=t)
            v *= b2
            v += np.multiply(np.multiply(g, 1 - b2, out=t), g, out=t)
            np.sqrt(v, out=t)
            t /= bc2
            t += self.eps
            np.divide(m, t, out=t)
            t *= -step_size
            p += t


def run_w2(data, weights, size, max_steps=None):
    """One epoch of W2 in NumPy; returns the time and the loss of every step."""
    t0 = time.perf_counter()
    x, y = data["x"], data["y"]
    w = [np.array(weights[f"{i}.weight"]) for i in (0, 2, 4)]
    b = [np.array(weights[f"{i}.bias"]) for i in (0, 2, 4)]
    opt = _Adam(w + b)
    order, batch = data["order"], size["batch"]
    losses = []
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        xb, yb = x[idx], y[idx]
        n = len(idx)
        # forward
        h1 = xb @ w[0].T
        h1 += b[0]
        np.maximum(h1, 0, out=h1)
        h2 = h1 @ w[1].T
        h2 += b[1]
        np.maximum(h2, 0, out=h2)
        z = h2 @ w[2].T
        z += b[2]
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        s = z.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        picked = z[rows, yb] / s[:, 0]
        losses.append(float(-np.log(picked).mean()))
        # backward: dz = (softmax - onehot) / n
        z /= s
        z[rows, yb] -= 1
        z *= np.float32(1 / n)
        gw2, gb2 = z.T @ h2, z.sum(axis=0)
        d2 = z @ w[2]
        d2 *= h2 > 0
        gw1, gb1 = d2.T @ h1, d2.sum(axis=0)
        d1 = d2 @ w[1]
        d1 *= h1 > 0
        gw0, gb0 = d1.T @ xb, d1.sum(axis=0)
        opt.step([gw0, gw1, gw2, gb0, gb1, gb2])
        if max_steps is not None and len(losses) >= max_steps:
            break
    return {"time_s": time.perf_counter() - t0, "losses": losses}
