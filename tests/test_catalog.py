"""Catalogue and interaction views: id handling and validation."""

from __future__ import annotations

import numpy as np
import pytest

from artrec.data import Catalog, Interactions
from artrec.errors import DataError, UnknownIdError
from artrec.vectors import as_id_array


def test_ids_are_text_and_ints_match_their_text():
    assert as_id_array([1, "2", 3.0, np.int64(4)]).tolist() == ["1", "2", "3", "4"]
    cat = Catalog([5, 6, 7])
    assert cat.rows_of([7, "5"]).tolist() == [2, 0]
    assert cat.has(6) and not cat.has(8)


def test_rows_of_missing_modes():
    cat = Catalog(["a", "b"])
    with pytest.raises(UnknownIdError, match="'zz'"):
        cat.rows_of(["a", "zz"])
    assert cat.rows_of(["a", "zz", "b"], missing="drop").tolist() == [0, 1]
    assert cat.rows_of(["a", "zz"], missing="mark").tolist() == [0, -1]


def test_validation_names_the_culprit():
    with pytest.raises(DataError, match="duplicate item id 'a'"):
        Catalog(["a", "b", "a"])
    with pytest.raises(DataError, match="'title'"):
        Catalog(["a", "b"], {"title": np.array(["x"], dtype=object)})
    with pytest.raises(DataError, match="in_stock"):
        Catalog(["a"], in_stock=np.array([True, False]))
    with pytest.raises(DataError, match="item ids"):
        Interactions(["u", "v"], ["a"])


def test_interactions_select_concat_and_users():
    log = Interactions(["u", "v", "u"], ["a", "b", "c"], [3, 1, 2])
    assert log.users() == ["u", "v"]
    sub = log.select(np.array([True, False, True]))
    assert sub.item_ids.tolist() == ["a", "c"]
    both = Interactions.concat([sub, Interactions(["w"], ["d"], splits=["test"])])
    assert len(both) == 3
    assert both.splits is not None and both.splits.tolist() == [None, None, "test"]
    assert log.by_user()["u"].tolist() == ["c", "a"]
