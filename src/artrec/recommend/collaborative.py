"""What the collaborative models share: profile matrices, "no score" and catalogue growth.

Collaborative models (item-kNN, EASE, iALS, BPR) learn item relations from the training
log, and fold a profile in at scoring time, so an unseen user or a new like needs no refit.

**Items with no training interaction get no collaborative score: NaN.** A model cannot say
anything about them; :meth:`Recommender.rank <artrec.recommend.base.Recommender.rank>` and
the evaluator rank NaN last (as ``-inf``), and the hybrid gives them the floor of that
source (0 after per-user normalisation), so they are scored through the sources that do
know them (content, metadata).

**A growing catalogue.** A live gallery appends rows. A fitted collaborative model can be
*grown* to the new size (:meth:`GrowableRecommender.grow`): the appended rows get no score
(NaN) and contribute nothing when they appear in a profile, until the next fit. The hybrid
refreshes its cheap sources (content, metadata, popularity) on the new catalogue and grows
the collaborative ones (:meth:`HybridRecommender.refresh
<artrec.recommend.hybrid.HybridRecommender.refresh>`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from artrec.errors import DataError
from artrec.recommend.store import SavableRecommender


def profile_matrix(profiles: Sequence[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Binary ``(len(profiles), n_items)`` CSR matrix of the profiles (float32).

    Rows outside ``0 .. n_items - 1`` raise :class:`DataError` naming the profile.
    """
    indptr = [0]
    indices: list[np.ndarray] = []
    for j, p in enumerate(profiles):
        rows = np.unique(np.asarray(p, dtype=np.int64).reshape(-1))
        if rows.size and (rows[0] < 0 or rows[-1] >= n_items):
            raise DataError(f"profile {j} holds a row outside 0..{n_items - 1}")
        indices.append(rows)
        indptr.append(indptr[-1] + len(rows))
    idx = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    data = np.ones(len(idx), dtype=np.float32)
    return sp.csr_matrix((data, idx, np.asarray(indptr)), shape=(len(profiles), n_items))


def item_counts(user_items: sp.csr_matrix) -> np.ndarray:
    """Number of users per item (column non-zeros)."""
    return np.asarray(user_items.getnnz(axis=0), dtype=np.int64)


def check_fitted(rec: Any, attr: str) -> None:
    """Raise :class:`DataError` when ``rec`` lacks the fitted attribute ``attr``."""
    if not hasattr(rec, attr):
        raise DataError(f"{type(rec).__name__} is not fitted: call fit() first")


def first_best(contrib: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """For a ``(len(profile), n_rows)`` contribution block, the profile row with the largest
    positive contribution to each column (the first in profile order on ties), else ``-1``."""
    if not len(profile):
        return np.full(contrib.shape[1], -1, dtype=np.int64)
    best = np.argmax(contrib, axis=0)
    top = contrib[best, np.arange(contrib.shape[1])]
    return np.where(top > 0, profile[best], -1).astype(np.int64)


class GrowableRecommender(SavableRecommender):
    """A fitted model whose item arrays can be padded when the catalogue gains rows."""

    @abstractmethod
    def grow(self, n_items: int) -> GrowableRecommender:
        """Pad the fitted item arrays to ``n_items`` rows; appended rows get no score (NaN).

        Raises :class:`DataError` when ``n_items`` is smaller than the fitted size.
        """

    @staticmethod
    def _check_growth(old: int, new: int) -> None:
        if new < old:
            raise DataError(
                f"the catalogue shrank from {old} to {new} items; refit the model instead"
            )
