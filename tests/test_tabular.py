"""Generic loaders: interactions (CSV/Parquet), catalogues (CSV/Parquet/JSON), feature matrices."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from artrec.data.tabular import load_catalog_file, load_feature_matrix, load_interactions_file
from artrec.errors import DataError, MissingDependencyError

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc).timestamp()  # 1709294400


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- interactions ----------------------------------------------------------------------------


def test_interactions_csv_with_every_timestamp_form(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "log.csv",
        "user_id,item_id,timestamp,kind\n"
        "u1,42,1709294400,purchase\n"
        "u1,7,2024-03-01T12:00:00Z,like\n"
        "u2,42,2024-03-01T13:00:00+01:00,\n"
        "u2,8,2024-03-01 12:00:00,\n"
        "u3,9,,like\n"
        "\n"
        "u3,10,1709294400.5,purchase\n",
    )
    inter = load_interactions_file(path)
    assert inter.user_ids.tolist() == ["u1", "u1", "u2", "u2", "u3", "u3"]
    assert inter.item_ids.tolist() == ["42", "7", "42", "8", "9", "10"]
    ts = inter.timestamps.tolist()  # type: ignore[union-attr]
    assert ts[:4] == [T0, T0, T0, T0]  # seconds, Z, an offset, naive = UTC
    assert math.isnan(ts[4]) and ts[5] == T0 + 0.5
    assert inter.kinds.tolist() == ["purchase", "like", "purchase", "purchase", "like", "purchase"]  # type: ignore[union-attr]
    assert inter.splits is None


def test_interactions_minimal_columns_and_split(tmp_path: Path) -> None:
    inter = load_interactions_file(_write(tmp_path / "a.csv", "item_id,user_id\n1,a\n2,b\n"))
    assert inter.user_ids.tolist() == ["a", "b"] and inter.item_ids.tolist() == ["1", "2"]
    assert all(math.isnan(t) for t in inter.timestamps.tolist())  # type: ignore[union-attr]
    split = load_interactions_file(
        _write(tmp_path / "s.tsv", "user_id\titem_id\tsplit\na\t1\ttrain\na\t2\ttest\nb\t3\t\n")
    )
    assert split.splits.tolist() == ["train", "test", None]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("who,item_id\na,1\n", "missing column 'user_id'"),
        ("user_id,item_id\na,1\n,2\n", "line 3: empty user_id"),
        ("user_id,item_id\na,1\nb,\n", "line 3: empty item_id"),
        ("user_id,item_id,timestamp\na,1,yesterday\n", "line 2: timestamp 'yesterday' is neither"),
        ("user_id,item_id,timestamp\na,1,inf\n", "line 2: timestamp .* not finite"),
        ("user_id,item_id\na,1,extra\n", "line 2: 3 fields, header has 2"),
        ("user_id,item_id,split\na,1,validation\n", "line 2: split must be"),
        ("user_id,user_id\na,1\n", "line 1: blank or repeated column"),
        ("", "empty file"),
    ],
)
def test_interactions_errors_name_file_and_line(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(DataError, match=f"^log.csv: {pattern}"):
        load_interactions_file(_write(tmp_path / "log.csv", text))


def test_interactions_errors_for_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_interactions_file(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="unknown file type .xlsx"):
        load_interactions_file(_write(tmp_path / "x.xlsx", "x"))
    (tmp_path / "latin.csv").write_bytes("user_id,item_id\nJos\xe9,1\n".encode("latin-1"))
    with pytest.raises(DataError, match="latin.csv: not UTF-8"):
        load_interactions_file(tmp_path / "latin.csv")


def test_interactions_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "user_id": [1, 2, 2],
            "item_id": ["x", "y", "z"],
            "timestamp": pa.array(
                [datetime(2024, 3, 1, 12, tzinfo=timezone.utc), None, datetime(2024, 3, 1, 12)],
                type=pa.timestamp("s", tz="UTC"),
            ),
            "kind": ["like", None, "purchase"],
        }
    )
    pq.write_table(table, tmp_path / "log.parquet")
    inter = load_interactions_file(tmp_path / "log.parquet")
    assert inter.user_ids.tolist() == ["1", "2", "2"]
    ts = inter.timestamps.tolist()  # type: ignore[union-attr]
    assert ts[0] == T0 and math.isnan(ts[1]) and ts[2] == T0
    assert inter.kinds.tolist() == ["like", "purchase", "purchase"]  # type: ignore[union-attr]
    numeric = pa.table({"user_id": ["a"], "item_id": [5], "timestamp": [T0]})
    pq.write_table(numeric, tmp_path / "n.parquet")
    assert load_interactions_file(tmp_path / "n.parquet").timestamps.tolist() == [T0]  # type: ignore[union-attr]
    pq.write_table(pa.table({"user_id": ["a", None], "item_id": [1, 2]}), tmp_path / "b.parquet")
    with pytest.raises(DataError, match="b.parquet: row 2: empty user_id"):
        load_interactions_file(tmp_path / "b.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="bad.parquet: not a readable Parquet file"):
        load_interactions_file(tmp_path / "bad.parquet")


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "log.parquet").write_bytes(b"whatever")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import now raises ImportError
    with pytest.raises(MissingDependencyError, match="log.parquet: reading Parquet needs pyarrow"):
        load_interactions_file(tmp_path / "log.parquet")


# -- catalogues --------------------------------------------------------------------------------


def test_catalog_csv_with_image_dir(tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    images.mkdir()
    path = _write(
        tmp_path / "cat.csv",
        "id,title,artist,year,height_cm,century,image,in_stock,gallery\n"
        "a1,Sunrise,Claude Monet,1872,48.0,19,a1.jpg,yes,Room 3\n"
        'a2,"Night, with comma",Unknown artist,,,BCE,https://x.example/a2.png,0,\n'
        "a3,Study,Ann,1901.0,12.5,20,/abs/a3.jpg,,Room 1\n",
    )
    cat = load_catalog_file(path, image_dir=images)
    assert cat.item_ids.tolist() == ["a1", "a2", "a3"]
    assert cat.metadata["title"].tolist() == ["Sunrise", "Night, with comma", "Study"]
    assert cat.metadata["year"].tolist() == [1872, None, 1901]
    assert cat.metadata["height_cm"].tolist() == [48.0, None, 12.5]
    assert cat.metadata["century"].tolist() == [19, "BCE", 20]
    assert cat.metadata["gallery"].tolist() == ["Room 3", None, "Room 1"]
    assert cat.image.tolist() == [str(images / "a1.jpg"), "https://x.example/a2.png", "/abs/a3.jpg"]  # type: ignore[union-attr]
    assert cat.in_stock.tolist() == [True, False, True]  # type: ignore[union-attr]  # empty -> available
    assert cat.stock_known
    assert cat.artists().tolist() == ["Claude Monet", None, "Ann"]  # type: ignore[union-attr]


def test_catalog_images_found_by_id(tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    images.mkdir()
    (images / "7.png").write_bytes(b"png")
    cat = load_catalog_file(_write(tmp_path / "c.csv", "item_id,title\n7,A\n8,B\n"), images)
    assert cat.image.tolist() == [str(images / "7.png"), None]  # type: ignore[union-attr]
    assert not cat.stock_known and cat.in_stock.all()  # type: ignore[union-attr]


def test_catalog_json_and_jsonl(tmp_path: Path) -> None:
    records = [
        {"item_id": 1, "title": "A", "year": 1900, "tags": ["x", "y"]},
        {"item_id": 2, "artist": "B", "in_stock": False},
    ]
    for path in (tmp_path / "c.json", tmp_path / "wrapped.json"):
        path.write_text(json.dumps(records if path.stem == "c" else {"items": records}))
        cat = load_catalog_file(path)
        assert cat.item_ids.tolist() == ["1", "2"]
        assert cat.metadata["title"].tolist() == ["A", None]
        assert cat.metadata["artist"].tolist() == [None, "B"]
        assert cat.metadata["tags"].tolist() == ['["x", "y"]', None]
        assert cat.in_stock.tolist() == [True, False] and cat.stock_known  # type: ignore[union-attr]
    lines = tmp_path / "c.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    assert load_catalog_file(lines).item_ids.tolist() == ["1", "2"]
    lines.write_text(json.dumps(records[0]) + "\n{oops\n")
    with pytest.raises(DataError, match="c.jsonl: line 2: not valid JSON"):
        load_catalog_file(lines)


def test_catalog_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(
        pa.table({"item_id": [10, 11], "year": [1850, None], "in_stock": [True, False]}),
        tmp_path / "c.parquet",
    )
    cat = load_catalog_file(tmp_path / "c.parquet")
    assert cat.item_ids.tolist() == ["10", "11"]
    assert cat.metadata["year"].tolist() == [1850, None]
    assert cat.in_stock.tolist() == [True, False]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("title,artist\nA,B\n", "line 2: no item id"),
        ("item_id,title\n1,A\n2,B\n1,C\n", "line 4: duplicate item id '1' \\(first at line 2\\)"),
        ("item_id,title\n1,A\n,B\n", "line 3: empty item_id"),
        ("item_id,year\n1,c. 1850\n", "line 2: year 'c. 1850' is not a number"),
        ("item_id,year\n1,1850.5\n", "line 2: year '1850.5' is not a whole number"),
        ("item_id,width_cm\n1,wide\n", "line 2: width_cm 'wide' is not a number"),
        ("item_id,in_stock\n1,maybe\n", "line 2: in_stock 'maybe' is not a yes/no value"),
    ],
)
def test_catalog_errors_name_file_and_line(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(DataError, match=f"^cat.csv: {pattern}"):
        load_catalog_file(_write(tmp_path / "cat.csv", text))


def test_catalog_json_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"c.json: not valid JSON \(line 1"):
        load_catalog_file(_write(tmp_path / "c.json", "[{"))
    with pytest.raises(DataError, match="c.json: expected a JSON list"):
        load_catalog_file(_write(tmp_path / "c.json", '{"a": 1}'))
    with pytest.raises(DataError, match="c.json: record 1 is not a JSON object"):
        load_catalog_file(_write(tmp_path / "c.json", '[{"id": 1}, 2]'))


# -- feature matrices --------------------------------------------------------------------------


def test_feature_matrix_with_json_and_text_ids(tmp_path: Path) -> None:
    m = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.save(tmp_path / "clip.npy", m)
    _write(tmp_path / "ids.json", json.dumps([5, "b", 7]))
    fs = load_feature_matrix(tmp_path / "clip.npy", tmp_path / "ids.json")
    assert fs.name == "clip" and fs.item_ids.tolist() == ["5", "b", "7"]
    np.testing.assert_array_equal(fs.matrix, m)
    _write(tmp_path / "ids.txt", "5\nb\n7\n\n")
    fs = load_feature_matrix(tmp_path / "clip.npy", tmp_path / "ids.txt", name="other")
    assert fs.name == "other" and fs.item_ids.tolist() == ["5", "b", "7"]


@pytest.mark.parametrize(
    ("ids_name", "ids_text", "pattern"),
    [
        ("ids.txt", "1\n2\n", "clip.npy has 3 rows but ids.txt lists 2 ids"),
        ("ids.txt", "1\n\n3\n", "ids.txt: line 2: blank id"),
        ("ids.txt", "1\n2\n1\n", "ids.txt: line 3: duplicate id '1' \\(first at line 1\\)"),
        ("ids.json", "[1, 2", "ids.json: not valid JSON"),
        ("ids.json", '{"a": 1}', "ids.json: expected a JSON list"),
        ("ids.json", "[1, null, 3]", "ids.json: entry 1 \\(None\\) is not an id"),
    ],
)
def test_feature_matrix_id_errors(
    tmp_path: Path, ids_name: str, ids_text: str, pattern: str
) -> None:
    np.save(tmp_path / "clip.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(DataError, match=pattern):
        load_feature_matrix(tmp_path / "clip.npy", _write(tmp_path / ids_name, ids_text))


def test_feature_matrix_array_errors(tmp_path: Path) -> None:
    ids = _write(tmp_path / "ids.txt", "1\n2\n")
    np.save(tmp_path / "flat.npy", np.zeros(2, np.float32))
    with pytest.raises(DataError, match="flat.npy: expected a 2-D matrix"):
        load_feature_matrix(tmp_path / "flat.npy", ids)
    np.save(tmp_path / "ints.npy", np.zeros((2, 2), np.int32))
    with pytest.raises(DataError, match="ints.npy: expected a float matrix"):
        load_feature_matrix(tmp_path / "ints.npy", ids)
    np.save(tmp_path / "obj.npy", np.array([[{}], [{}]], dtype=object))
    with pytest.raises(DataError, match="obj.npy"):
        load_feature_matrix(tmp_path / "obj.npy", ids)
    with pytest.raises(DataError, match="no such file"):
        load_feature_matrix(tmp_path / "none.npy", ids)
