"""The benchmark suite runs end to end in its tiny mode and writes well-formed results.

No speed assertions: timings depend on the machine. Only the structure, the bookkeeping and the
loss agreement (same data, weights and batch order must give the same losses) are checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import workloads as W
from bench.run import scaling_configs, summarize

HAS_TORCH = __import__("importlib").util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "latest.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--tiny", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout, out


def test_json_structure(results):
    res, _, _ = results
    assert res["mode"] == "tiny" and res["reps"] == 1
    assert res["machine"]["cores"] >= 1 and res["machine"]["numpy"]
    assert res["gemm"]["peak_gflops"] > 0
    assert set(res["workloads"]) == {"W1", "W2", "W3"}
    libs = {"nnrun", "torch"} if HAS_TORCH else {"nnrun"}
    for name, w in res["workloads"].items():
        expected = libs | ({"numpy"} if name == "W2" else set())
        assert set(w["time_s"]) == expected
        for lib in expected:
            assert w["time_s"][lib] > 0
            assert w["rss_peak_mb"][lib] >= w["rss_base_mb"][lib] > 0
            assert w["cpu_s"][lib] > 0 and w["best_s"][lib] <= w["time_s"][lib]
        if HAS_TORCH:
            assert w["ratio_time"] == pytest.approx(w["time_s"]["nnrun"] / w["time_s"]["torch"])
            assert isinstance(w["met_time"], bool) and isinstance(w["met_rss"], bool)
    assert res["workloads"]["W2"]["ratio_floor"] > 0
    assert "nnrun_help" in res["startup"] and "import_nnrun" in res["startup"]
    assert "skipped" in res["openblas_unset"] or "gemm" in res["openblas_unset"]


def test_losses_agree_across_libraries(results):
    res, _, _ = results
    for name, w in res["workloads"].items():
        a = w["agreement"]
        assert a["agree"], (name, a)
        assert a["first_loss_abs_diff"] <= 1e-4
    w1 = res["workloads"]["W1"]
    assert len(w1["val_acc"]["nnrun"]) == 2  # tiny mode: 2 epochs
    if HAS_TORCH:
        assert w1["val_acc"]["nnrun"] == w1["val_acc"]["torch"]


def test_scaling_and_markdown(results):
    res, stdout, out = results
    for rows in res["scaling"].values():
        assert [r["batch"] for r in rows] == [32, 128, 16]
        assert all(r["us_per_sample"] >= r["best_us_per_sample"] > 0 for r in rows)
        assert all(r["gflops"] > 0 for r in rows)
    assert out.with_suffix(".md").read_text() in stdout + "\n"
    assert "| W3 |" in stdout and "nnrun / PyTorch" in stdout


def test_flop_counts():
    # 784-256-128-10 at batch 1: forward 2*(200704+32768+1280), backward twice that minus layer 1
    assert W.mlp_step_flops((784, 256, 128, 10), 1) == 2 * (3 * 234752 - 200704)
    assert W.mlp_step_flops((784, 256, 128, 10), 64) == 64 * W.mlp_step_flops(
        (784, 256, 128, 10), 1
    )
    assert W.w3_step_flops(2) == 2 * W.w3_step_flops(1)


def test_summary_ratios_and_targets():
    def run(t, peak, losses):
        return {"time_s": t, "rss_peak_mb": peak, "rss_base_mb": 10.0, "losses": losses}

    runs = {
        "nnrun": [run(1.0, 50.0, [2.0, 1.0]), run(3.0, 60.0, [2.0, 1.0])],
        "torch": [run(2.0, 200.0, [2.0, 1.5]), run(2.0, 200.0, [2.0, 1.5])],
    }
    s = summarize("W2", runs)
    assert s["time_s"]["nnrun"] == 2.0 and s["ratio_time"] == 1.0 and not s["met_time"]
    assert s["ratio_rss"] == pytest.approx(55 / 200) and s["met_rss"]
    assert s["agreement"]["max_abs_diff"] == 0.5 and not s["agreement"]["agree"]
    assert s["deterministic"] == {"nnrun": True, "torch": True}


def test_scaling_configs_cover_the_sweeps():
    cfgs = scaling_configs(
        {"mlp_batches": [32, 128], "mlp_widths": [256, 1024], "cnn_batches": [64]}
    )
    assert {"kind": "mlp", "batch": 128, "hidden": [1024, 512]} in cfgs
    assert sum(c == {"kind": "mlp", "batch": 128, "hidden": [256, 128]} for c in cfgs) == 1
    assert cfgs[-1] == {"kind": "cnn", "batch": 64}


def test_hotspots_times_every_function(capsys):
    from bench import hotspots

    assert hotspots.main(["W1", "--samples", "64", "--by-function", "--cpu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("W1: ") and "inside Function forward/backward" in out
    assert "Linear" in out and "CrossEntropy" in out
    from nnrun.engine.ops.elementwise import Relu

    assert "timed" not in Relu.forward.__qualname__  # the originals are back


def test_markdown_reports_the_openblas_experiment(results):
    from bench import report

    res, _, _ = results
    res = dict(res, machine=dict(res["machine"], openblas_env={"OPENBLAS_CORETYPE": "Haswell"}))
    res["openblas_unset"] = {
        "gemm": {"peak_gflops": 123.0, "blas": [{"architecture": "Zen"}]},
        "workloads": {"W2": {"time_s": {"nnrun": 1.5, "numpy": 1.25}}},
    }
    last = report.markdown(res).strip().splitlines()[-1]
    assert "kernel Zen" in last and "123 GFLOP/s" in last and "W2 nnrun 1.500 s" in last
