"""``artrec import``, ``info``, ``items`` and ``users`` through the command line.

Every option of ``artrec import`` on a hand-made collection whose answers are worked out by
hand below; re-import idempotence; every bad file is one line on stderr, exit code 2 and
an unchanged workspace (database rows and image store).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from _image_factory import gradient_rgb, save_jpeg
from artrec.cli import main
from artrec.data.workspace import Workspace

CATALOG = """id,name,painter,year,pic,room
a,Apples,Ann,1901,a.jpg,1
b,Boats,Ann,1902,b.jpg,1
c,Clouds,Cy,1903,c.jpg,2
d,Dunes,Cy,1904,https://img.example.invalid/d.jpg,2
"""
# stars >= 4 are positives. u1: a, b, d positive, c below; u2: b positive only (1 < 2, so
# dropped by --min-user-positives 2); u3: c, d (tied at time 1, c first by item id), a.
RATINGS = """user,item,stars,when
u1,a,5,1
u1,b,4,2
u1,c,2,3
u1,d,5,4
u2,a,3,1
u2,b,5,2
u3,c,4,1
u3,d,4,1
u3,a,4,5
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "imgs").mkdir()
    for n, name in enumerate("abc"):
        save_jpeg(tmp_path / "imgs" / f"{name}.jpg", gradient_rgb(30, 20, seed=n))
    (tmp_path / "catalog.csv").write_text(CATALOG, encoding="utf-8")
    (tmp_path / "ratings.csv").write_text(RATINGS, encoding="utf-8")
    return tmp_path


def _base(files: Path, ws: Path) -> list[str]:
    return [
        "import", str(files / "catalog.csv"), str(files / "ratings.csv"), "-w", str(ws),
        "--image-dir", str(files / "imgs"), "--column", "image=pic",
        "--event-column", "timestamp=when",
    ]  # fmt: skip


def _events(ws: Path) -> dict[tuple[str, str], tuple[str, str | None]]:
    inter = Workspace.open(ws).interactions()
    splits = inter.splits.tolist() if inter.splits is not None else [None] * len(inter)
    users, items, kinds = inter.user_ids.tolist(), inter.item_ids.tolist(), inter.kinds.tolist()
    return {(u, i): (k, s) for u, i, k, s in zip(users, items, kinds, splits, strict=True)}


def _state(ws: Path) -> tuple[list[str], list[str]]:
    """Database rows (as SQL) and the image store's files: equal states, unchanged workspace."""
    con = sqlite3.connect(ws / "artrec.db")
    try:
        rows = list(con.iterdump())
    finally:
        con.close()
    images = sorted(p.name for p in (ws / "images").glob("*")) if (ws / "images").is_dir() else []
    return rows, images


def test_import_with_every_option(
    files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    argv = [
        *_base(files, ws), "--positive-threshold", "4", "--positive-kind", "like",
        "--min-user-positives", "2", "--split-last-fraction", "0.34", "--copy-images",
        "--simulated", "--format", "json",
    ]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["catalog_columns"]["image"] == "pic"
    assert summary["catalog_columns"]["artist"] == "painter"  # found by its common name
    assert summary["interaction_columns"]["rating"] == "stars"
    assert (summary["items_read"], summary["items_added"]) == (4, 4)
    assert summary["images"] == {"url": 1, "local": 3, "missing_file": 0, "none": 0}
    assert summary["images_copied"] == 3
    assert (summary["events_read"], summary["events_added"]) == (9, 7)
    assert summary["events_dropped"] == {"user_below_min_positives": 2}
    assert (summary["users_read"], summary["users_kept"], summary["users_dropped"]) == (3, 2, 1)
    assert summary["added_by_kind"] == {"like": 6, "rating_below_threshold": 1}
    assert _events(ws) == {
        ("u1", "a"): ("like", "train"),
        ("u1", "b"): ("like", "train"),
        ("u1", "c"): ("rating_below_threshold", "train"),
        ("u1", "d"): ("like", "test"),  # the last max(1, floor(0.34 x 3)) = 1 positive
        ("u3", "c"): ("like", "train"),
        ("u3", "d"): ("like", "train"),  # tied with c at time 1; c < d by item id
        ("u3", "a"): ("like", "test"),
    }
    catalog = Workspace.open(ws).catalog()
    record = catalog.record(int(catalog.rows_of(["a"])[0]))
    assert record["title"] == "Apples" and record["artist"] == "Ann" and record["room"] == "1"
    stored = Path(str(record["image"]))
    assert stored.parent == (ws / "images").resolve() and stored.is_file()
    assert stored.read_bytes() == (files / "imgs" / "a.jpg").read_bytes()
    code, out, _ = run(["info", "-w", str(ws), "--format", "json"], capsys)
    info = json.loads(out)
    assert info["simulated"] == "yes" and info["events"]["like"] == {"test": 2, "train": 4}
    # the same import again: nothing new, nothing lost, no image copied twice
    before = _state(ws)
    code, out, err = run(argv, capsys)
    again = json.loads(out)
    assert code == 0 and (again["events_added"], again["events_present"]) == (0, 7)
    assert (again["items_unchanged"], again["images_copied"]) == (4, 0)
    assert _state(ws)[1] == before[1] and len(_events(ws)) == 7


def test_import_split_before_and_the_files_split_column(
    files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "before"
    argv = [*_base(files, ws), "--positive-threshold", "4", "--split-before", "3"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "events before 1970-01-01T00:00:03+00:00 are train, the rest test" in out
    events = _events(ws)
    assert events[("u1", "b")] == ("purchase", "train") and events[("u1", "c")][1] == "test"
    assert events[("u3", "a")] == ("purchase", "test")
    # a log with its own split column (mapped from "fold"), no ratings: kinds as given
    log = files / "log.tsv"
    log.write_text("user\titem\tfold\nx\ta\ttrain\nx\tb\ttest\n", encoding="utf-8")
    ws2 = tmp_path / "given"
    argv = [
        "import", str(files / "catalog.csv"), str(log), "-w", str(ws2),
        "--event-column", "split=fold", "--format", "csv",
    ]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert (
        out.startswith("what,count,detail\n") and "the interaction file's own split column" in out
    )
    assert _events(ws2) == {("x", "a"): ("purchase", "train"), ("x", "b"): ("purchase", "test")}


def test_unknown_items_dropped_on_request_and_max_events(
    files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = files / "log.csv"
    log.write_text("user,item\nx,a\nx,zz\n", encoding="utf-8")
    ws = tmp_path / "ws"
    code, out, err = run(
        ["import", str(files / "catalog.csv"), str(log), "-w", str(ws), "--drop-unknown-items"],
        capsys,
    )
    assert code == 0, err
    assert "unknown item 1" in out and len(_events(ws)) == 1
    code, _, err = run(
        [
            "import",
            str(files / "catalog.csv"),
            str(log),
            "-w",
            str(tmp_path / "w2"),
            "--max-events",
            "1",
        ],
        capsys,
    )
    assert code == 2 and err.count("\n") == 1 and "log.csv" in err


BAD_FILES: list[tuple[str, str, str, list[str]]] = [
    # (what, catalogue text or "", log text or "", words the message must hold)
    ("missing column", "name\nA\n", "", ["catalog.csv", "item_id"]),
    ("mistyped year", "id,year\na,1901\nb,soon\n", "", ["catalog.csv", "line 3", "year"]),
    ("duplicate id", "id,title\na,A\nb,B\na,C\n", "", ["catalog.csv", "line 4", "duplicate"]),
    (
        "bad timestamp",
        "",
        "user,item,when\nx,a,1\nx,b,yesterday\n",
        ["log.csv", "line 3", "when"],
    ),
    ("unknown item", "", "user,item\nx,a\nx,zz\n", ["log.csv", "line 3", "zz"]),
    ("bad rating", "", "user,item,stars\nx,a,5\nx,b,lots\n", ["log.csv", "line 3", "stars"]),
]


@pytest.mark.parametrize(
    ("what", "catalog", "log", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_bad_files_are_one_line_exit_2_and_change_nothing(
    files: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
    catalog: str,
    log: str,
    words: list[str],
) -> None:
    ws = tmp_path / "ws"
    code, _, err = run([*_base(files, ws), "--positive-threshold", "4", "--copy-images"], capsys)
    assert code == 0, err
    before = _state(ws)
    # a good catalogue with a new item and a new image goes with each bad log: neither the
    # item nor the image may be written
    save_jpeg(files / "imgs" / "e.jpg", gradient_rgb(30, 20, seed=9))
    cat_path = files / "grown" / "catalog.csv"
    cat_path.parent.mkdir()
    cat_path.write_text(
        CATALOG.replace(
            "id,name,painter,year,pic,room\n",
            "id,name,painter,year,image,room\ne,Eve,Em,1905,e.jpg,3\n",
        ),
        encoding="utf-8",
    )
    if catalog:
        cat_path = files / "bad" / "catalog.csv"
        cat_path.parent.mkdir()
        cat_path.write_text(catalog, encoding="utf-8")
    argv = ["import", str(cat_path), "-w", str(ws), "--image-dir", str(files / "imgs")]
    if log:
        (files / "log.csv").write_text(log, encoding="utf-8")
        argv[2:2] = [str(files / "log.csv")]
        argv += ["--event-column", "timestamp=when"] if "when" in log else []
        argv += ["--positive-threshold", "4"] if "stars" in log else []
    code, _, err = run([*argv, "--copy-images"], capsys)
    assert code == 2, what
    assert err.count("\n") == 1 and err.startswith("artrec: error: ") and "Traceback" not in err
    for word in words:
        assert word in err, (what, err)
    assert _state(ws) == before


def test_bad_options(files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    for argv, words in (
        (
            [*_base(files, ws), "--column", "colour=pic"],
            ["unknown catalogue column role", "colour"],
        ),
        ([*_base(files, ws), "--column", "title"], ["ROLE=NAME"]),
        ([*_base(files, ws)], ["rating", "threshold"]),  # ratings need --positive-threshold
        (
            [*_base(files, ws), "--positive-threshold", "4", "--split-last-fraction", "1.5"],
            ["fraction"],
        ),
        (["import", str(files / "nope.csv"), "-w", str(ws)], ["nope.csv"]),
    ):
        code, _, err = run(argv, capsys)
        assert code == 2 and err.count("\n") == 1, (argv, err)
        for word in words:
            assert word in err, (argv, err)
    assert not (ws / "artrec.db").exists()
    argv = [*_base(files, ws), "--split-before", "3", "--split-last-fraction", "0.5"]
    code, _, err = run(argv, capsys)
    assert code == 2 and "not allowed with argument" in err


def test_info_items_users(files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    argv = [*_base(files, ws), "--positive-threshold", "4", "--split-last-fraction", "0.34"]
    assert run(argv, capsys)[0] == 0
    code, out, err = run(["info", "-w", str(ws)], capsys)
    assert code == 0, err
    assert "items                   4 (stock not known)" in out or "4 (stock not known)" in out
    assert "simulated               no" in out
    assert "ratings >= 4 are purchase events" in out and "{" not in out
    assert "rating_below_threshold" in out
    code, out, _ = run(["items", "-w", str(ws), "ann", "--format", "json"], capsys)
    assert [r["item_id"] for r in json.loads(out)] == ["a", "b"]
    code, out, _ = run(["items", "-w", str(ws), "--limit", "3"], capsys)
    assert out.splitlines()[0] == "4 artworks in the catalogue; 1-3 shown (next page: --offset 3)"
    code, out, _ = run(["items", "-w", str(ws), "--offset", "3"], capsys)
    assert "4-4 shown" in out and "Dunes" in out and "Apples" not in out
    code, out, _ = run(["items", "-w", str(ws), "clouds", "--field", "artist"], capsys)
    assert out.startswith("0 artworks matching 'clouds'")
    code, out, _ = run(["users", "-w", str(ws), "--format", "json"], capsys)
    users: list[dict[str, Any]] = json.loads(out)
    assert [u["user_id"] for u in users] == ["u1", "u3", "u2"]  # most events first
    assert users[0]["by_kind"] == {"purchase": 3, "rating_below_threshold": 1}
    assert users[0]["first"] == "1970-01-01T00:00:01+00:00"
    code, out, _ = run(["users", "-w", str(ws), "--order", "id"], capsys)
    assert "purchase 3, rating_below_threshold 1" in out and "{" not in out
    code, _, err = run(["users", "-w", str(ws), "--limit", "0"], capsys)
    assert code == 2 and "positive integer" in err
    code, _, err = run(["info", "-w", str(tmp_path / "none")], capsys)
    assert code == 2 and "no artrec workspace" in err


def test_info_shows_the_recall_a_tuned_index_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("faiss")
    from artrec.data.synthetic import write_seed_assets

    write_seed_assets(tmp_path / "assets", 150, 20, dims=(24, 40), seed=2)
    ws = str(tmp_path / "ws")
    assert run(["import-seed", str(tmp_path / "assets"), "-w", ws], capsys)[0] == 0
    assert run(["embed", "-w", ws, "--n-components", "10"], capsys)[0] == 0
    assert run(["index", "build", "-w", ws, "--index", "faiss-hnsw"], capsys)[0] == 0
    assert run(["index", "build", "-w", ws, "--index", "exact"], capsys)[0] == 0
    code, out, err = run(["info", "-w", ws, "--format", "json"], capsys)
    assert code == 0, err
    indexes = {i["kind"]: i for i in json.loads(out)["indexes"]}
    tuning = indexes["faiss-hnsw"]["tuning"]
    assert tuning["target_recall"] == 0.95 and tuning["recall_low"] >= 0.95
    assert indexes["exact"]["tuning"] is None
    code, out, _ = run(["info", "-w", ws], capsys)
    line = next(x for x in out.splitlines() if "faiss-hnsw" in x)
    assert f"recall@{tuning['k']} {tuning['recall']}" in line and "target 0.95" in line
    assert "ef_search=" in line
    exact = next(x for x in out.splitlines() if x.split()[:1] and "exact" in x.split()[2:3])
    assert exact.rstrip().endswith("none")
