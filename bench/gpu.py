"""Train-step times on a CUDA GPU, nnrun (CuPy) against PyTorch: ``python -m bench.gpu``.

    python -m bench.gpu [--steps 50] [--batches 64,256] [--out results/gpu.json]

For W2 (MLP 784-256-128-10, Adam) and W3 (the CNN, SGD with momentum) at each batch size, both
libraries train on the same random batch resident on the GPU, from the same initial weights
(PyTorch's init copied into nnrun); each step is the five-step loop and the timer stops after a
device synchronisation. Reports the median step time, the ratio and the two losses after the
timed steps (they must agree to float32 rounding). Not part of ``bench.run``: most machines
have no GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import workloads as W


def _step_times(m, name, weights, x, y, steps, sync):
    model = W.build(m, name, weights).to("cuda")
    crit = m.nn.CrossEntropyLoss()
    if name == "W2":
        opt = m.optim.Adam(model.parameters(), lr=1e-3)
    else:
        opt = m.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xb = m.from_numpy(x).to("cuda")
    yb = m.from_numpy(y).to("cuda")
    times, loss = [], None
    for i in range(steps + 5):
        sync()
        t = time.perf_counter()
        loss = crit(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()
        if i >= 5:  # warm-up: kernel compilation and caches
            times.append(time.perf_counter() - t)
    return float(np.median(times)), float(loss.item())


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batches", default="64,256")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    import cupy
    import nnrun.engine as nr
    import torch

    syncs = {
        "nnrun": lambda: cupy.cuda.get_current_stream().synchronize(),
        "torch": torch.cuda.synchronize,
    }
    rows = []
    for name in ("W2", "W3"):
        torch.manual_seed(W.SEED)
        weights = {k: v.numpy() for k, v in W.build(torch, name).state_dict().items()}
        for batch in (int(b) for b in args.batches.split(",")):
            rng = np.random.default_rng(W.SEED)
            shape = (batch, 784) if name == "W2" else (batch, 1, 28, 28)
            x = rng.random(shape, dtype=np.float32) - 0.5
            y = rng.integers(0, 10, batch)
            row = {"workload": name, "batch": batch}
            for lib, m in (("nnrun", nr), ("torch", torch)):
                t, loss = _step_times(m, name, weights, x, y, args.steps, syncs[lib])
                row[f"{lib}_ms"], row[f"{lib}_loss"] = 1e3 * t, loss
            row["ratio"] = row["nnrun_ms"] / row["torch_ms"]
            rows.append(row)
            print(
                f"{name} batch {batch:4d}: nnrun {row['nnrun_ms']:7.3f} ms  torch "
                f"{row['torch_ms']:7.3f} ms  ratio {row['ratio']:5.2f}  losses "
                f"{row['nnrun_loss']:.6f} / {row['torch_loss']:.6f}",
                flush=True,
            )
    result = {
        "device": torch.cuda.get_device_name(0),
        "cupy": cupy.__version__,
        "torch": torch.__version__,
        "steps": args.steps,
        "rows": rows,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
