"""Import of any catalogue and interaction log: every option against hand-computed answers,
re-import idempotence, and every bad file leaving the workspace exactly as it was."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from artrec.data.importer import (
    BELOW_THRESHOLD_KIND,
    META_KEY,
    ImportSummary,
    import_collection,
    import_settings,
)
from artrec.data.simulate import SIMULATED_KEY
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError

DAY = 86400.0
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _dump(ws: Path) -> list[str]:
    """Every row of every table, as SQL text: equal dumps mean an unchanged database."""
    con = sqlite3.connect(ws / "artrec.db")
    try:
        return list(con.iterdump())
    finally:
        con.close()


def _events(ws: Path) -> list[tuple[str, str, float | None, str, str | None]]:
    inter = Workspace.open(ws).interactions()
    splits = inter.splits.tolist() if inter.splits is not None else [None] * len(inter)
    return [
        (u, i, None if np.isnan(t) else t, k, s)
        for u, i, t, k, s in zip(
            inter.user_ids.tolist(),
            inter.item_ids.tolist(),
            inter.timestamps.tolist(),
            inter.kinds.tolist(),
            splits,
            strict=True,
        )
    ]


def _split_of(ws: Path) -> dict[tuple[str, str, str], str | None]:
    return {(u, i, k): s for u, i, _, k, s in _events(ws)}


CATALOG = (
    "Object ID,Title,Artist Name,Year,Image,gallery\n"
    "a,Sunrise,Claude Monet,1872,a.jpg,Room 3\n"
    "b,Water Lilies,Claude Monet,1906,https://img.example/b.jpg,\n"
    "c,Night Watch,Rembrandt,1642,sub/c.png,Room 1\n"
    "d,Untitled,,,,\n"
)


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    (images / "a.jpg").write_bytes(b"jpg")
    return _write(tmp_path / "catalog.csv", CATALOG)


# -- catalogue --------------------------------------------------------------------------------


def test_catalogue_columns_found_by_alias_and_images_resolved(
    tmp_path: Path, catalog: Path
) -> None:
    summary = import_collection(tmp_path / "ws", catalog, image_dir=tmp_path / "images")
    assert summary.catalog_columns == {
        "item_id": "Object ID",
        "title": "Title",
        "artist": "Artist Name",
        "year": "Year",
        "image": "Image",
    }
    assert (summary.items_read, summary.items_added, summary.items_updated) == (4, 4, 0)
    # a.jpg exists; c.png does not (yet); b is a URL; d has none
    assert summary.images == {"url": 1, "local": 1, "missing_file": 1, "none": 1}
    cat = Workspace.open(tmp_path / "ws").catalog()
    assert cat.item_ids.tolist() == ["a", "b", "c", "d"]
    assert cat.metadata["title"].tolist() == ["Sunrise", "Water Lilies", "Night Watch", "Untitled"]
    assert cat.metadata["year"].tolist() == [1872, 1906, 1642, None]
    assert cat.metadata["gallery"].tolist() == ["Room 3", None, "Room 1", None]
    images = (tmp_path / "images").resolve()
    assert cat.image.tolist() == [  # type: ignore[union-attr]
        str(images / "a.jpg"),
        "https://img.example/b.jpg",
        str(images / "sub" / "c.png"),
        None,
    ]
    assert not cat.stock_known


def test_explicit_column_mapping_and_shadowed_column(tmp_path: Path) -> None:
    cat = _write(
        tmp_path / "cat.tsv",
        "accession\tlabel\ttitle\tmaker\tpic\n"
        "x1\tThe Bath\tshort\tCassatt\t/abs/x1.jpg\n"
        "x2\tOlympia\tshort2\tManet\t\n",
    )
    log = _write(
        tmp_path / "log.csv",
        "who,what,when,score\nu1,x1,2024-01-01,5\nu1,x2,2024-01-02,1\n",
    )
    summary = import_collection(
        tmp_path / "ws",
        cat,
        log,
        catalog_columns={
            "item_id": "accession",
            "title": "label",
            "artist": "maker",
            "image": "pic",
        },
        interaction_columns={
            "user_id": "who",
            "item_id": "what",
            "timestamp": "when",
            "rating": None,
        },
    )
    assert summary.catalog_columns == {
        "item_id": "accession",
        "title": "label",
        "artist": "maker",
        "image": "pic",
    }
    assert summary.interaction_columns == {"user_id": "who", "item_id": "what", "timestamp": "when"}
    c = Workspace.open(tmp_path / "ws").catalog()
    assert c.metadata["title"].tolist() == ["The Bath", "Olympia"]
    assert c.metadata["title_original"].tolist() == ["short", "short2"]  # kept, not lost
    assert c.metadata["artist"].tolist() == ["Cassatt", "Manet"]
    assert _events(tmp_path / "ws") == [
        ("u1", "x1", T0, "purchase", None),
        ("u1", "x2", T0 + DAY, "purchase", None),
    ]


def _formats(tmp_path: Path) -> list[tuple[Path, Path]]:
    """The same catalogue and log as CSV, TSV, JSON, JSON Lines and Parquet."""
    items = [
        {"id": "a", "title": "A", "year": 1900},
        {"id": "b", "title": "B", "year": None},
    ]
    events = [
        {"user": "u", "item": "a", "timestamp": T0, "kind": "like"},
        {"user": "u", "item": "b", "timestamp": T0 + DAY, "kind": "purchase"},
    ]
    out: list[tuple[Path, Path]] = []
    d = tmp_path / "csv"
    d.mkdir()
    out.append(
        (
            _write(d / "c.csv", "id,title,year\na,A,1900\nb,B,\n"),
            _write(d / "l.csv", f"user,item,timestamp,kind\nu,a,{T0},like\nu,b,{T0 + DAY},\n"),
        )
    )
    d = tmp_path / "tsv"
    d.mkdir()
    out.append(
        (
            _write(d / "c.tsv", "id\ttitle\tyear\na\tA\t1900\nb\tB\t\n"),
            _write(
                d / "l.tsv", f"user\titem\ttimestamp\tkind\nu\ta\t{T0}\tlike\nu\tb\t{T0 + DAY}\t\n"
            ),
        )
    )
    d = tmp_path / "json"
    d.mkdir()
    out.append(
        (
            _write(d / "c.json", json.dumps({"items": items})),
            _write(d / "l.json", json.dumps(events)),
        )
    )
    d = tmp_path / "jsonl"
    d.mkdir()
    out.append(
        (
            _write(d / "c.jsonl", "\n".join(json.dumps(r) for r in items)),
            _write(d / "l.jsonl", "\n".join(json.dumps(r) for r in events)),
        )
    )
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    d = tmp_path / "parquet"
    d.mkdir()
    pq.write_table(pa.Table.from_pylist(items), d / "c.parquet")
    pq.write_table(pa.Table.from_pylist(events), d / "l.parquet")
    out.append((d / "c.parquet", d / "l.parquet"))
    return out


def test_every_format_gives_the_same_workspace(tmp_path: Path) -> None:
    results = []
    for cat, log in _formats(tmp_path):
        ws = cat.parent / "ws"
        import_collection(ws, cat, log)
        c = Workspace.open(ws).catalog()
        results.append(
            (
                c.item_ids.tolist(),
                c.metadata["title"].tolist(),
                c.metadata["year"].tolist(),
                _events(ws),
            )
        )
    assert len(results) == 5
    assert results[0] == (
        ["a", "b"],
        ["A", "B"],
        [1900, None],
        [("u", "a", T0, "like", None), ("u", "b", T0 + DAY, "purchase", None)],
    )
    assert all(r == results[0] for r in results)


# -- ratings ----------------------------------------------------------------------------------


def _abcd(tmp_path: Path) -> Path:
    return _write(tmp_path / "cat.csv", "item_id\n" + "".join(f"{c}\n" for c in "abcdefgh"))


def test_ratings_become_positives_at_the_threshold(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "ratings.csv",
        "user_id,item_id,rating\nu,a,5\nu,b,4\nu,c,3.99\nv,a,1\nv,d,4.0\n",
    )
    summary = import_collection(tmp_path / "ws", _abcd(tmp_path), log, positive_threshold=4)
    assert [(u, i, k) for u, i, _, k, _ in _events(tmp_path / "ws")] == [
        ("u", "a", "purchase"),
        ("u", "b", "purchase"),  # 4 >= 4
        ("u", "c", BELOW_THRESHOLD_KIND),  # 3.99 < 4
        ("v", "a", BELOW_THRESHOLD_KIND),
        ("v", "d", "purchase"),
    ]
    assert summary.added_by_kind == {"purchase": 3, BELOW_THRESHOLD_KIND: 2}
    again = import_collection(
        tmp_path / "ws2", _abcd(tmp_path), log, positive_threshold=4, positive_kind="like"
    )
    assert again.added_by_kind == {"like": 3, BELOW_THRESHOLD_KIND: 2}


def test_rating_rules_are_explicit(tmp_path: Path) -> None:
    cat = _abcd(tmp_path)
    ratings = _write(tmp_path / "r.csv", "user_id,item_id,stars\nu,a,5\n")
    with pytest.raises(DataError, match="column 'stars' holds ratings; give a positive threshold"):
        import_collection(tmp_path / "ws", cat, ratings)
    # mapped to none: the column is ignored and every row is a purchase
    summary = import_collection(tmp_path / "ws", cat, ratings, interaction_columns={"rating": None})
    assert summary.added_by_kind == {"purchase": 1}
    plain = _write(tmp_path / "p.csv", "user_id,item_id\nu,a\n")
    with pytest.raises(DataError, match="p.csv: a positive threshold needs a rating column"):
        import_collection(tmp_path / "ws3", cat, plain, positive_threshold=3)
    kinds = _write(tmp_path / "k.csv", "user_id,item_id,kind,rating\nu,a,like,5\n")
    with pytest.raises(DataError, match="k.csv: column 'kind' gives event kinds"):
        import_collection(tmp_path / "ws4", cat, kinds, positive_threshold=3)
    with pytest.raises(ArtrecError, match="positive kind must be one of"):
        import_collection(tmp_path / "ws5", cat, ratings, positive_threshold=3, positive_kind="x")


# -- minimum positives ------------------------------------------------------------------------


def test_min_user_positives_counts_positives_only(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "r.csv",
        "user_id,item_id,rating\n"
        "u,a,5\nu,b,5\nu,c,1\n"  # 2 positives
        "v,a,5\nv,b,1\nv,c,1\n"  # 1 positive, 3 events
        "w,a,5\nw,b,5\nw,c,5\n",  # 3 positives
    )
    summary = import_collection(
        tmp_path / "ws", _abcd(tmp_path), log, positive_threshold=3, min_user_positives=2
    )
    assert {u for u, *_ in _events(tmp_path / "ws")} == {"u", "w"}
    assert summary.events_dropped == {"user_below_min_positives": 3}
    assert (summary.users_read, summary.users_kept, summary.users_dropped) == (3, 2, 1)
    assert summary.events_added == 6


# -- splits -----------------------------------------------------------------------------------


def test_last_fraction_split_by_hand(tmp_path: Path) -> None:
    # user u: positives at days 1, 2, 3, 3, 4 (b and c tie at day 3) and a view on day 3.5;
    # F = 0.5: floor(2.5) = 2 held out: the last two of (1,a) (2,e) (3,b) (3,c) (4,d) by
    # (time, item id) are (3,c) and (4,d). The view comes after (3,c): test.
    # user v: one positive: max(1, floor(0.5)) = 1 held out; the earlier view is train.
    # user w: views only: train.
    log = _write(
        tmp_path / "log.csv",
        "user_id,item_id,timestamp,kind\n"
        f"u,d,{T0 + 4 * DAY},purchase\n"
        f"u,a,{T0 + 1 * DAY},purchase\n"
        f"u,c,{T0 + 3 * DAY},like\n"
        f"u,b,{T0 + 3 * DAY},purchase\n"
        f"u,e,{T0 + 2 * DAY},purchase\n"
        f"u,f,{T0 + 3.5 * DAY},view\n"
        f"v,g,{T0},view\n"
        f"v,a,{T0 + DAY},purchase\n"
        f"w,h,{T0},view\n",
    )
    summary = import_collection(tmp_path / "ws", _abcd(tmp_path), log, split_last_fraction=0.5)
    assert _split_of(tmp_path / "ws") == {
        ("u", "d", "purchase"): "test",
        ("u", "a", "purchase"): "train",
        ("u", "c", "like"): "test",
        ("u", "b", "purchase"): "train",
        ("u", "e", "purchase"): "train",
        ("u", "f", "view"): "test",
        ("v", "g", "view"): "train",
        ("v", "a", "purchase"): "test",
        ("w", "h", "view"): "train",
    }
    assert summary.added_by_split == {"train": 5, "test": 4}
    assert summary.split.rule == "last_fraction"
    settings = import_settings(Workspace.open(tmp_path / "ws"))
    assert settings is not None and settings["split"]["fraction"] == 0.5


def test_last_fraction_is_exact_decimal(tmp_path: Path) -> None:
    # 0.29 * 100 is 28.999999999999996 in floating point; the rule holds out 29
    items = "item_id\n" + "".join(f"i{n:03d}\n" for n in range(100))
    log = "user_id,item_id,timestamp\n" + "".join(f"u,i{n:03d},{T0 + n}\n" for n in range(100))
    summary = import_collection(
        tmp_path / "ws",
        _write(tmp_path / "c.csv", items),
        _write(tmp_path / "l.csv", log),
        split_last_fraction=0.29,
    )
    assert summary.added_by_split == {"train": 71, "test": 29}
    splits = _split_of(tmp_path / "ws")
    assert (
        splits[("u", "i070", "purchase")] == "train" and splits[("u", "i071", "purchase")] == "test"
    )


def test_split_before_a_date(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "l.csv",
        "user_id,item_id,timestamp\n"
        "u,a,2024-01-01T00:00:00Z\nu,b,2024-01-02T00:00:00Z\nu,c,2024-01-02T00:00:01Z\n",
    )
    summary = import_collection(
        tmp_path / "ws", _abcd(tmp_path), log, split_before="2024-01-02T00:00:00Z"
    )
    assert _split_of(tmp_path / "ws") == {
        ("u", "a", "purchase"): "train",
        ("u", "b", "purchase"): "test",  # at the cut: not before it
        ("u", "c", "purchase"): "test",
    }
    assert summary.split.before == T0 + DAY
    with pytest.raises(ArtrecError, match="one split rule"):
        import_collection(
            tmp_path / "x", _abcd(tmp_path), log, split_before=T0, split_last_fraction=0.2
        )
    with pytest.raises(ArtrecError, match="between 0 and 1"):
        import_collection(tmp_path / "x", _abcd(tmp_path), log, split_last_fraction=1.0)
    with pytest.raises(ArtrecError, match="split time cut: timestamp 'soon' is neither"):
        import_collection(tmp_path / "x", _abcd(tmp_path), log, split_before="soon")
    assert not (tmp_path / "x").exists()


def test_unknown_times_come_first(tmp_path: Path) -> None:
    # an event without a time is never held out ahead of a timed one, and is before any cut
    log = _write(tmp_path / "l.csv", "user_id,item_id,timestamp\nu,b,5\nu,a,\nu,c,9\n")
    import_collection(tmp_path / "ws", _abcd(tmp_path), log, split_last_fraction=0.5)
    assert _split_of(tmp_path / "ws") == {
        ("u", "a", "purchase"): "train",
        ("u", "b", "purchase"): "train",
        ("u", "c", "purchase"): "test",  # floor(1.5) = 1: the latest
    }
    import_collection(tmp_path / "ws2", _abcd(tmp_path), log, split_before=6.0)
    assert _split_of(tmp_path / "ws2") == {
        ("u", "a", "purchase"): "train",
        ("u", "b", "purchase"): "train",
        ("u", "c", "purchase"): "test",
    }


def test_given_split_column(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "l.csv", "user_id,item_id,split,time\nu,a,train,1\nu,b,test,2\nv,c,,3\n"
    )
    summary = import_collection(tmp_path / "ws", _abcd(tmp_path), log)
    assert summary.split.rule == "given"
    assert summary.added_by_split == {"train": 1, "test": 1, "none": 1}
    # an explicit rule replaces the file's column, and says so
    other = import_collection(tmp_path / "ws2", _abcd(tmp_path), log, split_last_fraction=0.5)
    assert any("split column 'split' is ignored" in n for n in other.notes)
    no_time = _write(tmp_path / "n.csv", "user_id,item_id\nu,a\n")
    with pytest.raises(DataError, match="^n.csv: no timestamp column"):
        import_collection(tmp_path / "ws3", _abcd(tmp_path), no_time, split_before=1.0)


# -- re-import --------------------------------------------------------------------------------


def _tables(ws: Path) -> list[str]:
    """The dump without the runs log (each import records one run)."""
    return [line for line in _dump(ws) if 'INTO "runs"' not in line]


def test_reimport_is_idempotent(tmp_path: Path, catalog: Path) -> None:
    log = _write(
        tmp_path / "log.csv",
        "user_id,item_id,timestamp,rating\n"
        f"u,a,{T0},5\nu,b,{T0 + DAY},2\nu,c,{T0 + 2 * DAY},4\nu,a,{T0},5\nv,a,,4\n",
    )
    options = {"image_dir": tmp_path / "images", "positive_threshold": 4.0}
    first = import_collection(tmp_path / "ws", catalog, log, **options)  # type: ignore[arg-type]
    assert first.events_added == 4 and first.events_dropped == {"duplicate_in_file": 1}
    before = _tables(tmp_path / "ws")
    second = import_collection(tmp_path / "ws", catalog, log, **options)  # type: ignore[arg-type]
    assert _tables(tmp_path / "ws") == before
    assert (second.items_added, second.items_updated, second.items_unchanged) == (0, 0, 4)
    assert (second.events_added, second.events_present, second.events_resplit) == (0, 4, 0)
    assert len(Workspace.open(tmp_path / "ws").runs("import")) == 2


def test_grown_log_equals_a_fresh_import(tmp_path: Path) -> None:
    cat = _abcd(tmp_path)
    rows = [
        ("u", "a", 1),
        ("u", "b", 2),
        ("u", "c", 3),
        ("v", "a", 1),
        ("v", "d", 5),
    ]
    grown = [*rows, ("u", "d", 4), ("u", "e", 5), ("w", "a", 9)]

    def log(name: str, events: list[tuple[str, str, int]]) -> Path:
        text = "user_id,item_id,timestamp\n" + "".join(
            f"{u},{i},{T0 + t * DAY}\n" for u, i, t in events
        )
        return _write(tmp_path / name, text)

    import_collection(tmp_path / "ws", cat, log("jan.csv", rows), split_last_fraction=0.4)
    # u: 3 positives, floor(1.2) = 1 -> c is test
    assert _split_of(tmp_path / "ws")[("u", "c", "purchase")] == "test"
    summary = import_collection(
        tmp_path / "ws", cat, log("grown.csv", grown), split_last_fraction=0.4
    )
    # u now has 5 positives: floor(2.0) = 2 -> d, e test; c moves back to train
    assert (summary.events_added, summary.events_present, summary.events_resplit) == (3, 5, 1)
    fresh = tmp_path / "fresh"
    import_collection(fresh, cat, log("all.csv", grown), split_last_fraction=0.4)
    assert sorted(_events(tmp_path / "ws")) == sorted(_events(fresh))
    assert _split_of(fresh)[("u", "c", "purchase")] == "train"
    # a second log with only new months gives the same result as one log with everything
    feb = [e for e in grown if e not in rows]
    parts = tmp_path / "parts"
    import_collection(parts, cat, log("jan2.csv", rows), split_last_fraction=0.4)
    import_collection(parts, cat, log("feb.csv", feb), split_last_fraction=0.4)
    assert sorted(_events(parts)) == sorted(_events(fresh))


def test_reimport_keeps_what_the_file_does_not_say(tmp_path: Path, catalog: Path) -> None:
    import_collection(tmp_path / "ws", catalog, image_dir=tmp_path / "images")
    ws = Workspace.open(tmp_path / "ws")
    ws.set_in_stock(["a"], False)  # sold through the gallery
    smaller = _write(tmp_path / "smaller.csv", "id,title\na,Sunrise (retitled)\ne,New work\n")
    summary = import_collection(ws, smaller)
    assert (summary.items_added, summary.items_updated, summary.items_unchanged) == (1, 1, 0)
    cat = ws.catalog()
    assert cat.item_ids.tolist() == ["a", "b", "c", "d", "e"]  # nothing lost, e appended
    row = cat.rows_of(["a"])[0]
    assert cat.metadata["title"][row] == "Sunrise (retitled)"
    assert cat.metadata["artist"][row] == "Claude Monet"  # kept
    assert cat.metadata["gallery"][row] == "Room 3"  # kept
    assert cat.image[row].endswith("a.jpg")  # type: ignore[index]
    assert not cat.in_stock[row]  # still sold


def test_reimport_with_other_settings_is_refused(tmp_path: Path) -> None:
    cat = _abcd(tmp_path)
    log = _write(tmp_path / "r.csv", "user_id,item_id,timestamp,rating\nu,a,1,5\nu,b,2,3\n")
    import_collection(tmp_path / "ws", cat, log, positive_threshold=4)
    before = _dump(tmp_path / "ws")
    with pytest.raises(ArtrecError, match="was imported with positive_threshold = 4"):
        import_collection(tmp_path / "ws", cat, log, positive_threshold=3)
    with pytest.raises(ArtrecError, match="was imported with split"):
        import_collection(tmp_path / "ws", cat, log, positive_threshold=4, split_before=2.0)
    assert _dump(tmp_path / "ws") == before
    # a catalogue-only re-import is fine
    import_collection(tmp_path / "ws", cat)


def test_meta_and_run_are_recorded(tmp_path: Path) -> None:
    log = _write(tmp_path / "l.csv", "user_id,item_id\nu,a\n")
    summary = import_collection(tmp_path / "ws", _abcd(tmp_path), log, min_user_positives=1)
    ws = Workspace.open(tmp_path / "ws")
    assert ws.get_meta(SIMULATED_KEY) == "0"
    settings = json.loads(ws.get_meta(META_KEY) or "{}")
    assert settings["min_user_positives"] == 1 and settings["split"]["rule"] == "none"
    run = ws.runs("import")[0]
    assert run["results"]["events_added"] == 1 and run["results"]["split_rule"] == "no split"
    assert isinstance(summary, ImportSummary) and summary.as_dict()["workspace"] == str(ws.root)
    ws.set_meta(SIMULATED_KEY, "1")  # a workspace holding simulated data stays labelled
    again = import_collection(
        ws, None, _write(tmp_path / "m.csv", "user_id,item_id\nx,b\n"), min_user_positives=1
    )
    assert ws.get_meta(SIMULATED_KEY) == "1" and any("simulated" in n for n in again.notes)


def test_unknown_items_can_be_dropped(tmp_path: Path) -> None:
    log = _write(tmp_path / "l.csv", "user_id,item_id\nu,a\nu,zzz\nv,zzz\n")
    summary = import_collection(tmp_path / "ws", _abcd(tmp_path), log, unknown_items="drop")
    assert summary.events_dropped == {"unknown_item": 2} and summary.events_added == 1
    # items already in the workspace are known to a later log without a catalogue
    more = _write(tmp_path / "m.csv", "user_id,item_id\nw,h\n")
    assert import_collection(tmp_path / "ws", None, more).events_added == 1


# -- bad files --------------------------------------------------------------------------------


BAD_CASES = [
    # (catalogue text, log text, options, expected message)
    ("title\nA\n", None, {}, r"^cat.csv: line 2: no item id"),
    (
        "item_id,year\na,1900\nb,circa 1900\n",
        None,
        {},
        r"^cat.csv: line 3: year 'circa 1900' is not a number",
    ),
    (
        "item_id,Made\na,1900\nb,x\n",
        None,
        {"catalog_columns": {"year": "Made"}},
        r"^cat.csv: line 3: 'Made' \(as year\) 'x' is not a number",
    ),
    (
        "item_id,in_stock\na,yes\nb,perhaps\n",
        None,
        {},
        r"^cat.csv: line 3: in_stock 'perhaps' is not a yes/no",
    ),
    (
        "item_id\na\nb\na\n",
        None,
        {},
        r"^cat.csv: line 4: duplicate item id 'a' \(first at line 2\)",
    ),
    (
        "item_id\na\n",
        None,
        {"catalog_columns": {"title": "Name"}},
        r"^cat.csv: no column 'Name' for title",
    ),
    ("item_id\na\n", "who,item_id\nu,a\n", {}, r"^log.csv: missing column 'user_id'"),
    (
        "item_id\na\n",
        "user_id,item_id,timestamp\nu,a,1\nu,a,next week\n",
        {},
        r"^log.csv: line 3: timestamp 'next week' is neither",
    ),
    (
        "item_id\na\n",
        "user_id,item_id,when\nu,a,yesterday\n",
        {"interaction_columns": {"timestamp": "when"}},
        r"^log.csv: line 2: 'when' \(as timestamp\) 'yesterday' is neither",
    ),
    (
        "item_id\na\n",
        "user_id,item_id\nu,a\nu,b\n",
        {},
        r"^log.csv: line 3: item_id 'b' is not a known item \(not in cat.csv or the workspace\)",
    ),
    (
        "item_id\na\n",
        "user_id,artwork_id\nu,a\nu,zz\n",
        {},
        r"^log.csv: line 3: 'artwork_id' \(as item_id\) 'zz' is not a known item",
    ),
    (
        "item_id\na\n",
        "user_id,item_id,rating\nu,a,great\n",
        {"positive_threshold": 3},
        r"^log.csv: line 2: rating 'great' is not a number",
    ),
    (
        "item_id\na\n",
        "user_id,item_id,rating\nu,a,5\nu,a,\n",
        {"positive_threshold": 3},
        r"^log.csv: line 3: empty rating",
    ),
    ("item_id\na\n", "user_id,item_id\nu,a\n,a\n", {}, r"^log.csv: line 3: empty user_id"),
    ("item_id\na\n", "user_id,item_id,split\nu,a,valid\n", {}, r"^log.csv: line 2: split must be"),
]


@pytest.mark.parametrize(("cat_text", "log_text", "options", "message"), BAD_CASES)
def test_bad_files_leave_the_workspace_unchanged(
    tmp_path: Path, cat_text: str, log_text: str | None, options: dict, message: str
) -> None:
    # a workspace with earlier data (so "unchanged" means something)
    ws = tmp_path / "ws"
    import_collection(
        ws,
        _write(tmp_path / "first.csv", "item_id,title\nold,Old work\n"),
        _write(tmp_path / "first_log.csv", "user_id,item_id\nz,old\n"),
    )
    before = _dump(ws)
    cat = _write(tmp_path / "cat.csv", cat_text)
    log = None if log_text is None else _write(tmp_path / "log.csv", log_text)
    with pytest.raises(DataError, match=message) as err:
        import_collection(ws, cat, log, **options)
    assert "\n" not in str(err.value)  # one line
    assert _dump(ws) == before
    # and into a new workspace: nothing is created
    with pytest.raises(DataError, match=message):
        import_collection(tmp_path / "new", cat, log, **options)
    assert not (tmp_path / "new").exists()


def test_a_failed_write_is_rolled_back(
    tmp_path: Path, catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.create(tmp_path / "ws")
    import_collection(ws, _write(tmp_path / "first.csv", "item_id\nold\n"))
    before = _dump(ws.root)
    log = _write(tmp_path / "log.csv", "user_id,item_id\nu,a\n")

    def disk_full(self: Workspace, interactions: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(Workspace, "add_interactions", disk_full)
    with pytest.raises(OSError, match="disk full"):
        import_collection(ws, catalog, log)  # items are upserted first, then this fails
    assert _dump(ws.root) == before


def test_event_limit_applies(tmp_path: Path) -> None:
    log = _write(tmp_path / "l.csv", "user_id,item_id\nu,a\nu,b\nu,c\n")
    with pytest.raises(ArtrecError, match="l.csv"):
        import_collection(tmp_path / "ws", _abcd(tmp_path), log, max_events=2)
    assert not (tmp_path / "ws").exists()
