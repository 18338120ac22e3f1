"""The import-linter contracts hold, and a deliberately forbidden import breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run(
        [str(LINT), "--no-logo", "--no-cache", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src" / "artrec", tmp_path / "src" / "artrec")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_contracts_hold_on_the_package(tree: Path) -> None:
    proc = _lint(tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "edge"),
    [
        ("index/base.py", "import artrec.recommend.base"),  # index never imports recommend
        ("evaluation/metrics.py", "import artrec.server"),  # evaluation never imports server
        ("vectors.py", "import artrec.data.catalog"),  # the vocabulary is the floor
        ("config.py", "import artrec.recommend.visrank"),  # so is the configuration
        ("server/routes_ui.py", "import artrec.server.routes_api"),  # sibling routes
        ("server/state.py", "import artrec.server.app"),  # the server's own layers
        ("cli/compare.py", "import artrec.cli.evaluate"),  # subcommands stay apart
    ],
)
def test_a_forbidden_import_breaks_the_contracts(tree: Path, module: str, edge: str) -> None:
    path = tree / "src" / "artrec" / module
    path.write_text(path.read_text() + f"\n{edge}  # deliberately forbidden\n")
    proc = _lint(tree)
    assert proc.returncode != 0
    assert "BROKEN" in proc.stdout
