"""Block weights of the embedding: explicit per-feature-set weights and equal variance shares,
checked against a plain numpy reference (standardise, weigh, SVD) for every solver."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.embedding import EQUAL_BLOCKS, Embedding, build_embedding, default_feature_names
from artrec.errors import DataError
from artrec.vectors import FeatureSet

SOLVERS = ("covariance_eigh", "gram_eigh", "full")


def _sets(n: int = 40, seed: int = 0) -> tuple[FeatureSet, FeatureSet]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"i{k}" for k in range(n)], dtype=object)
    cnn = rng.normal(size=(n, 6)) @ rng.normal(size=(6, 6)) * 3.0 + 1.0
    hand = rng.normal(size=(n, 3)) * [0.5, 2.0, 1.0]
    hand[:, 2] = 7.0  # a constant dimension: divided by 1, no variance
    return (
        FeatureSet("cnn", ids, cnn.astype(np.float32)),
        FeatureSet("hand", ids, hand.astype(np.float32)),
    )


def _reference(sets: tuple[FeatureSet, ...], factors: list[float], k: int) -> np.ndarray:
    """Standardise (population std, 0 -> 1), multiply each block by sqrt(factor), PCA by SVD."""
    x = np.hstack([np.asarray(fs.matrix, dtype=np.float64) for fs in sets])
    std = x.std(axis=0)
    std[std == 0] = 1.0
    z = (x - x.mean(axis=0)) / std
    col = 0
    for fs, f in zip(sets, factors, strict=True):
        z[:, col : col + fs.dim] *= np.sqrt(f)
        col += fs.dim
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return z @ vt[:k].T


def _same_up_to_sign(a: np.ndarray, b: np.ndarray) -> None:
    signs = np.sign((a * b).sum(axis=0))
    np.testing.assert_allclose(a, b * signs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("solver", SOLVERS)
def test_explicit_weight_matches_the_reference(solver: str) -> None:
    sets = _sets()
    emb = Embedding(4, svd_solver=solver, block_weights={"hand": 5})
    out = emb.fit_transform(sets)
    _same_up_to_sign(np.asarray(out.matrix, dtype=np.float64), _reference(sets, [1.0, 5.0], 4))
    # standardised variances: cnn 6 dims, hand 2 (one constant) times 5 = 10
    assert emb.block_variance_share_ == pytest.approx({"cnn": 6 / 16, "hand": 10 / 16})


@pytest.mark.parametrize("solver", SOLVERS)
def test_equal_shares_match_the_reference(solver: str) -> None:
    sets = _sets()
    emb = Embedding(4, svd_solver=solver, block_weights=EQUAL_BLOCKS)
    out = emb.fit_transform(sets)
    # total 8 (6 + 2 non-constant dims) split in two halves of 4
    factors = [4 / 6, 4 / 2]
    _same_up_to_sign(np.asarray(out.matrix, dtype=np.float64), _reference(sets, factors, 4))
    assert emb.block_variance_share_ == pytest.approx({"cnn": 0.5, "hand": 0.5})


def test_no_weights_is_unchanged_and_reports_shares() -> None:
    sets = _sets()
    plain = Embedding(4).fit(sets)
    ones = Embedding(4, block_weights={"cnn": 1.0, "hand": 1.0}).fit(sets)
    np.testing.assert_array_equal(plain.scale_, ones.scale_)
    np.testing.assert_allclose(plain.components_, ones.components_)
    assert plain.block_variance_share_ == pytest.approx({"cnn": 0.75, "hand": 0.25})
    assert plain.describe()["block_weights"] is None


def test_without_standardize_equal_uses_raw_variances() -> None:
    sets = _sets()
    emb = Embedding(3, standardize=False, block_weights=EQUAL_BLOCKS).fit(sets)
    raw = [float(np.asarray(fs.matrix, np.float64).var(axis=0).sum()) for fs in sets]
    np.testing.assert_allclose(emb.scale_[:6], np.sqrt(raw[0] / (sum(raw) / 2)), rtol=1e-6)
    np.testing.assert_allclose(emb.scale_[6:], np.sqrt(raw[1] / (sum(raw) / 2)), rtol=1e-6)
    assert emb.block_variance_share_ == pytest.approx({"cnn": 0.5, "hand": 0.5})


def test_weights_apply_to_new_items_and_survive_saving(tmp_path: Path) -> None:
    train = _sets(40, seed=0)
    new = _sets(7, seed=1)
    emb = Embedding(3, block_weights={"hand": 3.0}).fit(train)
    x = np.hstack([np.asarray(fs.matrix, np.float64) for fs in train])
    std = x.std(axis=0)
    std[std == 0] = 1.0
    std[6:] /= np.sqrt(3.0)
    np.testing.assert_allclose(emb.scale_, std, rtol=1e-6)
    x_new = np.hstack([np.asarray(fs.matrix, np.float64) for fs in new])
    expected = ((x_new - x.mean(axis=0)) / std) @ emb.components_.T
    np.testing.assert_allclose(emb.transform(new).matrix, expected, rtol=1e-4, atol=1e-4)
    emb.save(tmp_path, "w")
    loaded = Embedding.load(tmp_path, "w")
    assert loaded.block_weights == {"hand": 3.0}
    assert loaded.block_variance_share_ == pytest.approx(emb.block_variance_share_)
    np.testing.assert_array_equal(loaded.transform(new).matrix, emb.transform(new).matrix)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"colour": 2.0}, "block weight for 'colour', which is not one of the feature sets"),
        ({"hand": 0}, "block weight of 'hand' must be a positive number"),
        ({"hand": float("nan")}, "block weight of 'hand' must be a positive number"),
        ("balanced", "block_weights must be a mapping"),
    ],
)
def test_bad_weights(weights: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        Embedding(2, block_weights=weights).fit(_sets())  # type: ignore[arg-type]


def test_build_embedding_defaults_to_the_workspace_feature_sets(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    with pytest.raises(DataError, match="has no feature sets; extract some"):
        default_feature_names(ws)
    cnn, hand = _sets()
    ws.upsert_items(Catalog(cnn.item_ids))
    cnn.save(ws.features_dir)
    hand.save(ws.features_dir)
    assert default_feature_names(ws) == ["cnn", "hand"]
    vectors = build_embedding(ws, n_components=3, block_weights=EQUAL_BLOCKS)
    assert vectors.name == "hybrid"
    assert vectors.meta["inputs"] == ["cnn", "hand"]
    assert vectors.meta["block_weights"] == "equal"
    assert vectors.meta["block_variance_share"] == pytest.approx({"cnn": 0.5, "hand": 0.5})
    assert ws.get_meta("default_embedding") == "hybrid"


def test_cli_embed_defaults_and_block_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``artrec embed`` with no --features uses the workspace's sets; --block-weight and
    --block-weights equal give the reference's vectors; bad weights are one-line errors."""
    from artrec.cli import main
    from artrec.embedding import load_embedding

    ws = Workspace.create(tmp_path / "ws")
    cnn, hand = _sets()
    ws.upsert_items(Catalog(cnn.item_ids))
    cnn.save(ws.features_dir)
    hand.save(ws.features_dir)
    root = str(ws.root)
    assert main(["embed", "-w", root, "--n-components", "3", "--block-weight", "hand=5"]) == 0
    out = capsys.readouterr().out
    assert "block weights hand x5: share of the variance" in out
    got = np.asarray(load_embedding(ws, "hybrid").matrix, dtype=np.float64)
    _same_up_to_sign(got, _reference((cnn, hand), [1.0, 5.0], 3))
    argv = ["embed", "-w", root, "--n-components", "3", "--name", "eq", "--block-weights", "equal"]
    assert main(argv) == 0
    assert "block weights equal: share of the variance cnn 50%, hand 50%" in capsys.readouterr().out
    meta = load_embedding(ws, "eq").meta
    shares = meta["block_variance_share"]
    assert meta["inputs"] == ["cnn", "hand"] and shares == pytest.approx({"cnn": 0.5, "hand": 0.5})
    for bad, message in (
        (["--block-weight", "hand"], "must look like NAME=VALUE"),
        (["--block-weight", "hand=x"], "must be a number"),
        (["--block-weight", "hand=-1"], "must be a positive number"),
        (["--block-weight", "other=2"], "not one of the feature sets"),
        (["--block-weights", "unequal"], "block_weights must be"),
    ):
        assert main(["embed", "-w", root, "--n-components", "3", "--name", "x", *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert "x" not in ws.embedding_names()
