"""The validation split is carved from training events only."""

from __future__ import annotations

import numpy as np
import pytest

from artrec.data.catalog import Catalog, Interactions
from artrec.errors import DataError
from artrec.evaluation.protocols import leave_last_out
from artrec.evaluation.validation import validation_split


def _catalog(n: int = 8) -> Catalog:
    return Catalog(np.array([f"i{j}" for j in range(n)], dtype=object))


def test_holds_out_each_users_last_training_events() -> None:
    log = Interactions(
        np.array(["a", "a", "a", "a", "a", "b", "b", "c"], dtype=object),
        np.array(["i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7"], dtype=object),
        np.array([1.0, 2.0, 3.0, 4.0, 5.0, 2.0, 1.0, 9.0]),
    )
    split = validation_split(log, _catalog(), fraction=0.4)
    assert split.protocol == "validation"
    assert split.user_ids.tolist() == ["a", "b"]
    # a: floor(0.4 * 5) = 2 held out (times 4, 5); b: 1 held out (time 2 -> i5)
    assert [p.tolist() for p in split.profiles] == [[0, 1, 2], [6]]
    assert [r.tolist() for r in split.relevant] == [[3, 4], [5]]
    assert sorted(split.train.item_ids.tolist()) == ["i0", "i1", "i2", "i6", "i7"]
    assert split.skipped == {"users_with_one_event": 1}


def test_reads_nothing_but_the_training_events() -> None:
    log = Interactions(
        np.array(["a"] * 4 + ["b"] * 3, dtype=object),
        np.array(["i0", "i1", "i2", "i3", "i4", "i5", "i6"], dtype=object),
        np.arange(7, dtype=np.float64),
    )
    real = leave_last_out(log, _catalog())
    val = validation_split(real.train, _catalog(), fraction=0.5)
    held_out_test = {int(r) for rel in real.relevant for r in rel}
    seen = {int(r) for p in val.profiles for r in p} | {int(r) for v in val.relevant for r in v}
    assert not held_out_test & seen
    # poisoning the test events changes nothing in the validation split
    poisoned = Interactions(
        log.user_ids,
        np.where(np.isin(np.arange(7), [3, 6]), "i7", log.item_ids),
        log.timestamps,
    )
    val2 = validation_split(leave_last_out(poisoned, _catalog()).train, _catalog(), fraction=0.5)
    assert [p.tolist() for p in val2.profiles] == [p.tolist() for p in val.profiles]
    assert [r.tolist() for r in val2.relevant] == [r.tolist() for r in val.relevant]


def test_refuses_a_log_with_no_repeat_user() -> None:
    log = Interactions(np.array(["a", "b"], dtype=object), np.array(["i0", "i1"], dtype=object))
    with pytest.raises(DataError, match="validation split cannot be carved"):
        validation_split(log, _catalog())
