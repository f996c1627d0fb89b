"""The one exception type for bad data: the CLI catches it and exits with status 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DataError(ValueError):
    """A dataset spec, file or array that nnrun cannot use.

    The message says what is wrong, names the dataset or file, and says how to fix it.
    """


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` if none is close."""
    by_lower = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" Did you mean '{by_lower[close[0]]}'?" if close else ""
