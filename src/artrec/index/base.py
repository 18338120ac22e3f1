"""The index interfaces: :class:`SimilarityIndex` and :class:`MutableIndex`.

An index holds one vector per item and answers top-k neighbour queries. Every method
returns arrays; raw ids appear only in :meth:`SimilarityIndex.similar`. A
:class:`MutableIndex` also takes items in and out without a rebuild and persists itself;
code that updates saved indexes (:mod:`artrec.incremental`) relies on that declaration,
never on probing for methods.

Scores are *similarities*: higher means more alike, under every metric.

==============  ======================================================
metric          score
==============  ======================================================
``cosine``      cosine similarity, in [-1, 1]
``dot``         inner product
``correlation`` Pearson correlation of the two vectors, in [-1, 1]
``euclidean``   minus the Euclidean distance
``manhattan``   minus the L1 distance
``chebyshev``   minus the L-infinity distance
==============  ======================================================

Ties are broken by row: among equal scores the lower row comes first. ``k`` is clamped to
the number of indexed items (:func:`artrec.ranking.clamp_k`), and result arrays are padded
with row ``-1`` and score ``-inf`` when fewer than ``k`` items qualify.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from artrec.errors import UnknownIdError
from artrec.ranking import clamp_k
from artrec.similarity import PreparedVectors
from artrec.vectors import as_id_array


class SimilarityIndex(ABC):
    """Top-k neighbour search over item vectors.

    Implementations store configuration in ``__init__`` and do the work in :meth:`build`.
    After :meth:`build`, ``item_ids_`` holds the raw ids in row order.
    """

    metric: str
    item_ids_: np.ndarray

    @abstractmethod
    def build(
        self, vectors: np.ndarray, item_ids: Any, *, prepared: PreparedVectors | None = None
    ) -> SimilarityIndex:
        """Index ``vectors`` (``(n_items, dim)``, finite), one row per id in ``item_ids``; returns self.

        ``prepared`` may pass the same vectors already prepared for the index's metric
        (:class:`~artrec.similarity.PreparedVectors`); an index that scores prepared
        vectors then shares them instead of making its own copy, others ignore them.
        """

    @abstractmethod
    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exclude_rows: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar indexed rows for each query vector.

        Parameters
        ----------
        queries
            ``(n_queries, dim)`` array.
        k
            Number of neighbours (>= 1).
        exclude_rows
            Optional ``(n_queries,)`` int array: a row to leave out of each query's result
            (``-1`` for none). Used to drop the query item itself.

        Returns
        -------
        rows, scores
            ``(n_queries, k)`` int64 rows and float32 similarities, best first.
        """

    def candidate_rows(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Rows of about the ``k`` nearest items of each query, for candidate generation:
        ``(n_queries, k)`` int64, ``-1`` padding, in no guaranteed order.

        The default is :meth:`search`'s rows; an approximate index may skip its exact
        re-scoring here.
        """
        return self.search(queries, k)[0]

    @property
    def n_items(self) -> int:
        """Number of indexed items."""
        return len(self.item_ids_)

    @property
    @abstractmethod
    def dim(self) -> int:
        """Vector dimension."""

    @abstractmethod
    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of ``rows`` (``(len(rows), dim)``), as given to :meth:`build`."""

    def _row_lookup(self) -> dict[str, int]:
        """Raw id -> row. Implementations that maintain their own map override this."""
        cached: tuple[np.ndarray, dict[str, int]] | None = getattr(self, "_lookup_cache", None)
        if cached is None or cached[0] is not self.item_ids_:
            cached = (self.item_ids_, {i: r for r, i in enumerate(self.item_ids_.tolist())})
            self._lookup_cache = cached
        return cached[1]

    def rows_of(self, item_ids: Any) -> np.ndarray:
        """Rows of raw ``item_ids``; raises :class:`UnknownIdError` naming the first unknown id."""
        lookup = self._row_lookup()
        rows = []
        for item_id in as_id_array(item_ids).tolist():
            row = lookup.get(item_id)
            if row is None:
                raise UnknownIdError(f"unknown item id {item_id!r}")
            rows.append(row)
        return np.asarray(rows, dtype=np.int64)

    def similar(
        self, item_ids: Any, k: int = 10, *, include_self: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k neighbours of one or many indexed items, by raw id.

        Returns ``(ids, scores)``: for a single id, 1-D arrays of length ``k``; for a list of
        ids, ``(n, k)`` arrays. Padding ids are ``None``. The query itself is left out
        unless ``include_self``.
        """
        single = isinstance(item_ids, (str, int, np.integer))
        rows = self.rows_of([item_ids] if single else item_ids)
        k = clamp_k(k, self.n_items)
        exclude = None if include_self else rows
        found, scores = self.search(self.vectors_of(rows), k, exclude_rows=exclude)
        ids = np.full(found.shape, None, dtype=object)
        valid = found >= 0
        ids[valid] = self.item_ids_[found[valid]]
        if single:
            return ids[0], scores[0]
        return ids, scores

    def save(self, directory: str | Path) -> None:
        """Write the index to ``directory`` (implementations that support persistence)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")


class MutableIndex(SimilarityIndex):
    """A :class:`SimilarityIndex` that changes without a rebuild and saves itself.

    Rows of hidden items keep their numbers and may still be queried by id; removed items
    are gone and later rows move up.
    """

    @abstractmethod
    def add(self, vectors: np.ndarray, item_ids: Any) -> np.ndarray:
        """Append items; returns their new rows. :class:`DataError` for a known id, another
        dimension or a non-finite vector."""

    @abstractmethod
    def hide(self, item_ids: Any) -> int:
        """Leave items out of every result until :meth:`unhide`; returns how many became hidden.
        :class:`UnknownIdError` names the first id not indexed."""

    @abstractmethod
    def unhide(self, item_ids: Any) -> int:
        """Return hidden items to the results; returns how many changed."""

    @abstractmethod
    def remove(self, item_ids: Any) -> int:
        """Drop items (later rows move up); returns how many were removed."""

    @abstractmethod
    def save(self, directory: str | Path) -> None:
        """Write the index (with its hidden set) to ``directory``."""

    @classmethod
    @abstractmethod
    def load(cls, directory: str | Path, *, mmap: bool = True) -> MutableIndex:
        """Read an index written by :meth:`save`; :class:`DataError` names a bad file."""
