r"""EASE^R (Steck, 2019): a closed-form linear item-item model.

With ``X`` the binary user-item matrix of the training log and ``G = X^T X``, EASE solves

.. math:: \min_B \|X - XB\|_F^2 + \lambda \|B\|_F^2 \quad \text{s.t. } \operatorname{diag}(B) = 0

whose solution is ``P = (G + λI)^{-1}``, ``B_ij = -P_ij / P_jj`` (``i != j``), ``B_jj = 0``.
``P`` is computed exactly, through the Cholesky factor of ``G + λI`` or, when the log has
fewer users than items (the usual case for a gallery), through the Woodbury identity on the
users x users matrix, which turns the ``O(m³)`` inversion into ``O(n_users³ + nnz · m)``.
A profile ``P`` is folded in at scoring time: ``score(i) = sum_{p in P} B_pi``. The
explanation is the profile item with the largest ``B_pi``; the reason code is
:data:`~artrec.recommend.reasons.CO_BOUGHT`.

Only the ``m`` items with at least one training interaction take part: the others have an
all-zero column in ``X`` and, with the ridge term, an all-zero row and column in ``B``; they
get no score (NaN; see :mod:`artrec.recommend.collaborative`).

Memory
------
``B`` is a dense ``m x m`` matrix: **m² floats**. Fitting holds ``G`` (then its inverse, in
place) in float64 and ``B`` in float32, about ``12 m²`` bytes at the peak (1.9 GB for
``m = 12,500``); the fitted model keeps ``4 m²`` bytes. Fitting costs ``O(m³)``, or
``O(n_users³ + nnz · m)`` with fewer users than items. A log with
more than ``max_items`` interacted items is refused with a :class:`DataError` that says how
much memory it would take; use item-kNN or iALS there, or raise ``max_items``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from artrec.errors import DataError
from artrec.recommend import reasons as R
from artrec.recommend.base import TrainData
from artrec.recommend.collaborative import (
    GrowableRecommender,
    check_fitted,
    first_best,
    item_counts,
    profile_matrix,
)

#: Default bound on the interacted items EASE accepts (``m² * 12`` bytes at the fitting peak).
DEFAULT_MAX_ITEMS = 15_000


def ease_memory_bytes(m: int) -> tuple[int, int]:
    """``(peak while fitting, kept after fitting)`` bytes for ``m`` interacted items."""
    return 12 * m * m, 4 * m * m


def _ridge_inverse(x: sp.csr_matrix, lam: float) -> np.ndarray:
    """``(X^T X + λI)^{-1}`` (float64, dense), the cheaper of two exact ways.

    With fewer users than items, the Woodbury identity
    ``(λI + XᵀX)⁻¹ = (I − Xᵀ (λI + XXᵀ)⁻¹ X) / λ`` inverts a users x users matrix and costs
    ``O(n_users³ + nnz · m)`` besides writing the ``m x m`` result; otherwise the Gram matrix
    is inverted through its Cholesky factor (``O(m³)``).
    """
    n_users, m = x.shape
    if m == 0:
        return np.zeros((0, 0))
    if n_users < m:
        small = np.asarray((x @ x.T).toarray(), dtype=np.float64)
        small[np.diag_indices(n_users)] += lam
        inner = _spd_inverse(small)
        out = -np.asarray(x.T @ (inner @ x.toarray()), dtype=np.float64)
        out[np.diag_indices(m)] += 1.0
        out /= lam
        return out
    gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
    gram[np.diag_indices(m)] += lam
    return _spd_inverse(gram)


def _spd_inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix via LAPACK potrf/potri (in place)."""
    from scipy.linalg import lapack

    c, info = lapack.dpotrf(a, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise DataError(f"EASE: the regularised Gram matrix is not positive definite ({info})")
    inv, info = lapack.dpotri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise DataError(f"EASE: inverting the Gram matrix failed ({info})")
    upper = np.triu(inv)
    return upper + np.triu(inv, 1).T


class EASERecommender(GrowableRecommender):
    """EASE^R with ridge ``lambda_`` (see the module doc).

    Parameters
    ----------
    lambda_
        L2 regularisation (> 0). Larger values shrink the weights; typical values are a few
        hundred to a few thousand for binary logs.
    max_items
        Largest number of interacted items accepted (see *Memory* in the module doc).

    Attributes
    ----------
    weights_
        ``(m, m)`` float32 ``B`` over the interacted items.
    items_
        ``(m,)`` catalogue rows of the interacted items.
    """

    kind = "ease"
    reason = R.CO_BOUGHT

    def __init__(self, lambda_: float = 500.0, *, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        self.lambda_ = lambda_
        self.max_items = max_items
        self.name = f"ease-{lambda_:g}"

    def fit(self, data: TrainData) -> EASERecommender:
        """Solve for ``B`` on the interacted items of ``data``; returns self."""
        if not self.lambda_ > 0:
            raise DataError(f"EASE lambda must be > 0, got {self.lambda_!r}")
        x = data.user_items(binary=True)
        items = np.flatnonzero(item_counts(x) > 0)
        m = len(items)
        if m > self.max_items:
            peak, kept = ease_memory_bytes(m)
            raise DataError(
                f"EASE needs a dense {m:,} x {m:,} item matrix for the {m:,} interacted items "
                f"({peak / 1e9:.1f} GB to fit, {kept / 1e9:.1f} GB to keep), more than "
                f"max_items={self.max_items:,}; use item-knn or ials, or raise max_items"
            )
        xa = x[:, items].tocsr().astype(np.float64)
        inv = _ridge_inverse(xa, float(self.lambda_))
        diag = np.diag(inv).copy()
        inv /= -diag[None, :]
        inv[np.diag_indices(m)] = 0.0
        self.weights_ = inv.astype(np.float32)
        del inv
        self.items_ = items.astype(np.int64)
        self.n_items_ = data.n_items
        self.data_ = data
        return self

    def _position(self) -> np.ndarray:
        pos = np.full(self.n_items_, -1, dtype=np.int64)
        pos[self.items_] = np.arange(len(self.items_))
        return pos

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """``sum_{p in P} B[p, i]`` for every row; NaN for items never interacted with."""
        check_fitted(self, "weights_")
        q = profile_matrix(profiles, self.n_items_)[:, self.items_]
        out = np.full((len(profiles), self.n_items_), np.nan)
        if len(self.items_):
            out[:, self.items_] = np.asarray(q @ self.weights_, dtype=np.float64)
        return out

    def explain(self, profiles: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """The profile item with the largest ``B[p, i]`` per recommended row, else ``-1``."""
        check_fitted(self, "weights_")
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full(rows.shape, -1, dtype=np.int64)
        pos = self._position()
        for j, p in enumerate(profiles):
            prof = np.asarray(list(dict.fromkeys(np.asarray(p, np.int64).tolist())), np.int64)
            prof = prof[pos[prof] >= 0] if prof.size else prof
            valid = np.flatnonzero((rows[j] >= 0) & (pos[np.maximum(rows[j], 0)] >= 0))
            if not prof.size or not valid.size:
                continue
            block = self.weights_[np.ix_(pos[prof], pos[rows[j, valid]])]
            out[j, valid] = first_best(block, prof)
        return out

    def grow(self, n_items: int) -> EASERecommender:
        """Extend to ``n_items`` catalogue rows; the new rows get no score."""
        check_fitted(self, "weights_")
        self._check_growth(self.n_items_, n_items)
        self.n_items_ = n_items
        self.data_ = TrainData(n_items)
        return self

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``lambda_``, ``max_items`` and the catalogue size; ``B`` and the interacted rows."""
        check_fitted(self, "weights_")
        params = {
            "lambda_": float(self.lambda_),
            "max_items": int(self.max_items),
            "n_items": int(self.n_items_),
        }
        return params, {"weights": self.weights_, "items": self.items_}

    @classmethod
    def from_state(
        cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> EASERecommender:
        """The fitted model rebuilt from :meth:`get_state`."""
        rec = cls(float(params["lambda_"]), max_items=int(params["max_items"]))
        rec.weights_ = np.asarray(arrays["weights"], dtype=np.float32)
        rec.items_ = np.asarray(arrays["items"], dtype=np.int64)
        rec.n_items_ = int(params["n_items"])
        rec.data_ = TrainData(rec.n_items_)
        return rec
