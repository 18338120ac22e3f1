"""The end-to-end demo: artrec on the 5,736 real paintings of public-art, with pictures.

:func:`run_demo` runs these steps, each cached in the workspace so a second run only
re-renders the report:

1. **data** -- :func:`artrec.data.public_art.fetch_public_art` (load, or download and check);
   ``trimmed`` keeps a deterministic subset (:func:`~artrec.data.public_art.select_subset`).
2. **collectors** -- simulated purchase histories (:mod:`artrec.data.simulate`), labelled
   "simulated" everywhere.
3. **features** -- EfficientNet-Lite0 (offline weights) and the hand-engineered features,
   extracted once into ``features/``.
4. **embeddings** -- z-score + PCA(100) of each feature set alone and of both together (the
   hybrid, made the workspace's default), plus the full explained-variance spectrum of each.
5. **same-artist retrieval** of each embedding and of random vectors.
6. **similar examples** for a few paintings under two embeddings.
7. **evaluation** -- every configuration (3 embeddings x cosine/euclidean x 5 aggregations,
   and the random, most-popular and favourite-artist baselines) on the same time-replay
   cases, each paired-tested against the notebook's method (hybrid PCA(100), cosine, sum of
   distances); diversity figures of the lists.
8. **collectors shown** -- what a few collectors bought, what they bought next, and what the
   notebook's method recommends, with reasons.
9. **tune** -- ``artrec tune`` on the simulated collectors with a small bounded budget
   (:data:`TUNE_TRIALS` alternatives, :data:`TUNE_SECONDS` s): the tuned hybrid becomes the
   workspace's chosen model for ``recommend``, ``recommend-all`` and ``serve``.
10. **learning from the collectors** -- every baseline, every learning kind
    (:data:`artrec.evaluation.configs.LEARNING`: collaborative models, metadata affinity,
    the content source) and the tuned hybrid ``auto`` under time replay with refits
    (:data:`LEARNED_WINDOWS` windows; :mod:`artrec.evaluation.windowed`), paired-tested
    against the best single model.
11. **report** -- :func:`artrec.report.html.write_report` to ``reports/demo.html``.

The results (a :class:`~artrec.report.results.ReportResults`) are stored as JSON in a
``demo`` run of the workspace, so ``artrec report`` can re-render them
(:func:`write_workspace_report`), and every number in the report comes from them; the
findings are answered from them by :mod:`artrec.findings`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from artrec.config import AGGREGATIONS as AGGREGATION_NAMES
from artrec.data.workspace import Workspace
from artrec.features.api import FeaturesPhase, PhaseTiming, phase_clock
from artrec.report.results import EmbeddingSummary, ReportResults, evaluation_table

#: Called as ``progress(step, done, total)``; ``total`` is ``None`` for steps of unknown size
#: and ``done == total`` marks the end of a step. The library never prints.
Progress = Callable[[str, int, "int | None"], None]

DEMO_VERSION = 1
CNN = "efficientnet_lite0"
HANDCRAFTED = "handcrafted"
HYBRID = "hybrid"
EMBEDDINGS: dict[str, tuple[str, ...]] = {
    CNN: (CNN,),
    HANDCRAFTED: (HANDCRAFTED,),
    HYBRID: (CNN, HANDCRAFTED),
}
METRICS: tuple[str, ...] = ("cosine", "euclidean")
AGGREGATIONS: tuple[str, ...] = AGGREGATION_NAMES
BASELINES: tuple[str, ...] = ("random", "popular", "artist")
#: The notebook's own method, which every configuration is paired-tested against.
NOTEBOOK_CONFIG = f"visrank:{HYBRID}/cosine/sum_distance"
TRIMMED_ITEMS = 300
RESULTS_META = "demo_results"
#: Time-replay windows (refits per model) of the learning-models table: bounds its cost.
LEARNED_WINDOWS = 2
#: Bounds of every tuning the demo runs (the workspace's model and ``auto`` in each refit).
TUNE_TRIALS = 4
TUNE_SECONDS = 60.0


@dataclass
class DemoResult:
    """Where the demo left things.

    Attributes
    ----------
    workspace
        The workspace holding every artefact.
    report_path
        The HTML report.
    results
        Everything the report shows (also stored as a ``demo`` run).
    timings
        Seconds per step in this call (cached steps take ~0).
    cached
        Steps that were served from the workspace cache.
    phases
        Wall, user and system CPU time of each step of this call, in order (``data``,
        ``simulation``, ``features``, ``embeddings``, ``analysis``, ``report``): CPU of this
        process and of the processes it waited for.
    features_phase
        What :func:`~artrec.features.api.extract_all` reported when features were extracted
        in this call (per extractor, precision, whether both cores were used); else ``None``.
    """

    workspace: Workspace
    report_path: Path
    results: ReportResults
    timings: dict[str, float] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)
    phases: list[PhaseTiming] = field(default_factory=list)
    features_phase: FeaturesPhase | None = None


def _noop(step: str, done: int, total: int | None) -> None:
    return None


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_demo(
    workspace: Workspace | str | Path,
    data_home: str | Path | None = None,
    *,
    trimmed: bool = False,
    n_items: int | None = None,
    k: int = 10,
    protocol: str = "time-replay",
    report_path: str | Path | None = None,
    progress: Progress | None = None,
    num_workers: int | None = None,
    eval_workers: int | None = None,
) -> DemoResult:
    """Run the demo pipeline (see the module docstring) and write the report.

    Parameters
    ----------
    workspace
        Workspace directory (created if needed). Every step caches its output here.
    data_home
        Where public-art is (see :func:`~artrec.data.public_art.fetch_public_art`).
    trimmed
        Use a deterministic subset of :data:`TRIMMED_ITEMS` works (for CI and quick looks).
    n_items
        Subset size overriding ``trimmed`` (``None``: all works, or :data:`TRIMMED_ITEMS`).
    k
        Cut-off of the lists and the @k metrics.
    protocol
        Evaluation protocol (``time-replay`` by default: the works are one of a kind).
    report_path
        Output HTML; default ``<workspace>/reports/demo.html``.
    progress
        ``progress(step, done, total)`` callback (the CLI draws tqdm bars).
    num_workers
        Image-decoding workers of the feature extraction (``None``: the runner's default).
    eval_workers
        Processes evaluating configurations in parallel (``None``: up to 2, one per core;
        1 evaluates in this process). Results do not depend on it.
    """
    from artrec.data.public_art import fetch_public_art, load_public_art, locate_public_art
    from artrec.data.public_art import select_subset as _select

    report = progress or _noop
    if eval_workers is None:
        eval_workers = max(1, min(2, os.cpu_count() or 1))
    ws = workspace if isinstance(workspace, Workspace) else Workspace.create(workspace)
    if not ws.db_path.exists():
        ws = Workspace.create(ws.root)
    timings: dict[str, float] = {}
    cached: list[str] = []
    size = n_items if n_items is not None else (TRIMMED_ITEMS if trimmed else None)

    phases: list[PhaseTiming] = []
    # 1. data ---------------------------------------------------------------------------
    clock = phase_clock()
    t0 = time.perf_counter()
    report("data", 0, 1)
    data_key = _fingerprint({"size": size, "v": DEMO_VERSION})
    if ws.get_meta("demo_data") == data_key and ws.n_items() > 0:
        cached.append("data")
    else:
        ids = None
        if size is not None:
            directory = locate_public_art(data_home)
            if directory is None:
                fetch_public_art(data_home, ws, progress=report)  # downloads, then trims below
                directory = locate_public_art(data_home)
                assert directory is not None
            full, _ = load_public_art(directory)
            ids = _select(full, size, seed=0)
        if ws.n_items() > 0 and ids is not None:
            existing = set(ws.catalog().item_ids.tolist())
            if not existing <= set(ids):
                from artrec.errors import ArtrecError

                raise ArtrecError(
                    f"workspace {ws.root} already holds a larger catalogue; use a fresh "
                    "workspace for a trimmed demo"
                )
        fetch_public_art(data_home, ws, item_ids=ids, progress=report)
        ws.set_meta("demo_data", data_key)
    catalog = ws.catalog()
    timings["data"] = time.perf_counter() - t0
    phases.append(PhaseTiming.since("data", clock))
    report("data", 1, 1)

    # 2. simulated collectors -------------------------------------------------------------
    from artrec.data.simulate import (
        SimulationParams,
        simulate_collectors,
        stored_simulation,
        write_simulation,
    )

    clock = phase_clock()
    t0 = time.perf_counter()
    report("simulation", 0, 1)
    params = SimulationParams()
    stored = stored_simulation(ws)
    sim_key = _fingerprint({"params": asdict(params), "items": catalog.item_ids.tolist()})
    if stored is not None and ws.get_meta("demo_simulation") == sim_key:
        sim_stats = stored["stats"]
        cached.append("simulation")
    else:
        sim = simulate_collectors(catalog, params)
        write_simulation(ws, sim)
        ws.set_meta("demo_simulation", sim_key)
        sim_stats = sim.stats
    timings["simulation"] = time.perf_counter() - t0
    phases.append(PhaseTiming.since("simulation", clock))
    report("simulation", 1, 1)

    # 3. features ------------------------------------------------------------------------
    from artrec.vectors import FeatureSet

    clock = phase_clock()
    t0 = time.perf_counter()
    feature_info: dict[str, Any] = {}
    loaded: dict[str, FeatureSet] = {}
    for name in (CNN, HANDCRAFTED):
        have = name in FeatureSet.available(ws.features_dir)
        fs = FeatureSet.load(ws.features_dir, name) if have else None
        if fs is not None and set(catalog.item_ids.tolist()) <= set(fs.item_ids.tolist()):
            cached.append(f"features:{name}")
            loaded[name] = fs
    missing = [name for name in (CNN, HANDCRAFTED) if name not in loaded]
    features_phase = None
    if missing:
        # both extractors at once: the hand-engineered features in a side process on one
        # core next to the CNN, bf16 where the CPU computes it natively
        from artrec.features.api import extract_all

        def cb(name: str, done: int, total: int) -> None:
            report(f"extract {name}", done, total)

        extracted, features_phase = extract_all(ws, missing, progress=cb, num_workers=num_workers)
        loaded.update(extracted)
        for name in missing:
            report(f"extract {name}", len(loaded[name]), len(loaded[name]))
    for name in (CNN, HANDCRAFTED):
        fs = loaded[name]
        bad = fs.meta.get("bad_items") or []
        feature_info[name] = {"dim": fs.dim, "n_items": len(fs), "bad_items": len(bad)}
    timings["features"] = time.perf_counter() - t0
    phases.append(PhaseTiming.since("features", clock))

    # 4. embeddings ------------------------------------------------------------------------
    from artrec.embedding import Embedding, build_embedding

    clock = phase_clock()
    t0 = time.perf_counter()
    emb_key = _fingerprint(
        {
            "features": {
                n: (ws.features_dir / f"{n}.npy").stat().st_mtime_ns for n in (CNN, HANDCRAFTED)
            },
            "v": DEMO_VERSION,
        }
    )
    emb_info: dict[str, Any] = {}
    spectra: dict[str, list[float]] = {}
    stored_emb = ws.get_meta("demo_embeddings")
    if stored_emb is not None and json.loads(stored_emb).get("key") == emb_key:
        payload = json.loads(stored_emb)
        emb_info, spectra = payload["info"], payload["spectra"]
        cached.append("embeddings")
    else:
        steps = list(EMBEDDINGS.items())
        for i, (name, inputs) in enumerate(steps):
            report("embeddings", i, len(steps))
            fs = build_embedding(ws, list(inputs), name, 100, set_default=False)
            meta = fs.meta
            emb_info[name] = {
                key: meta.get(key)
                for key in (
                    "inputs",
                    "input_dims",
                    "n_components",
                    "explained_variance_ratio",
                    "explained_variance_total",
                    "notes",
                )
            }
            sets = [FeatureSet.load(ws.features_dir, f) for f in inputs]
            spectrum = Embedding(n_components=10**6).fit(sets)
            spectra[name] = [float(v) for v in spectrum.explained_variance_ratio_]
        ws.set_meta("default_embedding", HYBRID)
        ws.set_meta(
            "demo_embeddings", json.dumps({"key": emb_key, "info": emb_info, "spectra": spectra})
        )
        report("embeddings", len(steps), len(steps))
    timings["embeddings"] = time.perf_counter() - t0
    phases.append(PhaseTiming.since("embeddings", clock))

    # The rest depends on everything above: one key for the analysis.
    analysis_key = _fingerprint(
        {"emb": emb_key, "sim": sim_key, "k": k, "protocol": protocol, "v": DEMO_VERSION}
    )
    clock = phase_clock()
    stored_results = ws.get_meta(RESULTS_META)
    results: ReportResults
    if stored_results is not None and json.loads(stored_results).get("key") == analysis_key:
        results = ReportResults.from_json(json.loads(stored_results)["results"])
        cached.append("analysis")
    else:
        results = replace(
            _analyse(ws, k=k, eval_workers=eval_workers, protocol=protocol, report=report,
                     timings=timings),
            title="artrec on public-art: 5,736 real paintings"
            if size is None
            else f"artrec on public-art (trimmed to {catalog.n_items} paintings)",
            label="simulated",
            dataset={"name": "public-art", "n_items": catalog.n_items, "trimmed": size is not None},
            simulation=dict(sim_stats),
            simulation_params=json.loads(json.dumps(asdict(params))),
            features=feature_info,
            embeddings={name: EmbeddingSummary.from_json(v) for name, v in emb_info.items()},
            spectra=spectra,
            embedding_roles={"cnn": CNN, "handcrafted": HANDCRAFTED, "hybrid": HYBRID},
            map_embedding=HYBRID,
            main_config=NOTEBOOK_CONFIG,
            timings=dict(timings),
        )  # fmt: skip
        stored = results.to_json()
        ws.set_meta(
            RESULTS_META, json.dumps({"key": analysis_key, "results": stored}, default=_json)
        )
        ws.record_run("demo", {"k": k, "protocol": protocol, "key": analysis_key}, stored)
    phases.append(PhaseTiming.since("analysis", clock))

    # 9. report ------------------------------------------------------------------------------
    from artrec.findings import findings
    from artrec.report.html import write_report

    clock = phase_clock()
    t0 = time.perf_counter()
    report("report", 0, 1)
    out = write_report(
        ws, results, report_path or ws.reports_dir / "demo.html", findings=findings(results)
    )
    timings["report"] = time.perf_counter() - t0
    phases.append(PhaseTiming.since("report", clock))
    report("report", 1, 1)
    return DemoResult(ws, out, results, timings, cached, phases, features_phase)


def _json(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def _analyse(
    ws: Workspace,
    *,
    k: int,
    eval_workers: int,
    protocol: str,
    report: Progress,
    timings: dict[str, float],
) -> ReportResults:
    """Steps 5-10: same-artist retrieval, similar examples, evaluation, collectors, tune,
    learning from the collectors."""
    from artrec.engine import Engine
    from artrec.evaluation.comparison import EvalData, compare, config_grid
    from artrec.evaluation.protocols import make_split
    from artrec.recommend.serving import describe, load_serving_model
    from artrec.report.collect import (
        list_diversity,
        pick_queries,
        same_artist_table,
        sample_collectors,
    )
    from artrec.report.results import SimilarExample

    catalog = ws.catalog()

    # 5. same-artist retrieval
    t0 = time.perf_counter()
    report("same-artist retrieval", 0, 1)
    data = EvalData.from_workspace(ws, list(EMBEDDINGS), kinds=("purchase",))
    artists = catalog.artists()
    same_artist = same_artist_table(data.embeddings, artists, k=k)
    timings["same_artist"] = time.perf_counter() - t0
    report("same-artist retrieval", 1, 1)

    # 6. similar examples
    t0 = time.perf_counter()
    report("similar examples", 0, 1)
    engine = Engine.from_workspace(ws, embedding=HYBRID)
    examples = [
        SimilarExample(
            q,
            "cosine",
            {
                emb: [
                    (n.item_id, n.score)
                    for n in engine.similar(q, 6, metric="cosine", embedding=emb)
                ]
                for emb in (HYBRID, HANDCRAFTED)
            },
        )
        for q in pick_queries(catalog, 4)
    ]
    timings["similar"] = time.perf_counter() - t0
    report("similar examples", 1, 1)

    # 7. evaluation
    t0 = time.perf_counter()
    split = make_split(protocol, data.interactions, catalog)
    configs = config_grid(list(EMBEDDINGS), METRICS, AGGREGATIONS, BASELINES)
    report("evaluation", 0, len(configs))
    comparison = compare(
        configs,
        data,
        split,
        k,
        NOTEBOOK_CONFIG,
        diversity_embedding=HYBRID,
        workers=eval_workers,
        progress=lambda done, total: report("evaluation", done, total),
    )
    ndcg = f"ndcg@{k}"
    best = max(
        (name for name in comparison.results),
        key=lambda n: (
            np.nan_to_num(comparison.results[n].summary[ndcg].mean, nan=-1.0),
            n == NOTEBOOK_CONFIG,
        ),
    )
    diversity = {
        name: list_diversity(
            comparison.results[name].lists, split.profiles, data.vectors(HYBRID), artists
        )
        for name in dict.fromkeys([NOTEBOOK_CONFIG, best, "random", "popular", "artist"])
        if name in comparison.results
    }
    timings["evaluation"] = time.perf_counter() - t0

    # 8. collectors
    t0 = time.perf_counter()
    report("collectors", 0, 1)
    collectors = sample_collectors(
        engine, data.interactions, n=4, k=k, held_out=3, embedding=HYBRID, one_of_a_kind=True
    )
    timings["collectors"] = time.perf_counter() - t0
    report("collectors", 1, 1)

    # 9. tune: the workspace's chosen model
    from artrec.evaluation.tuning import TuneBudget, tune_workspace

    t0 = time.perf_counter()
    report("tune", 0, 1)
    tune_workspace(
        ws,
        k=k,
        budget=TuneBudget(TUNE_TRIALS, TUNE_SECONDS),
        target_kinds=("purchase",),
        one_of_a_kind=True,
    )
    chosen = describe(load_serving_model(ws))
    timings["tune"] = time.perf_counter() - t0
    report("tune", 1, 1)

    # 10. learning from the collectors
    t0 = time.perf_counter()
    learned = _learned_table(ws, data, split, k=k, report=report)
    timings["learned"] = time.perf_counter() - t0
    return ReportResults(
        same_artist=same_artist,
        similar_examples=examples,
        evaluation=evaluation_table(comparison, baseline=NOTEBOOK_CONFIG),
        best_config=best,
        diversity=diversity,
        collectors=collectors,
        learned=learned,
        chosen_model=chosen,
    )


def _learned_table(ws: Workspace, data: Any, split: Any, *, k: int, report: Progress) -> Any:
    """Step 10: the baselines, the notebook's method (VisRank by the sum of the profile's
    distances, and by their best similarity), every learning kind and the tuned
    hybrid under time replay with :data:`LEARNED_WINDOWS` refits (on purchases and likes
    before each window), paired-tested against the best single model by nDCG@k."""
    from artrec.evaluation.comparison import compare_results, evaluate_configs
    from artrec.evaluation.configs import LEARNING, Config
    from artrec.evaluation.protocols import make_split
    from artrec.evaluation.windowed import Refit

    if split.protocol != "time-replay":
        split = make_split("time-replay", data.interactions, data.catalog)
    auto = Config(
        "auto", k=k, max_trials=TUNE_TRIALS, max_seconds=TUNE_SECONDS,
        target_kinds="purchase", one_of_a_kind=True, by_time=True,
    )  # fmt: skip
    configs = [
        *(Config(b) for b in BASELINES),
        Config("visrank", embedding=HYBRID),
        Config("visrank", embedding=HYBRID, aggregation="max"),
        *(Config(kind) for kind in LEARNING if kind != "auto"),
        auto,
    ]
    report("learning models", 0, len(configs))
    # In this process: the tuning before this step started OpenMP threads (implicit), and a
    # process forked after that can hang in them.
    results = evaluate_configs(
        configs,
        data,
        split,
        k,
        diversity_vectors=data.vectors(HYBRID),
        workers=1,
        refit=Refit(LEARNED_WINDOWS, ws.interactions()),
        progress=lambda done, total: report("learning models", done, total),
    )
    ndcg = f"ndcg@{k}"
    single = [r for c, r in zip(configs, results, strict=True) if c.kind != "auto"]
    best = max(single, key=lambda r: np.nan_to_num(r.summary[ndcg].mean, nan=-1.0)).name
    return evaluation_table(compare_results(results, best, configs), baseline=best)


def write_workspace_report(
    workspace: Workspace | str | Path,
    path: str | Path | None = None,
    *,
    k: int = 10,
    use_demo: bool = True,
) -> Path:
    """``artrec report``: the HTML report of any workspace, with the findings.

    Uses the results the demo stored when there are some (unless ``use_demo`` is false),
    otherwise :func:`artrec.report.collect.collect_results`. Returns the report's path.
    """
    from artrec.findings import findings
    from artrec.report.collect import collect_results
    from artrec.report.html import write_report

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    results = collect_results(ws, k=k, use_demo=use_demo)
    return write_report(ws, results, path, findings=findings(results))
