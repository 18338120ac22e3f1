"""fetch_public_art: locating, loading, linking thumbnails, reporting, downloading."""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artrec.data.public_art import (
    download_public_art,
    fetch_public_art,
    load_public_art,
    locate_public_art,
    public_art_report,
    select_subset,
)
from artrec.data.public_art_artists import normalize_artist
from artrec.data.workspace import Workspace
from artrec.errors import DataError

REAL = os.environ.get("ARTREC_DATA_HOME")


def _jpeg(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20), colour).save(path, "JPEG")


def _mini_dataset(root: Path) -> Path:
    """A 4-record public-art folder: one record lacks its thumbnail, one thumbnail is orphan."""
    d = root / "public-art"
    records = [
        {
            "i": "a1",
            "t": "First",
            "a": "Ann",
            "y": 1850,
            "d": "1850",
            "m": "oil paint",
            "u": "M1",
            "c": "Paris",
            "h": 10,
            "w": 20,
            "img": "http://x/a1.jpg",
            "cn": 19,
        },
        {
            "i": "b2",
            "t": "Second",
            "a": "Unknown artist",
            "d": "c. 1600",
            "m": "tempera",
            "u": "M2",
            "c": "Rome",
            "h": None,
            "w": None,
            "img": "http://x/b2.jpg",
            "cn": "BCE",
        },
        {
            "i": "c3",
            "t": "Third",
            "a": "Bob",
            "y": 1920,
            "d": "1920",
            "m": "oil paint",
            "u": "M1",
            "c": "Oslo",
            "h": 5,
            "w": 5,
            "img": "http://x/c3.jpg",
            "cn": None,
        },
        {
            "i": "nothumb",
            "t": "Lost",
            "a": "Ann",
            "y": 1,
            "d": "1",
            "m": "x",
            "u": "M3",
            "c": "X",
            "h": 1,
            "w": 1,
            "img": "",
            "cn": 1,
        },
        {"t": "no id at all"},
    ]
    d.mkdir(parents=True)
    (d / "data.json").write_text(json.dumps(records))
    for i, colour in (
        ("a1", (255, 0, 0)),
        ("b2", (0, 255, 0)),
        ("c3", (0, 0, 255)),
        ("orphan", (9, 9, 9)),
    ):
        _jpeg(d / "thumbnails" / f"{i}.jpg", colour)
    return d


def test_load_mini_dataset_reports_problems(tmp_path: Path) -> None:
    d = _mini_dataset(tmp_path)
    catalog, report = load_public_art(d)
    assert catalog.item_ids.tolist() == ["a1", "b2", "c3"]
    assert report.records_without_thumbnail == ["nothumb"]
    assert report.thumbnails_without_record == ["orphan"]
    assert report.bad_records == [("#4", "missing or empty id 'i'")]
    assert report.n_records == 5 and report.n_items == 3
    assert catalog.column("title").tolist() == ["First", "Second", "Third"]  # type: ignore[union-attr]
    assert catalog.column("century").tolist() == [19, "BCE", None]  # type: ignore[union-attr]
    assert catalog.column("year").tolist() == [1850, None, 1920]  # type: ignore[union-attr]
    assert catalog.artists().tolist() == ["Ann", None, "Bob"]  # type: ignore[union-attr]


@pytest.mark.parametrize("form", ["parent", "itself"])
def test_fetch_links_thumbnails_into_workspace(tmp_path: Path, form: str) -> None:
    d = _mini_dataset(tmp_path / "data")
    home = d.parent if form == "parent" else d
    ws = fetch_public_art(home, tmp_path / "ws", download_if_missing=False)
    cat = ws.catalog()
    assert cat.item_ids.tolist() == ["a1", "b2", "c3"]
    assert cat.image is not None
    for item_id, path in zip(cat.item_ids.tolist(), cat.image.tolist(), strict=True):
        p = Path(path)
        assert p.parent == (ws.images_dir / "public-art").resolve()
        assert p.read_bytes() == (d / "thumbnails" / f"{item_id}.jpg").read_bytes()
    rep = public_art_report(ws)
    assert rep is not None and rep["records_without_thumbnail"] == ["nothumb"]
    # Idempotent: a second call keeps the same catalogue.
    ws2 = fetch_public_art(home, ws, download_if_missing=False)
    assert ws2.catalog().item_ids.tolist() == ["a1", "b2", "c3"]


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _mini_dataset(tmp_path / "first")
    second = _mini_dataset(tmp_path / "second")
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("ARTREC_DATA_HOME", str(second.parent))
    assert locate_public_art(first.parent) == first
    assert locate_public_art(None) == second
    assert locate_public_art(tmp_path / "nowhere") == second
    monkeypatch.delenv("ARTREC_DATA_HOME")
    assert locate_public_art(None) is None
    cached = _mini_dataset(cache / "artrec")
    assert locate_public_art(None) == cached


def test_missing_data_without_download_explains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARTREC_DATA_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"heyitsnoah/public-art.*d9e15e8"):
        fetch_public_art(tmp_path / "empty", tmp_path / "ws", download_if_missing=False)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server serving a mini dist/ folder."""
    dist = tmp_path / "mirror" / "dist"
    records = [{"i": f"w{i}", "t": f"T{i}", "a": "A", "cn": 18} for i in range(3)]
    dist.mkdir(parents=True)
    (dist / "data.json").write_text(json.dumps(records))
    for i in range(3):
        _jpeg(dist / "thumbnails" / f"w{i}.jpg", (i * 80, 10, 10))
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "mirror")
    )
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/dist", dist
    finally:
        server.shutdown()
        server.server_close()


def test_download_checks_and_installs(tmp_path: Path, mirror: tuple[str, Path]) -> None:
    url, dist = mirror
    target = tmp_path / "cache" / "public-art"
    out = download_public_art(
        target, base_url=url, expected_records=3, workers=2, allow_private=True
    )
    assert out == target and not target.with_name("public-art.partial").exists()
    assert sorted(p.name for p in (target / "thumbnails").iterdir()) == [
        "w0.jpg",
        "w1.jpg",
        "w2.jpg",
    ]
    assert (target / "thumbnails" / "w1.jpg").read_bytes() == (
        dist / "thumbnails" / "w1.jpg"
    ).read_bytes()


def test_download_refuses_a_loopback_mirror_unless_allowed(
    tmp_path: Path, mirror: tuple[str, Path]
) -> None:
    url, _ = mirror
    target = tmp_path / "c" / "public-art"
    with pytest.raises(DataError, match=r"refused address.*loopback address 127\.0\.0\.1"):
        download_public_art(target, base_url=url, expected_records=3)
    assert not target.exists()


def test_download_wrong_count_and_corrupt_thumbnail(
    tmp_path: Path, mirror: tuple[str, Path]
) -> None:
    url, dist = mirror
    with pytest.raises(DataError, match="holds 3 records, expected 5736"):
        download_public_art(tmp_path / "a" / "public-art", base_url=url, allow_private=True)
    (dist / "thumbnails" / "w2.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"1 of 3 .*w2"):
        download_public_art(
            tmp_path / "b" / "public-art", base_url=url, expected_records=3, allow_private=True
        )
    assert not (tmp_path / "b" / "public-art").exists()


def test_fetch_downloads_into_cache_when_missing(
    tmp_path: Path, mirror: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = mirror
    monkeypatch.delenv("ARTREC_DATA_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ws = fetch_public_art(
        None, tmp_path / "ws", base_url=url, expected_records=3, allow_private=True
    )
    assert ws.catalog().item_ids.tolist() == ["w0", "w1", "w2"]
    rep = public_art_report(ws)
    assert rep is not None and rep["downloaded"] is True
    assert (tmp_path / "cache" / "artrec" / "public-art" / "data.json").is_file()


def test_unreachable_source_explains(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="could not download.*git clone"):
        download_public_art(
            tmp_path / "public-art",
            base_url="http://127.0.0.1:9/dist",
            timeout=2,
            allow_private=True,
        )


@pytest.mark.skipif(not REAL, reason="ARTREC_DATA_HOME not set (CI always sets it)")
def test_real_dataset_subset(tmp_path: Path) -> None:
    directory = locate_public_art(REAL)
    assert directory is not None
    full, report = load_public_art(directory)
    assert full.n_items == 5736 and report.n_records == 5736
    assert len(report.thumbnails_without_record) == 25
    assert report.records_without_thumbnail == []
    ids = select_subset(full, 120, seed=1)
    assert 110 <= len(ids) <= 120 and ids == select_subset(full, 120, seed=1)
    ws = fetch_public_art(REAL, tmp_path / "ws", item_ids=ids, download_if_missing=False)
    cat = ws.catalog()
    assert cat.item_ids.tolist() == ids
    records = {r["i"]: r for r in json.loads((directory / "data.json").read_text())}
    for row in range(0, cat.n_items, 17):
        rec = records[cat.item_ids[row]]
        assert cat.column("title")[row] == rec["t"]  # type: ignore[index]
        assert cat.column("artist")[row] == normalize_artist(rec["a"])  # type: ignore[index]
        with Image.open(cat.image[row]) as im:  # type: ignore[index]
            assert im.size == (200, 200)
    artists = cat.artists()
    assert artists is not None
    counts = np.unique([a for a in artists.tolist() if a is not None], return_counts=True)[1]
    assert (counts >= 5).sum() >= 5  # the subset keeps prolific artists
    assert isinstance(Workspace.open(ws.root), Workspace)
