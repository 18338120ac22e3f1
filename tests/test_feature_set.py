"""Feature sets: validation, alignment and the on-disk format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from artrec.errors import DataError
from artrec.vectors import FeatureSet, load_npy


def test_save_load_round_trip_is_float32_and_memory_mapped(tmp_path):
    fs = FeatureSet("cnn", [3, 1, 2], np.arange(6, dtype=np.float64).reshape(3, 2), {"model": "m"})
    fs.save(tmp_path)
    back = FeatureSet.load(tmp_path, "cnn")
    assert isinstance(back.matrix, np.memmap)
    assert back.matrix.dtype == np.float32
    np.testing.assert_array_equal(back.matrix, fs.matrix)
    assert back.item_ids.tolist() == ["3", "1", "2"]
    assert back.meta["model"] == "m" and back.meta["dim"] == 2 and back.meta["n_items"] == 3
    assert FeatureSet.available(tmp_path) == ["cnn"]
    assert not list(tmp_path.glob(".*tmp*"))


def test_validation():
    with pytest.raises(DataError, match="2-D"):
        FeatureSet("x", ["a"], np.zeros(3))
    with pytest.raises(DataError, match="2 rows but 1 item ids"):
        FeatureSet("x", ["a"], np.zeros((2, 3)))
    with pytest.raises(DataError, match="floating"):
        FeatureSet("x", ["a"], np.zeros((1, 3), dtype=np.int64))
    fs = FeatureSet("x", ["a", "b"], np.array([[0.0, 1.0], [np.nan, 0.0]]))
    with pytest.raises(DataError, match="item 'b' \\(row 1\\)"):
        fs.check_finite()


def test_align_reorders_and_names_missing():
    fs = FeatureSet("x", ["a", "b", "c"], np.eye(3))
    al = fs.align(["c", "a"])
    np.testing.assert_array_equal(al.matrix, [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(DataError, match="first 'zz'"):
        fs.align(["a", "zz"])


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no feature set 'nope'"):
        FeatureSet.load(tmp_path, "nope")
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    with pytest.raises(DataError, match="bad.npy"):
        load_npy(tmp_path / "bad.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="obj.npy"):
        load_npy(tmp_path / "obj.npy")
    np.save(tmp_path / "ok.npy", np.zeros((2, 2), np.float32))
    (tmp_path / "ok.ids.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        FeatureSet.load(tmp_path, "ok")
    (tmp_path / "ok.ids.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(DataError, match="JSON list"):
        FeatureSet.load(tmp_path, "ok")
