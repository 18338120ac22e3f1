"""Fitting the metadata-supervised art similarity, with model selection on held-out artists.

:class:`~artrec.art_similarity.MetadataSupervisedTransform` learns from the catalogue's
weak labels (artist; century and medium; museum). This module supplies what it cannot
compute itself, the validation metric (same-artist P@k, from
:mod:`artrec.evaluation.same_artist`), and the artist splits:

* :func:`artist_folds` splits the artists with at least ``min_works`` known works into
  folds, so that a transform can be fitted without some artists and measured on them;
* :func:`fit_metadata_transform` fits on given catalogue rows, carving *validation
  artists* out of those rows (their works are left out of the fit) to choose the shrinkages
  of the closed-form WCCN (by cross-validation: each artist fold validates in turn, and the
  mean score chooses), then refitted on all the rows, and to early-stop the contrastive
  training;
* :func:`build_metadata_embedding` fits on a whole workspace and saves the result as an
  embedding (``embeddings/<name>.npy`` + ids + sidecar, and the transform) that VisRank and
  "similar artworks" can use like any other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from artrec.art_similarity import MetadataSupervisedTransform
from artrec.data.catalog import Catalog
from artrec.errors import DataError
from artrec.evaluation.same_artist import same_artist_retrieval
from artrec.vectors import FeatureSet

if TYPE_CHECKING:
    from artrec.data.workspace import Workspace

#: Share of the fit's artists held out for model selection (shrinkages, early stopping).
DEFAULT_VALIDATION_SHARE = 0.2


def artist_folds(
    artists: Sequence[Any] | np.ndarray, n_folds: int = 5, min_works: int = 5, seed: int = 0
) -> list[set[str]]:
    """The artists with at least ``min_works`` known works, shuffled and dealt into folds."""
    known = [a for a in (_known(x) for x in artists) if a is not None]
    counts = Counter(known)
    names = sorted(a for a, c in counts.items() if c >= min_works)
    if len(names) < n_folds:
        raise DataError(f"only {len(names)} artists have {min_works} or more works")
    order = np.random.default_rng(seed).permutation(len(names))
    return [{names[i] for i in order[f::n_folds]} for f in range(n_folds)]


def _known(artist: Any) -> str | None:
    from artrec.data.catalog import UNKNOWN_ARTISTS

    if artist is None or (isinstance(artist, float) and np.isnan(artist)):
        return None
    text = str(artist).strip()
    return None if text.lower() in UNKNOWN_ARTISTS else text


def fit_metadata_transform(
    vectors: np.ndarray,
    catalog: Catalog,
    *,
    fit_rows: np.ndarray | None = None,
    validation_share: float = DEFAULT_VALIDATION_SHARE,
    min_works: int = 5,
    k: int = 10,
    seed: int = 0,
    refit: bool = True,
    cross_validate: bool = True,
    validation_fold: int = 0,
    **params: Any,
) -> MetadataSupervisedTransform:
    """Fit a transform on ``fit_rows``, selected on validation artists carved from them.

    Parameters
    ----------
    vectors
        ``(n_items, d)`` CNN features aligned to the catalogue.
    catalog
        Its metadata gives the labels.
    fit_rows
        Rows the fit may use (default: all). Works outside them are never seen in the fit,
        nor used for validation.
    validation_share
        Share of the artists (with at least ``min_works`` works among ``fit_rows``) whose
        works are set aside to score every WCCN candidate and every training epoch
        (same-artist P@k, candidates: every known-artist work among ``fit_rows``).
    min_works, k
        Validation artists need ``min_works`` works; the score is P@k.
    seed
        Seed of the validation draw and of the training.
    refit
        For WCCN (closed form): once the shrinkages are chosen on the validation artists,
        fit them again on every row of ``fit_rows``, the validation artists' works included,
        as ``tune`` refits its choice on every training event (``selection_`` keeps the
        validation scores). The contrastive map keeps its early-stopped weights.
    cross_validate
        For WCCN with ``refit``: score every candidate on each of the
        ``round(1 / validation_share)`` artist folds in turn (each fold's artists the
        validation artists of a fit on the others) and choose by the mean, rather than on
        one fold; a single fold's choice follows which artists it drew. ``selection_`` then
        holds the mean scores. The contrastive map early-stops on one fold only.
    validation_fold
        The fold whose artists validate when not cross-validating (0 to
        ``round(1 / validation_share) - 1``).
    **params
        :class:`~artrec.art_similarity.MetadataSupervisedTransform` parameters (``method``:
        ``"wccn"`` by default).
    """
    n = catalog.n_items
    if vectors.shape[0] != n:
        raise DataError(f"{vectors.shape[0]} feature rows for {n} catalogue works")
    rows = np.arange(n) if fit_rows is None else np.asarray(fit_rows, dtype=np.int64)
    artists = catalog.artists()
    if artists is None:
        raise DataError("the catalogue has no artists to learn from")
    inside = np.zeros(n, dtype=bool)
    inside[rows] = True
    sub = np.array([a if inside[i] else None for i, a in enumerate(artists.tolist())], object)
    folds = artist_folds(
        sub, n_folds=max(2, round(1 / validation_share)), min_works=min_works, seed=seed
    )

    def fit_without(val_artists: set[str]) -> MetadataSupervisedTransform:
        is_val = np.array([_known(a) in val_artists for a in sub.tolist()])

        def scorer(embedded: np.ndarray) -> float:
            result = same_artist_retrieval(embedded, sub, k=k, min_works=min_works, queries=is_val)
            return float(result["precision_at_k"])

        transform = MetadataSupervisedTransform(seed=seed, **params)
        return transform.fit(vectors, catalog.metadata, rows[~is_val[rows]], scorer=scorer)

    if not 0 <= validation_fold < len(folds):
        raise DataError(f"validation_fold must be in [0, {len(folds)}), got {validation_fold}")
    transform = fit_without(folds[validation_fold])
    if not refit or transform.method != "wccn":
        return transform
    selection = transform.selection_
    if cross_validate:
        others = [f for i, f in enumerate(folds) if i != validation_fold]
        per_fold = [selection] + [fit_without(f).selection_ for f in others]
        selection = [
            (s, alpha, float(np.mean([fold[i][2] for fold in per_fold])))
            for i, (s, alpha, _score) in enumerate(selection)
        ]
    best = max(range(len(selection)), key=lambda i: (selection[i][2], -i))  # first of ties
    # the chosen shrinkages, fitted again on every fit row (validation artists included)
    chosen = {
        "shrinkage": (selection[best][0],),
        "within_shrinkage": (selection[best][1],),
    }
    final = MetadataSupervisedTransform(seed=seed, **{**params, **chosen})
    final.fit(vectors, catalog.metadata, rows)
    final.selection_ = selection
    return final


def build_metadata_embedding(
    workspace: Workspace,
    features: str = "efficientnet_lite0",
    name: str | None = None,
    *,
    seed: int = 0,
    **params: Any,
) -> FeatureSet:
    """Fit the metadata-supervised transform on a workspace's feature set and save it.

    Writes ``embeddings/<name>.npy`` (+ ids and a sidecar describing the transform, its
    fit and its selection on validation artists) and ``embeddings/<name>.metadata-transform.npz``, and
    records a ``metadata-embedding`` run. Returns the embedded vectors (memory-mapped).
    """
    name = name or f"{features}_metadata"
    catalog = workspace.catalog()
    source = FeatureSet.load(workspace.features_dir, features).align(catalog.item_ids)
    vectors = np.asarray(source.matrix, dtype=np.float32)
    transform = fit_metadata_transform(vectors, catalog, seed=seed, **params)
    embedded = FeatureSet(
        name,
        catalog.item_ids,
        transform.transform(vectors),
        {
            **transform.describe(),
            "inputs": [features],
            "transform": f"{name}.metadata-transform.npz",
        },
    )
    transform.save(workspace.embeddings_dir, name)
    embedded.save(workspace.embeddings_dir)
    workspace.record_run(
        "metadata-embedding",
        {"name": name, "features": features, **transform.get_params()},
        {
            "shrinkage": transform.shrinkage_,
            "within_shrinkage": transform.describe()["within_shrinkage"],
            "best_epoch": transform.best_epoch_,
            "n_items": len(embedded),
        },
    )
    return FeatureSet.load(workspace.embeddings_dir, name)
