"""The FAISS index: the shared index contract for every kind, recall against the exact
index at the default parameters, updates without a rebuild, and persistence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faiss")

from artrec.errors import DataError, UnknownIdError
from artrec.index.exact import ExactIndex
from artrec.index.factory import make_index
from artrec.index.faiss_index import FaissIndex, default_nlist, default_nprobe
from artrec.index.store import load_index
from artrec.recommend.candidates import rank_with_index
from contracts.index_contract import IndexContract

FAISS_METRICS = ("cosine", "dot", "euclidean")


class TestFaissFlat(IndexContract):
    metrics = FAISS_METRICS

    def make_index(self, metric: str) -> FaissIndex:
        return FaissIndex("flat", metric)

    def load_index(self, directory: Path) -> FaissIndex:
        return FaissIndex.load(directory)


class TestFaissIVF(IndexContract):
    metrics = FAISS_METRICS

    def make_index(self, metric: str) -> FaissIndex:
        return FaissIndex("ivf", metric)

    def load_index(self, directory: Path) -> FaissIndex:
        return FaissIndex.load(directory)


class TestFaissHNSW(IndexContract):
    """At fixed default parameters HNSW is exact on the contract's small catalogues."""

    metrics = FAISS_METRICS

    def make_index(self, metric: str) -> FaissIndex:
        return FaissIndex("hnsw", metric, target_recall=None)

    def load_index(self, directory: Path) -> FaissIndex:
        return FaissIndex.load(directory)


class TestFaissHNSWTuned(IndexContract):
    """Tuned to its default target recall (0.95), HNSW is approximate."""

    metrics = FAISS_METRICS
    approximate = True

    def make_index(self, metric: str) -> FaissIndex:
        return FaissIndex("hnsw", metric)

    def load_index(self, directory: Path) -> FaissIndex:
        return FaissIndex.load(directory)


# -- recall at the default parameters ---------------------------------------------------------
def clustered(n: int, d: int, seed: int = 0, latent: int = 16) -> np.ndarray:
    """Unit vectors with low intrinsic dimension in uneven clusters (like a PCA embedding)."""
    rng = np.random.default_rng(seed)
    n_clusters = max(10, n // 200)
    weights = rng.zipf(1.5, n_clusters).astype(np.float64)
    labels = rng.choice(n_clusters, size=n, p=weights / weights.sum())
    z = rng.normal(size=(n_clusters, latent))[labels] * 2 + rng.normal(size=(n, latent))
    x = z @ rng.normal(size=(latent, d)) / np.sqrt(latent) + 0.1 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
@pytest.mark.parametrize("metric", FAISS_METRICS)
def test_recall_at_10_against_exact_at_default_parameters(kind: str, metric: str) -> None:
    both = clustered(12_200, 32)
    x, queries = both[:12_000], both[12_000:]  # queries: same distribution, not indexed
    if metric == "dot":  # give the vectors different lengths so dot differs from cosine
        x = x * np.random.default_rng(5).uniform(0.5, 2.0, size=(len(x), 1)).astype(np.float32)
    ids = np.arange(len(x)).astype(str)
    truth, truth_scores = ExactIndex(metric, dtype="float64").build(x, ids).search(queries, 10)
    rows, scores = FaissIndex(kind, metric).build(x, ids).search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, truth, strict=True)])
    assert recall >= 0.95, f"{kind}/{metric}: recall@10 {recall:.3f}"
    if kind == "flat":
        np.testing.assert_array_equal(rows, truth)
    # Scores are exact similarities of the returned rows.
    hit = rows == truth
    np.testing.assert_allclose(scores[hit], truth_scores[hit], atol=1e-5)


def test_default_parameters_follow_the_documented_rules() -> None:
    assert default_nlist(1_000_000) == 4000
    assert default_nlist(100) == 2  # at most n // 39
    assert default_nlist(10) == 1
    assert default_nprobe(4000) == 500
    assert default_nprobe(100) == 16
    assert default_nprobe(4) == 4
    index = FaissIndex("ivf", target_recall=None).build(clustered(2000, 8), np.arange(2000))
    assert index.get_params()["nlist"] == 51 and index.get_params()["nprobe"] == 16
    assert (
        FaissIndex("ivf", nprobe=3)
        .build(clustered(2000, 8), np.arange(2000))
        .get_params()["nprobe"]
        == 3
    )


# -- updates without a rebuild -----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_add_equals_building_everything_at_once(kind: str) -> None:
    x = clustered(3000, 16, seed=2)
    ids = [f"a{r}" for r in range(3000)]
    whole = FaissIndex(kind, "cosine", nlist=20, nprobe=20).build(x, ids)
    grown = FaissIndex(kind, "cosine", nlist=20, nprobe=20).build(x[:2000], ids[:2000])
    new_rows = grown.add(x[2000:], ids[2000:])
    assert new_rows.tolist() == list(range(2000, 3000))
    assert grown.n_items == 3000 and grown.item_ids_.tolist() == ids
    np.testing.assert_array_equal(grown.vectors_of(np.array([5, 2500])), x[[5, 2500]])
    q = x[::50]
    r1, s1 = whole.search(q, 10)
    r2, s2 = grown.search(q, 10)
    if kind == "hnsw":  # a graph built in two steps differs; both must be near-exact
        assert np.mean(r1 == r2) > 0.97
    else:
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_allclose(s1, s2, atol=1e-6)
    found, _ = grown.similar("a2500", 3, include_self=True)
    assert found[0] == "a2500"


def test_add_rejects_bad_input() -> None:
    index = FaissIndex("flat", "euclidean").build(np.eye(3, dtype=np.float32), ["a", "b", "c"])
    with pytest.raises(DataError, match="'b' is already in the index"):
        index.add(np.ones((1, 3), np.float32), ["b"])
    with pytest.raises(DataError, match="dimension 4"):
        index.add(np.ones((1, 4), np.float32), ["d"])
    with pytest.raises(DataError, match="item 'e'"):
        index.add(np.array([[1, np.inf, 0]], np.float32), ["e"])
    with pytest.raises(DataError, match="duplicate item id 'f'"):
        index.add(np.ones((2, 3), np.float32), ["f", "f"])
    assert index.n_items == 3


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_hide_and_unhide(kind: str) -> None:
    # On a line, the neighbours of 0 are 1, 2, 3, ... in order.
    x = np.arange(50, dtype=np.float32)[:, None] * np.array([[1.0, 0.0]], dtype=np.float32)
    ids = [str(r) for r in range(50)]
    index = FaissIndex(kind, "euclidean", nlist=1).build(x, ids)
    rows, _ = index.search(x[[0]], 3, exclude_rows=np.array([0]))
    assert rows[0].tolist() == [1, 2, 3]
    assert index.hide(["1", "3"]) == 2
    assert index.hidden_ids.tolist() == ["1", "3"] and index.n_visible == 48
    rows, scores = index.search(x[[0]], 3, exclude_rows=np.array([0]))
    assert rows[0].tolist() == [2, 4, 5]
    assert scores[0].tolist() == [-2.0, -4.0, -5.0]
    # A hidden item can still be queried by id; it is just never returned.
    found, _ = index.similar("1", 2)
    assert found.tolist() == ["0", "2"]
    assert index.unhide(["1"]) == 1
    rows, _ = index.search(x[[0]], 3, exclude_rows=np.array([0]))
    assert rows[0].tolist() == [1, 2, 4]
    with pytest.raises(UnknownIdError, match="'zz'"):
        index.hide(["zz"])


def test_everything_hidden_gives_padding() -> None:
    index = FaissIndex("hnsw", "cosine").build(np.eye(3, dtype=np.float32), ["a", "b", "c"])
    index.hide(["a", "b", "c"])
    rows, scores = index.search(np.eye(3, dtype=np.float32), 2)
    assert (rows == -1).all() and np.isneginf(scores).all()


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_remove_moves_later_rows_up(kind: str, tmp_path: Path) -> None:
    x = np.arange(20, dtype=np.float32)[:, None] * np.array([[1.0, 0.0]], dtype=np.float32)
    ids = [f"i{r}" for r in range(20)]
    index = FaissIndex(kind, "euclidean", nlist=1).build(x, ids)
    assert index.remove(["i1", "i2"]) == 2
    assert index.n_items == 18 and index.n_removed == 2
    assert index.item_ids_.tolist()[:3] == ["i0", "i3", "i4"]
    rows, scores = index.search(x[[0]], 3, exclude_rows=np.array([0]))
    assert rows[0].tolist() == [1, 2, 3]  # i3, i4, i5 at their new rows
    assert scores[0].tolist() == [-3.0, -4.0, -5.0]
    np.testing.assert_array_equal(index.vectors_of(np.array([1])), x[[3]])
    # Adding after a removal appends new rows after the survivors.
    assert index.add(np.array([[0.5, 0.0]], np.float32), ["half"]).tolist() == [18]
    found, scores = index.similar("i0", 2)
    assert found.tolist() == ["half", "i3"] and scores.tolist() == [-0.5, -3.0]
    index.hide(["half"])
    index.save(tmp_path / "idx")
    loaded = FaissIndex.load(tmp_path / "idx")
    assert loaded.item_ids_.tolist() == index.item_ids_.tolist()
    assert loaded.hidden_ids.tolist() == ["half"] and loaded.n_removed == 2
    found, scores = loaded.similar("i0", 2)
    assert found.tolist() == ["i3", "i4"] and scores.tolist() == [-3.0, -4.0]
    with pytest.raises(UnknownIdError, match="'i1'"):
        loaded.similar("i1", 2)


def test_loaded_vectors_are_memory_mapped_and_survive_add(tmp_path: Path) -> None:
    x = clustered(500, 8)
    index = FaissIndex("hnsw", "cosine", M=8, ef_search=40).build(x, np.arange(500))
    index.save(tmp_path / "idx")
    loaded = FaissIndex.load(tmp_path / "idx")
    assert isinstance(loaded._base, np.memmap)
    assert loaded.get_params()["M"] == 8 and loaded.get_params()["ef_search"] == 40
    loaded.add(clustered(600, 8, seed=9)[500:], np.arange(500, 600))
    loaded.save(tmp_path / "idx")  # rewrites vectors.npy while it is memory-mapped
    again = FaissIndex.load(tmp_path / "idx")
    assert again.n_items == 600
    np.testing.assert_array_equal(
        again.vectors_of(np.arange(600)), loaded.vectors_of(np.arange(600))
    )
    assert isinstance(load_index(tmp_path / "idx"), FaissIndex)


def test_ivf_parameters_survive_save_and_load(tmp_path: Path) -> None:
    x = clustered(4000, 8)
    index = FaissIndex("ivf", "dot", nlist=30, nprobe=7).build(x, np.arange(4000))
    index.save(tmp_path / "ivf")
    loaded = FaissIndex.load(tmp_path / "ivf")
    assert loaded.get_params()["nlist"] == 30 and loaded.get_params()["nprobe"] == 7
    q = x[:20]
    np.testing.assert_array_equal(index.search(q, 5)[0], loaded.search(q, 5)[0])


# -- configuration and bad input ---------------------------------------------------------------
def test_configuration_errors_are_named() -> None:
    with pytest.raises(DataError, match="'manhattan' is not supported"):
        FaissIndex("flat", "manhattan")
    with pytest.raises(DataError, match="unknown FAISS index kind 'lsh'"):
        FaissIndex("lsh")
    with pytest.raises(DataError, match="nprobe must be an integer >= 1"):
        FaissIndex("ivf", nprobe=0)
    with pytest.raises(DataError, match="unknown FAISS parameter 'nprob'"):
        FaissIndex.from_params("ivf", "cosine", {"nprob": "3"})
    with pytest.raises(DataError, match="'nprobe' does not apply to a FAISS 'hnsw'"):
        FaissIndex.from_params("hnsw", "cosine", {"nprobe": "3"})
    with pytest.raises(DataError, match="must be an integer, got 'many'"):
        FaissIndex.from_params("hnsw", "cosine", {"M": "many"})
    with pytest.raises(DataError, match="nlist=10 exceeds the number of items"):
        FaissIndex("ivf", nlist=10).build(np.eye(3, dtype=np.float32), ["a", "b", "c"])
    with pytest.raises(DataError, match="not built"):
        FaissIndex().search(np.ones((1, 3)), 2)
    with pytest.raises(DataError, match="zero items"):
        FaissIndex().build(np.zeros((0, 3), np.float32), [])
    with pytest.raises(DataError, match="duplicate item id 'a'"):
        FaissIndex().build(np.eye(2, dtype=np.float32), ["a", "a"])


def test_from_params_and_factory() -> None:
    index = FaissIndex.from_params("hnsw", "dot", {"efSearch": "200", "M": "12"})
    assert (index.ef_search, index.M, index.metric) == (200, 12, "dot")
    made = make_index("faiss-ivf", "euclidean", nlist=5, nprobe=2)
    assert isinstance(made, FaissIndex) and (made.kind, made.nlist, made.nprobe) == ("ivf", 5, 2)
    assert make_index("faiss-hnsw", "cosine", efConstruction=40).ef_construction == 40
    with pytest.raises(DataError, match="unknown FAISS parameter 'bogus'"):
        make_index("faiss-flat", "cosine", bogus=1)


def test_corrupt_saved_index_is_named(tmp_path: Path) -> None:
    index = FaissIndex("flat", "cosine").build(np.eye(4, dtype=np.float32), list("abcd"))
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / "index.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(DataError, match="index.faiss"):
        FaissIndex.load(tmp_path / "idx")
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / "ids.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(DataError, match="labels.npy"):
        FaissIndex.load(tmp_path / "idx")
    (tmp_path / "idx" / "index.json").write_text("{")
    with pytest.raises(DataError, match="not valid JSON"):
        FaissIndex.load(tmp_path / "idx")
    with pytest.raises(DataError, match="no such file"):
        FaissIndex.load(tmp_path / "missing")


# -- the recommender on top of it ------------------------------------------------------------
def test_batch_ranking_on_faiss_equals_ranking_on_exact() -> None:
    x = clustered(3000, 16, seed=4)
    ids = np.arange(3000).astype(str)
    rng = np.random.default_rng(0)
    profiles = [rng.choice(3000, size=4, replace=False) for _ in range(30)]
    exact = rank_with_index(ExactIndex("cosine").build(x, ids), profiles, k=10, n_candidates=50)
    flat = rank_with_index(
        FaissIndex("flat", "cosine").build(x, ids), profiles, k=10, n_candidates=50
    )
    np.testing.assert_array_equal(flat.rows, exact.rows)
    np.testing.assert_allclose(flat.scores, exact.scores, atol=1e-5)
    hnsw = rank_with_index(
        FaissIndex("hnsw", "cosine").build(x, ids), profiles, k=10, n_candidates=50
    )
    assert np.mean(hnsw.rows == exact.rows) > 0.95


def test_candidate_rows_fast_path() -> None:
    x = np.arange(30, dtype=np.float32)[:, None] * np.array([[1.0, 0.0]], dtype=np.float32)
    index = FaissIndex("flat", "euclidean").build(x, [str(r) for r in range(30)])
    rows = index.candidate_rows(x[[0, 29]], 3)
    assert rows.tolist() == [[0, 1, 2], [29, 28, 27]]
    index.hide(["1"])
    index.remove(["2"])  # rows after 2 move up: item "3" is now row 2
    assert index.candidate_rows(x[[0]], 3).tolist() == [[0, 2, 3]]
    assert index.candidate_rows(x[[0]], 40)[0, -1] == -1  # fewer visible items than asked
    with pytest.raises(DataError, match="dimension 3"):
        index.candidate_rows(np.ones((1, 3)), 2)


# -- self-tuning ----------------------------------------------------------------------------------
def _independent_recall(index: FaissIndex, x: np.ndarray, seed: int, k: int = 10) -> float:
    """Recall@k on catalogue queries other than the tuning sample, against the exact index."""
    rows = np.random.default_rng(seed).choice(len(x), 300, replace=False)
    exact = ExactIndex(index.metric, dtype="float64").build(x, np.arange(len(x)))
    truth, _ = exact.search(x[rows], k, exclude_rows=rows)
    found, _ = index.search(x[rows], k, exclude_rows=rows)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth, strict=True)]))


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_tuning_reaches_its_target_on_iid_gaussian_data(kind: str) -> None:
    """i.i.d. Gaussian vectors have no structure to exploit: from deliberately weak starting
    points (a sparse graph; IVF's default few cells scanned) the tuning must raise the
    query-time parameter until recall@10 reaches 0.95, confirmed on other queries."""
    x = np.random.default_rng(0).normal(size=(6000, 48)).astype(np.float32)
    ids = np.arange(len(x))
    weak = {"M": 6, "ef_construction": 20} if kind == "hnsw" else {}
    untuned = FaissIndex(kind, "euclidean", target_recall=None, **weak).build(x, ids)
    assert _independent_recall(untuned, x, seed=1) < 0.9  # the defaults are not enough here
    index = FaissIndex(kind, "euclidean", target_recall=0.95, **weak).build(x, ids)
    tuning = index.tuning_
    assert tuning is not None and tuning["reached"]
    assert tuning["recall_low"] >= 0.95 and tuning["queries"] == 500 and tuning["k"] == 10
    name = "ef_search" if kind == "hnsw" else "nprobe"
    assert tuning["params"][name] == index.get_params()[name]
    assert any(t["params"] == tuning["params"] for t in tuning["tried"])
    if kind == "hnsw":
        assert tuning["params"]["M"] == 6  # pinned build parameters are kept
    assert _independent_recall(index, x, seed=2) >= 0.93


def test_pinned_search_parameter_is_measured_not_changed() -> None:
    x = np.random.default_rng(3).normal(size=(3000, 32)).astype(np.float32)
    index = FaissIndex("hnsw", "cosine", M=4, ef_construction=8, ef_search=16).build(
        x, np.arange(len(x))
    )
    assert index.get_params()["ef_search"] == 16
    tuning = index.tuning_
    assert tuning is not None and len(tuning["tried"]) == 1
    assert tuning["reached"] == (tuning["recall_low"] >= 0.95)
    assert tuning["params"] == {"M": 4, "ef_construction": 8, "ef_search": 16}


def test_tuning_is_saved_and_read_back(tmp_path: Path) -> None:
    from artrec.index.faiss_index import index_tuning

    x = clustered(3000, 16)
    index = FaissIndex("hnsw", "cosine").build(x, np.arange(len(x)))
    index.save(tmp_path / "idx")
    assert index_tuning(tmp_path / "idx") == index.tuning_
    loaded = FaissIndex.load(tmp_path / "idx")
    assert loaded.tuning_ == index.tuning_ and loaded.get_params() == index.get_params()
    np.testing.assert_array_equal(loaded.search(x[:20], 10)[0], index.search(x[:20], 10)[0])
    untuned = FaissIndex("flat", "cosine").build(x, np.arange(len(x)))
    untuned.save(tmp_path / "flat")
    assert index_tuning(tmp_path / "flat") is None
    with pytest.raises(DataError, match="not an artrec FAISS index"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "index.json").write_text("{}")
        index_tuning(tmp_path / "other")


def test_target_recall_is_validated_and_parsed() -> None:
    for bad in (0.0, 1.5, -1, "x", True):
        with pytest.raises(DataError, match="target_recall"):
            FaissIndex("hnsw", target_recall=bad)  # type: ignore[arg-type]
    assert FaissIndex.from_params("hnsw", "cosine", {"target_recall": "0.9"}).target_recall == 0.9
    assert FaissIndex.from_params("ivf", "cosine", {"target_recall": "none"}).target_recall is None
    assert FaissIndex.from_params("hnsw", "cosine", {"target_recall": "0"}).target_recall is None
