"""Approximate (and exact) neighbour search with FAISS, behind :class:`SimilarityIndex`.

Three FAISS structures are offered, chosen with ``kind``:

``flat``
    Brute force (``IndexFlatIP`` / ``IndexFlatL2``): exact, memory ``4 * n * d`` bytes.
``ivf``
    Inverted file (``IndexIVFFlat``): k-means into ``nlist`` cells, a query scans the
    ``nprobe`` nearest cells. Defaults: ``nlist = round(4 * sqrt(n))`` (at most ``n // 39``,
    so every centroid has enough training points), ``nprobe = max(16, nlist // 8)``.
``hnsw``
    Hierarchical navigable small-world graph (``IndexHNSWFlat``) with ``M`` links per node,
    ``ef_construction`` at build and ``ef_search`` at query time. Defaults ``M=32``,
    ``ef_construction=80``, ``ef_search=96``.

**Self-tuning.** Fixed defaults cannot promise recall: an ``ef_search`` that finds nearly
all true neighbours on clustered data misses many on i.i.d. Gaussian vectors. With ``target_recall`` (default ``0.95``) :meth:`FaissIndex.build`
therefore measures the index it built: it samples up to
:data:`~artrec.index.tuning.TUNE_QUERIES` catalogue items as queries, computes their exact
:data:`~artrec.index.tuning.TUNE_K` nearest neighbours (themselves left out), and walks
the query-time parameter up a geometric ladder (``ef_search``, or ``nprobe`` for IVF) until
the recall@k of :meth:`search` reaches the target with 95% confidence (the one-sided lower
bound over the sampled queries); the first value that does is the fastest one.
When that value is expensive (``ef_search`` above 256, ``nprobe`` above an eighth of the
cells) or the target is out of reach, one other build is tried (HNSW: ``M`` and
``ef_construction`` doubled; IVF: a quarter of the cells) and the configuration with the
lower measured search time at the target wins. Parameters given explicitly are kept as
given and only measured. The measured recall, search time, chosen parameters and every
configuration tried are kept in :attr:`FaissIndex.tuning_`, saved in ``index.json`` and
returned by :func:`index_tuning`. autofaiss, which automates the same choice, pins
``numpy<2`` and cannot be installed next to artrec's numpy 2, so the tuning uses FAISS
directly.

Metrics: ``cosine`` is an inner product on L2-normalised copies of the vectors (zero vectors
stay zero, so they score 0 against everything); ``dot`` is the raw inner product;
``euclidean`` scores are minus the Euclidean distance, as the interface requires. Other
metrics raise :class:`~artrec.errors.DataError`.

Each query fetches ``k + over_fetch`` candidates from FAISS (plus one when a row is
excluded), then re-scores the candidates exactly from the stored vectors in float64 and
orders them by score, then row. Scores therefore equal those of the exact index, and ties are
broken the same way within the fetched candidates.

The stored vectors (what :meth:`vectors_of` returns) are kept as given to :meth:`build`,
written to ``vectors.npy`` by :meth:`save` and memory-mapped by :meth:`load`, so a loaded
index does not hold a second copy of the embedding in RAM.

Items can be :meth:`add`-ed to a built index and :meth:`hide`-den from results (sold works)
without a rebuild; hidden rows are filtered inside FAISS with an ``IDSelectorBitmap``.

``faiss`` is an optional extra; it is imported only when an index is built or loaded.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from artrec.errors import DataError, MissingDependencyError, short_repr
from artrec.fileio import read_json, write_json
from artrec.index.base import MutableIndex
from artrec.ranking import clamp_k
from artrec.similarity import PreparedVectors
from artrec.vectors import as_id_array, check_float32_range

#: FAISS structures offered.
KINDS: tuple[str, ...] = ("flat", "ivf", "hnsw")
#: Metrics the FAISS back end supports.
FAISS_METRICS: tuple[str, ...] = ("cosine", "dot", "euclidean")
#: Tunable parameters and the kinds they apply to.
PARAMS: dict[str, tuple[str, ...]] = {
    "nlist": ("ivf",),
    "nprobe": ("ivf",),
    "train_size": ("ivf",),
    "M": ("hnsw",),
    "ef_construction": ("hnsw",),
    "ef_search": ("hnsw",),
    "over_fetch": KINDS,
    "seed": KINDS,
    "target_recall": ("ivf", "hnsw"),
}
#: HNSW defaults: links per node, candidate list at build and at query time.
DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 80
DEFAULT_EF_SEARCH = 96
#: Recall@k the index tunes itself to when not told otherwise.
DEFAULT_TARGET_RECALL = 0.95
#: ``ef_search`` values tried by the tuning, in order.
EF_LADDER: tuple[int, ...] = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
EF_LADDER += (1536, 2048, 3072, 4096)
_ALIASES = {"m": "M", "efConstruction": "ef_construction", "efSearch": "ef_search"}

FORMAT = "artrec-faiss-index"
FORMAT_VERSION = 1
_INDEX_FILE = "index.faiss"
_VECTORS_FILE = "vectors.npy"
_IDS_FILE = "ids.json"
_LABELS_FILE = "labels.npy"
_META_FILE = "index.json"
#: Rows normalised and handed to FAISS at once while building (bounds temporary memory).
_ADD_CHUNK = 65536
#: Largest integer parameter (FAISS takes C ints).
_MAX_PARAM = 2**31 - 1
#: Largest HNSW ``M`` (links per node; each node stores about 2·M of them).
_MAX_M = 1024
#: Queries re-scored at once (bounds the gathered candidate block).
_QUERY_CHUNK = 256


def import_faiss() -> Any:
    """Import and return the ``faiss`` module, or raise :class:`MissingDependencyError`."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - CI installs the extra
        raise MissingDependencyError(
            "the FAISS index needs the 'faiss' extra: pip install 'artrec[faiss]'"
        ) from None
    return faiss


def default_nlist(n_items: int) -> int:
    """IVF cells for ``n_items``: ``round(4 * sqrt(n))``, at most ``n // 39``, at least 1."""
    return max(1, min(round(4.0 * math.sqrt(max(n_items, 1))), n_items // 39))


def default_nprobe(nlist: int) -> int:
    """IVF cells scanned per query: ``max(16, nlist // 8)``, at most ``nlist``."""
    return max(1, min(nlist, max(16, nlist // 8)))


class FaissIndex(MutableIndex):
    """A :class:`SimilarityIndex` backed by a FAISS flat, IVF or HNSW index.

    Parameters
    ----------
    kind
        ``"flat"``, ``"ivf"`` or ``"hnsw"``.
    metric
        ``"cosine"``, ``"dot"`` or ``"euclidean"``.
    nlist, nprobe, train_size
        IVF: number of cells, cells scanned per query, and k-means training sample size
        (``None``: the defaults in the module docstring; ``train_size`` defaults to
        ``min(n, 40 * nlist)``).
    M, ef_construction, ef_search
        HNSW: links per node, candidate list size at build and at query time (``None``:
        tuned when ``target_recall`` is set, else 32, 80 and 96).
    over_fetch
        Extra candidates fetched per query before exact re-scoring (``None``: ``min(k, 32)``).
    seed
        Seed of the IVF training sample, of k-means and of the tuning's query sample.
    target_recall
        Recall@10 the built index must reach on queries sampled from the catalogue; the
        parameters not given explicitly are tuned for it (see the module docstring).
        ``None``: no tuning, fixed defaults.
    **aliases
        FAISS spellings ``efSearch``, ``efConstruction`` and ``m`` of the HNSW parameters.

    Attributes
    ----------
    item_ids_ : numpy.ndarray
        Raw ids in row order, after :meth:`build` or :meth:`load`.
    index_ : faiss.Index
        The FAISS structure.
    tuning_ : dict or None
        What the tuning measured and chose (``None`` without tuning).
    """

    def __init__(
        self,
        kind: str = "hnsw",
        metric: str = "cosine",
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        train_size: int | None = None,
        M: int | None = None,
        ef_construction: int | None = None,
        ef_search: int | None = None,
        over_fetch: int | None = None,
        seed: int = 0,
        target_recall: float | None = DEFAULT_TARGET_RECALL,
        **aliases: Any,
    ) -> None:
        for alias, value in aliases.items():
            if alias not in _ALIASES:
                raise DataError(
                    f"unknown FAISS parameter {alias!r}; known: {', '.join(sorted(PARAMS))}"
                )
            if _ALIASES[alias] == "M":
                M = value
            elif _ALIASES[alias] == "ef_construction":
                ef_construction = value
            else:
                ef_search = value
        if kind not in KINDS:
            raise DataError(f"unknown FAISS index kind {kind!r}; choose one of {', '.join(KINDS)}")
        if metric not in FAISS_METRICS:
            raise DataError(
                f"metric {metric!r} is not supported by the FAISS index; choose one of "
                f"{', '.join(FAISS_METRICS)} (or use the exact index)"
            )
        for name, value in (
            ("nlist", nlist),
            ("nprobe", nprobe),
            ("train_size", train_size),
            ("M", M),
            ("ef_construction", ef_construction),
            ("ef_search", ef_search),
        ):
            top = _MAX_M if name == "M" else _MAX_PARAM
            if value is not None and (
                not isinstance(value, (int, np.integer)) or not 1 <= value <= top
            ):
                raise DataError(
                    f"FAISS parameter {name} must be an integer >= 1 and <= {top:,}, "
                    f"got {short_repr(value)}"
                )
        if over_fetch is not None and (
            not isinstance(over_fetch, (int, np.integer)) or over_fetch < 0
        ):
            raise DataError(
                f"FAISS parameter over_fetch must be an integer >= 0, got {short_repr(over_fetch)}"
            )
        if target_recall is not None and (
            isinstance(target_recall, bool)
            or not isinstance(target_recall, (int, float, np.floating))
            or not 0.0 < float(target_recall) <= 1.0
        ):
            raise DataError(f"target_recall must be in (0, 1] or None, got {target_recall!r}")
        self.kind = kind
        self.metric = metric
        self.nlist = nlist
        self.nprobe = nprobe
        self.train_size = train_size
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.over_fetch = over_fetch
        self.seed = seed
        self.target_recall = None if target_recall is None else float(target_recall)

    # -- configuration --------------------------------------------------------------------
    @classmethod
    def from_params(
        cls, kind: str, metric: str, params: dict[str, Any] | None = None
    ) -> FaissIndex:
        """Build from a ``{name: value}`` dict (CLI ``--param k=v``), validating the names.

        Values may be strings of integers. FAISS spellings ``efSearch``/``efConstruction``
        are accepted. Raises :class:`DataError` naming an unknown or misplaced parameter.
        """
        clean: dict[str, Any] = {}
        for raw_name, value in (params or {}).items():
            name = _ALIASES.get(raw_name, raw_name)
            if name not in PARAMS:
                raise DataError(
                    f"unknown FAISS parameter {raw_name!r}; known: {', '.join(sorted(PARAMS))}"
                )
            if kind not in PARAMS[name]:
                raise DataError(f"parameter {raw_name!r} does not apply to a FAISS {kind!r} index")
            if name == "target_recall":
                clean[name] = _parse_recall(value)
                continue
            if isinstance(value, str):
                try:
                    value = int(value)
                except ValueError:
                    raise DataError(
                        f"FAISS parameter {raw_name!r} must be an integer, got {value!r}"
                    ) from None
            clean[name] = value
        return cls(kind, metric, **clean)

    def get_params(self) -> dict[str, Any]:
        """The parameters that apply to this kind, with defaults resolved where built."""
        out: dict[str, Any] = {"over_fetch": self.over_fetch, "seed": self.seed}
        if self.kind != "flat":
            out["target_recall"] = self.target_recall
        if self.kind == "ivf":
            nlist = getattr(self, "nlist_", self.nlist)
            out.update(
                nlist=nlist,
                nprobe=None if nlist is None else self._nprobe(),
                train_size=getattr(self, "train_size_", self.train_size),
            )
        elif self.kind == "hnsw":
            out.update(
                M=self._m(), ef_construction=self._ef_construction(), ef_search=self._ef_search()
            )
        return out

    def _m(self) -> int:
        return int(self.M if self.M is not None else getattr(self, "M_", DEFAULT_M))

    def _ef_construction(self) -> int:
        if self.ef_construction is not None:
            return int(self.ef_construction)
        return int(getattr(self, "ef_construction_", DEFAULT_EF_CONSTRUCTION))

    def _ef_search(self) -> int:
        if self.ef_search is not None:
            return int(self.ef_search)
        return int(getattr(self, "ef_search_", DEFAULT_EF_SEARCH))

    def _nprobe(self) -> int:
        if self.nprobe is not None:
            return int(min(self.nprobe, self.nlist_))
        return int(min(getattr(self, "nprobe_", default_nprobe(self.nlist_)), self.nlist_))

    # -- building ---------------------------------------------------------------------------
    def build(
        self, vectors: np.ndarray, item_ids: Any, *, prepared: PreparedVectors | None = None
    ) -> FaissIndex:
        """Index ``vectors`` (``(n, d)``, finite), one row per id; returns self.

        The array is kept by reference (a memory-mapped embedding stays memory-mapped) and
        fed to FAISS in chunks; ``prepared`` is not used (FAISS keeps its own copy).
        """
        faiss = import_faiss()
        vectors = _check_matrix(vectors, "vectors")
        ids = as_id_array(item_ids)
        if len(ids) != vectors.shape[0]:
            raise DataError(f"{vectors.shape[0]} vectors but {len(ids)} item ids")
        if len(ids) == 0:
            raise DataError("cannot build an index over zero items")
        _check_unique(ids)
        _check_finite(vectors, ids)
        for name in ("M_", "ef_construction_", "ef_search_", "nprobe_", "_nlist_override"):
            self.__dict__.pop(name, None)
        self.tuning_: dict[str, Any] | None = None
        if self.target_recall is not None and self.kind != "flat" and len(ids) >= 20:
            self._build_tuned(faiss, vectors, ids)
            return self
        index = self._new_index(faiss, *vectors.shape)
        self._fill(index, vectors, vectors)
        self._attach(index, ids, vectors, np.arange(len(ids), dtype=np.int64))
        return self

    def _fill(self, index: Any, vectors: np.ndarray, rows_in_order: np.ndarray) -> None:
        """Train (IVF, on a sample of ``vectors``) and add ``rows_in_order`` in chunks."""
        if self.kind == "ivf":
            index.train(self._prepare(self._training_sample(vectors)))
        for start in range(0, rows_in_order.shape[0], _ADD_CHUNK):
            index.add(self._prepare(rows_in_order[start : start + _ADD_CHUNK]))

    # -- self-tuning ---------------------------------------------------------------------------
    def _build_tuned(self, faiss: Any, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Build, holding sampled items out as queries, and tune for :attr:`target_recall`.

        The held-out items are added last (FAISS labels follow insertion order, so the
        stored vectors are kept by label), after the configuration has been chosen on them:
        they are queried as items the structure has not seen, the way a new artwork is,
        rather than as nodes the search would walk straight to.
        """
        from artrec.index.tuning import TUNE_K, TUNE_QUERIES, exact_neighbours, sample_rows

        started = time.perf_counter()
        n, d = vectors.shape
        held = sample_rows(n, min(TUNE_QUERIES, max(1, n // 10)), seed=self.seed)
        kept = np.ones(n, dtype=bool)
        kept[held] = False
        order = np.concatenate([np.flatnonzero(kept), held])
        base = np.ascontiguousarray(vectors[order])  # stored vectors, by FAISS label
        labels = np.empty(n, dtype=np.int64)
        labels[order] = np.arange(n, dtype=np.int64)
        n_kept = n - len(held)
        k = min(TUNE_K, n_kept)
        queries = base[n_kept:]
        truth = exact_neighbours(base[:n_kept], queries, k, self.metric)
        target = float(self.target_recall or 0.0)
        tried: list[Any] = []

        def attempt() -> tuple[Any, Any]:
            index = self._new_index(faiss, n, d)
            self._fill(index, vectors, base[:n_kept])
            return index, self._tune_search(index, queries, truth, k, tried)

        index, best = attempt()
        escalate = self._escalation()
        if escalate and (not best.reaches(target) or self._expensive(best.params)):
            first = {name: self.__dict__.get(name) for name in escalate}
            for name, value in escalate.items():
                setattr(self, name, value)
            other_index, other = attempt()
            if _better(other, best, target):
                index, best = other_index, other
            else:
                for name, value in first.items():
                    if value is None:
                        self.__dict__.pop(name, None)
                    else:
                        setattr(self, name, value)
                del other_index
        for name, value in best.params.items():
            setattr(self, f"{name}_", value)
        for start in range(n_kept, n, _ADD_CHUNK):
            index.add(self._prepare(base[start : min(n, start + _ADD_CHUNK)]))
        self._attach(index, ids, base, labels)
        self.tuning_ = {
            "target_recall": target,
            "k": k,
            "queries": len(held),
            "recall": round(best.recall, 4),
            "recall_low": round(best.recall_low, 4),
            "faiss_ms_per_query": round(best.ms_per_query, 4),
            "reached": best.reaches(target),
            "params": {
                key: value
                for key, value in self.get_params().items()
                if key in ("M", "ef_construction", "ef_search", "nlist", "nprobe")
            },
            "tried": [t.to_dict() for t in tried],
            "seconds": round(time.perf_counter() - started, 3),
        }

    def _tune_search(
        self, index: Any, queries: np.ndarray, truth: np.ndarray, k: int, tried: list[Any]
    ) -> Any:
        """Walk the query-time ladder on ``index``; returns the chosen trial.

        Recall is that of :meth:`search`: it re-scores the ``k + over_fetch`` candidates
        FAISS returns exactly, so its top k holds exactly the true neighbours among them.
        The time is FAISS's search of those candidates, per query.
        """
        from artrec.index.tuning import measure

        faiss = import_faiss()
        fetch = k + (min(k, 32) if self.over_fetch is None else int(self.over_fetch))
        prepared = self._prepare(queries)
        if self.kind == "hnsw":
            build: dict[str, int] = {"M": self._m(), "ef_construction": self._ef_construction()}
            name, pinned = "ef_search", self.ef_search
            ladder = list(EF_LADDER)
        else:
            nlist = int(faiss.extract_index_ivf(index).nlist)
            self.nlist_ = nlist
            build = {"nlist": nlist}
            name, pinned = "nprobe", self.nprobe
            ladder = sorted({min(2**i, nlist) for i in range(nlist.bit_length() + 1)})
        if pinned is not None:
            ladder = [int(pinned)]
        target = float(self.target_recall or 0.0)
        trial = None
        for value in ladder:
            if self.kind == "hnsw":
                params = faiss.SearchParametersHNSW()
                params.efSearch = int(max(value, fetch))
            else:
                params = faiss.SearchParametersIVF()
                params.nprobe = int(min(value, build["nlist"]))

            def search(params: Any = params) -> np.ndarray:
                return np.asarray(index.search(prepared, fetch, params=params)[1])

            trial = measure(search, truth, {**build, name: value})
            tried.append(trial)
            if trial.reaches(target):
                break
        assert trial is not None
        return trial

    def _escalation(self) -> dict[str, Any]:
        """The one other build the tuning may try (attributes to set), or ``{}`` if pinned."""
        if self.kind == "hnsw" and self.M is None and self.ef_construction is None:
            return {"M_": 2 * self._m(), "ef_construction_": 2 * self._ef_construction()}
        if self.kind == "ivf" and self.nlist is None and self.nlist_ >= 8:
            return {"_nlist_override": max(1, self.nlist_ // 4)}
        return {}

    def _expensive(self, params: dict[str, Any]) -> bool:
        if self.kind == "hnsw":
            return int(params.get("ef_search", 0)) > 256
        return int(params.get("nprobe", 0)) > max(1, self.nlist_ // 8)

    def _attach(self, index: Any, ids: np.ndarray, base: np.ndarray, labels: np.ndarray) -> None:
        """Set the fitted state: FAISS index, ids by row, stored vectors by label, row labels."""
        self.index_ = index
        self.item_ids_ = ids
        self.dim_ = int(base.shape[1])
        self._base = base
        self._added: list[np.ndarray] = []
        self._added_cat: np.ndarray | None = None
        self._labels = labels
        self._identity_labels = bool(np.array_equal(labels, np.arange(len(labels))))
        self._visible = np.ones(len(ids), dtype=bool)
        self._selector_cache: tuple[Any, Any] | None = None
        self._l2r_cache: np.ndarray | None = None
        self._row_of = {i: r for r, i in enumerate(ids.tolist())}

    def _new_index(self, faiss: Any, n: int, d: int) -> Any:
        ip = self.metric in ("cosine", "dot")
        faiss_metric = faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2
        if self.kind == "flat":
            return faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, self._m(), faiss_metric)
            index.hnsw.efConstruction = self._ef_construction()
            return index
        if self.kind == "ivf":
            nlist = self.nlist if self.nlist is not None else default_nlist(n)
            nlist = int(getattr(self, "_nlist_override", nlist))
            if nlist > n:
                raise DataError(f"IVF nlist={nlist} exceeds the number of items ({n})")
            self.nlist_ = nlist
            quantizer = faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss_metric)
            index.cp.seed = int(self.seed)
            index.cp.verbose = False
            index.cp.min_points_per_centroid = 1  # no stderr warning on small training sets
            return index
        raise AssertionError(f"unhandled kind {self.kind!r}")  # pragma: no cover

    def _training_sample(self, vectors: np.ndarray) -> np.ndarray:
        n = vectors.shape[0]
        size = self.train_size if self.train_size is not None else 40 * self.nlist_
        size = max(min(size, n), self.nlist_)
        self.train_size_ = size
        if size >= n:
            return np.asarray(vectors)
        rng = np.random.default_rng(self.seed)
        rows = np.sort(rng.choice(n, size=size, replace=False))
        return np.asarray(vectors[rows])

    def _prepare(self, block: np.ndarray) -> np.ndarray:
        """A C-contiguous float32 copy of ``block`` as FAISS stores it (normalised for cosine)."""
        from artrec.similarity import prepare

        return prepare(block, "cosine" if self.metric == "cosine" else "dot", np.float32)

    def __getstate__(self) -> dict[str, Any]:
        """Picklable state (e.g. for Ray's object store): the FAISS structure pickles
        itself; the search-time caches (a FAISS selector among them) are rebuilt on use."""
        state = dict(self.__dict__)
        if "_selector_cache" in state:
            state["_selector_cache"] = None
        return state

    # -- properties ---------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Vector dimension."""
        self._check_built()
        return int(self.dim_)

    @property
    def hidden_ids(self) -> np.ndarray:
        """Raw ids currently hidden from results, in row order."""
        self._check_built()
        return self.item_ids_[~self._visible]

    @property
    def n_visible(self) -> int:
        """Number of rows that can be returned by :meth:`search`."""
        self._check_built()
        return int(self._visible.sum())

    @property
    def n_removed(self) -> int:
        """FAISS entries of removed items still held (space is reclaimed by a rebuild)."""
        self._check_built()
        return int(self.index_.ntotal) - self.n_items

    def _check_built(self) -> None:
        if not hasattr(self, "index_"):
            raise DataError("the FAISS index is not built yet; call build() or FaissIndex.load()")

    # -- stored vectors ---------------------------------------------------------------------
    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of ``rows`` (memory-mapped after :meth:`load`)."""
        self._check_built()
        rows = np.asarray(rows, dtype=np.int64)
        n = self.n_items
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            bad = int(rows[(rows < 0) | (rows >= n)].ravel()[0])
            raise DataError(f"row {bad} is out of range for an index of {n} items")
        return self._vectors_by_label(self._labels[rows])

    def _vectors_by_label(self, labels: np.ndarray) -> np.ndarray:
        shape = labels.shape
        flat = labels.ravel()
        n_base = self._base.shape[0]
        out = np.empty((flat.size, self.dim_), dtype=np.float32)
        in_base = flat < n_base
        if in_base.any():
            base_labels = flat[in_base]
            # Sorted reads are much faster on a memory-mapped file.
            order = np.argsort(base_labels, kind="stable")
            block = np.empty((base_labels.size, self.dim_), dtype=np.float32)
            block[order] = self._base[base_labels[order]]
            out[in_base] = block
        if not in_base.all():
            out[~in_base] = self._added_matrix()[flat[~in_base] - n_base]
        return out.reshape((*shape, self.dim_))

    def _added_matrix(self) -> np.ndarray:
        if self._added_cat is None:
            self._added_cat = (
                np.concatenate(self._added)
                if self._added
                else np.zeros((0, self.dim_), dtype=np.float32)
            )
        return self._added_cat

    # -- incremental updates ----------------------------------------------------------------
    def add(self, vectors: np.ndarray, item_ids: Any) -> np.ndarray:
        """Append items without a rebuild; returns their new rows.

        IVF cells keep their trained centroids (see :func:`artrec.incremental.refit_advice`
        for when to rebuild). Raises :class:`DataError` on a dimension mismatch, a non-finite
        row, or an id that is already indexed.
        """
        self._check_built()
        vectors = _check_matrix(vectors, "vectors")
        ids = as_id_array(item_ids)
        if len(ids) != vectors.shape[0]:
            raise DataError(f"{vectors.shape[0]} vectors but {len(ids)} item ids")
        if vectors.shape[1] != self.dim_:
            raise DataError(
                f"new vectors have dimension {vectors.shape[1]}, the index has {self.dim_}"
            )
        _check_unique(ids)
        for item_id in ids.tolist():
            if item_id in self._row_of:
                raise DataError(f"item id {item_id!r} is already in the index")
        _check_finite(vectors, ids)
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        start = self.n_items
        first_label = int(self.index_.ntotal)
        stored = np.array(vectors, dtype=np.float32, copy=True)
        for lo in range(0, len(ids), _ADD_CHUNK):
            self.index_.add(self._prepare(stored[lo : lo + _ADD_CHUNK]))
        self._added.append(stored)
        self._added_cat = None
        self.item_ids_ = np.concatenate([self.item_ids_, ids])
        self._labels = np.concatenate(
            [self._labels, np.arange(first_label, first_label + len(ids), dtype=np.int64)]
        )
        for offset, item_id in enumerate(ids.tolist()):
            self._row_of[item_id] = start + offset
        self._visible = np.concatenate([self._visible, np.ones(len(ids), dtype=bool)])
        self._selector_cache = None
        return np.arange(start, start + len(ids), dtype=np.int64)

    def hide(self, item_ids: Any) -> int:
        """Leave items out of all results (e.g. sold works) without a rebuild.

        Rows keep their numbers; :meth:`vectors_of` and :meth:`similar` still accept the
        hidden items as queries; :meth:`unhide` shows them again. Returns how many items
        became hidden. Raises :class:`UnknownIdError` naming the first id not in the index.
        """
        rows = self.rows_of(item_ids)
        changed = int(self._visible[rows].sum())
        self._visible[rows] = False
        self._selector_cache = None
        return changed

    def unhide(self, item_ids: Any) -> int:
        """Return hidden items to the results; returns how many changed."""
        rows = self.rows_of(item_ids)
        changed = int((~self._visible[rows]).sum())
        self._visible[rows] = True
        self._selector_cache = None
        return changed

    def remove(self, item_ids: Any) -> int:
        """Drop items without a rebuild (later rows move up); returns how many were removed.

        The FAISS entries stay as tombstones that a selector filters out of every search
        (HNSW graphs cannot delete nodes); :attr:`n_removed` counts them and a rebuild
        reclaims their space. Raises :class:`UnknownIdError` naming the first unknown id.
        """
        rows = self.rows_of(item_ids)
        keep = np.ones(self.n_items, dtype=bool)
        keep[rows] = False
        self.item_ids_ = self.item_ids_[keep]
        self._labels = self._labels[keep]
        self._visible = self._visible[keep]
        self._row_of = {i: r for r, i in enumerate(self.item_ids_.tolist())}
        self._selector_cache = None
        self._l2r_cache = None
        return int((~keep).sum())

    def _row_lookup(self) -> dict[str, int]:
        self._check_built()
        return self._row_of

    # -- search -------------------------------------------------------------------------------
    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exclude_rows: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar visible rows for each query (see :class:`SimilarityIndex`).

        A 1-D query is treated as one query.
        """
        self._check_built()
        k = clamp_k(k, self.n_items)  # a list never holds more than the index
        queries = np.asarray(queries)
        if queries.ndim == 1:
            queries = queries[None, :]
        queries = _check_matrix(queries, "queries")
        if queries.shape[1] != self.dim_:
            raise DataError(f"queries have dimension {queries.shape[1]}, the index has {self.dim_}")
        finite = np.isfinite(queries).all(axis=1)
        if not finite.all():
            raise DataError(f"query {int(np.flatnonzero(~finite)[0])} holds NaN or inf")
        nq = queries.shape[0]
        excl = None
        if exclude_rows is not None:
            excl = np.asarray(exclude_rows, dtype=np.int64).ravel()
            if excl.shape[0] != nq:
                raise DataError(f"exclude_rows has {excl.shape[0]} entries for {nq} queries")
        rows_out = np.full((nq, k), -1, dtype=np.int64)
        scores_out = np.full((nq, k), -np.inf, dtype=np.float32)
        n_visible = self.n_visible
        if nq == 0 or n_visible == 0:
            return rows_out, scores_out
        extra = min(k, 32) if self.over_fetch is None else int(self.over_fetch)
        fetch = min(n_visible, k + extra + (1 if excl is not None else 0))
        params = self._search_params(fetch)
        label_to_row = self._label_to_row()
        for lo in range(0, nq, _QUERY_CHUNK):
            hi = min(nq, lo + _QUERY_CHUNK)
            q = self._prepare(queries[lo:hi])
            _, labels = self.index_.search(q, fetch, params=params)
            labels = labels.astype(np.int64, copy=False)
            if label_to_row is None:
                cand = np.where(labels >= 0, labels, -1)
            else:
                cand = np.where(labels >= 0, label_to_row[np.maximum(labels, 0)], -1)
            if excl is not None:
                cand = np.where(cand == excl[lo:hi, None], -1, cand)
            scores = self._exact_scores(np.asarray(queries[lo:hi], dtype=np.float64), cand)
            rows_out[lo:hi], scores_out[lo:hi] = _order(cand, scores, k)
        return rows_out, scores_out

    def candidate_rows(self, queries: np.ndarray, k: int) -> np.ndarray:
        """The rows FAISS finds for each query, without exact re-scoring: ``(n, k)`` int64.

        A fast path for candidate generation (see :func:`artrec.recommend.batch.rank_with_index`):
        the order is FAISS's own and no row is excluded except hidden and removed ones;
        padding is ``-1``.
        """
        self._check_built()
        queries = _check_matrix(np.asarray(queries), "queries")
        if queries.shape[1] != self.dim_:
            raise DataError(f"queries have dimension {queries.shape[1]}, the index has {self.dim_}")
        if not np.isfinite(queries).all():
            raise DataError("queries hold NaN or inf")
        k = clamp_k(k, self.n_items)
        fetch = min(k, self.n_visible)
        out = np.full((queries.shape[0], k), -1, dtype=np.int64)
        if fetch < 1 or queries.shape[0] == 0:
            return out
        params = self._search_params(fetch)
        label_to_row = self._label_to_row()
        for lo in range(0, queries.shape[0], _ADD_CHUNK):
            hi = min(queries.shape[0], lo + _ADD_CHUNK)
            _, labels = self.index_.search(self._prepare(queries[lo:hi]), fetch, params=params)
            labels = labels.astype(np.int64, copy=False)
            if label_to_row is not None:
                labels = np.where(labels >= 0, label_to_row[np.maximum(labels, 0)], -1)
            out[lo:hi, :fetch] = np.where(labels >= 0, labels, -1)
        return out

    def _label_to_row(self) -> np.ndarray | None:
        """FAISS label -> row (``-1`` for removed), or ``None`` while they are the same."""
        ntotal = int(self.index_.ntotal)
        if ntotal == self.n_items and self._identity_labels:
            return None  # label == row
        cached = self._l2r_cache
        if cached is None or len(cached) != ntotal:
            cached = np.full(ntotal, -1, dtype=np.int64)
            cached[self._labels] = np.arange(self.n_items, dtype=np.int64)
            self._l2r_cache = cached
        return cached

    def _search_params(self, fetch: int) -> Any:
        faiss = import_faiss()
        if self.kind == "ivf":
            params = faiss.SearchParametersIVF()
            params.nprobe = self._nprobe()
        elif self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = int(max(self._ef_search(), fetch))
        else:
            params = faiss.SearchParameters()
        ntotal = int(self.index_.ntotal)
        if ntotal != self.n_items or not self._visible.all():
            if self._selector_cache is None:
                allowed = np.zeros(ntotal, dtype=bool)
                allowed[self._labels[self._visible]] = True
                bits = np.packbits(allowed, bitorder="little")
                selector = faiss.IDSelectorBitmap(ntotal, faiss.swig_ptr(bits))
                self._selector_cache = (bits, selector)  # the bitmap must outlive the selector
            params.sel = self._selector_cache[1]
        return params

    def _exact_scores(self, q: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Similarities of each query to its candidate rows (``-inf`` where ``cand < 0``)."""
        valid = cand >= 0
        vecs = self.vectors_of(np.where(valid, cand, 0)).astype(np.float64)
        if self.metric == "euclidean":
            diff = vecs - q[:, None, :]
            scores = -np.sqrt(np.einsum("qfd,qfd->qf", diff, diff))
        elif self.metric == "dot":
            scores = np.einsum("qfd,qd->qf", vecs, q)
        else:
            from artrec.similarity import prepare

            pq = prepare(q, "cosine", np.float64)
            pv = prepare(vecs.reshape(-1, self.dim_), "cosine", np.float64).reshape(vecs.shape)
            scores = np.einsum("qfd,qd->qf", pv, pq)
        return np.where(valid, scores, -np.inf)

    # -- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write the index to ``directory``, each file atomically.

        Files: ``index.faiss`` (``faiss.write_index``), ``vectors.npy`` (stored vectors by
        FAISS label, tombstones included), ``labels.npy`` (the FAISS label of each row),
        ``ids.json`` (raw ids by row) and the sidecar ``index.json`` (kind, metric,
        parameters, hidden ids), written last.
        """
        self._check_built()
        faiss = import_faiss()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        tmp_index = directory / f".{_INDEX_FILE}.tmp-{pid}"
        faiss.write_index(self.index_, str(tmp_index))
        os.replace(tmp_index, directory / _INDEX_FILE)
        ntotal = int(self.index_.ntotal)
        tmp_vec = directory / f".{_VECTORS_FILE}.tmp-{pid}.npy"
        out = np.lib.format.open_memmap(
            tmp_vec, mode="w+", dtype=np.float32, shape=(ntotal, self.dim_)
        )
        n_base = self._base.shape[0]
        for lo in range(0, n_base, _ADD_CHUNK):
            hi = min(n_base, lo + _ADD_CHUNK)
            out[lo:hi] = self._base[lo:hi]
        if ntotal > n_base:
            out[n_base:] = self._added_matrix()
        out.flush()
        del out
        os.replace(tmp_vec, directory / _VECTORS_FILE)
        tmp_labels = directory / f".{_LABELS_FILE}.tmp-{pid}.npy"
        np.save(tmp_labels, self._labels, allow_pickle=False)
        os.replace(tmp_labels, directory / _LABELS_FILE)
        write_json(directory / _IDS_FILE, self.item_ids_.tolist())
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "metric": self.metric,
            "params": self.get_params(),
            "n_items": self.n_items,
            "n_removed": self.n_removed,
            "dim": self.dim_,
            "hidden": self.hidden_ids.tolist(),
            "faiss_version": getattr(faiss, "__version__", "unknown"),
            "tuning": getattr(self, "tuning_", None),
        }
        write_json(directory / _META_FILE, meta)

    @classmethod
    def load(cls, directory: str | Path, *, mmap: bool = True) -> FaissIndex:
        """Read an index written by :meth:`save` (stored vectors memory-mapped unless ``mmap=False``).

        Raises :class:`DataError` naming the file when a part is missing, corrupt or
        inconsistent with the others.
        """
        from artrec.vectors import load_npy

        faiss = import_faiss()
        directory = Path(directory)
        meta_path = directory / _META_FILE
        meta = read_json(meta_path)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DataError(f"{meta_path}: not an artrec FAISS index sidecar")
        if meta.get("version") != FORMAT_VERSION:
            raise DataError(f"{meta_path}: unsupported format version {meta.get('version')!r}")
        params = dict(meta.get("params") or {})
        train_size = params.pop("train_size", None)
        nlist = params.pop("nlist", None)
        nprobe = params.pop("nprobe", None)
        try:
            index = cls(str(meta.get("kind")), str(meta.get("metric")), **params)
        except TypeError as exc:
            raise DataError(f"{meta_path}: bad parameters ({exc})") from None
        ids = read_json(directory / _IDS_FILE)
        if not isinstance(ids, list):
            raise DataError(f"{directory / _IDS_FILE}: must hold a JSON list of ids")
        vectors = load_npy(directory / _VECTORS_FILE, mmap=mmap)
        labels = np.asarray(load_npy(directory / _LABELS_FILE, mmap=False))
        index_path = directory / _INDEX_FILE
        if not index_path.is_file():
            raise DataError(f"{index_path}: no such file")
        try:
            fidx = faiss.read_index(str(index_path))
        except RuntimeError as exc:
            raise DataError(f"{index_path}: not a readable FAISS index ({exc})") from None
        ntotal = int(fidx.ntotal)
        if vectors.ndim != 2 or vectors.shape[0] != ntotal or int(fidx.d) != vectors.shape[1]:
            raise DataError(
                f"{directory}: {_VECTORS_FILE} has shape {vectors.shape} but the FAISS index "
                f"holds {ntotal} vectors of dimension {int(fidx.d)}"
            )
        if (
            labels.ndim != 1
            or len(labels) != len(ids)
            or not np.issubdtype(labels.dtype, np.integer)
            or (labels.size and (labels.min() < 0 or labels.max() >= ntotal))
        ):
            raise DataError(f"{directory / _LABELS_FILE}: does not match {_IDS_FILE} and the index")
        index._attach(fidx, as_id_array(ids), vectors, labels.astype(np.int64))
        if len(index._row_of) != len(ids):
            raise DataError(f"{directory / _IDS_FILE}: holds duplicate item ids")
        if index.kind == "ivf":
            index.nlist_ = (
                int(nlist) if nlist is not None else int(faiss.extract_index_ivf(fidx).nlist)
            )
            index.train_size_ = train_size
            index.nprobe = (
                None if nprobe is None or nprobe == default_nprobe(index.nlist_) else int(nprobe)
            )
        tuning = meta.get("tuning")
        index.tuning_ = tuning if isinstance(tuning, dict) else None
        hidden = meta.get("hidden") or []
        if hidden:
            index.hide(hidden)
        return index


def index_tuning(directory: str | Path) -> dict[str, Any] | None:
    """What the self-tuning of the index saved in ``directory`` measured and chose.

    Returns the ``tuning`` record of its ``index.json`` (target and measured recall@k, search
    time per query, chosen parameters, every configuration tried), or ``None`` for an
    index built without tuning. Raises :class:`DataError` when ``directory`` holds no saved
    FAISS index.
    """
    meta_path = Path(directory) / _META_FILE
    meta = read_json(meta_path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{meta_path}: not an artrec FAISS index sidecar")
    tuning = meta.get("tuning")
    return dict(tuning) if isinstance(tuning, dict) else None


def _parse_recall(value: Any) -> float | None:
    """``target_recall`` from a CLI string or number: ``none``/``off``/``0`` mean no tuning."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "off")):
        return None
    try:
        recall = float(value)
    except (TypeError, ValueError):
        raise DataError(f"target_recall must be a number in (0, 1], got {value!r}") from None
    return None if recall == 0 else recall


def _better(a: Any, b: Any, target: float) -> bool:
    """Whether trial ``a`` beats ``b``: reaching the target first, then lower time per query,
    and when neither reaches it, higher recall."""
    if a.reaches(target) != b.reaches(target):
        return bool(a.reaches(target))
    if a.reaches(target):
        return bool(a.ms_per_query < b.ms_per_query)
    return bool(a.recall > b.recall)


def _order(cand: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query: candidates by score descending then row ascending, duplicates dropped."""
    nq, fetch = cand.shape
    rows_out = np.full((nq, k), -1, dtype=np.int64)
    scores_out = np.full((nq, k), -np.inf, dtype=np.float32)
    # Sort keys: invalid last, then score desc, then row asc.
    order = np.lexsort((cand, -scores), axis=1)
    cand_s = np.take_along_axis(cand, order, axis=1)
    score_s = np.take_along_axis(scores, order, axis=1)
    kk = min(k, fetch)
    rows_out[:, :kk] = cand_s[:, :kk]
    scores_out[:, :kk] = score_s[:, :kk]
    invalid = rows_out < 0
    rows_out[invalid] = -1
    scores_out[invalid] = -np.inf
    return rows_out, scores_out


def _check_matrix(x: Any, what: str) -> np.ndarray:
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.ndim != 2:
        raise DataError(f"{what} must be a 2-D array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise DataError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.shape[1] == 0:
        raise DataError(f"{what} have zero dimensions")
    return arr


def _check_finite(vectors: np.ndarray, ids: np.ndarray) -> None:
    for lo in range(0, vectors.shape[0], _ADD_CHUNK):
        block = np.asarray(vectors[lo : lo + _ADD_CHUNK])
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            row = lo + int(np.flatnonzero(bad)[0])
            raise DataError(f"vector of item {short_repr(ids[row])} (row {row}) holds NaN or inf")
    check_float32_range(vectors, "index vectors", ids)  # FAISS stores them as float32


def _check_unique(ids: np.ndarray) -> None:
    seen: set[str] = set()
    for item_id in ids.tolist():
        if item_id in seen:
            raise DataError(f"duplicate item id {item_id!r}")
        seen.add(item_id)
