"""Same-artist retrieval on public-art: P@10 and mAP per feature space (issue 3).

Compares, on the artists with at least 5 known works:

- EfficientNet-Lite0 (1280-d, offline ImageNet weights),
- the hand-engineered attractiveness features (18-d),
- their hybrid: concat, z-score, PCA (``artrec.embedding.Embedding``),
- a random-vector baseline (Gaussian, 128-d, seeded).

Features are extracted once into ``--cache`` (default ``/tmp/artrec-bench/features``) and
reused by later runs (the runner resumes / reuses them). Run::

    ARTREC_DATA_HOME=/path/to/datasets .venv/bin/python benchmarks/bench_same_artist.py
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
    parser.add_argument("--data-home", default=os.environ.get("ARTREC_DATA_HOME"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/artrec-bench/features"))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--min-works", type=int, default=5)
    parser.add_argument("--n-components", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    from artrec.data.public_art import load_public_art, locate_public_art
    from artrec.embedding import Embedding
    from artrec.evaluation.same_artist import same_artist_retrieval
    from artrec.features.api import extract_with_report

    directory = locate_public_art(args.data_home)
    if directory is None:
        print("public-art not found: set ARTREC_DATA_HOME", file=sys.stderr)
        return 2
    catalog, _ = load_public_art(directory)
    artists = catalog.artists()
    sets = {}
    timings = {}
    for name in ("efficientnet_lite0", "handcrafted"):
        t0 = time.perf_counter()
        fs, report = extract_with_report(
            catalog, name, output_dir=args.cache, num_workers=args.workers
        )
        timings[name] = time.perf_counter() - t0
        print(
            f"{name}: {len(fs)} items, {report.n_extracted} extracted, {report.n_bad} bad, "
            f"{timings[name]:.1f} s",
            file=sys.stderr,
        )
        sets[name] = fs
    common = sets["efficientnet_lite0"].align(sets["handcrafted"].item_ids)
    hand = sets["handcrafted"]
    rows = catalog.rows_of(hand.item_ids)
    labels = artists[rows] if artists is not None else None
    emb = Embedding(n_components=args.n_components)
    hybrid = emb.fit_transform([common, hand])
    rng = np.random.default_rng(0)
    spaces = {
        "efficientnet_lite0 (1280-d)": np.asarray(common.matrix),
        "handcrafted (18-d)": np.asarray(hand.matrix),
        f"hybrid: concat + z-score + PCA {args.n_components}": np.asarray(hybrid.matrix),
        "random vectors (128-d, seed 0)": rng.standard_normal((len(hand), 128)),
    }
    results = []
    for label, vectors in spaces.items():
        r = same_artist_retrieval(vectors, labels, k=args.k, min_works=args.min_works)
        results.append(
            {
                "features": label,
                f"P@{args.k}": r["precision_at_k"],
                "mAP": r["map"],
                "n_queries": r["n_queries"],
                "n_artists": r["n_artists"],
                "n_candidates": r["n_candidates"],
                "random_expected_P@k": r["random_precision_at_k"],
            }
        )
    base = results[-1]
    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    print(f"| features | P@{args.k} | mAP | P@{args.k} / random | mAP / random |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['features']} | {r[f'P@{args.k}']:.4f} | {r['mAP']:.4f} | "
            f"{r[f'P@{args.k}'] / base[f'P@{args.k}']:.1f}x | {r['mAP'] / base['mAP']:.1f}x |"
        )
    print(
        f"queries: {base['n_queries']} items of {base['n_artists']} artists; candidates "
        f"{base['n_candidates']} known-artist items; expected random P@{args.k} "
        f"{base['random_expected_P@k']:.4f}"
    )
    print(
        json.dumps({"results": results, "extraction_seconds": timings}, indent=1), file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
