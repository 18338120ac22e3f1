"""The Engine facade on a real workspace: public-art records, thumbnails' pixel embedding,
real SQLite (the users' events are simulated)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import distance

from _visrank_workspace import build_workspace
from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.engine import Engine, Neighbour, Recommendation
from artrec.errors import ArtrecError, DataError, UnknownIdError
from artrec.vectors import FeatureSet


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("engine"))


@pytest.fixture
def fresh_ws(tmp_path: Path) -> Workspace:
    return build_workspace(tmp_path, n_items=60)


def vectors_by_id(ws: Workspace) -> dict[str, np.ndarray]:
    fs = FeatureSet.load(ws.embeddings_dir, "pixels")
    return {
        i: np.asarray(fs.matrix[r], dtype=np.float64) for r, i in enumerate(fs.item_ids.tolist())
    }


def slow_recommend(
    ws: Workspace, liked: list[str], k: int, exclude: set[str] | None = None
) -> list[tuple[str, str]]:
    """Sum of SciPy cosine distances to the liked items, ascending; (item, because) pairs."""
    vec = vectors_by_id(ws)
    ids = ws.catalog().item_ids.tolist()
    skip = set(liked) | (exclude or set())
    sums = [(sum(distance.cosine(vec[i], vec[p]) for p in liked), row) for row, i in enumerate(ids)]
    out = []
    for _, row in sorted(sums):
        item = ids[row]
        if item in skip:
            continue
        because = min(liked, key=lambda p: (distance.cosine(vec[item], vec[p]), liked.index(p)))
        out.append((item, because))
        if len(out) == k:
            break
    return out


def test_open_and_describe(ws: Workspace) -> None:
    engine = Engine.from_workspace(ws.root)
    assert engine.embedding_names == ["pixels"]
    assert engine.default_embedding == "pixels"
    assert isinstance(engine.catalog, Catalog) and engine.catalog.n_items == 120
    with pytest.raises(DataError, match="no embedding 'nope'"):
        Engine.from_workspace(ws, embedding="nope")
    with pytest.raises(DataError, match="index kind"):
        Engine.from_workspace(ws, index="annoy")
    with pytest.raises(ArtrecError, match="no artrec workspace"):
        Engine.from_workspace(ws.root / "missing")


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_similar_equals_brute_force(ws: Workspace, metric: str) -> None:
    engine = Engine.from_workspace(ws)
    vec = vectors_by_id(ws)
    ids = engine.catalog.item_ids.tolist()
    query = ids[7]
    got = engine.similar(query, 5, metric=metric)
    assert all(isinstance(n, Neighbour) for n in got) and len(got) == 5
    scipy_name = {"cosine": "cosine", "euclidean": "euclidean", "manhattan": "cityblock"}[metric]
    dist = {i: float(getattr(distance, scipy_name)(vec[query], vec[i])) for i in ids if i != query}
    expected = sorted(dist, key=lambda i: (dist[i], ids.index(i)))[:5]
    assert [n.item_id for n in got] == expected
    sims = [1 - dist[i] if metric == "cosine" else -dist[i] for i in expected]
    np.testing.assert_allclose([n.score for n in got], sims, atol=1e-4)
    with_self = engine.similar(query, 3, metric=metric, include_self=True)
    assert with_self[0].item_id == query


def test_similar_errors(ws: Workspace) -> None:
    engine = Engine.from_workspace(ws)
    with pytest.raises(UnknownIdError, match="'no-such-art'"):
        engine.similar("no-such-art")
    with pytest.raises(DataError, match="k must be"):
        engine.similar(engine.catalog.item_ids[0], 0)
    with pytest.raises(DataError, match="unknown metric"):
        engine.similar(engine.catalog.item_ids[0], metric="hamming")


def test_recommend_equals_slow_reference(ws: Workspace) -> None:
    engine = Engine.from_workspace(ws)
    ids = engine.catalog.item_ids.tolist()
    liked = [ids[3], ids[40], ids[77]]
    got = engine.recommend(liked, 8)
    assert all(isinstance(r, Recommendation) for r in got)
    assert [(r.item_id, r.because_item_id) for r in got] == slow_recommend(ws, liked, 8)
    vec = vectors_by_id(ws)
    # the engine scores float32 prepared vectors (one copy shared with its index): scores
    # agree with SciPy's float64 to float32 precision
    for r in got:
        expected_score = -sum(distance.cosine(vec[r.item_id], vec[p]) for p in liked)
        assert r.score == pytest.approx(expected_score, abs=1e-6)
        assert r.because_score == pytest.approx(
            1 - distance.cosine(vec[r.item_id], vec[r.because_item_id]), abs=1e-6
        )
    # duplicates in the liked list count once; extra exclusions are honoured
    assert engine.recommend([*liked, ids[3]], 8) == got
    excl = [got[0].item_id, got[2].item_id]
    again = engine.recommend(liked, 8, exclude_item_ids=excl)
    assert [(r.item_id, r.because_item_id) for r in again] == slow_recommend(
        ws, liked, 8, set(excl)
    )


def test_recommend_options(ws: Workspace) -> None:
    engine = Engine.from_workspace(ws)
    ids = engine.catalog.item_ids.tolist()
    liked = [ids[10], ids[11]]
    plain = engine.recommend(liked, 6, aggregation="max", metric="euclidean")
    assert len(plain) == 6 and not {r.item_id for r in plain} & set(liked)
    assert engine.recommend(liked, 6, aggregation="max", metric="euclidean", diversify=1.0) == plain
    varied = engine.recommend(liked, 6, diversify=0.0)
    assert len(varied) == 6 and not {r.item_id for r in varied} & set(liked)
    assert len({r.item_id for r in varied}) == 6
    assert len(engine.recommend(liked, 500)) == 118  # capped by the catalogue
    with pytest.raises(DataError, match="no liked items"):
        engine.recommend([], 5)
    with pytest.raises(UnknownIdError, match="'ghost'"):
        engine.recommend([ids[0], "ghost"], 5)
    with pytest.raises(UnknownIdError, match="'ghost'"):
        engine.recommend([ids[0]], 5, exclude_item_ids=["ghost"])
    with pytest.raises(DataError, match="diversify"):
        engine.recommend(liked, 5, diversify=2.0)
    with pytest.raises(DataError, match="aggregation"):
        engine.recommend(liked, 5, aggregation="median")
    with pytest.raises(DataError, match="k must be"):
        engine.recommend(liked, -1)


def test_users_from_the_database(ws: Workspace) -> None:
    engine = Engine.from_workspace(ws)
    ids = engine.catalog.item_ids.tolist()
    u1 = engine.recommend_for_user("u1", 5)
    assert u1 == engine.recommend([ids[0], ids[5], ids[9]], 5)
    # u2's profile holds a purchase and a like; with kinds=("purchase",) only the purchase
    assert engine.recommend_for_user("u2", 5) == engine.recommend([ids[20], ids[21]], 5)
    only_bought = engine.recommend_for_user("u2", 5, kinds=("purchase",))
    assert only_bought == engine.recommend([ids[20]], 5)
    with pytest.raises(UnknownIdError, match="'u3'"):
        engine.recommend_for_user("u3", 5)  # only a "view" event
    with pytest.raises(UnknownIdError, match="'nobody'"):
        engine.recommend_for_user("nobody", 5)
    batch = engine.recommend_for_users(None, 5)
    assert set(batch) == {"u1", "u2"}
    # a batch is one matrix product: the same list, scores equal up to float32 BLAS rounding
    assert [(r.item_id, r.because_item_id) for r in batch["u1"]] == [
        (r.item_id, r.because_item_id) for r in u1
    ]
    np.testing.assert_allclose([r.score for r in batch["u1"]], [r.score for r in u1], rtol=1e-6)


def test_stock_is_read_from_its_one_owner(fresh_ws: Workspace) -> None:
    """The engine keeps no stock of its own: a sale recorded in the database is seen at once."""
    engine = Engine.from_workspace(fresh_ws)
    ids = engine.catalog.item_ids.tolist()
    liked = [ids[1]]
    top = engine.recommend(liked, 3)
    sold = top[0].item_id
    fresh_ws.set_in_stock([sold], False)
    after = engine.recommend(liked, 3)
    assert sold not in [r.item_id for r in after]
    assert after[:2] == top[1:]
    assert engine.recommend(liked, 3, only_in_stock=False) == top
    fresh_ws.set_in_stock([sold], True)
    assert engine.recommend(liked, 3) == top

    class Shop:
        """Another stock source (as the server's store is)."""

        def __init__(self) -> None:
            self.sold: frozenset[str] = frozenset()

        def sold_set(self) -> frozenset[str]:
            return self.sold

    shop = Shop()
    shop_engine = Engine.from_workspace(fresh_ws, stock=shop)
    assert shop_engine.recommend(liked, 3) == top
    shop.sold = frozenset({top[1].item_id, "not-in-the-catalogue"})
    assert [r.item_id for r in shop_engine.recommend(liked, 2)] == [top[0].item_id, top[2].item_id]


def test_items_without_vectors(fresh_ws: Workspace) -> None:
    new = Catalog(np.array(["new-1"], dtype=object), {"title": np.array(["New"], dtype=object)})
    fresh_ws.upsert_items(new)
    engine = Engine.from_workspace(fresh_ws)
    ids = engine.catalog.item_ids.tolist()
    assert "new-1" in ids
    with pytest.raises(DataError, match="no vector"):
        engine.similar("new-1")
    with pytest.raises(DataError, match="none of the liked items"):
        engine.recommend(["new-1"])
    recs = engine.recommend(["new-1", ids[0]], 100)
    assert "new-1" not in [r.item_id for r in recs] and len(recs) == 59
    assert "new-1" not in [n.item_id for n in engine.similar(ids[0], 100)]


def test_several_embeddings_need_a_choice(fresh_ws: Workspace) -> None:
    fs = FeatureSet.load(fresh_ws.embeddings_dir, "pixels")
    FeatureSet("pixels2", fs.item_ids, np.asarray(fs.matrix)[:, :4].copy()).save(
        fresh_ws.embeddings_dir
    )
    engine = Engine.from_workspace(fresh_ws)
    assert engine.embedding_names == ["pixels", "pixels2"]
    with pytest.raises(DataError, match="several embeddings"):
        engine.similar(fs.item_ids[0])
    assert len(engine.similar(fs.item_ids[0], 3, embedding="pixels2")) == 3
    fresh_ws.set_meta("default_embedding", "pixels2")
    assert Engine.from_workspace(fresh_ws).default_embedding == "pixels2"


def test_thread_safe_reads(ws: Workspace) -> None:
    engine = Engine.from_workspace(ws)
    ids = engine.catalog.item_ids.tolist()
    expected_sim = Engine.from_workspace(ws).similar(ids[2], 5, metric="correlation")
    expected_rec = Engine.from_workspace(ws).recommend(
        [ids[2], ids[50]], 5, aggregation="topm_mean"
    )
    errors: list[BaseException] = []
    results: list[tuple[list[Neighbour], list[Recommendation]]] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(
                    (
                        engine.similar(ids[2], 5, metric="correlation"),
                        engine.recommend([ids[2], ids[50]], 5, aggregation="topm_mean"),
                    )
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 40
    assert all(s == expected_sim and r == expected_rec for s, r in results)


def test_uses_the_index_saved_by_index_build(fresh_ws: Workspace, monkeypatch) -> None:
    """A FAISS index saved in the workspace is loaded, not rebuilt, and answers like exact."""
    from artrec.index import factory
    from artrec.index.faiss_index import FaissIndex
    from artrec.index.store import save_index

    fs = FeatureSet.load(fresh_ws.embeddings_dir, "pixels")
    saved = FaissIndex("flat", "cosine").build(np.asarray(fs.matrix), fs.item_ids)
    save_index(fresh_ws, saved, embedding="pixels", kind="faiss-flat")
    exact = Engine.from_workspace(fresh_ws).similar(fs.item_ids[0], k=5)

    def no_rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("the saved index should have been used")

    monkeypatch.setattr(factory, "make_index", no_rebuild)
    engine = Engine.from_workspace(fresh_ws, index="faiss-flat")
    got = engine.similar(fs.item_ids[0], k=5)
    assert [n.item_id for n in got] == [n.item_id for n in exact]
    np.testing.assert_allclose([n.score for n in got], [n.score for n in exact], atol=1e-5)
    # explicit parameters ask for a fresh index, which is built (and here refused)
    with pytest.raises(AssertionError, match="saved index"):
        Engine.from_workspace(fresh_ws, index="faiss-flat", index_params={"over_fetch": 2}).similar(
            fs.item_ids[0], k=5
        )


def test_which_items_have_vectors(fresh_ws: Workspace) -> None:
    fresh_ws.upsert_items(Catalog(np.array(["no-vector-yet"], dtype=object), {}))
    engine = Engine.from_workspace(fresh_ws)
    known = engine.catalog.item_ids.tolist()[:3]
    assert engine.with_vectors([known[1], "no-vector-yet", "ghost", known[0]]) == [
        known[1],
        known[0],
    ]
    assert engine.has_vector(known[2]) and not engine.has_vector("no-vector-yet")
    assert not engine.has_vector("ghost") and engine.with_vectors([]) == []
    with pytest.raises(DataError, match="no vector in embedding"):
        engine.similar("no-vector-yet")
