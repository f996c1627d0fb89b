"""Run a PyTorch script unchanged with `torch` aliased to `nnrun.engine`.

    python run_as_torch.py SCRIPT [--check-save]

It installs the aliases in ``sys.modules`` and then executes SCRIPT as ``__main__``; used by
tests/engine/test_seed_pipeline.py in a subprocess, so the real torch in the test process is
untouched.
"""

import runpy
import sys

import nnrun.engine as nr
import nnrun.engine.nn
import nnrun.engine.nn.functional
import nnrun.engine.optim
import nnrun.engine.utils.data

ALIASES = {
    "torch": nr,
    "torch.nn": nr.nn,
    "torch.nn.functional": nr.nn.functional,
    "torch.optim": nr.optim,
    "torch.utils": nr.utils,
    "torch.utils.data": nr.utils.data,
}
sys.modules.update(ALIASES)
runpy.run_path(sys.argv[1], run_name="__main__")
