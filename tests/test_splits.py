"""The held-out rules of artrec.data.splits, against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from artrec.data.splits import before_mask, last_fraction_mask, user_time_order
from artrec.errors import DataError


def _log() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # user a: 5 events, b: 2 events (tied times), c: 1 event, one NaN time for a
    users = np.array(["a", "b", "a", "a", "b", "a", "c", "a"], dtype=object)
    items = np.array(["i5", "z", "i1", "i3", "y", "i2", "q", "i0"], dtype=object)
    ts = np.array([50.0, 7.0, 10.0, 30.0, 7.0, 20.0, 1.0, np.nan])
    return users, items, ts


def test_order_is_by_user_time_then_item_id_then_log_position() -> None:
    users, items, ts = _log()
    order = user_time_order(users, items, ts).tolist()
    # a: NaN first (7), then 10 (2), 20 (5), 30 (3), 50 (0); b: tie at 7 -> "y" (4) before "z" (1)
    assert order == [7, 2, 5, 3, 0, 4, 1, 6]


def test_last_fraction_holds_out_floor_f_n_at_least_one() -> None:
    users, items, ts = _log()
    held = last_fraction_mask(users, items, ts, 0.5)
    # a has 5 events -> floor(2.5) = 2 held out: times 30 and 50 (events 3, 0)
    # b has 2 -> 1 held out: the tie is broken by item id, "z" (1) comes last
    # c has 1 -> at least one: its only event (6)
    assert np.flatnonzero(held).tolist() == [0, 1, 3, 6]


def test_keep_one_never_empties_a_profile() -> None:
    users, items, ts = _log()
    held = last_fraction_mask(users, items, ts, 0.9, keep_one=True)
    # a: floor(4.5) = 4 of 5; b: min(1, 1) = 1; c: nothing
    assert np.flatnonzero(held).tolist() == [0, 1, 2, 3, 5]


def test_nan_times_are_never_held_out_before_timed_events() -> None:
    users = np.array(["u", "u"], dtype=object)
    items = np.array(["x", "y"], dtype=object)
    held = last_fraction_mask(users, items, np.array([np.nan, 5.0]), 0.5)
    assert held.tolist() == [False, True]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 2, float("nan")])
def test_fraction_must_lie_strictly_between_0_and_1(fraction: float) -> None:
    users, items, ts = _log()
    with pytest.raises(DataError, match="between 0 and 1"):
        last_fraction_mask(users, items, ts, fraction)


def test_before_mask_keeps_unknown_times_in_training() -> None:
    assert before_mask(np.array([1.0, 5.0, np.nan, 4.999]), 5.0).tolist() == [
        True,
        False,
        True,
        True,
    ]


def test_the_fraction_is_read_as_written() -> None:
    # floor(0.29 * 100) is 28 in floating point; 0.29 of 100 events is 29
    users = np.array(["u"] * 100, dtype=object)
    items = np.array([f"i{k:03d}" for k in range(100)], dtype=object)
    held = last_fraction_mask(users, items, np.arange(100.0), 0.29)
    assert int(held.sum()) == 29 and held[71:].all() and not held[:71].any()
