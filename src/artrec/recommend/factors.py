r"""Matrix factorisation from the ``implicit`` library: iALS and BPR (CPU).

Both models are fitted by ``implicit`` itself (``implicit.cpu.als.AlternatingLeastSquares``
and ``implicit.cpu.bpr.BayesianPersonalizedRanking``) on the binary user-item matrix of the
training log; artrec never re-implements their training. What artrec adds is the fold-in:
scores are asked for *profiles*, not for trained users, so a user vector is computed from
the profile at scoring time and a new like changes the list at once, without a refit.

iALS fold-in
    ``implicit``'s own ``recalculate_user``: the exact least-squares user vector given the
    item factors, ``(Y^T Y + λI + α Y_P^T Y_P) u = (1 + α) Y_P^T 1``, as ALS solves it in
    training. For a training user it gives the same vector as ALS's last user step.
BPR fold-in
    BPR has no closed-form user step (``implicit`` raises ``NotImplementedError``), so
    artrec uses the same ridge least-squares on BPR's item factors (without the bias
    column): ``(Y^T Y + λ_f I + α Y_P^T Y_P) u = (1 + α) Y_P^T 1`` with ``λ_f =
    fold_in_regularization`` and ``α = fold_in_alpha``, then ``score(i) = y_i · u + b_i``
    (``b_i`` BPR's item bias). It finds the user vector that scores the profile items high
    and the rest low, which is what BPR's user factors do.

Items with no training interaction get no score (NaN; see
:mod:`artrec.recommend.collaborative`). The explanation of a recommendation is the profile
item whose factor vector has the largest dot product with the recommended item's.

Threads: ``implicit`` runs its own thread pool (``num_threads=0``: every core); BLAS is held
to one thread while it fits, as ``implicit`` asks. iALS results do not depend on the thread
count; BPR's Hogwild updates do, so pass ``num_threads=1`` for bit-for-bit reproducible BPR.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

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


@contextmanager
def _blas_single_thread() -> Iterator[None]:
    """BLAS held to one thread, as ``implicit`` asks, and its BLAS warning silenced."""
    import warnings

    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*threadpool.*", category=RuntimeWarning)
        yield


#: Profiles folded in on one thread (``implicit``'s thread pool costs more for fewer).
SMALL_BATCH = 64


def _check_positive(**values: float) -> None:
    for label, value in values.items():
        if isinstance(value, bool) or not value > 0:
            raise DataError(f"{label} must be > 0, got {value!r}")


class _FactorModel(GrowableRecommender):
    """Shared scoring, explanations, growth and state of the two factor models."""

    reason = R.CO_BOUGHT

    item_factors_: np.ndarray
    seen_: np.ndarray

    def _user_factors(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _item_scores(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(users @ self.item_factors_.T, dtype=np.float64)

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """Folded-in user vectors times the item factors; NaN for items never interacted with."""
        check_fitted(self, "item_factors_")
        out = self._item_scores(self._user_factors(profiles))
        out[:, ~self.seen_] = np.nan
        return out

    def _item_vectors(self) -> np.ndarray:
        return self.item_factors_

    def explain(self, profiles: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """The profile item whose factors have the largest dot product with each
        recommended item's (first in profile order on ties), else ``-1``."""
        check_fitted(self, "item_factors_")
        vec = self._item_vectors()
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full(rows.shape, -1, dtype=np.int64)
        for j, p in enumerate(profiles):
            prof = np.asarray(list(dict.fromkeys(np.asarray(p, np.int64).tolist())), np.int64)
            prof = prof[self.seen_[prof]] if prof.size else prof
            valid = rows[j] >= 0
            if not prof.size or not valid.any():
                continue
            out[j, valid] = first_best(vec[prof] @ vec[rows[j, valid]].T, prof)
        return out

    def grow(self, n_items: int) -> _FactorModel:
        """Pad the item factors with zero rows; the new rows get no score."""
        check_fitted(self, "item_factors_")
        old = len(self.seen_)
        self._check_growth(old, n_items)
        pad = np.zeros((n_items - old, self.item_factors_.shape[1]), self.item_factors_.dtype)
        self.item_factors_ = np.vstack([self.item_factors_, pad])
        self.seen_ = np.concatenate([self.seen_, np.zeros(n_items - old, dtype=bool)])
        self.data_ = TrainData(n_items)
        self._after_load()
        return self

    def _after_load(self) -> None:
        """Rebuild derived objects after the factors changed (load, growth)."""

    def _params(self) -> dict[str, Any]:
        raise NotImplementedError

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The constructor parameters; the item factors and the seen mask."""
        check_fitted(self, "item_factors_")
        return self._params(), {"item_factors": self.item_factors_, "seen": self.seen_}

    @classmethod
    def from_state(
        cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> _FactorModel:
        """The fitted model rebuilt from :meth:`get_state`."""
        rec = cls(**dict(params))
        rec.item_factors_ = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        rec.seen_ = np.asarray(arrays["seen"], dtype=bool)
        rec.data_ = TrainData(len(rec.seen_))
        rec._after_load()
        return rec


class ALSRecommender(_FactorModel):
    """Implicit-feedback ALS (Hu, Koren and Volinsky) fitted by ``implicit``.

    Parameters
    ----------
    factors, regularization, alpha, iterations, random_state, num_threads
        ``implicit.cpu.als.AlternatingLeastSquares``'s parameters (``alpha`` scales the
        binary interactions into confidences).

    Attributes
    ----------
    model_
        The fitted ``implicit`` model (its ``recalculate_user`` folds profiles in).
    item_factors_
        ``(n_items, factors)`` float32.
    seen_
        ``(n_items,)`` bool: items with a training interaction.
    """

    kind = "ials"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 5.0,
        iterations: int = 15,
        random_state: int = 0,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads
        self.name = f"ials-{factors}"

    def _params(self) -> dict[str, Any]:
        return {
            "factors": int(self.factors),
            "regularization": float(self.regularization),
            "alpha": float(self.alpha),
            "iterations": int(self.iterations),
            "random_state": int(self.random_state),
            "num_threads": int(self.num_threads),
        }

    def _new_model(self) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        with _blas_single_thread():
            return AlternatingLeastSquares(
                factors=int(self.factors),
                regularization=float(self.regularization),
                alpha=float(self.alpha),
                iterations=int(self.iterations),
                random_state=int(self.random_state),
                num_threads=int(self.num_threads),
                calculate_training_loss=False,
            )

    def fit(self, data: TrainData) -> ALSRecommender:
        """Fit ``implicit``'s ALS on the binary user-item matrix; returns self."""
        _check_positive(factors=self.factors, iterations=self.iterations, alpha=self.alpha)
        if self.regularization < 0:
            raise DataError(f"regularization must be >= 0, got {self.regularization!r}")
        x = data.user_items(binary=True)
        model = self._new_model()
        with _blas_single_thread():
            model.fit(x, show_progress=False)
        self.model_ = model
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self.seen_ = item_counts(x) > 0
        self.data_ = data
        return self

    def _after_load(self) -> None:
        model = self._new_model()
        model.item_factors = self.item_factors_
        model._YtY = None
        self.model_ = model

    def _user_factors(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        q = profile_matrix(profiles, len(self.seen_))
        # a thread pool costs far more than a few small solves (60 ms vs 0.02 ms for one
        # profile on 2 busy cores): small batches, as in serving, fold in on one thread
        self.model_.num_threads = 1 if len(profiles) < SMALL_BATCH else int(self.num_threads)
        users = self.model_.recalculate_user(np.arange(len(profiles)), q)
        return np.asarray(users, dtype=np.float32).reshape(len(profiles), -1)


class BPRRecommender(_FactorModel):
    """Bayesian personalised ranking fitted by ``implicit``, with a ridge fold-in.

    Parameters
    ----------
    factors, learning_rate, regularization, iterations, random_state, num_threads
        ``implicit.cpu.bpr.BayesianPersonalizedRanking``'s parameters.
    fold_in_regularization, fold_in_alpha
        Ridge and confidence of the fold-in (see the module doc).

    Attributes
    ----------
    item_factors_
        ``(n_items, factors + 1)`` float32: BPR's item factors, the last column the item bias.
    seen_
        ``(n_items,)`` bool: items with a training interaction.
    """

    kind = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: int = 0,
        num_threads: int = 0,
        fold_in_regularization: float = 0.1,
        fold_in_alpha: float = 5.0,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads
        self.fold_in_regularization = fold_in_regularization
        self.fold_in_alpha = fold_in_alpha
        self.name = f"bpr-{factors}"

    def _params(self) -> dict[str, Any]:
        return {
            "factors": int(self.factors),
            "learning_rate": float(self.learning_rate),
            "regularization": float(self.regularization),
            "iterations": int(self.iterations),
            "random_state": int(self.random_state),
            "num_threads": int(self.num_threads),
            "fold_in_regularization": float(self.fold_in_regularization),
            "fold_in_alpha": float(self.fold_in_alpha),
        }

    def fit(self, data: TrainData) -> BPRRecommender:
        """Fit ``implicit``'s BPR on the binary user-item matrix; returns self."""
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        _check_positive(
            factors=self.factors,
            iterations=self.iterations,
            learning_rate=self.learning_rate,
            fold_in_regularization=self.fold_in_regularization,
        )
        x = data.user_items(binary=True)
        with _blas_single_thread():
            model = BayesianPersonalizedRanking(
                factors=int(self.factors),
                learning_rate=float(self.learning_rate),
                regularization=float(self.regularization),
                iterations=int(self.iterations),
                random_state=int(self.random_state),
                num_threads=int(self.num_threads),
            )
            model.fit(x, show_progress=False)
        self.model_ = model
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self.seen_ = item_counts(x) > 0
        self.data_ = data
        self._fold_gram = None
        return self

    def _item_vectors(self) -> np.ndarray:
        return self.item_factors_[:, :-1]

    def _user_factors(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """Ridge fold-in on the factor columns (see the module doc); ``(n, factors)``."""
        y = self.item_factors_[:, :-1].astype(np.float64)
        f = y.shape[1]
        # Y^T Y over the interacted items (the others are not ranked anyway), once per fit
        base = getattr(self, "_fold_gram", None)
        if base is None or base.shape != (f, f):
            base = y[self.seen_].T @ y[self.seen_] + self.fold_in_regularization * np.eye(f)
            self._fold_gram = base
        alpha = float(self.fold_in_alpha)
        q = profile_matrix(profiles, len(self.seen_))
        q = q.multiply(self.seen_[None, :]).tocsr()
        out = np.zeros((len(profiles), f))
        has = np.diff(q.indptr) > 0
        if not has.any():
            return out
        # one batched solve: A_j = base + alpha * Y_Pj^T Y_Pj, b_j = (1 + alpha) * Y_Pj^T 1
        rows = np.repeat(np.arange(len(profiles)), np.diff(q.indptr))
        yp = y[q.indices]
        a = np.repeat(base[None, :, :], len(profiles), axis=0)
        np.add.at(a, rows, alpha * yp[:, :, None] * yp[:, None, :])
        b = np.zeros((len(profiles), f))
        np.add.at(b, rows, (1.0 + alpha) * yp)
        out[has] = np.linalg.solve(a[has], b[has][:, :, None])[:, :, 0]
        return out

    def _item_scores(self, users: np.ndarray) -> np.ndarray:
        y = self.item_factors_.astype(np.float64)
        return users @ y[:, :-1].T + y[:, -1][None, :]
