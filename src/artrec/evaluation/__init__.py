"""Evaluation: metrics, protocols, the evaluator and side-by-side comparison.

* :mod:`artrec.evaluation.metrics`: pure per-user metric functions.
* :mod:`artrec.evaluation.protocols`: given split, leave-last-out, time replay.
* :mod:`artrec.evaluation.evaluator`: :func:`evaluate` one recommender on one split.
* :mod:`artrec.evaluation.configs`: :class:`Config` and the registry of recommender kinds.
* :mod:`artrec.evaluation.comparison`: :func:`compare` configurations with paired tests.
* :mod:`artrec.evaluation.runs`: both on a workspace (what the CLI runs).

Names are imported from their modules on first use, so importing one submodule (the CLI
reads :mod:`artrec.evaluation.configs` for its choices) loads nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from artrec.evaluation.comparison import (
        ComparisonResult,
        EvalData,
        PairedTest,
        compare,
        compare_results,
    )
    from artrec.evaluation.configs import Config, config_grid
    from artrec.evaluation.evaluator import (
        EvaluationResult,
        MetricSummary,
        evaluate,
        summarise,
    )
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

_WHERE: dict[str, str] = {
    **dict.fromkeys(
        ["ComparisonResult", "EvalData", "PairedTest", "compare", "compare_results"], "comparison"
    ),
    **dict.fromkeys(["Config", "config_grid"], "configs"),
    **dict.fromkeys(["EvaluationResult", "MetricSummary", "evaluate", "summarise"], "evaluator"),
    **dict.fromkeys(
        [
            "auc",
            "average_precision_at_k",
            "catalog_coverage",
            "hit_rate_at_k",
            "intra_list_diversity",
            "ndcg_at_k",
            "novelty",
            "precision_at_k",
            "recall_at_k",
            "reciprocal_rank",
        ],
        "metrics",
    ),
    **dict.fromkeys(
        ["PROTOCOLS", "Split", "given_split", "leave_last_out", "make_split", "time_replay"],
        "protocols",
    ),
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'artrec.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"artrec.evaluation.{module}"), name)
