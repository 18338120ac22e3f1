"""The course notebook's ``recommend()`` and ``find_similar_images``, copied faithfully
(images and plots left out).

The notebook ("Proyecto Final A", the method of Dominguez et al., DLRS 2017) recommends to
one user at a time. For each artwork the user bought it calls scikit-learn's
``pairwise_distances`` once, vectorised over the whole catalogue; then it walks the
catalogue in a Python loop, skips what the user bought, adds up each artwork's distances
to the purchases and pushes ``(sum, index)`` onto a heap; the ``k`` smallest sums are
popped as the recommendations. ``heapq`` orders equal sums by index, i.e. catalogue order,
which is also artrec's tie rule.

It lives in the tests (never in the package): ``tests/test_notebook_equivalence.py``
checks artrec against it user for user, ``tests/test_notebook_cli.py`` checks ``artrec
recommend --history train`` and ``artrec similar --features`` against it through the
command line, and ``benchmarks/bench_notebook_vs_batch.py`` times it as the contender.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any

import numpy as np
from sklearn.metrics import pairwise_distances


def notebook_recommend(
    embedding: np.ndarray,
    user_id: Any,
    past_transactions: Any,
    index2artworkId: list[Any],
    artworkId2index: dict[Any, int],
    k: int = 10,
    metric: str = "cosine",
) -> list[Any]:
    """The notebook's recommendation for ``user_id``: the ``k`` artworks (ids) with the
    smallest sum of ``metric`` distances to the user's past purchases, purchases skipped.

    ``index2artworkId`` and ``artworkId2index`` are the notebook's global lookups (row ->
    artwork id and back); ``embedding`` holds one row per artwork in that order.
    """
    consumed = past_transactions[user_id]
    consumed_idx = [artworkId2index[i] for i in consumed]
    dists = [
        pairwise_distances(embedding[idx].reshape(1, -1), embedding, metric=metric)[0]
        for idx in consumed_idx
    ]
    heap: list[tuple[float, int]] = []
    for i in range(len(embedding)):
        if index2artworkId[i] in consumed:
            continue
        score = sum(d[i] for d in dists)
        heappush(heap, (score, i))
    recommended = []
    while heap and len(recommended) < k:
        _score, i = heappop(heap)
        recommended.append(index2artworkId[i])
    return recommended


def lookups(index2artworkId: list[Any]) -> dict[Any, int]:
    """The notebook's ``artworkId2index``."""
    return {artwork_id: i for i, artwork_id in enumerate(index2artworkId)}


def find_similar_images(
    featmat: np.ndarray,
    artwork_id: Any,
    index2artworkId: list[Any],
    artworkId2index: dict[Any, int],
    k: int = 10,
    metric: str = "cosine",
) -> list[Any]:
    """The notebook's similar-image search on any feature matrix (``resnet50_featmat``,
    ``vgg19_featmat`` or the PCA hybrid): one ``pairwise_distances`` call from the query to
    every artwork, then the ``k`` smallest distances by a heap, the query itself skipped.
    ``heapq`` orders equal distances by index (catalogue order)."""
    query = artworkId2index[artwork_id]
    dists = pairwise_distances(featmat[query].reshape(1, -1), featmat, metric=metric)[0]
    heap: list[tuple[float, int]] = []
    for i in range(len(featmat)):
        if i == query:
            continue
        heappush(heap, (dists[i], i))
    similar = []
    while heap and len(similar) < k:
        _d, i = heappop(heap)
        similar.append(index2artworkId[i])
    return similar
