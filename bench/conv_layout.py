"""Time one convolution layer of the CNN benchmark: Conv2d(32, 64, 3, padding=1) on (64, 32, 14, 14).

    python bench/conv_layout.py [--repeat 30]

Prints (1) the im2col copy for three layouts of the strided window view, (2) forward and
forward+backward of nnrun's Conv2d next to PyTorch's (default thread count). Times are the median
and the best of ``--repeat`` runs, in milliseconds. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import time

import nnrun.engine as nr
import numpy as np

try:
    import torch
except ImportError:
    torch = None

N, C, H, W, O, K = 64, 32, 14, 14, 64, 3


def timeit(fn, repeat):
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times)), 1e3 * min(times)


def show(name, t):
    print(f"  {name:<44} median {t[0]:7.2f} ms   best {t[1]:7.2f} ms")


def layouts(repeat):
    x = np.random.default_rng(0).standard_normal((N, C, H + 2, W + 2)).astype(np.float32)
    sn, sc, sh, sw = x.strides
    views = {
        "(C,KH,KW,N,OH,OW)  [chosen]": ((C, K, K, N, H, W), (sc, sh, sw, sn, sh, sw)),
        "(N,C,KH,KW,OH,OW)  [batched GEMM]": ((N, C, K, K, H, W), (sn, sc, sh, sw, sh, sw)),
        "(N,OH,OW,C,KH,KW)": ((N, H, W, C, K, K), (sn, sh, sw, sc, sh, sw)),
    }
    print("im2col copy of the strided window view:")
    for name, (shape, strides) in views.items():
        v = np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
        show(name, timeit(lambda v=v: np.ascontiguousarray(v), repeat))


def layer(repeat):
    x_np = np.random.default_rng(1).standard_normal((N, C, H, W)).astype(np.float32)
    conv = nr.nn.Conv2d(C, O, K, padding=1)
    x = nr.tensor(x_np, requires_grad=True)

    def nr_fwd():
        with nr.no_grad():
            conv(x)

    def nr_step():
        conv.weight.grad = conv.bias.grad = x.grad = None
        conv(x).sum().backward()

    print(f"Conv2d({C}, {O}, {K}, padding=1) on {(N, C, H, W)}:")
    show("nnrun forward (no_grad)", timeit(nr_fwd, repeat))
    show("nnrun forward + backward", timeit(nr_step, repeat))
    if torch is None:
        print("  (PyTorch not installed)")
        return
    tconv = torch.nn.Conv2d(C, O, K, padding=1)
    tx = torch.tensor(x_np, requires_grad=True)

    def t_fwd():
        with torch.no_grad():
            tconv(tx)

    def t_step():
        tconv.weight.grad = tconv.bias.grad = tx.grad = None
        tconv(tx).sum().backward()

    show(f"torch forward (no_grad, {torch.get_num_threads()} threads)", timeit(t_fwd, repeat))
    show(f"torch forward + backward ({torch.get_num_threads()} threads)", timeit(t_step, repeat))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    layouts(args.repeat)
    layer(args.repeat)
