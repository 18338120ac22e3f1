"""Learned visual taste on SIMULATED collectors: CuratorNet and VBPR against VisRank.

What runs, in one process:

1. the public-art catalogue of a workspace (``-w``, e.g. a copy of the demo workspace) and
   its default embedding (``--embedding`` for another);
2. **simulated** collectors from :func:`artrec.data.simulate.simulate_collectors` with its
   default parameters (``--sim-seed``): whatever simulator the code base has;
3. a time-replay evaluation with a time cut: every purchase is replayed in time order
   against the stock of its moment (:func:`artrec.evaluation.protocols.time_replay`);
   models are fitted on the purchases before the cut (the first ``--train-share`` of all
   purchases) and evaluated on every repeat purchase after it (profile: all the buyer's
   earlier purchases, candidates: the works in stock at that moment, minus the profile);
4. VisRank (cosine, ``sum`` and ``max``), most popular, favourite artist, CuratorNet and
   VBPR (each with the embedding alone and with one-hot metadata: artist, medium, century,
   museum), the learned ones trained with :func:`artrec.evaluation.training.train_recommender`
   at their default settings (validation split carved from the training purchases only,
   early stopping on its nDCG@k, refit); for transparency also CuratorNet with metadata
   *untrained* (0 epochs: its similarity path alone) and the paper's architecture alone
   (no similarity path, z-scored inputs, lr 1e-3);
5. nDCG@k (and AUC, R@k, HR@k) with 95% CIs, and paired tests (t-test and Wilcoxon,
   Holm-adjusted) of every model against VisRank-sum and against VisRank-max.

Prints a Markdown section; ``--json PATH`` also writes every number (for the demo report).

    .venv/bin/python benchmarks/bench_learned.py -w /path/to/copy-of-demo-workspace
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def time_cut_split(events: Any, catalog: Any, train_share: float) -> Any:
    """Time replay, fitted on the purchases before the cut, evaluated on those after it."""
    from artrec.evaluation.protocols import Split, time_replay

    full = time_replay(events, catalog)
    log = full.log
    order = np.argsort(log.timestamps, kind="stable")
    cut = math.floor(train_share * len(order))
    before = np.zeros(len(log), dtype=bool)
    before[order[:cut]] = True
    assert full.case_position is not None and full.leaves_stock_at is not None
    keep = np.flatnonzero(full.case_position >= cut)
    return Split(
        "time-replay (time cut)",
        full.n_items,
        full.user_ids[keep],
        [full.profiles[i] for i in keep],
        [full.relevant[i] for i in keep],
        [full.exclude[i] for i in keep],
        log.select(before),
        log,
        case_position=full.case_position[keep],
        leaves_stock_at=full.leaves_stock_at,
        skipped={**full.skipped, "cases_before_the_cut": int(len(full.user_ids) - len(keep))},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-w", "--workspace", type=Path, required=True)
    parser.add_argument("--embedding", default=None)
    parser.add_argument("--sim-seed", type=int, default=0)
    parser.add_argument("--train-share", type=float, default=0.7)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the learned models")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", default=None, help="comma-separated model names to run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from artrec.data.simulate import SIMULATED_LABEL, simulate_collectors
    from artrec.data.workspace import Workspace
    from artrec.embedding import load_embedding
    from artrec.evaluation.comparison import compare_results
    from artrec.evaluation.evaluator import evaluate
    from artrec.evaluation.training import train_recommender
    from artrec.recommend.baselines import FavouriteArtistRecommender, PopularRecommender
    from artrec.recommend.curatornet import CuratorNetRecommender
    from artrec.recommend.neural import METADATA_COLUMNS
    from artrec.recommend.vbpr import VBPRRecommender
    from artrec.recommend.visrank import VisRankRecommender

    load_start = os.getloadavg()
    ws = Workspace.open(args.workspace)
    catalog = ws.catalog()
    emb = load_embedding(ws, args.embedding)
    vectors = np.asarray(emb.align(catalog.item_ids).matrix, dtype=np.float32)
    sim = simulate_collectors(catalog, _default_params(args.sim_seed))
    split = time_cut_split(sim.interactions, catalog, args.train_share)
    k = args.k
    common = {"seed": args.seed, "threads": args.threads}
    meta = {"metadata": METADATA_COLUMNS}
    models: dict[str, Any] = {
        "visrank-sum": VisRankRecommender("cosine", "sum"),
        "visrank-max": VisRankRecommender("cosine", "max"),
        "popular": PopularRecommender(),
        "artist": FavouriteArtistRecommender(),
        "curatornet (paper: no similarity path)": CuratorNetRecommender(
            **common, skip=False, inputs="zscore", lr=1e-3
        ),
        "curatornet": CuratorNetRecommender(**common),
        "curatornet+metadata untrained": CuratorNetRecommender(**common, **meta, epochs=0),
        "curatornet+metadata": CuratorNetRecommender(**common, **meta),
        "vbpr": VBPRRecommender(**common),
        "vbpr+metadata": VBPRRecommender(**common, **meta),
    }
    if args.only:
        wanted = {"visrank-sum", "visrank-max", *args.only.split(",")}
        models = {n: m for n, m in models.items() if n in wanted}
    print(
        f"# {SIMULATED_LABEL} collectors: {sim.stats}; {split.n_cases} cases after the cut, "
        f"{len(split.train)} training purchases; embedding {emb.name} ({emb.dim}-d)",
        file=sys.stderr,
    )
    results = []
    timings: dict[str, float] = {}
    training: dict[str, Any] = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        if hasattr(model, "training_state"):
            trained = train_recommender(model, catalog, split.train, vectors=vectors, k=k)
            training[name] = {
                "best_epoch": trained.best_epoch,
                f"validation_ndcg@{k}": trained.best_ndcg,
                "stopped_early": trained.stopped_early,
                "n_validation_cases": trained.n_validation_cases,
            }
            result = evaluate(
                trained.model, catalog, split, k=k, vectors=vectors, fit=False, name=name
            )
        else:
            result = evaluate(model, catalog, split, k=k, vectors=vectors, name=name)
        timings[name] = time.perf_counter() - t0
        s = result.summary[f"ndcg@{k}"]
        print(
            f"  {name}: nDCG@{k} {s.mean:.4f} [{s.ci_low:.4f}, {s.ci_high:.4f}] "
            f"({timings[name]:.0f} s) {training.get(name, '')}",
            file=sys.stderr,
        )
        results.append(result)
    versus = {b: compare_results(results, baseline=b) for b in ("visrank-sum", "visrank-max")}

    metric = f"ndcg@{k}"
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores; load average {load_start[0]:.1f} "
        f"at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"data ({SIMULATED_LABEL}): {catalog.n_items} works, {sim.stats['n_users']} simulated "
        f"collectors, {sim.stats['n_purchases']} purchases (simulation seed {args.sim_seed}); "
        f"fitted on the first {args.train_share:.0%} by time ({len(split.train)} purchases), "
        f"evaluated on {split.n_cases} later repeat purchases; embedding {emb.name} "
        f"({emb.dim}-d); k = {k}; model seed {args.seed}"
    )
    print()
    print(
        f"| model | nDCG@{k} [95% CI] | vs VisRank-sum | p (t / Wilcoxon, Holm) | "
        f"vs VisRank-max | p (t / Wilcoxon, Holm) | AUC | HR@{k} | time (s) |"
    )
    print("|---|---:|---:|---|---:|---|---:|---:|---:|")
    rows = []
    for r in results:
        s = r.summary[metric]
        cells = [r.name, f"{s.mean:.4f} [{s.ci_low:.4f}, {s.ci_high:.4f}]"]
        row: dict[str, Any] = {"model": r.name, metric: s.mean, "ci": [s.ci_low, s.ci_high]}
        for base, cmp in versus.items():
            b = next(x for x in results if x.name == base).summary[metric].mean
            ratio = s.mean / b if b > 0 else float("nan")
            test = cmp.test(r.name, metric)
            cells.append(f"{ratio:.2f}x")
            cells.append(
                "" if test is None else f"{test.p_ttest_holm:.1e} / {test.p_wilcoxon_holm:.1e}"
            )
            row[f"ratio_vs_{base}"] = ratio
            row[f"p_vs_{base}"] = (
                None if test is None else [test.p_ttest_holm, test.p_wilcoxon_holm]
            )
        cells += [
            f"{r.summary['auc'].mean:.4f}",
            f"{r.summary[f'hr@{k}'].mean:.4f}",
            f"{timings[r.name]:.0f}",
        ]
        row.update(
            auc=r.summary["auc"].mean,
            hr=r.summary[f"hr@{k}"].mean,
            seconds=timings[r.name],
            training=training.get(r.name),
        )
        rows.append(row)
        print("| " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "label": SIMULATED_LABEL,
                    "simulation": sim.stats,
                    "protocol": split.protocol,
                    "train_share": args.train_share,
                    "n_cases": split.n_cases,
                    "k": k,
                    "embedding": emb.name,
                    "rows": rows,
                },
                indent=1,
                default=float,
            )
        )
    return 0


def _default_params(seed: int) -> Any:
    from artrec.data.simulate import SimulationParams

    return SimulationParams(seed=seed)


if __name__ == "__main__":
    sys.exit(main())
