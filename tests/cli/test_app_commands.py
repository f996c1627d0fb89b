"""``nnrun`` as a command line: help, version, datasets, inspect, and the error/exit-code contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from nnrun_cli import BLOBS, CONFIGS, fails, invoke, ok, run, write_config


def test_help_lists_every_command():
    out = ok("--help").stdout
    for command in ("train", "eval", "inspect", "datasets"):
        assert command in out
    train_help = ok("train", "--help").stdout
    for option in ("--set", "--out", "--resume", "--device", "--epochs", "--max-steps",
                   "--limit-batches", "--fast-dev-run", "--quiet", "--json", "--seed"):  # fmt: skip
        assert option in train_help


def test_help_imports_nothing_heavy():
    # `nnrun --help` must start fast: the engine, NumPy and pydantic load only inside commands.
    code = (
        "import sys; from nnrun.cli import app; "
        "print(sorted(m for m in ('numpy', 'pydantic', 'nnrun.engine', 'rich', 'yaml') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_console_script_help_and_version():
    result = run("--help", timeout=60)
    assert result.returncode == 0 and "train" in result.stdout
    result = run("--version", timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("nnrun ")


def test_version():
    from importlib.metadata import version

    assert ok("--version").stdout.strip() == f"nnrun {version('nnrun')}"


def test_datasets_lists_the_builtins():
    out = ok("datasets").stdout
    for name in ("digits", "blobs", "spirals", "random", "shapes"):
        assert any(line.startswith(name) for line in out.splitlines())
    rows = json.loads(ok("datasets", "--json").stdout)
    assert {"name", "description"} <= set(rows[0]) and "digits" in [r["name"] for r in rows]


def test_inspect_shapes_table_and_json():
    out = ok("inspect", "shapes", CONFIGS / "digits_cnn.yaml").stdout
    assert "Conv2d" in out and "BatchNorm2d" in out and "Total params" in out
    result = json.loads(ok("inspect", "shapes", CONFIGS / "digits_mlp.yaml", "--json").stdout)
    assert result["input_shape"] == [32, 1, 8, 8]
    assert result["output_shape"] == [32, 10]
    assert result["totals"]["params"] == 64 * 128 + 128 + 128 * 10 + 10


def test_inspect_shapes_batch_size_and_set():
    result = json.loads(
        ok(
            "inspect",
            "shapes",
            CONFIGS / "digits_mlp.yaml",
            "--json",
            "--batch-size",
            4,
            "--set",
            "model.layers.1.Linear.out_features=7",
        ).stdout
    )
    assert result["layers"][1]["output_shape"] == [4, 7]


def test_inspect_config_yaml_and_json():
    out = ok("inspect", "config", CONFIGS / "seed_pipeline.yaml").stdout
    assert "name: seed-pipeline" in out and "batch_size: 32" in out
    resolved = json.loads(
        ok(
            "inspect", "config", CONFIGS / "seed_pipeline.yaml", "--json", "--set", "train.epochs=3"
        ).stdout
    )
    assert resolved["train"]["epochs"] == 3
    assert resolved["checkpoint"]["mode"] == "min"  # the resolved config has defaults filled in


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("inspect", "shapes", "missing.yaml"), "no such file"),
        (("inspect", "config", "{cfg}", "--set", "train.epochz=3"), "did you mean"),
        (("train", "{cfg}", "--set", "optimizer.lr=-1"), "optimizer.lr"),
        (("train", "{cfg}", "--set", "model.layers.0.Linear.bogus=1"), "bogus"),
        (("train", "{cfg}", "--set", "data.dataset=nosuchset"), "nosuchset"),
        (("train", "{cfg}", "--device", "gpu"), "cuda"),
        (("train",), "missing CONFIG"),
        (("train", "{cfg}", "--resume", "{tmp}"), "either CONFIG"),
        (("train", "--resume", "{tmp}/nope"), "no such run directory"),
        (("train", "--resume", "{tmp}"), "not a run directory"),
        (("eval", "{tmp}/nope"), "no such file"),
        (("eval", "{cfg}"), "safetensors"),
    ],
)
def test_errors_exit_2_with_one_message(tmp_path, args, message):
    cfg = write_config(tmp_path)
    args = [a.format(cfg=cfg, tmp=tmp_path) for a in args]
    result = fails(2, *args)
    assert message.lower() in result.stderr.lower()
    assert result.stdout == ""


def test_usage_errors_exit_2():
    assert invoke("nosuchcommand").exit_code == 2
    assert invoke("train", "--epochs", "0", "x.yaml").exit_code == 2


def test_config_error_names_the_file_and_line(tmp_path):
    cfg = write_config(tmp_path, BLOBS.replace("lr: 1.0e-2", "lr: -1.0e-2"))
    err = fails(2, "train", cfg).stderr
    assert f"{cfg}:" in err and "optimizer.lr" in err
    assert err.count("\n") <= 2  # one message, no traceback


def test_console_script_error_has_no_traceback(tmp_path):
    result = run("train", tmp_path / "missing.yaml", timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "no such file" in result.stderr


def test_device_cuda_without_gpu_is_a_clear_error(tmp_path):
    import nnrun.engine as nr

    if nr.cuda.is_available():
        pytest.skip("a GPU is present")
    result = fails(2, "train", write_config(tmp_path), "--device", "cuda", "--out", tmp_path / "r")
    assert "cuda" in result.stderr.lower() and "Traceback" not in result.stderr


def test_keyboard_interrupt_exits_130(tmp_path, monkeypatch):
    import nnrun.cli.train as train_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "train", interrupted)
    result = invoke("train", write_config(tmp_path))
    assert result.exit_code == 130 and "interrupted" in result.stderr
