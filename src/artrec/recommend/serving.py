"""The workspace's chosen model, loaded for serving: one meta key, one loader.

``artrec tune`` saves the tuned hybrid as ``models/<name>/`` and makes it the workspace
default: the meta key :data:`DEFAULT_MODEL_KEY` names it. :func:`default_model_name` is
the only reader of that key (recommend, recommend-all, serve and the report go through
it), :func:`set_default_model` its only writer.

:func:`load_serving_model` loads the model, compares its training-data fingerprint with
the workspace's current training events (:func:`training_events`: every event not marked
``test``, of the kinds the model was fitted on) and catalogue, and brings a hybrid up to
date cheaply (:meth:`~artrec.recommend.hybrid.HybridRecommender.refresh`): content,
metadata and popularity are refitted on the current data, the collaborative sources are
kept and grown to a catalogue that gained rows (appended works get no collaborative score
and are scored through content and metadata). A learned model (CuratorNet, VBPR) keeps its
weights and scores appended works through the vectors it was trained on (``set_items``). :attr:`ServingModel.staleness` says, in one
line, whether the collaborative part was fitted on an older catalogue or log and how to
refresh it.

:meth:`ServingModel.recommend` folds a profile in at scoring time: a new like changes that
visitor's recommendations at once, without any refit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError
from artrec.recommend.base import Ranking, train_data_from
from artrec.recommend.collaborative import GrowableRecommender
from artrec.recommend.hybrid import HybridRecommender
from artrec.recommend.neural import NeuralRecommender
from artrec.recommend.store import ModelInfo, SavableRecommender, data_fingerprint, load_model
from artrec.vectors import FeatureSet

#: Workspace meta key naming the default model (written by ``artrec tune``).
DEFAULT_MODEL_KEY = "default_model"
#: ``recommender`` value that always means content-based VisRank (:func:`chosen_model`).
VISRANK = "visrank"


def default_model_name(workspace: Workspace) -> str | None:
    """The name of the workspace's default model, or ``None`` when none was chosen."""
    return workspace.get_meta(DEFAULT_MODEL_KEY)


def set_default_model(workspace: Workspace, name: str) -> None:
    """Make the saved model ``name`` the workspace default (it must exist)."""
    if not (workspace.models_dir / name / "model.json").is_file():
        raise DataError(f"no saved model {name!r} in {workspace.models_dir}")
    workspace.set_meta(DEFAULT_MODEL_KEY, name)


def chosen_model(
    default: str | None, recommender: str | None = None, *, visrank_options: bool = False
) -> str | None:
    """The one rule for which recommender answers: the saved model's name, or ``None`` for
    VisRank.

    Parameters
    ----------
    default
        The workspace's default model (:func:`default_model_name`), ``None`` when it has none.
    recommender
        ``None``: ``default`` unless ``visrank_options`` (or when there is none), else
        VisRank; :data:`VISRANK`: VisRank; any other name: that saved model.
    visrank_options
        Whether the request names a VisRank choice (a configuration, aggregation, metric,
        embedding, ``m``, raw feature set or index); such a request keeps VisRank's exact
        behaviour.

    Raises
    ------
    DataError
        For VisRank options together with a saved model's name.
    """
    if recommender == VISRANK:
        return None
    if recommender is None:
        return None if visrank_options else default
    if visrank_options:
        raise DataError(
            f"VisRank options (aggregation, metric, embedding, m, features, index) do not "
            f"apply to model {recommender!r}; drop them or use the recommender {VISRANK}"
        )
    return recommender


def training_events(workspace: Workspace, kinds: Sequence[str] | None = None) -> Interactions:
    """The workspace's training events: every event (of ``kinds``, all when ``None``) not
    marked ``test`` in the split column (the ``"train"`` history of
    :func:`artrec.data.splits.history_mask`, the one rule). Tuning and serving read exactly
    these."""
    from artrec.data.splits import history_mask

    events = workspace.interactions(kinds=tuple(kinds) if kinds else None)
    keep = history_mask(events.splits, len(events), "train")
    return events if keep.all() else events.select(keep)


def embedding_vectors(
    workspace: Workspace, name: str | None, catalog: Catalog
) -> tuple[str | None, np.ndarray | None]:
    """``(name, vectors)`` of an embedding aligned to ``catalog`` rows (float32); rows the
    embedding lacks are zero vectors (no content similarity). ``(None, None)`` when the
    workspace has no such embedding."""
    from artrec.embedding import load_embedding

    try:
        name = workspace.resolve_embedding(name)  # the one rule: default, else the only one
        fs = load_embedding(workspace, name)
    except (ArtrecError, FileNotFoundError):
        return None, None
    return name, _aligned(fs, catalog)


def _aligned(fs: FeatureSet, catalog: Catalog) -> np.ndarray:
    """``fs`` on ``catalog`` rows (float32); zero rows for works it lacks."""
    index = {item_id: r for r, item_id in enumerate(fs.item_ids.tolist())}
    out = np.zeros((catalog.n_items, fs.dim), dtype=np.float32)
    rows = [index.get(i, -1) for i in catalog.item_ids.tolist()]
    have = np.array([r >= 0 for r in rows], dtype=bool)
    if have.any():
        src = np.asarray([r for r in rows if r >= 0], dtype=np.int64)
        out[have] = np.asarray(fs.matrix, dtype=np.float32)[src]
    return out


@dataclass
class ServingModel:
    """A saved model ready to rank profiles of the current catalogue.

    Attributes
    ----------
    model
        The loaded (and refreshed) recommender.
    info
        What ``model.json`` says.
    catalog
        The current catalogue (its in-stock flags are the availability mask).
    staleness
        ``None`` when fitted on the current data, else the one-line refresh advice.
    """

    model: SavableRecommender
    info: ModelInfo
    catalog: Catalog
    staleness: str | None

    def recommend(
        self,
        profiles: Sequence[np.ndarray],
        k: int = 10,
        *,
        exclude: Sequence[np.ndarray] | None = None,
        available: np.ndarray | None = None,
    ) -> Ranking:
        """Top-k rows per profile (rows of :attr:`catalog`), in-stock works only unless
        ``available`` says otherwise; profiles are folded in, nothing is refitted."""
        mask = self.catalog.in_stock if available is None else available
        return self.model.rank(profiles, k, exclude=exclude, available=mask)


def load_serving_model(workspace: Workspace, name: str | None = None) -> ServingModel:
    """Load ``name`` (default: the workspace default model) for serving (module doc).

    Raises
    ------
    DataError
        When no model is named and the workspace has no default, or the model is missing.
    """
    name = name or default_model_name(workspace)
    if name is None:
        raise DataError("the workspace has no default model; run `artrec tune` first")
    model, info = load_model(workspace.models_dir, name)
    catalog = workspace.catalog()
    kinds: list[str] | None = info.extra.get("event_kinds")
    events = training_events(workspace, kinds)
    staleness = info.staleness(data_fingerprint(catalog.item_ids, events))
    fitted_items = int(info.fingerprint.n_items)
    if catalog.n_items < fitted_items:
        raise DataError(
            f"model {name!r} was fitted on {fitted_items:,} items and the catalogue now has "
            f"{catalog.n_items:,}; refit it"
        )
    if isinstance(model, HybridRecommender):
        _, vectors = embedding_vectors(workspace, info.extra.get("embedding"), catalog)
        model.refresh(train_data_from(catalog, events, vectors=vectors, available=catalog.in_stock))
    elif isinstance(model, GrowableRecommender) and catalog.n_items > fitted_items:
        model.grow(catalog.n_items)
    elif isinstance(model, NeuralRecommender) and catalog.n_items > fitted_items:
        # learned weights kept; the appended works are scored through their features
        vectors = _learned_inputs(workspace, info, catalog)
        model.set_items(
            train_data_from(catalog, events, vectors=vectors, available=catalog.in_stock)
        )
    return ServingModel(model, info, catalog, staleness)


def _learned_inputs(workspace: Workspace, info: ModelInfo, catalog: Catalog) -> np.ndarray:
    """The vectors a learned model was trained on (its embedding or raw feature set, as
    ``artrec train`` recorded), aligned to ``catalog``; zero rows for works without one."""
    features = info.extra.get("features")
    if features is None:
        name, vectors = embedding_vectors(workspace, info.extra.get("embedding"), catalog)
        if vectors is None:
            raise DataError(
                f"model {info.name!r} needs the embedding {name!r}, which the workspace lacks"
            )
        return vectors
    return _aligned(FeatureSet.load(workspace.features_dir, str(features)), catalog)


def describe(serving: ServingModel) -> dict[str, Any]:
    """A JSON-ready summary: name, kind, validation scores, staleness."""
    return {
        "name": serving.info.name,
        "kind": serving.info.kind,
        "validation": serving.info.extra.get("validation"),
        "stale": serving.staleness,
    }
