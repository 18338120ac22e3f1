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

Parquet is read with pyarrow, imported only when a Parquet file is opened. Every error
names the file and the line (CSV, JSON Lines) or record/row (JSON, Parquet).

An interaction file may hold at most :func:`artrec.limits.max_events` events (raise it with
``max_events=`` or ``$ARTREC_MAX_EVENTS``); a Parquet file is refused on its row count,
before any row is converted. JSON goes through :func:`artrec.fileio.parse_json` (size,
nesting, huge numbers, invalid Unicode).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
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
_ID_COLUMNS = ("item_id", "id")
_IMAGE_COLUMNS = ("image", "image_url", "path", "url")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}
_INT_FIELDS = {"year"}
#: Largest year (or century) magnitude accepted.
_MAX_YEAR = 100_000
_FLOAT_FIELDS = {"height_cm", "width_cm"}


# -- interactions ----------------------------------------------------------------------------


def load_interactions_file(path: str | Path, *, max_events: int | None = None) -> Interactions:
    """Read an interaction log from CSV or Parquet.

    Parameters
    ----------
    path
        ``.csv``/``.tsv`` (header row required) or ``.parquet``. Columns: ``user_id`` and
        ``item_id`` (required), ``timestamp`` (seconds since the epoch or ISO-8601 text;
        empty = unknown), ``kind`` (default ``"purchase"``), ``split`` (``train``/``test``).
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
    path = Path(path)
    limit = max_events_limit(max_events)
    users: list[str] = []
    items: list[str] = []
    stamps: list[float] = []
    kinds: list[str] = []
    splits: list[str | None] = []
    has_split = False
    columns_checked = False
    for where, rec in _records(path, max_records=limit):
        check_event_count(len(users) + 1, limit, path.name)
        if not columns_checked:
            missing = [c for c in ("user_id", "item_id") if c not in rec]
            if missing:
                raise DataError(
                    f"{path.name}: missing column {missing[0]!r} (columns: {', '.join(rec)})"
                )
            has_split = "split" in rec
            columns_checked = True
        user = _text(rec.get("user_id"))
        item = _text(rec.get("item_id"))
        if user is None:
            raise DataError(f"{path.name}: {where}: empty user_id")
        if item is None:
            raise DataError(f"{path.name}: {where}: empty item_id")
        users.append(user)
        items.append(item)
        stamps.append(_timestamp(rec.get("timestamp"), path, where))
        kinds.append(_text(rec.get("kind")) or "purchase")
        split = _text(rec.get("split"))
        if split is not None and split not in ("train", "test"):
            raise DataError(
                f"{path.name}: {where}: split must be 'train' or 'test', got {short_repr(split)}"
            )
        splits.append(split)
    return Interactions(
        np.asarray(users, dtype=object),
        np.asarray(items, dtype=object),
        np.asarray(stamps, dtype=np.float64),
        np.asarray(kinds, dtype=object),
        np.asarray(splits, dtype=object) if has_split else None,
    )


# -- catalogue -------------------------------------------------------------------------------


def load_catalog_file(path: str | Path, image_dir: str | Path | None = None) -> Catalog:
    """Read a catalogue from CSV, Parquet, JSON or JSON Lines.

    Parameters
    ----------
    path
        The catalogue file. One record per artwork with an ``item_id`` (or ``id``) field.
    image_dir
        Folder that relative image paths are resolved against. Without an image column,
        the image of item ``X`` is ``image_dir/X.<jpg|jpeg|png|webp|...>`` when such a file
        exists. http(s) URLs are kept as they are.

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
    path = Path(path)
    img_root = None if image_dir is None else Path(image_dir)
    ids: list[str] = []
    seen: dict[str, str] = {}
    columns: dict[str, list[Any]] = {}
    images: list[str | None] = []
    stock: list[bool] = []
    has_stock = False
    for where, rec in _records(path):
        # JSON records may differ in their keys, so the columns are looked up per record
        id_col = next((c for c in _ID_COLUMNS if c in rec), None)
        if id_col is None:
            raise DataError(
                f"{path.name}: {where}: no item id (expected an 'item_id' or 'id' field; "
                f"found: {', '.join(rec) or 'none'})"
            )
        image_col = next((c for c in _IMAGE_COLUMNS if c in rec), None)
        item_id = _text(rec.get(id_col))
        if item_id is None:
            raise DataError(f"{path.name}: {where}: empty {id_col}")
        if item_id in seen:
            raise DataError(
                f"{path.name}: {where}: duplicate item id {item_id!r} (first at {seen[item_id]})"
            )
        seen[item_id] = where
        row = len(ids)
        ids.append(item_id)
        for key, value in rec.items():
            if key in (id_col, image_col, "in_stock"):
                continue
            col = columns.setdefault(key, [None] * row)
            col.append(_field(key, value, path, where))
        for col in columns.values():  # a record may lack keys that others have
            if len(col) < row + 1:
                col.append(None)
        image = _text(rec.get(image_col)) if image_col else None
        images.append(_resolve_image(item_id, image, img_root))
        if "in_stock" in rec:
            has_stock = True
        stock.append(_flag(rec.get("in_stock"), path, where))
    n = len(ids)
    metadata = {}
    for key, values in columns.items():
        arr = np.empty(n, dtype=object)
        arr[:] = values + [None] * (n - len(values))
        metadata[key] = arr
    return Catalog(
        np.asarray(ids, dtype=object),
        metadata,
        np.asarray(images, dtype=object),
        np.asarray(stock, dtype=bool),
        stock_known=has_stock,
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


def _timestamp(value: Any, path: Path, where: str) -> float:
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
                    f"{path.name}: {where}: timestamp {short_repr(text)} is neither seconds "
                    "nor ISO-8601"
                ) from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            return dt.timestamp()
    if math.isinf(t):
        raise DataError(f"{path.name}: {where}: timestamp {short_repr(value)} is not finite")
    return t  # NaN stays NaN: unknown


def _field(key: str, value: Any, path: Path, where: str) -> Any:
    """A metadata value: empty -> None; year int; sizes float; century int or text."""
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
                f"{path.name}: {where}: {key} {short_repr(value)} is not a number"
            ) from None
        if not number.is_integer():
            raise DataError(
                f"{path.name}: {where}: {key} {short_repr(value)} is not a whole number"
            )
        if abs(number) > _MAX_YEAR:
            raise DataError(
                f"{path.name}: {where}: {key} {short_repr(value)} is out of range "
                f"(at most {_MAX_YEAR:,} either way)"
            )
        return int(number)
    if key in _FLOAT_FIELDS:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise DataError(
                f"{path.name}: {where}: {key} {short_repr(value)} is not a number"
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


def _flag(value: Any, path: Path, where: str) -> bool:
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
    raise DataError(f"{path.name}: {where}: in_stock {value!r} is not a yes/no value")


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
