"""The workspace: one directory that holds one project's state.

Layout::

    <root>/
      artrec.db          SQLite: items (the catalogue), interactions, runs, meta
      features/          <extractor>.npy + <extractor>.ids.json + <extractor>.json
      embeddings/        <name>.npy + <name>.ids.json + <name>.json + <name>.transform.npz
      index/             saved similarity indexes
      images/            downloaded or copied images, keyed by content
      reports/           HTML reports
      models/            saved recommenders: models/<name>/model.json + arrays.npz

The database is opened in WAL mode with a busy timeout, so several processes (the CLI, a
server's workers) can read while one writes. Rows of the ``items`` table keep insertion
order, which is the catalogue's row order.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from artrec.data.catalog import METADATA_FIELDS, Catalog, Interactions
from artrec.errors import ArtrecError, DataError, UnknownIdError
from artrec.vectors import as_id_array

SCHEMA_VERSION = 1
DB_NAME = "artrec.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    row        INTEGER PRIMARY KEY,
    item_id    TEXT NOT NULL UNIQUE,
    title      TEXT,
    artist     TEXT,
    year       INTEGER,
    date       TEXT,
    medium     TEXT,
    museum     TEXT,
    city       TEXT,
    century,
    height_cm  REAL,
    width_cm   REAL,
    image      TEXT,
    in_stock   INTEGER NOT NULL DEFAULT 1,
    extra      TEXT
);
CREATE TABLE IF NOT EXISTS interactions (
    id         INTEGER PRIMARY KEY,
    user_id    TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    timestamp  REAL,
    kind       TEXT NOT NULL DEFAULT 'purchase',
    split      TEXT
);
CREATE INDEX IF NOT EXISTS interactions_user ON interactions (user_id);
CREATE INDEX IF NOT EXISTS interactions_item ON interactions (item_id);
CREATE TABLE IF NOT EXISTS runs (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    created    REAL NOT NULL,
    params     TEXT NOT NULL,
    results    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL
);
"""


class Workspace:
    """A project directory with an SQLite database and array stores.

    The constructor only stores the path; use :meth:`create` to make a new workspace or
    :meth:`open` to open an existing one.

    Parameters
    ----------
    root
        The workspace directory.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._tx = threading.local()  # the connection of an open transaction(), per thread

    # -- life cycle -------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, *, exist_ok: bool = True) -> Workspace:
        """Create (or, with ``exist_ok``, reuse) a workspace at ``root``."""
        ws = cls(root)
        if ws.db_path.exists() and not exist_ok:
            raise ArtrecError(f"workspace {ws.root} already exists")
        for d in (
            ws.root,
            ws.features_dir,
            ws.embeddings_dir,
            ws.index_dir,
            ws.images_dir,
            ws.reports_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
        with ws.connect() as con:
            con.executescript(_SCHEMA)
            con.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        return ws

    @classmethod
    def open(cls, root: str | Path) -> Workspace:
        """Open an existing workspace; raise :class:`ArtrecError` if there is none at ``root``."""
        ws = cls(root)
        if not ws.db_path.is_file():
            raise ArtrecError(
                f"no artrec workspace at {ws.root} (missing {DB_NAME}); "
                "create one with `artrec import-seed` or `artrec demo`"
            )
        return ws

    # -- paths --------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        return self.root / DB_NAME

    @property
    def features_dir(self) -> Path:
        """Directory of extracted feature sets."""
        return self.root / "features"

    @property
    def embeddings_dir(self) -> Path:
        """Directory of fitted embeddings."""
        return self.root / "embeddings"

    @property
    def index_dir(self) -> Path:
        """Directory of saved similarity indexes."""
        return self.root / "index"

    @property
    def images_dir(self) -> Path:
        """Directory of downloaded or copied images."""
        return self.root / "images"

    @property
    def reports_dir(self) -> Path:
        """Directory of reports."""
        return self.root / "reports"

    @property
    def models_dir(self) -> Path:
        """Directory of saved recommenders (``models/<name>/``), made on first save."""
        return self.root / "models"

    # -- database -----------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in WAL mode; commits on success, rolls back on error, then closes.

        Inside :meth:`transaction` it is that transaction's connection, committed at its end.
        """
        shared = getattr(self._tx, "con", None)
        if shared is not None:
            yield shared
            return
        con = sqlite3.connect(self.db_path, timeout=30.0)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=30000")
            yield con
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make every write inside the block one transaction: all of it is stored, or none.

        The methods called in the block (in this thread) share one connection, committed
        when the block ends and rolled back if it raises. Nested blocks join the outer one.
        """
        if getattr(self._tx, "con", None) is not None:
            yield
            return
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            self._tx.con = con
            try:
                yield
            finally:
                self._tx.con = None

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A value from the ``meta`` table."""
        with self.connect() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the ``meta`` table."""
        with self.connect() as con:
            con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- catalogue ----------------------------------------------------------------------
    def upsert_items(self, catalog: Catalog) -> int:
        """Insert the catalogue's items, or update those already present. Returns the count.

        New items are appended after the existing ones, so existing rows keep their order.
        """
        columns = ("item_id", *METADATA_FIELDS, "image", "in_stock", "extra")
        known = set(METADATA_FIELDS)
        extra_cols = [c for c in catalog.metadata if c not in known]
        records = []
        for row in range(catalog.n_items):
            values: list[Any] = [catalog.item_ids[row]]
            for name in METADATA_FIELDS:
                col = catalog.metadata.get(name)
                values.append(None if col is None else _plain(col[row]))
            values.append(None if catalog.image is None else _plain(catalog.image[row]))
            values.append(int(bool(catalog.in_stock[row])))
            extra = {c: _plain(catalog.metadata[c][row]) for c in extra_cols}
            values.append(json.dumps(extra) if extra else None)
            records.append(values)
        placeholders = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        with self.connect() as con:
            con.executemany(
                f"INSERT INTO items ({', '.join(columns)}) VALUES ({placeholders}) "
                f"ON CONFLICT(item_id) DO UPDATE SET {updates}",
                records,
            )
            if catalog.stock_known:
                con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('stock_known', '1')")
        return len(records)

    def catalog(self) -> Catalog:
        """The whole catalogue, in row order."""
        with self.connect() as con:
            cur = con.execute(
                f"SELECT item_id, {', '.join(METADATA_FIELDS)}, image, in_stock, extra "
                "FROM items ORDER BY row"
            )
            rows = cur.fetchall()
            stock_known = (
                con.execute("SELECT value FROM meta WHERE key = 'stock_known'").fetchone()
                is not None
            )
        n = len(rows)
        ids = np.empty(n, dtype=object)
        meta = {name: np.empty(n, dtype=object) for name in METADATA_FIELDS}
        image = np.empty(n, dtype=object)
        stock = np.empty(n, dtype=bool)
        extras: dict[str, np.ndarray] = {}
        for r, rec in enumerate(rows):
            ids[r] = rec[0]
            for j, name in enumerate(METADATA_FIELDS):
                meta[name][r] = rec[1 + j]
            image[r] = rec[1 + len(METADATA_FIELDS)]
            stock[r] = bool(rec[2 + len(METADATA_FIELDS)])
            extra_json = rec[3 + len(METADATA_FIELDS)]
            if extra_json:
                for key, value in json.loads(extra_json).items():
                    extras.setdefault(key, np.full(n, None, dtype=object))[r] = value
        metadata = {k: v for k, v in meta.items() if any(x is not None for x in v.tolist())}
        metadata.update(extras)
        return Catalog(ids, metadata, image, stock, stock_known=stock_known)

    def n_items(self) -> int:
        """Number of items in the catalogue."""
        with self.connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def set_in_stock(self, item_ids: Any, in_stock: bool) -> int:
        """Mark items as in stock or sold; returns how many rows changed.

        Raises :class:`UnknownIdError` naming the first id not in the catalogue.
        """
        ids = as_id_array(item_ids).tolist()
        with self.connect() as con:
            for item_id in ids:
                if (
                    con.execute("SELECT 1 FROM items WHERE item_id = ?", (item_id,)).fetchone()
                    is None
                ):
                    raise UnknownIdError(f"unknown item id {item_id!r}")
            con.executemany(
                "UPDATE items SET in_stock = ? WHERE item_id = ?",
                [(int(in_stock), i) for i in ids],
            )
            con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('stock_known', '1')")
        return len(ids)

    # -- interactions -----------------------------------------------------------------
    def add_interactions(self, interactions: Interactions) -> int:
        """Append events to the log; returns how many were written."""
        ts = interactions.timestamps
        if np.isinf(ts).any():
            raise DataError("interaction timestamps must be finite or NaN (unknown)")
        splits = interactions.splits
        records = [
            (
                interactions.user_ids[i],
                interactions.item_ids[i],
                None if np.isnan(ts[i]) else float(ts[i]),
                str(interactions.kinds[i]),
                None if splits is None or splits[i] is None else str(splits[i]),
            )
            for i in range(len(interactions))
        ]
        with self.connect() as con:
            con.executemany(
                "INSERT INTO interactions (user_id, item_id, timestamp, kind, split) VALUES (?, ?, ?, ?, ?)",
                records,
            )
        return len(records)

    def interactions(
        self, kinds: tuple[str, ...] | None = None, user_id: str | None = None
    ) -> Interactions:
        """The interaction log (optionally only some kinds, or one user), in insertion order."""
        sql = "SELECT user_id, item_id, timestamp, kind, split FROM interactions"
        clauses: list[str] = []
        params: list[Any] = []
        if kinds:
            clauses.append(f"kind IN ({', '.join('?' for _ in kinds)})")
            params.extend(kinds)
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(str(user_id))
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id"
        with self.connect() as con:
            rows = con.execute(sql, params).fetchall()
        n = len(rows)
        cols = [np.empty(n, dtype=object) for _ in range(5)]
        for r, rec in enumerate(rows):
            for j in range(5):
                cols[j][r] = rec[j]
        ts = np.array([np.nan if t is None else t for t in cols[2].tolist()], dtype=np.float64)
        has_split = any(s is not None for s in cols[4].tolist())
        return Interactions(cols[0], cols[1], ts, cols[3], cols[4] if has_split else None)

    def delete_interactions(self, user_id: str, item_id: str, kind: str | None = None) -> int:
        """Delete a user's events on an item (of one kind, if given); returns how many."""
        sql = "DELETE FROM interactions WHERE user_id = ? AND item_id = ?"
        params: list[Any] = [str(user_id), str(item_id)]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        with self.connect() as con:
            return con.execute(sql, params).rowcount

    # -- runs ---------------------------------------------------------------------------
    def record_run(self, kind: str, params: dict[str, Any], results: dict[str, Any]) -> int:
        """Store the parameters and results of a run (evaluation, extraction, ...); returns its id."""
        with self.connect() as con:
            cur = con.execute(
                "INSERT INTO runs (kind, created, params, results) VALUES (?, ?, ?, ?)",
                (
                    kind,
                    time.time(),
                    json.dumps(params, default=str),
                    json.dumps(results, default=str),
                ),
            )
            return int(cur.lastrowid or 0)

    def runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Stored runs, newest first."""
        sql = "SELECT id, kind, created, params, results FROM runs"
        params: tuple[Any, ...] = ()
        if kind is not None:
            sql += " WHERE kind = ?"
            params = (kind,)
        with self.connect() as con:
            rows = con.execute(sql + " ORDER BY id DESC", params).fetchall()
        return [
            {
                "id": r[0],
                "kind": r[1],
                "created": r[2],
                "params": json.loads(r[3]),
                "results": json.loads(r[4]),
            }
            for r in rows
        ]


def _plain(value: Any) -> Any:
    """Convert numpy scalars to Python values for SQLite/JSON; NaN becomes None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
