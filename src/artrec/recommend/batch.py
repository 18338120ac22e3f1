"""Bounded-memory batch recommendation for every user, written to disk chunk by chunk.

:func:`recommend_all` ranks the profiles ``chunk_size`` users at a time and writes each
chunk into memory-mapped arrays in a run directory (by convention
``<workspace>/recommendations/<run>/``)::

    meta.json       what was run (source, k, chunk size, aggregation, ...) and the shapes
    users.json      user ids, in output row order
    items.json      raw item ids of the catalogue rows the arrays refer to
    rows.npy        (n_users, k) int64   recommended catalogue rows, -1 = padding
    scores.npy      (n_users, k) float32 scores, -inf = padding
    because.npy     (n_users, k) int64   profile row that contributed most, -1 = none
    done.npy        (n_chunks,)  bool    chunks written; a rerun resumes at the first gap

Two sources are accepted, unchanged:

* any :class:`~artrec.recommend.base.Recommender` (e.g. VisRank): each chunk is one
  :meth:`~artrec.recommend.base.Recommender.rank` call, so memory is bounded by
  ``chunk_size * n_items`` scores and the result is exactly the recommender's;
* any :class:`~artrec.index.base.SimilarityIndex` (exact or FAISS): :func:`rank_with_index`
  takes the ``n_candidates`` nearest neighbours of each profile item as the candidates,
  scores every candidate exactly against the whole profile with the VisRank aggregation
  (sum, mean, max, ...), and keeps the top ``k``. Work per user is
  ``|profile| * (search + n_candidates * |profile| * dim)``, independent of the catalogue
  size, which is what makes a million-item catalogue tractable. The result equals VisRank
  when every item is a candidate (``n_candidates >= n_items``); for ``max`` it already does
  when ``n_candidates >= k + |excluded|`` and the index is exact. An empty profile gets no
  recommendations (VisRank would rank every item 0, i.e. by row).

Memory: one chunk of rankings plus the run's memory maps, whatever the number of users.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from artrec.errors import DataError, UnknownIdError
from artrec.fileio import read_json, write_json
from artrec.index.base import SimilarityIndex
from artrec.recommend.base import Ranking, Recommender
from artrec.vectors import as_id_array

#: Aggregations :func:`rank_with_index` knows (the same as VisRank's).
INDEX_AGGREGATIONS: tuple[str, ...] = ("sum_distance", "sum", "mean", "max", "topm_mean")
#: Users ranked per chunk by default.
DEFAULT_BATCH_CHUNK = 1024
#: Candidates per profile item fetched from an index by default.
DEFAULT_CANDIDATES = 100

FORMAT = "artrec-batch-recommendations"
FORMAT_VERSION = 1

#: ``progress(done_users, total_users)``, called after every chunk (also skipped ones).
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class BatchResult:
    """What :func:`recommend_all` wrote.

    Attributes
    ----------
    directory
        The run directory.
    n_users
        Users in the output.
    n_chunks
        Chunks in the run.
    computed_chunks
        Chunks computed by this call (the rest were already done: resumed).
    seconds
        Wall time of this call.
    """

    directory: Path
    n_users: int
    n_chunks: int
    computed_chunks: int
    seconds: float


@dataclass(frozen=True)
class BatchRecommendations:
    """A run read back with :func:`load_batch` (arrays memory-mapped).

    ``rows``, ``scores`` and ``because`` are ``(n_users, k)``; ``user_ids`` and
    ``item_ids`` map output rows and catalogue rows to raw ids.
    """

    directory: Path
    meta: dict[str, Any]
    user_ids: np.ndarray
    item_ids: np.ndarray
    rows: np.ndarray
    scores: np.ndarray
    because: np.ndarray
    done: np.ndarray

    @property
    def complete(self) -> bool:
        """Whether every chunk was written."""
        return bool(self.done.all())

    def for_user(self, user_id: Any) -> list[dict[str, Any]]:
        """One user's recommendations as records ``{item_id, score, because}`` (best first).

        Raises :class:`UnknownIdError` for a user not in the run and :class:`DataError` when
        that user's chunk has not been written yet.
        """
        user = str(user_id)
        lookup: dict[str, int] = {u: i for i, u in enumerate(self.user_ids.tolist())}
        pos = lookup.get(user)
        if pos is None:
            raise UnknownIdError(f"user {user!r} is not in the batch run {self.directory.name!r}")
        chunk = int(self.meta["chunk_size"])
        if not self.done[pos // chunk]:
            raise DataError(
                f"user {user!r}: that chunk of run {self.directory.name!r} is not written yet"
            )
        out = []
        for row, score, why in zip(
            self.rows[pos].tolist(),
            self.scores[pos].tolist(),
            self.because[pos].tolist(),
            strict=True,
        ):
            if row < 0:
                break
            out.append(
                {
                    "item_id": self.item_ids[row],
                    "score": float(score),
                    "because": None if why < 0 else self.item_ids[why],
                }
            )
        return out


def rank_with_index(
    index: SimilarityIndex,
    profiles: Sequence[np.ndarray],
    k: int = 10,
    *,
    aggregation: str = "sum",
    m: int = 3,
    n_candidates: int = DEFAULT_CANDIDATES,
    exclude: Sequence[np.ndarray] | None = None,
    available: np.ndarray | None = None,
) -> Ranking:
    """Top-k rows per profile from a similarity index (candidate generation + exact scoring).

    Parameters
    ----------
    index
        A built :class:`SimilarityIndex`; its rows are the catalogue rows.
    profiles
        One int array of rows per user.
    k
        List length (>= 1).
    aggregation
        ``sum``, ``sum_distance``, ``mean``, ``max`` or ``topm_mean`` (see
        :mod:`artrec.recommend.visrank`).
    m
        Similarities averaged by ``topm_mean``.
    n_candidates
        Neighbours fetched per profile item.
    exclude
        Rows to leave out per profile; defaults to the profile itself.
    available
        Boolean mask of rows that may be recommended (``None``: all).

    Returns
    -------
    Ranking
        ``(n_profiles, k)`` rows, scores and explanations (the most similar profile row,
        the earlier one on ties), ties broken by row.
    """
    if k < 1:
        raise DataError(f"k must be >= 1, got {k}")
    if aggregation not in INDEX_AGGREGATIONS:
        raise DataError(
            f"unknown aggregation {aggregation!r}; choose one of {', '.join(INDEX_AGGREGATIONS)}"
        )
    if m < 1 or n_candidates < 1:
        raise DataError(f"m and n_candidates must be >= 1, got {m} and {n_candidates}")
    n_items = index.n_items
    plist = _check_profiles(profiles, n_items)
    exclude = plist if exclude is None else _check_profiles(exclude, n_items, "exclude")
    if len(exclude) != len(plist):
        raise DataError("exclude must have one entry per profile")
    mask = None
    if available is not None:
        mask = np.asarray(available, dtype=bool)
        if mask.shape != (n_items,):
            raise DataError(f"available has {mask.shape[0]} values for {n_items} items")
    n = len(plist)
    rows_out = np.full((n, k), -1, dtype=np.int64)
    scores_out = np.full((n, k), -np.inf, dtype=np.float64)
    because_out = np.full((n, k), -1, dtype=np.int64)
    sizes = np.array([len(p) for p in plist], dtype=np.int64)
    if n == 0 or sizes.sum() == 0:
        return Ranking(rows_out, scores_out, because_out)
    fetch = min(n_candidates, n_items)
    # Users are ranked in blocks of about _PROFILE_BLOCK profile items, so the candidate
    # pairs held at once stay near _PROFILE_BLOCK * n_candidates.
    lo = 0
    while lo < n:
        hi, total = lo, 0
        while hi < n and (hi == lo or total + sizes[hi] <= _PROFILE_BLOCK):
            total += int(sizes[hi])
            hi += 1
        _rank_block(
            index,
            plist[lo:hi],
            exclude[lo:hi],
            mask,
            k,
            aggregation,
            m,
            fetch,
            rows_out[lo:hi],
            scores_out[lo:hi],
            because_out[lo:hi],
        )
        lo = hi
    return Ranking(rows_out, scores_out, because_out)


#: Profile items whose neighbours are scored together in :func:`rank_with_index`.
_PROFILE_BLOCK = 1024


def _rank_block(
    index: SimilarityIndex,
    plist: list[np.ndarray],
    exclude: Sequence[np.ndarray],
    mask: np.ndarray | None,
    k: int,
    aggregation: str,
    m: int,
    fetch: int,
    rows_out: np.ndarray,
    scores_out: np.ndarray,
    because_out: np.ndarray,
) -> None:
    """Rank one block of users, vectorised over all (user, candidate) pairs of the block."""
    from artrec.similarity import prepare

    sizes = np.array([len(p) for p in plist], dtype=np.int64)
    if sizes.sum() == 0:
        return
    n_items = index.n_items
    metric = index.metric
    all_rows = np.concatenate(plist)
    owner = np.repeat(np.arange(len(plist), dtype=np.int64), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    prof_raw = index.vectors_of(all_rows)
    # Candidates only: an index that can skip exact re-scoring (FAISS) is asked to.
    fast = getattr(index, "candidate_rows", None)
    neigh = fast(prof_raw, fetch) if callable(fast) else index.search(prof_raw, fetch)[0]
    # Distinct (user, candidate) pairs, as sorted keys user * n_items + row.
    pair_user = np.repeat(owner, neigh.shape[1])
    pair_cand = neigh.ravel()
    valid = pair_cand >= 0
    keys = np.unique(pair_user[valid] * n_items + pair_cand[valid])
    ex_sizes = np.array([len(e) for e in exclude], dtype=np.int64)
    if ex_sizes.sum():
        ex_keys = np.repeat(
            np.arange(len(plist), dtype=np.int64), ex_sizes
        ) * n_items + np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude])
        keys = keys[~np.isin(keys, ex_keys)]
    pu, pc = keys // n_items, keys % n_items
    if mask is not None:
        keep = mask[pc]
        pu, pc = pu[keep], pc[keep]
    if pc.size == 0:
        return
    prof = prepare(prof_raw, metric, np.float64)
    cand = prepare(index.vectors_of(pc), metric, np.float64)
    # sims[i, j]: similarity of pair i's candidate to the j-th profile item of its user.
    width = int(sizes.max())
    sims = np.full((len(pc), width), -np.inf)
    for j in range(width):
        has = sizes[pu] > j
        sims[has, j] = _rowwise_similarity(cand[has], prof[starts[pu[has]] + j], metric)
    n_prof = sizes[pu]
    scores = _aggregate(sims, n_prof, aggregation, m, metric)
    best = np.argmax(sims, axis=1)  # first on ties, as VisRank explains
    because = all_rows[starts[pu] + best]
    order = np.lexsort((pc, -scores, pu))
    pu_s = pu[order]
    group_start = np.searchsorted(pu_s, np.arange(len(plist)))
    rank = np.arange(len(order)) - group_start[pu_s]
    take = rank < k
    users, slots, chosen = pu_s[take], rank[take], order[take]
    rows_out[users, slots] = pc[chosen]
    scores_out[users, slots] = scores[chosen]
    because_out[users, slots] = because[chosen]


def _rowwise_similarity(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Similarity of ``a[i]`` and ``b[i]`` for every ``i`` (prepared vectors, as the kernels)."""
    if metric in ("cosine", "correlation", "dot"):
        return np.asarray(np.einsum("ij,ij->i", a, b))
    diff = np.abs(a - b)
    if metric == "euclidean":
        return np.asarray(-np.sqrt(np.einsum("ij,ij->i", diff, diff)))
    if metric == "manhattan":
        return np.asarray(-diff.sum(axis=1))
    return np.asarray(-diff.max(axis=1))  # chebyshev


def _aggregate(
    sims: np.ndarray, sizes: np.ndarray, aggregation: str, m: int, metric: str
) -> np.ndarray:
    """Reduce padded ``(n_pairs, width)`` similarities (``-inf`` padding) to one score each."""
    if aggregation == "max":
        return np.asarray(sims.max(axis=1))
    if aggregation == "topm_mean":
        top = -np.sort(-sims, axis=1)[:, :m]
        top = np.where(np.isfinite(top), top, 0.0)
        return np.asarray(top.sum(axis=1) / np.minimum(sizes, m))
    total = np.where(np.isfinite(sims), sims, 0.0).sum(axis=1)
    if aggregation == "mean":
        return np.asarray(total / sizes)
    if aggregation == "sum_distance" and metric in ("cosine", "correlation"):
        return np.asarray(total - sizes)
    return np.asarray(total)


def recommend_all(
    source: Recommender | SimilarityIndex,
    profiles: Mapping[str, np.ndarray],
    directory: str | Path,
    *,
    k: int = 10,
    chunk_size: int = DEFAULT_BATCH_CHUNK,
    item_ids: Any = None,
    exclude: Mapping[str, np.ndarray] | None = None,
    available: np.ndarray | None = None,
    aggregation: str = "sum",
    m: int = 3,
    n_candidates: int = DEFAULT_CANDIDATES,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    describe: Mapping[str, Any] | None = None,
) -> BatchResult:
    """Recommend ``k`` items to every user, ``chunk_size`` users at a time, into ``directory``.

    Parameters
    ----------
    source
        A fitted :class:`Recommender` or a built :class:`SimilarityIndex` (see the module
        docstring for what each does).
    profiles
        User id -> catalogue rows of the user's profile. Output rows follow this order.
    directory
        The run directory (created). An existing complete or partial run with the same
        users and settings is resumed when ``resume``; otherwise it is an error to reuse it.
    k
        Recommendations per user.
    chunk_size
        Users ranked and written at once; bounds memory.
    item_ids
        Raw ids of the catalogue rows, stored as ``items.json``. Defaults to the index's
        ``item_ids_`` for an index source; required for a recommender source.
    exclude
        User id -> rows never to recommend to that user; defaults to the profile.
    available
        Boolean mask of rows that may be recommended (in stock); ``None``: the source's own.
    aggregation, m, n_candidates
        Used for an index source only (see :func:`rank_with_index`).
    resume
        Skip chunks that an earlier, interrupted call already wrote.
    progress
        ``progress(done_users, total_users)`` after every chunk.
    describe
        Extra JSON-able facts stored in ``meta.json`` (embedding name, index kind, ...).

    Returns
    -------
    BatchResult
    """
    start_time = time.perf_counter()
    if k < 1 or chunk_size < 1:
        raise DataError(f"k and chunk_size must be >= 1, got {k} and {chunk_size}")
    is_index = isinstance(source, SimilarityIndex)
    if not is_index and not isinstance(source, Recommender):
        raise DataError(
            f"source must be a Recommender or a SimilarityIndex, got {type(source).__name__}"
        )
    if item_ids is None:
        if not is_index:
            raise DataError(
                "item_ids (raw ids of the catalogue rows) are required for a recommender"
            )
        item_ids = source.item_ids_  # type: ignore[union-attr]
    items = as_id_array(item_ids)
    users = as_id_array(list(profiles.keys()))
    plist = [np.asarray(profiles[u], dtype=np.int64).reshape(-1) for u in users.tolist()]
    _check_profiles(plist, len(items))
    if exclude is not None:
        unknown = [u for u in exclude if u not in profiles]
        if unknown:
            raise UnknownIdError(f"exclude names user {unknown[0]!r}, who has no profile")
    n_users = len(users)
    n_chunks = (n_users + chunk_size - 1) // chunk_size
    directory = Path(directory)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "source": type(source).__name__,
        "name": getattr(source, "name", None) if not is_index else f"index:{type(source).__name__}",
        "metric": getattr(source, "metric", None),
        "k": k,
        "chunk_size": chunk_size,
        "n_users": n_users,
        "n_items": len(items),
        "n_chunks": n_chunks,
        "aggregation": aggregation if is_index else getattr(source, "aggregation", None),
        "n_candidates": n_candidates if is_index else None,
        **dict(describe or {}),
    }
    arrays = _open_run(directory, meta, users, items, resume=resume)
    rows_mm, scores_mm, because_mm, done_mm = arrays
    computed = 0
    done_users = 0
    for c in range(n_chunks):
        lo, hi = c * chunk_size, min(n_users, (c + 1) * chunk_size)
        if done_mm[c]:
            done_users = hi
            if progress is not None:
                progress(done_users, n_users)
            continue
        chunk_profiles = plist[lo:hi]
        chunk_exclude = None
        if exclude is not None:
            chunk_exclude = [
                np.asarray(exclude.get(u, plist[lo + j]), dtype=np.int64)
                for j, u in enumerate(users[lo:hi].tolist())
            ]
        if is_index:
            ranking = rank_with_index(
                source,  # type: ignore[arg-type]
                chunk_profiles,
                k,
                aggregation=aggregation,
                m=m,
                n_candidates=n_candidates,
                exclude=chunk_exclude,
                available=available,
            )
        else:
            ranking = source.rank(  # type: ignore[union-attr]
                chunk_profiles, k, exclude=chunk_exclude, available=available
            )
        rows_mm[lo:hi] = ranking.rows
        scores_mm[lo:hi] = ranking.scores
        because_mm[lo:hi] = ranking.because
        for arr in (rows_mm, scores_mm, because_mm):
            arr.flush()
        done_mm[c] = True
        done_mm.flush()
        computed += 1
        done_users = hi
        if progress is not None:
            progress(done_users, n_users)
    del rows_mm, scores_mm, because_mm, done_mm
    return BatchResult(directory, n_users, n_chunks, computed, time.perf_counter() - start_time)


def _open_run(
    directory: Path, meta: dict[str, Any], users: np.ndarray, items: np.ndarray, *, resume: bool
) -> tuple[np.memmap, np.memmap, np.memmap, np.memmap]:
    """Create the run's files, or reopen them for resuming after checking they match."""
    n_users, k, n_chunks = int(meta["n_users"]), int(meta["k"]), int(meta["n_chunks"])
    meta_path = directory / "meta.json"
    if meta_path.is_file():
        old = read_json(meta_path)
        if not resume:
            raise DataError(
                f"batch run {directory} already exists; choose another name or resume it"
            )
        same = {key: old.get(key) for key in _RESUME_KEYS} == {
            key: meta.get(key) for key in _RESUME_KEYS
        }
        if not same or read_json(directory / "users.json") != users.tolist():
            raise DataError(
                f"batch run {directory} was started with other users or settings; "
                "choose another run name"
            )
        mode = "r+"
    else:
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / "users.json", users.tolist())
        write_json(directory / "items.json", items.tolist())
        mode = "w+"
    try:
        rows = _memmap(directory / "rows.npy", mode, np.int64, (n_users, k), -1)
        scores = _memmap(directory / "scores.npy", mode, np.float32, (n_users, k), -np.inf)
        because = _memmap(directory / "because.npy", mode, np.int64, (n_users, k), -1)
        done = _memmap(directory / "done.npy", mode, np.bool_, (n_chunks,), False)
    except (OSError, ValueError) as exc:
        raise DataError(f"batch run {directory}: unreadable arrays ({exc})") from None
    if mode == "w+":
        write_json(meta_path, {**meta, "created": time.time()})
    return rows, scores, because, done


_RESUME_KEYS = (
    "format",
    "version",
    "source",
    "name",
    "metric",
    "k",
    "chunk_size",
    "n_users",
    "n_items",
    "aggregation",
    "n_candidates",
)


def _memmap(path: Path, mode: str, dtype: Any, shape: tuple[int, ...], fill: Any) -> np.memmap:
    if mode == "w+":
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        arr[...] = fill
        return arr
    arr = np.lib.format.open_memmap(path, mode="r+")
    if arr.shape != shape or arr.dtype != np.dtype(dtype):
        raise DataError(
            f"{path}: shape {arr.shape} {arr.dtype}, expected {shape} {np.dtype(dtype)}"
        )
    return arr


def load_batch(directory: str | Path) -> BatchRecommendations:
    """Read a run written by :func:`recommend_all` (arrays memory-mapped, read-only)."""
    from artrec.vectors import load_npy

    directory = Path(directory)
    meta = read_json(directory / "meta.json")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{directory / 'meta.json'}: not an artrec batch run")
    users = read_json(directory / "users.json")
    items = read_json(directory / "items.json")
    if not isinstance(users, list) or not isinstance(items, list):
        raise DataError(f"{directory}: users.json and items.json must hold JSON lists")
    rows = load_npy(directory / "rows.npy")
    scores = load_npy(directory / "scores.npy")
    because = load_npy(directory / "because.npy")
    done = load_npy(directory / "done.npy")
    shape = (len(users), int(meta.get("k", 0)))
    for name, arr in (("rows", rows), ("scores", scores), ("because", because)):
        if arr.shape != shape:
            raise DataError(f"{directory / (name + '.npy')}: shape {arr.shape}, expected {shape}")
    return BatchRecommendations(
        directory, meta, as_id_array(users), as_id_array(items), rows, scores, because, done
    )


def _check_profiles(
    profiles: Sequence[np.ndarray], n_items: int, what: str = "profile"
) -> list[np.ndarray]:
    out = []
    for j, p in enumerate(profiles):
        rows = np.asarray(p, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= n_items):
            raise DataError(f"{what} {j} holds a row outside 0..{n_items - 1}")
        out.append(rows)
    return out
