"""The documented commands run as written: ``docs/own-collection.md`` and ``README.md``.

Commands are read from the pages' ``bash`` blocks (``tests/_doc_commands.py``) and run one
after the other as separate processes in a temporary folder that stands for a fresh clone
(its ``tests/`` is the repository's). ``artrec`` and ``.venv/bin/artrec`` are the package's
console script, run as ``python -m artrec`` with the test's interpreter.

What is changed, and why (nothing else is):

* ``serve`` gets a free port on 127.0.0.1; it is stopped after a page and an image are
  fetched.
* Placeholders: ``/path/to/datasets`` is the public-art data home of the test run
  (``$ARTREC_DATA_HOME``), ``path/to/assets`` a notebook-format assets folder generated for
  the test (SIMULATED, ``write_seed_assets``), ``ITEM_ID`` / ``ARTWORK_ID`` the first id
  that ``artrec items`` lists.
* Not run: ``make demo`` and ``make test`` (they build the environment this test runs in and
  run the whole suite, this test included) and ``. .venv/bin/activate`` (it puts that
  environment's ``artrec`` first on the ``PATH``, which is the program run here).

The five commands of "Your own collection" are the same in both documents (checked), so
they run once, in the fixture shared by both tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from _doc_commands import bash_blocks, environment, run_command, sections, serving

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "own-collection.md"
README = ROOT / "README.md"
REAL = os.environ.get("ARTREC_DATA_HOME")
pytestmark = pytest.mark.skipif(not REAL, reason="needs ARTREC_DATA_HOME (CI always sets it)")


def _page_five() -> list[list[str]]:
    (five,) = bash_blocks(sections(PAGE.read_text(encoding="utf-8"))["The five commands"])
    return five


def _clone(tmp: Path) -> Path:
    """A folder standing for a fresh clone: the repository's ``tests/``, nothing built."""
    clone = tmp / "clone"
    clone.mkdir()
    (clone / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    return clone


def _python(words: list[str], cwd: Path, env: dict[str, str]) -> None:
    assert words[0] == "python", words
    done = subprocess.run(
        [sys.executable, *words[1:]], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The example collection written as documented, and the five commands run on it
    (but ``serve``, which each test starts itself)."""
    pytest.importorskip("torch")
    pytest.importorskip("uvicorn")
    clone = _clone(tmp_path_factory.mktemp("docs"))
    env = environment()
    (make,) = bash_blocks(sections(PAGE.read_text(encoding="utf-8"))["The example collection"])
    for words in make:
        _python(words, clone, env)
    five = _page_five()
    assert [c[1] for c in five] == ["import", "extract", "embed", "compare", "serve"]
    outputs = {words[1]: run_command(words, clone, env) for words in five[:-1]}
    return {"clone": clone, "env": env, "five": five, "outputs": outputs}


def test_own_collection_page_runs_as_written(collection: dict[str, Any]) -> None:
    clone, env, five, outputs = (collection[k] for k in ("clone", "env", "five", "outputs"))
    page = sections(PAGE.read_text(encoding="utf-8"))
    # the import's table is the one the page shows (every documented line, as printed)
    shown = page["The five commands"].split("```text\n", 1)[1].split("```", 1)[0]
    printed = outputs["import"].stdout.splitlines()
    for line in shown.splitlines()[1:]:
        assert line in printed, line
    assert "SIMULATED" in outputs["compare"].stdout
    assert "protocol: given" in outputs["compare"].stderr

    with serving(five[-1], clone, env) as base:
        with urllib.request.urlopen(base + "/items?per_page=1", timeout=30) as resp:
            item = json.loads(resp.read())["items"][0]
        with urllib.request.urlopen(base + item["image_url"], timeout=30) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
            assert len(resp.read()) > 1000  # a real thumbnail, from the workspace's images/
        with urllib.request.urlopen(base + "/", timeout=30) as resp:
            assert resp.status == 200 and "<html" in resp.read().decode().lower()

    (around,) = bash_blocks(page["Finding your way around"])
    first = run_command(["artrec", "items", "-w", "my-collection", "--format", "json"], clone, env)
    item_id = json.loads(first.stdout)[0]["item_id"]
    for words in around:
        words = [item_id if w == "ITEM_ID" else w for w in words]
        done = run_command(words, clone, env)
        assert done.stdout.strip(), words
        if words[1] == "items":
            assert "Edvard Munch" in done.stdout
        if words[1] == "recommend":
            assert "visitor03" in done.stdout and "because of" in done.stdout


def test_every_readme_command_runs_as_written(collection: dict[str, Any], tmp_path: Path) -> None:
    from artrec.data.synthetic import write_seed_assets

    clone, five = collection["clone"], collection["five"]
    env = dict(collection["env"])
    assets = write_seed_assets(tmp_path / "assets", 200, 30, dims=(48, 64), seed=3).directory
    blocks = bash_blocks(README.read_text(encoding="utf-8"))
    assert five in blocks, "README's five commands are the page's"
    ran: list[str] = []
    for block in blocks:
        if block == five:
            ran += [" ".join(w) for w in block]  # run once, by the fixture
            continue
        for words in block:
            if words[0] == "make" or words[:2] == [".", ".venv/bin/activate"]:
                continue
            if words[0] == "export":
                name, _, value = words[1].partition("=")
                env[name] = REAL if value == "/path/to/datasets" else value
                ran.append(" ".join(words))
                continue
            if words[0] == "python":
                _python(words, clone, env)
                ran.append(" ".join(words))
                continue
            words = [str(assets) if w == "path/to/assets" else w for w in words]
            if "ARTWORK_ID" in words:
                listed = run_command(
                    ["artrec", "items", "-w", "nb", "--format", "json"], clone, env
                )
                first = json.loads(listed.stdout)[0]["item_id"]
                words = [first if w == "ARTWORK_ID" else w for w in words]
            done = run_command(words, clone, env)
            ran.append(" ".join(words))
            if "--history" in words:  # the notebook's recommend() for user 0
                assert "top 10 by VisRank" in done.stdout
    assert any(r.startswith("artrec import-seed") for r in ran)
    assert any("--features resnet50" in r for r in ran)
    assert any(r.startswith(".venv/bin/artrec --help") or "--help" in r for r in ran)
    assert len(ran) >= 15
