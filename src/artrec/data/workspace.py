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

The database holds the tables of :mod:`artrec.data.schema` (the server's store uses the
same ones) and is opened in WAL mode with a busy timeout, so several processes (the CLI, a
server's workers) can read while one writes. Rows of the ``items`` table keep insertion
order, which is the catalogue's row order.

The workspace owns two shared rules: which embedding is meant when none is named
(:meth:`Workspace.resolve_embedding`) and which items are sold
(:meth:`Workspace.sold_set`, the :class:`StockSource` the engine reads).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa

from artrec.data import schema
from artrec.data.catalog import METADATA_FIELDS, Catalog, Interactions
from artrec.errors import (
    ArtrecError,
    DataError,
    ReadOnlyError,
    UnknownIdError,
    check_choice,
    short_repr,
)
from artrec.vectors import FeatureSet, as_id_array

SCHEMA_VERSION = schema.SCHEMA_VERSION
DB_NAME = "artrec.db"
#: Meta key of the default embedding (set by ``artrec embed`` unless ``--no-default``).
DEFAULT_EMBEDDING_KEY = "default_embedding"
#: Meta key set once the catalogue's stock is known (a source said, or an item was sold).
STOCK_KNOWN_KEY = "stock_known"


class StockSource(Protocol):
    """Where the engine reads which items are sold: a workspace, or the server's store."""

    def sold_set(self) -> frozenset[str]:
        """Ids of the items marked sold, current at the time of the call."""
        ...


class Workspace:
    """A project directory with an SQLite database and array stores.

    The constructor only stores the path; use :meth:`create` to make a new workspace or
    :meth:`open` to open an existing one.

    Parameters
    ----------
    root
        The workspace directory.
    """

    def __init__(self, root: str | Path, *, read_only: bool = False) -> None:
        self.root = Path(root)
        self.read_only = read_only
        self._engine: sa.Engine | None = None
        self._tx = threading.local()  # the connection of an open transaction(), per thread

    # -- life cycle -------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, *, exist_ok: bool = True) -> Workspace:
        """Create (or, with ``exist_ok``, reuse) a workspace at ``root``.

        Raises :class:`ArtrecError` when ``root`` is a file, or a folder that cannot be
        written.
        """
        ws = cls(root)
        if ws.root.exists() and not ws.root.is_dir():
            raise ArtrecError(f"cannot create a workspace at {ws.root}: it is a file, not a folder")
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
            try:
                d.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise ArtrecError(
                    f"cannot create a workspace at {ws.root}: {d} is a file"
                ) from None
        with ws._database_errors():
            schema.ensure_schema(ws.engine)
        return ws

    @classmethod
    def open(cls, root: str | Path, *, read_only: bool | None = None) -> Workspace:
        """Open an existing workspace; raise :class:`ArtrecError` if there is none at ``root``.

        Parameters
        ----------
        root
            The workspace directory.
        read_only
            ``None`` (the default): read-only when the database file or its folder cannot
            be written by this process (a read-only copy, another user's workspace, a
            read-only mount), else read-write. ``True``: read-only whatever the
            permissions. A read-only workspace never writes to its database (see
            :func:`artrec.data.schema.sqlite_engine`); a write raises
            :class:`~artrec.errors.ReadOnlyError`.

        A writable workspace with an older database schema is migrated in place; a
        read-only one must already have the current schema.
        """
        ws = cls(root)
        if not ws.db_path.is_file():
            if ws.root.exists() and not ws.root.is_dir():
                raise ArtrecError(f"no artrec workspace at {ws.root}: it is a file, not a folder")
            raise ArtrecError(
                f"no artrec workspace at {ws.root} (missing {DB_NAME}); "
                "create one with `artrec import`, `artrec import-seed` or `artrec demo`"
            )
        ws.read_only = not ws.writable() if read_only is None else bool(read_only)
        version = ws.get_meta("schema_version")
        if version != str(SCHEMA_VERSION):
            if ws.read_only:
                raise ReadOnlyError(
                    f"workspace {ws.root} has database schema {short_repr(version)} and is "
                    f"read-only; open it once with write access to migrate it to {SCHEMA_VERSION}"
                )
            with ws._database_errors():
                schema.ensure_schema(ws.engine)
        return ws

    def writable(self) -> bool:
        """Whether this process may write the database file, its folder and its WAL files."""
        paths = [self.root, self.db_path]
        paths += [p for p in (self._wal_path, self._shm_path) if p.exists()]
        return all(os.access(p, os.W_OK) for p in paths)

    @property
    def _wal_path(self) -> Path:
        return self.db_path.with_name(DB_NAME + "-wal")

    @property
    def _shm_path(self) -> Path:
        return self.db_path.with_name(DB_NAME + "-shm")

    def _database_errors(self) -> Any:
        return schema.database_errors(f"workspace {self.root}: {DB_NAME}")

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
    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine on ``artrec.db`` (a connection per use, WAL, busy timeout;
        read-only URIs when the workspace is read-only)."""
        if self._engine is None:
            self._engine = schema.sqlite_engine(self.db_path, read_only=self.read_only)
        return self._engine

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection in a transaction: committed on success, rolled back on error.

        Inside :meth:`transaction` it is that transaction's connection, committed at its end.
        SQLite's errors become one-line :class:`ArtrecError` s naming the workspace
        (:func:`artrec.data.schema.database_errors`): a damaged or locked database, or a
        write to a read-only one (:class:`~artrec.errors.ReadOnlyError`).
        """
        shared = getattr(self._tx, "con", None)
        if shared is not None:
            yield shared
            return
        with self._database_errors(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make every write inside the block one transaction: all of it is stored, or none.

        The methods called in the block (in this thread) share one connection, committed
        when the block ends and rolled back if it raises. Nested blocks join the outer one.
        """
        if getattr(self._tx, "con", None) is not None:
            yield
            return
        if self.read_only:
            raise ReadOnlyError(
                f"workspace {self.root} is read-only; this command needs to write to it"
            )
        with self.connect() as con:
            con.exec_driver_sql("BEGIN IMMEDIATE")
            self._tx.con = con
            try:
                yield
            finally:
                self._tx.con = None

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A value from the ``meta`` table."""
        with self.connect() as con:
            value = con.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == key)
            ).scalar()
        return default if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the ``meta`` table."""
        with self.connect() as con:
            schema.set_meta(con, key, value)

    # -- embeddings ---------------------------------------------------------------------
    def embedding_names(self) -> list[str]:
        """Names of the embeddings stored in ``embeddings/``, sorted."""
        return FeatureSet.available(self.embeddings_dir)

    def resolve_embedding(self, name: str | None = None) -> str:
        """The embedding meant by ``name``: the one rule every caller uses.

        A given name must exist. Without one, the workspace's default embedding (meta key
        ``default_embedding``, set by ``artrec embed``) is used when it exists; otherwise the
        only embedding when there is exactly one.

        Raises
        ------
        DataError
            For an unknown name, no embedding at all, or several and no (valid) default.
        """
        available = self.embedding_names()
        if name is not None:
            if name not in available:
                have = ", ".join(available) or "none; create one with `artrec embed`"
                raise DataError(
                    f"no embedding {short_repr(name)} in workspace {self.root} (available: {have})"
                )
            return name
        default = self.get_meta(DEFAULT_EMBEDDING_KEY)
        if default is not None and default in available:
            return default
        if len(available) == 1:
            return available[0]
        if not available:
            raise DataError(
                f"workspace {self.root} has no embedding and so no default embedding; "
                "create one with `artrec embed`"
            )
        return _no_default(available)

    # -- catalogue ----------------------------------------------------------------------
    def upsert_items(self, catalog: Catalog) -> int:
        """Insert the catalogue's items, or update those already present. Returns the count.

        New items are appended after the existing ones, so existing rows keep their order.
        """
        known = set(METADATA_FIELDS)
        extra_cols = [c for c in catalog.metadata if c not in known]
        records = []
        for row in range(catalog.n_items):
            record: dict[str, Any] = {"item_id": catalog.item_ids[row]}
            for name in METADATA_FIELDS:
                col = catalog.metadata.get(name)
                record[name] = None if col is None else _plain(col[row])
            record["image"] = None if catalog.image is None else _plain(catalog.image[row])
            record["in_stock"] = int(bool(catalog.in_stock[row]))
            extra = {c: _plain(catalog.metadata[c][row]) for c in extra_cols}
            record["extra"] = json.dumps(extra) if extra else None
            records.append(record)
        with self.connect() as con:
            schema.upsert(con, schema.items, records, ["item_id"])
            if catalog.stock_known:
                schema.set_meta(con, STOCK_KNOWN_KEY, "1")
        return len(records)

    def catalog(self) -> Catalog:
        """The whole catalogue, in row order."""
        columns = [schema.items.c[name] for name in schema.ITEM_COLUMNS]
        with self.connect() as con:
            rows = con.execute(sa.select(*columns).order_by(schema.items.c.row)).all()
            stock_known = _get(con, STOCK_KNOWN_KEY) is not None
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
            return int(
                con.execute(sa.select(sa.func.count()).select_from(schema.items)).scalar_one()
            )

    # -- stock --------------------------------------------------------------------------
    def set_in_stock(self, item_ids: Any, in_stock: bool) -> int:
        """Mark items as in stock or sold; returns how many rows changed.

        Raises :class:`UnknownIdError` naming the first id not in the catalogue.
        """
        ids = as_id_array(item_ids).tolist()
        items = schema.items
        with self.connect() as con:
            for item_id in ids:
                if (
                    con.execute(sa.select(items.c.row).where(items.c.item_id == item_id)).first()
                    is None
                ):
                    raise UnknownIdError(f"unknown item id {short_repr(item_id)}")
            con.execute(
                items.update()
                .where(items.c.item_id == sa.bindparam("id"))
                .values(in_stock=int(bool(in_stock))),
                [{"id": i} for i in ids],
            )
            schema.set_meta(con, STOCK_KNOWN_KEY, "1")
        return len(ids)

    def sold_set(self) -> frozenset[str]:
        """Ids of the items marked sold (read now; see :class:`StockSource`)."""
        items = schema.items
        with self.connect() as con:
            return frozenset(
                con.execute(sa.select(items.c.item_id).where(items.c.in_stock == 0)).scalars()
            )

    # -- interactions -----------------------------------------------------------------
    def add_interactions(self, interactions: Interactions) -> int:
        """Append events to the log; returns how many were written."""
        ts = interactions.timestamps
        if np.isinf(ts).any():
            raise DataError("interaction timestamps must be finite or NaN (unknown)")
        splits = interactions.splits
        records = [
            {
                "user_id": interactions.user_ids[i],
                "item_id": interactions.item_ids[i],
                "timestamp": None if np.isnan(ts[i]) else float(ts[i]),
                "kind": str(interactions.kinds[i]),
                "split": None if splits is None or splits[i] is None else str(splits[i]),
            }
            for i in range(len(interactions))
        ]
        if records:
            with self.connect() as con:
                con.execute(schema.interactions.insert(), records)
        return len(records)

    def event_kinds(self) -> list[str]:
        """The kinds of event the log holds, sorted."""
        t = schema.interactions
        with self.connect() as con:
            return sorted(str(k) for k in con.execute(sa.select(t.c.kind).distinct()).scalars())

    def check_kinds(self, kinds: Any) -> tuple[str, ...]:
        """``kinds`` as a tuple, each one a kind of the log or a positive kind (``purchase``,
        ``like``); otherwise :class:`DataError` listing the known kinds."""
        from artrec.data.importer import POSITIVE_KINDS

        known = sorted(set(self.event_kinds()) | set(POSITIVE_KINDS))
        wanted = tuple(kinds)
        for kind in wanted:
            check_choice(kind, known, "event kind")
        return wanted

    def interactions(
        self, kinds: tuple[str, ...] | None = None, user_id: str | None = None
    ) -> Interactions:
        """The interaction log (optionally only some kinds, or one user), in insertion order."""
        t = schema.interactions
        stmt = sa.select(t.c.user_id, t.c.item_id, t.c.timestamp, t.c.kind, t.c.split)
        if kinds:
            stmt = stmt.where(t.c.kind.in_(list(kinds)))
        if user_id is not None:
            stmt = stmt.where(t.c.user_id == str(user_id))
        with self.connect() as con:
            rows = con.execute(stmt.order_by(t.c.id)).all()
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
        t = schema.interactions
        stmt = t.delete().where(t.c.user_id == str(user_id), t.c.item_id == str(item_id))
        if kind is not None:
            stmt = stmt.where(t.c.kind == kind)
        with self.connect() as con:
            return int(con.execute(stmt).rowcount)

    def delete_users(self, user_prefix: str) -> int:
        """Delete every event of the users whose id starts with ``user_prefix``; returns how many."""
        t = schema.interactions
        pattern = user_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.connect() as con:
            return int(
                con.execute(t.delete().where(t.c.user_id.like(pattern, escape="\\"))).rowcount
            )

    # -- runs ---------------------------------------------------------------------------
    def record_run(self, kind: str, params: dict[str, Any], results: dict[str, Any]) -> int:
        """Store the parameters and results of a run (evaluation, extraction, ...); returns its id."""
        with self.connect() as con:
            run_id = con.execute(
                schema.runs.insert()
                .values(
                    kind=kind,
                    created=time.time(),
                    params=json.dumps(params, default=str),
                    results=json.dumps(results, default=str),
                )
                .returning(schema.runs.c.id)
            ).scalar_one()
        return int(run_id)

    def runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Stored runs, newest first."""
        r = schema.runs
        stmt = sa.select(r.c.id, r.c.kind, r.c.created, r.c.params, r.c.results)
        if kind is not None:
            stmt = stmt.where(r.c.kind == kind)
        with self.connect() as con:
            rows = con.execute(stmt.order_by(r.c.id.desc())).all()
        return [
            {
                "id": row[0],
                "kind": row[1],
                "created": row[2],
                "params": json.loads(row[3]),
                "results": json.loads(row[4]),
            }
            for row in rows
        ]


def _get(con: sa.Connection, key: str) -> str | None:
    value = con.execute(sa.select(schema.meta.c.value).where(schema.meta.c.key == key)).scalar()
    return None if value is None else str(value)


def _no_default(available: list[str]) -> str:
    raise DataError(
        "several embeddings and no default: choose one of "
        + ", ".join(available)
        + " (or set one with `artrec embed`)"
    )


def _plain(value: Any) -> Any:
    """Convert numpy scalars to Python values for SQLite/JSON; NaN becomes None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
