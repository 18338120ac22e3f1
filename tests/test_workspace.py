"""The SQLite workspace: catalogue and interaction round trips, stock, runs, concurrency."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from artrec.data import Catalog, Interactions, Workspace
from artrec.data.workspace import SCHEMA_VERSION
from artrec.errors import ArtrecError, DataError, UnknownIdError


def _catalog() -> Catalog:
    return Catalog(
        item_ids=[10, 11, "a-12"],
        metadata={
            "title": np.array(["Sunset", "Harbour", None], dtype=object),
            "artist": np.array(["Claude Monet", "Unknown artist", "J. Doe"], dtype=object),
            "year": np.array([1872, None, 1901], dtype=object),
            "century": np.array([19, "BCE", None], dtype=object),
            "collection": np.array(["x", None, "z"], dtype=object),
        },
        image=np.array(["/img/10.jpg", "https://example.org/11.jpg", None], dtype=object),
        in_stock=np.array([True, False, True]),
        stock_known=True,
    )


def test_create_and_open(tmp_path):
    with pytest.raises(ArtrecError, match="no artrec workspace"):
        Workspace.open(tmp_path / "missing")
    ws = Workspace.create(tmp_path / "ws")
    assert ws.db_path.is_file()
    for d in (ws.features_dir, ws.embeddings_dir, ws.index_dir, ws.images_dir, ws.reports_dir):
        assert d.is_dir()
    assert Workspace.open(tmp_path / "ws").get_meta("schema_version") == str(SCHEMA_VERSION)
    with pytest.raises(ArtrecError, match="already exists"):
        Workspace.create(tmp_path / "ws", exist_ok=False)
    with sqlite3.connect(ws.db_path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_catalog_round_trip_keeps_order_types_and_extras(tmp_path):
    ws = Workspace.create(tmp_path)
    assert ws.upsert_items(_catalog()) == 3
    cat = ws.catalog()
    assert cat.item_ids.tolist() == ["10", "11", "a-12"]
    assert cat.metadata["title"].tolist() == ["Sunset", "Harbour", None]
    assert cat.metadata["year"].tolist() == [1872, None, 1901]
    assert cat.metadata["century"].tolist() == [19, "BCE", None]
    assert cat.metadata["collection"].tolist() == ["x", None, "z"]
    assert cat.image is not None and cat.image.tolist()[1] == "https://example.org/11.jpg"
    assert cat.in_stock.tolist() == [True, False, True]  # type: ignore[union-attr]
    assert cat.stock_known
    assert cat.artists().tolist() == ["Claude Monet", None, "J. Doe"]  # type: ignore[union-attr]
    assert cat.record(0)["title"] == "Sunset"


def test_upsert_updates_in_place_and_appends_new(tmp_path):
    ws = Workspace.create(tmp_path)
    ws.upsert_items(_catalog())
    grown = Catalog(["a-12", "99"], {"title": np.array(["Renamed", "New"], dtype=object)})
    ws.upsert_items(grown)
    cat = ws.catalog()
    assert cat.item_ids.tolist() == ["10", "11", "a-12", "99"]
    assert cat.metadata["title"].tolist() == ["Sunset", "Harbour", "Renamed", "New"]


def test_set_in_stock_and_unknown_id(tmp_path):
    ws = Workspace.create(tmp_path)
    ws.upsert_items(_catalog())
    ws.set_in_stock(["10"], False)
    assert ws.catalog().in_stock.tolist() == [False, False, True]  # type: ignore[union-attr]
    with pytest.raises(UnknownIdError, match="'nope'"):
        ws.set_in_stock(["10", "nope"], True)
    # the failed call changed nothing
    assert ws.catalog().in_stock.tolist() == [False, False, True]  # type: ignore[union-attr]


def test_interactions_round_trip_filters_and_delete(tmp_path):
    ws = Workspace.create(tmp_path)
    log = Interactions(
        user_ids=["u1", "u1", 7, "u2"],
        item_ids=[10, 11, 10, "a-12"],
        timestamps=[3.0, 1.0, np.nan, 2.0],
        kinds=["purchase", "like", "purchase", "like"],
        splits=["train", "test", None, None],
    )
    assert ws.add_interactions(log) == 4
    back = ws.interactions()
    assert back.user_ids.tolist() == ["u1", "u1", "7", "u2"]
    assert back.item_ids.tolist() == ["10", "11", "10", "a-12"]
    np.testing.assert_array_equal(back.timestamps, [3.0, 1.0, np.nan, 2.0])
    assert back.splits is not None and back.splits.tolist() == ["train", "test", None, None]
    assert ws.interactions(kinds=("like",)).item_ids.tolist() == ["11", "a-12"]
    assert ws.interactions(user_id="u1").by_user()["u1"].tolist() == ["11", "10"]  # time order
    assert ws.delete_interactions("u1", "11", kind="purchase") == 0
    assert ws.delete_interactions("u1", "11", kind="like") == 1
    assert len(ws.interactions()) == 3
    with pytest.raises(DataError, match="finite"):
        ws.add_interactions(Interactions(["u"], ["1"], [np.inf]))


def test_profiles_drop_unknown_items_and_duplicates(tmp_path):
    cat = _catalog()
    log = Interactions(["u", "u", "u", "v"], ["11", "10", "11", "ghost"], [1, 2, 3, 4])
    profiles = log.profiles(cat)
    assert profiles["u"].tolist() == [1, 0]
    assert profiles["v"].tolist() == []


def test_runs_are_recorded_newest_first(tmp_path):
    ws = Workspace.create(tmp_path)
    first = ws.record_run("evaluate", {"k": 10}, {"auc": 0.8})
    second = ws.record_run("extract", {"model": "m"}, {"bad": 0})
    assert second > first
    assert [r["kind"] for r in ws.runs()] == ["extract", "evaluate"]
    assert ws.runs("evaluate")[0]["results"] == {"auc": 0.8}


def test_concurrent_writers_lose_nothing(tmp_path):
    ws = Workspace.create(tmp_path)
    errors: list[BaseException] = []

    def write(user: str) -> None:
        try:
            for i in range(25):
                ws.add_interactions(Interactions([user], [str(i)], [float(i)], ["like"]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"u{t}",)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(ws.interactions()) == 100


#: The DDL of schema version 1 (``century`` had no type), as earlier artrec versions wrote it.
SCHEMA_V1 = """
CREATE TABLE items (row INTEGER PRIMARY KEY, item_id TEXT NOT NULL UNIQUE, title TEXT,
    artist TEXT, year INTEGER, date TEXT, medium TEXT, museum TEXT, city TEXT, century,
    height_cm REAL, width_cm REAL, image TEXT, in_stock INTEGER NOT NULL DEFAULT 1, extra TEXT);
CREATE TABLE interactions (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, item_id TEXT NOT NULL,
    timestamp REAL, kind TEXT NOT NULL DEFAULT 'purchase', split TEXT);
CREATE INDEX interactions_user ON interactions (user_id);
CREATE INDEX interactions_item ON interactions (item_id);
CREATE TABLE runs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, created REAL NOT NULL,
    params TEXT NOT NULL, results TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX items_sold ON items (in_stock) WHERE in_stock = 0;
INSERT INTO meta VALUES ('schema_version', '1'), ('default_embedding', 'e');
INSERT INTO items (item_id, title, century, year, in_stock) VALUES
    ('a', 'First', 19, 1850, 1), ('b', 'Second', 'BCE', NULL, 0), ('c', NULL, 20.0, 1901, 1),
    ('d', 'Fourth', NULL, NULL, 1);
INSERT INTO interactions (user_id, item_id, timestamp, kind) VALUES ('u', 'a', 1.0, 'like');
"""


def _v1_workspace(root):
    root.mkdir()
    with sqlite3.connect(root / "artrec.db") as con:
        con.executescript(SCHEMA_V1)
    return root


def test_a_version_1_workspace_opens_and_is_migrated(tmp_path):
    root = _v1_workspace(tmp_path / "old")
    ws = Workspace.open(root)
    assert ws.get_meta("schema_version") == str(SCHEMA_VERSION)
    with sqlite3.connect(ws.db_path) as con:
        types = {r[1]: r[2] for r in con.execute("PRAGMA table_info(items)")}
        stored = con.execute("SELECT century, typeof(century) FROM items ORDER BY row").fetchall()
        indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert types["century"] == "TEXT"
    assert stored == [("19", "text"), ("BCE", "text"), ("20", "text"), (None, "null")]
    assert "items_sold" in indexes and "interactions_user" in indexes
    cat = ws.catalog()
    assert cat.item_ids.tolist() == ["a", "b", "c", "d"]
    assert cat.metadata["century"].tolist() == [19, "BCE", 20, None]
    assert cat.metadata["title"].tolist() == ["First", "Second", None, "Fourth"]
    assert cat.in_stock.tolist() == [True, False, True, True]  # type: ignore[union-attr]
    assert ws.get_meta("default_embedding") == "e"
    assert ws.interactions().item_ids.tolist() == ["a"]
    assert ws.sold_set() == frozenset({"b"})
    # new items keep the order; opening again changes nothing
    ws.upsert_items(Catalog(["e"], {"century": np.array([17], dtype=object)}))
    assert Workspace.open(root).catalog().metadata["century"].tolist() == [19, "BCE", 20, None, 17]


def _open_in_process(root: str) -> list[str]:
    return Workspace.open(root).catalog().item_ids.tolist()


def test_concurrent_processes_migrate_once(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    # several rounds: opening a rollback-journal database together races for the switch
    # to WAL (SQLite answers "locked" at once there; the workspace retries)
    with ProcessPoolExecutor(max_workers=4) as pool:
        for round_ in range(6):
            root = _v1_workspace(tmp_path / f"old{round_}")
            results = list(pool.map(_open_in_process, [str(root)] * 8))
            assert all(r == ["a", "b", "c", "d"] for r in results)
            with sqlite3.connect(root / "artrec.db") as con:
                assert con.execute("SELECT COUNT(*) FROM items").fetchone() == (4,)
                tables = {
                    r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert "items_v1" not in tables


def test_resolve_embedding_rule(tmp_path):
    from artrec.vectors import FeatureSet

    ws = Workspace.create(tmp_path)
    with pytest.raises(DataError, match="has no embedding"):
        ws.resolve_embedding()
    ids = np.array(["x", "y"], dtype=object)
    FeatureSet("one", ids, np.eye(2, dtype=np.float32)).save(ws.embeddings_dir)
    assert ws.resolve_embedding() == "one"  # the only one
    FeatureSet("two", ids, np.eye(2, dtype=np.float32)).save(ws.embeddings_dir)
    with pytest.raises(DataError, match="several embeddings and no default"):
        ws.resolve_embedding()
    ws.set_meta("default_embedding", "gone")  # a stale default does not count
    with pytest.raises(DataError, match="several embeddings"):
        ws.resolve_embedding()
    ws.set_meta("default_embedding", "two")
    assert ws.resolve_embedding() == "two"
    assert ws.resolve_embedding("one") == "one"
    with pytest.raises(DataError, match="no embedding 'three'"):
        ws.resolve_embedding("three")
