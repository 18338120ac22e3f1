"""The validation split: carved from training events only, for tuning and early stopping.

Model choice, hyperparameter search and early stopping must never see the test split. They
work on a :class:`~artrec.evaluation.protocols.Split` carved from the *training* events of
the real split: each user's last training events by time are held out
(:func:`artrec.data.splits.last_fraction_mask` with ``keep_one=True``, so every held-out user
keeps a profile), the rest is what a model is fitted on. The result has the same shape as
every protocol's split, so :func:`~artrec.evaluation.evaluator.evaluate` scores it unchanged.
"""

from __future__ import annotations

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.splits import last_fraction_mask, user_time_order
from artrec.errors import DataError
from artrec.evaluation.protocols import Split

#: Share of each user's training events held out for validation by default.
DEFAULT_VALIDATION_FRACTION = 0.2


def validation_split(
    train: Interactions,
    catalog: Catalog,
    *,
    fraction: float = DEFAULT_VALIDATION_FRACTION,
) -> Split:
    """Hold out each user's last training events (by time) as validation cases.

    Parameters
    ----------
    train
        The training events of the real split (:attr:`Split.train`); nothing else is read.
    catalog
        The catalogue.
    fraction
        Share of each user's events held out: the last ``floor(fraction * n)``, at least
        one, never all of them (users with one event are not validation cases).

    Returns
    -------
    Split
        Protocol ``"validation"``: one case per user with a held-out event; ``train`` holds
        the remaining events, ``log`` all of ``train``. Held-out events whose item the user
        also has among the remaining events are relevant but consumed, so the evaluator
        skips such cases (``"no_relevant_candidate"``), as in every protocol.

    Raises
    ------
    DataError
        When no user has two or more training events on catalogue items.
    """
    rows = catalog.rows_of(train.item_ids, missing="mark")
    known = rows >= 0
    events = train.select(known)
    rows = rows[known]
    held = last_fraction_mask(
        events.user_ids, events.item_ids, events.timestamps, fraction, keep_one=True
    )
    kept_rows: dict[str, list[int]] = {}
    held_rows: dict[str, list[int]] = {}
    order = user_time_order(events.user_ids, events.item_ids, events.timestamps)
    for e in order.tolist():
        user = events.user_ids[e]
        (held_rows if held[e] else kept_rows).setdefault(user, []).append(int(rows[e]))
    users = [u for u in held_rows if u in kept_rows]
    if not users:
        raise DataError(
            "no user has two or more training events: a validation split cannot be carved"
        )
    profiles = [_distinct(kept_rows[u]) for u in users]
    relevant = [_distinct(held_rows[u]) for u in users]
    skipped: dict[str, int] = {}
    if int((~known).sum()):
        skipped["events_with_unknown_item"] = int((~known).sum())
    single = sum(1 for u in kept_rows if u not in held_rows)
    if single:
        skipped["users_with_one_event"] = single
    return Split(
        "validation",
        catalog.n_items,
        np.asarray(users, dtype=object),
        profiles,
        relevant,
        list(profiles),
        events.select(~held),
        events,
        skipped=skipped,
    )


def _distinct(rows: list[int]) -> np.ndarray:
    return np.asarray(list(dict.fromkeys(rows)), dtype=np.int64)
