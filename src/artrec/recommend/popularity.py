"""Time-aware popularity: training events counted with a weight that falls with their age.

``score(i) = sum over training events e on item i of weight(age_e)``, where the age is
measured from the data's reference time (:attr:`TrainData.reference_time
<artrec.recommend.base.TrainData.reference_time>`: ``now`` when given, else the latest
training timestamp) in days, and

=================================  =====================================================
parameters                         weight(age)
=================================  =====================================================
``half_life_days=h``               ``0.5 ** (age / h)`` (exponential decay)
``window_days=w``                  ``1`` when ``age < w``, else ``0`` (a recent window)
both ``None``                      ``1`` (plain counts, as :class:`PopularRecommender`)
=================================  =====================================================

Events after the reference time (age < 0) count as age 0. Events with an unknown time
count as old as the oldest timed event, and with no timed event at all every weight is 1.
A tiny all-time term (``1e-9 * count``) breaks ties between items whose recent weight is
equal (typically 0) in favour of the more popular overall.

In time replay only what is in stock at a case's moment may be recommended: the
evaluator's candidate masks (and :meth:`Recommender.rank`'s ``available`` mask) remove
everything else, so the popularity of sold works never reaches a list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from artrec.errors import DataError
from artrec.recommend import reasons as R
from artrec.recommend.base import TrainData
from artrec.recommend.collaborative import check_fitted
from artrec.recommend.store import SavableRecommender

_DAY = 86400.0
_TIEBREAK = 1e-9


def event_weights(
    data: TrainData, half_life_days: float | None, window_days: float | None
) -> np.ndarray:
    """The weight of every training event of ``data`` (see the module doc)."""
    n = len(data.interactions_rows)
    now = data.reference_time
    if data.timestamps is None or now is None or (half_life_days is None and window_days is None):
        return np.ones(n)
    ts = np.asarray(data.timestamps, dtype=np.float64)
    known = np.isfinite(ts)
    age = np.zeros(n)
    age[known] = np.maximum(0.0, now - ts[known]) / _DAY
    age[~known] = age[known].max(initial=0.0)
    weight = np.ones(n)
    if half_life_days is not None:
        weight *= 0.5 ** (age / half_life_days)
    if window_days is not None:
        weight *= age < window_days
    return weight


class TimeAwarePopularityRecommender(SavableRecommender):
    """Most popular items, recent events counting more (see the module doc).

    Parameters
    ----------
    half_life_days
        Half-life of an event's weight in days, or ``None`` for no decay.
    window_days
        Only events younger than this many days count, or ``None`` for no window.

    Attributes
    ----------
    popularity_
        ``(n_items,)`` weighted counts (plus the tie-break term).
    """

    kind = "time-popular"

    def __init__(self, half_life_days: float | None = 30.0, window_days: float | None = None):
        self.half_life_days = half_life_days
        self.window_days = window_days
        parts = ["popular"]
        if half_life_days is not None:
            parts.append(f"hl{half_life_days:g}d")
        if window_days is not None:
            parts.append(f"win{window_days:g}d")
        self.name = "-".join(parts)

    @property
    def reason(self) -> str:  # type: ignore[override]
        """Trending when recent events count more, else popular."""
        return R.POPULAR if self.half_life_days is None and self.window_days is None else R.TRENDING

    def fit(self, data: TrainData) -> TimeAwarePopularityRecommender:
        """Weight and count the training events; returns self."""
        for label, value in (
            ("half_life_days", self.half_life_days),
            ("window_days", self.window_days),
        ):
            if value is not None and not value > 0:
                raise DataError(f"{label} must be > 0 or None, got {value!r}")
        weights = event_weights(data, self.half_life_days, self.window_days)
        rows = data.interactions_rows
        pop = np.bincount(rows, weights=weights, minlength=data.n_items).astype(np.float64)
        pop = pop + _TIEBREAK * np.bincount(rows, minlength=data.n_items)
        self.popularity_ = pop
        self.data_ = data
        return self

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """The weighted count of every row, the same for every profile."""
        check_fitted(self, "popularity_")
        return np.tile(self.popularity_, (len(profiles), 1))

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The half-life and window; the weighted counts."""
        check_fitted(self, "popularity_")
        params = {"half_life_days": self.half_life_days, "window_days": self.window_days}
        return params, {"popularity": self.popularity_}

    @classmethod
    def from_state(
        cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> TimeAwarePopularityRecommender:
        """The fitted recommender with the saved counts."""
        rec = cls(params.get("half_life_days"), params.get("window_days"))
        rec.popularity_ = np.asarray(arrays["popularity"], dtype=np.float64)
        rec.data_ = TrainData(len(rec.popularity_))
        return rec
