"""nnrun's tensor + autograd engine: a faithful subset of PyTorch's Python API on NumPy/CuPy.

    import nnrun.engine as nr
    x = nr.tensor(4.0, requires_grad=True)
    (3 * x**3 + 2 * x + 1).backward()
    x.grad  # tensor(146.)
"""

from . import autograd, backend, cuda
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import Generator, device, dtype, get_num_threads, set_num_threads
from .backend import (float16, float32, float64, int8, int16, int32, int64, uint8)
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                       linspace, ones, ones_like, rand, rand_like, randint, randint_like, randn,
                       randn_like, randperm, scalar_tensor, tensor, zeros, zeros_like)
from .ops.api import (abs, add, all, allclose, amax, amin, any, argmax, argmin, bitwise_and,
                      bitwise_not, bitwise_or, bitwise_xor, bmm, cat, ceil, chunk, clamp, concat,
                      concatenate, cos, cumsum, div, dot, eq, equal, exp, expand, flatten, flip,
                      floor, floor_divide, gather, ge, gt, isfinite, isinf, isnan, le, log,
                      log1p, log_softmax, logical_not, logsumexp, lt, matmul, max, maximum, mean,
                      min, minimum, mm, mul, narrow, ne, neg, permute, pow, prod, relu, remainder,
                      repeat, reshape, round, rsqrt, sigmoid, sign, sin, softmax, split, sqrt,
                      squeeze, stack, std, sub, sum, t, tanh, transpose, trunc, unflatten,
                      unsqueeze, var, where)
from .random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .tensor import Size, Tensor

clip = clamp
multiply, subtract, divide, true_divide = mul, sub, div, div
negative, absolute = neg, abs
bool = backend.bool_
half, float, double = float16, float32, float64
short, int, long = int16, int32, int64

__version__ = "0.1.0"
backend.tune_malloc()
from . import utils
from .serialization import load, save
from . import optim
from . import nn
