"""Learned visual taste on SIMULATED collectors: CuratorNet and VBPR against VisRank.

The same data and protocol as ``bench_collectors.py`` (the collaborative models' table), so
the rows can be read side by side. What runs, in one process, all through the library:

1. the public-art catalogue of ``--workspace`` (fetched there when empty) and its
   hand-engineered features (18-d, extracted once); content models rank in the z-scored
   PCA embedding of those features (``--embedding NAME`` for another of the workspace's);
2. **simulated** collectors from :func:`artrec.data.simulate.simulate_collectors` with its
   default parameters (``--sim-seed``; the visual taste drawn in the raw feature space):
   whatever simulator the code base has;
3. :func:`artrec.evaluation.windowed.windowed_time_replay` for every configuration on the
   same cases: the last 20% of purchases by time, ``--windows`` windows, each model
   refitted on every event before each window; each purchase ranks the works in stock at
   its moment, from the buyer's earlier purchases;
4. VisRank (cosine, ``sum`` and ``max``), most popular, favourite artist, CuratorNet and
   VBPR, the learned ones as the ``curatornet`` / ``vbpr`` configuration kinds: at their
   defaults (early stopping on validation cases carved from the events before each window
   only, the item inputs chosen on the same cases: the embedding alone, or with one-hot
   artist, medium, century and museum; then a refit on all of them), and with each of the
   two inputs fixed;
5. nDCG@k (and AUC, HR@k) with 95% CIs, and paired tests (t-test and Wilcoxon,
   Holm-adjusted) of every model against VisRank-sum and against VisRank-max.

Prints a Markdown section; ``--json PATH`` also writes every number (for the demo report).

    ARTREC_DATA_HOME=/path/to/datasets .venv/bin/python benchmarks/bench_learned.py \
        --workspace /tmp/artrec-bench/collectors
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

_META = "artist,medium,century,museum"

#: (name in tables, kind, parameters); every configuration of the table.
CONFIGS: list[tuple[str, str, dict[str, Any]]] = [
    ("visrank-sum", "visrank", {"metric": "cosine", "aggregation": "sum"}),
    ("visrank-max", "visrank", {"metric": "cosine", "aggregation": "max"}),
    ("popular", "popular", {}),
    ("artist", "artist", {}),
    ("curatornet", "curatornet", {}),
    ("curatornet, vectors only", "curatornet", {"metadata": ""}),
    ("curatornet+metadata", "curatornet", {"metadata": _META}),
    ("vbpr", "vbpr", {}),
    ("vbpr, vectors only", "vbpr", {"metadata": ""}),
    ("vbpr+metadata", "vbpr", {"metadata": _META}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=os.environ.get("ARTREC_DATA_HOME"))
    parser.add_argument(
        "-w", "--workspace", type=Path, default=Path("/tmp/artrec-bench/collectors")
    )
    parser.add_argument(
        "--embedding", default=None, help="content embedding (default: handcrafted)"
    )
    parser.add_argument("--sim-seed", type=int, default=0)
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the learned models")
    parser.add_argument("--only", default=None, help="comma-separated model names to run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from artrec.data.simulate import SIMULATED_LABEL, SimulationParams, simulate_collectors
    from artrec.embedding import load_embedding
    from artrec.evaluation.comparison import compare_results
    from artrec.evaluation.kinds import build_model
    from artrec.evaluation.protocols import time_replay
    from artrec.evaluation.windowed import windowed_time_replay
    from bench_collectors import _workspace

    load_start = os.getloadavg()
    ws, raw, vectors = _workspace(args.workspace, args.data_home)
    catalog = ws.catalog()
    emb_name = "handcrafted"
    if args.embedding:
        emb_name = args.embedding
        emb = load_embedding(ws, args.embedding).align(catalog.item_ids)
        vectors = np.asarray(emb.matrix, dtype=np.float32)
    sim = simulate_collectors(catalog, SimulationParams(seed=args.sim_seed), vectors=raw)
    events = sim.interactions
    split = time_replay(sim.purchases, catalog)
    k = args.k
    configs = CONFIGS
    if args.only:
        wanted = {"visrank-sum", "visrank-max", *args.only.split(",")}
        configs = [c for c in configs if c[0] in wanted]
    print(f"# {SIMULATED_LABEL} collectors: {sim.stats}", file=sys.stderr, flush=True)
    results = []
    timings: dict[str, float] = {}
    training: dict[str, Any] = {}
    for name, kind, params in configs:
        p = {**params, "seed": args.seed} if kind in ("curatornet", "vbpr") else params
        t0 = time.perf_counter()
        model = build_model(kind, p)
        result = windowed_time_replay(
            model, catalog, events, k=k, n_windows=args.windows, vectors=vectors,
            name=name, split=split,
        )  # fmt: skip
        timings[name] = time.perf_counter() - t0
        val = getattr(model, "validation_", None)
        if val is not None:  # the last window's early stopping
            training[name] = {
                "best_epoch": val["best_epoch"],
                f"validation_ndcg@{val['k']}": val["best_ndcg"],
                "n_validation_cases": val["n_cases"],
                "metadata": val.get("metadata", list(getattr(model, "metadata", ()))),
            }
        s = result.summary[f"ndcg@{k}"]
        print(
            f"  {name}: nDCG@{k} {s.mean:.4f} [{s.ci_low:.4f}, {s.ci_high:.4f}] "
            f"({timings[name]:.0f} s) {training.get(name, '')}",
            file=sys.stderr,
            flush=True,
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
        f"collectors, {sim.stats['n_purchases']} purchases and {sim.stats.get('n_likes', 0)} "
        f"likes (simulation seed {args.sim_seed}); windowed time replay, {args.windows} "
        f"windows over the last 20% of purchases, {results[0].n_cases} cases; content "
        f"embedding {emb_name}; k = {k}; model seed {args.seed}"
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
                    "protocol": f"windowed time replay ({args.windows} windows)",
                    "n_cases": results[0].n_cases,
                    "k": k,
                    "embedding": emb_name,
                    "rows": rows,
                },
                indent=1,
                default=float,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
