"""nr.save / nr.load: safetensors round trips, PyTorch interchange, corrupt files, atomic writes."""

from __future__ import annotations

import io
import math
import os
import pathlib
import struct
import time
import tracemalloc

import nnrun.engine as nr
import numpy as np
import pytest
import safetensors.numpy
from nnrun.engine.serialization import SerializationError
from safetensors import safe_open

from tests.helpers import DEVICE, requires_torch, to_np

try:
    import safetensors.torch as st_torch
    import torch
except ImportError:
    torch = st_torch = None

DTYPES = [
    nr.float16,
    nr.float32,
    nr.float64,
    nr.int8,
    nr.int16,
    nr.int32,
    nr.int64,
    nr.uint8,
    nr.bool,
]


def same(a, b):
    """Equal values with equal types all the way down (tuple ≠ list, 1 ≠ 1.0 ≠ True)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, nr.Tensor):
        assert a.dtype is b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(to_np(a), to_np(b))
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_every_dtype_round_trips(tmp_path, dtype):
    base = np.random.default_rng(0).standard_normal((3, 4)) * 50
    t = nr.tensor(base.astype(dtype.np) if dtype is not nr.bool else base > 0)
    obj = {"t": t, "transposed": t.t(), "scalar": t[1, 2], "empty": t[:0]}
    assert not obj["transposed"].is_contiguous()
    nr.save(obj, tmp_path / "x.pth")
    back = nr.load(tmp_path / "x.pth")
    same(back, obj)
    assert back["scalar"].shape == () and back["transposed"].is_contiguous()


def test_nested_optimizer_like_state_round_trips(tmp_path):
    state = {
        "state": {
            0: {"step": nr.tensor(3.0), "exp_avg": nr.randn(2, 3), "exp_avg_sq": nr.rand(2, 3)},
            1: {"step": nr.tensor(3.0), "momentum_buffer": None},
        },
        "param_groups": [
            {
                "lr": 0.001,
                "betas": (0.9, 0.999),
                "eps": 1e-8,
                "weight_decay": 0,
                "amsgrad": False,
                "maximize": False,
                "foreach": None,
                "params": [0, 1],
                "name": "body",
            }
        ],
        "scheduler": {
            "last_epoch": 7,
            "_last_lr": [0.001],
            "gamma": 0.5,
            "specials": [float("nan"), float("inf"), -float("inf"), -0.0, 2**70],
        },
        "keys": {
            (1, "a"): "tuple key",
            2.5: "float key",
            False: "bool key",
            None: "none key",
            "1": "str one",
            1: "int one",
        },
        "empty": [{}, [], ()],
        "rng": {"bytes": b"\x00\xffraw", "array": np.arange(4, dtype=np.int64)},
    }
    nr.save(state, tmp_path / "opt.pth")
    back = nr.load(tmp_path / "opt.pth")
    same(back, state)
    assert math.copysign(1, back["scheduler"]["specials"][3]) == -1
    back["state"][0]["exp_avg"].add_(1)  # loaded tensors are ordinary writable tensors


def test_flat_state_dict_keeps_its_key_names_and_order(tmp_path):
    sd = {
        "0.weight": nr.randn(4, 3),
        "0.bias": nr.zeros(4),
        "1.running_mean": nr.zeros(4),
        "1.num_batches_tracked": nr.tensor(0),
        "a": nr.ones(1),
    }
    nr.save(sd, str(tmp_path / "model.pth"))
    with safe_open(str(tmp_path / "model.pth"), framework="numpy") as f:
        assert sorted(f.keys()) == sorted(sd)
        assert f.metadata()["format"] == "pt"
    assert list(nr.load(tmp_path / "model.pth")) == list(sd)


def test_file_objects_and_map_location(tmp_path):
    obj = {"w": nr.randn(2, 2), "n": 3}
    buf = io.BytesIO()
    nr.save(obj, buf)
    buf.seek(0)
    same(nr.load(buf), obj)
    nr.save(obj, tmp_path / "m.pth")
    with open(tmp_path / "m.pth", "rb") as fh:
        same(nr.load(fh), obj)
    for loc in ("cpu", nr.device("cpu"), {"cpu": "cpu"}, {"cuda:0": "cpu"}):
        assert nr.load(tmp_path / "m.pth", map_location=loc)["w"].device.type == "cpu"
    seen = []
    out = nr.load(tmp_path / "m.pth", map_location=lambda t, loc: seen.append(loc) or t * 2)
    assert seen == ["cpu"] and nr.allclose(out["w"], obj["w"] * 2)
    if DEVICE != "cpu":
        assert nr.load(tmp_path / "m.pth", map_location=DEVICE)["w"].device.type == "cuda"
    with pytest.raises(TypeError, match="map_location"):
        nr.load(tmp_path / "m.pth", map_location=3.5)


def test_foreign_safetensors_file_loads_flat(tmp_path):
    safetensors.numpy.save_file(
        {"b": np.ones(2, np.float32), "a": np.arange(3)}, str(tmp_path / "plain.safetensors")
    )
    back = nr.load(tmp_path / "plain.safetensors")
    assert set(back) == {"a", "b"} and back["a"].dtype is nr.int64
    assert back["b"].tolist() == [1.0, 1.0]


def test_unsupported_objects_raise_type_error(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store an object of type set \(at \['x'\]\[1\]\)"):
        nr.save({"x": [1, {2}]}, tmp_path / "bad.pth")
    with pytest.raises(TypeError, match="cannot store a dict key of type frozenset"):
        nr.save({frozenset(): 1}, tmp_path / "bad.pth")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ PyTorch
@requires_torch
def test_files_saved_by_nnrun_load_in_pytorch(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    net(torch.randn(8, 3))  # non-trivial running stats
    sd = {k: nr.tensor(v.numpy()) for k, v in net.state_dict().items()}
    nr.save(sd, tmp_path / "model.pth")
    loaded = st_torch.load_file(str(tmp_path / "model.pth"))
    assert set(loaded) == set(net.state_dict())
    for k, v in net.state_dict().items():
        assert loaded[k].dtype == v.dtype and torch.equal(loaded[k], v)
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    fresh.load_state_dict(loaded)  # strict: identical keys and shapes


@requires_torch
def test_files_saved_by_pytorch_load_in_nnrun(tmp_path):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(), torch.nn.Linear(8, 2)
    ).half()
    st_torch.save_file(net.state_dict(), str(tmp_path / "torch.safetensors"))
    back = nr.load(tmp_path / "torch.safetensors")
    assert set(back) == set(net.state_dict())
    for k, v in net.state_dict().items():
        assert back[k].dtype.name == str(v.dtype).replace("torch.", "")
        np.testing.assert_array_equal(to_np(back[k]), v.numpy())
    assert (
        back["1.num_batches_tracked"].shape == ()
        and back["1.num_batches_tracked"].dtype is nr.int64
    )


# ------------------------------------------------------------------------------ corrupt files
def _good_bytes():
    buf = io.BytesIO()
    nr.save({"w": nr.randn(4, 4), "step": 3}, buf)
    return buf.getvalue()


def _bad_files():
    good = _good_bytes()
    (n,) = struct.unpack("<Q", good[:8])
    cases = {f"truncated_at_{k}": good[:k] for k in (1, 5, 8, 20, 8 + n - 1, 8 + n, len(good) - 1)}
    cases.update(
        {
            "empty": b"",
            "random": np.random.default_rng(0).bytes(4096),
            "huge_header_length": struct.pack("<Q", 2**62) + b"{}",
            "header_not_json": struct.pack("<Q", 6) + b"{nope}",
            "header_not_object": struct.pack("<Q", 2) + b"[]",
            "trailing_bytes": good + b"xx",
            "pickle": b"\x80\x02}q\x00." + b"\x00" * 20,
            "npy": b"\x93NUMPY\x01\x00" + b"\x00" * 20,
        }
    )
    w = {"w": np.zeros(2, np.float32)}
    cases["metadata_not_json"] = safetensors.numpy.save(w, metadata={"nnrun": "{not json"})
    cases["metadata_names_missing_tensor"] = safetensors.numpy.save(
        w, metadata={"nnrun": '{"version":1,"root":{"tensor":"v"}}'}
    )
    cases["metadata_unknown_tag"] = safetensors.numpy.save(
        w, metadata={"nnrun": '{"version":1,"root":{"set":[1]}}'}
    )
    header = b'{"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}'
    cases["unsupported_dtype"] = struct.pack("<Q", len(header)) + header + b"\x00" * 4
    return cases


@pytest.mark.parametrize("case", sorted(_bad_files()))
def test_corrupt_and_foreign_files_raise_one_clear_error(tmp_path, case):
    path = tmp_path / f"{case}.pth"
    path.write_bytes(_bad_files()[case])
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(SerializationError, match=case) as info:
            nr.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    assert time.monotonic() - start < 1 and peak < 20 * 2**20  # no allocation from a bad size
    buf = io.BytesIO(path.read_bytes())
    with pytest.raises(SerializationError):
        nr.load(buf)


@requires_torch
def test_torch_save_checkpoint_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(
        SerializationError, match="model.pth is not a safetensors file .*zip.*nnrun never unpickles"
    ):
        nr.load(path)


def test_messages_say_what_is_wrong(tmp_path):
    cases = _bad_files()
    for case, text in [
        ("empty", "is empty"),
        ("huge_header_length", "header length of"),
        ("truncated_at_5", "fewer than the 8-byte header length"),
        ("pickle", "Python pickle"),
        ("unsupported_dtype", "dtype BF16"),
        ("metadata_names_missing_tensor", "refers to a tensor 'v'"),
        ("header_not_json", "not valid JSON"),
    ]:
        path = tmp_path / "f.pth"
        path.write_bytes(cases[case])
        with pytest.raises(SerializationError, match=text):
            nr.load(path)
    assert issubclass(SerializationError, RuntimeError)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        nr.load(tmp_path / "nope.pth")


# ------------------------------------------------------------------------------- atomic write
def test_atomic_write_leaves_no_temp_files_and_usual_permissions(tmp_path):
    path = pathlib.Path(tmp_path / "ckpt.pth")
    nr.save({"w": nr.ones(3)}, path)
    nr.save({"w": nr.zeros(3)}, path)  # overwrite
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]
    assert nr.load(path)["w"].tolist() == [0.0, 0.0, 0.0]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pth"
    nr.save({"w": nr.ones(3)}, path)
    old = path.read_bytes()
    with pytest.raises(TypeError):  # refused before anything is written
        nr.save({"w": nr.ones(3), "bad": object()}, path)
    assert path.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]

    def crash_midway(arrays, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        nr.save({"w": nr.zeros(3)}, path)
    assert path.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]
