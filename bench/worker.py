"""One measurement in a fresh process: ``python -m bench.worker '<json spec>'``.

Each (library, workload) runs in its own process so that peak memory (VmHWM) belongs to that
workload alone and one library's import never pollutes the other's numbers. The process imports
only the library it measures, records its resident memory after the imports (the baseline), runs a
short warm-up, then the timed run, and prints one JSON object as its last line of output.

Tasks: ``prep`` (PyTorch's initial weights for each workload, as .npz), ``workload``, ``scaling``
and ``gemm`` (float32 matmul peak and the BLAS in use).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import numpy as np

from bench import workloads as W

WARMUP_STEPS = 3
POOL = 4  # distinct batches cycled through in the scaling sweeps


def rss_mb():
    """``(current, peak)`` resident set size of this process in MiB."""
    fields = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    fields[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    peak = fields.get("VmHWM", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return fields.get("VmRSS", peak), peak


def import_lib(lib):
    if lib == "nnrun":
        import nnrun.engine as nr

        return nr
    if lib == "torch":
        import torch

        return torch
    return None  # "numpy": the hand-written floor


def seed(m, lib):
    if lib in ("nnrun", "torch"):
        m.manual_seed(W.SEED)


# --------------------------------------------------------------------------------------- tasks
def task_prep(spec):
    """Build each workload's model with the reference library's seeded init; save the weights."""
    lib = spec["lib"]
    m = import_lib(lib)
    out = {}
    for name in spec["workloads"]:
        seed(m, lib)
        kwargs = {"hidden": tuple(spec["sizes"][name]["hidden"])} if name == "W2" else {}
        model = W.build(m, name, **kwargs)
        arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        path = os.path.join(spec["cache"], f"{name}_weights.npz")
        np.savez(path, **arrays)
        # the data too: generating it (the teacher's big GEMM) in a measured process would
        # leave BLAS buffers in that process's peak memory
        data_path = os.path.join(spec["cache"], f"{name}_data.npz")
        np.savez(data_path, **W.make_data(name, spec["sizes"][name]))
        out[name] = {"weights": path, "data": data_path}
    return {"files": out, "source": lib}


def _load(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def task_workload(spec):
    lib, name, size = spec["lib"], spec["workload"], spec["size"]
    m = import_lib(lib)
    base_rss, _ = rss_mb()
    weights, data = _load(spec["files"]["weights"]), _load(spec["files"]["data"])
    if lib == "numpy":
        from bench.numpy_floor import run_w2

        def go(max_steps=None):
            return run_w2(data, weights, size, max_steps)
    else:

        def go(max_steps=None):
            return W.run(m, name, data, weights, size, max_steps)

    if spec.get("warmup", True):
        go(WARMUP_STEPS)
    cpu = time.process_time()
    result = go()
    result["cpu_s"] = time.process_time() - cpu  # all threads: robust to a busy machine
    _, peak = rss_mb()
    data_mb = sum(a.nbytes for a in data.values()) / 2**20
    result.update(rss_base_mb=base_rss, rss_peak_mb=peak, data_mb=data_mb)
    return result


def _time_steps(step, batch, target_s, max_steps):
    """Median and best seconds of one step, after two warm-up steps, running for about
    ``target_s`` (the best step is the figure a busy machine disturbs least)."""
    step(0)
    step(1)
    times, t_end = [], time.perf_counter() + target_s
    while len(times) < max_steps and (len(times) < 3 or time.perf_counter() < t_end):
        t = time.perf_counter()
        step(len(times))
        times.append(time.perf_counter() - t)
    return float(np.median(times)), float(min(times)), len(times)


def task_scaling(spec):
    """Time per training step of W2-like MLPs and W3's CNN at each configuration."""
    lib = spec["lib"]
    m = import_lib(lib)
    seed(m, lib)
    rng = np.random.default_rng(W.SEED)
    results = []
    for cfg in spec["configs"]:
        batch = cfg["batch"]
        if cfg["kind"] == "mlp":
            sizes = (784, *cfg["hidden"], 10)
            model = W.mlp(m, sizes)
            optim = m.optim.Adam(model.parameters(), lr=1e-3)
            shape, flops = (784,), W.mlp_step_flops(sizes, batch)
        else:
            model = W.w3_model(m)
            optim = m.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            shape, flops = (1, 28, 28), W.w3_step_flops(batch)
        x = m.from_numpy(rng.random((POOL * batch, *shape), dtype=np.float32) - 0.5)
        y = m.from_numpy(rng.integers(0, 10, POOL * batch, dtype=np.int64))
        crit = m.nn.CrossEntropyLoss()

        def step(i, model=model, optim=optim, x=x, y=y, crit=crit, batch=batch):
            s = (i % POOL) * batch
            loss = crit(model(x[s : s + batch]), y[s : s + batch])
            optim.zero_grad()
            loss.backward()
            optim.step()
            loss.item()

        sec, best, n = _time_steps(step, batch, spec["target_s"], spec.get("max_steps", 200))
        results.append(
            dict(
                cfg,
                step_ms=sec * 1e3,
                us_per_sample=sec / batch * 1e6,
                gflops=flops / sec / 1e9,
                best_step_ms=best * 1e3,
                best_us_per_sample=best / batch * 1e6,
                best_gflops=flops / best / 1e9,
                steps_timed=n,
            )
        )
    return {"configs": results}


def task_gemm(spec):
    """Best float32 ``np.matmul`` GFLOP/s over a few sizes, and the BLAS as threadpoolctl sees it."""
    rng = np.random.default_rng(0)
    best = {}
    for n in spec.get("sizes", (1024, 2048)):
        a = rng.random((n, n), dtype=np.float32)
        b = rng.random((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)
        np.matmul(a, b, out=c)
        times = []
        for _ in range(spec.get("repeat", 10)):
            t = time.perf_counter()
            np.matmul(a, b, out=c)
            times.append(time.perf_counter() - t)
        best[str(n)] = 2 * n**3 / min(times) / 1e9
    return {"gflops_by_size": best, "peak_gflops": max(best.values()), "blas": blas_info()}


def blas_info():
    """threadpoolctl's view of the BLAS (kernel architecture, threads) when it is installed."""
    try:
        import threadpoolctl
    except ImportError:
        return {"threadpoolctl": "not installed"}
    keep = ("internal_api", "version", "architecture", "num_threads", "threading_layer", "prefix")
    return [{k: lib.get(k) for k in keep} for lib in threadpoolctl.threadpool_info()]


TASKS = {"prep": task_prep, "workload": task_workload, "scaling": task_scaling, "gemm": task_gemm}


def main(argv=None):
    spec = json.loads((argv or sys.argv[1:])[0])
    result = TASKS[spec["task"]](spec)
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
