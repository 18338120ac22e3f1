"""The metadata-supervised art similarity: labels, fit, held-out artists, persistence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.errors import DataError
from artrec.evaluation.same_artist import same_artist_retrieval
from artrec.vectors import FeatureSet

pytest.importorskip("torch")

from artrec.art_similarity import (
    MetadataSupervisedTransform,
    label_codes,
    wccn_map,
    within_class_scatter,
)
from artrec.evaluation.similarity_training import (
    artist_folds,
    build_metadata_embedding,
    fit_metadata_transform,
)

N_ARTISTS, PER_ARTIST = 40, 8


def styled_catalog(seed: int = 0) -> tuple[Catalog, np.ndarray]:
    """40 artists x 8 works. A work's feature is its artist's style (16 dims) plus a strong
    nuisance that ignores the artist (16 dims of 4x larger spread), made non-negative like
    pooled CNN activations. Raw cosine is dominated by the nuisance; a transform that learns
    to down-weight it from some artists helps on the others."""
    rng = np.random.default_rng(seed)
    style = rng.normal(size=(N_ARTISTS, 16))
    rows = []
    for a in range(N_ARTISTS):
        own = style[a] + 0.5 * rng.normal(size=(PER_ARTIST, 16))
        nuisance = 4.0 * rng.normal(size=(PER_ARTIST, 16))
        rows.append(np.hstack([own, nuisance]))
    x = np.vstack(rows)
    x = np.log1p(np.exp(x))  # softplus: non-negative
    artists = np.array([f"artist {r // PER_ARTIST}" for r in range(len(x))], dtype=object)
    century = np.array([str(15 + (r // PER_ARTIST) % 5) for r in range(len(x))], dtype=object)
    catalog = Catalog(
        np.array([f"w{r}" for r in range(len(x))]),
        metadata={
            "artist": artists,
            "century": century,
            "medium": np.array(["oil on canvas"] * len(x), dtype=object),
            "museum": np.array([f"m{r % 3}" for r in range(len(x))], dtype=object),
        },
    )
    return catalog, x.astype(np.float32)


def test_label_codes_by_hand() -> None:
    meta = {
        "artist": np.array(["A", "a ", None, "Unknown", "B"], dtype=object),
        "century": np.array(["19", "19", "19", "20", None], dtype=object),
        "medium": np.array(["Oil", "oil", "oil", "oil", "oil"], dtype=object),
    }
    assert label_codes(meta, "artist", 5).tolist() == [0, 0, -1, -1, 1]
    assert label_codes(meta, "century+medium", 5).tolist() == [0, 0, 0, 1, -1]
    with pytest.raises(DataError, match="museum"):
        label_codes(meta, "museum", 5)


def test_same_artist_queries_mask_by_hand() -> None:
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.7, 0.7]])
    artists = ["A", "A", "B", "B", "C"]
    only_b = np.array([False, False, True, True, False])
    r = same_artist_retrieval(vectors, artists, k=1, min_works=2, queries=only_b)
    assert r["query_rows"].tolist() == [2, 3] and r["n_artists"] == 1
    assert r["precision_at_k"] == 1.0 and r["n_candidates"] == 5


def test_artist_folds_cover_the_artists_once() -> None:
    catalog, _ = styled_catalog()
    folds = artist_folds(catalog.artists(), n_folds=4, min_works=5, seed=1)
    assert sum(len(f) for f in folds) == N_ARTISTS
    assert set().union(*folds) == {f"artist {a}" for a in range(N_ARTISTS)}
    assert folds == artist_folds(catalog.artists(), n_folds=4, min_works=5, seed=1)


def test_within_class_scatter_equals_a_slow_reference() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 4))
    classes = np.array([0] * 10 + [1] * 9 + [2] * 1 + [-1] * 5 + [7] * 5)
    total, count = np.zeros((4, 4)), 0
    for c in (0, 1, 7):  # class 2 has one work, -1 is unknown: both left out
        members = z[classes == c]
        for v in members - members.mean(axis=0):
            total += np.outer(v, v)
            count += 1
    np.testing.assert_allclose(within_class_scatter(z, classes), total / count, atol=1e-12)
    with pytest.raises(DataError, match="two or more"):
        within_class_scatter(z[:3], np.array([0, 1, -1]))


def test_wccn_map_whitens_the_shrunk_within_class_covariance() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    scatter = a @ a.T / 6
    for alpha in (0.0, 0.3, 1.0):
        w = wccn_map(scatter, alpha)
        shrunk = (1 - alpha) * scatter + alpha * np.trace(scatter) / 6 * np.eye(6)
        np.testing.assert_allclose(w, w.T, atol=1e-10)
        np.testing.assert_allclose(w.T @ shrunk @ w, np.eye(6), atol=1e-8)
    identity = np.eye(6) / np.sqrt(np.trace(scatter) / 6)
    np.testing.assert_allclose(wccn_map(scatter, 1.0), identity, atol=1e-12)


def test_wccn_equals_untruncated_lda_with_within_class_whitening() -> None:
    """Slow reference: LDA's generalised eigenproblem S_b v = l S_a v with V' S_a V = I,
    keeping every direction, gives the same cosine similarities as the WCCN map."""
    from scipy.linalg import eigh

    rng = np.random.default_rng(2)
    classes = np.repeat(np.arange(12), 6)
    z = rng.normal(size=(12, 5))[classes] + rng.normal(size=(72, 5)) * [0.3, 0.3, 2, 2, 1]
    scatter = within_class_scatter(z, classes)
    alpha = 0.2
    shrunk = (1 - alpha) * scatter + alpha * np.trace(scatter) / 5 * np.eye(5)
    centred = z - z.mean(axis=0)
    between = centred.T @ centred / len(z) - scatter
    _, v = eigh(between, shrunk)  # scipy normalises v' shrunk v = I
    lda, wccn = z @ v, z @ wccn_map(scatter, alpha)
    np.testing.assert_allclose(wccn @ wccn.T, lda @ lda.T, atol=1e-8)


def assert_helps_held_out_artists(
    transform: Any, catalog: Any, x: np.ndarray, is_held: np.ndarray, **params: Any
) -> None:
    """The held-out artists' works find each other far better than under raw cosine, and the
    fit never saw them: refitting with their works changed gives the same map."""
    artists = catalog.artists()

    def p5(v: np.ndarray) -> float:
        result = same_artist_retrieval(v, artists, k=5, min_works=5, queries=is_held)
        return float(result["precision_at_k"])

    raw, learned = p5(x), p5(transform.transform(x))
    assert learned > raw + 0.2, (raw, learned)
    x2 = x.copy()
    x2[is_held] = np.abs(np.random.default_rng(5).normal(size=(int(is_held.sum()), x.shape[1])))
    again = fit_metadata_transform(x2, catalog, fit_rows=np.flatnonzero(~is_held), **params)
    np.testing.assert_array_equal(again.weight_, transform.weight_)


def test_wccn_finds_the_artist_subspace_on_held_out_artists() -> None:
    """Known answer: the artists differ only in the first 16 dimensions (the style), so the
    fitted map must weigh the style above the nuisance, and the held-out artists' works find
    each other far better than under raw cosine."""
    catalog, x = styled_catalog()
    artists = catalog.artists()
    held_out = artist_folds(artists, n_folds=4, seed=0)[0]
    is_held = np.array([a in held_out for a in artists.tolist()])
    transform = fit_metadata_transform(x, catalog, fit_rows=np.flatnonzero(~is_held), dim=32)
    assert transform.method == "wccn" and len(transform.selection_) == 16
    assert transform.within_shrinkage_ < 1.0  # WCCN beat whitening alone on validation
    # the map's gain on the style axes (whitened back to the input) exceeds the nuisance's
    full = transform.components_.T @ np.diag(1 / transform.scale_) @ transform.weight_
    gain = np.linalg.norm(full, axis=1)
    assert gain[:16].mean() > 2 * gain[16:].mean(), gain

    assert_helps_held_out_artists(transform, catalog, x, is_held, dim=32)


def test_wccn_is_refitted_on_every_fit_row_with_the_shrinkages_chosen_on_validation() -> None:
    """The choice is made without the validation artists' works; the returned map is the
    same choice fitted on all the fit rows, those works included."""
    from artrec.art_similarity import MetadataSupervisedTransform

    catalog, x = styled_catalog()
    artists = catalog.artists()
    held_out = artist_folds(artists, n_folds=4, seed=0)[0]
    fit_rows = np.flatnonzero([a not in held_out for a in artists.tolist()])
    chosen_only = fit_metadata_transform(x, catalog, fit_rows=fit_rows, dim=32, refit=False)
    final = fit_metadata_transform(x, catalog, fit_rows=fit_rows, dim=32, cross_validate=False)
    assert final.selection_ == chosen_only.selection_
    assert (final.shrinkage_, final.within_shrinkage_) == (
        chosen_only.shrinkage_,
        chosen_only.within_shrinkage_,
    )
    direct = MetadataSupervisedTransform(
        dim=32,
        shrinkage=(chosen_only.shrinkage_,),
        within_shrinkage=(chosen_only.within_shrinkage_,),
    ).fit(x, catalog.metadata, fit_rows)
    np.testing.assert_array_equal(final.weight_, direct.weight_)
    np.testing.assert_array_equal(final.transform(x), direct.transform(x))
    assert not np.allclose(final.mean_, chosen_only.mean_)  # more works in the fit


def test_wccn_shrinkages_are_chosen_by_the_mean_score_over_every_validation_fold() -> None:
    """Cross-validation: each candidate's score is the mean of its scores with each artist
    fold as the validation artists (known: the single-fold selections), and the chosen
    pair is the best mean, refitted on every fit row."""
    from artrec.art_similarity import MetadataSupervisedTransform

    catalog, x = styled_catalog()
    artists = catalog.artists()
    held_out = artist_folds(artists, n_folds=4, seed=0)[0]
    fit_rows = np.flatnonzero([a not in held_out for a in artists.tolist()])
    kw: dict[str, Any] = {"fit_rows": fit_rows, "dim": 32, "validation_share": 0.25}
    single = [
        fit_metadata_transform(x, catalog, cross_validate=False, validation_fold=f, **kw)
        for f in range(4)
    ]
    cv = fit_metadata_transform(x, catalog, **kw)
    grid = [(s, a) for s, a, _ in single[0].selection_]
    assert [(s, a) for s, a, _ in cv.selection_] == grid
    means = np.mean([[score for *_, score in one.selection_] for one in single], axis=0)
    np.testing.assert_allclose([score for *_, score in cv.selection_], means, rtol=1e-12)
    best = int(np.argmax(means))
    assert (cv.shrinkage_, cv.within_shrinkage_) == grid[best]
    direct = MetadataSupervisedTransform(
        dim=32, shrinkage=(grid[best][0],), within_shrinkage=(grid[best][1],)
    ).fit(x, catalog.metadata, fit_rows)
    np.testing.assert_array_equal(cv.transform(x), direct.transform(x))
    with pytest.raises(DataError, match="validation_fold"):
        fit_metadata_transform(x, catalog, validation_fold=4, **kw)


def test_learned_similarity_helps_on_artists_held_out_of_the_fit() -> None:
    catalog, x = styled_catalog()
    artists = catalog.artists()
    held_out = artist_folds(artists, n_folds=4, seed=0)[0]
    is_held = np.array([a in held_out for a in artists.tolist()])
    params = {"method": "contrastive", "dim": 32, "epochs": 40, "lr": 3e-3, "threads": 1}
    transform = fit_metadata_transform(x, catalog, fit_rows=np.flatnonzero(~is_held), **params)
    assert transform.best_epoch_ >= 1  # training beat whitening alone on validation artists
    assert_helps_held_out_artists(transform, catalog, x, is_held, **params)


def test_wccn_then_contrastive_starts_from_the_wccn_map() -> None:
    catalog, x = styled_catalog()
    closed = fit_metadata_transform(x, catalog, dim=32, refit=False)  # as the training starts
    both = fit_metadata_transform(
        x, catalog, method="wccn+contrastive", dim=32, epochs=2, lr=3e-3, threads=1
    )
    assert both.shrinkage_ == closed.shrinkage_
    assert both.history_[0][2] == max(c[2] for c in closed.selection_)  # epoch 0: the WCCN map
    if both.best_epoch_ == 0:
        np.testing.assert_array_equal(both.weight_, closed.weight_)


@pytest.mark.parametrize("method", ["wccn", "contrastive"])
def test_transform_is_deterministic_and_round_trips(tmp_path: Path, method: str) -> None:
    catalog, x = styled_catalog()
    params = {"method": method, "dim": 16, "epochs": 3, "threads": 1}
    a = MetadataSupervisedTransform(**params).fit(x, catalog.metadata)  # type: ignore[arg-type]
    b = MetadataSupervisedTransform(**params).fit(x, catalog.metadata)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.transform(x), b.transform(x))
    out = a.transform(x)
    assert out.shape == (len(x), 16) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    a.save(tmp_path, "t")
    loaded = MetadataSupervisedTransform.load(tmp_path, "t")
    np.testing.assert_allclose(loaded.transform(x), out, atol=1e-6)
    assert loaded.describe() == a.describe()


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    catalog, x = styled_catalog()
    with pytest.raises(DataError, match="non-negative"):
        MetadataSupervisedTransform(epochs=1).fit(x - 5.0, catalog.metadata)
    with pytest.raises(DataError, match="colour"):
        MetadataSupervisedTransform(labels={"colour": 1.0}, epochs=1).fit(x, catalog.metadata)
    with pytest.raises(DataError, match="NaN"):
        MetadataSupervisedTransform(epochs=1).fit(x * np.nan, catalog.metadata)
    with pytest.raises(DataError, match="unknown method 'lda'"):
        MetadataSupervisedTransform(method="lda").fit(x, catalog.metadata)
    with pytest.raises(DataError, match="within_shrinkage"):
        MetadataSupervisedTransform(within_shrinkage=(1.5,)).fit(x, catalog.metadata)
    with pytest.raises(DataError, match="two or more"):
        one_each = {"artist": catalog.metadata["artist"][::8]}
        MetadataSupervisedTransform(dim=4, labels={"artist": 1.0}).fit(x[::8], one_each)
    with pytest.raises(DataError, match="not fitted"):
        MetadataSupervisedTransform().transform(x)
    with pytest.raises(DataError, match="no metadata transform"):
        MetadataSupervisedTransform.load(tmp_path, "missing")


def test_build_metadata_embedding_in_a_workspace_is_usable_by_visrank(tmp_path: Path) -> None:
    from artrec.embedding import load_embedding
    from artrec.recommend.base import TrainData
    from artrec.recommend.visrank import VisRankRecommender

    catalog, x = styled_catalog()
    ws = Workspace.create(tmp_path / "ws")
    ws.upsert_items(catalog)
    FeatureSet("cnn", catalog.item_ids, x, {}).save(ws.features_dir)
    built = build_metadata_embedding(ws, "cnn", dim=16, epochs=2, threads=1)
    assert built.name == "cnn_metadata" and built.dim == 16
    assert (ws.embeddings_dir / "cnn_metadata.metadata-transform.npz").is_file()
    assert built.meta["kind"] == "metadata_supervised" and built.meta["inputs"] == ["cnn"]
    emb = load_embedding(ws, "cnn_metadata")
    rec = VisRankRecommender().fit(TrainData(len(x), vectors=np.asarray(emb.matrix)))
    ranking = rec.rank([np.array([0])], 5)
    assert (ranking.rows >= 0).all()
    assert ws.runs("metadata-embedding")


def test_a_transform_saved_before_wccn_still_loads(tmp_path: Path) -> None:
    """Format 1 (a contrastive map on plain whitening, no method) loads as ``contrastive``."""
    catalog, x = styled_catalog()
    fitted = MetadataSupervisedTransform(method="contrastive", dim=8, epochs=1, threads=1)
    fitted.fit(x, catalog.metadata)
    params = fitted.get_params()
    for key in ("method", "shrinkage", "within_shrinkage", "class_label"):
        params.pop(key)
    info = {
        "format_version": 1,
        "kind": "metadata_supervised",
        "params": params,
        "n_components": 8,
        "best_epoch": fitted.best_epoch_,
        "history": [{"epoch": 0, "loss": None, "score": None}],
    }
    np.savez(
        tmp_path / "old.metadata-transform.npz",
        mean=fitted.mean_,
        components=fitted.components_,
        scale=fitted.scale_,
        weight=fitted.weight_,
        info=np.array(json.dumps(info)),
    )
    loaded = MetadataSupervisedTransform.load(tmp_path, "old")
    assert loaded.method == "contrastive" and loaded.shrinkage_ == 0.0
    np.testing.assert_allclose(loaded.transform(x), fitted.transform(x), atol=1e-6)
