"""Compare recommender configurations on the same cases, with paired significance tests.

A :class:`~artrec.evaluation.configs.Config` names one recommender: a kind (VisRank, a
baseline, ...) and its parameters. :func:`~artrec.evaluation.configs.config_grid` builds
embedding x metric x aggregation plus the baselines; :func:`compare` evaluates all of them on
ONE split, so every configuration is measured on exactly the same cases, and tests each
against a chosen baseline. :func:`evaluate_configs` runs the evaluations, in worker processes
when asked, reporting progress after each.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError
from artrec.evaluation.configs import Config, config_grid
from artrec.evaluation.evaluator import (
    DEFAULT_CHUNK,
    EvaluationResult,
    evaluate,
    paired_cases,
    record_evaluation,
)
from artrec.evaluation.protocols import Split, make_split
from artrec.evaluation.windowed import Refit

__all__ = [
    "ALPHA",
    "ComparisonResult",
    "Config",
    "EvalData",
    "PairedTest",
    "compare",
    "compare_results",
    "config_grid",
    "default_embedding",
    "evaluate_configs",
    "holm",
    "paired_test",
    "wilcoxon_method",
]

#: Significance level used for the markers in :meth:`ComparisonResult.table_rows`.
ALPHA = 0.05


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

        ``None`` in ``embeddings`` stands for the workspace's default embedding (see
        :meth:`~artrec.data.workspace.Workspace.resolve_embedding`). Raises
        :class:`~artrec.errors.ArtrecError` when an embedding is missing or lacks catalogue
        items.
        """
        catalog = workspace.catalog()
        interactions = workspace.interactions(kinds=kinds)
        names = list(dict.fromkeys(workspace.resolve_embedding(e) for e in embeddings))
        vectors = {name: load_vectors(workspace, name, catalog) for name in names}
        return cls(catalog, interactions, vectors, default_embedding(workspace))

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
    workers: int = 1,
    progress: Progress | None = None,
    refit: Refit | None = None,
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
        Name of the configuration to test against; defaults to the first configuration
        that needs no embedding (with :func:`config_grid`, the first baseline), else the
        first one.
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
    workers, progress, refit
        See :func:`evaluate_configs`; the results do not depend on ``workers``.
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
        if not wanted and default_embedding(data) is not None:
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
    results = evaluate_configs(
        configs,
        data,
        split,
        k,
        diversity_vectors=_diversity_vectors(data, diversity_embedding, wanted),
        chunk_size=chunk_size,
        workspace=workspace,
        workers=workers,
        progress=progress,
        refit=refit,
    )
    result = compare_results(results, base_name, configs)
    if workspace is not None:
        workspace.record_run(
            "comparison",
            {"protocol": split.protocol, "k": k, "baseline": base_name, "configs": names},
            result.to_dict(),
        )
    return result


#: ``progress(done, total)``: called after each configuration is evaluated.
Progress = Callable[[int, int], None]


def evaluate_configs(
    configs: Sequence[Config],
    data: EvalData,
    split: Split,
    k: int = 10,
    *,
    diversity_vectors: np.ndarray | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    workspace: Workspace | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    refit: Refit | None = None,
) -> list[EvaluationResult]:
    """Evaluate each configuration on ``split``; results in configuration order.

    With ``refit`` (a time-replay split), each configuration is refitted on the events
    before each window of the test period (:func:`~artrec.evaluation.windowed.
    windowed_time_replay`) instead of being fitted once on ``split.train``.

    With ``workers > 1`` the configurations are evaluated in that many worker processes
    (forked where the platform can, else spawned), which receive the catalogue, the split
    and the vectors once, when they start. Runs are recorded in ``workspace`` (when given)
    by this process, in configuration order, so the outcome does not depend on
    ``workers``. ``progress(done, len(configs))`` is called after each configuration.
    """
    vectors = {c.name: data.vectors(c.embedding) if c.needs_embedding else None for c in configs}
    tasks = [_Task(c, vectors[c.name], diversity_vectors, k, chunk_size, refit) for c in configs]
    results: list[EvaluationResult] = []
    for i, result in enumerate(_run_tasks(tasks, data.catalog, split, workers)):
        if workspace is not None:
            result = record_evaluation(workspace, result)
        results.append(result)
        if progress is not None:
            progress(i + 1, len(configs))
    return results


@dataclass(frozen=True)
class _Task:
    config: Config
    vectors: np.ndarray | None
    diversity: np.ndarray | None
    k: int
    chunk_size: int
    refit: Refit | None = None

    def run(self, catalog: Catalog, split: Split) -> EvaluationResult:
        if self.refit is not None:
            result = self.refit.evaluate(
                self.config.build,
                catalog,
                split,
                k=self.k,
                vectors=self.vectors,
                diversity_vectors=self.diversity,
                chunk_size=self.chunk_size,
                name=self.config.name,
            )
            return replace(result, params={**self.config.params_dict(), **result.params})
        return evaluate(
            self.config.build(),
            catalog,
            split,
            k=self.k,
            vectors=self.vectors,
            diversity_vectors=self.diversity,
            chunk_size=self.chunk_size,
            name=self.config.name,
            params=self.config.params_dict(),
        )


def _run_tasks(
    tasks: Sequence[_Task], catalog: Catalog, split: Split, workers: int
) -> Iterator[EvaluationResult]:
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield task.run(catalog, split)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=multiprocessing.get_context(method),
        initializer=_start_worker,
        initargs=(catalog, split),
    ) as pool:
        yield from pool.map(_run_in_worker, tasks)


#: The catalogue and split of a worker process (set once by :func:`_start_worker`; never
#: used in the parent process).
_WORKER_INPUTS: list[tuple[Catalog, Split]] = []


def _start_worker(catalog: Catalog, split: Split) -> None:
    _WORKER_INPUTS[:] = [(catalog, split)]


def _run_in_worker(task: _Task) -> EvaluationResult:
    catalog, split = _WORKER_INPUTS[0]
    return task.run(catalog, split)


def default_embedding(workspace: Workspace) -> str | None:
    """The embedding :meth:`~artrec.data.workspace.Workspace.resolve_embedding` picks when
    none is named, or ``None`` when that is ambiguous or there is none."""
    try:
        return workspace.resolve_embedding(None)
    except DataError:
        return None


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
