"""Time replay with models refitted on the past: windows over the test period.

Plain time replay (:func:`artrec.evaluation.protocols.time_replay`) fits a recommender on
**no** events, since every event lies in the future of some case; that suits content and
metadata models (profiles are given at scoring time) but starves every model that learns
from the log. :func:`windowed_time_replay` lets those models learn without seeing the
future, and without touching the evaluator:

1. The purchase cases of time replay are built as usual, on the purchases (``case_kinds``).
2. The **test period** is where cases are scored: the purchases marked ``test`` in the
   log's split column when it has one; otherwise those at or after the time cut that leaves
   ``test_fraction`` of the timed purchases after it. Earlier cases are not scored
   (counted as ``before_test_period``).
3. The test cases, in time order, are cut into ``n_windows`` windows of (nearly) equal
   count. For each window the recommender is fitted on the events of every kind in
   ``fit_kinds`` (purchases *and* likes, by default) strictly before the window's first
   case, with ``now`` = that moment, and the window's cases are scored by
   :func:`~artrec.evaluation.evaluator.evaluate` (``fit=False``), with each case's own
   candidate set (the stock of its moment) and its own profile (the user's earlier
   purchases, folded in at scoring time).
4. The per-case results are merged into one
   :class:`~artrec.evaluation.evaluator.EvaluationResult` whose ``case_index`` refers to
   the full time-replay split, so summaries, confidence intervals and the paired tests of
   :func:`~artrec.evaluation.comparison.compare_results` work unchanged across models.

A case therefore never uses an event after its moment, and a model's knowledge is at most
one window old. Cost: ``n_windows`` fits per model (:data:`DEFAULT_WINDOWS` = 4) plus the
scoring of the test cases once. The tuned hybrid (``auto``) runs its search at the first
fit, on events before the test period only, and refits the chosen configuration in the
later windows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.errors import DataError
from artrec.evaluation import metrics as M
from artrec.evaluation.evaluator import DEFAULT_CHUNK, EvaluationResult, evaluate, summarise
from artrec.evaluation.protocols import Split, time_replay
from artrec.recommend.base import Recommender, train_data_from

#: Windows the test period is cut into by default (= refits per model).
DEFAULT_WINDOWS = 4
#: Share of timed purchases in the test period when the log has no split column.
DEFAULT_TEST_FRACTION = 0.2


def _event_order(purchases: Interactions, catalog: Catalog) -> tuple[Interactions, np.ndarray]:
    """The timed known purchases as :func:`time_replay` orders them (same selection)."""
    rows = catalog.rows_of(purchases.item_ids, missing="mark")
    known = purchases.select(rows >= 0)
    ts = known.timestamps
    log = known.select(~np.isnan(ts))
    return log, np.argsort(log.timestamps, kind="stable")


def period_cases(
    split: Split, purchases: Interactions, catalog: Catalog, test_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Which cases of ``split`` lie in the test period, and each case's time."""
    if split.case_position is None:
        raise DataError("windowed evaluation needs a time-replay split")
    log, order = _event_order(purchases, catalog)
    event = order[split.case_position]
    times = np.asarray(log.timestamps, dtype=np.float64)[event]
    if log.splits is not None and any(s == "test" for s in log.splits.tolist()):
        mask = np.asarray([s == "test" for s in log.splits[event].tolist()], dtype=bool)
        return mask, times
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    all_times = np.sort(np.asarray(log.timestamps, dtype=np.float64))
    cut = all_times[min(len(all_times) - 1, int(np.floor((1.0 - test_fraction) * len(all_times))))]
    return times >= cut, times


def _subsplit(split: Split, idx: np.ndarray) -> Split:
    assert split.case_position is not None
    return Split(
        split.protocol,
        split.n_items,
        split.user_ids[idx],
        [split.profiles[i] for i in idx.tolist()],
        [split.relevant[i] for i in idx.tolist()],
        [split.exclude[i] for i in idx.tolist()],
        split.train,
        split.log,
        case_position=split.case_position[idx],
        leaves_stock_at=split.leaves_stock_at,
        skipped={},
    )


def windowed_time_replay(
    recommender: Recommender | Callable[[], Recommender],
    catalog: Catalog,
    interactions: Interactions,
    *,
    k: int = 20,
    n_windows: int = DEFAULT_WINDOWS,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    case_kinds: Sequence[str] = ("purchase",),
    fit_kinds: Sequence[str] | None = None,
    vectors: np.ndarray | None = None,
    diversity_vectors: np.ndarray | None = None,
    name: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    split: Split | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Evaluate under time replay, refitting on the past before each window (module doc).

    Parameters
    ----------
    recommender
        A recommender (refitted in place for every window) or a factory of new ones.
    catalog, interactions
        The catalogue and the whole log (every kind).
    k
        Cut-off.
    n_windows
        Windows of the test period (refits per model).
    test_fraction
        Share of timed purchases in the test period when the log has no split column.
    case_kinds
        Event kinds that are purchases (cases, stock).
    fit_kinds
        Event kinds a model may learn from (``None``: all).
    vectors
        Item vectors given to the recommender at each fit.
    diversity_vectors
        Vectors for intra-list diversity (default ``vectors``).
    name
        Name in tables.
    split
        The time-replay split of the purchases, when already built (to share it).
    progress
        ``progress(window, n_windows)`` after each window.
    """
    if n_windows < 1:
        raise DataError(f"n_windows must be >= 1, got {n_windows}")
    kinds = np.asarray(interactions.kinds, dtype=object)
    purchases = interactions.select(np.isin(kinds, list(case_kinds)))
    split = split if split is not None else time_replay(purchases, catalog)
    in_test, times = period_cases(split, purchases, catalog, test_fraction)
    test_idx = np.flatnonzero(in_test)
    if not len(test_idx):
        raise DataError("the test period holds no time-replay case")
    assert split.case_position is not None
    test_idx = test_idx[np.argsort(split.case_position[test_idx], kind="stable")]
    windows = [w for w in np.array_split(test_idx, min(n_windows, len(test_idx))) if len(w)]
    fit_pool = (
        interactions if fit_kinds is None else interactions.select(np.isin(kinds, list(fit_kinds)))
    )
    fit_times = np.asarray(fit_pool.timestamps, dtype=np.float64)
    parts: list[tuple[np.ndarray, EvaluationResult]] = []
    label = name
    for w, idx in enumerate(windows):
        start = float(times[idx].min())
        past = fit_pool.select(fit_times < start)
        rec = (
            recommender()
            if callable(recommender) and not isinstance(recommender, Recommender)
            else recommender
        )
        assert isinstance(rec, Recommender)
        label = label or rec.name
        rec.fit(train_data_from(catalog, past, vectors=vectors, now=start))
        res = evaluate(
            rec,
            catalog,
            _subsplit(split, idx),
            k=k,
            vectors=vectors,
            diversity_vectors=diversity_vectors,
            chunk_size=chunk_size,
            fit=False,
            name=label,
        )
        parts.append((idx, res))
        if progress is not None:
            progress(w + 1, len(windows))
    skipped = dict(split.skipped)
    before = int((~in_test).sum())
    if before:
        skipped["before_test_period"] = before
    return merge_results(parts, k=k, n_items=catalog.n_items, skipped=skipped, name=label or "")


@dataclass(frozen=True)
class Refit:
    """How ``evaluate`` and ``compare`` run windowed time replay (``--windows N``).

    Attributes
    ----------
    n_windows
        Windows of the test period: refits per configuration.
    log
        Every event the models may learn from (all kinds: purchases and likes).
    case_kinds
        Event kinds that are purchases (the time-replay cases).
    """

    n_windows: int
    log: Interactions
    case_kinds: tuple[str, ...] = ("purchase",)

    def evaluate(
        self,
        factory: Callable[[], Recommender],
        catalog: Catalog,
        split: Split,
        **options: Any,
    ) -> EvaluationResult:
        """:func:`windowed_time_replay` of a new recommender per window on ``split``
        (``options``: its keyword arguments ``k``, ``vectors``, ``name``, ...)."""
        if split.protocol != "time-replay":
            raise DataError(
                f"--windows refits on the past of time-replay cases; the {split.protocol} "
                "protocol has no moments (use --protocol time-replay)"
            )
        return windowed_time_replay(
            factory,
            catalog,
            self.log,
            n_windows=self.n_windows,
            case_kinds=self.case_kinds,
            split=split,
            **options,
        )


def merge_results(
    parts: Sequence[tuple[np.ndarray, EvaluationResult]],
    *,
    k: int,
    n_items: int,
    skipped: dict[str, int],
    name: str,
    params: dict[str, Any] | None = None,
) -> EvaluationResult:
    """One result from window results; ``parts`` pairs each result with the global indexes
    of the cases its split held."""
    case_index = (
        np.concatenate([idx[r.case_index] for idx, r in parts]) if parts else np.zeros(0, np.int64)
    )
    order = np.argsort(case_index, kind="stable")
    metrics = list(parts[0][1].per_user) if parts else []
    per_user = {m: np.concatenate([r.per_user[m] for _, r in parts])[order] for m in metrics}
    lists = (
        np.concatenate([r.lists for _, r in parts])[order] if parts else np.zeros((0, k), np.int64)
    )
    user_ids = (
        np.concatenate([r.user_ids for _, r in parts])[order] if parts else np.zeros(0, object)
    )
    skips = dict(skipped)
    for _, r in parts:
        for reason, count in r.skipped.items():
            skips[reason] = skips.get(reason, 0) + count
    first = parts[0][1]
    return replace(
        first,
        name=name,
        user_ids=user_ids,
        case_index=case_index[order],
        per_user=per_user,
        summary={m: summarise(v) for m, v in per_user.items()},
        coverage=M.catalog_coverage(lists, n_items) if n_items else float("nan"),
        skipped=skips,
        nan_scores=sum(r.nan_scores for _, r in parts),
        lists=lists,
        params={**first.params, "windows": len(parts), **(params or {})},
    )
