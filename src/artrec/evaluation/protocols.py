"""Evaluation protocols: how an interaction log becomes evaluation cases.

A protocol turns an :class:`~artrec.data.Interactions` log and a
:class:`~artrec.data.Catalog` into a :class:`Split`: the events a recommender may be
fitted on, and a list of *cases*. A case is one (user, moment) pair with

* a **profile**: the catalogue rows the recommender is given for that user;
* the **relevant** rows: what the user went on to buy;
* a **candidate set**: the rows that are ranked, always the catalogue minus the user's
  consumed items (the profile), and for :func:`time_replay` also minus the items no longer
  in stock at that moment. :meth:`Split.candidate_masks` builds it.

Every event is treated as a purchase; pass only the kinds you mean (the CLI passes
``kind == "purchase"``). Events whose item is not in the catalogue are left out and
counted in :attr:`Split.skipped`, as are users a protocol cannot evaluate; nothing is
dropped silently.

Protocols
---------
``given``
    The split column of the log (the notebook's ``past_transactions`` / ``ground_truth``).
``leave-last-out``
    Each user's last purchase by timestamp is held out.
``time-replay``
    Events replayed in time order; every repeat purchase is a case ranked against the
    stock of that moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.errors import DataError

__all__ = [
    "PROTOCOLS",
    "Split",
    "default_protocol",
    "given_split",
    "leave_last_out",
    "make_split",
    "time_replay",
]

#: Protocol names accepted by :func:`make_split` (and the CLI).
PROTOCOLS: tuple[str, ...] = ("given", "leave-last-out", "time-replay")


@dataclass(frozen=True)
class Split:
    """Evaluation cases produced by a protocol.

    Parameters
    ----------
    protocol
        The protocol's name.
    n_items
        Catalogue size.
    user_ids
        ``(n_cases,)`` raw user id of each case (a user may have several cases under
        ``time-replay``).
    profiles
        One int array of catalogue rows per case: what the recommender sees.
    relevant
        One int array of catalogue rows per case: the held-out purchases.
    exclude
        One int array per case: the consumed rows removed from the candidate set.
    train
        The events a recommender may be fitted on (popularity and the like); it never
        holds a held-out event.
    log
        All events of the protocol with an item in the catalogue (used for novelty).
    case_position
        ``time-replay`` only: position of each case's purchase in the time-ordered log.
    leaves_stock_at
        ``time-replay`` only: per catalogue row, the time-ordered position of the purchase
        that took it out of stock (``n_events`` when it never left). An item is a candidate
        for a case at position ``e`` when ``leaves_stock_at >= e``.
    skipped
        Reason -> count of events or users the protocol could not use.
    """

    protocol: str
    n_items: int
    user_ids: np.ndarray
    profiles: list[np.ndarray]
    relevant: list[np.ndarray]
    exclude: list[np.ndarray]
    train: Interactions
    log: Interactions
    case_position: np.ndarray | None = None
    leaves_stock_at: np.ndarray | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        if not (len(self.profiles) == len(self.relevant) == len(self.exclude) == n):
            raise DataError("a split needs one profile, relevant set and exclusion per case")
        if (self.case_position is None) != (self.leaves_stock_at is None):
            raise DataError("case_position and leaves_stock_at go together")

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def n_cases(self) -> int:
        """Number of evaluation cases."""
        return len(self.user_ids)

    def candidate_masks(self, start: int, stop: int) -> np.ndarray:
        """Boolean ``(stop - start, n_items)`` candidate masks of cases ``start:stop``.

        A row is a candidate unless the user consumed it (it is in ``exclude``) or, under
        ``time-replay``, it had left the stock before the case's purchase.
        """
        stop = min(stop, self.n_cases)
        count = max(0, stop - start)
        if self.leaves_stock_at is not None and self.case_position is not None:
            mask = self.leaves_stock_at[None, :] >= self.case_position[start:stop, None]
        else:
            mask = np.ones((count, self.n_items), dtype=bool)
        for j in range(count):
            ex = self.exclude[start + j]
            if len(ex):
                mask[j, ex] = False
        return mask


def _known(interactions: Interactions, catalog: Catalog) -> tuple[Interactions, np.ndarray, int]:
    """Events whose item is in the catalogue, their rows, and how many were left out."""
    rows = catalog.rows_of(interactions.item_ids, missing="mark")
    keep = rows >= 0
    return interactions.select(keep), rows[keep], int((~keep).sum())


def _distinct(rows: list[int]) -> np.ndarray:
    return np.asarray(list(dict.fromkeys(rows)), dtype=np.int64)


def _add(skipped: dict[str, int], reason: str, count: int) -> None:
    if count:
        skipped[reason] = skipped.get(reason, 0) + count


def given_split(interactions: Interactions, catalog: Catalog) -> Split:
    """Cases from the log's own split column (``"train"`` / ``"test"``).

    One case per user with at least one ``test`` event: the profile is the user's
    ``train`` events, the relevant rows their ``test`` events. Users with test events but
    no train events (``"no_profile"``) and events with no split (``"events_without_split"``)
    are skipped and counted.

    Raises
    ------
    DataError
        When the log has no split column at all.
    """
    if interactions.splits is None:
        raise DataError(
            "the interactions carry no given train/test split; "
            "use the leave-last-out or time-replay protocol"
        )
    known, rows, unknown = _known(interactions, catalog)
    skipped: dict[str, int] = {}
    _add(skipped, "events_with_unknown_item", unknown)
    splits = known.splits
    assert splits is not None
    train_rows: dict[str, list[int]] = {}
    test_rows: dict[str, list[int]] = {}
    no_split = 0
    for user, row, role in zip(
        known.user_ids.tolist(), rows.tolist(), splits.tolist(), strict=True
    ):
        if role == "train":
            train_rows.setdefault(user, []).append(row)
        elif role == "test":
            test_rows.setdefault(user, []).append(row)
        else:
            no_split += 1
    _add(skipped, "events_without_split", no_split)
    users, profiles, relevant = [], [], []
    no_profile = 0
    for user, test in test_rows.items():
        if user not in train_rows:
            no_profile += 1
            continue
        users.append(user)
        profiles.append(_distinct(train_rows[user]))
        relevant.append(_distinct(test))
    _add(skipped, "no_profile", no_profile)
    train = known.select(np.asarray([s == "train" for s in splits.tolist()], dtype=bool))
    return Split(
        "given",
        catalog.n_items,
        np.asarray(users, dtype=object),
        profiles,
        relevant,
        list(profiles),
        train,
        known,
        skipped=skipped,
    )


def leave_last_out(interactions: Interactions, catalog: Catalog) -> Split:
    """Hold out each user's last purchase by timestamp.

    Every user with at least two purchases is one case. The held-out purchase is the one
    with the latest timestamp; among purchases with that same timestamp, the one that comes
    last in the log. Purchases with an unknown (NaN) timestamp are never held out but stay
    in the profile. The profile (and the consumed set) is every other purchase of the user.
    Users with one purchase (``"fewer_than_2_purchases"``) or with no timestamped purchase
    (``"no_timestamp"``) are skipped and counted.
    """
    known, rows, unknown = _known(interactions, catalog)
    skipped: dict[str, int] = {}
    _add(skipped, "events_with_unknown_item", unknown)
    ts = known.timestamps
    assert ts is not None
    events: dict[str, list[int]] = {}
    for e, user in enumerate(known.user_ids.tolist()):
        events.setdefault(user, []).append(e)
    held_out = np.zeros(len(known), dtype=bool)
    users, profiles, relevant = [], [], []
    few = no_time = 0
    for user, evs in events.items():
        if len(evs) < 2:
            few += 1
            continue
        timed = [e for e in evs if not np.isnan(ts[e])]
        if not timed:
            no_time += 1
            continue
        last = max(timed, key=lambda e: (ts[e], e))
        held_out[last] = True
        users.append(user)
        profiles.append(_distinct([int(rows[e]) for e in evs if e != last]))
        relevant.append(np.asarray([rows[last]], dtype=np.int64))
    _add(skipped, "fewer_than_2_purchases", few)
    _add(skipped, "no_timestamp", no_time)
    return Split(
        "leave-last-out",
        catalog.n_items,
        np.asarray(users, dtype=object),
        profiles,
        relevant,
        list(profiles),
        known.select(~held_out),
        known,
        skipped=skipped,
    )


def time_replay(
    interactions: Interactions,
    catalog: Catalog,
    *,
    one_of_a_kind: np.ndarray | bool | None = None,
) -> Split:
    """Replay purchases in time order against the stock of each moment.

    Events are ordered by timestamp; events with the same timestamp keep their log order.
    Every item starts in stock; a one-of-a-kind item leaves the stock at its first
    purchase. Each purchase by a user who bought something earlier is a case: the profile
    (and the consumed set) is the user's earlier purchases, the candidates are the items
    still in stock just before the purchase (the purchased item itself included, unless it
    had already sold), minus the consumed ones, and the relevant row is the purchased item.
    A purchase of an item that had already left the stock therefore has no relevant
    candidate; the evaluator skips and counts it.

    The recommender is fitted on no events (:attr:`Split.train` is empty): any event
    could be in the future of some case, and profiles are given at scoring time.
    Purchases with an unknown timestamp cannot be placed in time; they are left out and
    counted (``"events_without_timestamp"``), as are first purchases
    (``"first_purchases"``), which have no profile.

    Parameters
    ----------
    interactions, catalog
        The purchase log and the catalogue.
    one_of_a_kind
        Which items leave the stock when bought: a boolean array over catalogue rows, or
        ``True``/``False`` for all. ``None`` (default) reads the catalogue's
        ``one_of_a_kind`` metadata column when it exists and otherwise treats every artwork
        as one of a kind.
    """
    known, rows, unknown = _known(interactions, catalog)
    skipped: dict[str, int] = {}
    _add(skipped, "events_with_unknown_item", unknown)
    ts = known.timestamps
    assert ts is not None
    timed = ~np.isnan(ts)
    _add(skipped, "events_without_timestamp", int((~timed).sum()))
    if not timed.any():
        raise DataError("time replay needs timestamps, but no purchase has one")
    unique = _one_of_a_kind(one_of_a_kind, catalog)
    log = known.select(timed)
    log_rows = rows[timed]
    assert log.timestamps is not None
    order = np.argsort(log.timestamps, kind="stable")
    n_events = len(order)
    leaves = np.full(catalog.n_items, n_events, dtype=np.int64)
    history: dict[str, list[int]] = {}
    users, profiles, relevant, positions = [], [], [], []
    first = 0
    for pos, e in enumerate(order.tolist()):
        user = log.user_ids[e]
        row = int(log_rows[e])
        earlier = history.get(user)
        if earlier:
            users.append(user)
            profiles.append(_distinct(earlier))
            relevant.append(np.asarray([row], dtype=np.int64))
            positions.append(pos)
        else:
            first += 1
        history.setdefault(user, []).append(row)
        if unique[row] and leaves[row] == n_events:
            leaves[row] = pos
    _add(skipped, "first_purchases", first)
    return Split(
        "time-replay",
        catalog.n_items,
        np.asarray(users, dtype=object),
        profiles,
        relevant,
        list(profiles),
        log.select(np.zeros(len(log), dtype=bool)),
        log,
        case_position=np.asarray(positions, dtype=np.int64),
        leaves_stock_at=leaves,
        skipped=skipped,
    )


def _one_of_a_kind(spec: np.ndarray | bool | None, catalog: Catalog) -> np.ndarray:
    n = catalog.n_items
    if spec is None:
        col = catalog.column("one_of_a_kind")
        if col is None:
            return np.ones(n, dtype=bool)
        return np.asarray([v is None or bool(v) for v in col.tolist()], dtype=bool)
    if isinstance(spec, (bool, np.bool_)):
        return np.full(n, bool(spec))
    arr = np.asarray(spec, dtype=bool)
    if arr.shape != (n,):
        raise DataError(f"one_of_a_kind has shape {arr.shape}, expected ({n},)")
    return arr


#: Why :func:`default_protocol` chose each protocol (shown to the user).
DEFAULT_PROTOCOL_REASONS: dict[str, str] = {
    "given": "the events carry their own train/test split",
    "leave-last-out": "the events carry no train/test split, so each user's last purchase "
    "by time is held out",
}


def default_protocol(interactions: Interactions) -> str:
    """The protocol that fits the data when none is named: ``"given"`` when some event is
    held out by the log's own split (a ``test`` event), else ``"leave-last-out"``.

    :data:`DEFAULT_PROTOCOL_REASONS` says why, in words.
    """
    splits = interactions.splits
    if splits is not None and any(s == "test" for s in splits.tolist()):
        return "given"
    return "leave-last-out"


def make_split(protocol: str, interactions: Interactions, catalog: Catalog) -> Split:
    """Build a split by protocol name (one of :data:`PROTOCOLS`; ``_`` may replace ``-``)."""
    name = protocol.replace("_", "-").lower()
    if name == "given":
        return given_split(interactions, catalog)
    if name == "leave-last-out":
        return leave_last_out(interactions, catalog)
    if name == "time-replay":
        return time_replay(interactions, catalog)
    raise DataError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
