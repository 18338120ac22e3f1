"""Measuring an approximate index against exact search, for self-tuning.

:class:`~artrec.index.faiss_index.FaissIndex` tunes itself to a target recall@k (see its
``target_recall``): it holds items sampled from the catalogue out of the structure as
queries, computes their exact neighbours once with :func:`exact_neighbours`, and scores
each candidate configuration with :func:`measure` (recall@k with a confidence bound, and
search time). This module holds those measurements; the choice of configurations stays
with the index.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from artrec.similarity import prepare

#: Queries sampled from the catalogue to measure recall (fewer when the catalogue is smaller).
TUNE_QUERIES = 500
#: The k of the recall@k the tuning aims at.
TUNE_K = 10
#: Catalogue rows scored at once by :func:`exact_neighbours` (bounds its memory).
_BLOCK = 32768


@dataclass(frozen=True)
class Trial:
    """One configuration measured: its parameters, recall@k (the mean over the queries and
    a one-sided 95% lower confidence bound on it) and search time per query."""

    params: dict[str, Any]
    recall: float
    recall_low: float
    ms_per_query: float

    def reaches(self, target: float) -> bool:
        """Whether the recall is at least ``target`` with 95% confidence."""
        return bool(self.recall_low >= target)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out.update(recall=round(self.recall, 4), recall_low=round(self.recall_low, 4))
        out["ms_per_query"] = round(self.ms_per_query, 4)
        return out


def sample_rows(n_items: int, size: int = TUNE_QUERIES, seed: int = 0) -> np.ndarray:
    """``min(size, n_items)`` distinct catalogue rows, sorted, drawn with ``seed``."""
    size = min(size, n_items)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_items, size=size, replace=False))


def exact_neighbours(base: np.ndarray, queries: np.ndarray, k: int, metric: str) -> np.ndarray:
    """The exact ``k`` nearest rows of ``base`` for each query: ``(len(queries), k)`` int64,
    computed in float64, a block of ``base`` rows at a time.

    ``metric`` is ``cosine``, ``dot`` or ``euclidean`` (scores as the index defines them:
    inner products of prepared vectors, or minus the Euclidean distance).
    """
    n = base.shape[0]
    kind = "cosine" if metric == "cosine" else "dot"
    q = prepare(np.asarray(queries), kind, np.float64)
    q_sq = np.einsum("ij,ij->i", q, q)
    kk = min(k, n)
    best_scores = np.full((len(q), kk), -np.inf)
    best_rows = np.full((len(q), kk), -1, dtype=np.int64)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        block = prepare(np.asarray(base[lo:hi]), kind, np.float64)
        scores = q @ block.T
        if metric == "euclidean":
            d2 = q_sq[:, None] - 2.0 * scores + np.einsum("ij,ij->i", block, block)[None, :]
            scores = -np.sqrt(np.maximum(d2, 0.0))
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_rows = np.concatenate(
            [best_rows, np.broadcast_to(np.arange(lo, hi), scores.shape)], axis=1
        )
        top = np.argpartition(-merged_scores, kk - 1, axis=1)[:, :kk]
        best_scores = np.take_along_axis(merged_scores, top, axis=1)
        best_rows = np.take_along_axis(merged_rows, top, axis=1)
    out = np.full((len(q), k), -1, dtype=np.int64)
    out[:, :kk] = best_rows
    return out


def recall_per_query(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``|found ∩ truth| / |truth|`` for each query (``-1`` entries ignored; queries with no
    true neighbour are left out)."""
    out = []
    for got, want in zip(found.tolist(), truth.tolist(), strict=True):
        wanted = {r for r in want if r >= 0}
        if wanted:
            out.append(len(wanted & {r for r in got if r >= 0}) / len(wanted))
    return np.asarray(out, dtype=np.float64)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean of :func:`recall_per_query` (1.0 when no query has a true neighbour)."""
    per = recall_per_query(found, truth)
    return float(per.mean()) if per.size else 1.0


def measure(search: Callable[[], np.ndarray], truth: np.ndarray, params: dict[str, Any]) -> Trial:
    """Run ``search()`` (returning found rows per query) once, timed, and score it."""
    start = time.perf_counter()
    found = search()
    seconds = time.perf_counter() - start
    per = recall_per_query(found, truth)
    mean = float(per.mean()) if per.size else 1.0
    low = mean - 1.645 * float(per.std(ddof=1)) / float(np.sqrt(per.size)) if per.size > 1 else mean
    return Trial(dict(params), mean, low, 1000.0 * seconds / max(1, len(truth)))
