"""Exact (brute-force) top-k search in numpy, for every metric of :mod:`artrec.index.base`.

Queries are scored against the indexed vectors in blocks of ``batch_size`` queries by at
most ``item_block`` items, so memory stays bounded by ``batch_size * item_block`` values
however large the catalogue; each block keeps its own best ``k`` and the blocks are merged
with the same total order (score descending, then row ascending), so the result does not
depend on the block sizes.

Cosine and correlation work on normalised (and, for correlation, mean-centred) float32
copies made once in :meth:`ExactIndex.build`; a zero (or constant) vector scores 0 against
everything, never NaN.

Items can be appended (:meth:`ExactIndex.add`), dropped (:meth:`ExactIndex.remove`) or
hidden from results and shown again (:meth:`ExactIndex.hide`, :meth:`ExactIndex.unhide`)
without rebuilding. :meth:`ExactIndex.save` writes ``vectors.npy``, ``ids.json`` and
``index.json`` (no pickle); :meth:`ExactIndex.load` reads them back, memory-mapping the
vectors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from artrec.errors import DataError
from artrec.fileio import atomic_write, read_json
from artrec.index.base import MutableIndex
from artrec.ranking import clamp_k, top_k
from artrec.similarity import PreparedVectors, check_metric, pairwise, prepare, squared_norms
from artrec.vectors import as_id_array, check_float32_range

#: Format tag written to ``index.json``.
FORMAT = "artrec-exact-index"
FORMAT_VERSION = 1

_DTYPES = {"float32": np.float32, "float64": np.float64}


class ExactIndex(MutableIndex):
    """Brute-force similarity search (exact results, any metric).

    Parameters
    ----------
    metric
        One of ``cosine``, ``euclidean``, ``manhattan``, ``correlation``, ``chebyshev``,
        ``dot``.
    batch_size
        Queries scored at once.
    item_block
        Indexed items scored at once per query block; memory is bounded by
        ``batch_size * item_block`` values.
    dtype
        ``"float32"`` (default; fast, half the memory) or ``"float64"`` for the scoring.

    Attributes
    ----------
    item_ids_
        Raw ids in row order.
    hidden_
        Boolean mask of rows left out of every result.
    """

    def __init__(
        self,
        metric: str = "cosine",
        *,
        batch_size: int = 1024,
        item_block: int = 65536,
        dtype: str = "float32",
    ) -> None:
        self.metric = metric
        self.batch_size = batch_size
        self.item_block = item_block
        self.dtype = dtype

    # -- building ---------------------------------------------------------------------
    def _check_params(self) -> np.dtype:
        check_metric(self.metric)
        if self.batch_size < 1 or self.item_block < 1:
            raise DataError(
                f"batch_size and item_block must be >= 1, got {self.batch_size} and {self.item_block}"
            )
        if self.dtype not in _DTYPES:
            raise DataError(f"unknown dtype {self.dtype!r}; choose float32 or float64")
        return np.dtype(_DTYPES[self.dtype])

    def build(
        self, vectors: np.ndarray, item_ids: Any, *, prepared: PreparedVectors | None = None
    ) -> ExactIndex:
        """Index ``vectors`` (``(n_items, dim)``, finite), one row per id; returns self.

        float32 ``vectors`` are kept without a copy, and ``prepared`` vectors of the index's
        metric and ``dtype`` are used as they are (both shared, never written to).
        """
        dtype = self._check_params()
        ids = as_id_array(item_ids)
        vecs = _check_vectors(vectors, ids)
        if len(set(ids.tolist())) != len(ids):
            raise DataError("item ids given to the index are not unique")
        self.item_ids_ = ids
        self.vectors_ = np.ascontiguousarray(vecs, dtype=np.float32)
        self.hidden_ = np.zeros(len(ids), dtype=bool)
        usable = (
            prepared is not None
            and prepared.metric == self.metric
            and prepared.matrix.dtype == dtype
            and prepared.shape == self.vectors_.shape
        )
        self._reprepare(prepared if usable else None)
        return self

    def _reprepare(self, prepared: PreparedVectors | None = None) -> None:
        if prepared is None:
            prepared = PreparedVectors.of(self.vectors_, self.metric, self._check_params())
        self._prepared = prepared.matrix
        self._sqnorms = prepared.sqnorms
        self._row_of = {i: r for r, i in enumerate(self.item_ids_.tolist())}

    def _fitted(self) -> None:
        if not hasattr(self, "vectors_"):
            raise DataError("the index is empty: call build() first")

    # -- interface ----------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Vector dimension."""
        self._fitted()
        return int(self.vectors_.shape[1])

    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        """The stored (float32) vectors of ``rows``."""
        self._fitted()
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_items):
            raise DataError(f"row out of range 0..{self.n_items - 1}")
        return np.asarray(self.vectors_[rows])

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exclude_rows: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar indexed rows for each query vector.

        Returns ``(rows, scores)``, ``(n_queries, k)`` int64 and float32, best first; short
        lists are padded with row ``-1`` and score ``-inf``. Hidden rows never appear.
        """
        self._fitted()
        k = clamp_k(k, self.n_items)  # a list never holds more than the index
        q = np.asarray(queries)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise DataError(f"queries must have shape (n, {self.dim}), got {np.shape(queries)}")
        if not np.issubdtype(q.dtype, np.number) or not np.isfinite(q).all():
            raise DataError("queries hold NaN, inf or non-numeric values")
        n_q = len(q)
        if exclude_rows is None:
            excl = np.full(n_q, -1, dtype=np.int64)
        else:
            excl = np.asarray(exclude_rows, dtype=np.int64).reshape(-1)
            if len(excl) != n_q:
                raise DataError(f"exclude_rows has {len(excl)} entries for {n_q} queries")
        prepared_q = prepare(q, self.metric, self._prepared.dtype)
        rows_out = np.full((n_q, k), -1, dtype=np.int64)
        scores_out = np.full((n_q, k), -np.inf, dtype=np.float32)
        n = self.n_items
        for qs in range(0, n_q, self.batch_size):
            qe = min(n_q, qs + self.batch_size)
            block_q = prepared_q[qs:qe]
            cand_rows: list[np.ndarray] = []
            cand_scores: list[np.ndarray] = []
            for s in range(0, n, self.item_block):
                e = min(n, s + self.item_block)
                sqn = None if self._sqnorms is None else self._sqnorms[s:e]
                sims = pairwise(block_q, self._prepared[s:e], self.metric, b_sqnorms=sqn)
                sims = np.asarray(sims, dtype=np.float64)
                hidden = self.hidden_[s:e]
                if hidden.any():
                    sims[:, hidden] = -np.inf
                ex = excl[qs:qe]
                hit = (ex >= s) & (ex < e)
                if hit.any():
                    sims[np.flatnonzero(hit), ex[hit] - s] = -np.inf
                r, v = top_k(sims, k)
                cand_rows.append(np.where(r >= 0, r + s, -1))
                cand_scores.append(v)
            rows_b, scores_b = _merge(np.hstack(cand_rows), np.hstack(cand_scores), k)
            rows_out[qs:qe] = rows_b
            scores_out[qs:qe] = scores_b
        return rows_out, scores_out

    # -- cheap updates -------------------------------------------------------------------
    def add(self, vectors: np.ndarray, item_ids: Any) -> np.ndarray:
        """Append items without re-indexing the others; returns their new rows.

        Raises :class:`DataError` if an id is already indexed or a vector is not finite.
        """
        self._fitted()
        ids = as_id_array(item_ids)
        vecs = _check_vectors(vectors, ids, dim=self.dim)
        for item_id in ids.tolist():
            if item_id in self._row_of:
                raise DataError(f"item id {item_id!r} is already in the index")
        if len(set(ids.tolist())) != len(ids):
            raise DataError("item ids to add are not unique")
        start = self.n_items
        dtype = self._prepared.dtype
        new_prepared = prepare(vecs, self.metric, dtype)
        self.vectors_ = np.concatenate([np.asarray(self.vectors_), vecs.astype(np.float32)])
        self.item_ids_ = np.concatenate([self.item_ids_, ids])
        self.hidden_ = np.concatenate([self.hidden_, np.zeros(len(ids), dtype=bool)])
        self._prepared = np.concatenate([self._prepared, new_prepared])
        if self._sqnorms is not None:
            self._sqnorms = np.concatenate([self._sqnorms, squared_norms(new_prepared)])
        for offset, item_id in enumerate(ids.tolist()):
            self._row_of[item_id] = start + offset
        return np.arange(start, start + len(ids), dtype=np.int64)

    def remove(self, item_ids: Any) -> int:
        """Drop items from the index (later rows move up); returns how many were removed.

        Raises :class:`UnknownIdError` naming the first id that is not indexed.
        """
        rows = self.rows_of(item_ids)
        keep = np.ones(self.n_items, dtype=bool)
        keep[rows] = False
        self.vectors_ = np.asarray(self.vectors_)[keep]
        self.item_ids_ = self.item_ids_[keep]
        self.hidden_ = self.hidden_[keep]
        self._prepared = self._prepared[keep]
        if self._sqnorms is not None:
            self._sqnorms = self._sqnorms[keep]
        self._row_of = {i: r for r, i in enumerate(self.item_ids_.tolist())}
        return int((~keep).sum())

    def hide(self, item_ids: Any) -> int:
        """Leave items out of every result (rows are kept); undo with :meth:`unhide`.

        Returns how many items became hidden.
        """
        return self._set_hidden(item_ids, True)

    def unhide(self, item_ids: Any) -> int:
        """Show hidden items again; returns how many changed."""
        return self._set_hidden(item_ids, False)

    def _set_hidden(self, item_ids: Any, hidden: bool) -> int:
        rows = np.unique(self.rows_of(item_ids))
        changed = int((self.hidden_[rows] != hidden).sum())
        mask = self.hidden_.copy()
        mask[rows] = hidden
        self.hidden_ = mask
        return changed

    def _row_lookup(self) -> dict[str, int]:
        self._fitted()
        return self._row_of

    # -- persistence --------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write ``vectors.npy``, ``ids.json`` and ``index.json`` into ``directory``."""
        self._fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(
            directory / "vectors.npy",
            lambda f: np.save(f, np.asarray(self.vectors_), allow_pickle=False),
        )
        atomic_write(
            directory / "ids.json", lambda f: f.write(json.dumps(self.item_ids_.tolist()).encode())
        )
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "metric": self.metric,
            "batch_size": self.batch_size,
            "item_block": self.item_block,
            "dtype": self.dtype,
            "n_items": self.n_items,
            "dim": self.dim,
            "hidden_rows": np.flatnonzero(self.hidden_).tolist(),
        }
        atomic_write(
            directory / "index.json", lambda f: f.write(json.dumps(meta, indent=2).encode())
        )

    @classmethod
    def load(cls, directory: str | Path, *, mmap: bool = True) -> ExactIndex:
        """Read an index written by :meth:`save`; raises :class:`DataError` naming a bad file."""
        from artrec.vectors import load_npy

        directory = Path(directory)
        meta_path = directory / "index.json"
        meta = read_json(meta_path)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DataError(f"{meta_path} does not describe an artrec exact index")
        ids = read_json(directory / "ids.json")
        vectors = load_npy(directory / "vectors.npy", mmap=mmap)
        if not isinstance(ids, list) or vectors.ndim != 2 or len(ids) != len(vectors):
            raise DataError(
                f"{directory}: ids.json and vectors.npy disagree on the number of items"
            )
        index = cls(
            str(meta.get("metric", "cosine")),
            batch_size=int(meta.get("batch_size", 1024)),
            item_block=int(meta.get("item_block", 65536)),
            dtype=str(meta.get("dtype", "float32")),
        )
        index.item_ids_ = as_id_array(ids)
        index.vectors_ = vectors
        index.hidden_ = np.zeros(len(ids), dtype=bool)
        hidden = np.asarray(meta.get("hidden_rows", []), dtype=np.int64)
        if hidden.size and (hidden.min() < 0 or hidden.max() >= len(ids)):
            raise DataError(f"{meta_path}: hidden_rows out of range")
        index.hidden_[hidden] = True
        index._reprepare()
        return index


def _check_vectors(vectors: np.ndarray, ids: np.ndarray, *, dim: int | None = None) -> np.ndarray:
    vecs = np.asarray(vectors)
    if vecs.ndim != 2:
        raise DataError(f"vectors must be 2-D (n_items, dim), got shape {vecs.shape}")
    if len(vecs) != len(ids):
        raise DataError(f"{len(vecs)} vectors for {len(ids)} item ids")
    if dim is not None and vecs.shape[1] != dim:
        raise DataError(f"vectors have dimension {vecs.shape[1]}, the index has {dim}")
    if not np.issubdtype(vecs.dtype, np.number):
        raise DataError(f"vectors must be numeric, got {vecs.dtype}")
    check_float32_range(vecs, "index vectors", ids)  # they are stored as float32
    finite = np.isfinite(vecs).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise DataError(f"vector of item {ids[row]!r} (row {row}) holds NaN or inf")
    return vecs


def _merge(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of per-block candidates, by score descending then row ascending."""
    big = np.iinfo(np.int64).max
    row_key = np.where(rows >= 0, rows, big)
    order = np.lexsort((row_key, -scores), axis=-1)[:, :k]
    out_rows = np.take_along_axis(rows, order, axis=1)
    out_scores = np.take_along_axis(scores, order, axis=1).astype(np.float32)
    pad = out_rows < 0
    out_scores[pad] = -np.inf
    return out_rows, out_scores
