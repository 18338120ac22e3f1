"""The exact index: the shared index contract plus blocking, updates and the factory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from artrec.errors import DataError, MissingDependencyError, UnknownIdError
from artrec.index.exact import ExactIndex
from artrec.index.factory import INDEX_KINDS, make_index
from artrec.similarity import METRICS
from contracts.index_contract import IndexContract, reference_similarity


class TestExactIndex(IndexContract):
    def make_index(self, metric: str) -> ExactIndex:
        return ExactIndex(metric)

    def load_index(self, directory: Path) -> ExactIndex:
        return ExactIndex.load(directory)


class TestExactIndexTinyBlocks(IndexContract):
    """Blocks of 3 queries x 4 items must give exactly the unblocked answers."""

    def make_index(self, metric: str) -> ExactIndex:
        return ExactIndex(metric, batch_size=3, item_block=4)

    def load_index(self, directory: Path) -> ExactIndex:
        return ExactIndex.load(directory, mmap=False)


class TestExactIndexFloat64(IndexContract):
    atol = 1e-9

    def make_index(self, metric: str) -> ExactIndex:
        return ExactIndex(metric, dtype="float64")

    def load_index(self, directory: Path) -> ExactIndex:
        return ExactIndex.load(directory)


@pytest.mark.parametrize("metric", METRICS)
def test_blocking_does_not_change_results(metric: str) -> None:
    rng = np.random.default_rng(0)
    # few distinct values -> many exact ties, the hard case for merging blocks
    x = rng.integers(0, 3, size=(97, 4)).astype(np.float32)
    q = x[:31]
    ex = np.arange(31)
    whole = ExactIndex(metric).build(x, range(97)).search(q, 12, exclude_rows=ex)
    blocked = ExactIndex(metric, batch_size=5, item_block=7).build(x, range(97))
    got = blocked.search(q, 12, exclude_rows=ex)
    np.testing.assert_array_equal(whole[0], got[0])
    # BLAS may round differently for other block shapes (1 ulp), never more
    np.testing.assert_allclose(whole[1], got[1], rtol=1e-6, atol=1e-6)
    # the lists follow (score desc, row asc) and hold the true best scores
    ref = np.nan_to_num(reference_similarity(q, x, metric), nan=0.0)  # zero rows score 0
    ref[np.arange(31), ex] = -np.inf
    for i in range(31):
        rows_i, scores_i = got[0][i], got[1][i]
        assert rows_i.tolist() == rows_i[np.lexsort((rows_i, -scores_i))].tolist()
        np.testing.assert_allclose(scores_i, -np.sort(-ref[i])[:12], atol=1e-5)


def test_add_remove_hide_without_rebuild(tmp_path: Path) -> None:
    x = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    index = ExactIndex("euclidean").build(x, ["a", "b", "c"])
    rows = index.add(np.array([[1, 0.1], [5, 5]], dtype=np.float32), ["d", "e"])
    assert rows.tolist() == [3, 4]
    ids, scores = index.similar("a", 2)
    assert ids.tolist() == ["d", "c"]
    np.testing.assert_allclose(scores, [-0.1, -1.0], atol=1e-6)
    index.hide(["d"])
    assert index.similar("a", 1)[0].tolist() == ["c"]
    index.save(tmp_path / "i")
    loaded = ExactIndex.load(tmp_path / "i")
    assert loaded.similar("a", 1)[0].tolist() == ["c"]  # hidden rows persist
    index.unhide(["d"])
    assert index.similar("a", 1)[0].tolist() == ["d"]
    assert index.remove(["d", "c"]) == 2
    assert index.item_ids_.tolist() == ["a", "b", "e"]
    assert index.similar("a", 2)[0].tolist() == ["b", "e"]
    with pytest.raises(UnknownIdError, match="'c'"):
        index.hide(["c"])
    with pytest.raises(DataError, match="already"):
        index.add(np.zeros((1, 2), dtype=np.float32), ["a"])
    with pytest.raises(DataError, match="dimension"):
        index.add(np.zeros((1, 3), dtype=np.float32), ["z"])


def test_load_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="index.json"):
        ExactIndex.load(tmp_path)
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(DataError, match="index.json"):
        ExactIndex.load(tmp_path)
    index = ExactIndex().build(np.eye(3, dtype=np.float32), ["a", "b", "c"])
    index.save(tmp_path / "ok")
    (tmp_path / "ok" / "ids.json").write_text('["a", "b"]')
    with pytest.raises(DataError, match="disagree"):
        ExactIndex.load(tmp_path / "ok")
    (tmp_path / "ok" / "vectors.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="vectors.npy"):
        ExactIndex.load(tmp_path / "ok")


def test_bad_parameters() -> None:
    with pytest.raises(DataError, match="unknown metric 'hamming'"):
        ExactIndex("hamming").build(np.eye(2, dtype=np.float32), ["a", "b"])
    with pytest.raises(DataError, match="batch_size"):
        ExactIndex(batch_size=0).build(np.eye(2, dtype=np.float32), ["a", "b"])
    with pytest.raises(DataError, match="not unique"):
        ExactIndex().build(np.eye(2, dtype=np.float32), ["a", "a"])
    with pytest.raises(DataError, match="build"):
        ExactIndex().search(np.eye(2, dtype=np.float32), 1)


def test_memory_is_bounded_by_blocks() -> None:
    """A 20,000-item search in blocks of 64 x 2,048 never allocates a 20,000-wide matrix."""
    import tracemalloc

    rng = np.random.default_rng(5)
    x = rng.normal(size=(20_000, 16)).astype(np.float32)
    index = ExactIndex("euclidean", batch_size=64, item_block=2048).build(x, range(20_000))
    q = x[:256]
    tracemalloc.start()
    index.search(q, 10)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full = 256 * 20_000 * 8  # what an unblocked float64 score matrix would take
    assert peak < full / 4


def test_factory() -> None:
    index = make_index("exact", "manhattan", batch_size=7)
    assert isinstance(index, ExactIndex) and index.metric == "manhattan" and index.batch_size == 7
    assert "exact" in INDEX_KINDS and "faiss-hnsw" in INDEX_KINDS
    with pytest.raises(DataError, match="exact, faiss-flat"):
        make_index("annoy")
    with pytest.raises(DataError, match="unknown metric"):
        make_index("exact", "hamming")
    with pytest.raises(DataError, match="bad parameters"):
        make_index("exact", "cosine", nprobe=3)


def test_factory_faiss_kinds_are_lazy() -> None:
    try:
        index = make_index("faiss-flat", "cosine")
    except MissingDependencyError as exc:
        assert "faiss" in str(exc)
    else:
        assert type(index).__module__ == "artrec.index.faiss_index"
