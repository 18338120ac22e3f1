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
    reasons.npy     (n_users, k) int8    reason code, an index into reasons.json
    reasons.json    the reason codes (:data:`artrec.recommend.reasons.REASONS`)
    done.npy        (n_chunks,)  bool    chunks written; a rerun resumes at the first gap

Any :class:`~artrec.recommend.base.Recommender` is accepted: each chunk is one
:meth:`~artrec.recommend.base.Recommender.rank` call, so the result is exactly the
recommender's. With VisRank memory is bounded by ``chunk_size * n_items`` scores; with
:class:`~artrec.recommend.candidates.IndexCandidateRecommender` (candidates from an exact or
FAISS index) the work per user does not grow with the catalogue.

Memory: one chunk of rankings plus the run's memory maps, whatever the number of users.

:func:`recommend_all_in_workspace` is ``artrec recommend-all``: the profiles, the stock and
the recommender (a saved model such as the one ``artrec tune`` chose, VisRank, or candidates
from a saved or new index) from a workspace.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from artrec.config import VisRankConfig
from artrec.data.workspace import Workspace
from artrec.errors import DataError, LimitError, UnknownIdError, short_repr
from artrec.fileio import check_name, read_json, write_json
from artrec.ranking import clamp_k
from artrec.recommend import reasons as R
from artrec.recommend.base import Ranking, Recommender, TrainData, check_profiles
from artrec.recommend.candidates import DEFAULT_CANDIDATES
from artrec.vectors import FeatureSet, as_id_array

if TYPE_CHECKING:
    from artrec.recommend.serving import ServingModel

#: Users ranked per chunk by default.
DEFAULT_BATCH_CHUNK = 1024

FORMAT = "artrec-batch-recommendations"
FORMAT_VERSION = 1

#: Bytes a run's arrays take per (user, rank): row (int64), score (float32), because (int64),
#: reason (int8).
RUN_BYTES_PER_ENTRY = 21

#: The stored reason of a padding entry, and of entries written before reasons were stored.
NO_REASON = R.REASONS.index(R.NONE)

#: ``progress(done_users, total_users)``, called after every chunk (also skipped ones).
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class RankSettings:
    """What every chunk of a :func:`recommend_all` run is ranked with."""

    k: int
    available: np.ndarray | None


@dataclass(frozen=True)
class ChunkJob:
    """One chunk of users to rank: its number, profiles and rows to exclude."""

    chunk: int
    profiles: list[np.ndarray]
    exclude: list[np.ndarray] | None


#: ``ranker(source, settings, jobs)`` yields ``(chunk, Ranking)`` once per job, in any order.
ChunkRanker = Callable[[Recommender, RankSettings, list[ChunkJob]], Iterator[tuple[int, Ranking]]]


def rank_chunk(source: Recommender, settings: RankSettings, job: ChunkJob) -> Ranking:
    """The ranking of one chunk: one :meth:`~Recommender.rank` call."""
    return source.rank(job.profiles, settings.k, exclude=job.exclude, available=settings.available)


def rank_locally(
    source: Recommender, settings: RankSettings, jobs: list[ChunkJob]
) -> Iterator[tuple[int, Ranking]]:
    """The default :data:`ChunkRanker`: every chunk in this process, in order."""
    for job in jobs:
        yield job.chunk, rank_chunk(source, settings, job)


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

    ``rows``, ``scores``, ``because`` and ``reasons`` (indices into ``reason_codes``) are
    ``(n_users, k)``; ``user_ids`` and ``item_ids`` map output rows and catalogue rows to raw
    ids. A run written before reason codes were stored has :data:`NO_REASON` everywhere.
    """

    directory: Path
    meta: dict[str, Any]
    user_ids: np.ndarray
    item_ids: np.ndarray
    rows: np.ndarray
    scores: np.ndarray
    because: np.ndarray
    done: np.ndarray
    reasons: np.ndarray
    reason_codes: tuple[str, ...] = R.REASONS

    @property
    def complete(self) -> bool:
        """Whether every chunk was written."""
        return bool(self.done.all())

    def for_user(self, user_id: Any) -> list[dict[str, Any]]:
        """One user's recommendations as records ``{item_id, score, because, reason,
        reason_text}`` (best first; the text names the ``because`` item by its id).

        Raises :class:`UnknownIdError` for a user not in the run and :class:`DataError` when
        that user's chunk has not been written yet.
        """
        user = str(user_id)
        lookup: dict[str, int] = {u: i for i, u in enumerate(self.user_ids.tolist())}
        pos = lookup.get(user)
        if pos is None:
            raise UnknownIdError(
                f"user {short_repr(user)} is not in the batch run {short_repr(self.directory.name)}"
            )
        chunk = int(self.meta["chunk_size"])
        if not self.done[pos // chunk]:
            raise DataError(
                f"user {short_repr(user)}: that chunk of run {short_repr(self.directory.name)} is not written yet"
            )
        out = []
        for row, score, why, code in zip(
            self.rows[pos].tolist(),
            self.scores[pos].tolist(),
            self.because[pos].tolist(),
            self.reasons[pos].tolist(),
            strict=True,
        ):
            if row < 0:
                break
            because = None if why < 0 else str(self.item_ids[why])
            reason = self.reason_codes[code] if 0 <= code < len(self.reason_codes) else R.NONE
            out.append(
                {
                    "item_id": self.item_ids[row],
                    "score": float(score),
                    "because": because,
                    "reason": reason,
                    "reason_text": R.reason_text(reason, because),
                }
            )
        return out


def recommend_all(
    source: Recommender,
    profiles: Mapping[str, np.ndarray],
    directory: str | Path,
    *,
    item_ids: Any,
    k: int = 10,
    chunk_size: int = DEFAULT_BATCH_CHUNK,
    exclude: Mapping[str, np.ndarray] | None = None,
    available: np.ndarray | None = None,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    describe: Mapping[str, Any] | None = None,
    ranker: ChunkRanker | None = None,
) -> BatchResult:
    """Recommend ``k`` items to every user, ``chunk_size`` users at a time, into ``directory``.

    Parameters
    ----------
    source
        A fitted :class:`Recommender` (VisRank, an index candidate recommender, ...).
    profiles
        User id -> catalogue rows of the user's profile. Output rows follow this order.
    directory
        The run directory (created). An existing complete or partial run with the same
        users and settings is resumed when ``resume``; otherwise it is an error to reuse it.
    item_ids
        Raw ids of the catalogue rows, stored as ``items.json``.
    k
        Recommendations per user.
    chunk_size
        Users ranked and written at once; bounds memory.
    exclude
        User id -> rows never to recommend to that user; defaults to the profile.
    available
        Boolean mask of rows that may be recommended (in stock); ``None``: the source's own.
    resume
        Skip chunks that an earlier, interrupted call already wrote.
    progress
        ``progress(done_users, total_users)`` after every chunk.
    describe
        Extra JSON-able facts stored in ``meta.json`` (embedding, metric, aggregation, ...);
        a run is resumed only when they match too.
    ranker
        Where the chunks are ranked: :func:`rank_locally` (default, this process) or
        another :data:`ChunkRanker`, such as
        :func:`artrec.recommend.ray_batch.ray_ranker` (Ray actors). The output is the same.

    Returns
    -------
    BatchResult
    """
    start_time = time.perf_counter()
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise DataError(f"chunk_size must be a positive integer, got {short_repr(chunk_size)}")
    if not isinstance(source, Recommender):
        raise DataError(f"source must be a Recommender, got {type(source).__name__}")
    items = as_id_array(item_ids)
    k = clamp_k(k, len(items))  # a list never holds more than the catalogue
    users = as_id_array(list(profiles.keys()))
    plist = [np.asarray(profiles[u], dtype=np.int64).reshape(-1) for u in users.tolist()]
    check_profiles(plist, len(items))
    if exclude is not None:
        unknown = [u for u in exclude if u not in profiles]
        if unknown:
            raise UnknownIdError(f"exclude names user {short_repr(unknown[0])}, who has no profile")
    n_users = len(users)
    n_chunks = (n_users + chunk_size - 1) // chunk_size
    directory = Path(directory)
    _check_room(directory, n_users * k * RUN_BYTES_PER_ENTRY)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "source": type(source).__name__,
        "name": source.name,
        "k": k,
        "chunk_size": chunk_size,
        "n_users": n_users,
        "n_items": len(items),
        "n_chunks": n_chunks,
        **dict(describe or {}),
    }
    arrays = _open_run(directory, meta, users, items, resume=resume)
    rows_mm, scores_mm, because_mm, reasons_mm, done_mm = arrays
    computed = 0
    jobs: list[ChunkJob] = []
    for c in range(n_chunks):
        if done_mm[c]:
            continue
        lo, hi = c * chunk_size, min(n_users, (c + 1) * chunk_size)
        chunk_exclude = None
        if exclude is not None:
            chunk_exclude = [
                np.asarray(exclude.get(u, plist[lo + j]), dtype=np.int64)
                for j, u in enumerate(users[lo:hi].tolist())
            ]
        jobs.append(ChunkJob(c, plist[lo:hi], chunk_exclude))
    done_users = n_users - sum(len(job.profiles) for job in jobs)
    if progress is not None and done_users:
        progress(done_users, n_users)
    for c, ranking in (ranker or rank_locally)(source, RankSettings(k, available), jobs):
        lo, hi = c * chunk_size, min(n_users, (c + 1) * chunk_size)
        rows_mm[lo:hi] = ranking.rows
        scores_mm[lo:hi] = ranking.scores
        because_mm[lo:hi] = ranking.because
        reasons_mm[lo:hi] = reason_indices(ranking)
        for arr in (rows_mm, scores_mm, because_mm, reasons_mm):
            arr.flush()
        done_mm[c] = True
        done_mm.flush()
        computed += 1
        done_users += hi - lo
        if progress is not None:
            progress(done_users, n_users)
    del rows_mm, scores_mm, because_mm, reasons_mm, done_mm
    return BatchResult(directory, n_users, n_chunks, computed, time.perf_counter() - start_time)


@dataclass(frozen=True)
class WorkspaceRun:
    """What :func:`recommend_all_in_workspace` did: the run's name, the batch result, and
    the users left out because no item of their profile has a vector."""

    name: str
    result: BatchResult
    skipped_users: int


def recommend_all_in_workspace(
    workspace: Workspace,
    config: VisRankConfig,
    *,
    index: str = "visrank",
    params: Mapping[str, Any] | None = None,
    n_candidates: int = DEFAULT_CANDIDATES,
    k: int = 10,
    chunk_size: int = DEFAULT_BATCH_CHUNK,
    kinds: Sequence[str] = ("purchase", "like"),
    split: str | None = None,
    run: str | None = None,
    resume: bool = True,
    include_sold: bool = False,
    progress: ProgressCallback | None = None,
    ranker: ChunkRanker | None = None,
    model: ServingModel | None = None,
) -> WorkspaceRun:
    """Recommend to every user with events of ``kinds`` into ``<workspace>/recommendations/<run>``.

    Parameters
    ----------
    workspace, config
        Where, and which VisRank configuration (embedding ``None``: the default one).
    model
        Rank with this saved model instead (loaded by
        :func:`artrec.recommend.serving.load_serving_model` from this workspace: refreshed on
        the current data); ``config`` and ``index`` are then not used, and the run's default
        name is ``<model>-k<k>``.
    index
        ``"visrank"`` scores every item exactly; an index kind
        (:data:`artrec.index.factory.INDEX_KINDS`) generates ``n_candidates`` candidates per
        profile item, from the index saved by ``artrec index build`` when there is one for
        the embedding, kind and metric, else from one built now with ``params``.
    split
        Only events of this split of the log (``"train"`` or ``"test"``).
    run
        Run name (default ``<embedding>-<index>-<metric>-k<k>``).
    include_sold
        Also recommend items the workspace marks sold.
    k, chunk_size, resume, progress, ranker
        See :func:`recommend_all`.
    """
    source: Recommender
    if model is not None:
        source, item_ids = model.model, model.catalog.item_ids
        describe: dict[str, Any] = {"model": model.info.name, "kind": model.info.kind}
    else:
        source, item_ids, describe = _visrank_source(workspace, config, index, params, n_candidates)
    k = clamp_k(k, len(item_ids))
    kinds = workspace.check_kinds(kinds)
    describe["kinds"] = list(kinds)
    if model is not None:
        default_name = f"{model.info.name}-k{k}"
    else:
        default_name = f"{describe['embedding']}-{index}-{config.metric}-k{k}"
    events = workspace.interactions(kinds=kinds)
    if split is not None:
        if events.splits is None:
            raise DataError("the interaction log has no train/test split; drop --split")
        events = events.select(events.splits == split)
    row_of = {item_id: r for r, item_id in enumerate(item_ids.tolist())}
    profiles: dict[str, np.ndarray] = {}
    skipped = 0
    for user, items in events.by_user().items():
        rows = [row_of[i] for i in items.tolist() if i in row_of]
        if not rows:
            skipped += 1  # no item of this user has a vector: nothing to recommend from
            continue
        profiles[user] = np.asarray(list(dict.fromkeys(rows)), dtype=np.int64)
    if not profiles:
        raise DataError(f"no users with {'/'.join(kinds)} events in workspace {workspace.root}")
    sold = set() if include_sold else workspace.sold_set()
    available = ~np.isin(item_ids, list(sold)) if sold else None
    if model is not None and available is None:
        available = np.ones(len(item_ids), dtype=bool)  # not the mask the model was fitted with
    name = check_name(run or default_name, what="run name")
    result = recommend_all(
        source,
        profiles,
        workspace.root / "recommendations" / name,
        item_ids=item_ids,
        k=k,
        chunk_size=chunk_size,
        available=available,
        resume=resume,
        progress=progress,
        describe=describe,
        ranker=ranker,
    )
    workspace.record_run(
        "recommend-all",
        {**describe, "k": k, "run": name},
        {
            "n_users": result.n_users,
            "skipped_users": skipped,
            "computed_chunks": result.computed_chunks,
            "seconds": result.seconds,
        },
    )
    return WorkspaceRun(name, result, skipped)


def _visrank_source(
    workspace: Workspace,
    config: VisRankConfig,
    index: str,
    params: Mapping[str, Any] | None,
    n_candidates: int,
) -> tuple[Recommender, np.ndarray, dict[str, Any]]:
    """VisRank over every item, or candidates from an index, for
    :func:`recommend_all_in_workspace`: ``(source, item_ids, describe)``."""
    embedding = workspace.resolve_embedding(config.embedding)
    vectors = FeatureSet.load(workspace.embeddings_dir, embedding)
    describe: dict[str, Any] = {"embedding": embedding, "index": index}
    describe.update(metric=config.metric, aggregation=config.aggregation, m=config.m)
    source: Recommender
    if index == "visrank":
        from artrec.recommend.visrank import VisRankRecommender

        vectors.check_finite()
        item_ids = vectors.item_ids
        source = VisRankRecommender(config.metric, config.aggregation, config.m)
        source.fit(TrainData(len(vectors), vectors=vectors.matrix))
    else:
        from artrec.index.factory import make_index
        from artrec.index.store import load_saved_index
        from artrec.recommend.candidates import IndexCandidateRecommender

        saved = None if params else load_saved_index(workspace, embedding, index, config.metric)
        describe.update(saved_index=saved is not None, n_candidates=n_candidates)
        if saved is None:
            vectors.check_finite()
            built = make_index(index, config.metric, **dict(params or {}))
            built.build(vectors.matrix, vectors.item_ids)
        else:
            built = saved
        item_ids = built.item_ids_
        source = IndexCandidateRecommender(built, config.aggregation, config.m, n_candidates)
        source.fit(TrainData(built.n_items))
    return source, item_ids, describe


def reason_indices(ranking: Ranking) -> np.ndarray:
    """A ranking's reason codes as int8 indices into :data:`~artrec.recommend.reasons.
    REASONS`; a ranking without codes (index candidates) gives "similar" where it has a
    ``because`` row."""
    out = np.full(ranking.rows.shape, NO_REASON, dtype=np.int8)
    codes = ranking.reasons
    if codes is None:
        out[ranking.because >= 0] = R.REASONS.index(R.SIMILAR)
    else:
        for code in set(np.asarray(codes, dtype=object).ravel().tolist()):
            if code in R.REASONS:
                out[codes == code] = R.REASONS.index(code)
    out[ranking.rows < 0] = NO_REASON
    return out


def _open_run(
    directory: Path, meta: dict[str, Any], users: np.ndarray, items: np.ndarray, *, resume: bool
) -> tuple[np.memmap, np.memmap, np.memmap, np.memmap, np.memmap]:
    """Create the run's files, or reopen them for resuming after checking they match."""
    n_users, k, n_chunks = int(meta["n_users"]), int(meta["k"]), int(meta["n_chunks"])
    meta_path = directory / "meta.json"
    if meta_path.is_file():
        old = read_json(meta_path)
        if not resume:
            raise DataError(
                f"batch run {directory} already exists; choose another name or resume it"
            )
        same = {key: v for key, v in old.items() if key != "created"} == _json_roundtrip(meta)
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
        # a run started before reason codes were stored gets them from now on
        reasons_mode = mode if (directory / "reasons.npy").is_file() else "w+"
        reasons = _memmap(directory / "reasons.npy", reasons_mode, np.int8, (n_users, k), NO_REASON)
        done = _memmap(directory / "done.npy", mode, np.bool_, (n_chunks,), False)
    except (OSError, ValueError) as exc:
        raise DataError(f"batch run {directory}: unreadable arrays ({exc})") from None
    if reasons_mode == "w+":
        write_json(directory / "reasons.json", list(R.REASONS))
    if mode == "w+":
        write_json(meta_path, {**meta, "created": time.time()})
    return rows, scores, because, reasons, done


def _check_room(directory: Path, needed: int) -> None:
    """Refuse a run whose arrays would not fit on the disk that holds ``directory``."""
    import shutil

    existing = directory
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return
    if (directory / "meta.json").is_file():
        return  # a resumed run's arrays already exist
    if needed > free:
        raise LimitError(
            f"batch run {directory}: its arrays need {needed:,} bytes but the disk has "
            f"{free:,} free; lower k or recommend to fewer users"
        )


def _json_roundtrip(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as it reads back from JSON (tuples become lists, ...)."""
    return dict(json.loads(json.dumps(value, default=str)))


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
    codes: tuple[str, ...] = R.REASONS
    if (directory / "reasons.npy").is_file():
        reasons = load_npy(directory / "reasons.npy")
        listed = read_json(directory / "reasons.json")
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise DataError(f"{directory / 'reasons.json'}: must hold a JSON list of strings")
        codes = tuple(listed)
    else:  # written before reason codes were stored
        reasons = np.full(shape, NO_REASON, dtype=np.int8)
    for name, arr in (
        ("rows", rows),
        ("scores", scores),
        ("because", because),
        ("reasons", reasons),
    ):
        if arr.shape != shape:
            raise DataError(f"{directory / (name + '.npy')}: shape {arr.shape}, expected {shape}")
    return BatchRecommendations(
        directory,
        meta,
        as_id_array(users),
        as_id_array(items),
        rows,
        scores,
        because,
        done,
        reasons,
        codes,
    )
