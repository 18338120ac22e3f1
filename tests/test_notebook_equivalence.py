"""artrec's batch VisRank equals the course notebook's ``recommend()``, user for user.

The notebook ("Proyecto Final A") recommends, for one user at a time, by looping over the
whole catalogue: for each artwork it adds up the cosine distances (SciPy) between that
artwork's PCA-100 hybrid vector and the vectors of every artwork in the user's past
transactions, sorts the artworks by that sum ascending, skips the ones the user already
bought and returns the first k artwork ids. :func:`notebook_recommend` below is a faithful
copy of that algorithm (images and plots left out); it lives in the tests, never in the
package. Python's ``sorted`` is stable, so equal sums keep catalogue order, which is also
artrec's tie rule.

The data are SIMULATED (``write_seed_assets``), imported with ``import_seed`` and embedded
with PCA 100 exactly as the notebook's ``pca100_resnet_vgg_hybrid_featmat`` is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.spatial import distance

from artrec.data.seed import import_seed
from artrec.data.synthetic import write_seed_assets
from artrec.data.workspace import Workspace
from artrec.embedding import build_embedding, load_embedding
from artrec.recommend.base import TrainData
from artrec.recommend.visrank import VisRankRecommender

K = 10


def notebook_recommend(
    featmat: np.ndarray,
    index2artworkId: list[int],
    past_transactions: Any,
    user: int,
    k: int = K,
    dist: Any = distance.cosine,
) -> list[int]:
    """The notebook's recommend(), reproduced faithfully (one user, pure Python loops)."""
    artworkId2index = {artwork_id: i for i, artwork_id in enumerate(index2artworkId)}
    user_artworks = past_transactions[user]
    user_indexes = [artworkId2index[artwork_id] for artwork_id in user_artworks]
    distances = []
    for i in range(len(featmat)):
        d = 0.0
        for j in user_indexes:
            d += dist(featmat[i], featmat[j])
        distances.append((d, i))
    distances = sorted(distances)  # ascending sum of distances; ties by catalogue index
    recommended = []
    for _d, i in distances:
        artwork_id = index2artworkId[i]
        if artwork_id in user_artworks:
            continue
        recommended.append(artwork_id)
        if len(recommended) == k:
            break
    return recommended


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
    ours = batch_lists(ws, metric)
    dist = distance.cosine if metric == "cosine" else distance.euclidean
    assert len(ours) == len(past_transactions) == 50
    for user in past_transactions:
        expected = notebook_recommend(featmat, index2artworkId, past_transactions, user, K, dist)
        assert ours[str(user)] == [str(a) for a in expected], f"user {user}"


def test_notebook_copy_on_a_hand_computed_case() -> None:
    """The reference itself, checked by hand: items on the unit circle at 0, 45, 90 degrees."""
    featmat = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
    ids = [10, 11, 12, 13]
    # user 0 bought item 10: distances 1 - cos = 0, 0.29, 1, 2 -> 11, 12, 13
    assert notebook_recommend(featmat, ids, {0: [10]}, 0, 3) == [11, 12, 13]
    # user 1 bought 10 and 12: sums 1, 0.59, 1, 3 -> 11 first, then 13
    assert notebook_recommend(featmat, ids, {1: [10, 12]}, 1, 3) == [11, 13]
