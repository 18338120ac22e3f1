r"""Evaluate one recommender on one split: per-case metrics, means and confidence intervals.

:func:`evaluate` scores the cases of a :class:`~artrec.evaluation.protocols.Split` in
chunks with :meth:`Recommender.score <artrec.recommend.base.Recommender.score>`, so memory
stays at ``chunk_size * n_items`` floats, masks every case's scores to its candidate set,
takes the top-``k`` list with the same deterministic tie rule as
:func:`~artrec.recommend.base.top_k`, and computes every metric of
:mod:`artrec.evaluation.metrics` per case.

Summary statistics
------------------
For each metric the summary holds the mean over the cases where the metric is defined, and
a 95% Student-t confidence interval for that mean:

.. math:: \bar x \pm t_{0.975,\,n-1} \, s / \sqrt{n}

with ``s`` the sample standard deviation (``ddof=1``). With fewer than two values the
interval is NaN. Undefined values (NaN, for instance the diversity of a one-item list) are
not averaged but counted in ``n_nan``; NaN *scores* from a recommender rank last (as
``-inf``) and are counted in :attr:`EvaluationResult.nan_scores`.

Cases whose relevant rows are all outside their candidate set are skipped and counted in
``skipped["no_relevant_candidate"]``; recall, AP and nDCG use the relevant rows inside the
candidate set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from artrec.data.catalog import Catalog
from artrec.errors import DataError
from artrec.evaluation import metrics as M
from artrec.evaluation.protocols import Split
from artrec.ranking import clamp_k, top_k
from artrec.recommend.base import Recommender, TrainData, train_data_from

__all__ = [
    "EvaluationResult",
    "MetricSummary",
    "evaluate",
    "record_evaluation",
    "summarise",
    "train_data",
]

if TYPE_CHECKING:
    from artrec.data.workspace import Workspace

#: Cases scored at once by default.
DEFAULT_CHUNK = 256

#: Confidence level of the reported intervals.
CONFIDENCE = 0.95


def metric_names(k: int) -> tuple[str, ...]:
    """Per-case metric names, in table order, for cut-off ``k``."""
    return (
        "auc",
        "rr",
        f"p@{k}",
        f"r@{k}",
        f"hr@{k}",
        f"ap@{k}",
        f"ndcg@{k}",
        f"diversity@{k}",
        f"novelty@{k}",
    )


@dataclass(frozen=True)
class MetricSummary:
    """Mean of one metric over cases, with a Student-t confidence interval.

    ``n`` counts the cases where the metric is defined, ``n_nan`` those where it is not.
    """

    mean: float
    ci_low: float
    ci_high: float
    std: float
    n: int
    n_nan: int

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval."""
        return (self.ci_high - self.ci_low) / 2.0


def summarise(values: np.ndarray, confidence: float = CONFIDENCE) -> MetricSummary:
    """Mean and Student-t confidence interval of the finite entries of ``values``.

    The interval is ``mean +- t_{(1+confidence)/2, n-1} * s / sqrt(n)`` with the sample
    standard deviation ``s`` (``ddof=1``); NaN when fewer than two values are defined.
    When every value is equal the interval collapses to the mean.
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    finite = v[~np.isnan(v)]
    n = len(finite)
    n_nan = len(v) - n
    if n == 0:
        nan = float("nan")
        return MetricSummary(nan, nan, nan, nan, 0, n_nan)
    mean = float(finite.mean())
    if n < 2:
        return MetricSummary(mean, float("nan"), float("nan"), float("nan"), n, n_nan)
    std = float(finite.std(ddof=1))
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * std / math.sqrt(n)
    return MetricSummary(mean, mean - half, mean + half, std, n, n_nan)


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` measured.

    Attributes
    ----------
    name
        The recommender's (or configuration's) name.
    protocol
        The split's protocol.
    k
        The cut-off.
    user_ids
        ``(n_cases,)`` user id of every evaluated case, in split order.
    case_index
        ``(n_cases,)`` index of every evaluated case in the split (pairs cases across runs).
    per_user
        Metric name -> ``(n_cases,)`` values (NaN where undefined).
    summary
        Metric name -> :class:`MetricSummary`.
    coverage
        Catalogue coverage of all top-``k`` lists together.
    skipped
        Reason -> count: the split's own skips plus ``"no_relevant_candidate"``.
    nan_scores
        Number of NaN scores the recommender produced for candidate rows.
    lists
        ``(n_cases, k)`` recommended rows (``-1`` padding).
    params
        Free-form description of the run (recorded with it).
    run_id
        Id of the ``runs`` row when the run was recorded in a workspace.
    """

    name: str
    protocol: str
    k: int
    user_ids: np.ndarray
    case_index: np.ndarray
    per_user: dict[str, np.ndarray]
    summary: dict[str, MetricSummary]
    coverage: float
    skipped: dict[str, int]
    nan_scores: int
    lists: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None

    @property
    def n_cases(self) -> int:
        """Number of evaluated cases."""
        return len(self.user_ids)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per metric (``metric, mean, ci_low, ci_high, std, n, n_nan``) plus coverage."""
        rows: list[dict[str, Any]] = []
        for metric, s in self.summary.items():
            rows.append(
                {
                    "metric": metric,
                    "mean": s.mean,
                    "ci_low": s.ci_low,
                    "ci_high": s.ci_high,
                    "std": s.std,
                    "n": s.n,
                    "n_nan": s.n_nan,
                }
            )
        rows.append(
            {
                "metric": f"coverage@{self.k}",
                "mean": self.coverage,
                "ci_low": None,
                "ci_high": None,
                "std": None,
                "n": self.n_cases,
                "n_nan": 0,
            }
        )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: parameters, counts and the summary (no per-case arrays)."""
        return {
            "name": self.name,
            "protocol": self.protocol,
            "k": self.k,
            "n_cases": self.n_cases,
            "skipped": dict(self.skipped),
            "nan_scores": self.nan_scores,
            "coverage": self.coverage,
            "params": dict(self.params),
            "metrics": [{k: _json_number(v) for k, v in row.items()} for row in self.to_rows()],
        }


def _json_number(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def train_data(catalog: Catalog, split: Split, vectors: np.ndarray | None = None) -> TrainData:
    """The :class:`~artrec.recommend.base.TrainData` a recommender is fitted on for ``split``.

    It holds the split's training events (per user, with times and kinds), the
    catalogue's metadata and ``vectors``; ``available`` is left ``None`` because the
    evaluator applies each case's own candidate set.
    """
    return train_data_from(catalog, split.train, vectors=vectors)


def user_popularity(split: Split, catalog: Catalog) -> tuple[np.ndarray, int]:
    """Distinct users per catalogue row over the split's whole log, and the number of users.

    This is the popularity novelty is measured against: it describes the recommended
    items, not what the recommender knew, so it counts every event of the protocol.
    """
    rows = catalog.rows_of(split.log.item_ids, missing="mark")
    pairs = {
        (u, r) for u, r in zip(split.log.user_ids.tolist(), rows.tolist(), strict=True) if r >= 0
    }
    pop = np.zeros(catalog.n_items, dtype=np.int64)
    for _, r in pairs:
        pop[r] += 1
    return pop, len(set(split.log.user_ids.tolist()))


def evaluate(
    recommender: Recommender,
    catalog: Catalog,
    split: Split,
    *,
    k: int = 10,
    vectors: np.ndarray | None = None,
    diversity_vectors: np.ndarray | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    fit: bool = True,
    name: str | None = None,
    workspace: Workspace | None = None,
    params: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Evaluate ``recommender`` on every case of ``split``.

    Parameters
    ----------
    recommender
        Any :class:`~artrec.recommend.base.Recommender`.
    catalog
        The catalogue the split's rows refer to.
    split
        Cases from :mod:`artrec.evaluation.protocols`.
    k
        List length for the @k metrics; clamped to the catalogue size (the metrics are then
        named for that size).
    vectors
        ``(n_items, dim)`` item vectors aligned to the catalogue, given to the recommender
        in its :class:`~artrec.recommend.base.TrainData` (VisRank needs them).
    diversity_vectors
        Vectors in which intra-list diversity is measured; defaults to ``vectors``. Without
        either, diversity is NaN for every case (and reported as such).
    chunk_size
        Cases scored at once; memory is about ``chunk_size * n_items * 8`` bytes.
    fit
        Fit the recommender on :func:`train_data` first (default). Pass ``False`` for a
        recommender already fitted on data that cannot leak the held-out events.
    name
        Name in tables; defaults to ``recommender.name``.
    workspace
        When given, the run's parameters and summary are stored in its ``runs`` table.
    params
        Extra parameters to record with the run.
    progress
        Called as ``progress(done, n_cases)`` after each chunk of cases.

    Returns
    -------
    EvaluationResult
    """
    k = clamp_k(k, catalog.n_items)  # no list is longer than the catalogue
    if chunk_size < 1:
        raise DataError(f"chunk_size must be >= 1, got {chunk_size}")
    if split.n_items != catalog.n_items:
        raise DataError(
            f"the split refers to {split.n_items} items but the catalogue has {catalog.n_items}"
        )
    for label, vec in (("vectors", vectors), ("diversity_vectors", diversity_vectors)):
        if vec is not None and (vec.ndim != 2 or vec.shape[0] != catalog.n_items):
            raise DataError(f"{label} has shape {vec.shape}; expected ({catalog.n_items}, dim)")
    div_vectors = vectors if diversity_vectors is None else diversity_vectors
    if fit:
        recommender.fit(train_data(catalog, split, vectors))
    popularity, n_users = user_popularity(split, catalog)
    names = metric_names(k)
    values: dict[str, list[float]] = {m: [] for m in names}
    kept_cases: list[int] = []
    lists: list[np.ndarray] = []
    no_relevant = 0
    nan_scores = 0
    n = split.n_cases
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        scores = np.array(recommender.score(split.profiles[start:stop]), dtype=np.float64)
        if scores.shape != (stop - start, catalog.n_items):
            raise DataError(
                f"recommender {name or recommender.name!r} returned scores of shape "
                f"{scores.shape}; expected ({stop - start}, {catalog.n_items})"
            )
        masks = split.candidate_masks(start, stop)
        nan = np.isnan(scores)
        nan_scores += int((nan & masks).sum())
        scores[nan] = -np.inf
        masked = np.where(masks, scores, -np.inf)
        top_rows, _ = top_k(masked, k)
        for j in range(stop - start):
            case = start + j
            mask = masks[j]
            rel = split.relevant[case]
            rel = rel[mask[rel]] if len(rel) else rel
            if len(rel) == 0:
                no_relevant += 1
                continue
            ranked = top_rows[j]
            s = scores[j]
            kept_cases.append(case)
            lists.append(ranked)
            first = int(M.positions_of(s, mask, rel).min())
            values["auc"].append(M.auc(s, mask, rel))
            values["rr"].append(1.0 / first)
            values[f"p@{k}"].append(M.precision_at_k(ranked, rel, k))
            values[f"r@{k}"].append(M.recall_at_k(ranked, rel, k))
            values[f"hr@{k}"].append(M.hit_rate_at_k(ranked, rel, k))
            values[f"ap@{k}"].append(M.average_precision_at_k(ranked, rel, k))
            values[f"ndcg@{k}"].append(M.ndcg_at_k(ranked, rel, k))
            values[f"diversity@{k}"].append(
                float("nan") if div_vectors is None else M.intra_list_diversity(ranked, div_vectors)
            )
            values[f"novelty@{k}"].append(M.novelty(ranked, popularity, n_users))
        if progress is not None:
            progress(stop, n)
    per_user = {m: np.asarray(v, dtype=np.float64) for m, v in values.items()}
    summary = {m: summarise(v) for m, v in per_user.items()}
    all_lists = np.asarray(lists, dtype=np.int64).reshape(len(lists), k)
    coverage = M.catalog_coverage(all_lists, catalog.n_items) if catalog.n_items else float("nan")
    skipped = dict(split.skipped)
    if no_relevant:
        skipped["no_relevant_candidate"] = no_relevant
    case_index = np.asarray(kept_cases, dtype=np.int64)
    label = name or recommender.name
    run_params = {"recommender": label, "protocol": split.protocol, "k": k, **(params or {})}
    result = EvaluationResult(
        name=label,
        protocol=split.protocol,
        k=k,
        user_ids=split.user_ids[case_index] if len(case_index) else np.zeros(0, dtype=object),
        case_index=case_index,
        per_user=per_user,
        summary=summary,
        coverage=coverage,
        skipped=skipped,
        nan_scores=nan_scores,
        lists=all_lists,
        params=run_params,
    )
    return result if workspace is None else record_evaluation(workspace, result)


def record_evaluation(workspace: Workspace, result: EvaluationResult) -> EvaluationResult:
    """Store ``result`` as an ``evaluation`` run of ``workspace``; returns it with its ``run_id``."""
    from dataclasses import replace

    run_id = workspace.record_run("evaluation", result.params, result.to_dict())
    return replace(result, run_id=run_id)


def paired_cases(results: Sequence[EvaluationResult]) -> bool:
    """Whether every result covers exactly the same cases of the same protocol."""
    if not results:
        return True
    first = results[0]
    return all(
        r.protocol == first.protocol and np.array_equal(r.case_index, first.case_index)
        for r in results[1:]
    )
