"""Evaluation speed on the issue-2 seed-size dataset: AUC kernels, evaluate(), compare().

One command::

    .venv/bin/python benchmarks/bench_evaluation.py

SIMULATED data: the same workspace as ``bench_notebook_vs_batch.py`` (13,297 artworks,
2,919 users with 1-20 past purchases and 1-3 held-out ones, hybrid PCA-100 embedding),
generated and cached under ``--workdir`` by that benchmark's ``prepare_workspace``.

1. **AUC kernels**, on the 2,919 cases of the given split scored by VisRank (cosine,
   ``sum_distance``): artrec's rank-based :func:`artrec.evaluation.metrics.auc` against
   :func:`sklearn.metrics.roc_auc_score` on the same candidates and against the obvious
   pairwise comparison (a ``|P| x |N|`` broadcast). All three must agree to 1e-12.
2. **evaluate()**: the whole per-user evaluation of VisRank for all users (every metric),
   timed with ``chunk_size=256``; the peak of traced allocations (``tracemalloc``) of
   separate passes with ``chunk_size`` 64 and 1024 shows that memory follows the chunk,
   not the number of users.
3. **compare()**: VisRank cosine x 4 aggregations + random + popular, all on the same
   users, with the paired tests; reports the total and the share spent in the tests.

Prints a Markdown section for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pairwise_auc(scores: np.ndarray, mask: np.ndarray, relevant: np.ndarray) -> float:
    """AUC by comparing every (positive, negative) pair: the obvious O(|P| |N|) way."""
    pos = np.zeros(len(scores), bool)
    pos[relevant] = True
    pos &= mask
    p = scores[pos]
    n = scores[mask & ~pos]
    wins = (p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()
    return float(wins / (len(p) * len(n)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/artrec-bench/notebook-vs-batch"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sklearn.metrics import roc_auc_score

    from artrec.data.workspace import Workspace
    from artrec.evaluation import compare, config_grid, evaluate
    from artrec.evaluation.comparison import EvalData
    from artrec.evaluation.evaluator import train_data
    from artrec.evaluation.metrics import auc
    from artrec.evaluation.protocols import given_split
    from artrec.recommend.visrank import VisRankRecommender
    from bench_notebook_vs_batch import prepare_workspace

    setup = prepare_workspace(args.workdir, fresh=False, seed=args.seed)
    ws = Workspace.open(args.workdir / "ws")
    data = EvalData.from_workspace(ws, ["hybrid"])
    vectors = data.vectors("hybrid")
    split = given_split(data.interactions, data.catalog)
    n_items = data.catalog.n_items
    print(f"# setup {setup}; {split.n_cases} cases, {n_items} items", file=sys.stderr)

    # 1. AUC kernels ---------------------------------------------------------------------
    rec = VisRankRecommender(metric="cosine", aggregation="sum_distance").fit(
        train_data(data.catalog, split, vectors)
    )
    times = {"artrec": 0.0, "sklearn": 0.0, "pairwise": 0.0}
    worst = 0.0
    n_auc = 0
    for start in range(0, split.n_cases, 256):
        stop = min(split.n_cases, start + 256)
        scores = rec.score(split.profiles[start:stop])
        masks = split.candidate_masks(start, stop)
        for j in range(stop - start):
            rel = split.relevant[start + j]
            mask = masks[j]
            rel = rel[mask[rel]]
            if len(rel) == 0:
                continue
            s = scores[j]
            t0 = time.perf_counter()
            a = auc(s, mask, rel)
            t1 = time.perf_counter()
            labels = np.zeros(n_items, dtype=np.int8)
            labels[rel] = 1
            b = roc_auc_score(labels[mask], s[mask])
            t2 = time.perf_counter()
            c = pairwise_auc(s, mask, rel)
            t3 = time.perf_counter()
            times["artrec"] += t1 - t0
            times["sklearn"] += t2 - t1
            times["pairwise"] += t3 - t2
            worst = max(worst, abs(a - b), abs(a - c))
            n_auc += 1
    if worst > 1e-12:
        print(f"AUC kernels disagree by {worst}", file=sys.stderr)
        return 1

    # 2. evaluate() -------------------------------------------------------------------------
    visrank = VisRankRecommender(metric="cosine", aggregation="sum_distance")
    score_fn = visrank.score
    score_time = [0.0]

    def timed_visrank_score(profiles: Any) -> Any:
        t = time.perf_counter()
        out = score_fn(profiles)
        score_time[0] += time.perf_counter() - t
        return out

    visrank.score = timed_visrank_score  # type: ignore[method-assign]
    t0 = time.perf_counter()
    res = evaluate(
        visrank,
        data.catalog,
        split,
        k=10,
        vectors=vectors,
        chunk_size=256,
    )
    eval_s = time.perf_counter() - t0
    score_s = score_time[0]
    print(f"# auc {times}; evaluate {eval_s:.2f} s", file=sys.stderr)
    peaks = {}
    for chunk in (64, 1024):
        tracemalloc.start()
        evaluate(
            VisRankRecommender(metric="cosine", aggregation="sum_distance"),
            data.catalog,
            split,
            k=10,
            vectors=vectors,
            chunk_size=chunk,
        )
        peaks[chunk] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

    # 3. compare() ---------------------------------------------------------------------------
    import artrec.evaluation.comparison as cmp

    configs = config_grid(
        ["hybrid"], ["cosine"], ["sum_distance", "mean", "max", "topm_mean"], ["random", "popular"]
    )
    test_time = [0.0]
    per_config: dict[str, tuple[float, float]] = {}
    original_test = cmp.paired_test
    original_evaluate = cmp.evaluate

    def timed_test(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        out = original_test(*a, **kw)
        test_time[0] += time.perf_counter() - t
        return out

    def timed_evaluate(recommender: Any, *a: Any, **kw: Any) -> Any:
        spent = [0.0]
        score = recommender.score

        def timed_score(profiles: Any) -> Any:
            t = time.perf_counter()
            out = score(profiles)
            spent[0] += time.perf_counter() - t
            return out

        recommender.score = timed_score
        t = time.perf_counter()
        out = original_evaluate(recommender, *a, **kw)
        per_config[out.name] = (time.perf_counter() - t, spent[0])
        return out

    cmp.paired_test = timed_test
    cmp.evaluate = timed_evaluate
    t0 = time.perf_counter()
    comparison = compare(configs, data, split, 10, "random")
    compare_s = time.perf_counter() - t0
    cmp.paired_test = original_test
    cmp.evaluate = original_evaluate

    summary = res.summary
    print("## Evaluation speed (issue 2, brief C)\n")
    print(
        "Command: `.venv/bin/python benchmarks/bench_evaluation.py` (reuses the SIMULATED "
        "seed-size workspace of `bench_notebook_vs_batch.py`: 13,297 artworks, 2,919 users, "
        "hybrid PCA-100; given split).\n"
    )
    print(f"- Machine: {platform.machine()}, {platform.python_version()}, shared; {n_auc} cases.")
    print(
        f"- AUC over each case's candidate set (~{n_items:,} items), summed over all cases: "
        f"artrec {times['artrec']:.2f} s, sklearn `roc_auc_score` {times['sklearn']:.2f} s "
        f"({times['sklearn'] / times['artrec']:.1f}x artrec), pairwise broadcast "
        f"{times['pairwise']:.2f} s ({times['pairwise'] / times['artrec']:.1f}x artrec); "
        f"max disagreement {worst:.1e}."
    )
    print(
        f"- `evaluate()` of VisRank (cosine, sum_distance), all metrics, all users, "
        f"chunk 256: {eval_s:.2f} s ({1000 * eval_s / max(1, res.n_cases):.2f} ms per user, "
        f"{score_s:.2f} s of it in `recommender.score`); "
        f"AUC {summary['auc'].mean:.4f} ± {summary['auc'].half_width:.4f}, nDCG@10 "
        f"{summary['ndcg@10'].mean:.4f} ± {summary['ndcg@10'].half_width:.4f}."
    )
    print(
        f"- Peak traced allocations of `evaluate()`: chunk 64 {peaks[64]:.1f} MiB, chunk 1024 "
        f"{peaks[1024]:.1f} MiB (ratio {peaks[1024] / peaks[64]:.1f}x for 16x the chunk)."
    )
    print(
        f"- `compare()` of {len(configs)} configurations on the same {res.n_cases} users: "
        f"{compare_s:.2f} s, of which paired tests {test_time[0]:.2f} s."
    )
    print("\n| configuration | evaluate() | of which recommender.score() | AUC | nDCG@10 |")
    print("|---|---|---|---|---|")
    for name, (total, scoring) in per_config.items():
        r = comparison.results[name].summary
        print(
            f"| {name} | {total:.2f} s | {scoring:.2f} s | {r['auc'].mean:.4f} "
            f"| {r['ndcg@10'].mean:.4f} |"
        )
    print()
    best = max(comparison.results.values(), key=lambda r: r.summary["ndcg@10"].mean)
    print(f"- Best nDCG@10 in the comparison: {best.name}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
