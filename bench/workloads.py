"""The benchmark workloads, written once for both libraries: ``m`` is ``nnrun.engine`` or ``torch``.

Every workload takes the same NumPy data, the same initial weights (a state dict of NumPy arrays,
PyTorch's own initialisation) and the same batch order (precomputed permutations), so the two
libraries do the same arithmetic and their loss trajectories must agree.

- W1: the seed cheat-sheet's complete pipeline (MLP 20-64-32-3, 1,000 samples, a [800, 200] split,
  batch 32 in a shuffled order, Adam, 10 epochs with validation accuracy after each).
- W2: MLP 784-256-128-10 on 60,000 x 784, batch 128, Adam lr 1e-3, one epoch.
- W3: CNN (two 3x3 convolutions with max pooling, two Linear) on 10,000 x 1x28x28, batch 64,
  SGD lr 0.01 momentum 0.9, one epoch.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

# Full sizes; the runner shrinks them for --quick and for the smoke test.
SIZES = {
    "W1": {"samples": 1000, "epochs": 10, "batch": 32},
    "W2": {"samples": 60000, "batch": 128, "hidden": (256, 128)},
    "W3": {"samples": 10000, "batch": 64},
}
SEED = 0


# ------------------------------------------------------------------------------------- models
def w1_model(m):
    """The cheat-sheet's ``Net``: a Module holding a Sequential (state-dict keys ``net.0.weight``)."""

    class Net(m.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = m.nn.Sequential(
                m.nn.Linear(20, 64),
                m.nn.ReLU(),
                m.nn.Linear(64, 32),
                m.nn.ReLU(),
                m.nn.Linear(32, 3),
            )

        def forward(self, x):
            return self.net(x)

    return Net()


def mlp(m, sizes):
    """``Linear-ReLU-...-Linear`` over ``sizes`` (e.g. 784, 256, 128, 10) as a Sequential."""
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(m.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(m.nn.ReLU())
    return m.nn.Sequential(*layers)


def w2_model(m, hidden=(256, 128)):
    return mlp(m, (784, *hidden, 10))


def w3_model(m):
    nn = m.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3136, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


MODELS = {"W1": w1_model, "W2": w2_model, "W3": w3_model}


def build(m, name, weights=None, **kwargs):
    """The workload's model, with ``weights`` (NumPy arrays by state-dict key) loaded if given."""
    model = MODELS[name](m, **kwargs)
    if weights is not None:
        model.load_state_dict({k: m.from_numpy(np.array(v)) for k, v in weights.items()})
    return model


# --------------------------------------------------------------------------------------- data
def make_data(name, size):
    """The workload's data as NumPy arrays (seeded): inputs, labels and the batch order."""
    rng = np.random.default_rng(SEED)
    n = size["samples"]
    if name == "W1":
        x = rng.standard_normal((n, 20), dtype=np.float32)
        y = rng.integers(0, 3, n, dtype=np.int64)
        split = rng.permutation(n)
        n_train = n * 4 // 5  # [800, 200] for 1,000 samples, as random_split gives
        epochs = [rng.permutation(n_train) for _ in range(size["epochs"])]
        return {
            "x": x,
            "y": y,
            "train_idx": split[:n_train],
            "val_idx": split[n_train:],
            "order": np.stack(epochs),
        }
    shape = (n, 784) if name == "W2" else (n, 1, 28, 28)
    x = rng.random(shape, dtype=np.float32)
    x -= 0.5
    # labels from a random linear teacher, so the loss really falls and a wrong gradient shows
    teacher = rng.standard_normal((x[0].size, 10), dtype=np.float32)
    y = (x.reshape(n, -1) @ teacher).argmax(axis=1).astype(np.int64)
    return {"x": x, "y": y, "order": rng.permutation(n)}


class EpochOrder:
    """A sampler that yields one precomputed permutation per epoch (the same in both libraries)."""

    def __init__(self, orders):
        self.orders, self.epoch = orders, 0

    def __iter__(self):
        order = self.orders[self.epoch % len(self.orders)]
        self.epoch += 1
        return iter(order.tolist())

    def __len__(self):
        return len(self.orders[0])


# ---------------------------------------------------------------------------------- workloads
def run_w1(m, data, weights, size, max_steps=None):
    """The cheat-sheet pipeline, timed from the tensors to the last validation pass."""
    t0 = time.perf_counter()
    data_utils = m.utils.data
    ds = data_utils.TensorDataset(m.from_numpy(data["x"]), m.from_numpy(data["y"]))
    train_ds = data_utils.Subset(ds, data["train_idx"].tolist())
    val_ds = data_utils.Subset(ds, data["val_idx"].tolist())
    train_dl = data_utils.DataLoader(
        train_ds, batch_size=size["batch"], sampler=EpochOrder(data["order"])
    )
    val_dl = data_utils.DataLoader(val_ds, batch_size=size["batch"])
    model = build(m, "W1", weights)
    crit = m.nn.CrossEntropyLoss()
    optim = m.optim.Adam(model.parameters())
    losses, accs, steps = [], [], 0
    for _epoch in range(size["epochs"]):
        model.train()
        tloss = 0.0
        for xb, yb in train_dl:
            loss = crit(model(xb), yb)
            optim.zero_grad()
            loss.backward()
            optim.step()
            tloss += loss.item()
            steps += 1
            if max_steps is not None and steps >= max_steps:
                return {"time_s": time.perf_counter() - t0, "losses": [tloss]}
        model.eval()
        correct = 0
        with m.no_grad():
            for xb, yb in val_dl:
                correct += (model(xb).argmax(1) == yb).sum().item()
        losses.append(tloss / len(train_dl))
        accs.append(correct / len(val_ds))
    return {"time_s": time.perf_counter() - t0, "losses": losses, "val_acc": accs}


def run_epoch(m, name, data, weights, size, max_steps=None):
    """W2 or W3: one epoch over the precomputed order; the loss of every step is recorded."""
    t0 = time.perf_counter()
    x, y = m.from_numpy(data["x"]), m.from_numpy(data["y"])
    kwargs = {"hidden": tuple(size["hidden"])} if name == "W2" else {}
    model = build(m, name, weights, **kwargs)
    crit = m.nn.CrossEntropyLoss()
    if name == "W2":
        optim = m.optim.Adam(model.parameters(), lr=1e-3)
    else:
        optim = m.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    order, batch = data["order"], size["batch"]
    losses = []
    for start in range(0, len(order), batch):
        idx = m.from_numpy(order[start : start + batch])
        xb, yb = x[idx], y[idx]
        loss = crit(model(xb), yb)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
        if max_steps is not None and len(losses) >= max_steps:
            break
    return {"time_s": time.perf_counter() - t0, "losses": losses}


def run(m, name, data, weights, size, max_steps=None):
    if name == "W1":
        return run_w1(m, data, weights, size, max_steps)
    return run_epoch(m, name, data, weights, size, max_steps)


# ------------------------------------------------------------------------------------- FLOPs
def mlp_step_flops(sizes, batch):
    """Multiply-adds x 2 of one training step: forward, grad weight, grad input (not layer 1's)."""
    per = [a * b for a, b in itertools.pairwise(sizes)]
    return 2 * batch * (3 * sum(per) - per[0])


def w3_step_flops(batch):
    """The GEMM FLOPs of one W3 step (convolutions as im2col GEMMs; conv1 needs no grad input)."""
    conv1 = 2 * 32 * 9 * 28 * 28
    conv2 = 2 * 64 * 32 * 9 * 14 * 14
    fc = 2 * (3136 * 128 + 128 * 10)
    return batch * (2 * conv1 + 3 * conv2 + 3 * fc)
