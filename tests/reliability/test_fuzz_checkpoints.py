"""Hostile checkpoints: truncated files, random bytes, lying safetensors headers, wrong dtypes and
shapes, checkpoints of another config, and bytes mutated at random (hypothesis) — through
``nnrun eval`` and ``nnrun train --resume``: exit 0 (harmless, or cast as PyTorch casts) or a
clear exit-2 message, never a traceback or a huge allocation."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import nnrun.engine as nr
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliable import BLOBS, fails, invoke, memory_dir, ok, write_config

CONFIG = BLOBS.replace(
    "train: {epochs: 3}", "train: {epochs: 3}\nscheduler: {name: StepLR, step_size: 1}"
)
FILES = ("model.safetensors", "state.safetensors", "meta.json", "config.yaml")
OUTCOMES: dict[str, dict[str, int]] = {}


@pytest.fixture(scope="module")
def pristine():
    """A run stopped at step 14 (inside epoch 2), with its last checkpoint."""
    folder = memory_dir("nnrun-ckpt-fuzz-")
    cfg = write_config(folder, CONFIG)
    ok("train", cfg, "--out", folder / "run", "--max-steps", 14, "-q")
    yield folder / "run"
    shutil.rmtree(folder, ignore_errors=True)
    print("\ncheckpoint fuzz outcomes:", json.dumps(OUTCOMES))


def copy_run(pristine: Path, folder: Path) -> Path:
    run = folder / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(pristine, run, symlinks=True)
    return run


def both_commands(run: Path, kind: str) -> None:
    """eval and resume (two more steps) must exit 0 or 2, or 1 only for non-finite numbers."""
    last = run / "checkpoints" / "last"
    for command in (["eval", last, "--json"], ["train", "--resume", run, "--max-steps", 16, "-q"]):
        result = invoke(*command)
        code = result.exit_code
        allowed = (0, 1, 2) if command[0] == "train" else (0, 2)
        assert code in allowed, (command, code, result.output)
        if code == 1:  # a weight made huge (not NaN) by the mutation: the run fails, saying so
            assert "non-finite" in result.stderr, result.output
        if code:
            assert result.stderr.startswith("error: ") and result.stderr.count("\n") <= 3
        key = f"{kind}: {command[0]}"
        OUTCOMES.setdefault(key, {}).setdefault(str(code), 0)
        OUTCOMES[key][str(code)] += 1


# --- property-based: bytes mutated at random --------------------------------------------------------


@st.composite
def mutation(draw):
    file = draw(st.sampled_from(FILES[:3]))
    kind = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "zero header"]))
    at = draw(st.floats(0, 1))
    data = draw(st.binary(min_size=1, max_size=16))
    return file, kind, at, data


def mutate(path: Path, kind: str, at: float, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    i = min(int(at * len(raw)), len(raw) - 1)
    if kind == "flip":
        raw[i] ^= data[0] or 1
    elif kind == "overwrite":
        raw[i : i + len(data)] = data
    elif kind == "truncate":
        del raw[i:]
    elif kind == "insert":
        raw[i:i] = data
    else:  # the first 8 bytes: the safetensors header length
        raw[: min(8, len(raw))] = (data * 8)[: min(8, len(raw))]
    path.write_bytes(bytes(raw))


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(change=mutation())
def test_mutated_checkpoint_bytes(pristine, change):
    folder = memory_dir("nnrun-ckpt-case-")
    try:
        run = copy_run(pristine, folder)
        file, kind, at, data = change
        mutate(run / "checkpoints" / "last" / file, kind, at, data)
        both_commands(run, f"{file} {kind}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- hand-picked ------------------------------------------------------------------------------------


@pytest.fixture
def run(pristine, tmp_path) -> Path:
    return copy_run(pristine, tmp_path)


def header(entries: dict, data: bytes = b"") -> bytes:
    text = json.dumps(entries).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.mark.parametrize("file", FILES[:3])
@pytest.mark.parametrize("keep", [0, 1, 7, 8, 9, 100, -2])
def test_truncated_files(run, file, keep):
    path = run / "checkpoints" / "last" / file
    raw = path.read_bytes()
    path.write_bytes(raw[:keep])  # -2: all but the last two bytes
    assert fails(2, "eval", run / "checkpoints" / "last").stderr.startswith("error: ")
    assert fails(2, "train", "--resume", run).stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (header({}, b"x"), "unexpected bytes"),
        ((2**63).to_bytes(8, "little"), "header length"),
        (header({"0.weight": {"dtype": "F32", "shape": [10**12, 10**12],
                              "data_offsets": [0, 4 * 10**24]}}), "truncated"),
        (header({"0.weight": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"1234"),
         "malformed"),
        (header({"0.weight": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, b"x" * 8),
         "dtype O"),
        (header({"__metadata__": {"nnrun": "{not json"}}), "not valid JSON"),
        (header({"__metadata__": {"nnrun": '{"version": 1, "root": {"pickle": "x"}}'}}),
         "unknown entry"),
        (b"\x80\x04\x95" + b"\x00" * 40, "pickle"),
        (b"PK\x03\x04" + b"\x00" * 40, "zip"),
        (np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(), ""),
    ],
)  # fmt: skip
def test_lying_or_foreign_model_files(run, content, message):
    (run / "checkpoints" / "last" / "model.safetensors").write_bytes(content)
    err = fails(2, "eval", run / "checkpoints" / "last").stderr
    assert message in err
    assert message in fails(2, "train", "--resume", run).stderr


def rewrite_model(run: Path, change) -> None:
    path = run / "checkpoints" / "last" / "model.safetensors"
    state = nr.load(path)
    change(state)
    nr.save(state, path)


def test_wrong_dtypes_are_cast_as_pytorch_casts(run):
    rewrite_model(run, lambda s: s.update({k: v.double() for k, v in s.items()}))
    ok("eval", run / "checkpoints" / "last", "--json")
    ok("train", "--resume", run, "--max-steps", 16, "-q")
    assert (
        nr.load(run / "checkpoints" / "last" / "model.safetensors")["0.weight"].dtype == nr.float32
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update({"0.weight": nr.zeros(4, 16)}), "size mismatch for 0.weight"),
        (lambda s: s.pop("3.bias"), "Missing key(s)"),
        (lambda s: s.update({"9.weight": nr.zeros(1)}), "Unexpected key(s)"),
        (lambda s: s["0.weight"].fill_(float("nan")), "parameter 0.weight holds NaN or inf"),
        (lambda s: s.update({"0.weight": nr.zeros(16, 4, dtype=nr.bool).reshape(64)}), "size"),
    ],
)
def test_wrong_shapes_keys_or_values(run, change, message):
    rewrite_model(run, change)
    assert message in fails(2, "eval", run / "checkpoints" / "last").stderr
    assert message in fails(2, "train", "--resume", run).stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["optimizer"]["state"][0].update(exp_avg=nr.zeros(3)), "expected shape (16, 4)"),
        (lambda s: s["optimizer"]["state"][0].pop("exp_avg_sq"), "has keys"),
        (lambda s: s["optimizer"]["state"][0]["exp_avg"].fill_(float("inf")), "non-finite"),
        (lambda s: s["optimizer"]["state"][0].update(step=nr.tensor(-3.0)), "step is"),
        (lambda s: s["optimizer"]["param_groups"][0].update(lr="fast"), "param_groups.0.lr"),
        (lambda s: s["optimizer"]["param_groups"][0].update(betas=[0.9]), "betas"),
        (lambda s: s["optimizer"]["param_groups"][0].update(step=1), "unexpected keys"),
        (lambda s: s["scheduler"].update(last_epoch="one"), "scheduler.last_epoch"),
        (lambda s: s["scheduler"].update(step=3), "unexpected keys ['step']"),
        (lambda s: s.update(scheduler=None), "no scheduler state"),
        (lambda s: s["rng"].update(cpu=nr.zeros(3, dtype=nr.uint8)), "state.safetensors"),
        (lambda s: s["rng"].update(loader=b"xyz"), "state.safetensors"),
        (lambda s: s["normalization"].update(std=np.zeros(4, np.float32)), "normalisation"),
        (lambda s: s["normalization"].update(std=np.ones(1, np.float32)), "normalisation std"),
    ],
)  # fmt: skip
def test_training_state_that_does_not_fit(run, change, message):
    path = run / "checkpoints" / "last" / "state.safetensors"
    state = nr.load(path)
    change(state)
    nr.save(state, path)
    err = fails(2, "train", "--resume", run).stderr
    assert message in err and "state.safetensors" in err or "normalisation" in err, err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["state"].update(position=99), "at batch 99 of an epoch that has 12"),
        (lambda m: m["state"].update(step=-5), "state.step is -5"),
        (lambda m: m.update(num_classes=10**9), "num_classes"),
        (lambda m: m["state"].update(best={"val_accuracy": "high"}), "state.best"),
        (lambda m: m.update(sample_shape=[10**9, 10**9]), "sample_shape"),
        (lambda m: m.update(classes=[1, 2, 3]), "classes"),
    ],
)
def test_tampered_meta(run, edit, message):
    path = run / "checkpoints" / "last" / "meta.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    assert message in fails(2, "train", "--resume", run).stderr


def test_checkpoint_of_another_config(run, tmp_path):
    other = CONFIG.replace("out_features: 16", "out_features: 32")
    cfg = write_config(tmp_path, other, "other.yaml")
    ok("train", cfg, "--out", tmp_path / "other", "--max-steps", 2, "-q")
    foreign = tmp_path / "other" / "checkpoints" / "last"
    mine = run / "checkpoints" / "last"
    for file in ("model.safetensors", "state.safetensors"):  # the other run's files in this one
        shutil.copy(foreign / file, mine / file)
    assert "size mismatch" in fails(2, "train", "--resume", run).stderr
    assert "size mismatch" in fails(2, "eval", mine).stderr
    err = fails(2, "eval", foreign / "model.safetensors", "--config", run / "config.yaml").stderr
    assert "does not fit the model built from the config" in err


def test_a_state_written_before_an_option_existed_still_resumes(run):
    """Keys a state leaves out keep their current values (an older nnrun wrote fewer options);
    keys it adds are refused (they could shadow methods)."""
    path = run / "checkpoints" / "last" / "state.safetensors"
    state = nr.load(path)
    del state["optimizer"]["param_groups"][0]["decoupled_weight_decay"]
    del state["scheduler"]["_is_initial"]
    nr.save(state, path)
    ok("train", "--resume", run, "--max-steps", 16, "-q")
