"""Machine facts, start-up times and the end-to-end ``nnrun train`` figure, each in a subprocess."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NNRUN_NUM_THREADS")
WORKER_THREADS = None  # set by ``bench.run --threads N``: every worker's CPU threads


def env_for_workers(unset_openblas=False):
    """The environment of every subprocess: the repository on the path so ``bench`` imports."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if WORKER_THREADS:
        env.update(dict.fromkeys(THREAD_VARS, str(WORKER_THREADS)))
    if unset_openblas:
        for name in OPENBLAS_VARS:
            env.pop(name, None)
    return env


def run_worker(spec, unset_openblas=False, timeout=900):
    """Run ``bench.worker`` with ``spec`` in a fresh interpreter; its last output line is JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", json.dumps(spec)],
        check=False,
        cwd=ROOT,
        env=env_for_workers(unset_openblas),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"bench worker failed ({spec.get('task')} {spec.get('lib', '')} "
            f"{spec.get('workload', '')}):\n{proc.stderr[-3000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def has_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "torch": version("torch"),
        "nnrun": version("nnrun"),
        "threadpoolctl": version("threadpoolctl"),
        "thread_env": {k: os.environ[k] for k in THREAD_VARS if k in os.environ},
        "openblas_env": {k: os.environ[k] for k in OPENBLAS_VARS if k in os.environ},
    }


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _median_wall(cmd, reps, cwd=None, env=None, timeout=120):
    """Median wall time of ``cmd``; ``(None, reason)`` when it fails."""
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        proc = subprocess.run(
            cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            return None, f"exit {proc.returncode}: {err[-1] if err else ''}"[:300]
    return statistics.median(times), None


def nnrun_executable():
    local = Path(sys.executable).parent / "nnrun"
    return str(local) if local.exists() else shutil.which("nnrun")


def startup(reps, warm=True, torch=True):
    """``nnrun --help`` and the bare imports, each the median wall time of ``reps`` runs (after
    one untimed run that warms the file cache, unless ``warm`` is False)."""
    out = {}
    exe = nnrun_executable()
    if exe is None:
        out["nnrun_help"] = {"s": None, "skipped": "no nnrun executable found"}
    else:
        if warm:
            _median_wall([exe, "--help"], 1)
        sec, why = _median_wall([exe, "--help"], reps)
        out["nnrun_help"] = {"s": sec, "reps": reps} if why is None else {"s": None, "skipped": why}
    for lib, mod in (("nnrun", "nnrun.engine"), ("torch", "torch")):
        if lib == "torch" and not torch:
            out["import_torch"] = {"s": None, "skipped": "not measured in this mode"}
            continue
        if not has_module(mod.split(".")[0]):
            out[f"import_{lib}"] = {"s": None, "skipped": f"{mod} not importable"}
            continue
        cmd = [sys.executable, "-c", f"import {mod}"]
        if warm:
            _median_wall(cmd, 1)
        sec, why = _median_wall(cmd, reps)
        out[f"import_{lib}"] = (
            {"s": sec, "reps": reps} if why is None else {"s": None, "skipped": why}
        )
    sec, _ = _median_wall([sys.executable, "-c", "pass"], reps)
    out["python_bare"] = {"s": sec, "reps": reps}
    return out


def train_end_to_end(config="configs/digits_mlp.yaml"):
    """Wall time of ``nnrun train CONFIG`` run in a scratch directory (skipped if unavailable)."""
    path = ROOT / config
    exe = nnrun_executable()
    if exe is None:
        return {"config": config, "s": None, "skipped": "no nnrun executable found"}
    if not path.exists():
        return {"config": config, "s": None, "skipped": f"{config} does not exist"}
    with tempfile.TemporaryDirectory() as tmp:
        sec, why = _median_wall([exe, "train", str(path)], 1, cwd=tmp, timeout=600)
    if why is not None:
        return {"config": config, "s": None, "skipped": why}
    return {"config": config, "s": sec}
