"""Batch recommendation: the local path vs Ray actors, side by side in one process.

One command::

    .venv/bin/python benchmarks/bench_ray_batch.py

SIMULATED data: ``--items`` clustered unit vectors (d = 128, see ``bench_index.py``) and
``--users`` users with 1-20 profile items each. Exact VisRank (cosine, ``sum_distance``:
every item scored for every user) ranks ``k = 10`` items per user with
:func:`artrec.recommend.batch.recommend_all`, ``--chunk-size`` users per chunk, twice:

* **local**: every chunk in this process (numpy with ``--local-threads`` BLAS threads);
* **ray**: the chunks on a pool of ``--actors`` Ray actors of one CPU each, on a local
  Ray instance started here (its start-up is timed separately and not counted).

The two run directories are compared array for array (the script exits 1 if they
differ). On one 2-core machine the actors share the same two cores as the local run, so
the ratio shows the overhead of the object store and the actor pool; on a cluster the
actors add machines (see docs/scaling.md).
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # BLAS threads must be fixed before numpy loads
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_index import clustered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--local-threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import ray
    from threadpoolctl import threadpool_limits

    from artrec.recommend.base import TrainData
    from artrec.recommend.batch import load_batch, recommend_all
    from artrec.recommend.ray_batch import ray_ranker
    from artrec.recommend.visrank import VisRankRecommender

    rng = np.random.default_rng(args.seed)
    vectors = clustered(args.items, 128, seed=args.seed)
    ids = np.arange(args.items).astype(str)
    sizes = np.minimum(rng.geometric(0.25, size=args.users), 20)
    profiles = {
        f"u{u}": rng.choice(args.items, size=int(s), replace=False) for u, s in enumerate(sizes)
    }
    rec = VisRankRecommender("cosine", "sum_distance").fit(TrainData(args.items, vectors))
    common = {"k": 10, "chunk_size": args.chunk_size, "item_ids": ids}
    with tempfile.TemporaryDirectory() as tmp:
        with threadpool_limits(args.local_threads, user_api="blas"):
            t = time.perf_counter()
            recommend_all(rec, profiles, Path(tmp) / "local", **common)
            local_s = time.perf_counter() - t
        t = time.perf_counter()
        ray.init(num_cpus=args.actors, include_dashboard=False, log_to_driver=False)
        start_s = time.perf_counter() - t
        try:
            t = time.perf_counter()
            recommend_all(
                rec,
                profiles,
                Path(tmp) / "ray",
                ranker=ray_ranker(num_actors=args.actors),
                **common,
            )
            ray_s = time.perf_counter() - t
        finally:
            ray.shutdown()
        a, b = load_batch(Path(tmp) / "local"), load_batch(Path(tmp) / "ray")
        same = all(
            np.array_equal(getattr(a, name), getattr(b, name))
            for name in ("rows", "scores", "because")
        )
    results = {
        "items": args.items,
        "users": args.users,
        "chunk_size": args.chunk_size,
        "local_s": round(local_s, 2),
        "ray_s": round(ray_s, 2),
        "ray_start_s": round(start_s, 2),
        "ray_over_local": round(ray_s / local_s, 2),
        "identical": same,
        "actors": args.actors,
        "local_blas_threads": args.local_threads,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, ray {ray.__version__}",
    }
    print(json.dumps(results, indent=2))
    print(
        f"\n| engine | users/s | seconds |\n|---|---:|---:|\n"
        f"| local ({args.local_threads} BLAS threads) | {args.users / local_s:,.0f} | {local_s:.2f} |\n"
        f"| ray ({args.actors} actors) | {args.users / ray_s:,.0f} | {ray_s:.2f} (+ {start_s:.1f} s start-up) |\n"
        f"\nidentical run directories: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
