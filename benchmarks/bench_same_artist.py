"""Same-artist retrieval on public-art: P@10 and mAP per feature space (issue 3).

Compares, on the artists with at least 5 known works:

- EfficientNet-Lite0 (1280-d, offline ImageNet weights), and with ``--backbones`` also
  EfficientNet-Lite1 and Lite2 (each with the runner's extraction throughput beside it),
- the hand-engineered attractiveness features (18-d),
- their hybrid: concat, z-score, PCA (``artrec.embedding.Embedding``), without block weights,
  with equal variance shares (``block_weights="equal"``) and with the hand-engineered block
  weighted ``--hand-weight`` times (default 5),
- a random-vector baseline (Gaussian, 128-d, seeded),

each under the artist names as the dataset gives them and as normalised by the alias table
(:mod:`artrec.data.public_art_artists`), in one run.

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
    parser.add_argument("--hand-weight", type=float, default=5.0)
    parser.add_argument(
        "--backbones",
        default="efficientnet_lite0",
        help="comma-separated CNN extractors to compare (e.g. "
        "efficientnet_lite0,efficientnet_lite1,efficientnet_lite2); the first one is the "
        "hybrid's CNN",
    )
    parser.add_argument(
        "--forward-sample",
        type=int,
        default=0,
        help="also time each backbone's bare forward on this many thumbnails (fp32, batches of "
        "32, passes interleaved, best of 2): a throughput ratio robust to the machine's load",
    )
    args = parser.parse_args()
    backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]

    from artrec.data.public_art import load_public_art, locate_public_art
    from artrec.embedding import EQUAL_BLOCKS, Embedding
    from artrec.evaluation.same_artist import same_artist_retrieval
    from artrec.features.api import extract_with_report

    directory = locate_public_art(args.data_home)
    if directory is None:
        print("public-art not found: set ARTREC_DATA_HOME", file=sys.stderr)
        return 2
    catalog, _ = load_public_art(directory)
    raw_catalog, _ = load_public_art(directory, normalize_artists=False)
    artists = catalog.artists()
    raw_artists = raw_catalog.artists()
    sets = {}
    timings = {}
    throughput: dict[str, str] = {}
    for name in [*backbones, "handcrafted"]:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        fs, report = extract_with_report(
            catalog, name, output_dir=args.cache, num_workers=args.workers
        )
        timings[name] = time.perf_counter() - t0
        throughput[name] = (
            f"{report.n_extracted / timings[name]:.1f} items/s (load {load:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after)"
            if report.n_extracted
            else "cached"
        )
        print(
            f"{name}: {len(fs)} items, {report.n_extracted} extracted, {report.n_bad} bad, "
            f"{timings[name]:.1f} s",
            file=sys.stderr,
        )
        sets[name] = fs
    forward_rate = _forward_rates(directory, backbones, args.forward_sample)
    hand = sets["handcrafted"]
    cnns = {b: sets[b].align(hand.item_ids) for b in backbones}
    common = cnns[backbones[0]]
    rows = catalog.rows_of(hand.item_ids)
    label_sets = {
        "as given": raw_artists[rows] if raw_artists is not None else None,
        "normalised": artists[rows] if artists is not None else None,
    }
    rng = np.random.default_rng(0)
    spaces = {
        **{f"{b} ({cnns[b].dim}-d)": np.asarray(cnns[b].matrix) for b in backbones},
        "handcrafted (18-d)": np.asarray(hand.matrix),
    }
    shares = {}
    for label, weights in (
        ("no block weights", None),
        ("equal block shares", EQUAL_BLOCKS),
        (f"handcrafted weight {args.hand_weight:g}", {hand.name: args.hand_weight}),
    ):
        emb = Embedding(n_components=args.n_components, block_weights=weights)
        name = f"hybrid PCA {args.n_components}, {label}"
        spaces[name] = np.asarray(emb.fit_transform([common, hand]).matrix)
        shares[name] = emb.block_variance_share_
    spaces["random vectors (128-d, seed 0)"] = rng.standard_normal((len(hand), 128))
    results = []
    for label, vectors in spaces.items():
        row: dict[str, object] = {"features": label, "block_variance_share": shares.get(label)}
        for names, labels in label_sets.items():
            r = same_artist_retrieval(vectors, labels, k=args.k, min_works=args.min_works)
            row[names] = {
                f"P@{args.k}": r["precision_at_k"],
                "mAP": r["map"],
                "n_queries": r["n_queries"],
                "n_artists": r["n_artists"],
                "n_candidates": r["n_candidates"],
                "random_expected_P@k": r["random_precision_at_k"],
            }
        results.append(row)
    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    pk = f"P@{args.k}"
    print(
        f"| features | handcrafted share of variance | {pk}, artists as given | "
        f"{pk}, normalised | mAP, as given | mAP, normalised | extraction (runner, this run) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        share = r["block_variance_share"]
        share_text = f"{share[hand.name]:.3f}" if isinstance(share, dict) else ""
        given, norm = r["as given"], r["normalised"]
        assert isinstance(given, dict) and isinstance(norm, dict)
        print(
            f"| {r['features']} | {share_text} | {given[pk]:.4f} | {norm[pk]:.4f} | "
            f"{given['mAP']:.4f} | {norm['mAP']:.4f} | "
            f"{throughput.get(str(r['features']).split(' (')[0], '')} |"
        )
    for names in label_sets:
        base = results[-1][names]
        assert isinstance(base, dict)
        print(
            f"artists {names}: queries {base['n_queries']} items of {base['n_artists']} "
            f"artists; candidates {base['n_candidates']} known-artist items; expected random "
            f"{pk} {base['random_expected_P@k']:.4f}"
        )
    if forward_rate:
        first = forward_rate[backbones[0]]
        print(
            f"bare forward (fp32, {args.forward_sample} thumbnails, batches of 32, interleaved, "
            "best of 2): "
            + ", ".join(f"{b} {r:.1f} items/s ({r / first:.2f}x)" for b, r in forward_rate.items())
        )
    print(
        json.dumps({"results": results, "extraction_seconds": timings}, indent=1), file=sys.stderr
    )
    return 0


def _forward_rates(directory: Path, backbones: list[str], n: int) -> dict[str, float]:
    """Items per second of each backbone's bare forward on the first ``n`` thumbnails."""
    if n <= 0:
        return {}
    from artrec.features.api import get_extractor
    from artrec.images import read_image

    paths = sorted((Path(directory) / "thumbnails").glob("*.jpg"))[:n]
    images = [read_image(p) for p in paths]
    extractors = {b: get_extractor(b) for b in backbones}
    batches = {}
    for b, ext in extractors.items():
        ext.setup("cpu", "fp32")
        batches[b] = np.stack([ext.preprocess(im) for im in images])
        ext.forward(batches[b][:4])  # warm-up
    best: dict[str, float] = {}
    for _ in range(2):
        for b, ext in extractors.items():
            t0 = time.perf_counter()
            for i in range(0, len(images), 32):
                ext.forward(batches[b][i : i + 32])
            best[b] = max(best.get(b, 0.0), len(images) / (time.perf_counter() - t0))
    return best


if __name__ == "__main__":
    sys.exit(main())
