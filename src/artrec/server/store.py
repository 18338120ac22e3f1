"""The server's store of items, stock and interactions, through SQLAlchemy Core.

By default the store is the workspace's own SQLite database (``artrec.db``, the same
``items`` and ``interactions`` tables the CLI uses, so both see the same likes), opened
in WAL mode with a busy timeout so that concurrent requests and processes can read while
one writes. Every write is a single SQL statement in its own transaction.

Given a PostgreSQL URL, the store creates the same tables there on first start and copies
the workspace's catalogue (and, on that first start, its interaction log) into them. From
then on PostgreSQL is the source of truth for stock and interactions; the workspace still
provides the embeddings and images.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence, Set
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from artrec.data import schema
from artrec.data.catalog import METADATA_FIELDS
from artrec.data.schema import century_text
from artrec.data.schema import interactions as interactions_table
from artrec.data.schema import items as items_table
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError, ReadOnlyError, UnknownIdError

#: Catalogue columns returned for an item, besides ``item_id``, ``in_stock`` and ``extra``.
ITEM_FIELDS: tuple[str, ...] = METADATA_FIELDS

_COPY_BATCH = 2000

#: Most users whose item ids :meth:`Store.user_item_ids` keeps per process (SQLite).
PROFILE_CACHE = 10_000

#: What an item record is read with (the image location is read on its own).
_ITEM_SELECT = [items_table.c[n] for n in schema.ITEM_COLUMNS if n != "image"]
_COPY_SELECT = [items_table.c[n] for n in schema.ITEM_COLUMNS]


def normalise_database_url(url: str) -> sa.URL:
    """Parse a database URL; ``postgresql://`` and ``postgres://`` select the psycopg driver.

    Raises :class:`ArtrecError` for a malformed URL or a database other than SQLite or
    PostgreSQL.
    """
    text = url.strip()
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://") :]
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise ArtrecError(f"cannot parse database URL {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgresql+psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ArtrecError(
            f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}; "
            "use a postgresql:// URL or leave it out for the workspace's SQLite"
        )
    return parsed


class Store:
    """Items, stock and interactions behind the API.

    Build one with :meth:`open`; the constructor only stores its arguments.

    Parameters
    ----------
    engine
        A SQLAlchemy engine whose database holds the ``items``, ``interactions`` and
        ``meta`` tables.
    cache_size
        Most item records :meth:`items` keeps in memory. Metadata (title, artist, ...) is
        cached; the stock flag never is.
    read_only
        Refuse every write with :class:`~artrec.errors.ReadOnlyError` (the store of a
        read-only workspace).
    """

    def __init__(
        self, engine: SAEngine, *, cache_size: int = 100_000, read_only: bool = False
    ) -> None:
        self.engine = engine
        self.cache_size = cache_size
        self.read_only = read_only
        self._records: dict[str, dict[str, Any]] = {}
        # Sold-set cache (SQLite only): valid while the database's data_version, read on a
        # dedicated connection, is unchanged; any commit by another connection (this
        # process's pool, other workers, the CLI) changes it.
        self._sold: frozenset[str] | None = None
        self._sold_version: int | None = None
        # Each user's item ids (SQLite only), valid on the same terms: (version, ids).
        self._profiles: dict[tuple[str, tuple[str, ...]], tuple[int, tuple[str, ...]]] = {}
        self._version_conn: sqlite3.Connection | None = None
        self._version_lock = threading.Lock()

    # -- life cycle -------------------------------------------------------------------
    @classmethod
    def open(cls, workspace: Workspace, database_url: str | None = None) -> Store:
        """Open the store of ``workspace``: its SQLite database, or PostgreSQL at ``database_url``.

        With PostgreSQL the tables are created when missing, and catalogue items missing
        from the database are copied from the workspace (with the workspace's interactions
        too when the database had no items yet). Raises :class:`ArtrecError` when the
        database cannot be reached.
        """
        if database_url is None:
            url = sa.URL.create("sqlite", database=str(workspace.db_path))
        else:
            url = normalise_database_url(database_url)
        safe = url.render_as_string(hide_password=True)
        read_only = database_url is None and workspace.read_only
        try:
            if url.get_backend_name() == "sqlite":
                engine = schema.sqlite_engine(url.database or "", pooled=True, read_only=read_only)
            else:
                engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        except (SQLAlchemyError, ImportError) as exc:
            raise ArtrecError(f"cannot use database {safe}: {exc}") from None
        store = cls(engine, read_only=read_only)
        try:
            store._prepare(workspace)
        except SQLAlchemyError as exc:
            engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise ArtrecError(f"cannot open database {safe}: {reason}") from None
        return store

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return str(self.engine.dialect.name)

    def close(self) -> None:
        """Release the database connections."""
        with self._version_lock:
            if self._version_conn is not None:
                self._version_conn.close()
                self._version_conn = None
            self._sold = None
            self._profiles.clear()
        self.engine.dispose()

    def _prepare(self, workspace: Workspace) -> None:
        if self.read_only:
            return  # Workspace.open checked the schema version
        schema.ensure_schema(self.engine)
        if self.backend == "sqlite":
            return
        with self.engine.begin() as conn:
            schema.lock_schema(conn)
            first_start = (
                conn.execute(sa.select(sa.func.count()).select_from(items_table)).scalar_one() == 0
            )
            self._copy_catalogue(conn, workspace)
            if first_start:
                self._copy_interactions(conn, workspace)

    @staticmethod
    def _copy_catalogue(conn: sa.Connection, workspace: Workspace) -> None:
        have = set(conn.execute(sa.select(items_table.c.item_id)).scalars())
        next_row = (conn.execute(sa.select(sa.func.max(items_table.c.row))).scalar() or 0) + 1
        stmt = sa.select(*_COPY_SELECT).order_by(items_table.c.row)
        with workspace.connect() as src:
            for batch in src.execution_options(yield_per=_COPY_BATCH).execute(stmt).partitions():
                records = []
                for rec in batch:
                    if rec[0] in have:
                        continue
                    values = dict(zip(schema.ITEM_COLUMNS, rec, strict=True))
                    values["row"] = next_row
                    next_row += 1
                    values["year"] = _as_int(values["year"])
                    values["in_stock"] = int(bool(values["in_stock"]))
                    records.append(values)
                if records:
                    conn.execute(items_table.insert(), records)

    @staticmethod
    def _copy_interactions(conn: sa.Connection, workspace: Workspace) -> None:
        t = interactions_table
        stmt = sa.select(t.c.user_id, t.c.item_id, t.c.timestamp, t.c.kind, t.c.split).order_by(
            t.c.id
        )
        keys = ("user_id", "item_id", "timestamp", "kind", "split")
        with workspace.connect() as src:
            for batch in src.execution_options(yield_per=_COPY_BATCH).execute(stmt).partitions():
                conn.execute(t.insert(), [dict(zip(keys, rec, strict=True)) for rec in batch])

    # -- items --------------------------------------------------------------------------
    def item(self, item_id: str) -> dict[str, Any]:
        """One item as a plain dict; raises :class:`UnknownIdError` when it is not in the store."""
        with self.engine.connect() as conn:
            rec = conn.execute(
                sa.select(*_ITEM_SELECT).where(items_table.c.item_id == item_id)
            ).first()
        if rec is None:
            raise UnknownIdError(f"unknown item id {item_id!r}")
        return _item_dict(rec)

    def items(
        self, item_ids: Iterable[str], *, sold: Set[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Item id -> item dict for those of ``item_ids`` in the store (unknown ones left out).

        Metadata comes from an in-memory cache filled on first use (the server never edits
        it); ``in_stock`` is always current: from ``sold`` when the caller has just read
        :meth:`sold_item_ids`, else read now.
        """
        wanted = list(dict.fromkeys(item_ids))
        missing = [i for i in wanted if i not in self._records]
        if missing and not self._records:
            self._prefill()
            missing = [i for i in wanted if i not in self._records]
        if missing:
            if len(self._records) + len(missing) > self.cache_size:
                self._records.clear()
            with self.engine.connect() as conn:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    for rec in conn.execute(
                        sa.select(*_ITEM_SELECT).where(items_table.c.item_id.in_(chunk))
                    ):
                        self._records[rec[0]] = _item_dict(rec)
        if sold is None:
            sold = self.sold_set()
        out: dict[str, dict[str, Any]] = {}
        for item_id in wanted:
            cached = self._records.get(item_id)
            if cached is not None:
                out[item_id] = {**cached, "in_stock": item_id not in sold}
        return out

    def _prefill(self) -> None:
        """Fill the metadata cache with the whole catalogue when it fits in ``cache_size``."""
        stmt = sa.select(*_ITEM_SELECT).limit(self.cache_size + 1)
        with self.engine.connect() as conn:
            records = {rec[0]: _item_dict(rec) for rec in conn.execute(stmt)}
        if len(records) <= self.cache_size:
            self._records.update(records)

    def search(
        self,
        *,
        q: str | None = None,
        artist: str | None = None,
        century: str | None = None,
        offset: int = 0,
        limit: int = 24,
    ) -> tuple[int, list[dict[str, Any]]]:
        """A page of the catalogue in row order, and the number of matching items.

        Parameters
        ----------
        q
            Text searched (case-insensitively, as a substring) in title and artist.
        artist
            Exact artist name (case-insensitive).
        century
            Century as text (``"19"``, ``"BCE"``).
        offset, limit
            The page.
        """
        clauses: list[Any] = []
        if q:
            pattern = "%" + _escape_like(q) + "%"
            clauses.append(
                sa.or_(
                    items_table.c.title.ilike(pattern, escape="\\"),
                    items_table.c.artist.ilike(pattern, escape="\\"),
                )
            )
        if artist:
            clauses.append(sa.func.lower(items_table.c.artist) == artist.lower())
        if century:
            clauses.append(sa.cast(items_table.c.century, sa.Text) == century)
        count = sa.select(sa.func.count()).select_from(items_table).where(*clauses)
        page = (
            sa.select(*_ITEM_SELECT)
            .where(*clauses)
            .order_by(items_table.c.row)
            .offset(offset)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = [_item_dict(rec) for rec in conn.execute(page)]
        return total, rows

    def image_location(self, item_id: str) -> str | None:
        """The recorded image location (path or URL) of an item; :class:`UnknownIdError` if unknown."""
        with self.engine.connect() as conn:
            rec = conn.execute(
                sa.select(items_table.c.image).where(items_table.c.item_id == item_id)
            ).first()
        if rec is None:
            raise UnknownIdError(f"unknown item id {item_id!r}")
        return None if rec[0] is None else str(rec[0])

    def set_in_stock(self, item_id: str, in_stock: bool) -> None:
        """Mark an item sold (``False``) or in stock; :class:`UnknownIdError` if unknown."""
        self._check_writable()
        with self.engine.begin() as conn:
            result = conn.execute(
                items_table.update()
                .where(items_table.c.item_id == item_id)
                .values(in_stock=int(bool(in_stock)))
            )
        self._sold = None
        if result.rowcount == 0:
            raise UnknownIdError(f"unknown item id {item_id!r}")

    def sold_item_ids(self) -> list[str]:
        """Ids of the items marked sold."""
        return sorted(self.sold_set())

    def sold_set(self) -> frozenset[str]:
        """Ids of the items marked sold, always current.

        With SQLite the set is cached per process and re-read only when the database's
        ``PRAGMA data_version`` changed (a few microseconds to check); with PostgreSQL it
        is read on every call, so a PATCH is seen by every worker at once.
        """
        version = self._data_version()
        if version is not None:
            cached = self._sold
            if cached is not None and version == self._sold_version:
                return cached
        sold = frozenset(self._read_sold())
        if version is not None:
            self._sold, self._sold_version = sold, version
        return sold

    def _read_sold(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(items_table.c.item_id).where(items_table.c.in_stock == 0)
                ).scalars()
            )

    def _data_version(self) -> int | None:
        """SQLite's ``data_version`` on a dedicated connection; ``None`` for other backends."""
        if self.backend != "sqlite":
            return None
        with self._version_lock:
            try:
                if self._version_conn is None:
                    database = self.engine.url.database
                    if not database or database == ":memory:":
                        return None
                    self._version_conn = sqlite3.connect(
                        database, timeout=30.0, check_same_thread=False, isolation_level=None
                    )
                row = self._version_conn.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                return None
        return int(row[0])

    # -- interactions -----------------------------------------------------------------
    def add_interaction(
        self, user_id: str, item_id: str, kind: str, *, timestamp: float | None = None
    ) -> bool:
        """Record ``user_id`` liking or buying ``item_id``; returns whether a row was written.

        A like that is already recorded is not written twice; purchases always are.
        Raises :class:`UnknownIdError` when the item is not in the store.
        """
        self._check_writable()
        if kind not in ("like", "purchase"):
            raise DataError(f"unknown interaction kind {kind!r}; choose like or purchase")
        if not self.has_item(item_id):
            raise UnknownIdError(f"unknown item id {item_id!r}")
        ts = time.time() if timestamp is None else float(timestamp)
        values = {"user_id": user_id, "item_id": item_id, "timestamp": ts, "kind": kind}
        i = interactions_table
        with self.engine.begin() as conn:
            if kind == "like":
                source = sa.select(
                    sa.literal(user_id, sa.Text),
                    sa.literal(item_id, sa.Text),
                    sa.literal(ts, sa.Float),
                    sa.literal(kind, sa.Text),
                ).where(
                    ~sa.exists().where(
                        i.c.user_id == user_id, i.c.item_id == item_id, i.c.kind == kind
                    )
                )
                inserted = conn.execute(
                    i.insert()
                    .from_select(["user_id", "item_id", "timestamp", "kind"], source)
                    .returning(i.c.id)
                ).first()
            else:
                inserted = conn.execute(
                    interactions_table.insert().values(**values).returning(i.c.id)
                ).first()
        return inserted is not None

    def delete_interactions(self, user_id: str, item_id: str, kind: str | None = "like") -> int:
        """Delete ``user_id``'s events of ``kind`` (all kinds if ``None``) on ``item_id``; returns how many."""
        self._check_writable()
        i = interactions_table
        stmt = i.delete().where(i.c.user_id == user_id, i.c.item_id == item_id)
        if kind is not None:
            stmt = stmt.where(i.c.kind == kind)
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def user_item_ids(self, user_id: str, kinds: Sequence[str] = ("like", "purchase")) -> list[str]:
        """Distinct item ids of ``user_id``'s events of ``kinds``, in order of first event.

        Always current. With SQLite the list is cached per process (at most
        :data:`PROFILE_CACHE` users) and read again only when the database's ``PRAGMA
        data_version`` changed, as :meth:`sold_set` is; with PostgreSQL it is read on every
        call.
        """
        key = (user_id, tuple(kinds))
        version = self._data_version()
        if version is not None:
            cached = self._profiles.get(key)
            if cached is not None and cached[0] == version:
                return list(cached[1])
        ids = self._read_user_item_ids(user_id, kinds)
        if version is not None:  # a write after the version was read changes it again
            if len(self._profiles) >= PROFILE_CACHE:
                self._profiles.clear()
            self._profiles[key] = (version, tuple(ids))
        return ids

    def _read_user_item_ids(self, user_id: str, kinds: Sequence[str]) -> list[str]:
        i = interactions_table
        first = sa.func.min(i.c.id)
        stmt = (
            sa.select(i.c.item_id)
            .where(i.c.user_id == user_id, i.c.kind.in_(list(kinds)))
            .group_by(i.c.item_id)
            .order_by(first)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(
                "this server's store is read-only (its workspace database cannot be written)"
            )

    def has_item(self, item_id: str) -> bool:
        """Whether ``item_id`` is in the store."""
        with self.engine.connect() as conn:
            stmt = sa.select(items_table.c.row).where(items_table.c.item_id == item_id)
            return conn.execute(stmt).first() is not None

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(1))
        except (SQLAlchemyError, sqlite3.Error):
            return False
        return True


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _as_int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _as_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _item_dict(rec: Sequence[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"item_id": rec[0]}
    for j, name in enumerate(ITEM_FIELDS):
        out[name] = rec[1 + j]
    out["century"] = century_text(out["century"])
    out["year"] = _as_int(out["year"])
    out["height_cm"] = _as_float(out["height_cm"])
    out["width_cm"] = _as_float(out["width_cm"])
    for name in ("title", "artist", "date", "medium", "museum", "city"):
        out[name] = None if out[name] is None else str(out[name])
    out["in_stock"] = bool(rec[1 + len(ITEM_FIELDS)])
    extra: dict[str, Any] = {}
    raw = rec[2 + len(ITEM_FIELDS)]
    if raw:
        try:
            parsed = json.loads(raw)
        except (TypeError, ValueError):
            parsed = {}
        if isinstance(parsed, dict):
            extra = {
                str(k): v
                for k, v in parsed.items()
                if v is None or isinstance(v, (str, int, float, bool))
            }
    out["extra"] = extra
    return out
