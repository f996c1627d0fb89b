"""``nnrun.engine.optim``: optimizers and learning-rate schedulers, as ``torch.optim``.

Optimizers update parameters in place on their raw arrays, building no graph.
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
