"""Fuzzing the tabular loaders: interaction logs, catalogues and feature matrices."""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from fuzzing import case, fuzz, outcome
from hypothesis import given
from hypothesis import strategies as st

from artrec.data.tabular import load_catalog_file, load_feature_matrix, load_interactions_file

#: Field text: anything a CSV cell can hold (no NUL, which CSV cannot).
CELL = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=8)


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, float | None]:
    """(cell text, expected seconds); ``None`` expected means the row must be refused."""
    kind = draw(st.sampled_from(["empty", "seconds", "iso", "iso-z", "garbage"]))
    if kind == "empty":
        return draw(st.sampled_from(["", "  "])), math.nan
    if kind == "seconds":
        value = draw(st.floats(allow_infinity=True, allow_nan=True, width=64))
        if math.isinf(value):
            return repr(value), None
        return repr(value), value
    if kind in ("iso", "iso-z"):
        moment = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
        if kind == "iso-z":
            utc = moment.replace(tzinfo=timezone.utc)
            return moment.isoformat() + "Z", utc.timestamp()
        offset = draw(st.integers(-14 * 60, 14 * 60))
        aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset)))
        naive = draw(st.booleans())
        text = moment.isoformat() if naive else aware.isoformat()
        return text, (moment.replace(tzinfo=timezone.utc) if naive else aware).timestamp()
    return draw(
        st.sampled_from(["yesterday", "12:00", "1e9999", "-inf", "2020-13-45", "0x10"])
    ), None


@st.composite
def interaction_rows(draw: st.DrawFn) -> tuple[list[list[str]], list[tuple[Any, ...]] | None]:
    """CSV rows and the interactions they must give (``None``: the file must be refused)."""
    rows: list[list[str]] = []
    expected: list[tuple[Any, ...]] | None = []
    for _ in range(draw(st.integers(0, 8))):
        user, item, kind = draw(CELL), draw(CELL), draw(CELL)
        stamp, seconds = draw(timestamps())
        split = draw(st.sampled_from(["", "train", "test", " train ", "validation"]))
        row = [user, item, stamp, kind, split]
        rows.append(row)
        if all(not cell.strip() for cell in row):
            continue  # blank rows are skipped
        if expected is None:
            continue
        if not user.strip() or not item.strip() or seconds is None:
            expected = None
            continue
        if split.strip() not in ("", "train", "test"):
            expected = None
            continue
        expected.append(
            (user.strip(), item.strip(), seconds, kind.strip() or "purchase", split.strip() or None)
        )
    return rows, expected


@fuzz(300)
@given(data=interaction_rows())
def test_interaction_csv_matches_its_rows(data: tuple[list[list[str]], Any]) -> None:
    case("tabular/interactions")
    rows, expected = data
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["user_id", "item_id", "timestamp", "kind", "split"])
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        ok, log = outcome(lambda: load_interactions_file(path))
    if expected is None:
        assert not ok, "a bad row was accepted"
        return
    assert ok, log
    got = list(
        zip(
            log.user_ids.tolist(),
            log.item_ids.tolist(),
            log.timestamps.tolist(),
            log.kinds.tolist(),
            [None] * len(log.kinds) if log.splits is None else log.splits.tolist(),
            strict=True,
        )
    )
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g[:2] == e[:2] and g[3:] == e[3:]
        assert (math.isnan(g[2]) and math.isnan(e[2])) or abs(g[2] - e[2]) <= 1e-6 * max(
            1.0, abs(e[2])
        )


@fuzz(250)
@given(
    text=st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    header=st.sampled_from([b"", b"user_id,item_id\n", b"user_id,item_id,timestamp,kind,split\n"]),
    suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt"]),
)
def test_garbage_files_fail_cleanly(text: bytes, header: bytes, suffix: str) -> None:
    case("tabular/garbage")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(header + text)
        outcome(lambda: load_interactions_file(path))
        outcome(lambda: load_catalog_file(path, image_dir=tmp))


#: Text of one line (an ids file holds one id per line).
LINE_TEXT = st.characters(
    blacklist_categories=["Cs", "Cc", "Zl", "Zp"], blacklist_characters="\x85"
)

JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.builds(lambda e: 10**e, st.integers(0, 400))
    | st.floats()
    | st.text(max_size=6)
)
FIELD_NAMES = st.sampled_from(
    [
        "item_id",
        "id",
        "title",
        "artist",
        "year",
        "height_cm",
        "century",
        "in_stock",
        "image",
        "medium",
        "extra",
    ]
)
RECORDS = st.lists(
    st.dictionaries(
        FIELD_NAMES,
        JSON_LEAF
        | st.lists(JSON_LEAF, max_size=2)
        | st.dictionaries(st.text(max_size=3), JSON_LEAF, max_size=2),
        max_size=6,
    ),
    max_size=6,
)


def expected_ids(records: list[dict[str, Any]]) -> list[str] | None:
    """The catalogue ids the records name, or ``None`` if one is missing, blank or repeated."""
    out: list[str] = []
    for rec in records:
        key = "item_id" if "item_id" in rec else "id" if "id" in rec else None
        if key is None:
            return None
        value = rec[key]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).strip()
        if not text or text in out or len(text) > 256:
            return None
        out.append(text)
    return out


@fuzz(300)
@given(records=RECORDS, wrap=st.booleans(), lines=st.booleans())
def test_catalogue_json_records(records: list[dict[str, Any]], wrap: bool, lines: bool) -> None:
    case("tabular/catalogue")
    with tempfile.TemporaryDirectory() as tmp:
        if lines:
            path = Path(tmp) / "c.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
        else:
            path = Path(tmp) / "c.json"
            path.write_text(json.dumps({"items": records} if wrap else records))
        ok, catalog = outcome(lambda: load_catalog_file(path))
    ids = expected_ids(records)
    if ids is None:
        assert not ok
    elif ok:  # a bad year, size or stock flag may still refuse the file
        assert catalog.item_ids.tolist() == ids


@fuzz(200)
@given(
    ids=st.lists(st.integers(0, 10**6) | st.text(LINE_TEXT, min_size=1, max_size=5), max_size=6),
    rows=st.integers(0, 7),
    dim=st.integers(0, 3),
    dtype=st.sampled_from([np.float32, np.float64]),
    big=st.booleans(),
    as_text=st.booleans(),
)
def test_feature_matrix_and_ids(
    ids: list[Any], rows: int, dim: int, dtype: type, big: bool, as_text: bool
) -> None:
    case("tabular/features")
    matrix = np.arange(rows * dim, dtype=dtype).reshape(rows, dim)
    if big and matrix.size and dtype is np.float64:
        matrix.flat[-1] = 1e300
    with tempfile.TemporaryDirectory() as tmp:
        npy, id_file = Path(tmp) / "m.npy", Path(tmp) / ("ids.txt" if as_text else "ids.json")
        np.save(npy, matrix)
        if as_text:
            id_file.write_text("".join(f"{i}\n" for i in ids))
        else:
            id_file.write_text(json.dumps(ids))
        ok, fs = outcome(lambda: load_feature_matrix(npy, id_file))
    texts = [str(i).strip() if as_text else str(i) for i in ids]
    valid = (
        len(ids) == rows
        and dim >= 1
        and len(set(texts)) == len(texts)
        and all(t for t in texts)
        and not (big and matrix.size and dtype is np.float64)
    )
    assert ok == valid, fs
    if not ok:
        return
    assert fs.item_ids.tolist() == texts
    assert np.array_equal(np.asarray(fs.matrix), matrix)
