r"""``tune``: choose hyperparameters and blend weights on a validation split, never the test.

Everything here reads **training events only**. The validation split is carved from them
with the project's one held-out rule (:func:`artrec.data.splits.last_fraction_mask`, each
user's last ``fraction`` of training events by time, every validation user keeping a
profile), exactly as :func:`artrec.evaluation.validation.validation_split` does; models are
fitted on the rest and scored on the held-out events; the objective is the mean
nDCG@``k`` over validation users (candidates: every row outside the profile).

The validation split mirrors how the model will be judged (:func:`validation_cases`):
``target_kinds`` names the event kinds that are held out and make up profiles (purchases,
say, while likes only feed the models); ``one_of_a_kind`` removes works already bought from
the candidates, as a gallery of unique works does; ``by_time`` replaces each user's last
events by a global time cut (:func:`artrec.data.splits.before_mask`), the counterpart of
time replay, where no model knows what anyone did later. A held-out user's own events after
their first held-out one are never fitted on.

Two stages
----------
1. **Each source alone** (content, item-kNN, EASE, iALS, time-aware popularity, metadata,
   the favourite-artist baseline; BPR on request): a coordinate search over the kind's parameter grid
   (:mod:`artrec.evaluation.kinds`): the defaults first, then, one parameter at a time,
   each listed alternative with the others held at the best so far. Trials per kind: one
   plus the number of alternatives. A kind that cannot run (EASE beyond its size bound, no
   embedding, no metadata) is left out and recorded.
2. **The blend**: each chosen source is refitted once and scored; its per-user normalised
   scores (:func:`~artrec.recommend.hybrid.normalise_per_user`) are kept on a candidate pool
   per validation user: the union of every source's ``pool`` best rows plus the held-out
   rows. Coordinate ascent over the weights on :data:`WEIGHT_GRID` then maximises the
   pool's nDCG@``k``: the strongest source has weight 1, the others start at 0; each
   round tries every grid value for every other source, keeping a change only when it
   improves the objective by more than ``min_gain`` (relative) *and* by more than
   ``se_factor`` standard errors of the paired per-user differences, which keeps the blend
   simple when the validation set is small and noisy; at most ``rounds`` rounds.

The result is a :class:`TuneResult`: the configuration (sources, parameters, weights),
the validation scores and every trial. :meth:`TuneResult.build` gives the unfitted
:class:`~artrec.recommend.hybrid.HybridRecommender`, which is then fitted on *all* the
training events.

Budget: ``TuneBudget(max_trials, max_seconds)`` bounds stage 1's alternatives (the default
trial of each kind and stage 2 always run). ``progress(done, total, message)`` is called
after every trial. ``executor`` (anything with ``map(fn, iterable)``:
``concurrent.futures.ProcessPoolExecutor``, ``ray.util.multiprocessing.Pool`` on a Ray
cluster) runs the alternatives of one parameter in parallel.

:class:`AutoRecommender` (kind ``auto``) tunes on whatever it is fitted on, so
``evaluate``/``compare`` score the tuned hybrid honestly under every protocol: its
validation split comes from that protocol's training events.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from artrec.data.splits import before_mask, last_fraction_mask
from artrec.errors import DataError
from artrec.evaluation import metrics as M
from artrec.evaluation.kinds import MODEL_KINDS, ModelKind, Param, build_model
from artrec.ranking import top_k
from artrec.recommend.base import Recommender, TrainData, train_data_from
from artrec.recommend.hybrid import HybridRecommender, normalise_per_user

#: Share of each user's training events held out for validation.
DEFAULT_FRACTION = 0.2
#: Sources tuned by default (content needs vectors, metadata needs catalogue fields).
DEFAULT_SOURCES: tuple[str, ...] = (
    "content",
    "item-knn",
    "ease",
    "ials",
    "time-popular",
    "metadata",
    "artist",
)
#: Candidate weights (relative to the strongest source's 1).
WEIGHT_GRID: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
#: Best rows per source kept in the blend's candidate pool.
DEFAULT_POOL = 200
#: Validation users scored at once.
CHUNK = 256

if TYPE_CHECKING:
    from artrec.data.workspace import Workspace

ProgressFn = Callable[[int, int, str], None]


class Executor(Protocol):
    """Anything with ``map``: a process pool, a Ray pool."""

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], /) -> Iterator[Any]: ...


@dataclass(frozen=True)
class TuneBudget:
    """Bounds on stage 1's alternatives: trials and/or seconds (``None``: unbounded)."""

    max_trials: int | None = None
    max_seconds: float | None = None


@dataclass(frozen=True)
class Trial:
    """One fitted and scored configuration."""

    source: str
    params: dict[str, Any]
    ndcg: float
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class Validation:
    """Validation cases carved from training events: fit on ``fit_data``, rank for
    ``profiles`` among the rows outside ``exclude``, and the held-out ``relevant`` rows."""

    fit_data: TrainData
    profiles: list[np.ndarray]
    relevant: list[np.ndarray]
    exclude: list[np.ndarray]
    n_held_out: int

    @property
    def n_cases(self) -> int:
        """Number of validation users."""
        return len(self.profiles)


@dataclass
class TuneResult:
    """What :func:`tune` chose and why.

    Attributes
    ----------
    sources
        ``[{"name", "kind", "params"}]``: the chosen configuration of each source.
    weights
        Source name -> blend weight.
    k
        The cut-off of the objective.
    validation
        Scores: ``ndcg`` (the blend, on the pool), ``sources`` (each alone), ``n_cases``,
        ``fraction``, ``skipped`` (sources that could not run, with the reason).
    trials
        Every stage-1 trial.
    seconds
        Wall time.
    """

    sources: list[dict[str, Any]]
    weights: dict[str, float]
    k: int
    validation: dict[str, Any]
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration (sources, weights, k)."""
        return {"sources": self.sources, "weights": self.weights, "k": self.k}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: configuration, validation scores, trials and time."""
        return {
            **self.config(),
            "validation": self.validation,
            "trials": [t.__dict__ for t in self.trials],
            "seconds": self.seconds,
        }

    def build(self) -> HybridRecommender:
        """The chosen hybrid, unfitted (see :func:`hybrid_from_config`)."""
        return hybrid_from_config(self.config())


def hybrid_from_config(config: Mapping[str, Any]) -> HybridRecommender:
    """The unfitted hybrid a :meth:`TuneResult.config` describes."""
    sources = [
        (str(s["name"]), build_model(str(s["kind"]), s.get("params"))) for s in config["sources"]
    ]
    return HybridRecommender(sources, dict(config["weights"]))


# -- validation -------------------------------------------------------------------------------
def validation_cases(
    data: TrainData,
    *,
    fraction: float = DEFAULT_FRACTION,
    item_ids: np.ndarray | None = None,
    target_kinds: Sequence[str] | None = None,
    one_of_a_kind: bool = False,
    by_time: bool = False,
) -> Validation:
    """Carve validation cases from ``data``'s training log (see the module doc).

    Parameters
    ----------
    data
        Training events with the per-user log.
    fraction
        Share of each user's target events held out (the last ones by time).
    item_ids
        The catalogue's ids by row: ties at equal times break by item id as everywhere
        else; without them rows stand in for the ids.
    target_kinds
        Event kinds that are validation targets and profiles (``None``: every kind), e.g.
        ``("purchase",)`` when the model is judged on purchases; the other events are kept
        for fitting, except a held-out user's own events at or after their first held-out
        one (their future).
    one_of_a_kind
        Works bought (a target event) in the fitting events are sold: they are not
        candidates, as in a live gallery of unique works.
    by_time
        Hold out by a global time cut instead (the target events in the last ``fraction``
        of the target events' times, :func:`artrec.data.splits.before_mask`), fitting only
        on events before the cut: the validation counterpart of time replay, where a model
        never knows what anyone did later. Default: each user's last events (the
        counterpart of the ``given`` and leave-last-out protocols).

    Raises
    ------
    DataError
        Without a per-user log, or when no user has two target events.
    """
    if data.users is None or data.user_ids is None:
        raise DataError("tuning needs the per-user training log")
    rows = data.interactions_rows
    n = len(rows)
    ids = np.asarray(item_ids, dtype=object)[rows] if item_ids is not None else rows.astype(str)
    ts = (
        np.full(n, np.nan)
        if data.timestamps is None
        else np.asarray(data.timestamps, dtype=np.float64)
    )
    kinds = (
        np.full(n, "purchase", dtype=object)
        if data.kinds is None
        else np.asarray(data.kinds, dtype=object)
    )
    target = np.ones(n, dtype=bool) if not target_kinds else np.isin(kinds, list(target_kinds))
    users = np.asarray(data.user_ids, dtype=object)[data.users]
    held = np.zeros(n, dtype=bool)
    if by_time:
        timed = target & np.isfinite(ts)
        if not timed.any():
            raise DataError("a time-cut validation split needs timestamps")
        cut = float(np.quantile(ts[timed], 1.0 - fraction))
        held = target & ~before_mask(ts, cut)
        # fit only on the past of the cut
        past = before_mask(ts, cut)
    elif target.any():
        held[target] = last_fraction_mask(
            users[target], ids[target], ts[target], fraction, keep_one=True
        )
    # a held-out user's own later events (of any kind) are their future: not fitted on
    first_held = np.full(len(data.user_ids), np.inf)
    np.minimum.at(first_held, data.users[held], np.nan_to_num(ts[held], nan=np.inf))
    later = np.nan_to_num(ts, nan=-np.inf) >= first_held[data.users]
    keep = ~held & ~later
    if by_time:
        keep &= past
    fit = TrainData(
        data.n_items,
        vectors=data.vectors,
        interactions_rows=rows[keep],
        artists=data.artists,
        available=data.available,
        users=data.users[keep],
        user_ids=data.user_ids,
        timestamps=None if data.timestamps is None else ts[keep],
        kinds=None if data.kinds is None else kinds[keep],
        metadata=data.metadata,
        now=data.now,
    )
    prof_events = keep & target
    sub = TrainData(
        data.n_items,
        interactions_rows=rows[prof_events],
        users=data.users[prof_events],
        user_ids=data.user_ids,
        timestamps=ts[prof_events],
    )
    profiles_all = sub.profiles()
    sold = np.unique(rows[prof_events]) if one_of_a_kind else np.zeros(0, dtype=np.int64)
    held_rows: dict[int, list[int]] = {}
    for u, r in zip(data.users[held].tolist(), rows[held].tolist(), strict=True):
        held_rows.setdefault(u, []).append(r)
    profiles, relevant, exclude = [], [], []
    for u in sorted(held_rows):
        prof = profiles_all[u]
        gone = np.union1d(prof, sold)
        rel = np.setdiff1d(np.unique(held_rows[u]), gone)
        if prof.size and rel.size:
            profiles.append(prof)
            relevant.append(rel)
            exclude.append(gone)
    if not profiles:
        raise DataError(
            "no user has two or more training events: a validation split cannot be carved"
        )
    return Validation(fit, profiles, relevant, exclude, int(held.sum()))


def _ndcg_rows(top: np.ndarray, relevant: Sequence[np.ndarray], k: int) -> np.ndarray:
    return np.array([M.ndcg_at_k(t, r, k) for t, r in zip(top, relevant, strict=True)])


def score_validation(
    rec: Recommender, val: Validation, k: int, *, pool: int = 0
) -> tuple[float, list[np.ndarray]]:
    """Mean nDCG@``k`` of a fitted ``rec`` on ``val``, and each case's ``pool`` best rows."""
    values: list[np.ndarray] = []
    pools: list[np.ndarray] = []
    for start in range(0, val.n_cases, CHUNK):
        profs = val.profiles[start : start + CHUNK]
        scores = np.array(rec.score(profs), dtype=np.float64)
        scores[np.isnan(scores)] = -np.inf
        for j, gone in enumerate(val.exclude[start : start + CHUNK]):
            scores[j, gone] = -np.inf
        top, _ = top_k(scores, max(k, pool))
        values.append(_ndcg_rows(top[:, :k], val.relevant[start : start + CHUNK], k))
        if pool:
            pools.extend(t[t >= 0][:pool] for t in top)
    return float(np.concatenate(values).mean()), pools


# -- stage 1 --------------------------------------------------------------------------------
def _trial(
    args: tuple[str, str, dict[str, Any], Validation, int, int],
) -> tuple[float, str | None, list[np.ndarray]]:
    """Fit and score one configuration (module level, so process pools can run it)."""
    _name, kind, params, val, k, pool = args
    try:
        rec = build_model(kind, params).fit(val.fit_data)
        ndcg, pools = score_validation(rec, val, k, pool=pool)
    except DataError as exc:
        return float("nan"), str(exc), []
    return ndcg, None, pools


def _alternatives(spec: ModelKind, best: dict[str, Any]) -> list[tuple[Param, Any]]:
    out = []
    for p in spec.params:
        for v in p.search:
            if v != best[p.name]:
                out.append((p, v))
    return out


def _source_spec(kind: str) -> ModelKind | None:
    """The schema of a blend source: a learning kind, or a baseline of
    :data:`~artrec.evaluation.configs.KINDS` without parameters (the favourite-artist
    baseline), which is fitted as it is and never searched."""
    spec = MODEL_KINDS.get(kind)
    if spec is not None:
        return spec
    from artrec.evaluation.configs import KINDS

    base = KINDS.get(kind)
    if base is None or not base.baseline or dataclasses.fields(base.params):
        return None
    return ModelKind(kind, lambda: build_model(kind), help=base.name, tunable=False)


def _usable(kind: str, data: TrainData) -> str | None:
    """Why ``kind`` cannot be tuned on ``data``, or ``None``."""
    spec = _source_spec(kind)
    if spec is None:
        return f"unknown kind {kind!r}"
    if spec.needs_embedding and data.vectors is None:
        return "no embedding"
    if kind == "metadata" and not data.metadata and data.artists is None:
        return "no catalogue metadata"
    if kind == "artist" and data.artists is None:
        return "no artists"
    return None


def tune(
    data: TrainData,
    *,
    k: int = 20,
    sources: Sequence[str] = DEFAULT_SOURCES,
    fraction: float = DEFAULT_FRACTION,
    budget: TuneBudget | None = None,
    item_ids: np.ndarray | None = None,
    pool: int = DEFAULT_POOL,
    min_gain: float = 0.002,
    se_factor: float = 1.0,
    rounds: int = 3,
    target_kinds: Sequence[str] | None = None,
    one_of_a_kind: bool = False,
    by_time: bool = False,
    progress: ProgressFn | None = None,
    executor: Executor | None = None,
) -> TuneResult:
    """Choose each source's parameters and the blend weights on a validation split of
    ``data``'s training log (see the module doc).

    Parameters
    ----------
    data
        Training events only (with the per-user log), the catalogue's metadata and, for the
        content source, the item vectors.
    k
        Cut-off of the objective, nDCG@k.
    sources
        Kinds to consider (:data:`DEFAULT_SOURCES`); ``time-popular`` is always added (the
        hybrid's cold start).
    fraction
        Share of each user's training events held out.
    budget
        Bounds on stage 1's alternatives.
    item_ids
        Catalogue ids by row (ties at equal times break by id).
    pool
        Best rows per source kept for the blend search.
    min_gain
        Relative improvement a weight change must bring.
    se_factor
        A weight change must also improve the mean by more than this many standard errors
        of the paired per-user differences (noise on a small validation split).
    rounds
        Coordinate-ascent rounds over the weights.
    target_kinds, one_of_a_kind, by_time
        What the model is judged on (see :func:`validation_cases`): the event kinds held
        out and used as profiles, whether bought works are sold out, and whether the
        validation split is a time cut (for time replay) or each user's last events.
    progress
        ``progress(done, total, message)`` after each trial.
    executor
        Runs the alternatives of one parameter in parallel (``map``).
    """
    t0 = time.perf_counter()
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise DataError(f"k must be a positive integer, got {k!r}")
    budget = budget or TuneBudget()
    val = validation_cases(
        data,
        fraction=fraction,
        item_ids=item_ids,
        target_kinds=target_kinds,
        one_of_a_kind=one_of_a_kind,
        by_time=by_time,
    )
    kinds = list(dict.fromkeys([*sources, "time-popular"]))
    skipped: dict[str, str] = {}
    plan: list[str] = []
    for kind in kinds:
        why = _usable(kind, data)
        if why is None:
            plan.append(kind)
        else:
            skipped[kind] = why
    specs = {kd: _source_spec(kd) for kd in plan}
    total = sum(1 + len(_alternatives(sp, sp.defaults())) for sp in specs.values() if sp)
    trials: list[Trial] = []
    best_params: dict[str, dict[str, Any]] = {}
    best_score: dict[str, float] = {}
    done = 0
    spent_alternatives = 0

    def report(message: str) -> None:
        if progress is not None:
            progress(done, total, message)

    def out_of_budget() -> bool:
        if budget.max_trials is not None and spent_alternatives >= budget.max_trials:
            return True
        return budget.max_seconds is not None and time.perf_counter() - t0 >= budget.max_seconds

    # stage 1: the defaults of every kind first, so each source exists whatever the budget
    for kind in plan:
        spec = specs[kind]
        assert spec is not None
        params = spec.defaults()
        s = time.perf_counter()
        ndcg, err, _ = _trial((kind, kind, params, val, k, 0))
        trials.append(Trial(kind, dict(params), ndcg, time.perf_counter() - s, err))
        done += 1
        report(f"{kind} {params} ndcg@{k}={ndcg:.4f}" if err is None else f"{kind}: {err}")
        if err is not None:
            skipped[kind] = err
            continue
        best_params[kind], best_score[kind] = params, ndcg
    for kind in list(best_params):
        spec = specs[kind]
        assert spec is not None
        for p in spec.params:
            if not p.search or out_of_budget():
                continue
            values = [v for v in p.search if v != best_params[kind][p.name]]
            cands = [{**best_params[kind], p.name: v} for v in values]
            if budget.max_trials is not None:
                cands = cands[: max(0, budget.max_trials - spent_alternatives)]
            jobs = [(kind, kind, c, val, k, 0) for c in cands]
            s = time.perf_counter()
            results = list(executor.map(_trial, jobs)) if executor else [_trial(j) for j in jobs]
            each = (time.perf_counter() - s) / max(1, len(jobs))
            for c, (ndcg, err, _) in zip(cands, results, strict=True):
                trials.append(Trial(kind, dict(c), ndcg, each, err))
                done += 1
                spent_alternatives += 1
                report(f"{kind} {p.name}={c[p.name]} ndcg@{k}={ndcg:.4f}")
                if err is None and ndcg > best_score[kind]:
                    best_params[kind], best_score[kind] = c, ndcg
    if not best_params:
        raise DataError(f"no source could be tuned: {skipped}")

    # stage 2: the blend, on a candidate pool per validation user
    names = sorted(best_params, key=lambda n: -best_score[n])
    weights = _blend(names, best_params, val, k, pool, min_gain, rounds, se_factor)
    blend_score = weights.pop("__score__")
    report(f"blend ndcg@{k}={blend_score:.4f}")
    chosen = [{"name": n, "kind": n, "params": best_params[n]} for n in names]
    return TuneResult(
        sources=chosen,
        weights={n: weights[n] for n in names},
        k=k,
        validation={
            "ndcg": blend_score,
            "metric": f"ndcg@{k}",
            "sources": {n: best_score[n] for n in names},
            "n_cases": val.n_cases,
            "n_held_out_events": val.n_held_out,
            "fraction": fraction,
            "target_kinds": None if target_kinds is None else list(target_kinds),
            "one_of_a_kind": one_of_a_kind,
            "by_time": by_time,
            "skipped": skipped,
        },
        trials=trials,
        seconds=time.perf_counter() - t0,
    )


def _blend(
    names: list[str],
    params: Mapping[str, dict[str, Any]],
    val: Validation,
    k: int,
    pool: int,
    min_gain: float,
    rounds: int,
    se_factor: float,
) -> dict[str, float]:
    """Coordinate ascent over the weights on the pooled normalised scores."""
    fitted = {n: build_model(n, params[n]).fit(val.fit_data) for n in names}
    # the pool: every source's best rows plus the held-out rows
    pools: list[set[int]] = [set(r.tolist()) for r in val.relevant]
    for rec in fitted.values():
        _, tops = score_validation(rec, val, k, pool=pool)
        for j, t in enumerate(tops):
            pools[j].update(t.tolist())
    width = max(len(p) for p in pools)
    rows = np.full((val.n_cases, width), -1, dtype=np.int64)
    for j, p in enumerate(pools):
        srt = np.array(sorted(p), dtype=np.int64)
        rows[j, : len(srt)] = srt
    valid = rows >= 0
    rel = np.zeros(rows.shape, dtype=bool)
    for j, r in enumerate(val.relevant):
        rel[j] = np.isin(rows[j], r)
    values = np.zeros((len(names), val.n_cases, width), dtype=np.float32)
    safe = np.maximum(rows, 0)
    for s, n in enumerate(names):
        for start in range(0, val.n_cases, CHUNK):
            profs = val.profiles[start : start + CHUNK]
            norm = normalise_per_user(fitted[n].score(profs), val.exclude[start : start + CHUNK])
            values[s, start : start + len(profs)] = np.take_along_axis(
                norm, safe[start : start + len(profs)], axis=1
            )
    del fitted
    n_rel = rel.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.array([discounts[: min(k, int(c))].sum() for c in n_rel])

    def per_case(w: np.ndarray) -> np.ndarray:
        s = np.tensordot(w, values, axes=1)
        s[~valid] = -np.inf
        kk = min(k, width)
        # order: score descending, then row ascending (pools are sorted by row)
        part = np.argsort(-s, axis=1, kind="stable")[:, :kk]
        gains = np.take_along_axis(rel, part, axis=1) @ discounts[:kk]
        return np.asarray(gains / ideal, dtype=np.float64)

    w = np.zeros(len(names))
    w[0] = 1.0
    current = per_case(w)
    best = float(current.mean())
    n_cases = len(current)
    for _ in range(rounds):
        changed = False
        for s in range(1, len(names)):
            for g in WEIGHT_GRID:
                if g == w[s]:
                    continue
                trial = w.copy()
                trial[s] = g
                cases = per_case(trial)
                diff = cases - current
                gain = float(diff.mean())
                noise = float(diff.std(ddof=1)) / np.sqrt(n_cases) if n_cases > 1 else 0.0
                if gain > max(min_gain * best, se_factor * noise) + 1e-12:
                    current, best, w, changed = cases, float(cases.mean()), trial, True
        if not changed:
            break
    out = {n: float(w[s]) for s, n in enumerate(names)}
    out["__score__"] = best
    return out


# -- the tuned recommender as a kind -------------------------------------------------------
class AutoRecommender(Recommender):
    """The tuned hybrid as a recommender: :meth:`fit` tunes on the data it is given.

    The first :meth:`fit` runs :func:`tune` on its training events (so under any protocol
    the choice sees only that protocol's training events) and fits the chosen hybrid on all
    of them. Later fits (time-replay windows) refit the same configuration on the new past
    without searching again, unless ``retune`` is set.

    Parameters
    ----------
    k, budget, sources, fraction, target_kinds, one_of_a_kind, by_time
        Passed to :func:`tune`.
    item_ids
        Catalogue ids by row, for the held-out rule's tie-break.
    retune
        Search again at every fit.
    """

    name = "auto"

    def __init__(
        self,
        k: int = 20,
        budget: TuneBudget | None = None,
        sources: Sequence[str] = DEFAULT_SOURCES,
        fraction: float = DEFAULT_FRACTION,
        *,
        target_kinds: Sequence[str] | None = None,
        one_of_a_kind: bool = False,
        by_time: bool = False,
        item_ids: np.ndarray | None = None,
        retune: bool = False,
    ) -> None:
        self.by_time = by_time
        self.target_kinds = None if target_kinds is None else tuple(target_kinds)
        self.one_of_a_kind = one_of_a_kind
        self.k = k
        self.budget = budget
        self.sources = tuple(sources)
        self.fraction = fraction
        self.item_ids = item_ids
        self.retune = retune

    def fit(self, data: TrainData) -> AutoRecommender:
        """Tune (first fit, or every fit with ``retune``) and fit the chosen hybrid."""
        if self.retune or not hasattr(self, "result_"):
            self.result_ = tune(
                data,
                k=self.k,
                sources=self.sources,
                fraction=self.fraction,
                budget=self.budget,
                item_ids=self.item_ids,
                target_kinds=self.target_kinds,
                one_of_a_kind=self.one_of_a_kind,
                by_time=self.by_time,
            )
        self.model_ = self.result_.build().fit(data)
        self.data_ = data
        return self

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """The fitted hybrid's scores."""
        if not hasattr(self, "model_"):
            raise DataError("AutoRecommender is not fitted: call fit() first")
        return self.model_.score(profiles)

    def explain_reasons(
        self, profiles: Sequence[np.ndarray], rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The fitted hybrid's explanations and reasons."""
        return self.model_.explain_reasons(profiles, rows)

    def explain(self, profiles: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """The fitted hybrid's explanations."""
        return self.model_.explain(profiles, rows)


# -- the workspace ----------------------------------------------------------------------------
#: Name of the saved tuned model by default.
TUNED_NAME = "auto"


def tune_workspace(
    workspace: Workspace,
    *,
    k: int = 20,
    budget: TuneBudget | None = None,
    name: str = TUNED_NAME,
    kinds: Sequence[str] | None = None,
    embedding: str | None = None,
    sources: Sequence[str] = DEFAULT_SOURCES,
    target_kinds: Sequence[str] | None = None,
    one_of_a_kind: bool = False,
    by_time: bool = False,
    progress: ProgressFn | None = None,
    executor: Executor | None = None,
    make_default: bool = True,
) -> TuneResult:
    """Tune on the workspace's training events, save the chosen hybrid, make it the default.

    Reads only :func:`~artrec.recommend.serving.training_events` (never an event marked
    ``test``), tunes (:func:`tune`), fits the chosen hybrid on all training events, saves it
    as ``models/<name>/`` with its validation scores and the refresh command, records a
    ``tune`` run, and (``make_default``) sets the workspace default model
    (:func:`~artrec.recommend.serving.set_default_model`).

    Parameters
    ----------
    workspace
        The workspace.
    k, budget, sources, target_kinds, one_of_a_kind, by_time, progress, executor
        As for :func:`tune`.
    name
        Saved model name.
    kinds
        Event kinds learned from (``None``: every kind).
    embedding
        Embedding of the content source (``None``: the workspace default, if any).
    make_default
        Make the saved model the workspace default.
    """
    from artrec.recommend.serving import embedding_vectors, set_default_model, training_events
    from artrec.recommend.store import data_fingerprint, save_model

    catalog = workspace.catalog()
    events = training_events(workspace, kinds)
    emb_name, vectors = embedding_vectors(workspace, embedding, catalog)
    data = train_data_from(catalog, events, vectors=vectors)
    result = tune(
        data,
        k=k,
        sources=sources,
        budget=budget,
        item_ids=catalog.item_ids,
        target_kinds=target_kinds,
        one_of_a_kind=one_of_a_kind,
        by_time=by_time,
        progress=progress,
        executor=executor,
    )
    model = result.build().fit(data)
    flags = "".join(
        [
            f" --name {name}" if name != TUNED_NAME else "",
            f" --target-kinds {' '.join(target_kinds)}" if target_kinds else "",
            " --one-of-a-kind" if one_of_a_kind else "",
            " --by-time" if by_time else "",
        ]
    )
    refresh = f"artrec tune -w {workspace.root} -k {k}{flags}"
    extra = {
        "validation": result.validation,
        "tuned": result.config(),
        "refresh": refresh,
        "embedding": emb_name,
        "event_kinds": list(kinds) if kinds else None,
        "seconds": result.seconds,
    }
    save_model(
        workspace.models_dir, name, model, data_fingerprint(catalog.item_ids, events), extra=extra
    )
    workspace.record_run(
        "tune",
        {"k": k, "name": name, "kinds": extra["event_kinds"], "embedding": emb_name},
        result.to_dict(),
    )
    if make_default:
        set_default_model(workspace, name)
    return result
