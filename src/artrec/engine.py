"""The id-level facade used by the CLI, the server and the demo.

:class:`Engine` opens a workspace once (catalogue, embeddings) and answers "similar
artworks" and "recommended for you" questions in raw item and user ids, under a
:class:`~artrec.config.VisRankConfig` (its own default, or one given per call). Each
embedding is read once; its vectors are prepared once per metric
(:class:`~artrec.similarity.PreparedVectors`), and that one read-only matrix serves the
exact index and every VisRank aggregation. Indexes and fitted recommenders are built lazily
and cached; after that every query only reads shared arrays, so one engine may serve many
threads at once.

Stock has one owner: the engine reads which items are sold from its
:class:`~artrec.data.workspace.StockSource` (the workspace, or the server's store) on every
recommendation that leaves sold items out, and keeps no copy of its own.

Vectors are found by name in one place (:meth:`Engine.vector_source`): an embedding of the
workspace (the default), or, with ``features=NAME``, one of its raw feature sets searched as
stored, without the embedding's z-score and PCA (the notebook's
``find_similar_images(resnet50_featmat, ...)``).

Items of the catalogue that have no vector in an embedding can be neither queried nor
recommended under it; profile items without a vector are left out of the profile (but still
never recommended back).

A user's profile is read from the workspace's events of the given kinds; ``history="train"``
keeps only the events that are not held out (split ``test``), which on the notebook's assets
is its ``past_transactions`` (see :data:`artrec.data.splits.HISTORIES`).

The workspace's chosen model
----------------------------
One rule decides which recommender answers (:func:`artrec.recommend.serving.chosen_model`,
applied by :meth:`Engine.model_for`): the workspace's chosen model (saved by ``artrec
tune``) when it has one, else VisRank as before. A query that names a VisRank choice (a
configuration, an aggregation, metric, embedding, ``m`` or a raw feature set) or
``recommender="visrank"`` runs VisRank exactly as before; ``recommender=NAME`` runs the
saved model ``NAME``. The model is loaded and refreshed once per engine (so once per server
worker) and kept; a profile is folded in at scoring time, so a new like changes that
visitor's list at once.
Each :class:`Recommendation` carries its reason code and sentence
(:mod:`artrec.recommend.reasons`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from artrec.config import VisRankConfig
from artrec.data.catalog import Catalog, Interactions
from artrec.data.splits import history_mask
from artrec.data.workspace import StockSource, Workspace
from artrec.errors import DataError, UnknownIdError, short_repr
from artrec.index.base import SimilarityIndex
from artrec.recommend import reasons as R
from artrec.recommend.base import Ranking, TrainData
from artrec.recommend.visrank import VisRankRecommender
from artrec.similarity import PreparedVectors, check_metric, rowwise
from artrec.vectors import FeatureSet

if TYPE_CHECKING:
    from artrec.recommend.serving import ServingModel

#: Candidates considered per requested item when re-ranking with MMR.
MMR_POOL_FACTOR = 5
#: Type of the prepared vectors the engine shares between its index and its recommenders.
PREPARED_DTYPE = np.float32


@dataclass(frozen=True)
class Recommendation:
    """One recommended item.

    ``score`` is the recommender's score (see :mod:`artrec.recommend.visrank`, or the
    chosen model's); ``because_item_id`` is the profile item that contributed most to it and
    ``because_score`` (VisRank only) their similarity under the metric used. ``reason`` is
    the reason code (:data:`artrec.recommend.reasons.REASONS`) and ``reason_text`` its
    sentence ("because you bought X", "by an artist you collect", ...); the sentence is
    presentation (its verb says how the profile was given: a visitor's likes or a user's
    events), so two recommendations compare equal on item, scores, ``because`` and code.
    """

    item_id: str
    score: float
    because_item_id: str | None
    because_score: float | None
    reason: str = ""
    reason_text: str = field(default="", compare=False)


@dataclass(frozen=True)
class Neighbour:
    """One similar item and its similarity to the query (higher is more alike)."""

    item_id: str
    score: float


#: Kinds of :class:`VectorSource`: an embedding, or a raw feature set.
VECTOR_KINDS: tuple[str, ...] = ("embedding", "features")


@dataclass(frozen=True)
class VectorSource:
    """Where the vectors of a query come from: an ``"embedding"`` of the workspace
    (``embeddings/<name>``) or a raw ``"features"`` set (``features/<name>``), by name."""

    kind: str
    name: str

    @property
    def label(self) -> str:
        """``embedding NAME`` or ``features NAME`` (raw), for titles."""
        return (
            f"embedding {self.name}" if self.kind == "embedding" else f"features {self.name} (raw)"
        )


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
    config
        The default VisRank configuration; its embedding ``None`` means the workspace's
        default embedding (:meth:`~artrec.data.workspace.Workspace.resolve_embedding`).
    index
        Index kind for :meth:`similar` (see :data:`artrec.index.factory.INDEX_KINDS`).
    index_params
        Extra parameters for the index constructor.
    stock
        Where sold items are read (default: the workspace).
    """

    def __init__(
        self,
        workspace: Workspace,
        catalog: Catalog,
        *,
        config: VisRankConfig | None = None,
        index: str = "exact",
        index_params: dict[str, Any] | None = None,
        stock: StockSource | None = None,
    ) -> None:
        self.workspace = workspace
        self.catalog = catalog
        self.index_kind = index
        self.index_params = dict(index_params or {})
        self.stock: StockSource = workspace if stock is None else stock
        self._lock = threading.RLock()
        self._embeddings: dict[VectorSource, _EmbeddingData] = {}
        self._prepared: dict[tuple[VectorSource, str], PreparedVectors] = {}
        self._indexes: dict[tuple[VectorSource, str], SimilarityIndex] = {}
        self._recommenders: dict[tuple[VectorSource, VisRankConfig], VisRankRecommender] = {}
        self._sold: tuple[frozenset[str], np.ndarray] | None = None
        self._models: dict[str, ServingModel] = {}
        self._default_model: tuple[str | None] | None = None  # read once, when first needed
        self.embedding_names: list[str] = workspace.embedding_names()
        config = config or VisRankConfig()
        try:
            default: str | None = workspace.resolve_embedding(config.embedding)
        except DataError:
            if config.embedding is not None:
                raise
            default = None  # several embeddings and no default: name one per query
        self.default_embedding = default
        self.config = config if default is None else config.with_embedding(default)

    @classmethod
    def from_workspace(
        cls,
        workspace: Workspace | str | Path,
        config: VisRankConfig | None = None,
        *,
        embedding: str | None = None,
        index: str = "exact",
        index_params: dict[str, Any] | None = None,
        stock: StockSource | None = None,
    ) -> Engine:
        """Open ``workspace`` (a :class:`Workspace` or its directory) and load its catalogue.

        ``embedding`` overrides the embedding of ``config``.

        Raises
        ------
        ArtrecError
            When there is no workspace there, or ``embedding`` is not one of its embeddings.
        """
        from artrec.index.factory import INDEX_KINDS

        ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
        if index not in INDEX_KINDS:
            raise DataError(
                f"unknown index kind {short_repr(index)}; choose one of {', '.join(INDEX_KINDS)}"
            )
        config = (config or VisRankConfig()).override(embedding=embedding)
        return cls(
            ws, ws.catalog(), config=config, index=index, index_params=index_params, stock=stock
        )

    # -- configuration ------------------------------------------------------------------
    def resolve(self, config: VisRankConfig | None = None, **overrides: Any) -> VisRankConfig:
        """The configuration a query runs under: ``config`` (default: the engine's) with the
        non-``None`` ``overrides`` applied and its embedding resolved to a name.

        Raises :class:`DataError` for an unknown embedding or when none is named and the
        workspace has several and no default.
        """
        cfg = (config or self.config).override(**overrides)
        if cfg.embedding is None:
            return cfg.with_embedding(self.workspace.resolve_embedding(None))
        if cfg.embedding not in self.embedding_names:
            self.workspace.resolve_embedding(cfg.embedding)  # raises, naming the choices
        return cfg

    def vector_source(
        self, cfg: VisRankConfig | None = None, features: str | None = None
    ) -> VectorSource:
        """The vectors a query runs on: the raw feature set ``features`` when given, else
        the embedding of ``cfg`` (default: the engine's configuration, resolved).

        Raises
        ------
        DataError
            For an unknown feature set (naming those the workspace has) or embedding.
        """
        if features is None:
            cfg = self.resolve(cfg)
            assert cfg.embedding is not None
            return VectorSource("embedding", cfg.embedding)
        available = FeatureSet.available(self.workspace.features_dir)
        if features not in available:
            have = ", ".join(available) or "none; run `artrec extract` or `artrec import-seed`"
            raise DataError(
                f"no feature set {short_repr(features)} in workspace {self.workspace.root} "
                f"(available: {have})"
            )
        return VectorSource("features", features)

    def _query(
        self, config: VisRankConfig | None, features: str | None, **overrides: Any
    ) -> tuple[VisRankConfig, VectorSource]:
        """The configuration and the vectors of one query. With ``features`` the
        configuration's embedding is not used (nor resolved: a workspace without embeddings
        can still search its feature sets)."""
        if features is None:
            cfg = self.resolve(config, **overrides)
            return cfg, self.vector_source(cfg)
        if overrides.get("embedding") is not None or (config and config.embedding is not None):
            raise DataError("give an embedding or a feature set, not both")
        cfg = (config or self.config).override(**overrides)
        return cfg, self.vector_source(cfg, features)

    def _embedding(self, source: VectorSource | str) -> _EmbeddingData:
        if isinstance(source, str):
            source = VectorSource("embedding", source)
        data = self._embeddings.get(source)
        if data is None:
            with self._lock:
                data = self._embeddings.get(source)
                if data is None:
                    data = self._embeddings[source] = self._load_vectors(source)
        return data

    def _load_vectors(self, source: VectorSource) -> _EmbeddingData:
        directory = (
            self.workspace.embeddings_dir
            if source.kind == "embedding"
            else self.workspace.features_dir
        )
        fs = FeatureSet.load(directory, source.name)
        rows = self.catalog.rows_of(fs.item_ids, missing="mark")
        matrix = np.asarray(fs.matrix, dtype=np.float32)
        ok = (rows >= 0) & np.isfinite(matrix).all(axis=1)
        vectors = np.zeros((self.catalog.n_items, fs.dim), dtype=np.float32)
        vectors[rows[ok]] = matrix[ok]
        vectors.flags.writeable = False
        has = np.zeros(self.catalog.n_items, dtype=bool)
        has[rows[ok]] = True
        if not has.any():
            raise DataError(f"{source.label} has no vector for any catalogue item")
        return _EmbeddingData(source.name, vectors, has)

    def _prepared_vectors(self, source: VectorSource, metric: str) -> PreparedVectors:
        """The vectors of ``source`` prepared for ``metric`` (one shared copy)."""
        key = (source, metric)
        prepared = self._prepared.get(key)
        if prepared is None:
            emb = self._embedding(source)
            with self._lock:
                prepared = self._prepared.get(key)
                if prepared is None:
                    prepared = PreparedVectors.of(emb.vectors, metric, PREPARED_DTYPE)
                    self._prepared[key] = prepared
        return prepared

    def _index(self, source: VectorSource, metric: str) -> SimilarityIndex:
        key = (source, metric)
        index = self._indexes.get(key)
        if index is None:
            with self._lock:
                index = self._indexes.get(key)
                if index is None:
                    index = self._indexes[key] = self._build_index(source, metric)
        return index

    def _build_index(self, source: VectorSource, metric: str) -> SimilarityIndex:
        """The saved index when it fits (embeddings only), else a new one over the items
        that have a vector, sharing the engine's vectors (and prepared vectors) when every
        item has one."""
        from artrec.index.factory import make_index

        emb = self._embedding(source)
        rows = np.flatnonzero(emb.has_vector)
        ids = self.catalog.item_ids[rows]
        if source.kind == "embedding":
            saved = self._saved_index(source.name, metric, ids)
            if saved is not None:
                return saved
        index = make_index(self.index_kind, metric, **self.index_params)
        prepared = self._prepared_vectors(source, metric)
        if len(rows) == self.catalog.n_items:
            return index.build(emb.vectors, ids, prepared=prepared)
        return index.build(emb.vectors[rows], ids, prepared=prepared.take(rows))

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

    def _recommender(self, source: VectorSource, cfg: VisRankConfig) -> VisRankRecommender:
        key = (source, cfg)
        rec = self._recommenders.get(key)
        if rec is None:
            emb = self._embedding(source)
            prepared = self._prepared_vectors(source, cfg.metric)
            with self._lock:
                rec = self._recommenders.get(key)
                if rec is None:
                    data = TrainData(self.catalog.n_items, vectors=emb.vectors)
                    rec = VisRankRecommender(cfg.metric, cfg.aggregation, cfg.m).fit(data, prepared)
                    self._recommenders[key] = rec
        return rec

    # -- the workspace's chosen model ------------------------------------------------------
    def serving_model(self, name: str) -> ServingModel:
        """The saved model ``name``, loaded and refreshed once
        (:func:`~artrec.recommend.serving.load_serving_model`) and then kept: a server
        worker loads it once.

        Raises
        ------
        DataError
            When the model is missing or was loaded on another catalogue.
        """
        model = self._models.get(name)
        if model is None:
            with self._lock:
                model = self._models.get(name)
                if model is None:
                    model = self._models[name] = self._load_model(name)
        return model

    def _load_model(self, name: str) -> ServingModel:
        from artrec.recommend.serving import load_serving_model

        serving = load_serving_model(self.workspace, name)
        if not np.array_equal(serving.catalog.item_ids, self.catalog.item_ids):
            raise DataError(
                f"model {serving.info.name!r} was loaded on another catalogue than the engine's; "
                "reopen the workspace"
            )
        return serving

    def model_for(
        self, recommender: str | None = None, *, visrank_options: bool = False
    ) -> ServingModel | None:
        """The model a query runs on, ``None`` meaning VisRank: the rule of
        :func:`artrec.recommend.serving.chosen_model` (same parameters; the workspace's
        default is read once per engine), the model loaded once by :meth:`serving_model`."""
        from artrec.recommend.serving import chosen_model, default_model_name

        if self._default_model is None:
            self._default_model = (default_model_name(self.workspace),)
        default = self._default_model[0]
        name = chosen_model(default, recommender, visrank_options=visrank_options)
        return None if name is None else self.serving_model(name)

    # -- stock ----------------------------------------------------------------------------
    def sold_mask(self) -> np.ndarray:
        """Catalogue rows marked sold in the stock source, now (read-only)."""
        sold = self.stock.sold_set()
        cached = self._sold
        if cached is not None and (cached[0] is sold or cached[0] == sold):
            return cached[1]
        mask = np.zeros(self.catalog.n_items, dtype=bool)
        mask[self.catalog.rows_of(list(sold), missing="drop")] = True
        mask.flags.writeable = False
        self._sold = (sold, mask)
        return mask

    # -- queries --------------------------------------------------------------------------
    def similar(
        self,
        item_id: str,
        k: int = 10,
        *,
        metric: str | None = None,
        embedding: str | None = None,
        features: str | None = None,
        include_self: bool = False,
    ) -> list[Neighbour]:
        """The ``k`` items most similar to ``item_id``, best first (metric and embedding
        default to the engine's configuration).

        With ``features``, the raw feature set of that name is searched instead of an
        embedding (no z-score, no PCA), as the notebook's ``find_similar_images`` does.

        Raises
        ------
        UnknownIdError
            If the catalogue has no such item.
        DataError
            If ``k < 1``, the metric, embedding or feature set is unknown, or the item has
            no vector there.
        """
        _check_k(k)
        if metric is not None:
            check_metric(metric)
        row = int(self.catalog.rows_of([item_id])[0])
        cfg, source = self._query(None, features, embedding=embedding, metric=metric)
        if not self._embedding(source).has_vector[row]:
            raise DataError(f"item {short_repr(item_id)} has no vector in {source.label}")
        index = self._index(source, cfg.metric)
        ids, scores = index.similar(str(self.catalog.item_ids[row]), k, include_self=include_self)
        return [
            Neighbour(str(i), float(s))
            for i, s in zip(ids.tolist(), scores.tolist(), strict=True)
            if i is not None
        ]

    def has_vector(self, item_id: str, embedding: str | None = None) -> bool:
        """Whether ``item_id`` is in the catalogue and has a vector in ``embedding`` (default:
        the engine's), i.e. whether it can be queried and recommended under it."""
        return bool(self.with_vectors([item_id], embedding))

    def with_vectors(self, item_ids: Sequence[str], embedding: str | None = None) -> list[str]:
        """Those of ``item_ids`` that are in the catalogue and have a vector in ``embedding``
        (default: the engine's), in order."""
        ids = [str(i) for i in item_ids if self.catalog.has(i)]
        if not ids:
            return []
        cfg = self.resolve(embedding=embedding)
        assert cfg.embedding is not None
        has = self._embedding(cfg.embedding).has_vector[self.catalog.rows_of(ids)]
        return [i for i, ok in zip(ids, has.tolist(), strict=True) if ok]

    def similar_many(
        self,
        item_ids: Sequence[str],
        k: int = 10,
        *,
        metric: str | None = None,
        embedding: str | None = None,
        features: str | None = None,
        include_self: bool = False,
    ) -> list[list[Neighbour]]:
        """:meth:`similar` for each of ``item_ids``, in order."""
        return [
            self.similar(
                i,
                k,
                metric=metric,
                embedding=embedding,
                features=features,
                include_self=include_self,
            )
            for i in item_ids
        ]

    def recommend(
        self,
        liked_item_ids: Sequence[str],
        k: int = 10,
        *,
        config: VisRankConfig | None = None,
        aggregation: str | None = None,
        metric: str | None = None,
        embedding: str | None = None,
        features: str | None = None,
        m: int | None = None,
        exclude_item_ids: Sequence[str] = (),
        diversify: float | None = None,
        only_in_stock: bool = True,
        recommender: str | None = None,
    ) -> list[Recommendation]:
        """Recommendations for a visitor who liked ``liked_item_ids``.

        Parameters
        ----------
        liked_item_ids
            The profile (duplicates count once). Liked items are never recommended. Empty
            only with a chosen model: a cold start (its cold-start source, time-aware
            popularity, diversified; "trending this month").
        k
            Number of recommendations (>= 1); fewer come back when fewer items qualify.
        config
            VisRank configuration (default: the engine's).
        aggregation, metric, embedding, m
            Override single fields of the configuration.
        features
            Score on this raw feature set instead of an embedding (see :meth:`similar`).
        exclude_item_ids
            Further items never to recommend.
        diversify
            MMR trade-off ``lambda`` in [0, 1] (1 = pure relevance); ``None`` for no re-ranking.
        only_in_stock
            Leave out the items the stock source marks sold.
        recommender
            Which recommender answers (:meth:`model_for`): by default the workspace's chosen
            model when it has one and no VisRank option is given, else VisRank.

        Raises
        ------
        UnknownIdError
            For an id not in the catalogue.
        DataError
            For an empty profile under VisRank, a profile with no vectors, or bad options.
        """
        _check_k(k)
        if isinstance(liked_item_ids, str):
            liked_item_ids = [liked_item_ids]
        visrank_options = _names_visrank(config, aggregation, metric, embedding, features, m)
        model = self.model_for(recommender, visrank_options=visrank_options)
        if not len(liked_item_ids) and model is None:
            raise DataError("no liked items given")
        ids = list(dict.fromkeys(str(i) for i in liked_item_ids))
        liked = self.catalog.rows_of(ids) if ids else np.zeros(0, dtype=np.int64)
        if model is not None:  # an empty profile is a cold start: the model's own rule
            exclude = [np.concatenate([liked, self._rows(exclude_item_ids)])]
            return self._recommend_model(
                model, [liked], exclude, k, diversify, only_in_stock, verb="liked"
            )[0]
        cfg, source = self._query(
            config, features, aggregation=aggregation, metric=metric, embedding=embedding, m=m
        )
        if not self._embedding(source).has_vector[liked].any():
            raise DataError(f"none of the liked items has a vector in {source.label}")
        return self._recommend_rows(
            [liked], [np.concatenate([liked, self._rows(exclude_item_ids)])], k, cfg, source,
            diversify, only_in_stock,
        )[0]  # fmt: skip

    def user_profile(
        self,
        user_id: str,
        kinds: tuple[str, ...] = ("purchase", "like"),
        *,
        history: str = "all",
    ) -> np.ndarray:
        """Distinct catalogue rows of ``user_id``'s events of ``kinds`` in ``history``
        (:data:`~artrec.data.splits.HISTORIES`), in time order.

        Raises :class:`UnknownIdError` when the user has no such events.
        """
        profiles = self.profiles(kinds, history=history, user_id=str(user_id))
        if str(user_id) not in profiles:
            raise UnknownIdError(
                f"unknown user id {short_repr(user_id)} (no {'/'.join(kinds)} events{_in(history)})"
            )
        return profiles[str(user_id)]

    def profiles(
        self,
        kinds: tuple[str, ...] = ("purchase", "like"),
        *,
        history: str = "all",
        user_id: str | None = None,
    ) -> dict[str, np.ndarray]:
        """User id -> distinct catalogue rows of their events of ``kinds`` in ``history``
        (``"all"``, or ``"train"``: the events not held out), in time order; only users with
        such events (only ``user_id`` when given)."""
        events: Interactions = self.workspace.interactions(kinds=kinds, user_id=user_id)
        keep = history_mask(events.splits, len(events), history)
        if not keep.all():
            events = events.select(keep)
        return events.profiles(self.catalog)

    def recommend_for_user(
        self,
        user_id: str,
        k: int = 10,
        *,
        kinds: tuple[str, ...] = ("purchase", "like"),
        history: str = "all",
        **options: Any,
    ) -> list[Recommendation]:
        """Recommendations for a user whose profile is read from the workspace database.

        ``options`` are those of :meth:`recommend` (except ``liked_item_ids``).
        """
        return self.recommend_for_users([user_id], k, kinds=kinds, history=history, **options)[
            str(user_id)
        ]

    def recommend_for_users(
        self,
        user_ids: Sequence[str] | None = None,
        k: int = 10,
        *,
        kinds: tuple[str, ...] = ("purchase", "like"),
        history: str = "all",
        **options: Any,
    ) -> dict[str, list[Recommendation]]:
        """Recommendations for many users (all users with events when ``user_ids`` is None),
        scored in one vectorised batch. Users whose profile has no vectors get an empty list.

        ``history`` picks the events that form a profile: ``"all"`` (default), or
        ``"train"``, the events not held out (split ``test``), which on a workspace imported
        from the notebook's assets gives exactly the notebook's ``recommend()``. A user's
        profile items are never recommended back. ``options`` are those of :meth:`recommend`
        (except ``liked_item_ids``). Raises :class:`UnknownIdError` for a listed user with
        no events of ``kinds`` in ``history``.
        """
        _check_k(k)
        kinds = self.workspace.check_kinds(kinds)
        one = None if user_ids is None or len(user_ids) != 1 else str(user_ids[0])
        profiles = self.profiles(kinds, history=history, user_id=one)
        if user_ids is None:
            users = list(profiles)
        else:
            users = [str(u) for u in user_ids]
            for u in users:
                if u not in profiles:
                    raise UnknownIdError(
                        f"unknown user id {short_repr(u)} (no {'/'.join(kinds)} events{_in(history)})"
                    )
        lists = self._recommend_profiles(
            [profiles[u] for u in users], k, verb=_verb(kinds), **options
        )
        return dict(zip(users, lists, strict=True))

    def _recommend_profiles(
        self,
        profiles: list[np.ndarray],
        k: int,
        *,
        config: VisRankConfig | None = None,
        aggregation: str | None = None,
        metric: str | None = None,
        embedding: str | None = None,
        features: str | None = None,
        m: int | None = None,
        exclude_item_ids: Sequence[str] = (),
        diversify: float | None = None,
        only_in_stock: bool = True,
        recommender: str | None = None,
        verb: str = "bought",
    ) -> list[list[Recommendation]]:
        """:meth:`recommend` for each of ``profiles`` (catalogue rows), in one batch."""
        extra = self._rows(exclude_item_ids)
        excludes = [np.concatenate([p, extra]) for p in profiles]
        visrank_options = _names_visrank(config, aggregation, metric, embedding, features, m)
        model = self.model_for(recommender, visrank_options=visrank_options)
        if model is not None:
            return self._recommend_model(
                model, profiles, excludes, k, diversify, only_in_stock, verb=verb
            )
        cfg, source = self._query(
            config, features, aggregation=aggregation, metric=metric, embedding=embedding, m=m
        )
        return self._recommend_rows(
            profiles, excludes, k, cfg, source, diversify, only_in_stock, verb=verb
        )

    def _recommend_model(
        self,
        model: ServingModel,
        profiles: list[np.ndarray],
        excludes: list[np.ndarray],
        k: int,
        diversify: float | None,
        only_in_stock: bool,
        *,
        verb: str,
    ) -> list[list[Recommendation]]:
        """The chosen model's lists: profiles folded in at scoring time, nothing refitted;
        with ``diversify``, MMR over ``MMR_POOL_FACTOR * k`` candidates on the model's item
        vectors."""
        from artrec.recommend.rerank import mmr

        _check_diversify(diversify)
        vectors = getattr(getattr(model.model, "data_", None), "vectors", None)
        if diversify is not None and vectors is None:
            raise DataError(f"diversify needs item vectors and model {model.info.name!r} has none")
        available = ~self.sold_mask() if only_in_stock else None
        if available is None:
            available = np.ones(self.catalog.n_items, dtype=bool)
        pool = k if diversify is None else k * MMR_POOL_FACTOR
        ranking = model.recommend(profiles, pool, exclude=excludes, available=available)
        out: list[list[Recommendation]] = []
        for j in range(len(profiles)):
            valid = ranking.rows[j] >= 0
            rows, scores = ranking.rows[j][valid], ranking.scores[j][valid]
            because = ranking.because[j][valid]
            codes = _codes(ranking, j)[valid]
            if diversify is not None and rows.size:
                assert vectors is not None
                picked = mmr(rows, scores, vectors, k, float(diversify))
                position = {r: i for i, r in enumerate(rows.tolist())}
                keep = np.array([position[r] for r in picked.tolist()], dtype=np.int64)
                rows, scores, because, codes = rows[keep], scores[keep], because[keep], codes[keep]
            out.append(
                [
                    self._recommendation(r, s, b, None, c, verb)
                    for r, s, b, c in zip(
                        rows[:k].tolist(),
                        scores[:k].tolist(),
                        because[:k].tolist(),
                        codes[:k].tolist(),
                        strict=True,
                    )
                ]
            )
        return out

    def _recommendation(
        self, row: int, score: float, because: int, because_score: float | None, code: str,
        verb: str,
    ) -> Recommendation:  # fmt: skip
        """One :class:`Recommendation` with its reason sentence (the ``because`` item named
        by its title, else its id)."""
        ids = self.catalog.item_ids
        because_id = None if because < 0 else str(ids[because])
        label = None
        if because_id is not None:
            titles = self.catalog.column("title")
            title = None if titles is None else titles[because]
            label = title if isinstance(title, str) and title else because_id
        return Recommendation(
            str(ids[row]),
            float(score),
            because_id,
            None if because_id is None else because_score,
            str(code),
            R.reason_text(str(code), label, verb=verb) if code else "",
        )

    def _rows(self, item_ids: Sequence[str]) -> np.ndarray:
        return self.catalog.rows_of(list(item_ids)) if len(item_ids) else np.zeros(0, np.int64)

    def _recommend_rows(
        self,
        profiles: list[np.ndarray],
        excludes: list[np.ndarray],
        k: int,
        cfg: VisRankConfig,
        source: VectorSource,
        diversify: float | None,
        only_in_stock: bool,
        *,
        verb: str = "bought",
    ) -> list[list[Recommendation]]:
        from artrec.recommend.rerank import mmr

        _check_diversify(diversify)
        rec = self._recommender(source, cfg)
        emb = self._embedding(source)
        available = emb.has_vector & ~self.sold_mask() if only_in_stock else emb.has_vector
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
        prepared = rec.prepared_
        for t, j in enumerate(todo):
            valid = ranking.rows[t] >= 0
            rows, scores = ranking.rows[t][valid], ranking.scores[t][valid]
            because = ranking.because[t][valid]
            codes = _codes(ranking, t)[valid]
            if diversify is not None and rows.size:
                picked = mmr(rows, scores, emb.vectors, k, float(diversify))
                position = {r: i for i, r in enumerate(rows.tolist())}
                keep = np.array([position[r] for r in picked.tolist()], dtype=np.int64)
                rows, scores, because, codes = rows[keep], scores[keep], because[keep], codes[keep]
            rows, scores, because, codes = rows[:k], scores[:k], because[:k], codes[:k]
            if not rows.size:
                continue
            because_scores = rowwise(
                prepared[rows], prepared[np.maximum(because, 0)], cfg.metric
            ).astype(np.float64)
            out[j] = [
                self._recommendation(r, s, b, float(bs), c, verb)
                for r, s, b, bs, c in zip(
                    rows.tolist(),
                    scores.tolist(),
                    because.tolist(),
                    because_scores.tolist(),
                    codes.tolist(),
                    strict=True,
                )
            ]
        return out


def _names_visrank(*options: Any) -> bool:
    """Whether a query names a VisRank choice (any option given)."""
    return any(option is not None for option in options)


def _verb(kinds: Sequence[str]) -> str:
    """How a user got their profile items, for reason sentences."""
    if "purchase" in kinds:
        return "bought" if "like" not in kinds else "bought or liked"
    return "liked"


def _codes(ranking: Ranking, j: int) -> np.ndarray:
    """Reason codes of list ``j`` of ``ranking`` (``""`` where it has none)."""
    if ranking.reasons is None:
        return np.full(ranking.rows.shape[1], R.NONE, dtype=object)
    return np.asarray(ranking.reasons[j], dtype=object)


def _check_diversify(diversify: float | None) -> None:
    if diversify is not None and not 0.0 <= float(diversify) <= 1.0:
        raise DataError(f"diversify must lie in [0, 1], got {diversify}")


def _in(history: str) -> str:
    return "" if history == "all" else f" in its {history} history"


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"k must be an integer >= 1, got {short_repr(k)}")
