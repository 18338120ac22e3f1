"""Batch recommendation for 100k users over a 1M-item catalogue, in bounded chunks.

SIMULATED data: the catalogue is ``n_items`` synthetic unit vectors (d=128, uneven
clusters, low intrinsic dimension; see ``bench_index.py``); each of the ``n_users`` users
has a profile of 1 to 20 items (geometric, mean about 4), drawn mostly from one cluster
neighbourhood (the items nearest to a random seed item) -- like a collector's purchases.

What runs, in one process:

1. a FAISS HNSW index is built over the catalogue (or loaded from ``--cache``);
2. :func:`artrec.recommend.batch.recommend_all` ranks ``k`` items for every user,
   ``--chunk-size`` users at a time, candidates = the ``--candidates`` nearest neighbours of
   each profile item, scored exactly with the VisRank ``sum`` aggregation, written to a run
   directory (memory-mapped ``.npy``);
3. for ``--exact-sample`` users, exact dense VisRank (every item scored) gives the
   reference lists; the report gives recall@k of the batch lists against it, and the time
   per user of both.

Reported: wall time, users per second, peak RSS of the process and its growth during the
batch run (the chunked working set), and recall@k against exact VisRank.

Run::

    .venv/bin/python benchmarks/bench_batch_recommend.py                        # 100k x 1M
    .venv/bin/python benchmarks/bench_batch_recommend.py --items 100000 --users 10000
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # BLAS threads must be fixed before numpy loads (see bench_index.py)
    _blas = os.environ.get("ARTREC_BENCH_BLAS_THREADS", "1")
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _blas)

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_index import clustered, peak_rss_mib


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Reset VmHWM (Linux: write 5 to clear_refs) so the next peak is the batch's own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def simulate_profiles(index: object, n_users: int, seed: int) -> dict[str, np.ndarray]:
    """SIMULATED users: profile = random picks among the 50 neighbours of a seed item."""
    rng = np.random.default_rng(seed)
    n_items = index.n_items  # type: ignore[attr-defined]
    seeds = rng.integers(0, n_items, size=n_users)
    sizes = np.minimum(rng.geometric(0.25, size=n_users), 20)
    neigh, _ = index.search(index.vectors_of(seeds), 50)  # type: ignore[attr-defined]
    profiles = {}
    for u in range(n_users):
        pool = neigh[u][neigh[u] >= 0]
        profiles[f"user{u}"] = rng.choice(pool, size=min(int(sizes[u]), len(pool)), replace=False)
    return profiles


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument(
        "--exact-sample", type=int, default=200, help="users checked against dense VisRank"
    )
    parser.add_argument("--threads", type=int, default=2, help="FAISS OpenMP threads (default 2)")
    parser.add_argument("--cache", type=Path, default=None, help="save/load the built index here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import faiss

    from artrec.index.faiss_index import FaissIndex
    from artrec.recommend.base import TrainData
    from artrec.recommend.batch import load_batch, recommend_all
    from artrec.recommend.visrank import VisRankRecommender

    faiss.omp_set_num_threads(args.threads)
    print(
        f"# machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}, "
        f"faiss {faiss.__version__}, FAISS threads {args.threads}, "
        f"BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS')}"
    )
    print(f"# SIMULATED: {args.items:,} items x d={args.dim}, {args.users:,} users, k={args.k}")
    t = time.perf_counter()
    if args.cache is not None and (args.cache / "index.json").is_file():
        index = FaissIndex.load(args.cache)
        how = f"loaded from {args.cache}"
    else:
        x = clustered(args.items, args.dim, seed=args.seed)
        index = FaissIndex("hnsw", "cosine").build(x, np.arange(args.items).astype(str))
        how = "built"
        if args.cache is not None:
            index.save(args.cache)
            index = FaissIndex.load(args.cache)
            del x
    print(f"index ({how}): {time.perf_counter() - t:.1f} s, params {index.get_params()}")
    t = time.perf_counter()
    profiles = simulate_profiles(index, args.users, args.seed + 1)
    sizes = np.array([len(p) for p in profiles.values()])
    print(
        f"profiles: {time.perf_counter() - t:.1f} s, mean size {sizes.mean():.2f}, max {sizes.max()}"
    )

    with tempfile.TemporaryDirectory(prefix="artrec-bench-batch-") as tmp:
        out = Path(tmp) / "run"
        before = rss_mib()
        reset_peak()
        t = time.perf_counter()
        result = recommend_all(
            index,
            profiles,
            out,
            k=args.k,
            chunk_size=args.chunk_size,
            aggregation="sum",
            n_candidates=args.candidates,
        )
        batch_s = time.perf_counter() - t
        peak = peak_rss_mib()
        print(
            f"\nrecommend_all: {batch_s:.1f} s for {result.n_users:,} users "
            f"({result.n_users / batch_s:.0f} users/s, {1e3 * batch_s / result.n_users:.2f} ms/user), "
            f"{result.n_chunks} chunks of {args.chunk_size}"
        )
        print(
            f"memory: RSS before {before:.0f} MiB, peak during the run {peak:.0f} MiB (+{peak - before:.0f} MiB)"
        )
        run = load_batch(out)
        n = min(args.exact_sample, len(profiles))
        users = list(profiles)[:n]
        vectors = np.asarray(index.vectors_of(np.arange(index.n_items)))
        rec = VisRankRecommender("cosine", "sum", dtype="float32", chunk_size=64).fit(
            TrainData(index.n_items, vectors=vectors)
        )
        t = time.perf_counter()
        exact = rec.rank([profiles[u] for u in users], args.k)
        exact_s = time.perf_counter() - t
        hits = [
            len(set(run.rows[i].tolist()) & set(exact.rows[i].tolist())) / args.k for i in range(n)
        ]
        print(
            f"exact dense VisRank on {n} users: {exact_s:.1f} s ({1e3 * exact_s / n:.1f} ms/user; "
            f"{args.users:,} users would take ~{exact_s / n * args.users / 60:.0f} min)"
        )
        print(f"recall@{args.k} of the batch lists against exact VisRank: {np.mean(hits):.4f}")
        print(
            f"speed-up per user over exact dense scoring: {(exact_s / n) / (batch_s / result.n_users):.1f}x"
        )
        print(
            f"process peak RSS (incl. exact check): {peak_rss_mib():.0f} MiB; load now {os.getloadavg()}"
        )


if __name__ == "__main__":
    main()
