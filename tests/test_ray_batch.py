"""Batch recommendation on Ray actors: the same run directory as the local path, array for
array, for a recommender and for indexes (FAISS with hidden items included), and
``artrec recommend-all --engine ray`` end to end. Runs on a small local Ray instance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from _ray import local_ray  # noqa: E402

pytest.importorskip("faiss")

from _visrank_workspace import build_workspace  # noqa: E402
from artrec.cli import main  # noqa: E402
from artrec.index.exact import ExactIndex  # noqa: E402
from artrec.index.faiss_index import FaissIndex  # noqa: E402
from artrec.recommend.base import TrainData  # noqa: E402
from artrec.recommend.batch import load_batch, recommend_all  # noqa: E402
from artrec.recommend.candidates import IndexCandidateRecommender  # noqa: E402
from artrec.recommend.ray_batch import ray_ranker  # noqa: E402
from artrec.recommend.visrank import VisRankRecommender  # noqa: E402

pytestmark = pytest.mark.slow

__all__ = ["local_ray"]  # the shared fixture, used by name


def _data(n_items: int = 600, n_users: int = 230, seed: int = 0) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n_items, 16)).astype(np.float32)
    profiles = {
        f"u{u}": rng.choice(n_items, size=int(rng.integers(1, 8)), replace=False)
        for u in range(n_users)
    }
    return vectors, profiles


def _same_runs(a: Path, b: Path) -> None:
    ra, rb = load_batch(a), load_batch(b)
    assert ra.complete and rb.complete
    for name in ("rows", "scores", "because", "reasons"):
        np.testing.assert_array_equal(getattr(ra, name), getattr(rb, name))
    np.testing.assert_array_equal(ra.user_ids, rb.user_ids)
    np.testing.assert_array_equal(ra.item_ids, rb.item_ids)


def test_visrank_on_ray_equals_the_local_run(local_ray: None, tmp_path: Path) -> None:
    vectors, profiles = _data()
    ids = np.arange(len(vectors)).astype(str)
    available = np.ones(len(vectors), dtype=bool)
    available[::7] = False  # sold works
    rec = VisRankRecommender("cosine", "sum_distance").fit(TrainData(len(vectors), vectors))
    common = {"k": 10, "chunk_size": 40, "item_ids": ids, "available": available}
    local = recommend_all(rec, profiles, tmp_path / "local", **common)
    seen: list[tuple[int, int]] = []
    on_ray = recommend_all(
        rec,
        profiles,
        tmp_path / "ray",
        progress=lambda done, total: seen.append((done, total)),
        ranker=ray_ranker(num_actors=2),
        **common,
    )
    assert on_ray.n_chunks == local.n_chunks == 6 and on_ray.computed_chunks == 6
    assert seen[-1] == (230, 230) and len(seen) == 6
    _same_runs(tmp_path / "local", tmp_path / "ray")


@pytest.mark.parametrize("kind", ["exact", "faiss-hnsw"])
def test_indexes_on_ray_equal_the_local_run(local_ray: None, tmp_path: Path, kind: str) -> None:
    vectors, profiles = _data(seed=1)
    ids = np.arange(len(vectors)).astype(str)
    if kind == "exact":
        index = ExactIndex("cosine").build(vectors, ids)
    else:
        index = FaissIndex("hnsw", "cosine").build(vectors, ids)
        index.hide(ids[:25])  # hidden rows travel as a FAISS selector, rebuilt in the actors
        index.search(vectors[:2], 5)  # the selector cache exists before pickling
    source = IndexCandidateRecommender(index, "mean", n_candidates=30).fit(TrainData(len(ids)))
    common = {"k": 8, "chunk_size": 64, "item_ids": ids}
    recommend_all(source, profiles, tmp_path / "local", **common)
    recommend_all(source, profiles, tmp_path / "ray", ranker=ray_ranker(), **common)
    _same_runs(tmp_path / "local", tmp_path / "ray")


def test_a_run_started_locally_is_finished_on_ray(local_ray: None, tmp_path: Path) -> None:
    vectors, profiles = _data(seed=2)
    ids = np.arange(len(vectors)).astype(str)
    rec = VisRankRecommender("dot", "max").fit(TrainData(len(vectors), vectors))
    recommend_all(rec, profiles, tmp_path / "whole", k=5, chunk_size=50, item_ids=ids)
    first = dict(list(profiles.items()))
    result = recommend_all(rec, first, tmp_path / "split", k=5, chunk_size=50, item_ids=ids)
    done = np.load(tmp_path / "split" / "done.npy")
    done[[1, 3]] = False  # as if interrupted: two chunks missing
    np.save(tmp_path / "split" / "done.npy", done)
    again = recommend_all(
        rec, first, tmp_path / "split", k=5, chunk_size=50, item_ids=ids, ranker=ray_ranker()
    )
    assert result.computed_chunks == 5 and again.computed_chunks == 2
    _same_runs(tmp_path / "whole", tmp_path / "split")


def test_recommend_all_engine_ray_cli(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "ws"
    build_workspace(root)
    base = ["recommend-all", "-w", str(root), "--no-progress", "--format", "json"]
    assert main([*base, "--run", "local", "--chunk-size", "1"]) == 0
    assert main([*base, "--run", "ray", "--chunk-size", "1", "--engine", "ray"]) == 0
    out = capsys.readouterr().out
    assert out.count('"run"') == 2
    _same_runs(root / "recommendations" / "local", root / "recommendations" / "ray")
    meta = json.loads((root / "recommendations" / "ray" / "meta.json").read_text())
    assert meta["n_chunks"] >= 2  # the users were split across the actors
