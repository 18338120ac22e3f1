"""The contract every :class:`~artrec.index.base.SimilarityIndex` must honour.

Use it by subclassing :class:`IndexContract` in a test module and overriding
:meth:`IndexContract.make_index` (and, for persistent indexes, :meth:`IndexContract.load_index`)::

    class TestMyIndex(IndexContract):
        metrics = ("cosine", "dot", "euclidean")   # the metrics the index supports
        def make_index(self, metric):
            return MyIndex(metric=metric)

Every test that takes a ``metric`` argument runs once per entry of ``metrics``. The
known-answer fixtures are small grids and fans of vectors whose neighbours can be worked
out by hand; the reference for every metric is :func:`scipy.spatial.distance.cdist`.
Approximate indexes set ``approximate = True``: they must then return correct scores for
the rows they return and a recall of at least ``min_recall`` against the exact answer.

An index that declares :class:`~artrec.index.base.MutableIndex` must also honour the
``test_mutable_*`` tests (add, hide/unhide, remove, save/load of the changed index) and
every index the ``test_candidate_rows_*`` tests; the mutable tests check nothing for an
index that does not declare it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from artrec.errors import ArtrecError, DataError, UnknownIdError
from artrec.index.base import MutableIndex, SimilarityIndex
from artrec.similarity import METRICS

_SCIPY = {
    "cosine": "cosine",
    "correlation": "correlation",
    "euclidean": "euclidean",
    "manhattan": "cityblock",
    "chebyshev": "chebyshev",
}


def reference_similarity(queries: np.ndarray, items: np.ndarray, metric: str) -> np.ndarray:
    """Slow, obvious similarities from SciPy (float64): the conventions of artrec.index.base."""
    q = np.asarray(queries, dtype=np.float64)
    x = np.asarray(items, dtype=np.float64)
    if metric == "dot":
        return np.array([[float(np.dot(a, b)) for b in x] for a in q])
    dist = cdist(q, x, _SCIPY[metric])
    if metric in ("cosine", "correlation"):
        return 1.0 - dist
    return -dist


def grid_points(n: int = 5) -> np.ndarray:
    """The n x n integer grid as 2-D points, row r = (r // n, r % n) (a "checkerboard")."""
    return np.array([[r // n, r % n] for r in range(n * n)], dtype=np.float32)


class IndexContract:
    """Mixin of contract tests for a :class:`SimilarityIndex` implementation."""

    #: Metrics the index under test supports.
    metrics: tuple[str, ...] = METRICS
    #: Whether results may miss true neighbours (then recall is checked instead of equality).
    approximate: bool = False
    #: Minimum recall@k against the exact answer for approximate indexes.
    min_recall: float = 0.9
    #: Tolerance on scores (float32 arithmetic).
    atol: float = 1e-4

    # -- to override ---------------------------------------------------------------------
    def make_index(self, metric: str) -> SimilarityIndex:
        """A new, empty index under ``metric``."""
        raise NotImplementedError

    def load_index(self, directory: Path) -> SimilarityIndex | None:
        """Read an index saved by ``save(directory)``; ``None`` if the index cannot persist."""
        return None

    # -- parametrisation -----------------------------------------------------------------
    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "metric" in metafunc.fixturenames:
            metafunc.parametrize("metric", list(metafunc.cls.metrics))

    def build(self, metric: str, vectors: np.ndarray, ids: Any = None) -> SimilarityIndex:
        if ids is None:
            ids = [f"item{r}" for r in range(len(vectors))]
        return self.make_index(metric).build(np.asarray(vectors, dtype=np.float32), ids)

    def _need(self, metric: str, *wanted: str) -> None:
        if metric not in wanted:
            pytest.skip(f"this known answer is for {', '.join(wanted)}")

    # -- known answers -------------------------------------------------------------------
    def test_grid_neighbours_of_centre(self, metric: str) -> None:
        """On a 5x5 grid the 4 (8 for chebyshev) cells around the centre are its neighbours."""
        if metric not in ("euclidean", "manhattan", "chebyshev"):
            return
        index = self.build(metric, grid_points(5))
        centre = 12  # (2, 2)
        k = 8 if metric == "chebyshev" else 4
        rows, scores = index.search(grid_points(5)[[centre]], k, exclude_rows=np.array([centre]))
        expected = [6, 7, 8, 11, 13, 16, 17, 18] if metric == "chebyshev" else [7, 11, 13, 17]
        if not self.approximate:
            assert rows[0].tolist() == expected  # all tied at distance 1: ordered by row
        assert set(rows[0].tolist()) <= set(expected) | {-1}
        np.testing.assert_allclose(scores[0][rows[0] >= 0], -1.0, atol=self.atol)
        # The next ring: for euclidean the diagonal cells at sqrt(2).
        if metric == "euclidean" and not self.approximate:
            rows8, scores8 = index.search(
                grid_points(5)[[centre]], 8, exclude_rows=np.array([centre])
            )
            assert rows8[0].tolist() == [7, 11, 13, 17, 6, 8, 16, 18]
            np.testing.assert_allclose(scores8[0, 4:], -np.sqrt(2.0), atol=self.atol)

    def test_fan_of_directions(self, metric: str) -> None:
        """A fan of directions around the x axis: +-10 degrees first (tied, by row), then
        +-20, then 45 and 90 degrees; lengths do not matter to cosine."""
        if metric != "cosine":
            return
        degrees = np.array([0, 10, -10, 20, -20, 90, 45])
        scale = np.array([1, 2, 2, 5, 5, 3, 0.5])[:, None]
        rad = np.deg2rad(degrees)
        vecs = np.stack([np.cos(rad), np.sin(rad)], axis=1) * scale
        index = self.build(metric, vecs)
        rows, scores = index.search(vecs[[0]], 6, exclude_rows=np.array([0]))
        if not self.approximate:
            assert rows[0].tolist() == [1, 2, 3, 4, 6, 5]
        np.testing.assert_allclose(
            scores[0], np.cos(np.deg2rad([10, 10, 20, 20, 45, 90])), atol=self.atol
        )

    def test_dot_and_correlation_known(self, metric: str) -> None:
        """Hand-computed inner products and correlations."""
        if metric == "dot":
            vecs = np.array([[1, 0], [2, 0], [3, 0], [0, 5], [-1, 0]], dtype=np.float32)
            rows, scores = self.build(metric, vecs).search(vecs[[0]], 4, exclude_rows=np.array([0]))
            assert rows[0].tolist() == [2, 1, 3, 4]
            np.testing.assert_allclose(scores[0], [3, 2, 0, -1], atol=self.atol)
        elif metric == "correlation":
            vecs = np.array([[1, 2, 3], [3, 5, 7], [3, 2, 1], [1, 3, 2]], dtype=np.float32)
            rows, scores = self.build(metric, vecs).search(vecs[[0]], 3, exclude_rows=np.array([0]))
            assert rows[0].tolist() == [1, 3, 2]
            np.testing.assert_allclose(scores[0], [1.0, 0.5, -1.0], atol=self.atol)

    def test_matches_scipy_reference(self, metric: str) -> None:
        """Scores and neighbours agree with SciPy's cdist on random data."""
        rng = np.random.default_rng(7)
        x = rng.normal(size=(160, 8)).astype(np.float32)
        q = rng.normal(size=(25, 8)).astype(np.float32)
        k = 10
        index = self.build(metric, x)
        rows, scores = index.search(q, k)
        ref = reference_similarity(q, x, metric)
        assert rows.shape == (25, k) and scores.shape == (25, k)
        assert rows.dtype == np.int64
        # returned scores are the true similarities of the returned rows
        np.testing.assert_allclose(
            scores, np.take_along_axis(ref, rows, axis=1), atol=self.atol, rtol=1e-4
        )
        best = -np.sort(-ref, axis=1)[:, :k]
        if self.approximate:
            truth = np.argsort(-ref, axis=1, kind="stable")[:, :k]
            recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(rows, truth, strict=True)])
            assert recall >= self.min_recall
        else:
            np.testing.assert_allclose(scores, best, atol=self.atol, rtol=1e-4)
            assert (np.diff(scores, axis=1) <= 1e-6).all()

    # -- shapes, padding, ties -------------------------------------------------------------
    def test_padding_when_few_items(self, metric: str) -> None:
        rng = np.random.default_rng(1)
        x = rng.normal(size=(5, 3)).astype(np.float32)
        index = self.build(metric, x)
        rows, scores = index.search(x[:2], 8, exclude_rows=np.array([0, 1]))
        assert rows.shape == (2, 5) and scores.shape == (2, 5)  # k is clamped to the 5 items
        assert (rows[:, :4] >= 0).all() and (rows[:, 4:] == -1).all()
        assert np.isneginf(scores[:, 4:]).all() and np.isfinite(scores[:, :4]).all()
        assert 0 not in rows[0].tolist() and 1 not in rows[1].tolist()

    def test_huge_k_is_clamped_to_the_index(self, metric: str) -> None:
        """``k = 2**31`` on 5 items allocates 5 columns (it would need 16 GiB otherwise)."""
        x = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
        index = self.build(metric, x)
        rows, scores = index.search(x[:1], 2**31)
        assert rows.shape == (1, 5) and scores.shape == (1, 5)
        assert sorted(rows[0].tolist()) == [0, 1, 2, 3, 4]
        ids, _ = index.similar(index.item_ids_[0], 2**31)
        assert len(ids) == 5 and ids[-1] is None  # the query itself is left out: one pad
        for bad in (0, -1, 1.5, True, "3"):
            with pytest.raises(DataError, match="k must be a positive integer"):
                index.search(x[:1], bad)  # type: ignore[arg-type]

    def test_ties_broken_by_row(self, metric: str) -> None:
        """Identical vectors score identically and come back in row order."""
        base = np.array([0.3, -1.2, 2.0, 0.7], dtype=np.float32)
        other = np.array([5.0, 1.0, -3.0, 0.1], dtype=np.float32)
        x = np.stack([other, base, other * 2, base, base, other * 3, base])
        index = self.build(metric, x)
        rows, scores = index.search(base[None, :], 4, exclude_rows=np.array([1]))
        if metric == "dot":
            return  # dot favours long vectors; ties are checked for the other metrics
        assert rows[0].tolist() == [3, 4, 6, rows[0, 3]]
        assert scores[0, 0] == scores[0, 1] == scores[0, 2]

    def test_similar_by_id(self, metric: str) -> None:
        rng = np.random.default_rng(2)
        x = rng.normal(size=(30, 4)).astype(np.float32)
        ids = [f"art-{r}" for r in range(30)]
        index = self.build(metric, x, ids)
        found, scores = index.similar("art-3", 5)
        assert found.shape == (5,) and scores.shape == (5,)
        assert "art-3" not in found.tolist()
        assert all(isinstance(i, str) for i in found.tolist())
        many, many_scores = index.similar(["art-3", "art-7"], 5)
        assert many.shape == (2, 5) and many_scores.shape == (2, 5)
        assert many[0].tolist() == found.tolist()
        if metric != "dot":  # under dot a longer vector may beat the query itself
            with_self, _ = index.similar("art-3", 5, include_self=True)
            assert with_self[0] == "art-3"

    def test_unknown_id_is_named(self, metric: str) -> None:
        index = self.build(metric, np.eye(3, dtype=np.float32), ["a", "b", "c"])
        with pytest.raises(UnknownIdError, match="nope"):
            index.similar("nope", 2)
        with pytest.raises(UnknownIdError, match="zz"):
            index.similar(["a", "zz"], 2)

    def test_bad_input_is_an_error(self, metric: str) -> None:
        x = np.ones((4, 3), dtype=np.float32)
        x[2, 1] = np.nan
        with pytest.raises(DataError):
            self.build(metric, x)
        index = self.build(metric, np.eye(3, dtype=np.float32))
        with pytest.raises(ArtrecError):
            index.search(np.eye(3, dtype=np.float32), 0)
        with pytest.raises(ArtrecError):
            index.search(np.ones((1, 5), dtype=np.float32), 2)

    def test_zero_vector_scores_without_nan(self, metric: str) -> None:
        x = np.array([[0, 0, 0], [1, 2, 3], [3, 1, 2], [2, 2, 2]], dtype=np.float32)
        index = self.build(metric, x)
        rows, scores = index.search(x, 4)
        assert np.isfinite(scores).all()
        if metric in ("cosine", "correlation"):
            # the zero vector (and, for correlation, the constant one) has no direction: 0
            ref = reference_similarity(x, x, metric)
            ref = np.nan_to_num(ref, nan=0.0)
            np.testing.assert_allclose(
                scores, np.take_along_axis(ref, rows, axis=1), atol=self.atol
            )

    def test_vectors_of_returns_what_was_built(self, metric: str) -> None:
        rng = np.random.default_rng(3)
        x = rng.normal(size=(12, 5)).astype(np.float32)
        index = self.build(metric, x)
        np.testing.assert_allclose(index.vectors_of(np.array([4, 0, 11])), x[[4, 0, 11]], atol=1e-6)
        assert index.dim == 5 and index.n_items == 12

    def test_save_load_round_trip(self, metric: str, tmp_path: Path) -> None:
        rng = np.random.default_rng(4)
        x = rng.normal(size=(40, 6)).astype(np.float32)
        index = self.build(metric, x, [f"id{r}" for r in range(40)])
        try:
            index.save(tmp_path / "idx")
        except NotImplementedError:
            pytest.skip("this index cannot be saved")
        loaded = self.load_index(tmp_path / "idx")
        assert loaded is not None, "save() works, so load_index() must be provided"
        q = rng.normal(size=(7, 6)).astype(np.float32)
        r1, s1 = index.search(q, 5)
        r2, s2 = loaded.search(q, 5)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_allclose(s1, s2, atol=1e-6)
        assert loaded.item_ids_.tolist() == index.item_ids_.tolist()
        assert loaded.metric == metric

    # -- the mutable-index interface ----------------------------------------------------------
    def _mutable(self, metric: str, n: int = 40, seed: int = 5) -> tuple[Any, np.ndarray]:
        x = np.random.default_rng(seed).normal(size=(n, 6)).astype(np.float32)
        index = self.build(metric, x[: n - 10], [f"m{r}" for r in range(n - 10)])
        return index, x

    def test_mutable_add_appends_rows(self, metric: str) -> None:
        index, x = self._mutable(metric)
        if not isinstance(index, MutableIndex):
            return
        rows = index.add(x[30:], [f"m{r}" for r in range(30, 40)])
        assert rows.tolist() == list(range(30, 40)) and index.n_items == 40
        np.testing.assert_allclose(index.vectors_of(rows), x[30:], atol=1e-6)
        found, _ = index.similar("m35", 1, include_self=True)
        if metric != "dot":
            assert found.tolist() == ["m35"]
        full = self.build(metric, x, [f"m{r}" for r in range(40)])
        r_added, s_added = index.search(x[:5], 5)
        r_full, s_full = full.search(x[:5], 5)
        if not self.approximate:
            np.testing.assert_array_equal(r_added, r_full)
        np.testing.assert_allclose(s_added[:, 0], s_full[:, 0], atol=self.atol)
        with pytest.raises(DataError):
            index.add(x[:1], ["m3"])  # already indexed
        with pytest.raises(DataError):
            index.add(np.ones((1, 4), dtype=np.float32), ["new"])  # another dimension
        bad = x[:1].copy()
        bad[0, 0] = np.nan
        with pytest.raises(DataError):
            index.add(bad, ["nan"])

    def test_mutable_hide_and_unhide(self, metric: str) -> None:
        index, x = self._mutable(metric)
        if not isinstance(index, MutableIndex):
            return
        n = index.n_items
        assert index.hide(["m1", "m2"]) == 2
        assert index.hide(["m1"]) == 0  # already hidden
        rows, _ = index.search(x[:n], n)
        assert not {1, 2} & set(rows.ravel().tolist())
        assert (rows >= 0).sum(axis=1).max() <= n - 2
        found, _ = index.similar("m1", 3)  # a hidden item may still be the query
        assert "m2" not in found.tolist()
        assert index.unhide(["m1", "m2", "m3"]) == 2
        rows, _ = index.search(x[[1]], n)
        assert 1 in rows[0].tolist() and 2 in rows[0].tolist()
        with pytest.raises(UnknownIdError, match="ghost"):
            index.hide(["ghost"])

    def test_mutable_remove_moves_rows_up(self, metric: str) -> None:
        index, x = self._mutable(metric)
        if not isinstance(index, MutableIndex):
            return
        assert index.remove(["m0", "m5"]) == 2
        assert index.n_items == 28 and index.item_ids_.tolist()[:5] == [
            "m1",
            "m2",
            "m3",
            "m4",
            "m6",
        ]
        np.testing.assert_allclose(index.vectors_of(np.array([4])), x[[6]], atol=1e-6)
        keep = [r for r in range(30) if r not in (0, 5)]
        rows, _ = index.search(x[keep], 27)
        assert rows.max() < 28
        assert not {"m0", "m5"} & set(index.similar("m1", 27, include_self=True)[0].tolist())
        if not self.approximate:
            fresh = self.build(metric, x[keep], [f"m{r}" for r in keep])
            np.testing.assert_array_equal(rows, fresh.search(x[keep], 27)[0])
        with pytest.raises(UnknownIdError, match="m0"):
            index.remove(["m0"])

    def test_mutable_changes_survive_save_and_load(self, metric: str, tmp_path: Path) -> None:
        index, x = self._mutable(metric)
        if not isinstance(index, MutableIndex):
            return
        index.add(x[30:], [f"m{r}" for r in range(30, 40)])
        index.hide(["m2", "m33"])
        index.save(tmp_path / "changed")
        loaded = type(index).load(tmp_path / "changed")
        assert isinstance(loaded, MutableIndex)
        assert loaded.item_ids_.tolist() == index.item_ids_.tolist()
        r1, s1 = index.search(x, 8)
        r2, s2 = loaded.search(x, 8)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_allclose(s1, s2, atol=1e-6)
        assert not {2, 33} & set(r2.ravel().tolist())
        assert loaded.unhide(["m2", "m33"]) == 2

    def test_candidate_rows_are_valid_neighbours(self, metric: str) -> None:
        index, x = self._mutable(metric)
        rows = index.candidate_rows(x[:7], 5)
        assert rows.shape == (7, 5) and rows.dtype == np.int64
        assert ((rows >= -1) & (rows < index.n_items)).all()
        exact = self.build(metric, x[:30], [f"m{r}" for r in range(30)]).search(x[:7], 5)[0]
        if not self.approximate:
            assert [sorted(r) for r in rows.tolist()] == [sorted(r) for r in exact.tolist()]
        if isinstance(index, MutableIndex):
            index.hide(["m0"])
            assert 0 not in index.candidate_rows(x[:7], 5).ravel().tolist()
