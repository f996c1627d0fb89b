"""The ``nnrun`` command line: train, eval, inspect, datasets.

Commands only parse options and call the real functions (train.py, evaluate.py, inspect_cmd.py);
heavy modules (the engine, NumPy, pydantic) are imported inside the commands so that
``nnrun --help`` starts fast. Errors are handled in one place, `_Group.invoke`: nnrun's own
exceptions become one message on stderr and their exit code (2: usage, config, data, checkpoint;
1: the run failed), with no traceback. A traceback means a bug in nnrun.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup


class _Group(TyperGroup):
    """Runs a command and turns nnrun's exceptions into a message and an exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as e:
            code = _exit_code(e)
            if code is None:
                raise
            _fail(str(e), code)
        finally:
            train = sys.modules.get("nnrun.cli.train")
            if train is not None and not _PROCESS_EXITS:
                train.restore_signal_handlers()


# Set by the console script: the process ends with the command, so after a stop on a signal the
# handlers stay ignoring further signals until exit (restoring them left a window in which a
# second signal killed the process by that signal, or made click print "Aborted!" and exit 1).
_PROCESS_EXITS = False


def _exit_code(e: BaseException) -> int | None:
    """The exit code of one of nnrun's user-facing errors; None for anything else (a bug)."""
    errors = sys.modules.get("nnrun.cli.errors")
    if errors is not None and isinstance(e, errors.NnrunError):
        return e.exit_code
    datasets = sys.modules.get("nnrun.datasets.errors")
    if datasets is not None and isinstance(e, datasets.DataError):
        return 2
    serialization = sys.modules.get("nnrun.engine.serialization")
    if serialization is not None and isinstance(e, serialization.SerializationError):
        return 2
    return None


def _fail(message: str, code: int):
    typer.echo(f"error: {message}" if code != 130 and code != 143 else message, err=True)
    raise typer.Exit(code)


app = typer.Typer(
    cls=_Group,
    name="nnrun",
    help="Train neural networks from YAML configs on nnrun's PyTorch-shaped engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
inspect_app = typer.Typer(
    cls=_Group,
    help="Look at a config without training: layer shapes, or the resolved config.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(inspect_app, name="inspect")

ConfigArg = Annotated[
    Path, typer.Argument(metavar="CONFIG", help="The run config (YAML).", show_default=False)
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a config key: --set train.epochs=3 (repeatable).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"nnrun {version('nnrun')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Train neural networks from YAML configs on nnrun's PyTorch-shaped engine."""


@app.command()
def train(
    config: Annotated[
        Path | None,
        typer.Argument(
            metavar="CONFIG",
            help="The run config (YAML); leave out with --resume.",
            show_default=False,
        ),
    ] = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="The run directory (default: a new runs/<name>)."
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            metavar="RUN_DIR",
            help="Continue the run in this directory from its last checkpoint.",
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N (default: the config's)."
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, metavar="N", help="Train this many epochs.")
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps", min=1, metavar="N", help="Stop after this many training steps in all."
        ),
    ] = None,
    limit_batches: Annotated[
        int | None,
        typer.Option(
            "--limit-batches",
            min=1,
            metavar="N",
            help="Train on at most this many batches per epoch.",
        ),
    ] = None,
    fast_dev_run: Annotated[
        bool,
        typer.Option(
            "--fast-dev-run",
            help="Smoke test: 2 batches through train, validation, checkpoint, reload and eval, "
            "in a temporary directory unless --out is given.",
        ),
    ] = False,
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, metavar="S", help="Override the config's seed.")
    ] = None,
    check_resume: Annotated[
        bool,
        typer.Option(
            "--check-resume",
            help="Prove exact resume for CONFIG: train a few steps straight and again with a stop "
            "(mid-epoch, then at an epoch boundary) and a resume, in a temporary directory; exit "
            "1 naming the first difference.",
        ),
    ] = False,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps", min=2, metavar="N", help="With --check-resume: train N steps (default 20)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Train a model from CONFIG (or continue one with --resume RUN_DIR)."""
    from .train import TrainOptions
    from .train import train as run_train

    options = TrainOptions(
        config=config, overrides=list(set_ or ()), out=out, resume=resume, device=device,
        epochs=epochs, max_steps=max_steps, limit_batches=limit_batches,
        fast_dev_run=fast_dev_run, seed=seed, quiet=quiet, json=json_,
    )  # fmt: skip
    if check_resume:
        from .check_resume import DEFAULT_STEPS
        from .check_resume import check_resume as run_check

        run_check(options, steps=DEFAULT_STEPS if steps is None else steps)
        return
    if steps is not None:
        from .errors import UsageError

        raise UsageError("--steps is for --check-resume; to stop a run early use --max-steps N")
    run_train(options, hold_signals=True)


@app.command("eval")
def eval_(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            help="A model.safetensors, a checkpoint directory, or a run directory (its best "
            "checkpoint).",
            show_default=False,
        ),
    ],
    split: Annotated[
        str,
        typer.Option(
            "--split", metavar="SPLIT", help="val (the run's held-out split), test or train."
        ),
    ] = "val",
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            metavar="FILE",
            help="Evaluate on this file (.npz, .npy, .csv) or {format: ..., ...} spec.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="CONFIG",
            help="The config to rebuild the model from (for a bare weights file).",
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, metavar="N", help="Batch size.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Evaluate a checkpoint: loss, metrics, per-class precision/recall, confusion matrix."""
    from .console import Reporter
    from .evaluate import evaluate

    evaluate(
        path, split=split, data=data, config=config, device=device, batch_size=batch_size,
        reporter=Reporter(quiet=quiet, json_mode=json_),
    )  # fmt: skip


@inspect_app.command("shapes")
def inspect_shapes(
    config: ConfigArg,
    set_: SetOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            metavar="N",
            help="Batch size for the shapes (default: the config's).",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """The layer table: output shapes, parameters, memory, and lint warnings."""
    from rich.console import Console

    from .config import load_config
    from .inspect_cmd import inspect_shapes as shapes
    from .inspect_cmd import render_shapes

    result = shapes(load_config(config, set_ or ()), batch_size=batch_size)
    if json_:
        typer.echo(json.dumps(result))
    else:
        render_shapes(result, Console(highlight=False))


@inspect_app.command("config")
def inspect_config(config: ConfigArg, set_: SetOpt = None, json_: JsonOpt = False) -> None:
    """The resolved config, defaults filled in and --set applied."""
    from rich.console import Console

    from .config import load_config
    from .inspect_cmd import inspect_config as resolved
    from .inspect_cmd import render_config

    cfg = load_config(config, set_ or ())
    if json_:
        typer.echo(json.dumps(resolved(cfg)))
    else:
        render_config(cfg, Console(highlight=False))


@app.command()
def datasets(json_: JsonOpt = False) -> None:
    """List the built-in datasets."""
    from nnrun.datasets import describe

    rows = describe()
    if json_:
        typer.echo(json.dumps([{"name": n, "description": d} for n, d in rows]))
        return
    width = max(len(n) for n, _ in rows)
    for name, description in rows:
        typer.echo(f"{name.ljust(width)}  {description}")
    typer.echo(
        "\nUse one in a config as data: {dataset: NAME}; files: {format: npz|csv|idx|..., path: ...}"
    )


def main() -> None:
    """The ``nnrun`` console script."""
    global _PROCESS_EXITS
    _PROCESS_EXITS = True
    try:
        app()
    except KeyboardInterrupt:  # outside a command (while starting up)
        typer.echo("interrupted", err=True)
        sys.exit(130)
