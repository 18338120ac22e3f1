r"""Ranking and beyond-accuracy metrics as pure functions.

Every function here takes a ranking (a ranked list of catalogue rows, best first, or the
full score vector) and the set of relevant rows, and returns one number for one user. They
never modify their inputs and hold no state. The evaluator
(:func:`artrec.evaluation.evaluate`) calls them per user and averages.

Conventions
-----------
* A *ranked list* is a 1-D int array of catalogue rows, best first. Entries ``< 0`` are
  padding (the list had fewer than ``k`` candidates) and are never relevant.
* ``relevant`` is any iterable of catalogue rows; duplicates are ignored.
* A metric whose value is undefined for the input (no relevant rows, no negatives, fewer
  than two items for a pairwise measure) is ``nan``, never a silent 0; the evaluator counts
  such values and reports them.

Formulas (``rel_i`` is 1 when the item at position ``i`` (1-based) is relevant, else 0;
``R`` is the relevant set)::

    P@k      = (1/k)   * sum_{i<=k} rel_i
    R@k      = (1/|R|) * sum_{i<=k} rel_i
    HR@k     = 1 if sum_{i<=k} rel_i > 0 else 0
    AP@k     = (1/min(k, |R|)) * sum_{i<=k} rel_i * P@i
    DCG@k    = sum_{i<=k} rel_i / log2(i + 1)
    nDCG@k   = DCG@k / IDCG@k,   IDCG@k = sum_{i=1}^{min(k, |R|)} 1 / log2(i + 1)
    RR       = 1 / (position of the first relevant item), 0 when none is ranked
    AUC      = (1/(|P| |N|)) * sum_{p in P} sum_{n in N} ([s_p > s_n] + 0.5 [s_p = s_n])
    ILD      = mean_{i<j in list} (1 - cos(v_i, v_j))
    coverage = |union of all lists| / n_items
    novelty  = mean_{i in list} -log2 p(i),   p(i) = (pop(i) + 1) / (n_users + 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from artrec.errors import DataError

__all__ = [
    "auc",
    "average_precision_at_k",
    "catalog_coverage",
    "hit_rate_at_k",
    "intra_list_diversity",
    "ndcg_at_k",
    "novelty",
    "positions_of",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank",
]


def _relevant_set(relevant: Iterable[int] | np.ndarray) -> set[int]:
    arr = np.asarray(list(relevant) if not isinstance(relevant, np.ndarray) else relevant)
    return {int(r) for r in arr.ravel().tolist() if int(r) >= 0}


def _check_k(k: int) -> int:
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise DataError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _hits(ranked_rows: np.ndarray | Sequence[int], relevant: set[int], k: int) -> np.ndarray:
    """0/1 relevance of the first ``k`` positions (padding and missing positions count 0)."""
    rows = np.asarray(ranked_rows, dtype=np.int64).ravel()[:k]
    out = np.zeros(k, dtype=np.float64)
    for i, r in enumerate(rows.tolist()):
        if r >= 0 and r in relevant:
            out[i] = 1.0
    return out


def _check_unique(ranked_rows: np.ndarray | Sequence[int]) -> np.ndarray:
    rows = np.asarray(ranked_rows, dtype=np.int64).ravel()
    real = rows[rows >= 0]
    if len(np.unique(real)) != len(real):
        raise DataError("a ranked list must not repeat a row")
    return rows


def precision_at_k(
    ranked_rows: np.ndarray | Sequence[int], relevant: Iterable[int] | np.ndarray, k: int
) -> float:
    r"""Precision at ``k``: the share of the first ``k`` positions that hold a relevant row.

    .. math:: P@k = \frac{1}{k} \sum_{i=1}^{k} rel_i

    The denominator is always ``k``, also when the list is shorter (padding counts as a
    miss). ``nan`` when ``relevant`` is empty.
    """
    k = _check_k(k)
    rel = _relevant_set(relevant)
    if not rel:
        return float("nan")
    return float(_hits(_check_unique(ranked_rows), rel, k).sum() / k)


def recall_at_k(
    ranked_rows: np.ndarray | Sequence[int], relevant: Iterable[int] | np.ndarray, k: int
) -> float:
    r"""Recall at ``k``: the share of relevant rows found in the first ``k`` positions.

    .. math:: R@k = \frac{1}{|R|} \sum_{i=1}^{k} rel_i

    ``nan`` when ``relevant`` is empty.
    """
    k = _check_k(k)
    rel = _relevant_set(relevant)
    if not rel:
        return float("nan")
    return float(_hits(_check_unique(ranked_rows), rel, k).sum() / len(rel))


def hit_rate_at_k(
    ranked_rows: np.ndarray | Sequence[int], relevant: Iterable[int] | np.ndarray, k: int
) -> float:
    r"""Hit rate at ``k``: 1 when any of the first ``k`` positions is relevant, else 0.

    .. math:: HR@k = [\sum_{i=1}^{k} rel_i > 0]

    ``nan`` when ``relevant`` is empty.
    """
    k = _check_k(k)
    rel = _relevant_set(relevant)
    if not rel:
        return float("nan")
    return float(_hits(_check_unique(ranked_rows), rel, k).any())


def average_precision_at_k(
    ranked_rows: np.ndarray | Sequence[int], relevant: Iterable[int] | np.ndarray, k: int
) -> float:
    r"""Average precision at ``k``, normalised by ``min(k, |R|)``.

    .. math:: AP@k = \frac{1}{\min(k, |R|)} \sum_{i=1}^{k} rel_i \, P@i

    The normaliser ``min(k, |R|)`` is the largest number of hits a list of length ``k`` can
    hold, so a perfect list scores exactly 1 even when there are more than ``k`` relevant
    rows. ``nan`` when ``relevant`` is empty.
    """
    k = _check_k(k)
    rel = _relevant_set(relevant)
    if not rel:
        return float("nan")
    hits = _hits(_check_unique(ranked_rows), rel, k)
    precision_at_i = np.cumsum(hits) / np.arange(1, k + 1)
    return float((hits * precision_at_i).sum() / min(k, len(rel)))


def ndcg_at_k(
    ranked_rows: np.ndarray | Sequence[int], relevant: Iterable[int] | np.ndarray, k: int
) -> float:
    r"""Normalised discounted cumulative gain at ``k`` with binary gains.

    .. math::

        DCG@k = \sum_{i=1}^{k} \frac{rel_i}{\log_2(i + 1)}, \qquad
        IDCG@k = \sum_{i=1}^{\min(k, |R|)} \frac{1}{\log_2(i + 1)}, \qquad
        nDCG@k = DCG@k / IDCG@k

    The ideal list holds ``min(k, |R|)`` hits at the top. ``nan`` when ``relevant`` is empty.
    """
    k = _check_k(k)
    rel = _relevant_set(relevant)
    if not rel:
        return float("nan")
    hits = _hits(_check_unique(ranked_rows), rel, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discounts[: min(k, len(rel))].sum()
    return float((hits * discounts).sum() / ideal)


def reciprocal_rank(
    ranked_rows: np.ndarray | Sequence[int], relevant: Iterable[int] | np.ndarray
) -> float:
    r"""Reciprocal rank of the first relevant row in ``ranked_rows``.

    .. math:: RR = 1 / \min\{i : rel_i = 1\}

    0 when no relevant row is in the list (pass the full ranking over the candidate set to
    get the exact value; the evaluator uses :func:`positions_of` for that). ``nan`` when
    ``relevant`` is empty.
    """
    rel = _relevant_set(relevant)
    if not rel:
        return float("nan")
    rows = _check_unique(ranked_rows)
    for i, r in enumerate(rows.tolist()):
        if r >= 0 and r in rel:
            return 1.0 / (i + 1)
    return 0.0


def _candidate_scores(
    scores: np.ndarray, candidate_mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise DataError(f"scores must be 1-D (one per catalogue row), got shape {s.shape}")
    if candidate_mask is None:
        mask = np.ones(len(s), dtype=bool)
    else:
        mask = np.asarray(candidate_mask, dtype=bool)
        if mask.shape != s.shape:
            raise DataError(
                f"candidate_mask has shape {mask.shape} but scores have shape {s.shape}"
            )
    if np.isnan(s[mask]).any():
        row = int(np.flatnonzero(mask & np.isnan(s))[0])
        raise DataError(f"score of candidate row {row} is NaN")
    return s, mask


def _relevant_rows(relevant_rows: Iterable[int] | np.ndarray, n: int) -> np.ndarray:
    rel = np.asarray(sorted(_relevant_set(relevant_rows)), dtype=np.int64)
    if len(rel) and rel[-1] >= n:
        raise DataError(f"relevant row {int(rel[-1])} is out of range for {n} catalogue rows")
    return rel


def auc(
    scores: np.ndarray,
    candidate_mask: np.ndarray | None,
    relevant_rows: Iterable[int] | np.ndarray,
) -> float:
    r"""Exact pairwise area under the ROC curve over the candidate set.

    Positives ``P`` are the relevant rows among the candidates, negatives ``N`` the other
    candidates. Every (positive, negative) pair is counted, ties as one half:

    .. math::

        AUC = \frac{1}{|P||N|} \sum_{p \in P} \sum_{n \in N}
              \left([s_p > s_n] + \tfrac12 [s_p = s_n]\right)

    Computed exactly without forming the pairs as a matrix (the Mann-Whitney count of the
    negatives below and tied with each positive): by direct vectorised comparison when there
    are at most 16 positives (``O(|P| c)`` for ``c`` candidates, the usual case), otherwise
    by binary search of each positive in the sorted negatives (``O(c log c)``).

    Parameters
    ----------
    scores
        ``(n_items,)`` scores, higher is better; ``-inf`` is allowed, NaN among the
        candidates raises :class:`~artrec.errors.DataError`.
    candidate_mask
        ``(n_items,)`` boolean mask of the rows that are ranked, or ``None`` for all rows.
    relevant_rows
        Relevant catalogue rows; those outside the candidate set are ignored.

    Returns
    -------
    float
        The AUC in [0, 1], or ``nan`` when there is no positive or no negative candidate.
    """
    s, mask = _candidate_scores(scores, candidate_mask)
    rel = _relevant_rows(relevant_rows, len(s))
    positive = np.zeros(len(s), dtype=bool)
    positive[rel] = True
    positive &= mask
    n_pos = int(positive.sum())
    n_neg = int(mask.sum()) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    pos_scores = s[positive]
    negatives = s[mask & ~positive]
    if n_pos <= _DIRECT_AUC_MAX_POSITIVES:
        # few positives (the usual case): compare each with every negative, vectorised
        wins = 0
        ties = 0
        for p in pos_scores.tolist():
            wins += int(np.count_nonzero(negatives < p))
            ties += int(np.count_nonzero(negatives == p))
        return (wins + 0.5 * ties) / (n_pos * n_neg)
    neg_sorted = np.sort(negatives)
    below = np.searchsorted(neg_sorted, pos_scores, side="left")
    below_or_tied = np.searchsorted(neg_sorted, pos_scores, side="right")
    # negatives below each positive, plus half the negatives tied with it
    u = float(below.sum()) + 0.5 * float((below_or_tied - below).sum())
    return u / (n_pos * n_neg)


#: Up to this many positives, :func:`auc` counts by direct comparison (``O(|P| c)``, fast
#: vectorised scans); above it, by binary search in the sorted negatives (``O(c log c)``).
_DIRECT_AUC_MAX_POSITIVES = 16


def positions_of(
    scores: np.ndarray, candidate_mask: np.ndarray | None, rows: Iterable[int] | np.ndarray
) -> np.ndarray:
    """1-based positions of ``rows`` in the full ranking of the candidate set.

    The ranking orders candidates by score descending and, among equal scores, by row
    ascending: the same deterministic rule as :func:`artrec.recommend.base.top_k`. Rows
    that are not candidates get position 0.

    Parameters
    ----------
    scores
        ``(n_items,)`` scores; NaN among candidates raises :class:`~artrec.errors.DataError`.
    candidate_mask
        Boolean mask of ranked rows, or ``None`` for all.
    rows
        Catalogue rows to locate.

    Returns
    -------
    numpy.ndarray
        int64 positions, one per entry of ``rows``.
    """
    s, mask = _candidate_scores(scores, candidate_mask)
    wanted = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows, dtype=np.int64)
    out = np.zeros(len(wanted), dtype=np.int64)
    cand_rows = np.flatnonzero(mask)
    cand_scores = s[cand_rows]
    for j, r in enumerate(wanted.tolist()):
        if r < 0 or r >= len(s) or not mask[r]:
            continue
        better = cand_scores > s[r]
        tied_before = (cand_scores == s[r]) & (cand_rows < r)
        out[j] = int(better.sum() + tied_before.sum()) + 1
    return out


def intra_list_diversity(rows: np.ndarray | Sequence[int], vectors: np.ndarray) -> float:
    r"""Intra-list diversity: the mean pairwise cosine distance between the listed items.

    .. math:: ILD = \frac{2}{n(n-1)} \sum_{i<j} \left(1 - \cos(v_i, v_j)\right)

    Padding rows (``< 0``) are ignored. A zero vector has cosine similarity 0 with every
    vector (distance 1). ``nan`` when the list holds fewer than two items.

    Parameters
    ----------
    rows
        The recommended catalogue rows.
    vectors
        ``(n_items, dim)`` item vectors (any embedding; the evaluator uses one fixed space
        for every configuration it compares).
    """
    r = np.asarray(rows, dtype=np.int64).ravel()
    r = r[r >= 0]
    if len(r) < 2:
        return float("nan")
    v = np.asarray(vectors[r], dtype=np.float64)
    if v.ndim != 2:
        raise DataError(f"vectors must be 2-D, got shape {np.shape(vectors)}")
    norms = np.linalg.norm(v, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    u = v / safe[:, None]
    sim = u @ u.T
    n = len(r)
    iu = np.triu_indices(n, k=1)
    return float((1.0 - sim[iu]).mean())


def catalog_coverage(all_lists: Iterable[np.ndarray | Sequence[int]], n_items: int) -> float:
    r"""Catalogue coverage: the share of catalogue rows recommended to at least one user.

    .. math:: coverage = \frac{|\bigcup_u L_u|}{n\_items}

    Padding rows (``< 0``) are ignored.
    """
    if n_items < 1:
        raise DataError(f"n_items must be >= 1, got {n_items}")
    seen = np.zeros(n_items, dtype=bool)
    for lst in all_lists:
        r = np.asarray(lst, dtype=np.int64).ravel()
        r = r[r >= 0]
        if len(r) and r.max() >= n_items:
            raise DataError(f"row {int(r.max())} is out of range for {n_items} catalogue rows")
        seen[r] = True
    return float(seen.sum() / n_items)


def novelty(rows: np.ndarray | Sequence[int], popularity: np.ndarray, n_users: int) -> float:
    r"""Mean self-information of the listed items.

    .. math::

        novelty = \frac{1}{|L|} \sum_{i \in L} -\log_2 p(i), \qquad
        p(i) = \frac{pop(i) + 1}{n\_users + 1}

    ``pop(i)`` is the number of users who interacted with item ``i``. The add-one smoothing
    keeps never-seen items finite (``log2(n_users + 1)`` bits) and ``p(i) <= 1`` whenever
    ``pop(i) <= n_users``. Padding rows are ignored; ``nan`` for an empty list.

    Parameters
    ----------
    rows
        The recommended catalogue rows.
    popularity
        ``(n_items,)`` count of distinct users per item.
    n_users
        Number of users the popularity was counted over.
    """
    if n_users < 0:
        raise DataError(f"n_users must be >= 0, got {n_users}")
    r = np.asarray(rows, dtype=np.int64).ravel()
    r = r[r >= 0]
    if len(r) == 0:
        return float("nan")
    pop = np.asarray(popularity, dtype=np.float64)[r]
    if (pop < 0).any() or (pop > n_users).any():
        raise DataError("popularity counts must lie between 0 and n_users")
    p = (pop + 1.0) / (n_users + 1.0)
    return float((-np.log2(p)).mean())
