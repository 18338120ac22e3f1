"""Evaluation: metrics, protocols, the evaluator and side-by-side comparison.

* :mod:`artrec.evaluation.metrics`: pure per-user metric functions.
* :mod:`artrec.evaluation.protocols`: given split, leave-last-out, time replay.
* :mod:`artrec.evaluation.evaluator`: :func:`evaluate` one recommender on one split.
* :mod:`artrec.evaluation.comparison`: :func:`compare` configurations with paired tests.
"""

from artrec.evaluation.comparison import (
    ComparisonResult,
    Config,
    EvalData,
    PairedTest,
    compare,
    compare_results,
    config_grid,
)
from artrec.evaluation.evaluator import EvaluationResult, MetricSummary, evaluate, summarise
from artrec.evaluation.metrics import (
    auc,
    average_precision_at_k,
    catalog_coverage,
    hit_rate_at_k,
    intra_list_diversity,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
)
from artrec.evaluation.protocols import (
    PROTOCOLS,
    Split,
    given_split,
    leave_last_out,
    make_split,
    time_replay,
)

__all__ = [
    "PROTOCOLS",
    "ComparisonResult",
    "Config",
    "EvalData",
    "EvaluationResult",
    "MetricSummary",
    "PairedTest",
    "Split",
    "auc",
    "average_precision_at_k",
    "catalog_coverage",
    "compare",
    "compare_results",
    "config_grid",
    "evaluate",
    "given_split",
    "hit_rate_at_k",
    "intra_list_diversity",
    "leave_last_out",
    "make_split",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "summarise",
    "time_replay",
]
