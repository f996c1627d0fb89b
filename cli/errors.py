"""The CLI's exception types: each carries the exit code the CLI returns when it catches it.

The CLI catches `NnrunError` in one place and prints ``str(error)`` with no traceback; anything else
that escapes is a bug in nnrun.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class NnrunError(Exception):
    """Base of the errors nnrun reports to the user as one clear message.

    ``exit_code`` is 2 for bad usage, config, data or checkpoints, 1 when training itself failed.
    """

    exit_code: int = 2


class UsageError(NnrunError):
    """The command line asks for something that cannot be done (a bad option, a missing run)."""


class CheckpointError(NnrunError):
    """A checkpoint file or directory is missing, corrupt, or does not match the config."""


class TrainingFailed(NnrunError):
    """Training ran but failed: a non-finite loss, or an unmet ``expect`` bound."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config, printed as ``file:line: dotted.path: message``.

    ``line`` and ``column`` are 1-based and None when unknown (a config given as a dict, a key that
    came from ``--set``); ``path`` is empty for problems with the file as a whole.
    """

    file: str
    line: int | None
    path: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(NnrunError):
    """A config that cannot be used; ``problems`` lists every problem found, in file order.

    Example::

        raise ConfigError([Problem("run.yaml", 12, "optimizer.lr", "must be > 0, got -0.1")])
        raise ConfigError("run.yaml: no such file")
    """

    def __init__(self, problems: Problem | str | Iterable[Problem]):
        if isinstance(problems, (Problem, str)):
            problems = [problems]
        self.problems: list[Problem | str] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
