"""The database schema: one set of SQLAlchemy Core tables, on SQLite and PostgreSQL.

The workspace (:class:`artrec.data.workspace.Workspace`, SQLite ``artrec.db``) and the
server's store (:class:`artrec.server.store.Store`, the same SQLite file or PostgreSQL) read
and write these tables only:

``items``         the catalogue, one row per artwork, ``row`` = catalogue order
``interactions``  the event log (user, item, timestamp, kind, optional train/test split)
``runs``          what was run (evaluations, extractions, ...) with its parameters and results
``meta``          key -> text (``schema_version``, ``default_embedding``, ``stock_known``, ...)

``century`` holds text (``"19"``, ``"BCE"``); :class:`CenturyType` hands numeric centuries
back as ``int``, as the loaders produce them. SQLite connections run in WAL mode with a busy
timeout (:func:`sqlite_engine`), so the server's workers and the CLI can read while one
writes. :func:`ensure_schema` creates missing tables and migrates an older SQLite database
in one immediate transaction (schema version 1 had an untyped ``century`` column).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool

from artrec.data.catalog import METADATA_FIELDS
from artrec.errors import DatabaseUnusableError, ReadOnlyError, short_repr

#: Version of the schema written by this code (stored in ``meta``).
SCHEMA_VERSION = 2
#: Seconds a connection waits for another writer before giving up.
BUSY_TIMEOUT_S = 30.0
#: PostgreSQL advisory lock ("artr") that serialises schema work among worker processes.
_PG_LOCK_KEY = 0x61727472


class CenturyType(sa.types.TypeDecorator[Any]):
    """A century stored as text; ``"19"`` (or a legacy integer) reads back as ``19``."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return century_text(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        return value


def century_text(value: Any) -> str | None:
    """A century as the text stored: ``19`` and ``19.0`` become ``"19"``; ``None`` stays."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).strip()
    return text or None


metadata = sa.MetaData()

items = sa.Table(
    "items",
    metadata,
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.Text, nullable=False, unique=True),
    sa.Column("title", sa.Text),
    sa.Column("artist", sa.Text),
    sa.Column("year", sa.Integer),
    sa.Column("date", sa.Text),
    sa.Column("medium", sa.Text),
    sa.Column("museum", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("century", CenturyType),
    sa.Column("height_cm", sa.Float),
    sa.Column("width_cm", sa.Float),
    sa.Column("image", sa.Text),
    sa.Column("in_stock", sa.Integer, nullable=False, server_default="1"),
    sa.Column("extra", sa.Text),
)
#: Sold items, found without a scan (partial index).
items_sold = sa.Index(
    "items_sold",
    items.c.in_stock,
    sqlite_where=items.c.in_stock == 0,
    postgresql_where=items.c.in_stock == 0,
)

interactions = sa.Table(
    "interactions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("item_id", sa.Text, nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("kind", sa.Text, nullable=False, server_default="purchase"),
    sa.Column("split", sa.Text),
    sa.Index("interactions_user", "user_id"),
    sa.Index("interactions_item", "item_id"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("results", sa.Text, nullable=False),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: The columns a catalogue record is read and copied with, in this order.
ITEM_COLUMNS: tuple[str, ...] = ("item_id", *METADATA_FIELDS, "image", "in_stock", "extra")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    _wal_mode(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _wal_mode(cur: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried until the busy timeout: turning a rollback-journal
    database (an older workspace) into WAL needs an exclusive lock, and SQLite answers
    "database is locked" at once, without its busy handler, while another process holds
    any lock on it (several processes opening the same old workspace together)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.1)


def _sqlite_read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cur.execute("PRAGMA query_only=ON")
    cur.close()


def sqlite_engine(path: str | Path, *, pooled: bool = False, read_only: bool = False) -> sa.Engine:
    """An engine on the SQLite file ``path``: WAL mode, a busy timeout, usable across threads.

    Without ``pooled`` every connection is opened and closed on use (safe across ``fork``);
    a server keeps a pool.

    With ``read_only`` nothing is ever written to the file, not even the WAL pragma: the
    database is opened with the URI ``mode=ro`` (SQLite then reads a WAL-mode database
    through its ``-wal`` and ``-shm`` files, creating them when the folder allows), and when
    that fails because the folder is read-only too, with ``immutable=1`` (SQLite then
    reads the main file alone and takes no locks). ``immutable`` is used only when no
    ``-wal`` file holds changes not yet merged into the main file, which it would ignore.
    Connections run with ``PRAGMA query_only``.
    """
    if not read_only:
        engine = sa.create_engine(
            sa.URL.create("sqlite", database=str(path)),
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
            **({} if pooled else {"poolclass": NullPool}),
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    file = Path(path).absolute()

    def connect() -> sqlite3.Connection:
        uri = file.as_uri()
        try:
            return _read_only_connection(f"{uri}?mode=ro")
        except sqlite3.OperationalError:
            wal = file.with_name(file.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise
        return _read_only_connection(f"{uri}?immutable=1")

    engine = sa.create_engine(
        "sqlite://", creator=connect, **({} if pooled else {"poolclass": NullPool})
    )
    event.listen(engine, "connect", _sqlite_read_only_pragmas)
    return engine


def _read_only_connection(uri: str) -> sqlite3.Connection:
    """A read-only connection on ``uri``, checked by reading the schema once."""
    con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        con.close()
        raise
    return con


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    records: Sequence[dict[str, Any]],
    key: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert ``records``; on a conflict on ``key`` update the ``update`` columns (``None``:
    every other column of the records; empty: keep the existing row)."""
    if not records:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    columns = [c for c in records[0] if c not in key] if update is None else list(update)
    if columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c[k] for k in key],
            set_={c: stmt.excluded[c] for c in columns},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=[table.c[k] for k in key])
    conn.execute(stmt, list(records))


def set_meta(conn: sa.Connection, key: str, value: str, *, overwrite: bool = True) -> None:
    """Set ``meta[key]`` (keep an existing value unless ``overwrite``)."""
    upsert(conn, meta, [{"key": key, "value": value}], ["key"], None if overwrite else [])


def ensure_schema(engine: sa.Engine) -> None:
    """Create missing tables and indexes, and migrate an older SQLite schema (idempotent).

    Safe when several processes open the same database at once: the SQLite migration runs
    in an immediate transaction and checks the version again inside it.
    """
    if engine.dialect.name == "sqlite":
        _migrate_sqlite(engine)
    with engine.begin() as conn:
        lock_schema(conn)
        metadata.create_all(conn, checkfirst=True)
        items_sold.create(conn, checkfirst=True)
        set_meta(conn, "schema_version", str(SCHEMA_VERSION), overwrite=False)


def lock_schema(conn: sa.Connection) -> None:
    """On PostgreSQL, hold an advisory lock until the transaction ends (no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))


def _migrate_sqlite(engine: sa.Engine) -> None:
    """Schema 1 -> 2: rebuild ``items`` with a typed ``century`` column (data kept)."""
    raw = engine.raw_connection()
    try:
        con: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
        if not _needs_century_type(con):
            return
        previous = con.isolation_level
        con.isolation_level = None
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                if _needs_century_type(con):  # another process may have migrated meanwhile
                    _rebuild_items(con, engine.dialect)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.isolation_level = previous
    finally:
        raw.close()


def _needs_century_type(con: sqlite3.Connection) -> bool:
    columns = {row[1]: row[2] for row in con.execute("PRAGMA table_info(items)")}
    return "century" in columns and not columns["century"]


def _rebuild_items(con: sqlite3.Connection, dialect: sa.Dialect) -> None:
    from sqlalchemy.schema import CreateIndex, CreateTable

    names = ", ".join(c.name for c in items.columns)
    values = ", ".join(
        "CASE WHEN typeof(century) = 'integer' THEN CAST(century AS TEXT) "
        "WHEN typeof(century) = 'real' AND century = CAST(century AS INTEGER) "
        "THEN CAST(CAST(century AS INTEGER) AS TEXT) ELSE century END"
        if c.name == "century"
        else f'"{c.name}"'
        for c in items.columns
    )
    con.execute("DROP INDEX IF EXISTS items_sold")
    con.execute("ALTER TABLE items RENAME TO items_v1")
    con.execute(str(CreateTable(items).compile(dialect=dialect)))
    con.execute(str(CreateIndex(items_sold).compile(dialect=dialect)))
    con.execute(f"INSERT INTO items ({names}) SELECT {values} FROM items_v1")
    con.execute("DROP TABLE items_v1")
    con.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )


#: SQLite's messages, and what they mean for the person who typed the command.
_SQLITE_REASONS: tuple[tuple[str, str], ...] = (
    ("file is not a database", "is not an SQLite database (damaged, or another kind of file)"),
    ("malformed", "is damaged (database disk image is malformed); restore it from a copy"),
    ("database is locked", f"is locked by another process (waited {BUSY_TIMEOUT_S:g} s)"),
    ("disk i/o error", "cannot be read or written (disk I/O error)"),
    ("unable to open database file", "cannot be opened (unable to open database file)"),
    ("no such table", "is not an artrec workspace database"),
    ("no such column", "is not an artrec workspace database"),
    ("database or disk is full", "cannot be written: the disk is full"),
)


@contextmanager
def database_errors(label: str) -> Iterator[None]:
    """Turn SQLite's errors inside the block into one-line :class:`ArtrecError` s.

    ``label`` names the database (``"workspace /x: artrec.db"``). A write refused because
    the file is read-only raises :class:`~artrec.errors.ReadOnlyError`; a damaged, foreign,
    locked or unreadable file :class:`~artrec.errors.DatabaseUnusableError`. Other
    database errors (a constraint, a programming error) pass through unchanged.
    """
    try:
        yield
    except (sa.exc.DBAPIError, sqlite3.DatabaseError) as exc:
        original = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        if type(original) not in (sqlite3.OperationalError, sqlite3.DatabaseError):
            raise  # a constraint, a bad parameter: not the file's fault
        text = str(original).strip()
        message = text.splitlines()[0] if text else type(original).__name__
        lowered = message.lower()
        if "readonly" in lowered or "read-only" in lowered:
            raise ReadOnlyError(
                f"{label} is read-only; this command needs to write to it"
            ) from None
        for key, reason in _SQLITE_REASONS:
            if key in lowered:
                raise DatabaseUnusableError(f"{label} {reason}") from None
        raise DatabaseUnusableError(f"{label} cannot be used: {short_repr(message, 200)}") from None
