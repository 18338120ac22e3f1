"""Training and scoring speed of CuratorNet and VBPR at seed scale, against VisRank.

SIMULATED data: the seed-size workspace of ``bench_notebook_vs_batch.py`` (13,297 artworks,
2,919 users with 1-20 past purchases, hybrid PCA-100 embedding), generated and cached under
``--workdir`` by its ``prepare_workspace``. The training events are the seed's ``train``
split (its past purchases).

What runs, in one process:

1. **Training, as in use**: :func:`artrec.evaluation.training.train_recommender` with the
   default settings (validation split of the training events, validation nDCG@20 after every
   epoch, early stopping, the item inputs chosen as ``metadata="auto"`` does: one choice on
   this catalogue, which has no metadata; refit on all events), CuratorNet then VBPR; wall
   time, epochs and seconds per epoch. The target: CuratorNet in <= 5 minutes on 2 CPU
   cores.
2. **Precision**: a few epochs of each model in fp32 and in bf16 autocast, same seed, and
   the validation nDCG@20 after them (bf16 is the default only where it is faster *and* as
   accurate).
3. **Threads**: seconds per CuratorNet epoch with 1 and 2 torch threads.
4. **Scoring all users**: the top-20 lists of all 2,919 users (``rank``, chunks of 256) by
   VisRank (cosine, ``sum``: one matrix product per chunk, float64), the trained CuratorNet
   and VBPR (fold-in included), passes interleaved, best of ``--repeats``; the ratio to
   VisRank's batch time (target: CuratorNet <= 2x); and the floor of each: its
   catalogue-wide matrix product alone (user vectors precomputed, chunks of 256, at the
   width and precision the scorer uses), timed in the same interleaved passes.

    .venv/bin/python benchmarks/bench_learned_speed.py
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/artrec-bench/notebook-vs-batch"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to skip: precision,threads"
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    import torch

    from artrec.data.workspace import Workspace
    from artrec.embedding import load_embedding
    from artrec.evaluation.evaluator import evaluate
    from artrec.evaluation.training import metadata_choices, train_recommender
    from artrec.evaluation.validation import validation_split
    from artrec.recommend.base import train_data_from
    from artrec.recommend.curatornet import CuratorNetRecommender
    from artrec.recommend.vbpr import VBPRRecommender
    from artrec.recommend.visrank import VisRankRecommender
    from bench_notebook_vs_batch import prepare_workspace

    setup = prepare_workspace(args.workdir, fresh=False, seed=args.seed)
    ws = Workspace.open(args.workdir / "ws")
    catalog = ws.catalog()
    vectors = np.asarray(load_embedding(ws, "hybrid").align(catalog.item_ids).matrix, np.float32)
    log = ws.interactions(("purchase",))
    assert log.splits is not None
    events = log.select(np.asarray([s == "train" for s in log.splits.tolist()]))
    data = train_data_from(catalog, events, vectors=vectors)
    profiles = data.profiles()
    print(
        f"# setup {setup}; {catalog.n_items} items x {vectors.shape[1]}-d, {data.n_users} "
        f"users, {len(events)} training purchases",
        file=sys.stderr,
    )
    load = [os.getloadavg()[0]]
    out: dict[str, Any] = {}

    # 1. training as in use ---------------------------------------------------------------
    trained = {}
    runs = [
        ("curatornet", CuratorNetRecommender(seed=0, threads=args.threads), 3),
        ("vbpr", VBPRRecommender(seed=0, threads=args.threads), 3),
    ]
    if "full" not in skip:  # the whole epoch budget: no early stopping
        runs.append(("curatornet, no early stopping", CuratorNetRecommender(seed=0), 10**6))
    for name, model, patience in runs if "train" not in skip else []:
        t0 = time.perf_counter()
        result = train_recommender(
            model, catalog, events, vectors=vectors, k=20, patience=patience,
            metadata_choices=metadata_choices(data),
        )  # fmt: skip
        wall = time.perf_counter() - t0
        val = [h for h in result.history if h.phase == "validation"]
        refit = [h for h in result.history if h.phase == "refit"]
        trained[name] = result.model
        out[name] = {
            "wall_s": wall,
            "val_epochs": len(val),
            "refit_epochs": len(refit),
            "s_per_val_epoch": float(np.mean([h.seconds for h in val])),
            "s_per_refit_epoch": float(np.mean([h.seconds for h in refit])) if refit else 0.0,
            "best_ndcg": result.best_ndcg,
        }
        print(f"  train {name}: {out[name]}", file=sys.stderr)
        load.append(os.getloadavg()[0])

    # 2. precision --------------------------------------------------------------------------
    split = validation_split(events, catalog)
    val_data = train_data_from(catalog, split.train, vectors=vectors)
    precision: dict[tuple[str, str], tuple[float, float]] = {}
    if "precision" not in skip:  # interleaved, best epoch time of the repeats
        for name, cls in (("curatornet", CuratorNetRecommender), ("vbpr", VBPRRecommender)):
            for _ in range(2):
                for prec in ("fp32", "bf16"):
                    epoch_s: list[float] = []
                    m = cls(
                        seed=0, threads=args.threads, precision=prec, epochs=args.precision_epochs
                    ).fit(
                        val_data, callback=lambda _m, r, acc=epoch_s: acc.append(r.seconds) or True
                    )
                    ndcg = evaluate(m, catalog, split, k=20, fit=False).summary["ndcg@20"].mean
                    best_s = min(precision.get((name, prec), (np.inf, 0.0))[0], min(epoch_s))
                    precision[(name, prec)] = (best_s, ndcg)
                    print(f"  {name} {prec}: {precision[(name, prec)]}", file=sys.stderr)

    # 3. threads ------------------------------------------------------------------------------
    threads: dict[int, float] = {}
    if "threads" not in skip:
        for n in (1, 2, 1, 2):
            epoch_s = []
            CuratorNetRecommender(seed=0, threads=n, epochs=2).fit(
                val_data, callback=lambda _m, r, acc=epoch_s: acc.append(r.seconds) or True
            )
            threads[n] = min(threads.get(n, np.inf), float(np.mean(epoch_s)))
        print(f"  threads: {threads}", file=sys.stderr)

    # 4. scoring all users ------------------------------------------------------------------------
    torch.set_num_threads(args.threads)
    visrank = VisRankRecommender("cosine", "sum").fit(data)
    scorers = {
        "visrank-sum": visrank,
        **{n: trained[n] for n in ("curatornet", "vbpr") if n in trained},
    }
    floors = {name: product_floor(name, rec, profiles) for name, rec in scorers.items()}
    best: dict[str, float] = {}
    floor_best: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, rec in scorers.items():
            t0 = time.perf_counter()
            ranking = rec.rank(profiles, 20, chunk_size=256)
            best[name] = min(best.get(name, np.inf), time.perf_counter() - t0)
            assert ranking.rows.shape == (len(profiles), 20)
            users, items_t = floors[name]
            t0 = time.perf_counter()
            for start in range(0, len(users), 256):
                np.matmul(users[start : start + 256], items_t)
            floor_best[name] = min(floor_best.get(name, np.inf), time.perf_counter() - t0)
    load.append(os.getloadavg()[0])

    print(
        f"machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, {args.threads} torch threads; load average "
        + ", ".join(f"{x:.1f}" for x in load)
        + " (start, after each training, end)"
    )
    print(
        f"data (SIMULATED): {catalog.n_items} artworks x {vectors.shape[1]}-d hybrid embedding, "
        f"{data.n_users} users, {len(events)} training purchases (1-20 per user)"
    )
    print()
    print(
        "| model | training wall time (s) | epochs (validation + refit) | s / epoch "
        "(val incl. nDCG, refit) | best validation nDCG@20 |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in trained:
        o = out[name]
        print(
            f"| {name} | {o['wall_s']:.0f} | {o['val_epochs']} + {o['refit_epochs']} | "
            f"{o['s_per_val_epoch']:.1f}, {o['s_per_refit_epoch']:.1f} | {o['best_ndcg']:.4f} |"
        )
    if precision:
        print()
        print(
            f"| model | precision | s / epoch (best of 2 runs of {args.precision_epochs} epochs, "
            f"interleaved) | validation nDCG@20 after {args.precision_epochs} epochs |"
        )
        print("|---|---|---:|---:|")
        for (name, prec), (sec, ndcg) in precision.items():
            print(f"| {name} | {prec} | {sec:.1f} | {ndcg:.4f} |")
    if threads:
        print()
        print(
            "CuratorNet s / epoch by torch threads: "
            + ", ".join(f"{n}: {s:.1f}" for n, s in sorted(threads.items()))
        )
    print()
    print(
        "| scoring all users (top-20, chunks of 256) | seconds (best of "
        f"{args.repeats}) | users / s | / VisRank-sum | product (width, dtype) | product "
        "alone (s) | / its product |"
    )
    print("|---|---:|---:|---:|---|---:|---:|")
    for name, sec in best.items():
        users, _ = floors[name]
        print(
            f"| {name} | {sec:.3f} | {len(profiles) / sec:,.0f} | "
            f"{sec / best['visrank-sum']:.2f}x | {users.shape[1]}, {users.dtype} | "
            f"{floor_best[name]:.3f} | {sec / floor_best[name]:.2f}x |"
        )
    return 0


def product_floor(name: str, rec: Any, profiles: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The scorer's catalogue-wide matrix product alone: its user vectors of all profiles
    (computed here, untimed) and its item matrix, transposed, at the width and precision
    its scoring uses (VisRank: sums of the cosine-prepared vectors, float64; CuratorNet:
    user vectors against the item embeddings, float32; VBPR: folded-in factors against the
    joint item vectors, float64)."""
    if name == "visrank-sum":
        items = rec.prepared_
        sizes = np.array([len(p) for p in profiles])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        users = np.add.reduceat(items[np.concatenate(profiles)], starts, axis=0)
        return users, np.asarray(items).T
    if name == "curatornet":
        users = rec.user_vectors(profiles).astype(np.float32)
        return users, np.ascontiguousarray(rec.item_emb_.T, dtype=np.float32)
    return rec.user_vectors(profiles), rec.item_vectors_.T


if __name__ == "__main__":
    sys.exit(main())
