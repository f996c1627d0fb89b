"""Profile the nnrun side of one workload with cProfile: ``python -m bench.profile W3``.

    python -m bench.profile W2 [--top 25] [--sort tottime|cumtime] [--samples N] [--torch-weights]

Runs the workload once (after a short warm-up) on nnrun's own initial weights, with the same data
and batch order as ``bench.run``, and prints the functions that take the most time. For a sampling
profile with native frames, ``py-spy record --native -o out.svg -- python -m bench.profile W3``
(py-spy is not a dependency: ``pip install py-spy`` into the venv).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import workloads as W


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.profile")
    ap.add_argument("workload", choices=["W1", "W2", "W3"])
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime", choices=["tottime", "cumtime"])
    ap.add_argument("--samples", type=int, help="fewer samples than the full workload")
    args = ap.parse_args(argv)

    import nnrun.engine as nr

    size = dict(W.SIZES[args.workload])
    if args.samples:
        size["samples"] = args.samples
    data = W.make_data(args.workload, size)
    nr.manual_seed(W.SEED)
    kwargs = {"hidden": size["hidden"]} if args.workload == "W2" else {}
    weights = {k: v.numpy() for k, v in W.build(nr, args.workload, **kwargs).state_dict().items()}
    W.run(nr, args.workload, data, weights, size, max_steps=3)  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    result = W.run(nr, args.workload, data, weights, size)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs().sort_stats(args.sort)
    stats.print_stats(args.top)
    print(
        f"{args.workload}: {result['time_s']:.3f} s under cProfile, final loss "
        f"{result['losses'][-1]:.5f}"
    )
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
