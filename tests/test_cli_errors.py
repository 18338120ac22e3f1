"""Every CLI error is one line with exit code 2, naming the culprit (docs/security.md).

Damaged, locked and read-only workspaces, the operating system's refusals, bad seeds and
event kinds, and the rule that a bug is not "bad input": it is one line with exit code 1,
and ``--debug`` / ``ARTREC_DEBUG=1`` show its traceback. A read-only workspace (a copy
this process may not write, as another user's would be) works for every command that
only reads.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _seed_helpers import write_tiny_assets
from _visrank_workspace import build_workspace
from artrec.cli import main


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-errors") / "ws"
    build_workspace(root, n_items=40)
    return root


@pytest.fixture(scope="module")
def item(ws: Path) -> str:
    con = sqlite3.connect(ws / "artrec.db")
    try:
        return str(con.execute("SELECT item_id FROM items ORDER BY row LIMIT 1").fetchone()[0])
    finally:
        con.close()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *words: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("artrec: ")]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert line.startswith("artrec: error: ") and len(line) < 600, line
    for word in words:
        assert word in line, (word, line)
    return line


# -- damaged and locked databases ---------------------------------------------------------------
@pytest.mark.parametrize(
    "content",
    [b"garbage" * 2000, b"SQLite format 3\x00" + b"\xff" * 8000, b""],
    ids=["not-sqlite", "damaged-header", "empty"],
)
def test_a_damaged_database_is_one_line(
    ws: Path, item: str, tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(ws, root)
    (root / "artrec.db").write_bytes(content)
    for argv in (
        ["similar", "-w", str(root), item],
        ["recommend", "-w", str(root), "--user", "u1"],
        ["evaluate", "-w", str(root), "--protocol", "leave-last-out"],
        ["recommend-all", "-w", str(root), "--no-progress"],
    ):
        code, _, err = run(argv, capsys)
        one_line_error(code, err, str(root), "artrec.db")


def test_a_locked_database_is_one_line(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from artrec.data import schema

    root = tmp_path / "ws"
    shutil.copytree(ws, root)
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_S", 0.3)
    holder = sqlite3.connect(root / "artrec.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than the timeout
    try:
        code, _, err = run(
            ["evaluate", "-w", str(root), "--protocol", "leave-last-out", "--format", "json"],
            capsys,
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    one_line_error(code, err, "locked by another process")


# -- the operating system's refusals ------------------------------------------------------------
def test_os_refusals_are_one_line(
    ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    cases: list[tuple[list[str], tuple[str, ...]]] = [
        (["import-seed", str(assets), "-w", str(file)], (str(file), "not a folder")),
        (["import-seed", str(assets), "-w", str(file / "ws")], (str(file),)),
        (["similar", "-w", str(file), "x"], (str(file),)),
        (["report", "-w", str(ws), "-o", str(file / "r.html")], ("File exists", str(file))),
        (
            ["recommend-all", "-w", str(ws), "--run", "r" * 300, "--no-progress"],
            ("300 characters",),
        ),
        (["index", "build", "-w", str(ws), "--name", "n" * 300], ("300 characters",)),
        (["embed", "-w", str(ws), "--name", "../../x"], ("path separator",)),
    ]
    for argv, words in cases:
        code, _, err = run(argv, capsys)
        one_line_error(code, err, *words)
    assert file.read_text() == "not a folder"


def test_oversized_k_is_clamped_not_allocated(
    ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(ws, root)
    code, _, err = run(
        ["recommend-all", "-w", str(root), "-k", "2147483648", "--run", "big", "--no-progress"],
        capsys,
    )
    assert code == 0, err
    rows = np.load(root / "recommendations" / "big" / "rows.npy", mmap_mode="r")
    assert rows.shape[1] == 40  # the catalogue, not 2**31
    assert (root / "recommendations" / "big" / "rows.npy").stat().st_size < 10_000


# -- bad values -------------------------------------------------------------------------------------
def test_bad_values_name_the_culprit(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases: list[tuple[list[str], tuple[str, ...]]] = [
        (["recommend", "-w", str(ws), "--all-users", "--kinds", "bogus"], ("'bogus'", "purchase")),
        (["recommend-all", "-w", str(ws), "--kinds", "lik", "--no-progress"], ("'lik'", "like")),
        (["evaluate", "-w", str(ws), "--kinds", "bogus"], ("'bogus'",)),
        (
            ["evaluate", "-w", str(ws), "--recommender", "random", "--seed", "-1"],
            ("--seed", "'-1'"),
        ),
        (["compare", "-w", str(ws), "--seed", "9" * 5000], ("--seed", "...")),
        (["similar", "-w", str(ws), "\ud800"], ("not valid Unicode",)),
        (["recommend", "-w", str(ws), "--liked", "x" * 5000], ("longer than 256",)),
    ]
    for argv, words in cases:
        code, _, err = run(argv, capsys)
        one_line_error(code, err, *words)


# -- bugs are not bad input ---------------------------------------------------------------------
def test_a_bug_is_exit_1_and_debug_shows_its_traceback(
    ws: Path, item: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from artrec.engine import Engine

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise TypeError("a deliberate bug")

    monkeypatch.setattr(Engine, "similar_many", broken)
    monkeypatch.setattr(Engine, "similar", broken)
    code, _, err = run(["similar", "-w", str(ws), item], capsys)
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "artrec: internal error: TypeError: 'a deliberate bug' (a bug in artrec; run again "
        "with --debug or ARTREC_DEBUG=1 for the traceback)"
    ]
    code, _, err = run(["--debug", "similar", "-w", str(ws), item], capsys)
    assert code == 1 and "Traceback (most recent call last)" in err and "a deliberate bug" in err
    monkeypatch.setenv("ARTREC_DEBUG", "1")
    code, _, err = run(["similar", "-w", str(ws), item], capsys)
    assert code == 1 and "Traceback (most recent call last)" in err


# -- read-only workspaces -----------------------------------------------------------------------
def _drop_dac() -> list[str]:
    """A command prefix under which root, too, obeys file permissions ([] when not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a read-only workspace")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def _artrec(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [*_drop_dac(), sys.executable, "-m", "artrec", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


@pytest.mark.parametrize("how", ["folder-and-file", "file-only"])
def test_a_read_only_workspace_serves_every_reading_command(
    ws: Path, item: str, tmp_path: Path, how: str
) -> None:
    root = tmp_path / "ro"
    shutil.copytree(ws, root)
    locked = [root / "artrec.db"] if how == "file-only" else [root, *root.rglob("*")]
    for path in locked:
        path.chmod(path.stat().st_mode & ~0o222)
    db_before = (root / "artrec.db").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    try:
        reading = {
            "similar": ["similar", "-w", str(root), item, "--format", "json"],
            "recommend --user": ["recommend", "-w", str(root), "--user", "u1", "--format", "json"],
            "recommend --liked": ["recommend", "-w", str(root), "--liked", item],
            "recommend --all-users": ["recommend", "-w", str(root), "--all-users", "-k", "3"],
            "evaluate": ["evaluate", "-w", str(root), "--protocol", "leave-last-out"],
            "compare": ["compare", "-w", str(root), "--protocol", "leave-last-out"],
            "index info": ["index", "info", "-w", str(root)],
            "report -o": ["report", "-w", str(root), "-o", str(out / "report.html")],
        }
        for name, argv in reading.items():
            done = _artrec(argv, out)
            assert done.returncode == 0, (name, done.stderr[-1500:])
            assert "Traceback" not in done.stderr, name
        similar = json.loads(_artrec(reading["similar"], out).stdout)
        assert len(similar) == 10 and all(r["query"] == item for r in similar)
        done = _artrec(reading["evaluate"], out)
        assert "read-only; the run is not recorded" in done.stderr
        assert (out / "report.html").stat().st_size > 10_000
        # commands that write say so in one line
        assets = write_tiny_assets(tmp_path / "assets")
        for argv in (
            ["embed", "-w", str(root), "--name", "again"],
            ["recommend-all", "-w", str(root), "--no-progress"],
            ["index", "build", "-w", str(root)],
            ["import-seed", str(assets), "-w", str(root)],
            # the server's secret file cannot be made in a read-only folder
            *([["token", "-w", str(root), "--user", "u1"]] if how == "folder-and-file" else []),
        ):
            done = _artrec(argv, out)
            assert done.returncode == 2, (argv, done.stderr[-1500:])
            lines = done.stderr.strip().splitlines()
            assert "Traceback" not in done.stderr and lines[-1].startswith("artrec: error: ")
        assert (root / "artrec.db").read_bytes() == db_before
    finally:
        for path in locked:
            path.chmod(path.stat().st_mode | 0o200)


def test_open_read_only_on_request(ws: Path, tmp_path: Path) -> None:
    from artrec.data.workspace import Workspace
    from artrec.errors import ReadOnlyError

    root = tmp_path / "ws"
    shutil.copytree(ws, root)
    before = (root / "artrec.db").read_bytes()
    ro = Workspace.open(root, read_only=True)
    assert ro.read_only and ro.catalog().n_items == 40
    with pytest.raises(ReadOnlyError, match="read-only"):
        ro.set_meta("x", "1")
    with pytest.raises(ReadOnlyError, match="read-only"), ro.transaction():
        pass
    assert (root / "artrec.db").read_bytes() == before
    assert not Workspace.open(root).read_only
