"""What a report shows, as typed records: :class:`ReportResults`.

The demo (:func:`artrec.demo.run_demo`) and :func:`artrec.report.collect.collect_results`
fill one; :func:`artrec.report.html.write_report` renders it. It is stored in a workspace as
JSON (:meth:`ReportResults.to_json`; a ``demo`` run and the ``demo_results`` meta key) and
read back with :meth:`ReportResults.from_json`, which also reads results stored by earlier
versions (the same keys).

Configurations keep their structure: every evaluated configuration has a
:class:`ConfigInfo` with its kind and parameters (embedding, metric, aggregation, ...), so
readers group and look up configurations by field, never by parsing their names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from artrec.config import VisRankConfig


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


@dataclass(frozen=True)
class MetricRow:
    """One (configuration, metric) cell of the comparison: mean, 95% CI and paired tests
    against the baseline (``None`` where not applicable)."""

    config: str
    metric: str
    mean: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    n_nan: int | None = 0
    diff: float | None = None
    p_ttest: float | None = None
    p_ttest_holm: float | None = None
    p_wilcoxon: float | None = None
    p_wilcoxon_holm: float | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MetricRow:
        """From one row of :meth:`ComparisonResult.to_rows
        <artrec.evaluation.comparison.ComparisonResult.to_rows>`."""
        return cls(
            str(d["config"]),
            str(d["metric"]),
            _num(d.get("mean")),
            _num(d.get("ci_low")),
            _num(d.get("ci_high")),
            d.get("n"),
            d.get("n_nan", 0),
            _num(d.get("diff")),
            _num(d.get("p_ttest")),
            _num(d.get("p_ttest_holm")),
            _num(d.get("p_wilcoxon")),
            _num(d.get("p_wilcoxon_holm")),
        )

    def to_json(self) -> dict[str, Any]:
        """The row as stored."""
        return dict(self.__dict__)

    def significant(self, alpha: float = 0.05) -> bool:
        """Both Holm-adjusted paired p-values below ``alpha``."""
        p, pw = self.p_ttest_holm, self.p_wilcoxon_holm
        return p is not None and pw is not None and p < alpha and pw < alpha


@dataclass(frozen=True)
class ConfigInfo:
    """One evaluated configuration: its name in tables, kind and parameters, and counts."""

    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    n_cases: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    nan_scores: int = 0

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ConfigInfo:
        """From one entry of :meth:`ComparisonResult.to_dict
        <artrec.evaluation.comparison.ComparisonResult.to_dict>` ``["configs"]``."""
        params = dict(d.get("params") or {})
        kind = str(params.get("kind") or d.get("kind") or d["name"])
        return cls(
            str(d["name"]),
            kind,
            params,
            d.get("n_cases"),
            dict(d.get("skipped") or {}),
            int(d.get("nan_scores") or 0),
        )

    def to_json(self) -> dict[str, Any]:
        """The entry as stored."""
        return {
            "name": self.name,
            "n_cases": self.n_cases,
            "skipped": self.skipped,
            "nan_scores": self.nan_scores,
            "params": {"kind": self.kind, **self.params},
        }

    def get(self, param: str) -> Any:
        """A parameter (``embedding``, ``metric``, ``aggregation``, ...), or ``None``."""
        return self.params.get(param)


@dataclass(frozen=True)
class EvaluationTable:
    """A comparison of configurations on the same cases."""

    protocol: str | None
    k: int
    baseline: str | None
    n_cases: int | None
    rows: list[MetricRow]
    configs: list[ConfigInfo] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    run_id: int | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> EvaluationTable:
        """From the stored ``evaluation`` record."""
        return cls(
            d.get("protocol"),
            int(d.get("k", 10)),
            d.get("baseline"),
            d.get("n_cases"),
            [MetricRow.from_json(r) for r in d.get("rows") or []],
            [ConfigInfo.from_json(c) for c in d.get("configs") or []],
            dict(d.get("skipped") or {}),
            d.get("run_id"),
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        return {
            "protocol": self.protocol,
            "k": self.k,
            "baseline": self.baseline,
            "n_cases": self.n_cases,
            "skipped": self.skipped,
            "rows": [r.to_json() for r in self.rows],
            "configs": [c.to_json() for c in self.configs],
            "run_id": self.run_id,
        }

    @property
    def config_names(self) -> list[str]:
        """Configuration names in table order."""
        return list(dict.fromkeys(r.config for r in self.rows))

    def cell(self, config: str | None, metric: str) -> MetricRow | None:
        """The row of ``config`` and ``metric``."""
        for r in self.rows:
            if r.config == config and r.metric == metric:
                return r
        return None

    def mean(self, config: str | None, metric: str) -> float | None:
        """The mean of ``metric`` for ``config``."""
        row = self.cell(config, metric)
        return None if row is None else row.mean

    def best(self, metric: str) -> str | None:
        """The configuration with the highest mean ``metric`` (first in table order on a
        tie), or ``None`` when no configuration has a finite one."""
        means = [
            (r.mean, r.config)
            for r in self.rows
            if r.metric == metric and r.mean is not None and math.isfinite(r.mean)
        ]
        return max(means, key=lambda m: m[0])[1] if means else None

    def info(self, config: str) -> ConfigInfo | None:
        """The :class:`ConfigInfo` of ``config``."""
        return next((c for c in self.configs if c.name == config), None)

    def find(self, kind: str, **params: Any) -> str | None:
        """The name of the configuration of ``kind`` with these parameters, if evaluated."""
        for c in self.configs:
            if c.kind == kind and all(c.get(k) == v for k, v in params.items()):
                return c.name
        return None

    def notebook_config(self, embedding: str | None = None) -> str | None:
        """The configuration that is the notebook's method, found by what it is: VisRank
        ranking by the sum of cosine distances (:class:`~artrec.config.VisRankConfig`'s
        defaults), on ``embedding`` when given and evaluated, else the only such
        configuration; ``None`` when the comparison holds none (or several and no
        ``embedding`` picks one). Never the comparison's baseline by position."""
        notebook = VisRankConfig()
        names = [
            c.name
            for c in self.configs
            if c.kind == "visrank"
            and c.get("metric") == notebook.metric
            and c.get("aggregation") == notebook.aggregation
            and c.name in self.config_names
        ]
        if embedding is not None:
            named = [
                n for n in names if (info := self.info(n)) and info.get("embedding") == embedding
            ]
            if named:
                return named[0]
        return names[0] if len(names) == 1 else None

    def identical_groups(self, metrics: list[str]) -> list[list[str]]:
        """Configurations whose rows agree on every one of ``metrics`` (mean, interval and
        case count), in table order, each group listed once: e.g. the sum of distances, the
        sum and the mean of similarities, which rank every list the same way."""
        groups: dict[tuple[Any, ...], list[str]] = {}
        for name in self.config_names:
            key = tuple(
                None if (r := self.cell(name, m)) is None else (r.mean, r.ci_low, r.ci_high, r.n)
                for m in metrics
            )
            groups.setdefault(key, []).append(name)
        return list(groups.values())


@dataclass(frozen=True)
class SimilarExample:
    """A query work and its neighbours ``(item_id, score)`` in each embedding."""

    query: str
    metric: str
    neighbours: dict[str, list[tuple[str, float]]]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SimilarExample:
        """From the stored record (``embeddings`` holds the neighbours)."""
        return cls(
            str(d["query"]),
            str(d.get("metric", "cosine")),
            {
                str(emb): [(str(i), float(s)) for i, s in found]
                for emb, found in (d.get("embeddings") or {}).items()
            },
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        return {
            "query": self.query,
            "metric": self.metric,
            "embeddings": {e: [[i, s] for i, s in f] for e, f in self.neighbours.items()},
        }


@dataclass(frozen=True)
class RecommendedItem:
    """One recommendation shown for a collector."""

    item_id: str
    score: float
    because_item_id: str | None


@dataclass(frozen=True)
class CollectorExample:
    """A collector: what they bought, what they bought next, what is recommended."""

    user_id: str
    bought: list[str]
    n_bought: int
    next: list[str]
    config: str
    recommendations: list[RecommendedItem]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CollectorExample:
        """From the stored record."""
        bought = [str(i) for i in d.get("bought") or []]
        return cls(
            str(d["user_id"]),
            bought,
            int(d.get("n_bought", len(bought))),
            [str(i) for i in d.get("next") or []],
            str(d.get("config", "")),
            [
                RecommendedItem(
                    str(r["item_id"]),
                    float(r["score"]),
                    None if r.get("because_item_id") is None else str(r["because_item_id"]),
                )
                for r in d.get("recommendations") or []
            ],
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        return {
            "user_id": self.user_id,
            "bought": self.bought,
            "n_bought": self.n_bought,
            "next": self.next,
            "config": self.config,
            "recommendations": [dict(r.__dict__) for r in self.recommendations],
        }


@dataclass(frozen=True)
class SameArtist:
    """Same-artist retrieval of one set of vectors."""

    p_at_10: float | None
    map: float | None
    n_queries: int | None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SameArtist:
        """From the stored record (``p@10``, ``map``, ``n_queries``)."""
        return cls(_num(d.get("p@10")), _num(d.get("map")), d.get("n_queries"))

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        return {"p@10": self.p_at_10, "map": self.map, "n_queries": self.n_queries}


@dataclass(frozen=True)
class Diversity:
    """How varied a configuration's lists are (see :func:`artrec.report.collect.list_diversity`)."""

    ild: float | None
    distinct_artists: float | None
    profile_artist_share: float | None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Diversity:
        """From the stored record."""
        return cls(
            _num(d.get("ild")), _num(d.get("distinct_artists")), _num(d.get("profile_artist_share"))
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class EmbeddingSummary:
    """An embedding's inputs and explained variance (from its sidecar)."""

    inputs: list[str] = field(default_factory=list)
    input_dims: list[int] = field(default_factory=list)
    n_components: int | None = None
    explained_variance_ratio: list[float] = field(default_factory=list)
    explained_variance_total: float | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> EmbeddingSummary:
        """From a sidecar or the stored record (other keys ignored)."""
        return cls(
            [str(x) for x in d.get("inputs") or []],
            [int(x) for x in d.get("input_dims") or []],
            None if d.get("n_components") is None else int(d["n_components"]),
            [float(x) for x in d.get("explained_variance_ratio") or []],
            _num(d.get("explained_variance_total")),
            [str(x) for x in d.get("notes") or []],
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        return dict(self.__dict__)


def _mapping(d: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    value = (d or {}).get(key)
    return dict(value) if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class ReportResults:
    """Everything a report shows; every part is optional (missing parts are left out).

    ``simulation``, ``dataset`` and ``features`` are flat facts for the page's header;
    ``embedding_roles`` names the demo's ``cnn``, ``handcrafted`` and ``hybrid`` embeddings.
    ``learned`` is the table of the models that learn from the collectors (every baseline,
    every collaborative model and the tuned hybrid) under time replay with refits, paired-
    tested against the best single model; ``chosen_model`` describes the workspace's chosen
    model (:func:`artrec.recommend.serving.describe`).
    """

    title: str = ""
    label: str | None = None
    dataset: dict[str, Any] = field(default_factory=dict)
    simulation: dict[str, Any] = field(default_factory=dict)
    simulation_params: dict[str, Any] = field(default_factory=dict)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    embeddings: dict[str, EmbeddingSummary] = field(default_factory=dict)
    spectra: dict[str, list[float]] = field(default_factory=dict)
    same_artist: dict[str, SameArtist] = field(default_factory=dict)
    evaluation: EvaluationTable | None = None
    similar_examples: list[SimilarExample] = field(default_factory=list)
    collectors: list[CollectorExample] = field(default_factory=list)
    diversity: dict[str, Diversity] = field(default_factory=dict)
    map_embedding: str | None = None
    embedding_roles: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    main_config: str | None = None
    best_config: str | None = None
    created: str | None = None
    learned: EvaluationTable | None = None
    chosen_model: dict[str, Any] = field(default_factory=dict)

    def notebook_config(self) -> str | None:
        """The evaluated configuration that is the notebook's method (see
        :meth:`EvaluationTable.notebook_config`), preferring the hybrid embedding, then the
        embedding of the 2-D map (the workspace's default)."""
        ev = self.evaluation
        if ev is None:
            return None
        for embedding in (self.embedding_roles.get("hybrid"), self.map_embedding):
            if embedding is not None and (found := ev.notebook_config(embedding)) is not None:
                return found
        return ev.notebook_config()

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ReportResults:
        """Read stored results (also those of earlier versions)."""
        sim = _mapping(d, "simulation")
        ev = d.get("evaluation")
        return cls(
            title=str(d.get("title") or ""),
            label=d.get("label"),
            dataset=_mapping(d, "dataset"),
            simulation=_mapping(sim, "stats"),
            simulation_params=_mapping(sim, "params"),
            features={str(k): dict(v) for k, v in _mapping(d, "features").items()},
            embeddings={
                str(k): EmbeddingSummary.from_json(v) for k, v in _mapping(d, "embeddings").items()
            },
            spectra={str(k): [float(x) for x in v] for k, v in _mapping(d, "spectra").items()},
            same_artist={
                str(k): SameArtist.from_json(v) for k, v in _mapping(d, "same_artist").items()
            },
            evaluation=EvaluationTable.from_json(ev) if ev and ev.get("rows") else None,
            similar_examples=[SimilarExample.from_json(x) for x in d.get("similar_examples") or []],
            collectors=[CollectorExample.from_json(x) for x in d.get("collectors") or []],
            diversity={str(k): Diversity.from_json(v) for k, v in _mapping(d, "diversity").items()},
            map_embedding=_mapping(d, "map").get("embedding"),
            embedding_roles={str(k): str(v) for k, v in _mapping(d, "embedding_roles").items()},
            timings={str(k): float(v) for k, v in _mapping(d, "timings").items()},
            main_config=d.get("main_config"),
            best_config=d.get("best_config"),
            created=d.get("created"),
            learned=EvaluationTable.from_json(lr) if (lr := d.get("learned")) else None,
            chosen_model=_mapping(d, "chosen_model"),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, with the keys :meth:`from_json` reads."""
        simulation: dict[str, Any] = {"stats": self.simulation} if self.simulation else {}
        if self.simulation_params:
            simulation["params"] = self.simulation_params
        return {
            "title": self.title,
            "label": self.label,
            "dataset": self.dataset,
            "simulation": simulation,
            "features": self.features,
            "embeddings": {k: v.to_json() for k, v in self.embeddings.items()},
            "spectra": self.spectra,
            "same_artist": {k: v.to_json() for k, v in self.same_artist.items()},
            "evaluation": None if self.evaluation is None else self.evaluation.to_json(),
            "similar_examples": [x.to_json() for x in self.similar_examples],
            "collectors": [x.to_json() for x in self.collectors],
            "diversity": {k: v.to_json() for k, v in self.diversity.items()},
            "map": {"embedding": self.map_embedding} if self.map_embedding else {},
            "embedding_roles": self.embedding_roles,
            "timings": self.timings,
            "main_config": self.main_config,
            "best_config": self.best_config,
            "created": self.created,
            "learned": None if self.learned is None else self.learned.to_json(),
            "chosen_model": self.chosen_model,
        }


def evaluation_table(
    comparison: Any, *, baseline: str | None = None, run_id: int | None = None
) -> EvaluationTable:
    """An :class:`EvaluationTable` from a :class:`~artrec.evaluation.comparison.ComparisonResult`."""
    d = comparison.to_dict()
    first = next(iter(comparison.results.values()))
    return EvaluationTable(
        first.protocol,
        first.k,
        baseline or comparison.baseline,
        first.n_cases,
        [MetricRow.from_json(r) for r in d["rows"]],
        [ConfigInfo.from_json(c) for c in d["configs"]],
        dict(first.skipped),
        run_id,
    )


__all__ = [
    "CollectorExample",
    "ConfigInfo",
    "Diversity",
    "EmbeddingSummary",
    "EvaluationTable",
    "MetricRow",
    "RecommendedItem",
    "ReportResults",
    "SameArtist",
    "SimilarExample",
    "evaluation_table",
]
