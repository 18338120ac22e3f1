"""Protocols on hand-made logs whose splits are known."""

from __future__ import annotations

import numpy as np
import pytest

from artrec.data.catalog import Catalog, Interactions
from artrec.errors import DataError
from artrec.evaluation.protocols import (
    given_split,
    leave_last_out,
    make_split,
    time_replay,
)


def catalog(n: int = 6, **meta: list[object]) -> Catalog:
    return Catalog(
        np.asarray([f"i{r}" for r in range(n)], dtype=object),
        {k: np.asarray(v, dtype=object) for k, v in meta.items()},
    )


def log(
    events: list[tuple[str, str, float]], splits: list[str | None] | None = None
) -> Interactions:
    return Interactions(
        np.asarray([e[0] for e in events], dtype=object),
        np.asarray([e[1] for e in events], dtype=object),
        np.asarray([e[2] for e in events], dtype=np.float64),
        splits=None if splits is None else np.asarray(splits, dtype=object),
    )


def as_lists(arrays: list[np.ndarray]) -> list[list[int]]:
    return [a.tolist() for a in arrays]


def test_given_split_uses_the_split_column() -> None:
    events = [
        ("u1", "i0", 1),
        ("u1", "i1", 2),
        ("u1", "i2", 3),
        ("u2", "i3", 1),
        ("u2", "i4", 2),
        ("u3", "i5", 1),  # test only: no profile
        ("u4", "i1", 1),  # train only: no case
        ("u2", "i0", 5),  # no split: counted
        ("u2", "zzz", 6),  # unknown item: counted
    ]
    splits = ["train", "train", "test", "train", "test", "test", "train", None, "test"]
    split = given_split(log(events, splits), catalog())
    assert split.protocol == "given"
    assert split.user_ids.tolist() == ["u1", "u2"]
    assert as_lists(split.profiles) == [[0, 1], [3]]
    assert as_lists(split.relevant) == [[2], [4]]
    assert as_lists(split.exclude) == [[0, 1], [3]]
    assert split.skipped == {
        "events_with_unknown_item": 1,
        "events_without_split": 1,
        "no_profile": 1,
    }
    # training events: every train-labelled event (all users), never a test one
    assert sorted(split.train.item_ids.tolist()) == ["i0", "i1", "i1", "i3"]
    masks = split.candidate_masks(0, 2)
    assert masks.tolist() == [
        [False, False, True, True, True, True],
        [True, True, True, False, True, True],
    ]


def test_given_split_without_split_column_raises() -> None:
    with pytest.raises(DataError, match="no given train/test split"):
        given_split(log([("u", "i0", 1)]), catalog())


def test_leave_last_out_holds_out_the_latest_purchase() -> None:
    events = [
        ("u1", "i0", 10),
        ("u1", "i3", 30),  # latest -> held out
        ("u1", "i1", 20),
        ("u2", "i2", 5),  # single purchase: skipped
        ("u3", "i4", 7),
        ("u3", "i5", 7),  # tie at the latest time: the later one in the log is held out
        ("u3", "i0", 1),
    ]
    split = leave_last_out(log(events), catalog())
    assert split.user_ids.tolist() == ["u1", "u3"]
    assert as_lists(split.relevant) == [[3], [5]]
    # profile in log order, without the held-out event
    assert as_lists(split.profiles) == [[0, 1], [4, 0]]
    assert split.skipped == {"fewer_than_2_purchases": 1}
    # training events are all events but the held-out ones
    assert sorted(split.train.item_ids.tolist()) == ["i0", "i0", "i1", "i2", "i4"]
    assert len(split.log) == len(events)


def test_leave_last_out_untimed_purchases_stay_in_the_profile() -> None:
    events = [
        ("u1", "i0", np.nan),
        ("u1", "i1", 3),
        ("u1", "i2", np.nan),
        ("u2", "i3", np.nan),
        ("u2", "i4", np.nan),
    ]
    split = leave_last_out(log(events), catalog())
    assert split.user_ids.tolist() == ["u1"]
    assert as_lists(split.relevant) == [[1]]
    assert as_lists(split.profiles) == [[0, 2]]
    assert split.skipped == {"no_timestamp": 1}


def test_time_replay_cases_profiles_and_stock() -> None:
    # time order: a:i0 (1), b:i1 (2), a:i2 (3), b:i0 (4, already sold), a:i3 (5)
    events = [
        ("a", "i2", 3),
        ("b", "i1", 2),
        ("a", "i0", 1),
        ("b", "i0", 4),
        ("a", "i3", 5),
    ]
    split = time_replay(log(events), catalog(5))
    assert split.protocol == "time-replay"
    # the first purchase of each user is no case
    assert split.user_ids.tolist() == ["a", "b", "a"]
    assert as_lists(split.profiles) == [[0], [1], [0, 2]]
    assert as_lists(split.relevant) == [[2], [0], [3]]
    assert split.case_position is not None
    assert split.case_position.tolist() == [2, 3, 4]
    # i0 left at position 0, i1 at 1, i2 at 2, i3 at 4, i4 never (5 events)
    assert split.leaves_stock_at is not None
    assert split.leaves_stock_at.tolist() == [0, 1, 2, 4, 5]
    masks = split.candidate_masks(0, 3)
    # case 0 (a buys i2 at pos 2): i0 consumed and sold, i1 sold, i2 still in stock
    assert masks[0].tolist() == [False, False, True, True, True]
    # case 1 (b buys i0 at pos 3): i0 sold earlier -> not a candidate (evaluator skips)
    assert masks[1].tolist() == [False, False, False, True, True]
    # case 2 (a buys i3 at pos 4)
    assert masks[2].tolist() == [False, False, False, True, True]
    assert split.skipped == {"first_purchases": 2}
    assert len(split.train) == 0


def test_time_replay_items_that_are_not_one_of_a_kind_stay_in_stock() -> None:
    events = [("a", "i0", 1), ("b", "i1", 2), ("b", "i0", 3)]
    split = time_replay(log(events), catalog(3), one_of_a_kind=np.array([False, True, True]))
    assert split.user_ids.tolist() == ["b"]
    assert split.leaves_stock_at is not None
    assert split.leaves_stock_at.tolist() == [3, 1, 3]
    assert split.candidate_masks(0, 1)[0].tolist() == [True, False, True]
    # the catalogue column says the same
    cat = catalog(3, one_of_a_kind=[False, True, True])
    assert time_replay(log(events), cat).candidate_masks(0, 1)[0].tolist() == [True, False, True]
    # all one of a kind: i0 is gone when b buys it
    all_unique = time_replay(log(events), catalog(3), one_of_a_kind=True)
    assert all_unique.candidate_masks(0, 1)[0].tolist() == [False, False, True]


def test_time_replay_ties_keep_log_order_and_untimed_events_are_counted() -> None:
    events = [("a", "i1", 5), ("a", "i0", 5), ("a", "i2", np.nan), ("zz", "nope", 1)]
    split = time_replay(log(events), catalog(3))
    assert as_lists(split.profiles) == [[1]]
    assert as_lists(split.relevant) == [[0]]
    assert split.skipped == {
        "events_with_unknown_item": 1,
        "events_without_timestamp": 1,
        "first_purchases": 1,
    }
    with pytest.raises(DataError, match="needs timestamps"):
        time_replay(log([("a", "i0", np.nan)]), catalog(3))
    with pytest.raises(DataError, match="one_of_a_kind"):
        time_replay(log(events), catalog(3), one_of_a_kind=np.ones(2, bool))


def test_time_replay_matches_a_slow_simulation_on_random_logs() -> None:
    rng = np.random.default_rng(5)
    for _ in range(30):
        n_items = int(rng.integers(3, 15))
        n_events = int(rng.integers(1, 30))
        events = [
            (
                f"u{int(rng.integers(0, 4))}",
                f"i{int(rng.integers(0, n_items))}",
                float(rng.integers(0, 10)),
            )
            for _ in range(n_events)
        ]
        split = time_replay(log(events), catalog(n_items))
        # slow simulation: sort by (time, log position), walk with an explicit stock set
        order = sorted(range(n_events), key=lambda e: (events[e][2], e))
        stock = set(range(n_items))
        bought: dict[str, list[int]] = {}
        expected = []
        for e in order:
            user, item, _ = events[e]
            row = int(item[1:])
            if bought.get(user):
                consumed = set(bought[user])
                cand = sorted(stock - consumed)
                expected.append((user, sorted(set(bought[user])), row, cand))
            bought.setdefault(user, []).append(row)
            stock.discard(row)
        assert len(expected) == split.n_cases
        masks = split.candidate_masks(0, split.n_cases)
        for j, (user, profile, row, cand) in enumerate(expected):
            assert split.user_ids[j] == user
            assert sorted(split.profiles[j].tolist()) == profile
            assert split.relevant[j].tolist() == [row]
            # the stock just before the purchase (the bought item included unless it
            # sold earlier), minus the user's consumed items
            assert np.flatnonzero(masks[j]).tolist() == cand


def test_make_split_by_name() -> None:
    events = [("u", "i0", 1), ("u", "i1", 2)]
    assert make_split("leave_last_out", log(events), catalog()).protocol == "leave-last-out"
    assert make_split("time-replay", log(events), catalog()).protocol == "time-replay"
    with pytest.raises(DataError, match="unknown protocol 'nope'"):
        make_split("nope", log(events), catalog())


def test_candidate_masks_of_a_slice() -> None:
    events = [("u", "i0", 1), ("u", "i1", 2), ("v", "i2", 1), ("v", "i3", 2)]
    split = leave_last_out(log(events), catalog(4))
    assert split.candidate_masks(1, 5).tolist() == [[True, True, False, True]]
