"""Build a :class:`~artrec.index.base.SimilarityIndex` by name.

``exact`` is the numpy brute-force :class:`~artrec.index.exact.ExactIndex`; the
``faiss-*`` kinds are :class:`artrec.index.faiss_index.FaissIndex`, imported only when asked
for (FAISS is an optional extra).
"""

from __future__ import annotations

import importlib
from typing import Any

from artrec.errors import DataError, MissingDependencyError
from artrec.index.base import MutableIndex
from artrec.similarity import check_metric

#: Index kinds :func:`make_index` knows.
INDEX_KINDS: tuple[str, ...] = ("exact", "faiss-flat", "faiss-ivf", "faiss-hnsw")


def make_index(kind: str = "exact", metric: str = "cosine", **params: Any) -> MutableIndex:
    """A new, empty index of ``kind`` under ``metric``; call ``build`` on it.

    Parameters
    ----------
    kind
        One of :data:`INDEX_KINDS`.
    metric
        One of :data:`artrec.similarity.METRICS` (FAISS kinds support fewer).
    **params
        Passed to the index constructor (e.g. ``batch_size`` for ``exact``; ``nlist``,
        ``nprobe``, ``M``, ``efSearch`` for FAISS).

    Raises
    ------
    DataError
        For an unknown kind or metric, or parameters the index does not take.
    MissingDependencyError
        When a FAISS kind is asked for and the FAISS index module or library is missing.
    """
    check_metric(metric)
    if kind == "exact":
        from artrec.index.exact import ExactIndex

        cls: Any = ExactIndex
        args: tuple[Any, ...] = (metric,)
    elif kind in INDEX_KINDS and kind.startswith("faiss-"):
        try:
            module = importlib.import_module("artrec.index.faiss_index")
        except ModuleNotFoundError as exc:
            raise MissingDependencyError(
                f"index kind {kind!r} needs FAISS support ({exc.name} is not installed); "
                "install the extra: pip install 'artrec[faiss]'"
            ) from None
        cls = module.FaissIndex
        args = ()
        params = {"kind": kind.removeprefix("faiss-"), "metric": metric, **params}
    else:
        raise DataError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")
    try:
        index: MutableIndex = cls(*args, **params)
    except TypeError as exc:
        raise DataError(f"bad parameters for index kind {kind!r}: {exc}") from None
    return index
