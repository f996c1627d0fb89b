"""The CUDA generator's counter-based stream (SplitMix64): distributions, exact state round trips
and lazy CUDA use. The stream itself runs on any array module, so it is checked on NumPy here;
with ``NNRUN_TEST_DEVICE=cuda`` the same checks run through real CUDA generators too."""

from __future__ import annotations

import json

import nnrun.engine as nr
import numpy as np
import pytest
from helpers import DEVICE
from nnrun.engine import backend

N = 200_000


def _stream(seed=5):
    return backend._CounterStream(backend.CPU, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_uniform_is_in_range_with_the_right_moments(dtype):
    u = _stream().random((N,), dtype)
    assert u.dtype == dtype and u.shape == (N,)
    assert u.min() >= 0 and u.max() < 1
    assert abs(float(u.astype(np.float64).mean()) - 0.5) < 0.005
    assert abs(float(u.astype(np.float64).std()) - (1 / 12) ** 0.5) < 0.005


def test_normal_moments_and_shape():
    z = _stream().normal((400, 500), np.float32)
    assert z.shape == (400, 500) and z.dtype == np.float32
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1) < 0.01
    assert abs(float((z.astype(np.float64) ** 3).mean())) < 0.03  # symmetric
    assert np.isfinite(z).all()


def test_integers_cover_the_range_evenly():
    v = _stream().integers(-3, 7, (N,), np.int64)
    counts = np.bincount(v + 3, minlength=10)
    assert v.min() == -3 and v.max() == 6
    expected = N / 10
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 40  # 9 degrees of freedom: p < 1e-5 above this


def test_permutation_is_a_permutation_and_seeds_differ():
    p = _stream(1).permutation(1000)
    assert sorted(p.tolist()) == list(range(1000)) and p.dtype == np.int64
    assert not np.array_equal(p, _stream(2).permutation(1000))


def test_position_restores_the_stream_exactly():
    a = _stream(9)
    a.random((10,), np.float32)
    saved = a.position
    first = (a.normal((7, 3), np.float64), a.integers(0, 5, (11,), np.int64))
    b = _stream(9)
    b.position = saved
    second = (b.normal((7, 3), np.float64), b.integers(0, 5, (11,), np.int64))
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)


def test_streams_of_different_seeds_are_uncorrelated():
    a, b = _stream(1).random((N,), np.float64), _stream(2).random((N,), np.float64)
    assert abs(float(np.corrcoef(a, b)[0, 1])) < 0.01
    lag = _stream(3).random((N,), np.float64)
    assert abs(float(np.corrcoef(lag[:-1], lag[1:])[0, 1])) < 0.01


def _cuda_generator_without_a_gpu(seed):
    """A Generator whose device is CUDA but whose stream draws on NumPy: the state logic alone."""
    gen = backend.Generator.__new__(backend.Generator)
    gen.device, gen._seed = backend.device("cuda"), seed
    gen._rng = _stream(seed)
    return gen


def test_cuda_generator_state_is_json_seed_and_position():
    gen = _cuda_generator_without_a_gpu(42)
    gen._rng.random((123,), np.float32)
    state = gen.get_state()
    assert json.loads(state) == {"seed": 42, "stream": "splitmix64", "position": 123}
    other = _cuda_generator_without_a_gpu(0)
    other.set_state(state)
    assert (other._seed, other._rng.seed, other._rng.position) == (42, 42, 123)


@pytest.mark.parametrize(
    "state",
    [
        b"not json",
        json.dumps({"seed": 1, "position": 0}).encode(),  # no stream name: a CPU state?
        json.dumps({"seed": -1, "stream": "splitmix64", "position": 0}).encode(),
        json.dumps({"seed": 1, "stream": "splitmix64", "position": -5}).encode(),
        json.dumps({"seed": 1, "stream": "splitmix64"}).encode(),
    ],
)
def test_cuda_generator_rejects_bad_states(state):
    with pytest.raises(RuntimeError, match="invalid generator state"):
        _cuda_generator_without_a_gpu(0).set_state(state)


def test_a_cpu_state_is_not_a_cuda_state():
    with pytest.raises(RuntimeError, match="invalid generator state"):
        _cuda_generator_without_a_gpu(0).set_state(nr.Generator().get_state())


@pytest.mark.skipif(DEVICE != "cuda", reason="needs a CUDA device (NNRUN_TEST_DEVICE=cuda)")
def test_cuda_rng_state_round_trips_through_dropout():
    nr.manual_seed(0)
    x = nr.ones(64, 64, device="cuda")
    nr.nn.functional.dropout(x, 0.5)
    state = nr.cuda.get_rng_state()
    assert state.device.type == "cpu" and state.dtype == nr.uint8
    first = nr.nn.functional.dropout(x, 0.5).cpu().numpy()
    nr.cuda.set_rng_state(state)
    again = nr.nn.functional.dropout(x, 0.5).cpu().numpy()
    np.testing.assert_array_equal(first, again)
    assert 0.4 < (first == 0).mean() < 0.6


def test_cpu_float16_uniform_never_reaches_one():
    """float32 draws rounded to float16 can give 1.0 (about 1 in 4,000): 11 bits are kept."""
    gen = nr.Generator().manual_seed(0)
    u = gen.uniform((N,), np.float16)
    assert u.dtype == np.float16 and u.max() < 1 and u.min() >= 0
    assert len(np.unique(u)) > 1000
