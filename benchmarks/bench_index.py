"""Exact numpy index vs FAISS flat / IVF / HNSW on synthetic catalogues, side by side.

For each catalogue (n items x d dimensions) every index is built in the same process on
the same data and measured on the same queries:

* build time (seconds);
* single-query latency p50 / p99 (ms), one ``search`` call per query, k = 10;
* batch latency p50 / p99 (ms per batch of ``--batch`` queries);
* recall@10 against the exact index;
* memory: the index's own structure (MiB): FAISS's serialised index (its copy of the
  vectors plus graph or lists), or the exact index's normalised float32 copy; both also
  reference the caller's float32 vectors (``4 * n * d`` bytes), not counted. The process's
  peak RSS is printed at the end.

The data is SYNTHETIC, of two kinds (``--data``): ``clustered``, unit vectors with a low
intrinsic dimension (24) in uneven (Zipf) clusters, like a PCA embedding of CNN features;
and ``gaussian``, i.i.d. standard normal vectors, which have no structure for an index to
exploit. The queries are further points of the same distribution that are not in the
index. Rows marked ``tuned`` are built with ``target_recall=0.95`` (``--target-recall``):
the index measures itself on queries sampled from the catalogue and picks its parameters
(see :mod:`artrec.index.faiss_index`); their build time includes the tuning, whose share
and chosen parameters are listed. The other FAISS rows use fixed parameters (no tuning). FAISS answers queries with ``--threads`` OpenMP threads (builds use ``--build-threads``, 2)
and numpy with ``$ARTREC_BENCH_BLAS_THREADS`` BLAS threads (both default 1: the machine is
shared, and single-query latency is what a server sees).

Run (the full set takes a while on 2 cores; the 1M HNSW build dominates)::

    .venv/bin/python benchmarks/bench_index.py                     # 10k, 100k, 100k@512, 1M
    .venv/bin/python benchmarks/bench_index.py --configs 10000x128  # one catalogue
    .venv/bin/python benchmarks/bench_index.py --configs 200000x128 --data clustered gaussian \
        --kinds ivf hnsw --tuned-only                                 # self-tuning at 200k

It prints a Markdown table (and ``--json PATH`` writes the raw numbers).
"""

from __future__ import annotations

import os

# BLAS threads must be fixed before numpy loads. One thread (default) is what a server
# answering single queries should use: on this shared 2-core machine a multi-threaded
# OpenBLAS matrix-vector product of a 10k x 128 query takes ~50x longer under load.
if __name__ == "__main__":
    _blas = os.environ.get("ARTREC_BENCH_BLAS_THREADS", "1")
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _blas)

import argparse
import gc
import json
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

K = 10


def clustered(n: int, d: int, seed: int = 0, latent: int = 24, chunk: int = 100_000) -> np.ndarray:
    """``n`` synthetic unit vectors (float32), generated in chunks to bound memory."""
    rng = np.random.default_rng(seed)
    n_clusters = max(10, n // 200)
    weights = rng.zipf(1.5, n_clusters).astype(np.float64)
    centres = rng.normal(size=(n_clusters, latent)) * 2
    w = rng.normal(size=(latent, d)) / np.sqrt(latent)
    labels = rng.choice(n_clusters, size=n, p=weights / weights.sum())
    out = np.empty((n, d), dtype=np.float32)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        z = centres[labels[lo:hi]] + rng.normal(size=(hi - lo, latent))
        x = z @ w + 0.1 * rng.normal(size=(hi - lo, d))
        out[lo:hi] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def gaussian(n: int, d: int, seed: int = 0) -> np.ndarray:
    """``n`` i.i.d. standard normal vectors (float32)."""
    return np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)


def peak_rss_mib() -> float:
    """Peak resident set size of this process (MiB), from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def index_mib(index: Any) -> float:
    """Memory held by an index's own structure (MiB), not counting the shared input vectors.

    FAISS: the serialised size of the FAISS index (vectors + graph / lists). Exact: the
    normalised float32 copy it scores against.
    """
    faiss_index = getattr(index, "index_", None)
    if faiss_index is not None:
        import faiss

        return float(faiss.serialize_index(faiss_index).nbytes) / 2**20
    prepared = getattr(index, "_prepared", None)
    return float(prepared.nbytes) / 2**20 if prepared is not None else float("nan")


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1e3, q))


def measure(
    name: str,
    params: str,
    index: Any,
    queries: np.ndarray,
    truth: np.ndarray | None,
    batch: int,
    n_batches: int,
    n_single: int,
) -> tuple[dict[str, Any], np.ndarray]:
    single: list[float] = []
    for q in queries[:n_single]:
        t = time.perf_counter()
        index.search(q[None, :], K)
        single.append(time.perf_counter() - t)
    batches: list[float] = []
    found = []
    for b in range(n_batches):
        block = queries[b * batch : (b + 1) * batch]
        if not len(block):
            break
        t = time.perf_counter()
        rows, _ = index.search(block, K)
        batches.append(time.perf_counter() - t)
        found.append(rows)
    rows_all = np.concatenate(found)
    recall = 1.0
    if truth is not None:
        t = truth[: len(rows_all)]
        recall = float(
            np.mean([len(set(a) & set(b)) / K for a, b in zip(rows_all, t, strict=True)])
        )
    row = {
        "index": name,
        "params": params,
        "single_p50_ms": percentile_ms(single, 50),
        "single_p99_ms": percentile_ms(single, 99),
        "batch_p50_ms": percentile_ms(batches, 50),
        "batch_p99_ms": percentile_ms(batches, 99),
        "recall@10": recall,
    }
    return row, rows_all


def run_config(n: int, d: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    from artrec.index.exact import ExactIndex
    from artrec.index.faiss_index import FaissIndex

    n_q = max(args.single, args.batch * args.batches)
    data = (gaussian if args.data_kind == "gaussian" else clustered)(n + n_q, d, seed=args.seed)
    x, queries = data[:n], np.ascontiguousarray(data[n:])
    del data
    ids = np.arange(n).astype(str)
    results: list[dict[str, Any]] = []

    def built(make: Callable[[], Any]) -> tuple[Any, float, float]:
        import faiss

        gc.collect()
        faiss.omp_set_num_threads(args.build_threads)
        t = time.perf_counter()
        index = make()
        seconds = time.perf_counter() - t
        faiss.omp_set_num_threads(args.threads)
        return index, seconds, index_mib(index)

    exact, secs, mem = built(lambda: ExactIndex("cosine").build(x, ids))
    row, truth = measure(
        "exact (numpy)", "float32", exact, queries, None, args.batch, args.batches, args.single
    )
    results.append({**row, "build_s": secs, "memory_mib": mem})
    del exact
    fixed = {"target_recall": None}
    tuned = {"target_recall": args.target_recall}
    kinds: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
        ("flat", fixed, [{}]),
        ("ivf", fixed, [{}, {"nprobe": "half"}, {"nprobe": "double"}]),
        ("hnsw", fixed, [{}, {"ef_search": 64}, {"ef_search": 192}]),
        ("ivf", tuned, [{}]),
        ("hnsw", tuned, [{}]),
    ]
    for kind, build_params, sweeps in kinds:
        if kind not in args.kinds:
            continue
        is_tuned = build_params["target_recall"] is not None
        if (args.tuned_only and not is_tuned) or (args.no_tuned and is_tuned):
            continue
        index, secs, mem = built(
            lambda kind=kind, bp=build_params: FaissIndex(kind, "cosine", **bp).build(x, ids)
        )
        defaults = index.get_params()
        for sweep in sweeps:
            sweep = dict(sweep)
            if sweep.get("nprobe") == "half":
                sweep["nprobe"] = max(1, defaults["nprobe"] // 2)
            elif sweep.get("nprobe") == "double":
                sweep["nprobe"] = min(defaults["nlist"], defaults["nprobe"] * 2)
            for key, value in sweep.items():
                setattr(index, key, value)
            shown = {**defaults, **sweep}
            for key in ("seed", "over_fetch", "train_size", "target_recall"):
                shown.pop(key, None)
            label = " ".join(f"{k}={v}" for k, v in shown.items())
            if is_tuned:
                tuning = index.tuning_ or {}
                label += (
                    f" (tuned to {args.target_recall}: sample recall {tuning.get('recall')}, "
                    f"tuning {tuning.get('seconds')} s)"
                )
            elif not sweep:
                label += " (default)"
            row, _ = measure(
                f"faiss-{kind}" + (" tuned" if is_tuned else ""),
                label.strip(),
                index,
                queries,
                truth,
                args.batch,
                args.batches,
                args.single,
            )
            results.append({**row, "build_s": secs, "memory_mib": mem})
            for key in sweep:
                setattr(index, key, defaults[key] if key != "nprobe" else None)
        if kind == "hnsw" and args.save_hnsw:
            target = os.path.join(args.save_hnsw, f"{n}x{d}")
            index.save(target)
            with open(os.path.join(target, "build_seconds.json"), "w") as f:
                json.dump({"build_s": secs}, f)
        del index
        gc.collect()
    for r in results:
        r.update(n=n, d=d)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["10000x128", "100000x128", "100000x512", "1000000x128"],
        help="catalogues as NxD (default: 10k, 100k, 100k at d=512, 1M)",
    )
    parser.add_argument(
        "--kinds", nargs="+", default=["flat", "ivf", "hnsw"], choices=["flat", "ivf", "hnsw"]
    )
    parser.add_argument(
        "--single", type=int, default=300, help="single queries timed (default 300)"
    )
    parser.add_argument("--batch", type=int, default=100, help="queries per batch (default 100)")
    parser.add_argument("--batches", type=int, default=5, help="batches timed (default 5)")
    parser.add_argument(
        "--threads", type=int, default=1, help="FAISS OpenMP threads for queries (default 1)"
    )
    parser.add_argument(
        "--build-threads", type=int, default=2, help="FAISS OpenMP threads for builds (default 2)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data",
        nargs="+",
        default=["clustered"],
        choices=["clustered", "gaussian"],
        help="synthetic data kinds (default clustered)",
    )
    parser.add_argument(
        "--target-recall", type=float, default=0.95, help="target of the tuned rows (0.95)"
    )
    parser.add_argument("--tuned-only", action="store_true", help="only the self-tuned FAISS rows")
    parser.add_argument("--no-tuned", action="store_true", help="no self-tuned FAISS rows")
    parser.add_argument("--json", default=None, help="also write the raw results here")
    parser.add_argument(
        "--save-hnsw",
        default=None,
        help="save each HNSW index to DIR/<n>x<d> (bench_batch_recommend.py --cache can reuse it)",
    )
    args = parser.parse_args()

    import faiss

    faiss.omp_set_num_threads(args.threads)
    print(
        f"# machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}, "
        f"faiss {faiss.__version__}, numpy {np.__version__}, faiss threads {args.threads} (build {args.build_threads}), "
        f"BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS')}"
    )
    all_rows: list[dict[str, Any]] = []
    for data_kind, cfg in [(k, c) for k in args.data for c in args.configs]:
        args.data_kind = data_kind
        n_text, d_text = cfg.lower().split("x")
        n, d = int(float(n_text)), int(d_text)
        t = time.perf_counter()
        rows = run_config(n, d, args)
        for r in rows:
            r["data"] = data_kind
        all_rows.extend(rows)
        print(
            f"\n## {data_kind} n={n:,} d={d} ({time.perf_counter() - t:.0f} s, "
            f"load {os.getloadavg()[0]:.1f})\n"
        )
        print(
            f"| index | params | build s | single p50 ms | single p99 ms | batch of {args.batch} p50 ms | batch p99 ms | recall@10 | memory MiB |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        exact_p50 = rows[0]["single_p50_ms"]
        for r in rows:
            print(
                f"| {r['index']} | {r['params']} | {r['build_s']:.2f} | {r['single_p50_ms']:.3f} | "
                f"{r['single_p99_ms']:.3f} | {r['batch_p50_ms']:.2f} | {r['batch_p99_ms']:.2f} | "
                f"{r['recall@10']:.4f} | {r['memory_mib']:.0f} |"
            )
        print(
            "\nsingle-query p50 speed-up over exact: "
            + ", ".join(
                f"{r['index']} {r['params'].split(' (')[0]}: {exact_p50 / r['single_p50_ms']:.1f}x"
                for r in rows[1:]
            )
        )
        print(f"\nprocess peak RSS so far: {peak_rss_mib():.0f} MiB")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"load": os.getloadavg(), "rows": all_rows}, f, indent=1)


if __name__ == "__main__":
    main()
