"""artrec's batch VisRank equals the course notebook's ``recommend()``, user for user.

The notebook ("Proyecto Final A") recommends one user at a time: one scikit-learn
``pairwise_distances`` call per past purchase, then a Python loop over the catalogue that
adds up each artwork's distances, skips what the user bought and keeps the ``k`` smallest
sums in a heap. ``tests/_notebook.py`` holds a faithful copy of it (images and plots left
out); it lives in the tests, never in the package, and the notebook benchmark times the
same code. ``heapq`` breaks equal sums by catalogue index, which is also artrec's tie rule.

The data are SIMULATED (``write_seed_assets``), imported with ``import_seed`` and embedded
with PCA 100 exactly as the notebook's ``pca100_resnet_vgg_hybrid_featmat`` is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from _notebook import lookups, notebook_recommend
from artrec.data.seed import import_seed
from artrec.data.synthetic import write_seed_assets
from artrec.data.workspace import Workspace
from artrec.embedding import build_embedding, load_embedding
from artrec.recommend.base import TrainData
from artrec.recommend.visrank import VisRankRecommender

K = 10


@pytest.fixture(scope="module")
def seed_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Workspace]:
    root = tmp_path_factory.mktemp("notebook")
    seed = write_seed_assets(
        root / "assets", n_items=360, n_users=50, dims=(256, 512), purchases=(1, 12), seed=5
    )
    ws = Workspace.create(root / "ws")
    import_seed(seed.directory, ws)
    build_embedding(ws, ["resnet50", "vgg19"], "hybrid", n_components=100)
    return seed, ws


def batch_lists(ws: Workspace, metric: str) -> dict[str, list[str]]:
    """artrec: every user's top-k in one vectorised batch."""
    catalog = ws.catalog()
    emb = load_embedding(ws, "hybrid").align(catalog.item_ids)
    events = ws.interactions(kinds=("purchase",))
    train = events.select(events.splits == "train")
    profiles = train.profiles(catalog)
    users = list(profiles)
    rec = VisRankRecommender(metric, "sum_distance").fit(TrainData(catalog.n_items, emb.matrix))
    ranking = rec.rank([profiles[u] for u in users], K)
    return {
        u: [str(catalog.item_ids[r]) for r in rows if r >= 0]
        for u, rows in zip(users, ranking.rows.tolist(), strict=True)
    }


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_batch_visrank_equals_notebook_for_every_user(
    seed_workspace: tuple[Any, Workspace], metric: str
) -> None:
    seed, ws = seed_workspace
    index2artworkId = seed.item_ids.tolist()
    # the notebook's feature matrix: the PCA-100 hybrid, in index2artworkId order
    featmat = np.asarray(load_embedding(ws, "hybrid").align(index2artworkId).matrix)
    assert featmat.shape == (360, 100)
    past_transactions = seed.train
    artworkId2index = lookups(index2artworkId)
    ours = batch_lists(ws, metric)
    assert len(ours) == len(past_transactions) == 50
    for user in past_transactions:
        expected = notebook_recommend(
            featmat, user, past_transactions, index2artworkId, artworkId2index, K, metric
        )
        assert ours[str(user)] == [str(a) for a in expected], f"user {user}"


def test_notebook_copy_on_a_hand_computed_case() -> None:
    """The reference itself, checked by hand: items on the unit circle at 0, 45, 90 degrees."""
    featmat = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
    ids = [10, 11, 12, 13]
    rows = lookups(ids)
    # user 0 bought item 10: distances 1 - cos = 0, 0.29, 1, 2 -> 11, 12, 13
    assert notebook_recommend(featmat, 0, {0: [10]}, ids, rows, 3) == [11, 12, 13]
    # user 1 bought 10 and 12: sums 1, 0.59, 1, 3 -> 11 first, then 13
    assert notebook_recommend(featmat, 1, {1: [10, 12]}, ids, rows, 3) == [11, 13]
    # user 2 bought 11: distances 0.29, 0, 0.29, 1.71; the tie keeps catalogue order

    assert notebook_recommend(featmat, 2, {2: [11]}, ids, rows, 3) == [10, 12, 13]
