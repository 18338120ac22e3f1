"""The configuration of a VisRank run, and the aggregation names (defined here only).

:class:`VisRankConfig` names one content-based recommender: which embedding, which similarity
metric, how a profile's similarities are aggregated, and ``m`` for the top-m mean. The
engine, the evaluation, the server settings, batch recommendation and the CLI all take one;
its :attr:`~VisRankConfig.label` is the name shown in tables. What each aggregation computes
is documented in :mod:`artrec.recommend.visrank`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from artrec.errors import DataError, short_repr
from artrec.similarity import check_metric

#: Aggregations of a profile's similarities, in the order the CLI and tables list them.
AGGREGATIONS: tuple[str, ...] = ("sum_distance", "sum", "mean", "max", "topm_mean")
#: The notebook's ranking: the sum of distances to the profile.
DEFAULT_AGGREGATION = "sum_distance"
#: The default similarity metric.
DEFAULT_METRIC = "cosine"


def check_aggregation(aggregation: str) -> str:
    """Return ``aggregation`` if known, else raise :class:`DataError` listing the choices."""
    if aggregation not in AGGREGATIONS:
        raise DataError(
            f"unknown aggregation {str(aggregation)[:64]!r}; choose one of {', '.join(AGGREGATIONS)}"
        )
    return aggregation


@dataclass(frozen=True)
class VisRankConfig:
    """One VisRank configuration (validated on creation).

    Parameters
    ----------
    embedding
        Embedding name; ``None`` means the workspace's default embedding (see
        :meth:`artrec.data.workspace.Workspace.resolve_embedding`).
    metric
        Similarity metric (:data:`artrec.similarity.METRICS`).
    aggregation
        One of :data:`AGGREGATIONS`.
    m
        Number of largest similarities averaged by ``topm_mean`` (>= 1).

    Raises
    ------
    DataError
        For an unknown metric or aggregation, or ``m < 1``.
    """

    embedding: str | None = None
    metric: str = DEFAULT_METRIC
    aggregation: str = DEFAULT_AGGREGATION
    m: int = 3

    def __post_init__(self) -> None:
        check_metric(self.metric)
        check_aggregation(self.aggregation)
        if isinstance(self.m, bool) or not isinstance(self.m, int) or self.m < 1:
            raise DataError(f"m must be an integer >= 1, got {short_repr(self.m)}")
        if self.embedding is not None and not isinstance(self.embedding, str):
            raise DataError(f"embedding must be a name, got {short_repr(self.embedding)}")

    def with_embedding(self, embedding: str) -> VisRankConfig:
        """The same configuration on a named embedding."""
        return replace(self, embedding=embedding)

    def override(self, **changes: Any) -> VisRankConfig:
        """A copy with ``changes`` applied; ``None`` values leave a field as it is (and with
        nothing to change, this configuration itself is returned)."""
        changes = {k: v for k, v in changes.items() if v is not None and getattr(self, k) != v}
        return replace(self, **changes) if changes else self

    @property
    def aggregation_label(self) -> str:
        """The aggregation as tables show it (``top3_mean`` for ``topm_mean`` with m=3)."""
        return f"top{self.m}_mean" if self.aggregation == "topm_mean" else self.aggregation

    @property
    def label(self) -> str:
        """``visrank:EMBEDDING/METRIC/AGGREGATION`` (``default`` for an unnamed embedding)."""
        return f"visrank:{self.embedding or 'default'}/{self.metric}/{self.aggregation_label}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "embedding": self.embedding,
            "metric": self.metric,
            "aggregation": self.aggregation,
            "m": self.m,
        }
