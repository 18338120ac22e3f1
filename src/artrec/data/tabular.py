"""Generic files: interaction logs, catalogues and feature matrices.

* Interactions: CSV or Parquet with columns ``user_id,item_id[,timestamp][,kind][,split]``.
  A timestamp is a number of seconds since the epoch or ISO-8601 text (naive times are
  UTC); empty means unknown.
* Catalogues: CSV, Parquet, JSON (a list of objects, or ``{"items": [...]}``) or JSON
  Lines, with an ``item_id`` (or ``id``) column and any of ``title, artist, year, date,
  medium, museum, city, century, height_cm, width_cm``, an image column (``image``,
  ``image_url``, ``path`` or ``url``) and ``in_stock``. Other columns are kept as extra
  metadata.
* Feature matrices: a ``.npy`` file plus an ids file (a JSON list, or one id per line).

Columns are found by role: an explicit ``columns={role: file_column}`` mapping first, then
the first name of the role's alias list (:data:`CATALOG_COLUMNS`, :data:`INTERACTION_COLUMNS`)
that the file has, compared case-insensitively with spaces and hyphens read as underscores.

Parquet is read with pyarrow, imported only when a Parquet file is opened. Every error
names the file and the line (CSV, JSON Lines) or record/row (JSON, Parquet), and the column.

An interaction file may hold at most :func:`artrec.limits.max_events` events (raise it with
``max_events=`` or ``$ARTREC_MAX_EVENTS``); a Parquet file is refused on its row count,
before any row is converted. JSON goes through :func:`artrec.fileio.parse_json` (size,
nesting, huge numbers, invalid Unicode).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from artrec.data.catalog import METADATA_FIELDS, Catalog, Interactions
from artrec.errors import DataError, MissingDependencyError, short_repr
from artrec.fileio import parse_json, read_json
from artrec.limits import check_event_count
from artrec.limits import max_events as max_events_limit
from artrec.vectors import FeatureSet, as_id_array, check_float32_range, load_matrix

_CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_JSON_SUFFIXES = {".json"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}

#: Catalogue roles and the file columns tried for each, in order, when no explicit mapping
#: names one. Names compare case-insensitively; spaces and hyphens count as underscores.
CATALOG_COLUMNS: dict[str, tuple[str, ...]] = {
    "item_id": ("item_id", "id", "artwork_id", "object_id", "objectid"),
    "title": ("title", "name", "artwork_title"),
    "artist": ("artist", "artist_name", "artist_display_name", "creator", "author", "painter"),
    "year": ("year", "creation_year", "year_created"),
    "date": ("date", "date_text", "display_date"),
    "medium": ("medium", "technique", "materials"),
    "museum": ("museum", "collection", "institution"),
    "city": ("city",),
    "century": ("century",),
    "height_cm": ("height_cm",),
    "width_cm": ("width_cm",),
    "image": (
        "image",
        "image_url",
        "image_path",
        "path",
        "url",
        "file",
        "filename",
        "file_name",
        "image_file",
    ),
    "in_stock": ("in_stock", "available"),
}
#: Interaction-log roles and the file columns tried for each (as :data:`CATALOG_COLUMNS`).
INTERACTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "user", "userid", "customer_id", "visitor_id", "member_id"),
    "item_id": ("item_id", "item", "itemid", "artwork_id", "object_id", "product_id"),
    "timestamp": ("timestamp", "time", "datetime", "date", "ts", "created_at"),
    "kind": ("kind", "event", "event_type", "action"),
    "rating": ("rating", "score", "stars"),
    "split": ("split",),
}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}
_INT_FIELDS = {"year"}
#: Largest year (or century) magnitude accepted.
_MAX_YEAR = 100_000
_FLOAT_FIELDS = {"height_cm", "width_cm"}


# -- interactions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InteractionsFile:
    """An interaction log as read from a file, before any import rule is applied.

    Attributes
    ----------
    path
        The file.
    interactions
        One event per row, in file order (kind ``"purchase"`` where the file has none).
    ratings
        The rating of each event (float64, NaN where empty), or ``None`` when the file has
        no rating column.
    locations
        Where each event is in the file (``"line 3"``, ``"row 4"``, ``"record 0"``).
    columns
        Role -> the file column that was read for it.
    """

    path: Path
    interactions: Interactions
    ratings: np.ndarray | None
    locations: list[str]
    columns: dict[str, str] = field(default_factory=dict)

    def label(self, role: str) -> str:
        """How errors name the column of ``role``: its name, plus the role when they differ."""
        return _label(role, self.columns.get(role, role))


def read_interactions_file(
    path: str | Path,
    *,
    columns: Mapping[str, str | None] | None = None,
    max_events: int | None = None,
) -> InteractionsFile:
    """Read an interaction log (CSV/TSV, Parquet, JSON or JSON Lines) with its ratings.

    Parameters
    ----------
    path
        The file. Roles: ``user_id`` and ``item_id`` (required), ``timestamp`` (seconds since
        the epoch or ISO-8601 text; empty = unknown), ``kind`` (default ``"purchase"``),
        ``split`` (``train``/``test``/empty) and ``rating`` (a number; empty = none).
    columns
        Role -> file column, overriding the aliases of :data:`INTERACTION_COLUMNS`; a role
        mapped to ``None`` is not read even when an alias matches.
    max_events
        Most events accepted (default :func:`artrec.limits.max_events`:
        ``$ARTREC_MAX_EVENTS`` or 10,000,000).

    Returns
    -------
    InteractionsFile

    Raises
    ------
    DataError
        An unknown role or a mapped column the file lacks, a missing required column, empty
        ids, unparseable timestamps or ratings, naming the file, the line/row and the column.
    LimitError
        More than ``max_events`` events.
    MissingDependencyError
        A Parquet file but pyarrow is not installed.
    """
    path = Path(path)
    limit = max_events_limit(max_events)
    explicit = _check_mapping(columns, INTERACTION_COLUMNS, path, "interaction")
    users: list[str] = []
    items: list[str] = []
    stamps: list[float] = []
    kinds: list[str] = []
    splits: list[str | None] = []
    ratings: list[float] = []
    locations: list[str] = []
    roles: dict[str, str] = {}
    columns_checked = False
    for where, rec in _records(path, max_records=limit):
        check_event_count(len(users) + 1, limit, path.name)
        if not columns_checked:
            roles = _resolve_roles(rec, INTERACTION_COLUMNS, explicit, path)
            for role in ("user_id", "item_id"):
                if role not in roles:
                    raise DataError(
                        f"{path.name}: missing column {role!r} (looked for "
                        f"{', '.join(INTERACTION_COLUMNS[role])}; columns: {_columns_text(rec)})"
                    )
            columns_checked = True
        user = _text(rec.get(roles["user_id"]))
        item = _text(rec.get(roles["item_id"]))
        if user is None:
            raise DataError(f"{path.name}: {where}: empty {_label('user_id', roles['user_id'])}")
        if item is None:
            raise DataError(f"{path.name}: {where}: empty {_label('item_id', roles['item_id'])}")
        users.append(user)
        items.append(item)
        locations.append(where)
        stamp_col = roles.get("timestamp")
        stamps.append(
            math.nan
            if stamp_col is None
            else _timestamp(rec.get(stamp_col), path, where, _label("timestamp", stamp_col))
        )
        kind_col = roles.get("kind")
        kinds.append((None if kind_col is None else _text(rec.get(kind_col))) or "purchase")
        split_col = roles.get("split")
        split = None if split_col is None else _text(rec.get(split_col))
        if split is not None and split not in ("train", "test"):
            raise DataError(
                f"{path.name}: {where}: {_label('split', split_col or 'split')} must be "
                f"'train' or 'test', got {short_repr(split)}"
            )
        splits.append(split)
        rating_col = roles.get("rating")
        if rating_col is not None:
            ratings.append(_number(rec.get(rating_col), path, where, _label("rating", rating_col)))
    inter = Interactions(
        np.asarray(users, dtype=object),
        np.asarray(items, dtype=object),
        np.asarray(stamps, dtype=np.float64),
        np.asarray(kinds, dtype=object),
        np.asarray(splits, dtype=object) if "split" in roles else None,
    )
    rating_arr = np.asarray(ratings, dtype=np.float64) if "rating" in roles else None
    return InteractionsFile(path, inter, rating_arr, locations, dict(roles))


def load_interactions_file(
    path: str | Path,
    *,
    columns: Mapping[str, str | None] | None = None,
    max_events: int | None = None,
) -> Interactions:
    """Read an interaction log from CSV/TSV, Parquet, JSON or JSON Lines.

    Parameters
    ----------
    path
        The file (CSV needs a header row). Columns: ``user_id`` and ``item_id`` (required),
        ``timestamp`` (seconds since the epoch or ISO-8601 text; empty = unknown), ``kind``
        (default ``"purchase"``), ``split`` (``train``/``test``), each found under the
        aliases of :data:`INTERACTION_COLUMNS`. A rating column is not read here; see
        :func:`read_interactions_file` and :mod:`artrec.data.importer`.
    columns
        Role -> file column, as in :func:`read_interactions_file`.
    max_events
        Most events accepted (default :func:`artrec.limits.max_events`:
        ``$ARTREC_MAX_EVENTS`` or 10,000,000).

    Returns
    -------
    Interactions
        One event per row, in file order.

    Raises
    ------
    DataError
        Missing columns, empty ids, unparseable timestamps, naming the file and line/row.
    LimitError
        More than ``max_events`` events.
    MissingDependencyError
        A Parquet file but pyarrow is not installed.
    """
    mapping = {**(columns or {}), "rating": None}
    return read_interactions_file(path, columns=mapping, max_events=max_events).interactions


# -- catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogFile:
    """A catalogue as read from a file.

    Attributes
    ----------
    path
        The file.
    catalog
        The items, in file order.
    locations
        Where each item is in the file (``"line 3"``, ``"row 4"``, ``"record 0"``).
    columns
        Role -> the file column read for it (for JSON, whose records may differ in their
        keys: the first column seen for each role).
    """

    path: Path
    catalog: Catalog
    locations: list[str]
    columns: dict[str, str] = field(default_factory=dict)


def read_catalog_file(
    path: str | Path,
    image_dir: str | Path | None = None,
    *,
    columns: Mapping[str, str | None] | None = None,
) -> CatalogFile:
    """Read a catalogue from CSV/TSV, Parquet, JSON or JSON Lines.

    Parameters
    ----------
    path
        The catalogue file: one record per artwork, with an item id.
    image_dir
        Folder that relative image paths are resolved against. Without an image column,
        the image of item ``X`` is ``image_dir/X.<jpg|jpeg|png|webp|...>`` when such a file
        exists. http(s) URLs are kept as they are.
    columns
        Role -> file column, overriding the aliases of :data:`CATALOG_COLUMNS` (roles:
        ``item_id``, ``image``, ``in_stock`` and the metadata fields ``title``, ``artist``,
        ``year``, ...); a role mapped to ``None`` is not read as that role (the column stays
        extra metadata). Columns that play no role are kept as extra metadata under their
        own name (``<name>_original`` when that name is a role read from another column).

    Returns
    -------
    CatalogFile

    Raises
    ------
    DataError
        An unknown role or a mapped column no record has, no id column, an empty or
        duplicate id, an unparseable year/size/stock flag, naming the file, the line/record
        and the column.
    """
    path = Path(path)
    explicit = _check_mapping(columns, CATALOG_COLUMNS, path, "catalogue")
    img_root = None if image_dir is None else Path(image_dir)
    ids: list[str] = []
    seen: dict[str, str] = {}
    metadata_cols: dict[str, list[Any]] = {}
    images: list[str | None] = []
    stock: list[bool] = []
    locations: list[str] = []
    used: dict[str, str] = {}
    has_stock = False
    role_cache: dict[tuple[str, ...], dict[str, str]] = {}
    for where, rec in _records(path):
        # JSON records may differ in their keys, so the columns are looked up per record
        keys = tuple(rec)
        roles = role_cache.get(keys)
        if roles is None:
            roles = role_cache[keys] = _resolve_roles(rec, CATALOG_COLUMNS, explicit, path)
        for role, source in roles.items():
            used.setdefault(role, source)
        id_col = roles.get("item_id")
        if id_col is None:
            raise DataError(
                f"{path.name}: {where}: no item id (expected one of the fields "
                f"{', '.join(CATALOG_COLUMNS['item_id'])}; found: {_columns_text(rec) or 'none'})"
            )
        image_col = roles.get("image")
        stock_col = roles.get("in_stock")
        item_id = _text(rec.get(id_col))
        if item_id is None:
            raise DataError(f"{path.name}: {where}: empty {_label('item_id', id_col)}")
        if item_id in seen:
            raise DataError(
                f"{path.name}: {where}: duplicate item id {short_repr(item_id)} (first at {seen[item_id]})"
            )
        seen[item_id] = where
        row = len(ids)
        ids.append(item_id)
        locations.append(where)
        role_of = {source: role for role, source in roles.items()}
        for key, value in rec.items():
            field_role = role_of.get(key)
            if field_role in ("item_id", "image", "in_stock"):
                continue
            if field_role is not None:
                name = field_role
            elif key in roles or key in ("item_id", "image", "in_stock"):
                name = f"{key}_original"  # a role of that name is read from another column
            else:
                name = key
            col = metadata_cols.setdefault(name, [None] * row)
            col.append(_field(name, value, path, where, _label(name, key)))
        for col in metadata_cols.values():  # a record may lack keys that others have
            if len(col) < row + 1:
                col.append(None)
        image = _text(rec.get(image_col)) if image_col else None
        images.append(_resolve_image(item_id, image, img_root))
        if stock_col is not None:
            has_stock = True
        stock.append(
            True
            if stock_col is None
            else _flag(rec.get(stock_col), path, where, _label("in_stock", stock_col))
        )
    if ids:
        _check_explicit_seen(explicit, used, path)
    n = len(ids)
    metadata = {}
    for key, values in metadata_cols.items():
        arr = np.empty(n, dtype=object)
        arr[:] = values + [None] * (n - len(values))
        metadata[key] = arr
    catalog = Catalog(
        np.asarray(ids, dtype=object),
        metadata,
        np.asarray(images, dtype=object),
        np.asarray(stock, dtype=bool),
        stock_known=has_stock,
    )
    return CatalogFile(path, catalog, locations, used)


def load_catalog_file(
    path: str | Path,
    image_dir: str | Path | None = None,
    *,
    columns: Mapping[str, str | None] | None = None,
) -> Catalog:
    """Read a catalogue from CSV/TSV, Parquet, JSON or JSON Lines.

    Parameters
    ----------
    path
        The catalogue file. One record per artwork with an item id (``item_id``, ``id``, or
        another alias of :data:`CATALOG_COLUMNS`).
    image_dir
        Folder that relative image paths are resolved against. Without an image column,
        the image of item ``X`` is ``image_dir/X.<jpg|jpeg|png|webp|...>`` when such a file
        exists. http(s) URLs are kept as they are.
    columns
        Role -> file column, as in :func:`read_catalog_file`.

    Returns
    -------
    Catalog
        Items in file order. ``stock_known`` is True when the file has ``in_stock``.

    Raises
    ------
    DataError
        No id column, an empty or duplicate id, an unparseable year/size/stock flag, naming
        the file and line/record.
    """
    return read_catalog_file(path, image_dir, columns=columns).catalog


# -- column roles ----------------------------------------------------------------------------


def _columns_text(rec: Mapping[str, Any], limit: int = 12) -> str:
    """The record's column names for a message: the first ``limit``, each cut short."""
    names = [short_repr(k, 40)[1:-1] if isinstance(k, str) else short_repr(k, 40) for k in rec]
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _normalized(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _label(role: str, column: str) -> str:
    """A column as errors name it: ``year``, or ``'Date made' (as year)`` when mapped."""
    return role if column == role else f"{short_repr(column)} (as {role})"


def _check_mapping(
    columns: Mapping[str, str | None] | None,
    roles: Mapping[str, tuple[str, ...]],
    path: Path,
    what: str,
) -> dict[str, str | None]:
    """The explicit mapping, checked: known roles, no file column given two roles."""
    explicit = dict(columns or {})
    for role, column in explicit.items():
        if role not in roles:
            raise DataError(
                f"{path.name}: unknown {what} column role {short_repr(role)} (known: {', '.join(roles)})"
            )
        if column is not None and (not isinstance(column, str) or not column):
            raise DataError(
                f"{path.name}: the column for {short_repr(role)} must be a non-empty name"
            )
    named = [c for c in explicit.values() if c is not None]
    for column in named:
        if named.count(column) > 1:
            both = [r for r, c in explicit.items() if c == column]
            raise DataError(
                f"{path.name}: column {short_repr(column)} is mapped to two roles ({' and '.join(both)})"
            )
    return explicit


def _resolve_roles(
    rec: Mapping[str, Any],
    roles: Mapping[str, tuple[str, ...]],
    explicit: Mapping[str, str | None],
    path: Path,
) -> dict[str, str]:
    """Role -> column of this record: the explicit mapping, else the first alias present.

    A column takes at most one role. For files with a header (CSV, Parquet) a mapped column
    the header lacks is an error here; JSON records may omit keys (checked at the end by
    :func:`_check_explicit_seen`).
    """
    by_norm: dict[str, str] = {}
    for key in rec:
        by_norm.setdefault(_normalized(key), key)
    taken = {c for c in explicit.values() if c is not None}
    out: dict[str, str] = {}
    for role, column in explicit.items():
        if column is None:
            continue
        if column in rec:
            out[role] = column
        elif path.suffix.lower() not in _JSON_SUFFIXES | _JSONL_SUFFIXES:
            raise DataError(
                f"{path.name}: no column {short_repr(column)} for {role} (columns: {_columns_text(rec)})"
            )
    for role, aliases in roles.items():
        if role in explicit:
            continue
        for alias in aliases:
            found = by_norm.get(alias)
            if found is not None and found not in taken:
                out[role] = found
                taken.add(found)
                break
    return out


def _check_explicit_seen(
    explicit: Mapping[str, str | None], used: Mapping[str, str], path: Path
) -> None:
    for role, column in explicit.items():
        if column is not None and used.get(role) != column:
            raise DataError(
                f"{path.name}: no record has the column {short_repr(column)} given for {role}"
            )


# -- feature matrices ------------------------------------------------------------------------


def load_feature_matrix(
    npy_path: str | Path, ids_path: str | Path, name: str | None = None
) -> FeatureSet:
    """Read a feature matrix (``.npy``) and the item ids of its rows.

    Parameters
    ----------
    npy_path
        A 2-D float ``.npy`` array, memory-mapped (never unpickled).
    ids_path
        A JSON list of ids, or a text file with one id per line (blank lines at the end are
        ignored).
    name
        Feature set name; defaults to the ``.npy`` file's stem.

    Returns
    -------
    FeatureSet

    Raises
    ------
    DataError
        Unreadable files, a matrix that is not 2-D float with at least one column, a header
        that disagrees with the file size, a value beyond float32, duplicate, blank, too
        long or invalid ids, or a row count that differs from the number of ids.
    """
    npy_path = Path(npy_path)
    ids_path = Path(ids_path)
    matrix = load_matrix(npy_path, mmap=True)
    ids = _read_id_file(ids_path)
    if len(ids) != matrix.shape[0]:
        raise DataError(
            f"{npy_path.name} has {matrix.shape[0]} rows but {ids_path.name} lists {len(ids)} ids"
        )
    try:
        item_ids = as_id_array(ids)
    except DataError as exc:
        raise DataError(f"{ids_path.name}: {exc}") from None
    check_float32_range(matrix, npy_path.name, item_ids)
    meta = {"source": str(npy_path), "ids_file": str(ids_path), "source_dtype": str(matrix.dtype)}
    return FeatureSet(name or npy_path.stem, item_ids, matrix, meta)


def _read_id_file(path: Path) -> list[str]:
    try:
        if path.is_dir():
            raise DataError(f"{path.name}: not a regular file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: cannot read ({short_repr(str(exc), 120)})") from None
    ids: list[str] = []
    where: list[str] = []
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        data = parse_json(text, path.name)
        if not isinstance(data, list):
            raise DataError(f"{path.name}: expected a JSON list of ids")
        for pos, v in enumerate(data):
            if isinstance(v, bool) or not isinstance(v, (int, str)) or v == "":
                raise DataError(
                    f"{path.name}: entry {pos} ({short_repr(v)}) is not an id (int or text)"
                )
            if isinstance(v, int) and v.bit_length() > 256:
                raise DataError(f"{path.name}: entry {pos} ({short_repr(v)}) is too long an id")
            ids.append(str(v))
            where.append(f"entry {pos}")
    else:
        lines = text.splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        for lineno, line in enumerate(lines, start=1):
            value = line.strip()
            if not value:
                raise DataError(f"{path.name}: line {lineno}: blank id")
            ids.append(value)
            where.append(f"line {lineno}")
    first: dict[str, str] = {}
    for value, loc in zip(ids, where, strict=True):
        if value in first:
            raise DataError(
                f"{path.name}: {loc}: duplicate id {short_repr(value)} (first at {first[value]})"
            )
        first[value] = loc
    return ids


# -- records from any tabular file -----------------------------------------------------------


def _records(path: Path, *, max_records: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, record) pairs of a CSV/TSV, Parquet, JSON or JSON Lines file.

    ``max_records`` lets a Parquet file be refused on its row count before any row is
    converted; the caller counts the records of the other formats as they stream.
    """
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in _CSV_SUFFIXES:
        yield from _csv_records(path, "\t" if suffix == ".tsv" else ",")
    elif suffix in _PARQUET_SUFFIXES:
        yield from _parquet_records(path, max_records)
    elif suffix in _JSON_SUFFIXES:
        yield from _json_records(path)
    elif suffix in _JSONL_SUFFIXES:
        yield from _jsonl_records(path)
    else:
        raise DataError(
            f"{path.name}: unknown file type {suffix or '(none)'}; "
            "expected .csv, .tsv, .parquet, .json or .jsonl"
        )


def _csv_records(path: Path, delimiter: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path.name}: empty file (a header row is required)")
            header = [h.strip() for h in header]
            if "" in header or len(set(header)) != len(header):
                raise DataError(f"{path.name}: line 1: blank or repeated column name in header")
            for values in reader:
                if not values or all(not v.strip() for v in values):
                    continue
                where = f"line {reader.line_num}"
                if len(values) != len(header):
                    raise DataError(
                        f"{path.name}: {where}: {len(values)} fields, header has {len(header)}"
                    )
                yield where, dict(zip(header, values, strict=True))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{path.name}: malformed CSV ({exc})") from None


def _parquet_records(path: Path, max_records: int | None) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError(
            f"{path.name}: reading Parquet needs pyarrow; install it with "
            "`pip install 'artrec[io]'` or use CSV"
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise DataError(
            f"{path.name}: not a readable Parquet file ({short_repr(str(exc), 120)})"
        ) from None
    if max_records is not None:
        check_event_count(table.num_rows, max_records, path.name)
    names = list(table.column_names)
    columns = [table.column(n).to_pylist() for n in names]
    for r in range(table.num_rows):
        yield f"row {r + 1}", {n: col[r] for n, col in zip(names, columns, strict=True)}


def _json_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    data = read_json(path, label=path.name)
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    if not isinstance(data, list):
        raise DataError(f"{path.name}: expected a JSON list of records (or {{'items': [...]}})")
    for pos, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise DataError(f"{path.name}: record {pos} is not a JSON object")
        yield f"record {pos}", rec


def _jsonl_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                rec = parse_json(line, f"{path.name}: line {lineno}")
                if not isinstance(rec, dict):
                    raise DataError(f"{path.name}: line {lineno}: not a JSON object")
                yield f"line {lineno}", rec
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise DataError(f"{path.name}: cannot read ({exc.strerror or exc})") from None


# -- value parsing ---------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """An id or label as text; None for missing/empty. Integral floats lose their '.0'."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    return text or None


def parse_timestamp(value: Any) -> float:
    """Seconds since the epoch from a number, ISO-8601 text or a datetime; NaN if empty.

    The one rule for every timestamp artrec reads: numbers are seconds since the epoch,
    text is a number or ISO-8601 (``Z`` and offsets allowed; naive times are UTC).

    Raises
    ------
    DataError
        Text that is neither, or an infinite number (the message names the value).
    """
    return _timestamp(value, None, "", "timestamp")


def _timestamp(value: Any, path: Path | None, where: str, label: str = "timestamp") -> float:
    prefix = "" if path is None else f"{path.name}: {where}: "
    if value is None:
        return math.nan
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            t = float(value)
        except OverflowError:
            t = math.inf
    else:
        text = str(value).strip()
        if not text:
            return math.nan
        try:
            t = float(text)
        except ValueError:
            iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            try:
                dt = datetime.fromisoformat(iso)
            except ValueError:
                raise DataError(
                    f"{prefix}{label} {short_repr(text)} is neither seconds nor ISO-8601"
                ) from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            return dt.timestamp()
    if math.isinf(t):
        raise DataError(f"{prefix}{label} {short_repr(value)} is not finite")
    return t  # NaN stays NaN: unknown


def _number(value: Any, path: Path, where: str, label: str) -> float:
    """A finite number, or NaN when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    if isinstance(value, bool):
        raise DataError(f"{path.name}: {where}: {label} {short_repr(value)} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise DataError(
            f"{path.name}: {where}: {label} {short_repr(value)} is not a number"
        ) from None
    if not math.isfinite(number):
        raise DataError(f"{path.name}: {where}: {label} {short_repr(value)} is not finite")
    return number


def _field(key: str, value: Any, path: Path, where: str, label: str | None = None) -> Any:
    """A metadata value: empty -> None; year int; sizes float; century int or text."""
    label = label or key
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    if key in _INT_FIELDS:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise DataError(
                f"{path.name}: {where}: {label} {short_repr(value)} is not a number"
            ) from None
        if not number.is_integer():
            raise DataError(
                f"{path.name}: {where}: {label} {short_repr(value)} is not a whole number"
            )
        if abs(number) > _MAX_YEAR:
            raise DataError(
                f"{path.name}: {where}: {label} {short_repr(value)} is out of range "
                f"(at most {_MAX_YEAR:,} either way)"
            )
        return int(number)
    if key in _FLOAT_FIELDS:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise DataError(
                f"{path.name}: {where}: {label} {short_repr(value)} is not a number"
            ) from None
        return number if math.isfinite(number) else None
    if key == "century":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, int) and abs(value) <= _MAX_YEAR:
                return value
            if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_YEAR:
                return int(value)
            return _storable(value)
        text = str(value)
        digits = text.removeprefix("-")
        return int(text) if digits.isdigit() and len(digits) <= 6 else text
    if key in METADATA_FIELDS:
        return str(value)
    if isinstance(value, (str, int, float, bool)):
        return _storable(value)
    return json.dumps(value, default=str)  # nested JSON / Parquet structs: keep as text


def _storable(value: Any) -> Any:
    """``value``, or its text when it is an int beyond the 64-bit range a database holds."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(1 << 63) <= value < 1 << 63:
        return str(value)
    return value


def _flag(value: Any, path: Path, where: str, label: str = "in_stock") -> bool:
    if value is None or value == "":
        return True  # unknown stock for this item: treat as available
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DataError(f"{path.name}: {where}: {label} {short_repr(value)} is not a yes/no value")


def _resolve_image(item_id: str, image: str | None, root: Path | None) -> str | None:
    if image is not None:
        if root is None or "://" in image or Path(image).is_absolute():
            return image
        return str(root / image)
    if root is None:
        return None
    for suffix in _IMAGE_SUFFIXES:
        candidate = root / f"{item_id}{suffix}"
        if candidate.is_file():
            return str(candidate)
    return None
