"""Run the whole benchmark suite: ``python -m bench.run`` (or ``python bench/run.py``).

    python -m bench.run              # full suite, 3 interleaved repetitions (a few minutes)
    python -m bench.run --quick      # smaller W2/W3, one repetition, fewer scaling points (< 1 min)
    python -m bench.run --out FILE   # JSON elsewhere (default bench/results/latest.json)

W1-W3 run in nnrun and PyTorch (when importable), and W2 also in raw NumPy, each (library,
workload, repetition) in its own process, alternating nnrun, torch, nnrun, torch...; times and
memory are medians over the repetitions. Progress goes to stderr; the Markdown summary to stdout
(and beside the JSON as ``latest.md``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import report, system
from bench.workloads import SIZES

TARGETS = {"W1": 0.7, "W2": 0.75, "W3": 1.0}
RSS_TARGET, HELP_TARGET_S = 0.5, 0.3
FIRST_LOSS_TOL, TRAJECTORY_TOL = 1e-4, 0.02

MODES = {
    "full": {
        "reps": 3,
        "sizes": SIZES,
        "scaling": {
            "mlp_batches": [32, 64, 128, 256, 512, 1024],
            "mlp_widths": [256, 512, 1024, 2048, 4096],
            "cnn_batches": [16, 32, 64, 128, 256],
            "target_s": 0.3,
        },
        "gemm_sizes": [1024, 2048],
        "startup_reps": 5,
        "e2e": True,
    },
    "quick": {
        "reps": 1,
        "sizes": {
            "W1": SIZES["W1"],
            "W2": dict(SIZES["W2"], samples=12800),
            "W3": dict(SIZES["W3"], samples=1280),
        },
        "scaling": {
            "mlp_batches": [32, 128, 1024],
            "mlp_widths": [256, 1024],
            "cnn_batches": [32, 128],
            "target_s": 0.1,
        },
        "gemm_sizes": [1024],
        "startup_reps": 3,
        "e2e": True,
    },
    "tiny": {  # the smoke test: every code path, seconds in all
        "reps": 1,
        "sizes": {
            "W1": dict(SIZES["W1"], samples=100, epochs=2),
            "W2": dict(SIZES["W2"], samples=512),
            "W3": dict(SIZES["W3"], samples=128),
        },
        "scaling": {
            "mlp_batches": [32],
            "mlp_widths": [256],
            "cnn_batches": [16],
            "target_s": 0.0,
            "max_steps": 3,
        },
        "gemm_sizes": [256],
        "startup_reps": 1,
        "e2e": False,
    },
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def scaling_configs(sc):
    configs = [{"kind": "mlp", "batch": b, "hidden": [256, 128]} for b in sc["mlp_batches"]]
    configs += [
        {"kind": "mlp", "batch": 128, "hidden": [h, h // 2]}
        for h in sc["mlp_widths"]
        if h != 256 or 128 not in sc["mlp_batches"]
    ]
    configs += [{"kind": "cnn", "batch": b} for b in sc["cnn_batches"]]
    return configs


def summarize(name, runs):
    """Medians, ratios, targets and the loss agreement of one workload's runs."""
    med = {lib: statistics.median(r["time_s"] for r in rs) for lib, rs in runs.items()}
    peak = {lib: statistics.median(r["rss_peak_mb"] for r in rs) for lib, rs in runs.items()}
    base = {lib: statistics.median(r["rss_base_mb"] for r in rs) for lib, rs in runs.items()}
    first = {lib: rs[0]["losses"] for lib, rs in runs.items()}
    out = {
        "time_s": med,
        "rss_peak_mb": peak,
        "rss_base_mb": base,
        "data_mb": runs["nnrun"][0].get("data_mb"),
        "best_s": {lib: min(r["time_s"] for r in rs) for lib, rs in runs.items()},
        "cpu_s": {
            lib: statistics.median(r.get("cpu_s", 0.0) for r in rs) for lib, rs in runs.items()
        },
        "times_all_s": {lib: [r["time_s"] for r in rs] for lib, rs in runs.items()},
        "final_loss": {lib: ls[-1] for lib, ls in first.items()},
        "deterministic": {lib: len({r["losses"][-1] for r in rs}) == 1 for lib, rs in runs.items()},
        "target_ratio": TARGETS[name],
        "rss_target_ratio": RSS_TARGET,
    }
    if "val_acc" in runs["nnrun"][0]:
        out["val_acc"] = {lib: rs[0]["val_acc"] for lib, rs in runs.items()}
    ref = "torch" if "torch" in runs else ("numpy" if "numpy" in runs else None)
    if ref is not None:
        a, b = first["nnrun"], first[ref]
        n = min(len(a), len(b))
        diffs = [abs(x - y) for x, y in zip(a[:n], b[:n])]
        out["agreement"] = {
            "reference": ref,
            "steps": n,
            "first_loss_abs_diff": diffs[0],
            "max_abs_diff": max(diffs),
            "final_abs_diff": diffs[-1],
            "tolerance": {"first": FIRST_LOSS_TOL, "trajectory": TRAJECTORY_TOL},
            "agree": diffs[0] <= FIRST_LOSS_TOL and max(diffs) <= TRAJECTORY_TOL,
        }
    if "torch" in runs:
        out["ratio_time"] = med["nnrun"] / med["torch"]
        out["ratio_time_best"] = out["best_s"]["nnrun"] / out["best_s"]["torch"]
        out["ratio_rss"] = peak["nnrun"] / peak["torch"]
        out["met_time"] = out["ratio_time"] <= TARGETS[name]
        out["met_rss"] = out["ratio_rss"] <= RSS_TARGET
    if "numpy" in runs:
        out["ratio_floor"] = med["nnrun"] / med["numpy"]
    return out


def run_workloads(mode, libs, files, reps, unset_openblas=False, only=None):
    results = {}
    for name in only or ("W1", "W2", "W3"):
        size = mode["sizes"][name]
        wl_libs = [lib for lib in libs if lib != "numpy" or name == "W2"]
        runs = {lib: [] for lib in wl_libs}
        for rep in range(reps):
            for lib in wl_libs:  # alternate: nnrun, torch, numpy, nnrun, torch, numpy...
                spec = {
                    "task": "workload",
                    "lib": lib,
                    "workload": name,
                    "size": size,
                    "files": files[name],
                }
                r = system.run_worker(spec, unset_openblas=unset_openblas)
                log(
                    f"  {name} rep {rep + 1}/{reps} {lib:6s} {r['time_s']:8.3f} s  "
                    f"peak RSS {r['rss_peak_mb']:7.1f} MiB  final loss {r['losses'][-1]:.5f}"
                )
                runs[lib].append(r)
        results[name] = dict(summarize(name, runs), size=size)
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a fast subset (under a minute)")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes: the smoke test's mode")
    ap.add_argument("--reps", type=int, help="repetitions per (library, workload)")
    ap.add_argument(
        "--threads",
        type=int,
        help="CPU threads of every worker (default: the libraries' own): OMP/OpenBLAS/MKL "
        "and NNRUN_NUM_THREADS; 1 puts each library on one core",
    )
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if importable")
    ap.add_argument("--skip-scaling", action="store_true", help="skip the scaling sweeps")
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "latest.json",
        help="where to write the JSON (and the .md beside it)",
    )
    args = ap.parse_args(argv)
    mode_name = "tiny" if args.tiny else "quick" if args.quick else "full"
    mode = MODES[mode_name]
    reps = args.reps or mode["reps"]
    t_start = time.perf_counter()
    system.WORKER_THREADS = args.threads
    torch_ok = not args.no_torch and system.has_module("torch")
    libs = ["nnrun"] + (["torch"] if torch_ok else []) + ["numpy"]
    res = {
        "mode": mode_name,
        "reps": reps,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": "python -m bench.run"
        + {"full": "", "quick": " --quick", "tiny": " --tiny"}[mode_name]
        + (f" --threads {args.threads}" if args.threads else ""),
        "machine": system.machine_info(),
        "worker_threads": args.threads or "libraries' defaults",
        "load_average_start": system.load_average(),
        "targets": {"ratio_time": TARGETS, "ratio_rss": RSS_TARGET, "nnrun_help_s": HELP_TARGET_S},
    }

    log(f"bench: mode {mode_name}, libraries {', '.join(libs)}, {reps} repetition(s)")
    gemm = system.run_worker({"task": "gemm", "sizes": mode["gemm_sizes"]})
    res["gemm"] = gemm
    log(f"  float32 GEMM peak {gemm['peak_gflops']:.1f} GFLOP/s")

    with tempfile.TemporaryDirectory(prefix="nnrun-bench-") as cache:
        prep = {
            "task": "prep",
            "lib": "torch" if torch_ok else "nnrun",
            "cache": cache,
            "workloads": ["W1", "W2", "W3"],
            "sizes": mode["sizes"],
        }
        files = system.run_worker(prep)["files"]
        res["initial_weights"] = "PyTorch's init" if torch_ok else "nnrun's init (no PyTorch)"
        res["workloads"] = run_workloads(mode, libs, files, reps)

        if res["machine"]["openblas_env"]:
            log("  OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are set: W2 again with both unset")
            exp = {
                "gemm": system.run_worker(
                    {"task": "gemm", "sizes": mode["gemm_sizes"]}, unset_openblas=True
                )
            }
            exp["workloads"] = run_workloads(
                mode,
                [lib for lib in libs if lib != "torch"],
                files,
                1,
                unset_openblas=True,
                only=("W2",),
            )
            res["openblas_unset"] = exp
        else:
            res["openblas_unset"] = {
                "skipped": "neither OPENBLAS_CORETYPE nor OPENBLAS_L2_SIZE "
                "is set in this environment"
            }

    if not args.skip_scaling:
        sc = mode["scaling"]
        spec = {
            "task": "scaling",
            "configs": scaling_configs(sc),
            "target_s": sc["target_s"],
            "max_steps": sc.get("max_steps", 200),
        }
        res["scaling"] = {}
        for lib in [lib for lib in libs if lib == "nnrun" or (lib == "torch" and not args.tiny)]:
            res["scaling"][lib] = system.run_worker(dict(spec, lib=lib))["configs"]
            log(f"  scaling sweep done for {lib}")

    tiny = mode_name == "tiny"  # the smoke test: every code path once, few PyTorch imports
    res["startup"] = system.startup(mode["startup_reps"], warm=not tiny, torch=not tiny)
    res["train_e2e"] = system.train_end_to_end() if mode["e2e"] else {"skipped": "tiny mode"}
    help_s = res["startup"]["nnrun_help"]["s"]
    res["startup"]["nnrun_help"]["met"] = None if help_s is None else help_s < HELP_TARGET_S
    res["load_average_end"] = system.load_average()
    res["suite_wall_s"] = time.perf_counter() - t_start

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    md = report.markdown(res)
    args.out.with_suffix(".md").write_text(md)
    print(md)
    log(f"bench: wrote {args.out} in {res['suite_wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
