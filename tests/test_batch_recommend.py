"""Batch recommendation: known answers, equality with VisRank, resuming, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from artrec.errors import DataError, UnknownIdError
from artrec.index.exact import ExactIndex
from artrec.recommend.base import TrainData
from artrec.recommend.batch import load_batch, recommend_all
from artrec.recommend.candidates import IndexCandidateRecommender, rank_with_index
from artrec.recommend.visrank import VisRankRecommender

# Four items in the plane; under ``dot``:
#   profile [0]    -> row3 (2), row2 (1), row1 (0)
#   profile [0, 1] -> sum: row2 (1+1=2), row3 (2-1=1); max: row3 (2), row2 (1)
TINY = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]], dtype=np.float32)
TINY_IDS = ["a", "b", "c", "d"]


def _random(n: int = 300, d: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32)


def _over(index: ExactIndex) -> IndexCandidateRecommender:
    """The index as a recommender (candidates from the index, VisRank's sum)."""
    return IndexCandidateRecommender(index).fit(TrainData(index.n_items))


def _profiles(n_users: int, n_items: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        f"u{i}": rng.choice(n_items, size=int(rng.integers(1, 6)), replace=False)
        for i in range(n_users)
    }


def test_index_ranking_hand_computed() -> None:
    index = ExactIndex("dot").build(TINY, TINY_IDS)
    r = rank_with_index(index, [np.array([0]), np.array([0, 1])], k=3, aggregation="sum")
    assert r.rows[0].tolist() == [3, 2, 1]
    assert r.scores[0].tolist() == [2.0, 1.0, 0.0]
    assert r.because[0].tolist() == [0, 0, 0]
    assert r.rows[1].tolist() == [2, 3, -1]  # consumed rows 0 and 1 are excluded
    assert r.scores[1, :2].tolist() == [2.0, 1.0]
    assert r.because[1, :2].tolist() == [0, 0]  # row2: tie (1, 1) goes to the first entry
    m = rank_with_index(index, [np.array([0, 1])], k=2, aggregation="max")
    assert m.rows[0].tolist() == [3, 2]
    assert m.scores[0].tolist() == [2.0, 1.0]


@pytest.mark.parametrize("aggregation", ["sum", "sum_distance", "mean", "max", "topm_mean"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_index_path_equals_visrank_when_every_item_is_a_candidate(
    aggregation: str, metric: str
) -> None:
    vecs = _random()
    ids = [f"i{r}" for r in range(len(vecs))]
    profiles = list(_profiles(40, len(vecs)).values())
    rec = VisRankRecommender(metric, aggregation, m=2).fit(TrainData(len(vecs), vecs))
    expected = rec.rank(profiles, k=10)
    index = ExactIndex(metric, dtype="float64").build(vecs, ids)
    got = rank_with_index(
        index, profiles, k=10, aggregation=aggregation, m=2, n_candidates=len(vecs)
    )
    np.testing.assert_array_equal(got.rows, expected.rows)
    np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(got.because, expected.because)


def test_max_is_exact_with_k_plus_excluded_candidates() -> None:
    vecs = _random(500, 6, seed=3)
    profiles = list(_profiles(30, len(vecs), seed=4).values())
    index = ExactIndex("cosine", dtype="float64").build(vecs, [str(i) for i in range(500)])
    rec = VisRankRecommender("cosine", "max").fit(TrainData(len(vecs), vecs))
    expected = rec.rank(profiles, k=5)
    got = rank_with_index(index, profiles, k=5, aggregation="max", n_candidates=5 + 5)
    np.testing.assert_array_equal(got.rows, expected.rows)


def test_available_mask_and_hidden_items(tmp_path: Path) -> None:
    index = ExactIndex("dot").build(TINY, TINY_IDS)
    available = np.array([True, True, True, False])
    r = rank_with_index(index, [np.array([0])], k=3, available=available)
    assert r.rows[0].tolist() == [2, 1, -1]
    assert np.isneginf(r.scores[0, 2])


def test_empty_profile_gets_nothing() -> None:
    index = ExactIndex("dot").build(TINY, TINY_IDS)
    r = rank_with_index(index, [np.array([], dtype=np.int64), np.array([0])], k=2)
    assert r.rows[0].tolist() == [-1, -1]
    assert r.rows[1].tolist() == [3, 2]


def test_recommend_all_with_index_writes_and_reads_back(tmp_path: Path) -> None:
    index = ExactIndex("dot").build(TINY, TINY_IDS)
    calls: list[tuple[int, int]] = []
    res = recommend_all(
        _over(index),
        {"x": np.array([0]), "y": np.array([0, 1]), "z": np.array([3])},
        tmp_path / "run",
        item_ids=TINY_IDS,
        k=2,
        chunk_size=2,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert (res.n_users, res.n_chunks, res.computed_chunks) == (3, 2, 2)
    assert calls == [(2, 3), (3, 3)]
    run = load_batch(tmp_path / "run")
    assert run.complete
    assert run.for_user("x") == [
        {
            "item_id": "d",
            "score": 2.0,
            "because": "a",
            "reason": "similar",
            "reason_text": "because you bought a",
        },
        {
            "item_id": "c",
            "score": 1.0,
            "because": "a",
            "reason": "similar",
            "reason_text": "because you bought a",
        },
    ]
    assert [r["item_id"] for r in run.for_user("y")] == ["c", "d"]
    # z bought d = (2, -1): a scores 2, c scores 1, b scores -1.
    assert [r["item_id"] for r in run.for_user("z")] == ["a", "c"]
    with pytest.raises(UnknownIdError, match="nobody"):
        run.for_user("nobody")


def test_recommend_all_with_recommender_equals_rank(tmp_path: Path) -> None:
    vecs = _random(200, 5)
    ids = [f"i{r}" for r in range(200)]
    profiles = _profiles(25, 200)
    rec = VisRankRecommender("cosine", "sum_distance").fit(TrainData(200, vecs))
    recommend_all(rec, profiles, tmp_path / "r", k=7, chunk_size=4, item_ids=ids)
    run = load_batch(tmp_path / "r")
    expected = rec.rank(list(profiles.values()), k=7)
    np.testing.assert_array_equal(run.rows, expected.rows)
    np.testing.assert_allclose(run.scores, expected.scores.astype(np.float32))
    np.testing.assert_array_equal(run.because, expected.because)
    assert run.user_ids.tolist() == list(profiles)


def test_resume_after_interruption(tmp_path: Path) -> None:
    vecs = _random(150, 6)
    ids = [str(i) for i in range(150)]
    index = _over(ExactIndex("cosine").build(vecs, ids))
    profiles = _profiles(50, 150)

    class Stop(Exception):
        pass

    def interrupt(done: int, total: int) -> None:
        if done >= 20:
            raise Stop

    with pytest.raises(Stop):
        recommend_all(
            index, profiles, tmp_path / "run", item_ids=ids, k=5, chunk_size=10, progress=interrupt
        )
    partial = load_batch(tmp_path / "run")
    assert partial.done.tolist() == [True, True, False, False, False]
    with pytest.raises(DataError, match="not written yet"):
        partial.for_user("u45")
    res = recommend_all(index, profiles, tmp_path / "run", item_ids=ids, k=5, chunk_size=10)
    assert res.computed_chunks == 3
    recommend_all(index, profiles, tmp_path / "full", item_ids=ids, k=5, chunk_size=10)
    a, b = load_batch(tmp_path / "run"), load_batch(tmp_path / "full")
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.because, b.because)
    assert a.complete
    # A finished run is skipped entirely.
    assert (
        recommend_all(
            index, profiles, tmp_path / "run", item_ids=ids, k=5, chunk_size=10
        ).computed_chunks
        == 0
    )


def test_reusing_a_run_with_other_settings_is_refused(tmp_path: Path) -> None:
    index = _over(ExactIndex("dot").build(TINY, TINY_IDS))
    profiles = {"x": np.array([0])}
    recommend_all(index, profiles, tmp_path / "run", item_ids=TINY_IDS, k=2)
    with pytest.raises(DataError, match="other users or settings"):
        recommend_all(index, profiles, tmp_path / "run", item_ids=TINY_IDS, k=3)
    with pytest.raises(DataError, match="other users or settings"):
        recommend_all(
            index, profiles, tmp_path / "run", item_ids=TINY_IDS, k=2, describe={"metric": "x"}
        )
    with pytest.raises(DataError, match="already exists"):
        recommend_all(index, profiles, tmp_path / "run", item_ids=TINY_IDS, k=2, resume=False)


def test_bad_input_is_named(tmp_path: Path) -> None:
    index = ExactIndex("dot").build(TINY, TINY_IDS)
    with pytest.raises(DataError, match="profile 0 holds a row outside"):
        rank_with_index(index, [np.array([7])], k=2)
    with pytest.raises(DataError, match="unknown aggregation 'median'"):
        rank_with_index(index, [np.array([0])], aggregation="median")
    with pytest.raises(DataError, match="k must be >= 1"):
        rank_with_index(index, [np.array([0])], k=0)
    with pytest.raises(DataError, match="must be a Recommender"):
        recommend_all("nope", {"x": np.array([0])}, tmp_path / "r2", item_ids=TINY_IDS)  # type: ignore[arg-type]
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "meta.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_batch(tmp_path / "broken")


def test_recommend_all_stores_each_recommendation_s_reason(tmp_path: Path) -> None:
    """Reason codes per recommendation (here metadata affinity: artist, else century) are
    stored beside ``because`` and read back with their texts; a run written before reason
    codes were stored still loads (no reasons) and resumes with them."""
    from artrec.recommend.batch import NO_REASON
    from artrec.recommend.metadata import MetadataAffinityRecommender

    artists = np.array(["ann", "ann", "bo", "bo", "cy", "cy"], dtype=object)
    century = np.array(["19", "20", "19", "20", "19", "20"], dtype=object)
    data = TrainData(6, artists=artists, metadata={"century": century})
    rec = MetadataAffinityRecommender(weights={"artist": 1.0, "century": 0.3}).fit(data)
    ids = ["a0", "a1", "b0", "b1", "c0", "c1"]
    profiles = {"u": np.array([0]), "v": np.array([3]), "w": np.array([], dtype=np.int64)}
    recommend_all(rec, profiles, tmp_path / "r", item_ids=ids, k=3, chunk_size=2)
    run = load_batch(tmp_path / "r")
    expected = rec.rank(list(profiles.values()), k=3)
    assert expected.reasons is not None
    codes = [[run.reason_codes[c] for c in row] for row in run.reasons.tolist()]
    assert codes == expected.reasons.tolist()
    got = run.for_user("u")
    assert [(r["item_id"], r["reason"], r["because"]) for r in got] == [
        ("a1", "artist", "a0"),  # same artist as a0
        ("b0", "century", "a0"),  # same century
        ("c0", "century", "a0"),
    ]
    assert got[0]["reason_text"] == "by an artist you collect"
    assert got[1]["reason_text"] == "from a period you collect"
    # an older run without reasons.npy: loads with no reasons, and a resume adds them
    (tmp_path / "r" / "reasons.npy").unlink()
    (tmp_path / "r" / "reasons.json").unlink()
    old = load_batch(tmp_path / "r")
    assert {r["reason"] for r in old.for_user("u")} == {""}
    done = np.lib.format.open_memmap(tmp_path / "r" / "done.npy", mode="r+")
    done[1] = False
    done.flush()
    del done
    recommend_all(rec, profiles, tmp_path / "r", item_ids=ids, k=3, chunk_size=2)
    resumed = load_batch(tmp_path / "r")
    assert (resumed.reasons[:2] == NO_REASON).all()  # chunk 0 kept as written
    assert [resumed.reason_codes[c] for c in resumed.reasons[2].tolist()] == list(
        expected.reasons[2]
    )
