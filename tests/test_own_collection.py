"""``docs/own-collection.md`` runs as written: its five commands (import, extract, embed,
compare, serve) and its "Finding your way around" commands, on the example collection the
page describes (``tests/_own_collection.py``: 60 real paintings, SIMULATED ratings).

The commands are read from the page's ``bash`` blocks and run one after the other in a
temporary folder holding ``example/``, as separate ``artrec`` processes. The only changes:
``serve`` gets a free port on 127.0.0.1 (it is stopped after one page and one image are
fetched), and the placeholder ``ITEM_ID`` becomes the first id ``artrec items`` lists.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from _doc_commands import bash_blocks, run_command, sections, serving
from _own_collection import write_example_collection

PAGE = Path(__file__).resolve().parents[1] / "docs" / "own-collection.md"
REAL = os.environ.get("ARTREC_DATA_HOME")


@pytest.mark.skipif(not REAL, reason="needs ARTREC_DATA_HOME (CI always sets it)")
def test_the_five_commands_run_as_written(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("uvicorn")
    page = PAGE.read_text(encoding="utf-8")
    parts = sections(page)
    (five,) = bash_blocks(parts["The five commands"])
    assert [c[1] for c in five] == ["import", "extract", "embed", "compare", "serve"]
    write_example_collection(tmp_path / "example")

    outputs = {}
    for words in five[:-1]:
        outputs[words[1]] = run_command(words, tmp_path)
    # the import's table is the one the page shows (every documented line, as printed)
    shown = parts["The five commands"].split("```text\n", 1)[1].split("```", 1)[0]
    printed = outputs["import"].stdout.splitlines()
    for line in shown.splitlines()[1:]:
        assert line in printed, line
    assert "SIMULATED" in outputs["compare"].stdout
    assert "protocol: given" in outputs["compare"].stderr

    with serving(five[-1], tmp_path) as base:
        with urllib.request.urlopen(base + "/items?per_page=1", timeout=30) as resp:
            item = json.loads(resp.read())["items"][0]
        with urllib.request.urlopen(base + item["image_url"], timeout=30) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
            assert len(resp.read()) > 1000  # a real thumbnail, from the workspace's images/
        with urllib.request.urlopen(base + "/", timeout=30) as resp:
            assert resp.status == 200 and "<html" in resp.read().decode().lower()

    (around,) = bash_blocks(parts["Finding your way around"])
    first = run_command(["artrec", "items", "-w", "my-collection", "--format", "json"], tmp_path)
    item_id = json.loads(first.stdout)[0]["item_id"]
    for words in around:
        words = [item_id if w == "ITEM_ID" else w for w in words]
        done = run_command(words, tmp_path)
        assert done.stdout.strip(), words
        if words[1] == "items":
            assert "Edvard Munch" in done.stdout
        if words[1] == "recommend":
            assert "visitor03" in done.stdout and "because of" in done.stdout
