"""The id-level facade used by the CLI, the server and the demo.

:class:`Engine` opens a workspace once (catalogue, embeddings) and answers "similar
artworks" and "recommended for you" questions in raw item and user ids. Indexes and fitted
recommenders are built lazily and cached per (embedding, metric[, aggregation]); after
that, every query only reads shared arrays, so one engine may serve many threads at once.
Stock changes (:meth:`Engine.set_in_stock`, :meth:`Engine.refresh_stock`) swap in a new
mask rather than editing the old one, so readers never see a half-updated state.

Items of the catalogue that have no vector in an embedding can be neither queried nor
recommended under it; profile items without a vector are left out of the profile (but still
never recommended back).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import DataError, UnknownIdError
from artrec.index.base import SimilarityIndex
from artrec.recommend.base import TrainData
from artrec.recommend.visrank import AGGREGATIONS, VisRankRecommender
from artrec.similarity import check_metric
from artrec.vectors import FeatureSet

#: Candidates considered per requested item when re-ranking with MMR.
MMR_POOL_FACTOR = 5


@dataclass(frozen=True)
class Recommendation:
    """One recommended item.

    ``score`` is the recommender's score (see :mod:`artrec.recommend.visrank`);
    ``because_item_id`` is the profile item most similar to it and ``because_score`` their
    similarity under the metric used.
    """

    item_id: str
    score: float
    because_item_id: str | None
    because_score: float | None


@dataclass(frozen=True)
class Neighbour:
    """One similar item and its similarity to the query (higher is more alike)."""

    item_id: str
    score: float


@dataclass(frozen=True)
class _EmbeddingData:
    name: str
    vectors: np.ndarray  # (n_items, dim) float32, zeros where there is no vector
    has_vector: np.ndarray  # (n_items,) bool


class Engine:
    """Similar items and recommendations over one workspace, by raw id.

    Use :meth:`from_workspace`; the constructor only stores what it is given.

    Parameters
    ----------
    workspace
        The open workspace.
    catalog
        Its catalogue (row order = the workspace's).
    embedding
        Default embedding name (``None``: the workspace's ``default_embedding``, or the
        only embedding there is).
    index
        Index kind for :meth:`similar` (see :data:`artrec.index.factory.INDEX_KINDS`).
    index_params
        Extra parameters for the index constructor.
    """

    def __init__(
        self,
        workspace: Workspace,
        catalog: Catalog,
        *,
        embedding: str | None = None,
        index: str = "exact",
        index_params: dict[str, Any] | None = None,
    ) -> None:
        self.workspace = workspace
        self.catalog = catalog
        self.index_kind = index
        self.index_params = dict(index_params or {})
        self._lock = threading.RLock()
        self._in_stock = np.asarray(catalog.in_stock, dtype=bool).copy()
        self._stock_known = bool(catalog.stock_known)
        self._embeddings: dict[str, _EmbeddingData] = {}
        self._indexes: dict[tuple[str, str], SimilarityIndex] = {}
        self._recommenders: dict[tuple[str, str, str, int], VisRankRecommender] = {}
        self.embedding_names: list[str] = FeatureSet.available(workspace.embeddings_dir)
        self.default_embedding = self._resolve_default(embedding)

    @classmethod
    def from_workspace(
        cls,
        workspace: Workspace | str | Path,
        *,
        embedding: str | None = None,
        index: str = "exact",
        index_params: dict[str, Any] | None = None,
    ) -> Engine:
        """Open ``workspace`` (a :class:`Workspace` or its directory) and load its catalogue.

        Raises
        ------
        ArtrecError
            When there is no workspace there, it has no embedding, or ``embedding`` is not
            one of its embeddings.
        """
        from artrec.index.factory import INDEX_KINDS

        ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
        if index not in INDEX_KINDS:
            raise DataError(f"unknown index kind {index!r}; choose one of {', '.join(INDEX_KINDS)}")
        return cls(ws, ws.catalog(), embedding=embedding, index=index, index_params=index_params)

    # -- configuration ------------------------------------------------------------------
    def _resolve_default(self, embedding: str | None) -> str | None:
        if embedding is not None:
            self._check_embedding(embedding)
            return embedding
        stored = self.workspace.get_meta("default_embedding")
        if stored is not None and stored in self.embedding_names:
            return stored
        if len(self.embedding_names) == 1:
            return self.embedding_names[0]
        return None

    def _check_embedding(self, name: str) -> None:
        if name not in self.embedding_names:
            have = ", ".join(self.embedding_names) or "none; create one with `artrec embed`"
            raise DataError(f"unknown embedding {name!r}; the workspace has: {have}")

    def _embedding_name(self, embedding: str | None) -> str:
        if embedding is not None:
            self._check_embedding(embedding)
            return embedding
        if self.default_embedding is None:
            if not self.embedding_names:
                raise DataError(
                    f"workspace {self.workspace.root} has no embedding; create one with `artrec embed`"
                )
            raise DataError(
                "several embeddings and no default: choose one of "
                + ", ".join(self.embedding_names)
            )
        return self.default_embedding

    def _embedding(self, name: str) -> _EmbeddingData:
        data = self._embeddings.get(name)
        if data is not None:
            return data
        with self._lock:
            data = self._embeddings.get(name)
            if data is None:
                data = self._load_embedding(name)
                self._embeddings[name] = data
        return data

    def _load_embedding(self, name: str) -> _EmbeddingData:
        fs = FeatureSet.load(self.workspace.embeddings_dir, name)
        rows = self.catalog.rows_of(fs.item_ids, missing="mark")
        matrix = np.asarray(fs.matrix, dtype=np.float32)
        ok = (rows >= 0) & np.isfinite(matrix).all(axis=1)
        vectors = np.zeros((self.catalog.n_items, fs.dim), dtype=np.float32)
        vectors[rows[ok]] = matrix[ok]
        has = np.zeros(self.catalog.n_items, dtype=bool)
        has[rows[ok]] = True
        if not has.any():
            raise DataError(f"embedding {name!r} has no vector for any catalogue item")
        return _EmbeddingData(name, vectors, has)

    def _index(self, name: str, metric: str) -> tuple[SimilarityIndex, _EmbeddingData]:
        emb = self._embedding(name)
        key = (name, metric)
        index = self._indexes.get(key)
        if index is None:
            with self._lock:
                index = self._indexes.get(key)
                if index is None:
                    rows = np.flatnonzero(emb.has_vector)
                    index = self._saved_index(name, metric, self.catalog.item_ids[rows])
                    if index is None:
                        from artrec.index.factory import make_index

                        index = make_index(self.index_kind, metric, **self.index_params)
                        index.build(emb.vectors[rows], self.catalog.item_ids[rows])
                    self._indexes[key] = index
        return index, emb

    def _saved_index(self, name: str, metric: str, item_ids: np.ndarray) -> SimilarityIndex | None:
        """The index saved by ``artrec index build`` for this embedding, kind and metric.

        Used only when no explicit index parameters were given and the saved index covers
        exactly the items that have a vector, in the same order; otherwise ``None`` (the
        caller builds one in memory).
        """
        if self.index_params:
            return None
        from artrec.index.store import load_saved_index

        saved = load_saved_index(self.workspace, name, self.index_kind, metric)
        if saved is None or len(saved.item_ids_) != len(item_ids):
            return None
        return saved if np.array_equal(saved.item_ids_, item_ids) else None

    def _recommender(self, name: str, metric: str, aggregation: str, m: int) -> VisRankRecommender:
        check_metric(metric)
        if aggregation not in AGGREGATIONS:
            raise DataError(
                f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}"
            )
        key = (name, metric, aggregation, m)
        rec = self._recommenders.get(key)
        if rec is None:
            emb = self._embedding(name)
            with self._lock:
                rec = self._recommenders.get(key)
                if rec is None:
                    data = TrainData(self.catalog.n_items, vectors=emb.vectors)
                    rec = VisRankRecommender(metric, aggregation, m).fit(data)
                    self._recommenders[key] = rec
        return rec

    # -- stock ----------------------------------------------------------------------------
    @property
    def in_stock(self) -> np.ndarray:
        """The current in-stock mask (a read-only view; replaced, never edited, on change)."""
        view = self._in_stock.view()
        view.flags.writeable = False
        return view

    def set_in_stock(self, item_id: str, in_stock: bool) -> None:
        """Mark an item in stock or sold, in the database and in memory.

        Raises :class:`UnknownIdError` if the catalogue has no such item.
        """
        row = int(self.catalog.rows_of([item_id])[0])
        self.workspace.set_in_stock([item_id], in_stock)
        with self._lock:
            mask = self._in_stock.copy()
            mask[row] = bool(in_stock)
            self._in_stock = mask
            self._stock_known = True

    def refresh_stock(self) -> None:
        """Re-read every item's in-stock flag from the database."""
        sold = self.workspace.sold_item_ids()
        mask = self._in_stock.copy()
        mask[:] = True
        for row in self.catalog.rows_of(list(sold), missing="drop").tolist():
            mask[row] = False
        with self._lock:
            self._in_stock = mask
            self._stock_known = self.workspace.get_meta("stock_known") is not None

    def _available(self, emb: _EmbeddingData, only_in_stock: bool) -> np.ndarray:
        if only_in_stock and self._stock_known:
            return emb.has_vector & self._in_stock
        return emb.has_vector

    # -- queries --------------------------------------------------------------------------
    def similar(
        self,
        item_id: str,
        k: int = 10,
        *,
        metric: str = "cosine",
        embedding: str | None = None,
        include_self: bool = False,
    ) -> list[Neighbour]:
        """The ``k`` items most similar to ``item_id``, best first.

        Raises
        ------
        UnknownIdError
            If the catalogue has no such item.
        DataError
            If ``k < 1``, the metric is unknown or the item has no vector in the embedding.
        """
        _check_k(k)
        check_metric(metric)
        row = int(self.catalog.rows_of([item_id])[0])
        name = self._embedding_name(embedding)
        index, emb = self._index(name, metric)
        if not emb.has_vector[row]:
            raise DataError(f"item {item_id!r} has no vector in embedding {name!r}")
        ids, scores = index.similar(str(self.catalog.item_ids[row]), k, include_self=include_self)
        return [
            Neighbour(str(i), float(s))
            for i, s in zip(ids.tolist(), scores.tolist(), strict=True)
            if i is not None
        ]

    def recommend(
        self,
        liked_item_ids: Sequence[str],
        k: int = 10,
        *,
        aggregation: str = "sum_distance",
        metric: str = "cosine",
        embedding: str | None = None,
        exclude_item_ids: Sequence[str] = (),
        diversify: float | None = None,
        only_in_stock: bool = True,
        m: int = 3,
    ) -> list[Recommendation]:
        """Recommendations for a visitor who liked ``liked_item_ids``.

        Parameters
        ----------
        liked_item_ids
            The profile (duplicates count once). Liked items are never recommended.
        k
            Number of recommendations (>= 1); fewer come back when fewer items qualify.
        aggregation, metric, m
            VisRank configuration (see :class:`~artrec.recommend.visrank.VisRankRecommender`).
        embedding
            Embedding name (default: the engine's default).
        exclude_item_ids
            Further items never to recommend.
        diversify
            MMR trade-off ``lambda`` in [0, 1] (1 = pure relevance); ``None`` for no re-ranking.
        only_in_stock
            Leave out sold items when the stock is known.

        Raises
        ------
        UnknownIdError
            For an id not in the catalogue.
        DataError
            For an empty profile, a profile with no vectors, or bad options.
        """
        _check_k(k)
        if isinstance(liked_item_ids, str):
            liked_item_ids = [liked_item_ids]
        if not len(liked_item_ids):
            raise DataError("no liked items given")
        liked = self.catalog.rows_of(list(dict.fromkeys(str(i) for i in liked_item_ids)))
        extra = (
            self.catalog.rows_of(list(exclude_item_ids))
            if len(exclude_item_ids)
            else np.zeros(0, np.int64)
        )
        name = self._embedding_name(embedding)
        if not self._embedding(name).has_vector[liked].any():
            raise DataError(f"none of the liked items has a vector in embedding {name!r}")
        result = self._recommend_rows(
            [liked],
            [np.concatenate([liked, extra])],
            k,
            name,
            metric,
            aggregation,
            m,
            diversify,
            only_in_stock,
        )
        return result[0]

    def user_profile(
        self, user_id: str, kinds: tuple[str, ...] = ("purchase", "like")
    ) -> np.ndarray:
        """Distinct catalogue rows of ``user_id``'s events of ``kinds``, in time order.

        Raises :class:`UnknownIdError` when the user has no such events.
        """
        events = self.workspace.interactions(kinds=kinds, user_id=str(user_id))
        if not len(events):
            raise UnknownIdError(f"unknown user id {user_id!r} (no {'/'.join(kinds)} events)")
        return events.profiles(self.catalog).get(str(user_id), np.zeros(0, np.int64))

    def recommend_for_user(
        self,
        user_id: str,
        k: int = 10,
        *,
        kinds: tuple[str, ...] = ("purchase", "like"),
        **options: Any,
    ) -> list[Recommendation]:
        """Recommendations for a user whose profile is read from the workspace database.

        ``options`` are those of :meth:`recommend` (except ``liked_item_ids``).
        """
        return self.recommend_for_users([user_id], k, kinds=kinds, **options)[str(user_id)]

    def recommend_for_users(
        self,
        user_ids: Sequence[str] | None = None,
        k: int = 10,
        *,
        kinds: tuple[str, ...] = ("purchase", "like"),
        aggregation: str = "sum_distance",
        metric: str = "cosine",
        embedding: str | None = None,
        exclude_item_ids: Sequence[str] = (),
        diversify: float | None = None,
        only_in_stock: bool = True,
        m: int = 3,
    ) -> dict[str, list[Recommendation]]:
        """Recommendations for many users (all users with events when ``user_ids`` is None),
        scored in one vectorised batch. Users whose profile has no vectors get an empty list.

        Raises :class:`UnknownIdError` for a listed user with no events of ``kinds``.
        """
        _check_k(k)
        events: Interactions = self.workspace.interactions(kinds=kinds)
        profiles = events.profiles(self.catalog)
        if user_ids is None:
            users = list(profiles)
        else:
            users = [str(u) for u in user_ids]
            for u in users:
                if u not in profiles:
                    raise UnknownIdError(f"unknown user id {u!r} (no {'/'.join(kinds)} events)")
        extra = (
            self.catalog.rows_of(list(exclude_item_ids))
            if len(exclude_item_ids)
            else np.zeros(0, np.int64)
        )
        name = self._embedding_name(embedding)
        prof = [profiles[u] for u in users]
        excl = [np.concatenate([p, extra]) for p in prof]
        lists = self._recommend_rows(
            prof, excl, k, name, metric, aggregation, m, diversify, only_in_stock
        )
        return dict(zip(users, lists, strict=True))

    def _recommend_rows(
        self,
        profiles: list[np.ndarray],
        excludes: list[np.ndarray],
        k: int,
        name: str,
        metric: str,
        aggregation: str,
        m: int,
        diversify: float | None,
        only_in_stock: bool,
    ) -> list[list[Recommendation]]:
        from artrec.recommend.rerank import mmr

        if diversify is not None and not 0.0 <= float(diversify) <= 1.0:
            raise DataError(f"diversify must lie in [0, 1], got {diversify}")
        rec = self._recommender(name, metric, aggregation, m)
        emb = self._embedding(name)
        available = self._available(emb, only_in_stock)
        usable = [p[emb.has_vector[p]] for p in profiles]
        todo = [j for j, p in enumerate(usable) if p.size]
        out: list[list[Recommendation]] = [[] for _ in profiles]
        if not todo:
            return out
        pool = k if diversify is None else k * MMR_POOL_FACTOR
        ranking = rec.rank(
            [usable[j] for j in todo],
            pool,
            exclude=[excludes[j] for j in todo],
            available=available,
        )
        for t, j in enumerate(todo):
            rows = ranking.rows[t]
            scores = ranking.scores[t]
            valid = rows >= 0
            rows, scores = rows[valid], scores[valid]
            if diversify is not None and rows.size:
                chosen = mmr(rows, scores, emb.vectors, k, float(diversify))
                score_of = dict(zip(rows.tolist(), scores.tolist(), strict=True))
                rows = chosen
                scores = np.array([score_of[r] for r in chosen.tolist()], dtype=np.float64)
            rows, scores = rows[:k], scores[:k]
            if not rows.size:
                continue
            because = rec.explain([usable[j]], rows[None, :])[0]
            sims = rec.similarity(rows, because)
            because_scores = sims[np.arange(len(rows)), np.arange(len(rows))]
            ids = self.catalog.item_ids
            out[j] = [
                Recommendation(
                    str(ids[r]),
                    float(s),
                    None if b < 0 else str(ids[b]),
                    None if b < 0 else float(bs),
                )
                for r, s, b, bs in zip(
                    rows.tolist(),
                    scores.tolist(),
                    because.tolist(),
                    because_scores.tolist(),
                    strict=True,
                )
            ]
        return out


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"k must be an integer >= 1, got {k!r}")
