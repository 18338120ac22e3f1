r"""Metadata affinity: how much of a profile shares an item's artist, century, medium, museum.

Each catalogue field ``f`` (artist, century, medium, museum by default) is an item feature
with one value per work (unknown values never match). For a profile ``P`` and a field,
``n_f(v)`` counts the profile items with value ``v`` and ``|P_f|`` those with a known value.
The affinity of item ``i`` is

.. math::

    \text{score}(i) = \sum_f w_f \, a_f(v_f(i)) + \pi \, \frac{\text{pop}(i)}{\max \text{pop} + 1},
    \qquad a_f(v) = \begin{cases} n_f(v) / (|P_f| + s) & \text{mode ``share''} \\
                                  n_f(v) & \text{mode ``count''} \end{cases}

with ``s`` the smoothing (a profile with few known values counts less) and ``π`` the weight
of a popularity term (training events) that orders items of equal affinity. Scores are
folded in at scoring time: a new like changes them at once.

The **favourite-artist baseline** is the special case ``weights={"artist": 1}``, mode
``count``, ``π = 1``: ``score(i) = n_artist(artist of i) + pop(i) / (max pop + 1)``
(:class:`~artrec.recommend.baselines.FavouriteArtistRecommender` is exactly that).

The century is taken from the ``century`` column, or derived from ``year`` (``year // 100 +
1``; BCE and unknown years are unknown). Fields the catalogue lacks are left out.

Explanations: the field with the largest term ``w_f a_f`` for a recommended item gives the
reason code (:data:`~artrec.recommend.reasons.ARTIST`, ``CENTURY``, ``MEDIUM``,
``MUSEUM``) and the ``because`` row is the first profile item sharing that value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from artrec.errors import DataError
from artrec.recommend import reasons as R
from artrec.recommend.base import TrainData
from artrec.recommend.collaborative import check_fitted
from artrec.recommend.store import SavableRecommender

#: Default field weights: the artist matters most; the others are broad groups. A prior,
#: not fitted to any data set (the hybrid's blend and ``tune`` weigh the whole source).
DEFAULT_WEIGHTS: dict[str, float] = {"artist": 1.0, "century": 0.3, "medium": 0.2, "museum": 0.2}

#: Reason code of each field.
FIELD_REASONS: dict[str, str] = {
    "artist": R.ARTIST,
    "century": R.CENTURY,
    "medium": R.MEDIUM,
    "museum": R.MUSEUM,
}

MODES: tuple[str, ...] = ("share", "count")


def _norm(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    text = str(value).strip().lower()
    return None if text in ("", "unknown", "none", "nan", "unknown artist", "anonymous") else text


def field_values(data: TrainData, field: str) -> list[str | None] | None:
    """Normalised values of ``field`` per row, or ``None`` when the catalogue lacks it."""
    if field == "artist" and data.artists is not None:
        return [_norm(v) for v in np.asarray(data.artists, dtype=object).tolist()]
    col = data.metadata.get(field)
    if col is None and field == "century":
        years = data.metadata.get("year")
        if years is None:
            return None
        out: list[str | None] = []
        for y in np.asarray(years, dtype=object).tolist():
            try:
                year = int(float(y))
            except (TypeError, ValueError):
                out.append(None)
                continue
            out.append(str(year // 100 + 1) if year > 0 else None)
        return out
    if col is None:
        return None
    return [_norm(v) for v in np.asarray(col, dtype=object).tolist()]


def _encode(values: list[str | None]) -> np.ndarray:
    lookup: dict[str, int] = {}
    codes = np.full(len(values), -1, dtype=np.int64)
    for row, v in enumerate(values):
        if v is not None:
            codes[row] = lookup.setdefault(v, len(lookup))
    return codes


#: Profiles up to this many are scored one at a time (:meth:`MetadataAffinityRecommender.
#: _score_each`); larger batches by sparse products.
DENSE_BATCH = 8


class MetadataAffinityRecommender(SavableRecommender):
    """Affinity of items to a profile through shared metadata (see the module doc).

    Parameters
    ----------
    weights
        Field name -> weight; defaults to :data:`DEFAULT_WEIGHTS`.
    smoothing
        ``s`` in the share mode (>= 0).
    mode
        ``"share"`` (default) or ``"count"``.
    popularity_weight
        ``π``, the weight of the normalised popularity term (>= 0).

    Attributes
    ----------
    fields_
        The fields used (those the catalogue has), in ``weights`` order.
    codes_
        ``(n_fields, n_items)`` int64 value codes, ``-1`` where unknown.
    popularity_
        ``(n_items,)`` ``pop(i) / (max pop + 1)``.
    """

    kind = "metadata"
    reason = R.ARTIST

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        smoothing: float = 1.0,
        mode: str = "share",
        popularity_weight: float = 0.01,
    ) -> None:
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self.smoothing = smoothing
        self.mode = mode
        self.popularity_weight = popularity_weight
        self.name = "metadata"

    def _check(self) -> None:
        if self.mode not in MODES:
            raise DataError(
                f"unknown metadata mode {self.mode!r}; choose one of {', '.join(MODES)}"
            )
        if not self.weights:
            raise DataError("metadata affinity needs at least one field weight")
        for field, w in self.weights.items():
            if not w >= 0:
                raise DataError(f"metadata weight of {field!r} must be >= 0, got {w!r}")
        if not self.smoothing >= 0 or not self.popularity_weight >= 0:
            raise DataError("smoothing and popularity_weight must be >= 0")

    def fit(self, data: TrainData) -> MetadataAffinityRecommender:
        """Encode the fields the catalogue has and count popularity; returns self.

        Raises :class:`DataError` when the catalogue has none of the weighted fields.
        """
        self._check()
        fields, codes = [], []
        for field in self.weights:
            values = field_values(data, field)
            if values is not None:
                fields.append(field)
                codes.append(_encode(values))
        if not fields:
            raise DataError(
                f"metadata affinity needs one of the catalogue fields {', '.join(self.weights)}, "
                "and the catalogue has none"
            )
        pop = np.bincount(data.interactions_rows, minlength=data.n_items).astype(np.float64)
        self._set(fields, np.vstack(codes), pop / (pop.max(initial=0.0) + 1.0))
        self.data_ = data
        return self

    def _set(self, fields: list[str], codes: np.ndarray, popularity: np.ndarray) -> None:
        self.fields_ = fields
        self.codes_ = codes
        self.popularity_ = popularity
        self.n_values_ = [int(c.max(initial=-1)) + 1 for c in codes]
        self.field_weights_ = np.array([float(self.weights[f]) for f in fields])
        self._field_reasons = [FIELD_REASONS.get(f, R.ARTIST) for f in fields]
        n_items = codes.shape[1] if codes.ndim == 2 else 0
        # value codes with "unknown" as one more value whose count is always 0: a term is
        # then one gather over the catalogue (``counts[slot]``), and ``x + 0.0 == x``
        self._slots = [np.where(c >= 0, c, n) for c, n in zip(codes, self.n_values_, strict=True)]
        self._onehot = []
        for c, n_values in zip(codes, self.n_values_, strict=True):
            known = np.flatnonzero(c >= 0)
            self._onehot.append(
                sp.csr_matrix(
                    (np.ones(len(known)), (known, c[known])), shape=(n_items, max(n_values, 1))
                )
            )

    def _counts(self, f: int, rows: np.ndarray) -> np.ndarray | None:
        """``a_f(v)`` for every value ``v`` of field ``f`` (one more slot, 0, for unknown
        values), from the profile ``rows``; ``None`` when the field adds nothing."""
        weight = self.field_weights_[f]
        if weight == 0:
            return None
        pc = self.codes_[f, rows]
        pc = pc[pc >= 0]
        counts = np.bincount(pc, minlength=self.n_values_[f] + 1).astype(np.float64)
        counts[self.n_values_[f]] = 0.0
        if self.mode == "share":
            denom = len(pc) + self.smoothing
            counts *= 1.0 / denom if denom > 0 else 0.0
        return counts

    def _terms(self, profile: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``(n_fields, len(items))`` terms ``w_f a_f(v_f(i))`` of one profile, at ``items``."""
        rows = np.asarray(profile, dtype=np.int64).reshape(-1)
        out = np.zeros((len(self.fields_), len(items)))
        for f in range(len(self.fields_)):
            counts = self._counts(f, rows)
            if counts is not None:
                out[f] = self.field_weights_[f] * counts[self._slots[f][items]]
        return out

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """Weighted affinities plus the popularity term, for every row."""
        check_fitted(self, "codes_")
        n_items = self.codes_.shape[1]
        out = np.tile(self.popularity_weight * self.popularity_, (len(profiles), 1))
        rows = [np.asarray(p, dtype=np.int64).reshape(-1) for p in profiles]
        for j, r in enumerate(rows):
            if r.size and (r.min() < 0 or r.max() >= n_items):
                raise DataError(f"profile {j} holds a row outside 0..{n_items - 1}")
        if len(rows) <= DENSE_BATCH:
            return self._score_each(rows, out)
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        idx = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        # profile x item counts (a row listed twice counts twice, as in the definition)
        q = sp.csr_matrix((np.ones(len(idx)), idx, indptr), shape=(len(rows), n_items))
        for f, onehot in enumerate(self._onehot):
            weight = self.field_weights_[f]
            if weight == 0:
                continue
            counts = sp.csr_matrix(q @ onehot)  # (profiles, values): n_f(v)
            if self.mode == "share":
                known = np.asarray(counts.sum(axis=1)).ravel()
                denom = known + self.smoothing
                scale = np.divide(1.0, denom, out=np.zeros_like(denom), where=denom > 0)
                counts = sp.csr_matrix(counts.multiply(scale[:, None]))
            out += weight * np.asarray((counts @ onehot.T).toarray())
        return out

    def _score_each(self, rows: list[np.ndarray], out: np.ndarray) -> np.ndarray:
        """:meth:`score` one profile at a time with value counts (``bincount``) and one
        gather per field instead of sparse products: the same terms added in the same
        order, so the same floats, at a fraction of the cost for the few profiles of a
        serving request."""
        for j, r in enumerate(rows):
            for f in range(len(self.fields_)):
                counts = self._counts(f, r)
                if counts is not None:
                    out[j] += self.field_weights_[f] * counts[self._slots[f]]
        return out

    def explain_reasons(
        self, profiles: Sequence[np.ndarray], rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The field with the largest term gives the reason, and the first profile item with
        the same value in that field is the ``because`` row (``-1`` and no reason when no
        field matches)."""
        check_fitted(self, "codes_")
        rows = np.asarray(rows, dtype=np.int64)
        because = np.full(rows.shape, -1, dtype=np.int64)
        codes_out = np.full(rows.shape, R.NONE, dtype=object)
        for j, p in enumerate(profiles):
            prof = np.asarray(p, dtype=np.int64).reshape(-1)
            valid = np.flatnonzero(rows[j] >= 0)
            if not prof.size or not valid.size:
                continue
            n_items = self.codes_.shape[1]
            if prof.min() < 0 or prof.max() >= n_items:
                raise DataError(f"profile {j} holds a row outside 0..{n_items - 1}")
            items = rows[j, valid]
            terms = self._terms(prof, items)
            best = np.argmax(terms, axis=0)
            hit = terms[best, np.arange(len(items))] > 0
            if not hit.any():
                continue
            t, f, items = valid[hit], best[hit], items[hit]
            # a positive term means some profile item has the item's value in field f: the
            # first such item is the because row
            same = self.codes_[f][:, prof] == self.codes_[f, items][:, None]
            because[j, t] = prof[np.argmax(same, axis=1)]
            codes_out[j, t] = [self._field_reasons[i] for i in f.tolist()]
        return because, codes_out

    def explain(self, profiles: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """The ``because`` rows of :meth:`explain_reasons`."""
        return self.explain_reasons(profiles, rows)[0]

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Weights, smoothing, mode, popularity weight and fields; codes and popularity."""
        check_fitted(self, "codes_")
        params = {
            "weights": dict(self.weights),
            "smoothing": float(self.smoothing),
            "mode": self.mode,
            "popularity_weight": float(self.popularity_weight),
            "fields": list(self.fields_),
        }
        return params, {"codes": self.codes_, "popularity": self.popularity_}

    @classmethod
    def from_state(
        cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> MetadataAffinityRecommender:
        """The fitted model rebuilt from :meth:`get_state`."""
        rec = cls(
            dict(params["weights"]),
            float(params["smoothing"]),
            str(params["mode"]),
            float(params["popularity_weight"]),
        )
        codes = np.asarray(arrays["codes"], dtype=np.int64)
        rec._set(list(params["fields"]), codes, np.asarray(arrays["popularity"], np.float64))
        rec.data_ = TrainData(codes.shape[1])
        return rec
