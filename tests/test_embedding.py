"""The embedding: z-score (std 0 counts as 1), exact PCA, persistence, new items, the notebook."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import sklearn.decomposition

import artrec.embedding as embedding_module
from _seed_helpers import write_tiny_assets
from artrec.data.seed import import_seed, load_seed_assets
from artrec.data.synthetic import write_seed_assets
from artrec.data.workspace import Workspace
from artrec.embedding import Embedding, build_embedding, load_embedding, top_eigenpairs
from artrec.errors import DataError
from artrec.vectors import FeatureSet


def _sets(n: int = 60, dims: tuple[int, int] = (12, 20), seed: int = 0) -> list[FeatureSet]:
    rng = np.random.default_rng(seed)
    ids = [f"a{i}" for i in range(n)]
    basis = rng.normal(size=(4, sum(dims)))
    full = np.maximum(rng.normal(size=(n, 4)) @ basis + 0.3 * rng.normal(size=(n, sum(dims))), 0)
    full[:, 3] = 2.5  # a constant column
    full = full.astype(np.float32)
    return [
        FeatureSet("f1", ids, full[:, : dims[0]]),
        FeatureSet("f2", ids, full[:, dims[0] :]),
    ]


def _reference(sets: list[FeatureSet], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slow, obvious PCA in float64: hstack, z-score (population std, 0 -> 1), SVD."""
    x = np.hstack([np.asarray(fs.matrix, dtype=np.float64) for fs in sets])
    mean = x.mean(0)
    std = x.std(0)
    std[std == 0] = 1
    z = (x - mean) / std
    zc = z - z.mean(0)
    _u, s, vt = np.linalg.svd(zc, full_matrices=False)
    var = s**2 / (len(x) - 1)
    total = zc.var(0, ddof=1).sum()
    return zc @ vt[:k].T, var[:k], var[:k] / total


def _same_up_to_sign(a: np.ndarray, b: np.ndarray, rtol: float) -> np.ndarray:
    """Per component: max |a - s*b| / std(b), with s the sign that fits best."""
    signs = np.sign((a * b).sum(axis=0))
    signs[signs == 0] = 1
    return np.abs(a - b * signs).max(axis=0) / b.std(axis=0)


def test_hand_computed_zscore_and_pca() -> None:
    # 4 items, 3 dims; the last dim is constant and must be divided by 1, not 0
    x = np.array([[1, 0, 5], [3, 2, 5], [5, 0, 5], [7, 2, 5]], dtype=np.float32)
    fs = FeatureSet("f", ["a", "b", "c", "d"], x)
    emb = Embedding(n_components=2).fit([fs])
    np.testing.assert_allclose(emb.mean_, [4, 1, 5])
    np.testing.assert_allclose(emb.scale_, [np.sqrt(5), 1, 1])  # population std; 0 -> 1
    assert emb.n_constant_ == 1
    out = emb.transform([fs]).matrix
    # z1 = [-3, -1, 1, 3] / sqrt(5), z2 = [-1, 1, -1, 1]: unit variance, correlation r = 1/sqrt(5).
    # The eigenvectors of [[1, r], [r, 1]] are (1, 1)/sqrt(2) and (1, -1)/sqrt(2), with
    # variances (1 +- r) * n / (n - 1); the constant column contributes nothing.
    z1 = np.array([-3, -1, 1, 3]) / np.sqrt(5)
    z2 = np.array([-1, 1, -1, 1], dtype=np.float64)
    r = 1 / np.sqrt(5)
    expected = np.stack([(z1 + z2) / np.sqrt(2), (z1 - z2) / np.sqrt(2)], axis=1)
    assert _same_up_to_sign(out, expected, 0).max() < 1e-6
    np.testing.assert_allclose(emb.explained_variance_, [(1 + r) * 4 / 3, (1 - r) * 4 / 3])
    np.testing.assert_allclose(emb.explained_variance_ratio_, [(1 + r) / 2, (1 - r) / 2])
    np.testing.assert_allclose(np.abs(emb.components_[:, 2]), 0, atol=1e-12)
    # scikit-learn's sign rule: the largest-magnitude loading of each component is positive
    for comp in emb.components_:
        assert comp[np.argmax(np.abs(comp))] > 0


@pytest.mark.parametrize("solver", ["covariance_eigh", "gram_eigh", "full"])
def test_solvers_match_the_slow_reference(solver: str) -> None:
    sets = _sets()
    ref, var, ratio = _reference(sets, 10)
    emb = Embedding(10, svd_solver=solver)
    out = emb.fit_transform(sets).matrix
    assert out.dtype == np.float32
    assert _same_up_to_sign(out, ref, 0).max() < 1e-4
    np.testing.assert_allclose(emb.explained_variance_, var, rtol=1e-5)
    np.testing.assert_allclose(emb.explained_variance_ratio_, ratio, rtol=1e-5)
    assert np.all(np.diff(emb.explained_variance_) <= 0)
    # the variance of each output column is its explained variance
    np.testing.assert_allclose(out.var(axis=0, ddof=1), var, rtol=1e-4)


# -- the certified iterative solver ------------------------------------------------------


def _spectral_sets(n: int, dim: int, seed: int = 0) -> list[FeatureSet]:
    """Two feature sets with a power-law spectrum plus noise, as CNN features have."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 60)) * (1.0 + np.arange(60)) ** -0.5
    x = latent @ rng.normal(size=(60, dim)) + 0.3 * rng.normal(size=(n, dim))
    x = x.astype(np.float32)
    ids = [f"i{j}" for j in range(n)]
    cut = dim // 3
    return [FeatureSet("a", ids, x[:, :cut]), FeatureSet("b", ids, x[:, cut:])]


def _subspace_errors(
    ours: np.ndarray, values: np.ndarray, ref: np.ndarray, ref_values: np.ndarray
) -> np.ndarray:
    """Per component (rows of ``ours``): the distance to the span of the reference
    components (rows of ``ref``) whose eigenvalues are close to its own (relative 1e-8)."""
    out = []
    for u, lam in zip(ours, values, strict=True):
        close = np.abs(ref_values - lam) <= 1e-8 * ref_values[0]
        basis = ref[close].T
        out.append(np.linalg.norm(u - basis @ (basis.T @ u)) if close.any() else np.inf)
    return np.array(out)


@pytest.mark.parametrize(("n", "dim"), [(1500, 450), (420, 900)])
def test_auto_is_iterative_and_equals_the_full_decomposition(n: int, dim: int) -> None:
    """``auto`` picks the iterative solver here and is exact: every component within 1e-6
    of the full eigen-decomposition's (covariance and data operators both)."""
    sets = _spectral_sets(n, dim)
    k = 30
    auto = Embedding(k).fit(sets)
    full = Embedding(k + 5, svd_solver="covariance_eigh").fit(sets)
    assert auto.solver_ == "lanczos" and auto.notes_ == []
    errors = _subspace_errors(
        auto.components_, auto.explained_variance_, full.components_, full.explained_variance_
    )
    assert errors.max() < 1e-6
    np.testing.assert_allclose(
        auto.explained_variance_, full.explained_variance_[:k], rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(auto.scale_, full.scale_, rtol=1e-12)
    assert auto.total_variance_ == pytest.approx(full.total_variance_, rel=1e-12)


def test_repeated_eigenvalues_are_matched_as_subspaces() -> None:
    """Exactly repeated eigenvalues (3, 3 and 2 copies): any basis of an eigenspace is
    right, so each component is compared with the whole eigenspace of its eigenvalue,
    including the pair of 4s that the cut at k = 4 splits."""
    rng = np.random.default_rng(3)
    dim = 300
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    values = np.concatenate([[5.0, 5.0, 5.0, 4.0, 4.0], np.linspace(3.0, 0.1, dim - 5)])
    a = (q * values) @ q.T
    found = top_eigenpairs(lambda v: a @ v, dim, 4, seed=1)
    assert found is not None
    vals, vecs = found
    np.testing.assert_allclose(vals, [5, 5, 5, 4], rtol=1e-12)
    assert _subspace_errors(vecs.T, vals, q.T, values).max() < 1e-6
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(4), atol=1e-12)


def test_uncertified_solver_falls_back_to_the_full_decomposition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a tolerance no basis can certify (0), the solver gives up at its basis limit
    and the full decomposition is used, with a note; the result is that decomposition."""
    sets = _spectral_sets(900, 700)
    k = 20
    monkeypatch.setattr(embedding_module, "EIG_TOL", 0.0)
    emb = Embedding(k, svd_solver="lanczos").fit(sets)
    assert emb.solver_ == "covariance_eigh"
    assert any("could not certify" in note for note in emb.notes_)
    full = Embedding(k, svd_solver="covariance_eigh").fit(sets)
    np.testing.assert_allclose(emb.components_, full.components_, atol=1e-12)
    np.testing.assert_allclose(emb.explained_variance_, full.explained_variance_, rtol=1e-12)


def test_uncertified_solver_on_the_data_operator_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same fallback when the solver works on the data (fewer items than dimensions)."""
    sets = _spectral_sets(300, 800)
    monkeypatch.setattr(embedding_module, "EIG_TOL", 0.0)
    emb = Embedding(10, svd_solver="lanczos").fit(sets)
    full = Embedding(10, svd_solver="gram_eigh").fit(sets)
    assert emb.solver_ == "covariance_eigh" and emb.notes_
    errors = _subspace_errors(
        emb.components_, emb.explained_variance_, full.components_, full.explained_variance_
    )
    assert errors.max() < 1e-6


def test_data_operator_is_the_same_to_the_last_bit_with_any_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The threads take the operator's fixed parts as they finish, but the parts are summed
    in order: one, two and three threads give bit-identical products, again and again."""
    monkeypatch.setattr(embedding_module, "STREAM_BYTES", 16 << 10)  # ~4 rows, many chunks
    sets = _spectral_sets(700, 500)
    emb = Embedding(10)
    stats = emb._column_stats(sets)
    scale = emb._scale_from(sets, stats)
    v = np.random.default_rng(1).normal(size=(500, 8))
    one = embedding_module._DataOperator(sets, stats, scale, 1)
    expected = one.apply(v)
    assert len(one.parts) == embedding_module._PRODUCT_PARTS
    for threads in (2, 3, 2, 3):
        operator = embedding_module._DataOperator(sets, stats, scale, threads)
        assert len(operator.buffers) == threads
        np.testing.assert_array_equal(operator.apply(v), expected)
        np.testing.assert_array_equal(operator.projections(), one.projections())


def test_third_gram_schmidt_sweep_where_the_second_removes_much(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two sweeps leave a block orthogonal to the basis unless the second removed much of a
    column (the images of an invariant subspace: here every vector is an eigenvector, so
    what is left after a sweep is rounding); then the solver sweeps a third time, and the
    eigenvectors stay orthonormal."""
    sweeps: list[int] = []
    orthonormal = embedding_module._orthonormal

    def recording(
        w: np.ndarray,
        basis: np.ndarray,
        rng: np.random.Generator,
        room: int | None = None,
        passes: int = 2,
    ) -> np.ndarray:
        sweeps.append(passes)
        return orthonormal(w, basis, rng, room, passes)

    monkeypatch.setattr(embedding_module, "_orthonormal", recording)
    dim = 100
    found = top_eigenpairs(lambda v: 3.0 * v, dim, 3, block=4)
    assert found is not None
    vals, vecs = found
    np.testing.assert_allclose(vals, [3.0, 3.0, 3.0], rtol=1e-14)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(3), atol=1e-13)
    assert 1 in sweeps[1:]  # a third sweep (after the start block, which always has two)


def test_top_eigenpairs_gives_up_within_its_basis_limit() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 200))
    a = a @ a.T
    assert top_eigenpairs(lambda v: a @ v, 200, 10, tol=0.0, max_basis=60) is None
    found = top_eigenpairs(lambda v: a @ v, 200, 10)
    assert found is not None
    expected = np.linalg.eigvalsh(a)[::-1][:10]
    np.testing.assert_allclose(found[0], expected, rtol=1e-10)


def test_randomized_solver_is_close_on_leading_components() -> None:
    sets = _sets()
    ref, _var, _ratio = _reference(sets, 3)
    out = Embedding(3, svd_solver="randomized", random_state=0).fit_transform(sets).matrix
    assert _same_up_to_sign(out, ref, 0).max() < 1e-2


def test_explained_variance_sums_to_one_at_full_rank() -> None:
    sets = _sets(n=50, dims=(6, 8))
    emb = Embedding(13).fit(sets)  # 14 dims, one constant: rank 13
    assert emb.explained_variance_ratio_.sum() == pytest.approx(1.0, abs=1e-9)
    assert emb.explained_variance_ratio_[-1] >= 0


def test_n_components_is_capped_with_a_note() -> None:
    sets = _sets(n=8, dims=(6, 8))
    emb = Embedding(100).fit(sets)
    assert emb.n_components_ == 7 and emb.components_.shape == (7, 14)
    assert "capped at 7" in emb.notes_[0]
    assert emb.transform(sets).matrix.shape == (8, 7)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_n_components(bad: object) -> None:
    with pytest.raises(DataError, match="n_components"):
        Embedding(bad).fit(_sets())  # type: ignore[arg-type]


def test_bad_solver_and_too_few_items() -> None:
    with pytest.raises(DataError, match="svd_solver"):
        Embedding(2, svd_solver="magic").fit(_sets())
    one = FeatureSet("f", ["a"], np.ones((1, 3), np.float32))
    with pytest.raises(DataError, match="at least 2"):
        Embedding(2).fit([one])
    with pytest.raises(DataError, match="not fitted"):
        Embedding(2).transform(_sets())


def test_chunking_does_not_change_the_result() -> None:
    sets = _sets(n=101)
    a = Embedding(5, chunk_rows=7).fit_transform(sets).matrix
    b = Embedding(5, chunk_rows=1000).fit_transform(sets).matrix
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_no_standardize_is_plain_pca() -> None:
    sets = _sets()
    x = np.hstack([np.asarray(fs.matrix, np.float64) for fs in sets])
    xc = x - x.mean(0)
    _u, _s, vt = np.linalg.svd(xc, full_matrices=False)
    out = Embedding(4, standardize=False).fit_transform(sets).matrix
    assert _same_up_to_sign(out, xc @ vt[:4].T, 0).max() < 1e-4


def test_l2_normalize() -> None:
    sets = _sets()
    plain = Embedding(5).fit_transform(sets).matrix
    unit = Embedding(5, l2_normalize=True).fit_transform(sets).matrix
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        unit, plain / np.linalg.norm(plain, axis=1, keepdims=True), atol=1e-6
    )


def test_transform_of_new_items_equals_fit_transform_rows() -> None:
    sets = _sets(n=80)
    emb = Embedding(6)
    full = emb.fit_transform(sets, "e")
    pick = [70, 3, 41, 41 - 1]
    new = [
        FeatureSet(fs.name, [f"new{r}" for r in pick], np.asarray(fs.matrix)[pick]) for fs in sets
    ]
    out = emb.transform(list(reversed(new)), "e")  # order of the sets does not matter
    assert out.item_ids.tolist() == [f"new{r}" for r in pick]
    np.testing.assert_allclose(out.matrix, full.matrix[pick], atol=1e-6)


def test_sets_are_aligned_on_the_first_sets_order() -> None:
    sets = _sets(n=30)
    perm = np.random.default_rng(1).permutation(30)
    shuffled = FeatureSet("f2", sets[1].item_ids[perm], np.asarray(sets[1].matrix)[perm])
    a = Embedding(4).fit_transform(sets).matrix
    b = Embedding(4).fit_transform([sets[0], shuffled]).matrix
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_sets_that_disagree_are_refused() -> None:
    sets = _sets(n=10)
    other = FeatureSet("f2", [f"b{i}" for i in range(10)], np.asarray(sets[1].matrix))
    with pytest.raises(DataError, match="'f1' and 'f2' describe different items: 'f1' has 'a0'"):
        Embedding(2).fit([sets[0], other])
    with pytest.raises(DataError, match="distinct"):
        Embedding(2).fit([sets[0], sets[0]])
    emb = Embedding(2).fit(sets)
    with pytest.raises(DataError, match="fitted on feature sets"):
        emb.transform([sets[0]])
    narrow = FeatureSet("f2", sets[1].item_ids, np.asarray(sets[1].matrix)[:, :5])
    with pytest.raises(DataError, match="'f2' has 5 dimensions"):
        emb.transform([sets[0], narrow])


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_and_inf_are_refused_naming_set_and_item(value: float) -> None:
    sets = _sets(n=10)
    m = np.array(sets[1].matrix)
    m[6, 2] = value
    bad = FeatureSet("f2", sets[1].item_ids, m)
    with pytest.raises(DataError, match=r"feature set 'f2': item 'a6' \(row 6\) has NaN or inf"):
        Embedding(2).fit([sets[0], bad])
    emb = Embedding(2).fit(sets)
    with pytest.raises(DataError, match="item 'a6'"):
        emb.transform([sets[0], bad])


def test_save_load_round_trip(tmp_path: Path) -> None:
    sets = _sets()
    emb = Embedding(5, l2_normalize=True)
    vectors = emb.fit_transform(sets, "hyb")
    path = emb.save(tmp_path, "hyb", vectors)
    assert path.name == "hyb.transform.npz"
    with np.load(path, allow_pickle=False) as npz:  # plain arrays only
        assert set(npz.files) >= {"mean", "scale", "components"}
    back = Embedding.load(tmp_path, "hyb")
    for attr in ("mean_", "scale_", "components_", "explained_variance_ratio_"):
        np.testing.assert_array_equal(getattr(back, attr), getattr(emb, attr))
    assert back.input_names_ == ["f1", "f2"] and back.l2_normalize
    np.testing.assert_array_equal(back.transform(sets).matrix, vectors.matrix)
    saved = FeatureSet.load(tmp_path, "hyb")
    assert np.load(tmp_path / "hyb.npy").dtype == np.float32
    np.testing.assert_array_equal(saved.matrix, vectors.matrix)
    sidecar = json.loads((tmp_path / "hyb.json").read_text())
    assert sidecar["inputs"] == ["f1", "f2"] and sidecar["n_components"] == 5
    assert sidecar["transform"] == "hyb.transform.npz"
    assert sidecar["explained_variance_total"] == pytest.approx(
        float(emb.explained_variance_ratio_.sum())
    )


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no fitted embedding 'x'"):
        Embedding.load(tmp_path, "x")
    (tmp_path / "y.transform.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable embedding transform"):
        Embedding.load(tmp_path, "y")


def test_build_and_load_in_a_workspace(tmp_path: Path) -> None:
    import_seed(write_tiny_assets(tmp_path / "assets"), tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    vectors = build_embedding(ws, ["resnet50", "vgg19"], "hybrid", 2)
    assert ws.get_meta("default_embedding") == "hybrid"
    assert vectors.matrix.shape == (4, 2) and vectors.item_ids.tolist() == [
        "501",
        "17",
        "9003",
        "42",
    ]
    again = load_embedding(ws)
    np.testing.assert_array_equal(again.matrix, vectors.matrix)
    assert Embedding.load(ws.embeddings_dir, "hybrid").n_components_ == 2
    assert ws.runs("embed")[0]["params"]["inputs"] == ["resnet50", "vgg19"]
    build_embedding(ws, ["vgg19"], "vgg_only", 1, set_default=False)
    assert ws.get_meta("default_embedding") == "hybrid"
    with pytest.raises(DataError, match="no feature set 'nope'"):
        build_embedding(ws, ["resnet50", "nope"], "x")
    with pytest.raises(DataError, match="no embedding 'zzz'"):
        load_embedding(ws, "zzz")


def test_load_embedding_without_default(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    with pytest.raises(DataError, match="no default embedding"):
        load_embedding(ws)


# -- the notebook -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notebook_shaped(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[FeatureSet], np.ndarray]:
    """800 simulated artworks x (2048 + 4096) features and the notebook's z-scored hybrid."""
    directory = tmp_path_factory.mktemp("assets")
    write_seed_assets(directory, 800, 10, seed=11)
    sets = load_seed_assets(directory).feature_sets
    # the notebook, faithfully
    resnet50_featmat = np.load(directory / "resnet50_feature_matrix.npy")
    vgg19_featmat = np.load(directory / "vgg19_feature_matrix.npy")
    hybrid = np.hstack([resnet50_featmat, vgg19_featmat])
    mean = hybrid.mean(0)
    std = hybrid.std(0)
    std[std == 0] = 1
    z = (hybrid - mean) / std
    return sets, z


@pytest.mark.slow
def test_notebook_reproduction_exact_solver(
    notebook_shaped: tuple[list[FeatureSet], np.ndarray],
) -> None:
    """Every one of the 100 components equals the notebook's up to sign.

    The notebook's PCA here uses scikit-learn's exact LAPACK solver on the notebook's float32
    z-scores; artrec's exact eigen solver works in float64, so the two agree to float32
    precision (relative 1e-3 of each component's spread, far tighter for leading ones).
    """
    sets, z = notebook_shaped
    pca = sklearn.decomposition.PCA(n_components=100, svd_solver="full")
    pca100_resnet_vgg_hybrid_featmat = pca.fit_transform(z)
    emb = Embedding(100)
    ours = emb.fit_transform(sets).matrix
    assert emb.solver_ == "lanczos" and ours.shape == (800, 100)
    err = _same_up_to_sign(ours, pca100_resnet_vgg_hybrid_featmat, 0)
    assert err[:20].max() < 1e-4
    assert err.max() < 5e-3
    np.testing.assert_allclose(
        emb.explained_variance_ratio_, pca.explained_variance_ratio_, rtol=1e-4, atol=1e-7
    )
    assert emb.n_constant_ > 0  # dead units: the std-0 rule was exercised


@pytest.mark.slow
def test_notebook_reproduction_default_solver(
    notebook_shaped: tuple[list[FeatureSet], np.ndarray],
) -> None:
    """The notebook's code as written: for this shape scikit-learn's "auto" picks the
    *randomized* solver (approximate). It matches artrec's exact components where the
    spectrum separates them (the leading ones), and its total explained variance; the
    trailing components of a flat noise spectrum are where randomized SVD itself is
    inexact, so they are not compared one by one. (random_state is pinned for a stable test.)
    """
    sets, z = notebook_shaped
    pca = sklearn.decomposition.PCA(n_components=100, random_state=0)
    pca100_resnet_vgg_hybrid_featmat = pca.fit_transform(z)
    assert pca._fit_svd_solver == "randomized"
    emb = Embedding(100)
    ours = emb.fit_transform(sets).matrix
    err = _same_up_to_sign(ours, pca100_resnet_vgg_hybrid_featmat, 0)
    assert err[:10].max() < 1e-3
    np.testing.assert_allclose(
        emb.explained_variance_ratio_[:10], pca.explained_variance_ratio_[:10], rtol=1e-4
    )
    # exact PCA captures at least as much variance, and randomized is within 1% of it
    ours_total = emb.explained_variance_ratio_.sum()
    theirs_total = pca.explained_variance_ratio_.sum()
    assert theirs_total <= ours_total + 1e-6 and theirs_total > 0.99 * ours_total


def test_streamed_operator_chunks_and_projections(monkeypatch: pytest.MonkeyPatch) -> None:
    """The iterative solver streams the float32 data in chunks split between threads: small
    chunks (many per thread) give the same components, the one-pass column statistics give
    the full decomposition's scale, and fit_transform's projections (kept from the solver's
    products) equal transform's."""
    sets = _spectral_sets(1500, 450)
    k = 30
    whole = Embedding(k, svd_solver="lanczos").fit(sets)
    monkeypatch.setattr(embedding_module, "STREAM_BYTES", 64 << 10)  # ~18 rows per chunk
    emb = Embedding(k, svd_solver="lanczos")
    vectors = emb.fit_transform(sets, "e")
    assert emb.solver_ == "lanczos"
    full = Embedding(k, svd_solver="covariance_eigh").fit(sets)
    np.testing.assert_allclose(emb.scale_, full.scale_, rtol=1e-12)
    np.testing.assert_allclose(emb.mean_, full.mean_, rtol=1e-12, atol=1e-12)
    assert (
        _subspace_errors(
            emb.components_, emb.explained_variance_, whole.components_, whole.explained_variance_
        ).max()
        < 1e-6
    )
    np.testing.assert_allclose(vectors.matrix, emb.transform(sets, "e").matrix, atol=1e-5)


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_data_operator_folds_or_centres_and_stays_exact(
    offset: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data operator folds the standardisation into its small factors; where the means
    are large against the spread (an offset of 1e4 on data of spread ~1) folding would cost
    digits, so it centres each chunk instead. Either way it equals the covariance of the
    standardised data to float64 rounding, the components are certified exact against the
    full decomposition, and fit_transform's projections equal transform's."""
    sets = _spectral_sets(1500, 450)
    if offset:
        sets = [FeatureSet(fs.name, fs.item_ids, fs.matrix + np.float32(offset)) for fs in sets]
    emb = Embedding(30, svd_solver="lanczos")
    stats = emb._column_stats(sets)
    scale = emb._scale_from(sets, stats)
    operator = embedding_module._DataOperator(sets, stats, scale, 2)
    assert operator.fold_mean is (offset == 0.0)
    x = np.hstack([np.asarray(fs.matrix, dtype=np.float64) for fs in sets])
    z = (x - x.mean(0)) / scale
    v = np.random.default_rng(0).normal(size=(450, 5))
    expected = z.T @ (z @ v) / (len(z) - 1)
    np.testing.assert_allclose(
        operator.apply(v), expected, rtol=0, atol=1e-12 * abs(expected).max()
    )
    np.testing.assert_allclose(operator.projections(), z @ v, rtol=0, atol=1e-12 * abs(z @ v).max())

    monkeypatch.setattr(embedding_module, "STREAM_BYTES", 64 << 10)  # many chunks per thread
    vectors = emb.fit_transform(sets, "e")
    full = Embedding(35, svd_solver="covariance_eigh").fit(sets)
    assert emb.solver_ == "lanczos"
    errors = _subspace_errors(
        emb.components_, emb.explained_variance_, full.components_, full.explained_variance_
    )
    assert errors.max() < 1e-6
    np.testing.assert_allclose(vectors.matrix, emb.transform(sets, "e").matrix, atol=1e-5)


def test_solver_limits_every_blas_even_one_loaded_late() -> None:
    """The solver holds BLAS to one thread (small products spin on several under load),
    including scipy's own BLAS when scipy.linalg was not imported before the solver ran:
    threadpoolctl only limits libraries already loaded. Checked in a fresh interpreter."""
    import subprocess
    import sys

    code = """
import sys
import numpy as np
assert "scipy.linalg" not in sys.modules
from threadpoolctl import threadpool_info
from artrec.embedding import top_eigenpairs
a = np.diag(np.linspace(1.0, 2.0, 200))
seen = []
def apply(v):
    seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
    return a @ v
assert top_eigenpairs(apply, 200, 3) is not None
print(max(seen), len({i["filepath"] for i in threadpool_info() if i["user_api"] == "blas"}))
"""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    most, libraries = (int(v) for v in out.stdout.split())
    assert most == 1 and libraries >= 1
