"""`workspace_info`, `search_items` and `list_users` on small workspaces with known contents."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from artrec.data.browse import list_users, search_items
from artrec.data.catalog import Catalog, Interactions
from artrec.data.importer import import_collection
from artrec.data.simulate import META_KEY as SIM_META
from artrec.data.simulate import interactions_simulated, mark_simulated
from artrec.data.workspace import Workspace
from artrec.embedding import build_embedding
from artrec.errors import ArtrecError
from artrec.index.exact import ExactIndex
from artrec.index.store import save_index
from artrec.info import workspace_info
from artrec.recommend.base import train_data_from
from artrec.recommend.baselines import PopularRecommender
from artrec.recommend.store import data_fingerprint, save_model
from artrec.vectors import FeatureSet


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    cat = _write(
        tmp_path / "cat.csv",
        "item_id,title,artist,year,in_stock\n"
        "1,Sunrise,Claude Monet,1872,yes\n"
        "2,The Night Watch,Rembrandt,1642,yes\n"
        "3,Self-Portrait,Albrecht Dürer,1500,no\n"
        "4,Haystacks,Claude Monet,1891,yes\n"
        "5,Melencolia I,ALBRECHT DÜRER,1514,yes\n",
    )
    log = _write(
        tmp_path / "log.csv",
        "user_id,item_id,timestamp,rating\n"
        "ann,1,10,5\nann,2,20,5\nann,4,30,1\nann,5,40,4\n"
        "bob,3,15,5\nbob,1,25,2\n"
        "cy,2,5,4\n",
    )
    import_collection(tmp_path / "ws", cat, log, positive_threshold=4, split_last_fraction=0.5)
    return Workspace.open(tmp_path / "ws")


def test_search_items_by_title_or_artist(ws: Workspace) -> None:
    page = search_items(ws, "monet")
    assert page.total == 2 and [r.item_id for r in page.rows] == ["1", "4"]
    # case folding covers accented capitals; the field can be restricted
    assert [r.item_id for r in search_items(ws, "dürer").rows] == ["3", "5"]
    assert search_items(ws, "durer").total == 0
    assert [r.item_id for r in search_items(ws, "night", field="title").rows] == ["2"]
    assert search_items(ws, "night", field="artist").total == 0
    # paging
    everything = search_items(ws, None, offset=1, limit=2)
    assert everything.total == 5 and everything.offset == 1
    assert [r.item_id for r in everything.rows] == ["2", "3"]
    row = search_items(ws, "self").rows[0]
    assert (row.title, row.artist, row.year, row.in_stock) == (
        "Self-Portrait",
        "Albrecht Dürer",
        1500,
        False,
    )
    with pytest.raises(ArtrecError, match="unknown search field"):
        search_items(ws, "x", field="medium")
    with pytest.raises(ArtrecError, match="limit must be an integer >= 1"):
        search_items(ws, "x", limit=0)


def test_list_users_with_counts(ws: Workspace) -> None:
    page = list_users(ws)
    assert page.total == 3
    assert [r.user_id for r in page.rows] == ["ann", "bob", "cy"]  # most events first
    ann = page.rows[0]
    # ann: positives 1, 2, 5 (ratings 5, 5, 4); 4 is below the threshold.
    # last fraction 0.5 of 3 positives: floor(1.5) = 1 held out (item 5 at t=40); the
    # below-threshold event at t=30 comes before it: train.
    assert ann.n_events == 4
    assert ann.by_kind == {"purchase": 3, "rating_below_threshold": 1}
    assert ann.by_split == {"test": 1, "train": 3}
    assert (ann.first, ann.last) == (10.0, 40.0)
    assert [r.user_id for r in list_users(ws, order="id", offset=1).rows] == ["bob", "cy"]
    assert [r.user_id for r in list_users(ws, "B").rows] == ["bob"]
    with pytest.raises(ArtrecError, match="unknown order"):
        list_users(ws, order="age")


def test_workspace_info_counts(ws: Workspace) -> None:
    info = workspace_info(ws)
    assert (info.n_items, info.n_in_stock, info.stock_known) == (5, 4, True)
    assert (info.n_users, info.n_events) == (3, 7)
    # ann: 1,2 train, 5 test, 4 below (train); bob: 3 test (only positive), 1 below after it
    # (test); cy: 2 test (only positive)
    assert info.events == {
        "purchase": {"test": 3, "train": 2},
        "rating_below_threshold": {"test": 1, "train": 1},
    }
    assert info.feature_sets == [] and info.embeddings == [] and info.models == []
    assert info.indexes == [] and info.default_embedding is None
    assert info.simulated == "no" and info.n_simulated_events == 0
    assert info.import_settings is not None
    assert info.import_settings["split"] == {
        "rule": "last_fraction",
        "fraction": 0.5,
        "before": None,
    }
    assert info.default_config == "visrank:default/cosine/sum_distance"
    json.dumps(info.as_dict())  # JSON-friendly


def test_workspace_info_arrays_models_indexes(ws: Workspace) -> None:
    rng = np.random.default_rng(0)
    ids = ws.catalog().item_ids
    FeatureSet("cnn", ids, rng.normal(size=(5, 8)).astype(np.float32), {"extractor": "x"}).save(
        ws.features_dir
    )
    FeatureSet("hand", ids, rng.normal(size=(5, 3)).astype(np.float32)).save(ws.features_dir)
    emb = build_embedding(ws, ["cnn", "hand"], "hybrid", n_components=3)
    index = ExactIndex(metric="cosine").build(np.asarray(emb.matrix), emb.item_ids)
    save_index(ws, index, embedding="hybrid", kind="exact")
    events = ws.interactions()
    model = PopularRecommender().fit(train_data_from(ws.catalog(), events))
    save_model(ws.models_dir, "pop", model, data_fingerprint(ws.catalog().item_ids, events))
    (ws.models_dir / "broken").mkdir()  # unreadable: left out
    info = workspace_info(ws.root)
    assert [(f.name, f.n_items, f.dim, f.source) for f in info.feature_sets] == [
        ("cnn", 5, 8, "x"),
        ("hand", 5, 3, None),
    ]
    assert [(e.name, e.n_items, e.dim, e.source) for e in info.embeddings] == [
        ("hybrid", 5, 3, "cnn + hand")
    ]
    assert info.default_embedding == "hybrid"
    assert info.default_config == "visrank:hybrid/cosine/sum_distance"
    assert [(m.name, m.kind) for m in info.models] == [("pop", "popular")]
    assert [(i.embedding, i.kind, i.metric, i.n_items) for i in info.indexes] == [
        ("hybrid", "exact", "cosine", 5)
    ]


def test_simulated_states(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    ws.upsert_items(Catalog(np.array(["a", "b"], dtype=object)))
    assert workspace_info(ws).simulated == "no interactions"
    ws.add_interactions(Interactions(np.array(["sim-1", "sim-2"]), np.array(["a", "b"])))
    ws.set_meta(SIM_META, "{}")  # the demo's simulation record
    info = workspace_info(ws)
    assert (info.simulated, info.n_simulated_events) == ("yes", 2)
    ws.add_interactions(Interactions(np.array(["real"]), np.array(["a"])))
    assert workspace_info(ws).simulated == "partly"
    seed = Workspace.create(tmp_path / "seed")  # generated notebook-format assets: everything
    seed.upsert_items(Catalog(np.array(["a", "b"], dtype=object)))
    seed.add_interactions(Interactions(np.array(["0", "1"]), np.array(["a", "b"])))
    mark_simulated(seed, True)
    assert (workspace_info(seed).simulated, workspace_info(seed).n_simulated_events) == ("yes", 2)
    mark_simulated(seed, False)  # real events added later never make it look real
    assert workspace_info(seed).simulated == "yes" and interactions_simulated(seed)
