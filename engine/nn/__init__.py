"""``nnrun.engine.nn``: modules, parameters, losses, ``functional``, ``init`` and ``utils``."""

from .module import Module
from .parameter import Parameter
