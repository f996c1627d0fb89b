"""Console output: the plain epoch line, the rich progress bar on a terminal, --quiet, --json."""

from __future__ import annotations

import io

from nnrun.cli.console import Reporter, format_epoch

RECORD = {
    "epoch": 3,
    "step": 135,
    "train_loss": 0.12341,
    "val_loss": 0.14562,
    "val_accuracy": 0.96111,
    "lr": 0.001,
    "seconds": 1.234,
}


def test_plain_epoch_line():
    assert format_epoch(RECORD, 10) == (
        "epoch 3/10  train_loss 0.1234  val_loss 0.1456  val_accuracy 0.9611  lr 0.001  1.2s"
    )
    skipped = format_epoch({**RECORD, "train_loss": float("nan"), "skipped_steps": 2}, 10)
    assert "train_loss nan" in skipped and "skipped_steps 2" in skipped


def simulate(reporter: Reporter) -> None:
    reporter.info("run runs/x")
    for epoch in (1, 2):
        reporter.start_epoch(epoch, 2, batches=4)
        for _ in range(4):
            reporter.step(0.5, 32)
        reporter.end_epoch({**RECORD, "epoch": epoch}, 2)
    reporter.close()


def test_plain_mode_prints_one_line_per_epoch():
    out, err = io.StringIO(), io.StringIO()
    simulate(Reporter(tty=False, stdout=out, stderr=err))
    lines = out.getvalue().splitlines()
    assert lines == ["run runs/x", format_epoch({**RECORD, "epoch": 1}, 2),
                     format_epoch({**RECORD, "epoch": 2}, 2)]  # fmt: skip
    assert err.getvalue() == ""


def test_terminal_mode_shows_a_progress_bar_with_loss_and_throughput():
    out = io.StringIO()
    reporter = Reporter(tty=True, stdout=out, stderr=io.StringIO())
    reporter.start_epoch(1, 2, batches=4)
    for _ in range(3):
        reporter.step(0.5, 32)
    reporter._progress.refresh()
    live = out.getvalue()
    assert "epoch 1/2" in live and "3/4" in live and "loss 0.5000" in live and "samples/s" in live
    reporter.step(0.5, 32)
    reporter.end_epoch({**RECORD, "epoch": 1}, 2)
    reporter.close()
    assert format_epoch({**RECORD, "epoch": 1}, 2) in out.getvalue()


def test_quiet_prints_nothing():
    out, err = io.StringIO(), io.StringIO()
    reporter = Reporter(quiet=True, tty=True, stdout=out, stderr=err)
    simulate(reporter)
    reporter.warn("something")
    reporter.result({"a": 1})
    assert out.getvalue() == "" and err.getvalue() == ""


def test_json_mode_keeps_stdout_for_the_result():
    out, err = io.StringIO(), io.StringIO()
    reporter = Reporter(json_mode=True, stdout=out, stderr=err)
    simulate(reporter)
    reporter.result({"run_dir": "runs/x"})
    assert out.getvalue() == '{"run_dir": "runs/x"}\n'
    assert "epoch 1/2" in err.getvalue()
