"""The layer contract (pyproject.toml, ``[tool.importlinter]``): kept by the code, and able to catch a wrong import.

``lint-imports`` also runs in ``.ci/run``; this test proves that the contract is not vacuous by breaking it in a
copy of the tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
PACKAGES = ("kgsite", "graph", "config_admin", "bench")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint) if lint.exists() else "lint-imports"], cwd=root, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(root)}, check=False,
    )


def _copy_tree(target: Path) -> None:
    shutil.copy(BASE_DIR / "pyproject.toml", target / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(BASE_DIR / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "static"))


@pytest.mark.slow
def test_the_code_keeps_the_layer_contract():
    result = _lint_imports(BASE_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("module", "wrong_import"), [
    ("kgsite/db.py", "import graph.models"),  # the project layer reaching up into an app
    ("config_admin/selectors.py", "from graph.models import Node"),  # configuration knowing the graph
    ("graph/views_dashboard.py", "import bench"),  # the product importing the benchmarks
])
def test_a_wrong_import_breaks_the_contract(tmp_path, module, wrong_import):
    _copy_tree(tmp_path)
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "0 kept, 1 broken" in result.stdout, result.stdout
