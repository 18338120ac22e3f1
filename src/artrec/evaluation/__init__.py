"""Evaluation: metrics, protocols, the evaluator and side-by-side comparison.

* :mod:`artrec.evaluation.metrics`: pure per-user metric functions.
* :mod:`artrec.evaluation.protocols`: given split, leave-last-out, time replay.
* :mod:`artrec.evaluation.evaluator`: :func:`evaluate` one recommender on one split.
* :mod:`artrec.evaluation.configs`: ``Config`` and the registry of recommender kinds.
* :mod:`artrec.evaluation.comparison`: ``compare`` configurations with paired tests.
* :mod:`artrec.evaluation.runs`: both on a workspace (what the CLI runs).

``from artrec.evaluation import evaluate`` (or any public name of these modules) works;
the module is imported on first use, so importing one submodule (the CLI reads
:mod:`artrec.evaluation.configs` for its choices) loads nothing else.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where package-level names are looked up, cheapest module first.
_MODULES = ("metrics", "protocols", "configs", "evaluator", "comparison")


def __getattr__(name: str) -> Any:
    if name in _MODULES:  # ``from artrec.evaluation import metrics``: the submodule itself
        return importlib.import_module(f"artrec.evaluation.{name}")
    if not name.startswith("_"):
        for module in _MODULES:
            mod = importlib.import_module(f"artrec.evaluation.{module}")
            if name in mod.__all__:
                return getattr(mod, name)
    raise AttributeError(f"module 'artrec.evaluation' has no attribute {name!r}")
