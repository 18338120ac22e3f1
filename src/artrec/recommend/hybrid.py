r"""The hybrid: a weighted blend of per-user normalised source scores.

Any :class:`~artrec.recommend.base.Recommender` can be a source: content (VisRank on an
embedding), collaborative (item-kNN, EASE, iALS, BPR), time-aware popularity, metadata
affinity, or a learned model. For a profile ``P``:

.. math:: \text{score}(i) = \sum_s w_s \, \hat r_s(i)

where ``r̂_s`` is source ``s``'s score min-max normalised **per user over the candidates**
(:func:`normalise_per_user`: the rows outside the profile with a finite score map to
``[0, 1]``; a row the source cannot score (NaN, e.g. a work nobody bought yet under a
collaborative source) gets 0, the floor of that source, and so do all rows of a source
that does not separate them). The weights ``w_s >= 0`` are fitted by ``tune``
(:mod:`artrec.evaluation.tuning`) on a validation split carved from training events only.

Cold start
----------
* A **person with no events** (an empty profile) gets the ``cold_start`` source alone
  (time-aware popularity by default) and, in :meth:`HybridRecommender.rank`, the list is
  diversified by maximal marginal relevance over a pool of ``5 k`` candidates
  (:func:`artrec.recommend.rerank.mmr`, ``λ = diversify``) when the catalogue has vectors.
* A **work with no events** gets no collaborative score, so it competes through the
  sources that know it: content and metadata (and the popularity floor).

Explanations
------------
Each recommended row's reason is the source with the largest contribution
``w_s r̂_s(i)``; the ``because`` row and reason code are that source's own
(:meth:`Recommender.explain_reasons <artrec.recommend.base.Recommender.explain_reasons>`):
"because you bought X" (content), "popular with collectors who bought X" (collaborative),
"by an artist you collect" (metadata), "trending this month" (popularity).

A saved hybrid holds every source's state (each source must be savable); after loading,
:meth:`HybridRecommender.refresh` refits the cheap sources on the current data and grows
the collaborative ones to a catalogue that gained rows.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from artrec.errors import DataError
from artrec.recommend import reasons as R
from artrec.recommend.base import Ranking, Recommender, TrainData
from artrec.recommend.collaborative import GrowableRecommender
from artrec.recommend.rerank import mmr
from artrec.recommend.store import SavableRecommender, savable_class

#: Candidates per requested item that cold-start MMR re-ranks.
POOL_FACTOR = 5


def normalise_per_user(scores: np.ndarray, profiles: Sequence[np.ndarray]) -> np.ndarray:
    """Min-max normalise each row of ``scores`` over its candidates (see the module doc).

    The candidates of row ``j`` are the columns outside ``profiles[j]`` with a finite score;
    they map to ``[0, 1]``. Every other entry, and every entry of a row whose candidates all
    score the same, is 0. Returns a new float64 array.
    """
    out = np.array(scores, dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != len(profiles):
        raise DataError(f"scores of shape {out.shape} for {len(profiles)} profiles")
    for j, p in enumerate(profiles):
        rows = np.asarray(p, dtype=np.int64).reshape(-1)
        if rows.size:
            out[j, rows] = np.nan
    finite = np.isfinite(out)
    lo = np.where(finite, out, np.inf).min(axis=1, initial=np.inf)
    hi = np.where(finite, out, -np.inf).max(axis=1, initial=-np.inf)
    span = hi - lo
    ok = np.isfinite(span) & (span > 0)
    out -= np.where(ok, lo, 0.0)[:, None]
    out /= np.where(ok, span, 1.0)[:, None]
    out[~finite] = 0.0
    out[~ok] = 0.0
    return out


def _as_pairs(
    sources: Mapping[str, Recommender] | Sequence[tuple[str, Recommender]],
) -> list[tuple[str, Recommender]]:
    pairs = list(sources.items()) if isinstance(sources, Mapping) else list(sources)
    if not pairs:
        raise DataError("a hybrid needs at least one source")
    names = [n for n, _ in pairs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise DataError(f"two hybrid sources are named {dup!r}")
    for name, rec in pairs:
        if not isinstance(rec, Recommender):
            raise DataError(f"hybrid source {name!r} is not a Recommender")
    return pairs


class HybridRecommender(SavableRecommender):
    """Weighted blend of normalised sources (see the module doc).

    Parameters
    ----------
    sources
        Name -> recommender (or ``(name, recommender)`` pairs), any
        :class:`~artrec.recommend.base.Recommender`.
    weights
        Name -> weight ``>= 0``; missing names weigh 1. Sources of weight 0 are not fitted
        or scored (except the cold-start one).
    cold_start
        Source that ranks for empty profiles; by default the first source whose reason is
        trending or popular, else none (empty profiles get the blend).
    diversify
        MMR ``λ`` for cold-start lists in :meth:`rank` (``None``: no re-ranking).
    fit_sources
        Fit every source in :meth:`fit` (default); ``False`` uses them as already fitted.
    """

    kind = "hybrid"
    name = "hybrid"

    def __init__(
        self,
        sources: Mapping[str, Recommender] | Sequence[tuple[str, Recommender]],
        weights: Mapping[str, float] | None = None,
        *,
        cold_start: str | None = None,
        diversify: float | None = 0.7,
        fit_sources: bool = True,
    ) -> None:
        self.sources = _as_pairs(sources)
        names = [n for n, _ in self.sources]
        weights = dict(weights or {})
        unknown = set(weights) - set(names)
        if unknown:
            raise DataError(f"weights name unknown sources: {', '.join(sorted(unknown))}")
        self.weights = {n: float(weights.get(n, 1.0)) for n in names}
        for n, w in self.weights.items():
            if not (np.isfinite(w) and w >= 0):
                raise DataError(f"weight of source {n!r} must be finite and >= 0, got {w!r}")
        if cold_start is None:
            cold_start = next(
                (n for n, r in self.sources if r.reason in (R.TRENDING, R.POPULAR)), None
            )
        if cold_start is not None and cold_start not in names:
            raise DataError(f"cold_start names no source: {cold_start!r}")
        self.cold_start = cold_start
        if diversify is not None and not 0.0 <= diversify <= 1.0:
            raise DataError(f"diversify must lie in [0, 1], got {diversify!r}")
        self.diversify = diversify
        self.fit_sources = fit_sources
        # each thread's last normalised scores (a server scores in several threads);
        # the generation, bumped by every (re)fit, keeps a memo from outliving its model
        self._memo = threading.local()
        self._generation = 0

    # -- fitting --------------------------------------------------------------------------
    def _active(self) -> list[tuple[str, Recommender]]:
        return [(n, r) for n, r in self.sources if self.weights[n] > 0]

    def _needed(self) -> list[tuple[str, Recommender]]:
        return [(n, r) for n, r in self.sources if self.weights[n] > 0 or n == self.cold_start]

    def fit(self, data: TrainData) -> HybridRecommender:
        """Fit every source that has a weight (and the cold-start one); returns self."""
        if self.fit_sources:
            for _, rec in self._needed():
                rec.fit(data)
        self.data_ = data
        self._generation += 1
        return self

    def refresh(self, data: TrainData) -> HybridRecommender:
        """Bring a fitted (or loaded) hybrid to the current ``data`` without the costly refits.

        Collaborative sources (:class:`~artrec.recommend.collaborative.GrowableRecommender`)
        keep what they learned and are grown to ``data.n_items`` (appended rows get no
        collaborative score); learned ones (CuratorNet, VBPR) keep their weights and score
        the current catalogue through its features (``set_items``); every other source (content, metadata, popularity) is refitted
        on ``data``, which is cheap. A source that cannot be refitted (a content source
        when no embedding is at hand) keeps its saved state if it covers the same catalogue.
        """
        from artrec.recommend.neural import NeuralRecommender

        for name, rec in self._needed():
            if isinstance(rec, GrowableRecommender):
                rec.grow(data.n_items)
                continue
            if isinstance(rec, NeuralRecommender):  # learned weights kept, new works scored
                rec.set_items(data)
                continue
            try:
                rec.fit(data)
            except DataError:
                # e.g. no embedding at hand: a source fitted on this very catalogue stays
                fitted: TrainData | None = getattr(rec, "data_", None)
                if fitted is None or fitted.n_items != data.n_items:
                    raise DataError(
                        f"hybrid source {name!r} cannot be refreshed on the current catalogue"
                    ) from None
        self.data_ = data
        self._generation += 1
        return self

    # -- scoring --------------------------------------------------------------------------
    def source_scores(self, profiles: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Normalised scores of every weighted source: name -> ``(n, n_items)``."""
        return {n: normalise_per_user(rec.score(profiles), profiles) for n, rec in self._active()}

    def _cold(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([len(np.asarray(p).reshape(-1)) == 0 for p in profiles], dtype=bool)

    def _normalised(self, profiles: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each weighted source's normalised scores; each thread keeps its last batch's, so
        :meth:`explain_reasons` after :meth:`score` on the same profiles scores nothing twice,
        even while other threads score other profiles."""
        key = (
            self._generation,
            tuple(self.weights.items()),
            tuple(np.asarray(p, dtype=np.int64).tobytes() for p in profiles),
        )
        cached: tuple[Any, list[np.ndarray]] | None = getattr(self._memo, "last", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        norms = [normalise_per_user(rec.score(profiles), profiles) for _, rec in self._active()]
        self._memo.last = (key, norms)
        return norms

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """``sum_s w_s r̂_s``; empty profiles get the cold-start source's normalised scores."""
        if not hasattr(self, "data_"):
            raise DataError("HybridRecommender is not fitted: call fit() first")
        n_items = self.data_.n_items
        out = np.zeros((len(profiles), n_items))
        for (name, _), norm in zip(self._active(), self._normalised(profiles), strict=True):
            out += self.weights[name] * norm
        cold = self._cold(profiles)
        if cold.any() and self.cold_start is not None:
            idx = np.flatnonzero(cold)
            rec = dict(self.sources)[self.cold_start]
            sub = [profiles[i] for i in idx.tolist()]
            out[idx] = normalise_per_user(rec.score(sub), sub)
        return out

    # -- explanations ---------------------------------------------------------------------
    def explain_reasons(
        self, profiles: Sequence[np.ndarray], rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per recommended row, the ``because`` row and reason of the source that
        contributed most (the cold-start source's for empty profiles)."""
        rows = np.asarray(rows, dtype=np.int64)
        because = np.full(rows.shape, -1, dtype=np.int64)
        codes = np.full(rows.shape, R.NONE, dtype=object)
        active = self._active()
        if not active and self.cold_start is None:
            return because, codes
        safe = np.maximum(rows, 0)
        contrib = np.zeros((len(active), *rows.shape))
        norms = self._normalised(profiles) if active else []
        for s, ((name, _), norm) in enumerate(zip(active, norms, strict=True)):
            contrib[s] = self.weights[name] * np.take_along_axis(norm, safe, axis=1)
        winner = np.argmax(contrib, axis=0) if active else np.zeros(rows.shape, np.int64)
        cold = self._cold(profiles)
        by_name = dict(self.sources)
        for s, (_, rec) in enumerate(active):
            mask = (winner == s) & (rows >= 0) & ~cold[:, None]
            if mask.any():
                b, c = rec.explain_reasons(profiles, np.where(mask, rows, -1))
                because[mask] = b[mask]
                codes[mask] = c[mask]
        if cold.any() and self.cold_start is not None:
            rec = by_name[self.cold_start]
            mask = (rows >= 0) & cold[:, None]
            b, c = rec.explain_reasons(profiles, np.where(mask, rows, -1))
            because[mask] = b[mask]
            codes[mask] = c[mask]
        return because, codes

    def explain(self, profiles: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """The ``because`` rows of :meth:`explain_reasons`."""
        return self.explain_reasons(profiles, rows)[0]

    def rank(
        self,
        profiles: Sequence[np.ndarray],
        k: int = 10,
        *,
        exclude: Sequence[np.ndarray] | None = None,
        available: np.ndarray | None = None,
        chunk_size: int | None = None,
    ) -> Ranking:
        """Top-k rows per profile (see :meth:`Recommender.rank`); cold-start lists are
        diversified by MMR when ``diversify`` is set and the data has item vectors."""
        ranking = super().rank(
            profiles, k, exclude=exclude, available=available, chunk_size=chunk_size
        )
        vectors = getattr(self, "data_", TrainData(0)).vectors
        cold = np.flatnonzero(self._cold(profiles))
        if self.diversify is None or vectors is None or not len(cold):
            return ranking
        sub = [profiles[i] for i in cold.tolist()]
        sub_ex = None if exclude is None else [exclude[i] for i in cold.tolist()]
        pool = super().rank(
            sub, POOL_FACTOR * k, exclude=sub_ex, available=available, chunk_size=chunk_size
        )
        rows, scores = ranking.rows.copy(), ranking.scores.copy()
        because = ranking.because.copy()
        reasons = None if ranking.reasons is None else ranking.reasons.copy()
        for j, i in enumerate(cold.tolist()):
            valid = pool.rows[j] >= 0
            if not valid.any():
                continue
            cand, rel = pool.rows[j, valid], pool.scores[j, valid]
            chosen = mmr(cand, rel, vectors, k, self.diversify)
            pos = {r: t for t, r in enumerate(cand.tolist())}
            take = np.asarray([pos[r] for r in chosen.tolist()], dtype=np.int64)
            n = len(chosen)
            rows[i, :n] = chosen
            scores[i, :n] = rel[take]
            because[i, :n] = pool.because[j, valid][take]
            if reasons is not None and pool.reasons is not None:
                reasons[i, :n] = pool.reasons[j, valid][take]
        return Ranking(rows, scores, because, reasons)

    # -- saving ---------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Weights, cold-start source, ``diversify`` and every source's own state (each
        source must be savable); arrays are prefixed ``<position>.``."""
        if not hasattr(self, "data_"):
            raise DataError("HybridRecommender is not fitted: call fit() first")
        entries: list[dict[str, Any]] = []
        arrays: dict[str, np.ndarray] = {}
        for pos, (name, rec) in enumerate(self._needed()):
            if not isinstance(rec, SavableRecommender):
                raise DataError(
                    f"hybrid source {name!r} ({type(rec).__name__}) cannot be saved; "
                    "every source of a saved hybrid must be a SavableRecommender"
                )
            params, arrs = rec.get_state()
            entries.append({"name": name, "kind": rec.kind, "params": params})
            arrays.update({f"{pos}.{key}": value for key, value in arrs.items()})
        state = {
            "sources": entries,
            "weights": {e["name"]: self.weights[e["name"]] for e in entries},
            "cold_start": self.cold_start,
            "diversify": self.diversify,
            "n_items": int(self.data_.n_items),
        }
        return state, arrays

    @classmethod
    def from_state(
        cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> HybridRecommender:
        """The fitted hybrid rebuilt from :meth:`get_state` (sources through their kinds)."""
        sources: list[tuple[str, Recommender]] = []
        for pos, entry in enumerate(params["sources"]):
            prefix = f"{pos}."
            sub = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            rec = savable_class(str(entry["kind"])).from_state(entry["params"], sub)
            sources.append((str(entry["name"]), rec))
        hybrid = cls(
            sources,
            dict(params["weights"]),
            cold_start=params.get("cold_start"),
            diversify=params.get("diversify"),
            fit_sources=False,
        )
        hybrid.data_ = TrainData(int(params["n_items"]))
        return hybrid
