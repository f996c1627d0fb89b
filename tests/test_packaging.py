"""The installed layout: every package folder is listed in pyproject.toml, and nothing is
installed as a top-level `engine`, `cli` or `datasets` (the last would shadow Hugging Face's)."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOLDERS = {"engine": "nnrun.engine", "cli": "nnrun.cli", "datasets": "nnrun.datasets"}


def _pyproject():
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else \
        pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_installed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(), "these listed packages have no folder"


def test_folders_map_under_the_nnrun_namespace():
    mapping = _pyproject()["tool"]["setuptools"]["package-dir"]
    assert mapping == {name: folder for folder, name in FOLDERS.items()}


def test_no_top_level_engine_cli_or_datasets_module(tmp_path):
    code = ("import importlib.util as u, nnrun.engine, nnrun.cli, nnrun.datasets\n"
            "for n in ('engine', 'cli', 'datasets'):\n"
            "    s = u.find_spec(n)\n"
            "    print(n, s.origin if s else None)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        name, origin = line.split(" ", 1)
        assert origin == "None" or str(ROOT) not in origin, f"top-level {name} from {origin}"
