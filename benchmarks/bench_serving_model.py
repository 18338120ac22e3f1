"""Per-request cost of recommending with the workspace's tuned model (fold-in, no refit).

On the public-art catalogue (5,736 works, the demo's scale) with SIMULATED collectors
written into the workspace, this tunes and saves the hybrid
(:func:`artrec.evaluation.tuning.tune_workspace`), loads it the way a server does
(:func:`artrec.recommend.serving.load_serving_model`) and times
``ServingModel.recommend([profile], k=10)`` for single visitors: each request folds the
visitor's profile in (a new like is simply one more row), scores every source, blends,
ranks the in-stock works and explains the top 10. Reported: p50, p99 and mean per request
on one thread, and the load and reload time.

Run (after ``bench_collectors.py`` built the workspace's features)::

    .venv/bin/python benchmarks/bench_serving_model.py --workspace /tmp/artrec-bench/collectors
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/artrec-bench/collectors"))
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from artrec.data.simulate import SimulationParams, simulate_collectors, write_simulation
    from artrec.data.workspace import Workspace
    from artrec.evaluation.tuning import TuneBudget, tune_workspace
    from artrec.recommend.serving import load_serving_model
    from artrec.vectors import FeatureSet

    ws = Workspace.open(args.workspace)
    catalog = ws.catalog()
    raw = FeatureSet.load(ws.features_dir, "handcrafted").align(catalog.item_ids).matrix
    sim = simulate_collectors(catalog, SimulationParams(), vectors=np.asarray(raw))
    write_simulation(ws, sim)
    t = time.perf_counter()
    tune_workspace(
        ws, k=20, budget=TuneBudget(max_trials=0), target_kinds=("purchase",), one_of_a_kind=True
    )
    tune_s = time.perf_counter() - t
    t = time.perf_counter()
    serving = load_serving_model(ws)
    load_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    profiles = [
        rng.choice(catalog.n_items, size=int(rng.integers(1, 11)), replace=False)
        for _ in range(args.requests)
    ]
    serving.recommend([profiles[0]], 10)  # warm caches
    times = []
    for p in profiles:
        s = time.perf_counter()
        serving.recommend([p], 10)
        times.append(time.perf_counter() - s)
    ms = np.array(times) * 1000
    out = {
        "label": "simulated",
        "n_items": catalog.n_items,
        "model": serving.info.extra.get("tuned"),
        "tune_s": tune_s,
        "load_s": load_s,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "requests": args.requests,
        "machine": platform.platform(),
        "load": os.getloadavg(),
    }
    print(json.dumps(out, indent=2, default=str))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
