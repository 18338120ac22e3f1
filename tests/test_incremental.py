"""Incremental updates: refit advice with known answers, streaming append, and adding /
hiding real artworks (public-art thumbnails, hand-engineered features) without a refit or
an index rebuild."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.embedding import Embedding, build_embedding
from artrec.errors import DataError, UnknownIdError
from artrec.incremental import (
    add_artworks,
    captured_variance,
    refit_advice,
    remove_artworks,
    restock_artworks,
)
from artrec.index.exact import ExactIndex
from artrec.index.store import load_index, save_index
from artrec.vectors import FeatureSet, append_rows


# -- refit advice: hand-computed cases ---------------------------------------------------------
def _plane_embedding() -> Embedding:
    """Fitted on (+-1, 0, 0) and (0, +-1, 0): mean 0, two components spanning the x-y plane,
    explained variance ratio 1."""
    x = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=np.float32)
    fs = FeatureSet("f", ["a", "b", "c", "d"], x)
    return Embedding(2, standardize=False).fit([fs])


def test_captured_variance_hand_computed() -> None:
    emb = _plane_embedding()
    assert float(np.sum(emb.explained_variance_ratio_)) == pytest.approx(1.0)

    def captured(rows: list[list[float]]) -> float:
        ids = [f"n{i}" for i in range(len(rows))]
        return captured_variance(emb, [FeatureSet("f", ids, np.array(rows, dtype=np.float32))])

    assert captured([[3, 4, 0]]) == pytest.approx(1.0)  # in the plane
    assert captured([[0, 0, 2]]) == pytest.approx(0.0)  # orthogonal to it
    assert captured([[1, 0, 1]]) == pytest.approx(0.5)  # |(1,0)|^2 / |(1,0,1)|^2
    assert captured([[1, 0, 1], [0, 0, 2]]) == pytest.approx(1 / 6)  # 1 / (2 + 4)


def test_refit_advice_growth_rule() -> None:
    emb = _plane_embedding()  # fitted on 4 items
    assert not refit_advice(emb, 7).refit
    advice = refit_advice(emb, 8)
    assert advice.refit and advice.growth == 2.0
    assert "2.00x" in advice.reasons[0] and "refit the PCA" in advice.message()
    assert refit_advice(emb, 6, growth_threshold=1.5).refit


def test_refit_advice_drift_rule() -> None:
    emb = _plane_embedding()
    ids = [f"n{i}" for i in range(10)]
    in_plane = FeatureSet("f", ids, np.tile(np.array([[2, 1, 0]], np.float32), (10, 1)))
    tilted = FeatureSet("f", ids, np.tile(np.array([[1, 0, 1]], np.float32), (10, 1)))
    slight = FeatureSet("f", ids, np.tile(np.array([[1, 0, 0.2]], np.float32), (10, 1)))
    assert not refit_advice(emb, 5, [in_plane]).refit
    advice = refit_advice(emb, 5, [tilted])
    assert advice.refit and advice.captured == pytest.approx(0.5)
    assert "50.0%" in advice.reasons[0]
    # 1 / 1.04 = 96.2% captured: within the 5-point tolerance, over it with 3 points.
    assert not refit_advice(emb, 5, [slight]).refit
    assert refit_advice(emb, 5, [slight], drift_threshold=0.03).refit
    few = refit_advice(emb, 5, [FeatureSet("f", ["x"], np.array([[0, 0, 1]], np.float32))])
    assert not few.refit and few.captured is None and "too few" in few.notes[0]


# -- appending rows ----------------------------------------------------------------------------
def test_append_rows_streams_and_checks(tmp_path: Path) -> None:
    FeatureSet("e", ["a", "b"], np.array([[1, 2], [3, 4]], np.float32), {"k": "v"}).save(tmp_path)
    out = append_rows(tmp_path, "e", FeatureSet("e", ["c"], np.array([[5, 6]], np.float32)))
    assert out.item_ids.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(out.matrix, [[1, 2], [3, 4], [5, 6]])
    assert out.meta["k"] == "v" and out.meta["n_appended"] == 1 and out.meta["n_items"] == 3
    with pytest.raises(DataError, match="'a' is already in 'e'"):
        append_rows(tmp_path, "e", FeatureSet("e", ["a"], np.array([[0, 0]], np.float32)))
    with pytest.raises(DataError, match="3-dimensional"):
        append_rows(tmp_path, "e", FeatureSet("e", ["z"], np.ones((1, 3), np.float32)))
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


# -- end to end on real images ----------------------------------------------------------------
def _public_art() -> Path:
    home = os.environ.get("ARTREC_DATA_HOME")
    if not home or not (Path(home) / "public-art" / "data.json").is_file():
        pytest.skip("ARTREC_DATA_HOME does not point at the datasets folder")
    return Path(home) / "public-art"


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A workspace of 30 real artworks, embedded and indexed, then grown by 10 (+1 broken)."""
    pytest.importorskip("faiss")
    from artrec.data.public_art import load_public_art
    from artrec.features.api import extract
    from artrec.index.faiss_index import FaissIndex

    folder = _public_art()
    full, _ = load_public_art(folder)
    catalog, _ = load_public_art(folder, item_ids=full.item_ids[:40].tolist())
    tmp = tmp_path_factory.mktemp("incremental")
    ws = Workspace.create(tmp / "ws")
    first = Catalog(
        catalog.item_ids[:30], {"title": catalog.metadata["title"][:30]}, catalog.image[:30]
    )
    ws.upsert_items(first)
    extract(ws, "handcrafted", workspace=ws, num_workers=0)
    build_embedding(ws, ["handcrafted"], "hc", n_components=6)
    before = FeatureSet.load(ws.embeddings_dir, "hc", mmap=False)
    vectors = np.asarray(before.matrix)
    save_index(
        ws,
        FaissIndex("flat", "cosine").build(vectors, before.item_ids),
        embedding="hc",
        kind="faiss-flat",
    )
    save_index(
        ws, ExactIndex("euclidean").build(vectors, before.item_ids), embedding="hc", kind="exact"
    )
    broken = tmp / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not a jpeg")
    new_ids = [*catalog.item_ids[30:40].tolist(), "broken-1"]
    new_images = [*catalog.image[30:40].tolist(), str(broken)]
    titles = [*catalog.metadata["title"][30:40].tolist(), "Broken"]
    new = Catalog(
        np.array(new_ids, dtype=object),
        {"title": np.array(titles, dtype=object)},
        np.array(new_images, dtype=object),
    )
    report = add_artworks(ws, new, extract_options={"num_workers": 0})
    return {"ws": ws, "report": report, "before": before, "new_ids": new_ids[:10]}


def test_add_extracts_only_new_images_and_skips_bad_ones(grown: dict) -> None:
    report = grown["report"]
    assert report.added == grown["new_ids"]
    assert report.n_extracted == {"handcrafted": 10}  # not 40: the 30 old rows are reused
    assert list(report.skipped) == ["broken-1"]
    assert "handcrafted" in report.skipped["broken-1"]
    assert report.already_present == []
    assert sorted(report.indexes) == ["hc--exact--euclidean", "hc--faiss-flat--cosine"]
    assert not report.advice.refit and report.advice.growth == pytest.approx(40 / 30)
    ws: Workspace = grown["ws"]
    assert ws.n_items() == 41  # the broken item is in the catalogue, just not embedded
    assert ws.runs("add-artworks")[-1]["results"]["added"] == 10


def test_new_vectors_come_from_the_fitted_transform(grown: dict) -> None:
    ws: Workspace = grown["ws"]
    after = FeatureSet.load(ws.embeddings_dir, "hc")
    before = grown["before"]
    assert after.item_ids.tolist() == [*before.item_ids.tolist(), *grown["new_ids"]]
    np.testing.assert_array_equal(after.matrix[:30], before.matrix)  # old vectors untouched
    emb = Embedding.load(ws.embeddings_dir, "hc")
    features = FeatureSet.load(ws.features_dir, "handcrafted")
    assert len(features) == 40
    expected = emb.transform([features.align(grown["new_ids"])])
    np.testing.assert_allclose(after.matrix[30:], expected.matrix, rtol=1e-6, atol=1e-6)
    assert emb.n_items_ == 30  # no refit happened


def test_saved_indexes_grew_without_a_rebuild(grown: dict) -> None:
    from artrec.index.faiss_index import FaissIndex

    ws: Workspace = grown["ws"]
    vectors = FeatureSet.load(ws.embeddings_dir, "hc", mmap=False)
    flat = load_index(ws.index_dir / "hc--faiss-flat--cosine")
    exact = load_index(ws.index_dir / "hc--exact--euclidean")
    assert flat.n_items == exact.n_items == 40
    fresh = FaissIndex("flat", "cosine").build(np.asarray(vectors.matrix), vectors.item_ids)
    q = np.asarray(vectors.matrix)
    np.testing.assert_array_equal(flat.search(q, 5)[0], fresh.search(q, 5)[0])
    fresh_exact = ExactIndex("euclidean").build(np.asarray(vectors.matrix), vectors.item_ids)
    np.testing.assert_array_equal(exact.search(q, 5)[0], fresh_exact.search(q, 5)[0])


def test_adding_again_changes_nothing(grown: dict) -> None:
    ws: Workspace = grown["ws"]
    again = Catalog(np.array(grown["new_ids"][:2], dtype=object))
    report = add_artworks(ws, again, extract_options={"num_workers": 0})
    assert report.added == [] and report.already_present == grown["new_ids"][:2]
    # Records of items already embedded are left alone (this catalogue has no images).
    record = ws.catalog().record(int(ws.catalog().rows_of([grown["new_ids"][0]])[0]))
    assert record["image"] is not None
    assert len(FeatureSet.load(ws.embeddings_dir, "hc")) == 40


def test_sold_artworks_are_hidden_and_restocked(grown: dict) -> None:
    ws: Workspace = grown["ws"]
    target = grown["new_ids"][0]
    flat = load_index(ws.index_dir / "hc--faiss-flat--cosine")
    neighbour = str(flat.similar(target, 1)[0][0])
    changed = remove_artworks(ws, [neighbour])
    assert sorted(changed) == ["hc--exact--euclidean", "hc--faiss-flat--cosine"]
    assert not ws.catalog().record(int(ws.catalog().rows_of([neighbour])[0]))["in_stock"]
    for name in changed:
        index = load_index(ws.index_dir / name)
        ids, _ = index.similar(target, 39)
        assert neighbour not in ids.tolist()
        assert index.n_items == 40  # hidden, not removed
    restock_artworks(ws, [neighbour])
    flat = load_index(ws.index_dir / "hc--faiss-flat--cosine")
    assert str(flat.similar(target, 1)[0][0]) == neighbour
    assert ws.catalog().in_stock[ws.catalog().rows_of([neighbour])[0]]
    # Removing drops the row from the index (later rows move up).
    remove_artworks(ws, [neighbour], mode="remove", embedding="hc")
    flat = load_index(ws.index_dir / "hc--faiss-flat--cosine")
    assert flat.n_items == 39 and neighbour not in flat.item_ids_.tolist()
    with pytest.raises(UnknownIdError, match="no-such-art"):
        remove_artworks(ws, ["no-such-art"])
    with pytest.raises(DataError, match="mode must be"):
        remove_artworks(ws, [target], mode="burn")
