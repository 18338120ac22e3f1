"""Every baseline, collaborative model and the tuned hybrid under windowed time replay on
SIMULATED collectors over the real public-art catalogue (results table of docs/recommenders.md).

Steps (all through the library):

1. The public-art catalogue (5,736 real paintings) and its hand-engineered features
   (18-d, extracted once into the workspace given by ``--workspace``, reused afterwards);
   the content models rank in the z-scored PCA embedding of those features.
2. Simulated collectors (:func:`artrec.data.simulate.simulate_collectors`, default
   parameters; the visual taste is drawn in the raw, unscaled feature space).
3. :func:`artrec.evaluation.windowed.windowed_time_replay` for every configuration on the
   same cases (the last 20% of purchases by time, 4 windows, each model refitted on every
   event before each window), nDCG@20 and the other metrics with 95% CIs.
4. Paired tests (:func:`artrec.evaluation.comparison.compare_results`) of every
   configuration against popularity and of the tuned hybrid against the best single model.

Run::

    ARTREC_DATA_HOME=/path/to/datasets .venv/bin/python benchmarks/bench_collectors.py \
        --workspace /tmp/artrec-bench/collectors --out benchmarks/results/collectors_time_replay.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

#: (name in tables, kind, parameters); every configuration of the table.
CONFIGS: list[tuple[str, str, dict[str, Any]]] = [
    ("random", "random", {}),
    ("popular", "popular", {}),
    ("trending (hl 30 d)", "time-popular", {}),
    ("artist", "artist", {}),
    ("metadata", "metadata", {}),
    ("visrank (notebook)", "visrank", {}),
    ("content (mean cos)", "content", {}),
    ("item-knn", "item-knn", {}),
    ("ease", "ease", {}),
    ("ials", "ials", {}),
    ("bpr", "bpr", {}),
    # the shop's nature and the protocol are facts, not tuned constants: judged on purchases
    # of unique works, validated by a time cut as time replay evaluates
    (
        "auto (tuned hybrid)",
        "auto",
        {"k": 20, "target_kinds": "purchase", "one_of_a_kind": True, "by_time": True},
    ),
]


def _workspace(path: Path, data_home: str | None) -> tuple[Any, np.ndarray, np.ndarray]:
    from artrec.data.public_art import fetch_public_art
    from artrec.data.workspace import Workspace
    from artrec.embedding import build_embedding, load_embedding
    from artrec.features.api import extract
    from artrec.vectors import FeatureSet

    ws = Workspace.create(path)
    if ws.n_items() == 0:
        fetch_public_art(data_home, ws)
    catalog = ws.catalog()
    if "handcrafted" not in FeatureSet.available(ws.features_dir):
        extract(ws, "handcrafted", workspace=ws, num_workers=0)
    raw = FeatureSet.load(ws.features_dir, "handcrafted").align(catalog.item_ids)
    try:
        emb = load_embedding(ws, "handcrafted")
    except Exception:
        emb = build_embedding(ws, ["handcrafted"], "handcrafted", 32, set_default=True)
    emb = emb.align(catalog.item_ids)
    return ws, np.asarray(raw.matrix, np.float32), np.asarray(emb.matrix, np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=os.environ.get("ARTREC_DATA_HOME"))
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/artrec-bench/collectors"))
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", help="configuration names to run (default all)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from artrec.data.simulate import SIMULATED_LABEL, SimulationParams, simulate_collectors
    from artrec.evaluation.comparison import compare_results
    from artrec.evaluation.kinds import build_model
    from artrec.evaluation.protocols import time_replay
    from artrec.evaluation.windowed import windowed_time_replay

    t0 = time.perf_counter()
    ws, raw, emb = _workspace(args.workspace, args.data_home)
    catalog = ws.catalog()
    params = SimulationParams(seed=args.seed)
    sim = simulate_collectors(catalog, params, vectors=raw)
    events = sim.interactions
    purchases = sim.purchases
    split = time_replay(purchases, catalog)
    print(f"[{SIMULATED_LABEL}] {sim.stats}", flush=True)
    results = []
    timings: dict[str, float] = {}
    tuned_info: dict[str, Any] | None = None
    for name, kind, p in CONFIGS:
        if args.only and name not in args.only:
            continue
        s = time.perf_counter()
        rec = build_model(kind, p)
        res = windowed_time_replay(
            rec,
            catalog,
            events,
            k=args.k,
            n_windows=args.windows,
            vectors=emb,
            diversity_vectors=emb,
            name=name,
            split=split,
        )
        timings[name] = time.perf_counter() - s
        m = res.summary[f"ndcg@{args.k}"]
        print(
            f"{name:22s} ndcg@{args.k}={m.mean:.4f} ±{m.half_width:.4f} "
            f"n={res.n_cases} {timings[name]:.1f}s",
            flush=True,
        )
        if kind == "auto":
            tuned = rec.result_  # type: ignore[attr-defined]
            print(f"  tuned: {json.dumps(tuned.config())}", flush=True)
            print(f"  validation: {json.dumps(tuned.validation)}", flush=True)
            tuned_info = {"config": tuned.config(), "validation": tuned.validation}
        results.append(res)
    metric = f"ndcg@{args.k}"
    singles = [r for r in results if not r.name.startswith("auto")]
    best = max(singles, key=lambda r: r.summary[metric].mean)
    vs_pop = (
        compare_results(results, "popular") if any(r.name == "popular" for r in results) else None
    )
    vs_best = compare_results(results, best.name)
    auto = next((r for r in results if r.name.startswith("auto")), None)
    rows = []
    for r in results:
        s = r.summary[metric]
        t_pop = vs_pop.test(r.name, metric) if vs_pop else None
        t_best = vs_best.test(r.name, metric)
        rows.append(
            {
                "config": r.name,
                "cases": r.n_cases,
                metric: s.mean,
                "ci_low": s.ci_low,
                "ci_high": s.ci_high,
                "hr": r.summary[f"hr@{args.k}"].mean,
                "auc": r.summary["auc"].mean,
                "coverage": r.coverage,
                "p_vs_popular_wilcoxon_holm": None if t_pop is None else t_pop.p_wilcoxon_holm,
                "p_vs_best_single_wilcoxon": None if t_best is None else t_best.p_wilcoxon,
                "p_vs_best_single_ttest": None if t_best is None else t_best.p_ttest,
                "seconds": timings[r.name],
            }
        )
    print(
        f"\n| configuration [{SIMULATED_LABEL}] | cases | {metric} (95% CI) | HR@{args.k} | AUC | p vs best single (Wilcoxon) |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        p = row["p_vs_best_single_wilcoxon"]
        print(
            f"| {row['config']} | {row['cases']} | {row[metric]:.4f} "
            f"({row['ci_low']:.4f}-{row['ci_high']:.4f}) | {row['hr']:.3f} | {row['auc']:.3f} | "
            f"{'-' if p is None else f'{p:.2g}'} |"
        )
    if auto is not None:
        gain = auto.summary[metric].mean / best.summary[metric].mean - 1.0
        print(f"\nbest single: {best.name}; tuned hybrid gain: {gain:+.1%}")
    payload = {
        "label": SIMULATED_LABEL,
        "protocol": f"windowed time replay ({args.windows} windows, last 20% of purchases)",
        "k": args.k,
        "simulation": {"params": sim.params.__dict__, "stats": sim.stats},
        "best_single": best.name,
        "rows": rows,
        "tuned": tuned_info,
        "machine": platform.platform(),
        "load": os.getloadavg(),
        "seconds": time.perf_counter() - t0,
    }
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
