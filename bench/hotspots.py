"""Where the nnrun side of one workload spends its time: ``python -m bench.hotspots W3``.

    python -m bench.hotspots W2 [--top 25] [--sort tottime|cumtime] [--samples N]
    python -m bench.hotspots W3 --by-function [--cpu]   # time per Function forward/backward

Runs the workload once (after a short warm-up) on nnrun's own initial weights, with the same data
and batch order as ``bench.run``. By default it prints cProfile's top functions; ``--by-function``
instead times every autograd ``Function``'s forward and backward (``--cpu``: process CPU time,
which a busy machine disturbs less than wall time; with ``OPENBLAS_NUM_THREADS=1`` it is the work
itself). For a sampling profile with native frames: ``py-spy record --native -o out.svg --
python -m bench.hotspots W3`` (py-spy is not a dependency: ``pip install py-spy`` into the venv).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import workloads as W


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def time_functions(clock):
    """Wrap every Function subclass's own forward/backward; returns the totals dict and a
    callable that puts the original methods back."""
    from nnrun.engine.autograd import Function

    totals = collections.defaultdict(lambda: [0.0, 0])
    originals = []

    def wrap(cls, meth):
        fn = cls.__dict__[meth]
        originals.append((cls, meth, fn))

        def timed(self, *args, **kwargs):
            t = clock()
            try:
                return fn(self, *args, **kwargs)
            finally:
                rec = totals[(cls.__name__, meth)]
                rec[0] += clock() - t
                rec[1] += 1

        setattr(cls, meth, timed)

    for cls in set(_subclasses(Function)):
        for meth in ("forward", "backward"):
            if meth in cls.__dict__:
                wrap(cls, meth)

    def restore():
        for cls, meth, fn in originals:
            setattr(cls, meth, fn)

    return totals, restore


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.hotspots")
    ap.add_argument("workload", choices=["W1", "W2", "W3"])
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime", choices=["tottime", "cumtime"])
    ap.add_argument("--samples", type=int, help="fewer samples than the full workload")
    ap.add_argument("--by-function", action="store_true", help="time per Function instead")
    ap.add_argument("--cpu", action="store_true", help="with --by-function: CPU time")
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

    if args.by_function:
        clock = time.process_time if args.cpu else time.perf_counter
        totals, restore = time_functions(clock)
        try:
            t0 = clock()
            W.run(nr, args.workload, data, weights, size)
            total = clock() - t0
        finally:
            restore()
        inside = sum(t for t, _ in totals.values())
        kind = "CPU" if args.cpu else "wall"
        print(
            f"{args.workload}: {total:.3f} s {kind}, {inside:.3f} s inside Function "
            f"forward/backward, {total - inside:.3f} s elsewhere (optimizer, autograd, loop)"
        )
        for (name, meth), (t, n) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
            print(
                f"  {name:24s} {meth:8s} {t:7.3f} s {100 * t / total:5.1f}%  {n:5d} calls "
                f"{1e3 * t / n:8.3f} ms/call"
            )
        return 0

    prof = cProfile.Profile()
    prof.enable()
    result = W.run(nr, args.workload, data, weights, size)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats(args.sort).print_stats(args.top)
    print(
        f"{args.workload}: {result['time_s']:.3f} s under cProfile, final loss "
        f"{result['losses'][-1]:.5f}"
    )
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
