"""``nr.utils``: utilities that mirror ``torch.utils`` (``nr.utils.data``)."""

from . import data

__all__ = ["data"]
