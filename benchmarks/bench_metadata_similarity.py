"""Art similarity learned from the catalogue's metadata, measured on artists held out of the fit.

For each of ``--folds`` folds of the public-art artists with at least 5 known works, a
:class:`~artrec.art_similarity.MetadataSupervisedTransform` is fitted on the works of the
*other* artists (and the works of unknown or rarer artists), its shrinkages chosen on
validation artists carved from those, by cross-validation over their folds
(:func:`artrec.evaluation.similarity_training.fit_metadata_transform`),
and the fold's artists are then the queries of same-artist retrieval
(:func:`artrec.evaluation.same_artist.same_artist_retrieval`, P@10 and mAP; candidates: every
known-artist work). Every artist is held out exactly once, so the pooled result covers the
same 182 artists and queries as the raw-feature figure in docs/benchmarks.md. Side by side,
per query: the raw features, the whitening alone (the selected shrunk whitening without the
map) and the learned transform (``--method``, default ``wccn``); a paired Wilcoxon test
compares learned with raw. ``--also-single-fold`` adds the transform whose shrinkages one
validation fold chose, and compares the two choices paired over the queries.

Features come from a workspace's ``features/`` (``-w``; never modified) or a feature folder
(``--features-dir``), e.g. the backbone cache of ``bench_same_artist.py``. With several
feature sets (``--features a,b``) the transform's input is their concatenation, and "raw"
is the first of them.

    .venv/bin/python benchmarks/bench_metadata_similarity.py -w /path/to/copy-of-demo-workspace
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-w", "--workspace", type=Path, required=True)
    parser.add_argument("--features-dir", type=Path, default=None)
    parser.add_argument(
        "--features",
        default="efficientnet_lite0",
        help="feature set, or several joined by commas (concatenated as the transform's input)",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--method",
        default="wccn",
        help="the transform's method: wccn (default), contrastive or wccn+contrastive",
    )
    parser.add_argument(
        "--also-single-fold",
        action="store_true",
        help="also fit with the shrinkages chosen on one validation fold (cross_validate="
        "False) and compare it with the cross-validated choice, paired over the queries",
    )
    args = parser.parse_args()

    from scipy import stats

    from artrec.data.workspace import Workspace
    from artrec.evaluation.same_artist import same_artist_retrieval
    from artrec.evaluation.similarity_training import artist_folds, fit_metadata_transform
    from artrec.vectors import FeatureSet

    load = [os.getloadavg()[0]]
    ws = Workspace.open(args.workspace)
    catalog = ws.catalog()
    fdir = args.features_dir or ws.features_dir
    names = [n.strip() for n in args.features.split(",") if n.strip()]
    blocks = [FeatureSet.load(fdir, n).align(catalog.item_ids).matrix for n in names]
    x = np.hstack([np.asarray(b) for b in blocks])
    raw_first = np.asarray(blocks[0])
    artists = catalog.artists()
    folds = artist_folds(artists, n_folds=args.folds, seed=args.seed)
    space_names = ["raw", *(["raw, inputs concatenated"] if len(names) > 1 else [])]
    space_names += ["whitening", "learned"]
    if args.also_single_fold:
        space_names.append("learned, one validation fold")
    per_query: dict[str, list[np.ndarray]] = {n: [] for n in space_names}
    ap: dict[str, list[np.ndarray]] = {n: [] for n in space_names}
    fold_rows = []
    t_start = time.perf_counter()
    for f, held in enumerate(folds):
        t0 = time.perf_counter()
        is_held = np.array([a in held for a in artists.tolist()])
        fit_options = {
            "fit_rows": np.flatnonzero(~is_held),
            "seed": args.seed,
            "threads": args.threads,
            "method": args.method,
        }
        transform = fit_metadata_transform(x, catalog, **fit_options)
        spaces = {
            "raw": raw_first,
            "raw, inputs concatenated": x,
            "whitening": transform.whitening_only(x),
            "learned": transform.transform(x),
        }
        if args.also_single_fold:
            single = fit_metadata_transform(x, catalog, cross_validate=False, **fit_options)
            spaces["learned, one validation fold"] = single.transform(x)
        spaces = {n: spaces[n] for n in space_names}
        results = {
            name: same_artist_retrieval(v, artists, k=args.k, min_works=5, queries=is_held)
            for name, v in spaces.items()
        }
        for name, r in results.items():
            per_query[name].append(r["per_query_precision"])
            ap[name].append(r["per_query_ap"])
        fold_rows.append(
            (
                f,
                results["raw"]["n_artists"],
                results["raw"]["n_queries"],
                *(results[n]["precision_at_k"] for n in ("raw", "whitening", "learned")),
                transform.shrinkage_,
                transform.within_shrinkage_,
                transform.best_epoch_,
                time.perf_counter() - t0,
            )
        )
        print(f"  fold {f}: {fold_rows[-1]}", file=sys.stderr)
    wall = time.perf_counter() - t_start
    load.append(os.getloadavg()[0])
    pooled = {n: np.concatenate(v) for n, v in per_query.items()}
    pooled_ap = {n: np.concatenate(v) for n, v in ap.items()}
    base = pooled["raw"].mean()
    p_w = stats.wilcoxon(pooled["learned"], pooled["raw"]).pvalue
    p_t = stats.ttest_rel(pooled["learned"], pooled["raw"]).pvalue
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores; load average {load[0]:.1f} at the "
        f"start, {load[1]:.1f} at the end; {wall:.0f} s for {args.folds} fits"
    )
    print(
        f"method: {args.method}; features: {args.features} ({x.shape[1]}-d; raw = {names[0]}) "
        f"of {catalog.n_items} "
        "public-art works; "
        f"{len(pooled['raw'])} queries of {sum(len(h) for h in folds)} artists, each artist held "
        f"out of exactly one fit; k = {args.k}"
    )
    print()
    print(f"| space | P@{args.k} on held-out artists | mAP | P@{args.k} / raw |")
    print("|---|---:|---:|---:|")
    for name in per_query:
        print(
            f"| {name} | {pooled[name].mean():.4f} | {pooled_ap[name].mean():.4f} | "
            f"{pooled[name].mean() / base:.2f}x |"
        )
    print()
    print(
        f"learned vs raw, paired over the {len(pooled['raw'])} queries: t-test p = {p_t:.1e}, "
        f"Wilcoxon p = {p_w:.1e}"
    )
    if args.also_single_fold:
        one = pooled["learned, one validation fold"]
        print(
            f"\nlearned (cross-validated choice) vs one validation fold: P@{args.k} "
            f"{pooled['learned'].mean():.4f} vs {one.mean():.4f}; paired t-test p = "
            f"{stats.ttest_rel(pooled['learned'], one).pvalue:.2g}, Wilcoxon p = "
            f"{stats.wilcoxon(pooled['learned'], one).pvalue:.2g} (queries that differ: "
            f"{int(np.count_nonzero(pooled['learned'] != one))})"
        )
    print()
    print(
        f"| fold | artists | queries | raw P@{args.k} | whitening | learned | shrinkage | "
        "within-class shrinkage | best epoch | s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    formats = ["{}", "{}", "{}", "{:.4f}", "{:.4f}", "{:.4f}", "{:.2f}", "{:.2f}", "{}", "{:.0f}"]
    for row in fold_rows:
        print("| " + " | ".join(f.format(v) for f, v in zip(formats, row, strict=True)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
