"""The seed cheat-sheet's complete training pipeline runs unchanged on nnrun (``torch`` aliased to
``nnrun.engine``), and its ``model.pth`` reloads — in nnrun as the seed shows, and in PyTorch."""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import nnrun.engine as nr
from nnrun.datasets import load

HERE = pathlib.Path(__file__).parent / "seed"
LINE = re.compile(r"^Ep(\d+) Loss:(\d+\.\d{3}) Acc:(\d\.\d{3})$")

# The seed's SAVING & LOADING section, appended after the pipeline.
RELOAD = """
model = Net()
model.load_state_dict(torch.load("model.pth"))
model.eval()
with torch.no_grad():
    print("reloaded", model(X[:4]).argmax(1).tolist())
"""


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("seed")
    script = work / "pipeline.py"
    script.write_text((HERE / "pipeline.py").read_text() + RELOAD)
    proc = subprocess.run([sys.executable, str(HERE / "run_as_torch.py"), str(script)],
                          cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return work, proc.stdout.splitlines()


def test_pipeline_prints_ten_epoch_lines(seed_run):
    _, lines = seed_run
    epochs = [LINE.match(x) for x in lines if x.startswith("Ep")]
    assert [int(m.group(1)) for m in epochs if m] == list(range(1, 11)), lines
    losses = [float(m.group(2)) for m in epochs]
    accs = [float(m.group(3)) for m in epochs]
    # labels are random: the loss starts near ln(3) and falls as the MLP memorises the training set
    assert 0.9 < losses[0] < 1.3 and losses[-1] < losses[0]
    assert all(0.0 <= a <= 1.0 for a in accs)


def test_model_pth_reloads_in_nnrun(seed_run):
    _, lines = seed_run
    reloaded = [x for x in lines if x.startswith("reloaded")]
    assert len(reloaded) == 1 and re.fullmatch(r"reloaded \[\d, \d, \d, \d\]", reloaded[0])


def test_model_pth_loads_in_pytorch(seed_run):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    work, _ = seed_run
    state = safetensors_torch.load_file(str(work / "model.pth"))
    net = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32),
                              torch.nn.ReLU(), torch.nn.Linear(32, 3))
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items()})
    ours = nr.nn.Sequential(nr.nn.Linear(20, 64), nr.nn.ReLU(), nr.nn.Linear(64, 32),
                            nr.nn.ReLU(), nr.nn.Linear(32, 3))
    ours.load_state_dict({k.removeprefix("net."): v
                          for k, v in nr.load(str(work / "model.pth")).items()})
    x = np.random.default_rng(0).standard_normal((16, 20)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(nr.from_numpy(x)).detach().numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    assert sorted(state) == ["net.0.bias", "net.0.weight", "net.2.bias", "net.2.weight",
                             "net.4.bias", "net.4.weight"]


def test_mlp_learns_two_spirals():
    """A small model learns: >= 95% training accuracy on the two-spiral problem."""
    ds = load({"name": "spirals", "n_samples": 1000}, seed=0)
    x, y = nr.from_numpy(np.ascontiguousarray(ds.x)), nr.from_numpy(ds.y)
    model = nr.nn.Sequential(nr.nn.Linear(2, 64), nr.nn.Tanh(), nr.nn.Linear(64, 64),
                             nr.nn.Tanh(), nr.nn.Linear(64, 2))
    opt = nr.optim.Adam(model.parameters(), lr=1e-2)
    crit = nr.nn.CrossEntropyLoss()
    loader = nr.utils.data.DataLoader(nr.utils.data.TensorDataset(x, y), batch_size=64,
                                      shuffle=True)
    for _ in range(150):
        for xb, yb in loader:
            loss = crit(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with nr.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.95, f"training accuracy {acc:.3f}"
