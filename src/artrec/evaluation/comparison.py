"""Compare recommender configurations on the same cases, with paired significance tests.

A :class:`Config` names one recommender: VisRank with an embedding, a similarity metric and
an aggregation, or a baseline (random, popular, favourite artist). :func:`config_grid`
builds embedding x metric x aggregation plus the baselines; :func:`compare` evaluates all of
them on ONE split, so every configuration is measured on exactly the same cases, and tests
each against a chosen baseline.

Paired tests
------------
For every metric and every configuration other than the baseline, the per-case values of
the configuration and of the baseline are paired by case (cases where either is NaN are
left out and the pair count ``n`` is reported). Two tests are reported:

* the paired Student t-test (:func:`scipy.stats.ttest_rel`, two-sided), and
* the Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`, two-sided, zero differences
  dropped, the ``"wilcox"`` method of scipy), with the exact null distribution for at most
  50 distinct nonzero differences and the tie-corrected normal approximation otherwise
  (:func:`wilcoxon_method`).

When every paired difference is zero both p-values are 1 (no evidence of a difference);
with fewer than two pairs they are NaN.

Multiple testing: within each metric, the p-values of all configurations against the
baseline form one family and are adjusted with the Holm step-down method
(``p_(i) -> max_{j<=i} min(1, (m - j + 1) p_(j))`` over the ``m`` p-values sorted
ascending). Raw and Holm-adjusted p-values are both reported.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError
from artrec.evaluation.evaluator import (
    DEFAULT_CHUNK,
    EvaluationResult,
    evaluate,
    paired_cases,
)
from artrec.evaluation.protocols import Split, make_split
from artrec.recommend.base import Recommender
from artrec.similarity import METRICS

#: Recommender kinds a :class:`Config` can name.
KINDS: tuple[str, ...] = ("visrank", "random", "popular", "artist")

#: VisRank aggregations.
AGGREGATIONS: tuple[str, ...] = ("sum_distance", "sum", "mean", "max", "topm_mean")

#: Significance level used for the markers in :meth:`ComparisonResult.table_rows`.
ALPHA = 0.05


@dataclass(frozen=True)
class Config:
    """One recommender configuration.

    Parameters
    ----------
    name
        Name in tables; when empty, one is derived (``visrank:EMB/METRIC/AGG`` or the kind).
    kind
        ``"visrank"``, ``"random"``, ``"popular"`` or ``"artist"``.
    embedding
        Embedding name (VisRank); ``None`` means the workspace's default embedding.
    metric
        Similarity metric (VisRank).
    aggregation
        Aggregation over the profile (VisRank).
    m
        Profile items averaged by ``topm_mean``.
    seed
        Seed of the random baseline.
    """

    name: str = ""
    kind: str = "visrank"
    embedding: str | None = None
    metric: str = "cosine"
    aggregation: str = "sum_distance"
    m: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DataError(
                f"unknown recommender kind {self.kind!r}; choose one of {', '.join(KINDS)}"
            )
        if self.kind == "visrank":
            if self.metric not in METRICS:
                raise DataError(
                    f"unknown metric {self.metric!r}; choose one of {', '.join(METRICS)}"
                )
            if self.aggregation not in AGGREGATIONS:
                raise DataError(
                    f"unknown aggregation {self.aggregation!r}; choose one of {', '.join(AGGREGATIONS)}"
                )
            if self.m < 1:
                raise DataError(f"m must be >= 1, got {self.m}")
        if not self.name:
            object.__setattr__(self, "name", self.default_name())

    def default_name(self) -> str:
        """The derived name (used when ``name`` is empty)."""
        if self.kind != "visrank":
            return self.kind
        agg = f"top{self.m}_mean" if self.aggregation == "topm_mean" else self.aggregation
        return f"visrank:{self.embedding or 'default'}/{self.metric}/{agg}"

    @property
    def needs_embedding(self) -> bool:
        """Whether the recommender needs item vectors."""
        return self.kind == "visrank"

    def build(self) -> Recommender:
        """A new, unfitted recommender for this configuration."""
        if self.kind == "visrank":
            from artrec.recommend.visrank import VisRankRecommender

            return VisRankRecommender(metric=self.metric, aggregation=self.aggregation, m=self.m)
        from artrec.recommend import baselines

        if self.kind == "random":
            return baselines.RandomRecommender(seed=self.seed)
        if self.kind == "popular":
            return baselines.PopularRecommender()
        return baselines.FavouriteArtistRecommender()


def config_grid(
    embeddings: Sequence[str | None],
    metrics: Sequence[str] = ("cosine",),
    aggregations: Sequence[str] = ("sum_distance",),
    baselines: Sequence[str] = ("random", "popular", "artist"),
    *,
    m: int = 3,
    seed: int = 0,
) -> list[Config]:
    """VisRank configurations for embedding x metric x aggregation, then the baselines.

    Duplicates are removed, keeping the first occurrence.
    """
    configs: list[Config] = []
    for emb in embeddings:
        for metric in metrics:
            for agg in aggregations:
                configs.append(
                    Config(kind="visrank", embedding=emb, metric=metric, aggregation=agg, m=m)
                )
    for kind in baselines:
        if kind == "visrank":
            raise DataError("'visrank' is not a baseline; name random, popular or artist")
        configs.append(Config(kind=kind, seed=seed))
    unique: dict[str, Config] = {}
    for c in configs:
        unique.setdefault(c.name, c)
    return list(unique.values())


@dataclass(frozen=True)
class EvalData:
    """Everything :func:`compare` needs, in memory.

    Parameters
    ----------
    catalog
        The catalogue.
    interactions
        The purchase log.
    embeddings
        Embedding name -> ``(n_items, dim)`` vectors aligned to the catalogue rows.
    default_embedding
        The embedding used when a configuration names none, and for diversity.
    """

    catalog: Catalog
    interactions: Interactions
    embeddings: Mapping[str, np.ndarray] = field(default_factory=dict)
    default_embedding: str | None = None

    @classmethod
    def from_workspace(
        cls,
        workspace: Workspace,
        embeddings: Sequence[str | None] = (),
        *,
        kinds: tuple[str, ...] | None = ("purchase",),
    ) -> EvalData:
        """Load the catalogue, the log (only ``kinds``) and the named embeddings.

        ``None`` in ``embeddings`` stands for the workspace's default embedding (meta key
        ``default_embedding``). Raises :class:`~artrec.errors.ArtrecError` when an embedding
        is missing or lacks catalogue items.
        """
        catalog = workspace.catalog()
        interactions = workspace.interactions(kinds=kinds)
        default = workspace.get_meta("default_embedding")
        names: list[str] = []
        for emb in embeddings:
            name = emb if emb is not None else default
            if name is None:
                raise ArtrecError(
                    "no embedding named and the workspace has no default embedding; "
                    "run `artrec embed` or pass --embedding"
                )
            if name not in names:
                names.append(name)
        vectors = {name: load_vectors(workspace, name, catalog) for name in names}
        return cls(catalog, interactions, vectors, default)

    def vectors(self, embedding: str | None) -> np.ndarray:
        """The vectors of ``embedding`` (``None``: the default one)."""
        name = embedding if embedding is not None else self.default_embedding
        if name is None:
            raise ArtrecError("no embedding named and no default embedding")
        if name not in self.embeddings:
            raise ArtrecError(
                f"embedding {name!r} is not loaded; available: {', '.join(self.embeddings) or 'none'}"
            )
        return self.embeddings[name]


def load_vectors(workspace: Workspace, name: str, catalog: Catalog) -> np.ndarray:
    """Embedding ``name`` of ``workspace`` as float32 rows aligned to ``catalog``."""
    from artrec.embedding import load_embedding

    fs = load_embedding(workspace, name)
    aligned = fs.align(catalog.item_ids)
    aligned.check_finite()
    return np.ascontiguousarray(aligned.matrix, dtype=np.float32)


@dataclass(frozen=True)
class PairedTest:
    """A configuration against the baseline on one metric (paired over cases)."""

    config: str
    metric: str
    n: int
    mean_diff: float
    t_stat: float
    p_ttest: float
    p_wilcoxon: float
    p_ttest_holm: float = float("nan")
    p_wilcoxon_holm: float = float("nan")


def paired_test(a: np.ndarray, b: np.ndarray, *, config: str = "", metric: str = "") -> PairedTest:
    """Paired t-test and Wilcoxon signed-rank test of ``a`` against ``b`` (same cases).

    Pairs with a NaN on either side are left out. See the module docstring for the
    conventions on all-zero differences and too few pairs.
    """
    from scipy import stats

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise DataError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    ok = ~(np.isnan(a) | np.isnan(b))
    x, y = a[ok], b[ok]
    n = len(x)
    nan = float("nan")
    if n < 2:
        return PairedTest(config, metric, n, float((x - y).mean()) if n else nan, nan, nan, nan)
    d = x - y
    mean_diff = float(d.mean())
    if not d.any():
        return PairedTest(config, metric, n, 0.0, 0.0, 1.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = stats.ttest_rel(x, y)
        t_stat, p_t = float(t.statistic), float(t.pvalue)
        try:
            p_w = float(stats.wilcoxon(x, y, method=wilcoxon_method(d)).pvalue)
        except ValueError:
            p_w = nan
    return PairedTest(config, metric, n, mean_diff, t_stat, p_t, p_w)


def wilcoxon_method(differences: np.ndarray) -> str:
    """The p-value method used for the Wilcoxon test of these paired differences.

    ``"exact"`` when there are at most 50 differences, none zero and no two with the same
    absolute value (the exact null distribution then holds; this is also SciPy's choice);
    otherwise ``"asymptotic"``, the normal approximation with SciPy's tie and zero
    corrections. SciPy's default would instead run an exhaustive permutation test for up to
    13 differences with ties or zeros, which takes seconds per test.
    """
    d = np.asarray(differences, dtype=np.float64)
    a = np.abs(d)
    if len(d) <= 50 and (a > 0).all() and len(np.unique(a)) == len(a):
        return "exact"
    return "asymptotic"


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN entries stay NaN and are not counted)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(len(p), np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order.tolist()):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


@dataclass(frozen=True)
class ComparisonResult:
    """Results of several configurations on the same cases, and their tests against a baseline.

    Attributes
    ----------
    results
        Configuration name -> :class:`EvaluationResult`, in the order evaluated.
    baseline
        Name of the configuration the others are tested against.
    tests
        One :class:`PairedTest` per (non-baseline configuration, metric).
    configs
        The configurations, when known.
    """

    results: dict[str, EvaluationResult]
    baseline: str
    tests: list[PairedTest]
    configs: list[Config] = field(default_factory=list)

    @property
    def metrics(self) -> list[str]:
        """Metric names, in table order."""
        first = next(iter(self.results.values()))
        return list(first.summary)

    def test(self, config: str, metric: str) -> PairedTest | None:
        """The test of ``config`` against the baseline on ``metric``."""
        for t in self.tests:
            if t.config == config and t.metric == metric:
                return t
        return None

    def to_rows(self) -> list[dict[str, Any]]:
        """Long format: one row per (configuration, metric) with mean, CI and the tests."""
        rows: list[dict[str, Any]] = []
        for name, res in self.results.items():
            for metric, s in res.summary.items():
                t = self.test(name, metric)
                rows.append(
                    {
                        "config": name,
                        "metric": metric,
                        "mean": _num(s.mean),
                        "ci_low": _num(s.ci_low),
                        "ci_high": _num(s.ci_high),
                        "n": s.n,
                        "n_nan": s.n_nan,
                        "diff": None if t is None else _num(t.mean_diff),
                        "p_ttest": None if t is None else _num(t.p_ttest),
                        "p_ttest_holm": None if t is None else _num(t.p_ttest_holm),
                        "p_wilcoxon": None if t is None else _num(t.p_wilcoxon),
                        "p_wilcoxon_holm": None if t is None else _num(t.p_wilcoxon_holm),
                    }
                )
            rows.append(
                {
                    "config": name,
                    "metric": f"coverage@{res.k}",
                    "mean": _num(res.coverage),
                    "ci_low": None,
                    "ci_high": None,
                    "n": res.n_cases,
                    "n_nan": 0,
                    "diff": None,
                    "p_ttest": None,
                    "p_ttest_holm": None,
                    "p_wilcoxon": None,
                    "p_wilcoxon_holm": None,
                }
            )
        return rows

    def table_rows(self, alpha: float = ALPHA) -> list[dict[str, Any]]:
        """Wide format for people: one row per configuration, ``mean±half-CI`` per metric.

        A ``*`` marks a metric where both Holm-adjusted p-values against the baseline are
        below ``alpha``; the baseline's row is marked ``(baseline)``.
        """
        rows: list[dict[str, Any]] = []
        for name, res in self.results.items():
            row: dict[str, Any] = {
                "config": name + (" (baseline)" if name == self.baseline else ""),
                "cases": res.n_cases,
            }
            for metric, s in res.summary.items():
                t = self.test(name, metric)
                mark = ""
                if t is not None and t.p_ttest_holm < alpha and t.p_wilcoxon_holm < alpha:
                    mark = "*"
                half = s.half_width
                text = "nan" if math.isnan(s.mean) else f"{s.mean:.4f}"
                if not math.isnan(half):
                    text += f"±{half:.4f}"
                row[metric] = text + mark
            row[f"coverage@{res.k}"] = round(res.coverage, 4)
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: baseline, per-configuration counts and the long rows."""
        return {
            "baseline": self.baseline,
            "configs": [
                {
                    "name": name,
                    "n_cases": res.n_cases,
                    "skipped": res.skipped,
                    "nan_scores": res.nan_scores,
                    "params": res.params,
                }
                for name, res in self.results.items()
            ],
            "rows": self.to_rows(),
        }


def _num(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def compare_results(
    results: Sequence[EvaluationResult], baseline: str, configs: Sequence[Config] = ()
) -> ComparisonResult:
    """Paired tests of every result against the one named ``baseline``.

    Raises :class:`~artrec.errors.DataError` when the results do not cover the same
    cases or ``baseline`` is not among them.
    """
    if not results:
        raise DataError("nothing to compare")
    by_name: dict[str, EvaluationResult] = {}
    for r in results:
        if r.name in by_name:
            raise DataError(f"two configurations are named {r.name!r}")
        by_name[r.name] = r
    if baseline not in by_name:
        raise DataError(
            f"baseline {baseline!r} is not one of the configurations: {', '.join(by_name)}"
        )
    if not paired_cases(list(results)):
        raise DataError("the results do not cover the same cases; evaluate them on one split")
    base = by_name[baseline]
    tests: list[PairedTest] = []
    for metric in base.summary:
        family = [
            paired_test(r.per_user[metric], base.per_user[metric], config=name, metric=metric)
            for name, r in by_name.items()
            if name != baseline
        ]
        adj_t = holm([t.p_ttest for t in family])
        adj_w = holm([t.p_wilcoxon for t in family])
        for t, pt, pw in zip(family, adj_t.tolist(), adj_w.tolist(), strict=True):
            tests.append(
                PairedTest(
                    t.config, t.metric, t.n, t.mean_diff, t.t_stat, t.p_ttest, t.p_wilcoxon, pt, pw
                )
            )
    return ComparisonResult(by_name, baseline, tests, list(configs))


def compare(
    configs: Sequence[Config],
    data: Workspace | EvalData,
    protocol: str | Split = "given",
    k: int = 10,
    baseline: str | None = None,
    *,
    diversity_embedding: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    workspace: Workspace | None = None,
) -> ComparisonResult:
    """Evaluate every configuration on the same split and test each against ``baseline``.

    Parameters
    ----------
    configs
        The configurations (see :func:`config_grid`); names must be unique.
    data
        A workspace (catalogue, purchases and embeddings are loaded from it) or an
        :class:`EvalData`.
    protocol
        A protocol name (``given``, ``leave-last-out``, ``time-replay``) or a ready split.
    k
        Cut-off of the @k metrics.
    baseline
        Name of the configuration to test against; defaults to the first non-VisRank
        configuration (with :func:`config_grid`, the first baseline), else the first one.
    diversity_embedding
        Embedding in which intra-list diversity is measured for every configuration (one
        shared space, so the numbers compare); defaults to the default embedding, else the
        first embedding used.
    chunk_size
        Cases scored at once.
    workspace
        Where to record each evaluation and the comparison (``runs`` table); defaults to
        ``data`` when that is a workspace. With an :class:`EvalData` and no workspace,
        nothing is recorded.
    """
    if not configs:
        raise DataError("no configurations to compare")
    names = [c.name for c in configs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise DataError(f"two configurations are named {dup!r}")
    if baseline is None:
        baseline = next((c.name for c in configs if not c.needs_embedding), names[0])
    base_name = baseline
    if base_name not in names:
        raise DataError(
            f"baseline {base_name!r} is not one of the configurations: {', '.join(names)}"
        )
    if workspace is None and isinstance(data, Workspace):
        workspace = data
    wanted: list[str | None] = [c.embedding for c in configs if c.needs_embedding]
    if diversity_embedding is not None:
        wanted.append(diversity_embedding)
    if isinstance(data, Workspace):
        if not wanted and data.get_meta("default_embedding") is not None:
            wanted.append(None)
        data = EvalData.from_workspace(data, wanted)
    split = (
        protocol
        if isinstance(protocol, Split)
        else make_split(protocol, data.interactions, data.catalog)
    )
    if split.n_cases == 0:
        raise DataError(
            f"the {split.protocol} protocol produced no evaluation cases ({split.skipped})"
        )
    div = _diversity_vectors(data, diversity_embedding, wanted)
    results: list[EvaluationResult] = []
    for config in configs:
        vectors = data.vectors(config.embedding) if config.needs_embedding else None
        results.append(
            evaluate(
                config.build(),
                data.catalog,
                split,
                k=k,
                vectors=vectors,
                diversity_vectors=div,
                chunk_size=chunk_size,
                name=config.name,
                workspace=workspace,
                params=config_params(config),
            )
        )
    result = compare_results(results, base_name, configs)
    if workspace is not None:
        workspace.record_run(
            "comparison",
            {"protocol": split.protocol, "k": k, "baseline": base_name, "configs": names},
            result.to_dict(),
        )
    return result


def _diversity_vectors(
    data: EvalData, explicit: str | None, wanted: Sequence[str | None]
) -> np.ndarray | None:
    if explicit is not None:
        return data.vectors(explicit)
    if data.default_embedding is not None and data.default_embedding in data.embeddings:
        return data.embeddings[data.default_embedding]
    for name in wanted:
        key = name if name is not None else data.default_embedding
        if key is not None and key in data.embeddings:
            return data.embeddings[key]
    if data.embeddings:
        return next(iter(data.embeddings.values()))
    return None


def config_params(config: Config) -> dict[str, Any]:
    """The parameters of ``config`` that matter for its kind (recorded with each run)."""
    if config.kind == "visrank":
        return {
            "kind": config.kind,
            "embedding": config.embedding,
            "metric": config.metric,
            "aggregation": config.aggregation,
            "m": config.m,
        }
    if config.kind == "random":
        return {"kind": config.kind, "seed": config.seed}
    return {"kind": config.kind}
