"""Same-artist retrieval: do an item's nearest neighbours share its artist?

This measures how much of an artist's style a feature space captures, with real labels and
no user data. For each *query* item, all other items are ranked by cosine similarity and
the items by the same artist are the relevant ones.

- Items whose artist is unknown (``None``, ``""``, "Unknown", "Unknown artist",
  "Anonymous"; see :data:`artrec.data.catalog.UNKNOWN_ARTISTS`) are left out entirely:
  they are neither queries nor candidates, since "unknown" is not a shared artist.
- Queries are the items whose artist has at least ``min_works`` works among the known
  items (optionally only those in a ``queries`` mask, e.g. artists held out of a fit);
  candidates are all known-artist items (artists with fewer works are distractors).
- The query itself is never in its own ranking.
- ``P@k`` = (relevant items in the top k) / k; ``AP`` = the mean, over the query's relevant
  items, of the precision at each one's rank in the full ranking; both averaged over
  queries (``mAP``). Ties are broken by item order (stable).
- ``random_precision_at_k`` is the expected P@k of a random ranking,
  the mean of ``(n_artist - 1) / (n_candidates - 1)`` over queries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from artrec.data.catalog import UNKNOWN_ARTISTS
from artrec.errors import DataError


def _known(artist: Any) -> str | None:
    if artist is None:
        return None
    if isinstance(artist, float) and np.isnan(artist):
        return None
    text = str(artist).strip()
    return None if text.lower() in UNKNOWN_ARTISTS else text


def same_artist_retrieval(
    vectors: np.ndarray,
    artists: Sequence[Any] | np.ndarray,
    k: int = 10,
    min_works: int = 5,
    *,
    queries: np.ndarray | None = None,
    chunk_size: int = 512,
) -> dict[str, Any]:
    """P@k and mAP of same-artist retrieval under cosine similarity.

    Parameters
    ----------
    vectors
        ``(n_items, dim)`` features, one row per item.
    artists
        Artist of each item (``None`` or an "unknown" label where not known).
    k
        Cut-off of the precision.
    min_works
        Only items whose artist has at least this many known works are queries.
    queries
        Boolean mask over the items: only these may be queries (candidates are unchanged).
    chunk_size
        Queries scored per matrix product (bounds memory).

    Returns
    -------
    dict
        ``precision_at_k``, ``map``, ``random_precision_at_k``, ``k``, ``min_works``,
        ``n_queries``, ``n_candidates``, ``n_artists`` and per-query arrays
        ``per_query_precision``, ``per_query_ap`` (in query order) and ``query_rows``.

    Raises
    ------
    DataError
        On a shape mismatch, NaN/inf vectors, ``k < 1`` or when no artist has ``min_works``.
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"same_artist_retrieval: vectors must be 2-D, got shape {x.shape}")
    if len(artists) != x.shape[0]:
        raise DataError(f"same_artist_retrieval: {x.shape[0]} vectors but {len(artists)} artists")
    if k < 1 or min_works < 2:
        raise DataError(
            f"same_artist_retrieval: need k >= 1 and min_works >= 2, got {k}, {min_works}"
        )
    if not np.isfinite(x).all():
        row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise DataError(f"same_artist_retrieval: row {row} has NaN or inf")
    labels = [_known(a) for a in artists]
    cand = np.asarray([i for i, a in enumerate(labels) if a is not None], dtype=np.int64)
    counts = Counter(labels[i] for i in cand.tolist())
    allowed = np.ones(len(labels), dtype=bool) if queries is None else np.asarray(queries, bool)
    if allowed.shape != (len(labels),):
        raise DataError(f"same_artist_retrieval: queries mask has shape {allowed.shape}")
    query_rows = np.asarray(
        [i for i in cand.tolist() if counts[labels[i]] >= min_works and allowed[i]],
        dtype=np.int64,
    )
    if len(query_rows) == 0:
        raise DataError(f"same_artist_retrieval: no artist has {min_works} or more known works")
    codes = {a: j for j, a in enumerate(sorted(counts))}
    cand_code = np.asarray([codes[labels[i]] for i in cand.tolist()], dtype=np.int64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.where(norms > 0, norms, 1.0)
    cand_vecs = unit[cand]
    position = {int(r): j for j, r in enumerate(cand.tolist())}
    n_cand = len(cand)
    p_at_k = np.empty(len(query_rows))
    ap = np.empty(len(query_rows))
    for start in range(0, len(query_rows), chunk_size):
        q_rows = query_rows[start : start + chunk_size]
        sims = unit[q_rows] @ cand_vecs.T
        for j, q in enumerate(q_rows.tolist()):
            s = sims[j].copy()
            s[position[q]] = -np.inf  # the query is not in its own ranking
            order = np.argsort(-s, kind="stable")[: n_cand - 1]
            rel = cand_code[order] == codes[labels[q]]
            p_at_k[start + j] = rel[:k].sum() / k
            hits = np.flatnonzero(rel)
            ap[start + j] = float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))
    n_rel = np.asarray([counts[labels[q]] - 1 for q in query_rows.tolist()], dtype=np.float64)
    return {
        "precision_at_k": float(p_at_k.mean()),
        "map": float(ap.mean()),
        "random_precision_at_k": float((n_rel / max(n_cand - 1, 1)).mean()),
        "k": int(k),
        "min_works": int(min_works),
        "n_queries": len(query_rows),
        "n_candidates": int(n_cand),
        "n_artists": len({labels[q] for q in query_rows.tolist()}),
        "per_query_precision": p_at_k,
        "per_query_ap": ap,
        "query_rows": query_rows,
    }
