"""Block weights of the hybrid embedding in a VisRank comparison (simulated purchases).

On a workspace with the ``efficientnet_lite0`` and ``handcrafted`` feature sets and purchases
(the demo's workspace: its purchases are **simulated**), fits three hybrid embeddings with the
same PCA size as the workspace's ``hybrid`` (default 100):

- no block weights (every z-scored dimension alike: the 18 hand-engineered ones carry ~1%
  of the variance),
- equal block shares (``block_weights="equal"``),
- the hand-engineered block weighted ``--hand-weight`` times (default 5),

and compares ``visrank:<embedding>/cosine/sum_distance`` on each, with the popular baseline,
under one split, with paired tests against the unweighted hybrid. It writes the three
embeddings (``bw_none``, ``bw_equal``, ``bw_hand<w>``) into the workspace, so run it on a
copy::

    cp -a artrec-workspace /tmp/bw && .venv/bin/python benchmarks/bench_block_weights.py /tmp/bw
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--hand-weight", type=float, default=5.0)
    parser.add_argument("--n-components", type=int, default=100)
    parser.add_argument("--protocol", default="time-replay")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    from artrec.data.simulate import interactions_simulated
    from artrec.data.workspace import Workspace
    from artrec.embedding import EQUAL_BLOCKS, build_embedding
    from artrec.evaluation.comparison import Config, EvalData, compare
    from artrec.evaluation.protocols import make_split

    ws = Workspace.open(args.workspace)
    inputs = ["efficientnet_lite0", "handcrafted"]
    variants = {
        "bw_none": None,
        "bw_equal": EQUAL_BLOCKS,
        f"bw_hand{args.hand_weight:g}": {"handcrafted": args.hand_weight},
    }
    shares = {}
    t0 = time.perf_counter()
    for name, weights in variants.items():
        vectors = build_embedding(
            ws, inputs, name, args.n_components, set_default=False, block_weights=weights
        )
        shares[name] = vectors.meta["block_variance_share"]["handcrafted"]
    t_embed = time.perf_counter() - t0
    data = EvalData.from_workspace(ws, list(variants), kinds=("purchase",))
    split = make_split(args.protocol, data.interactions, data.catalog)
    configs = [
        Config(kind="visrank", embedding=name, metric="cosine", aggregation="sum_distance")
        for name in variants
    ]
    configs.append(Config(kind="popular"))
    t0 = time.perf_counter()
    result = compare(configs, data, split, args.k, baseline=configs[0].name)
    t_compare = time.perf_counter() - t0
    simulated = interactions_simulated(ws)
    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; embeddings {t_embed:.1f} s, "
        f"comparison {t_compare:.1f} s"
    )
    print(
        f"protocol {split.protocol}, {split.n_cases} cases, k={args.k}; purchases "
        f"{'SIMULATED' if simulated else 'as imported'}; * = both Holm-adjusted paired tests "
        f"against {configs[0].name} below 0.05"
    )
    metrics = [f"ndcg@{args.k}", "auc", "rr", f"p@{args.k}", f"hr@{args.k}"]
    print(f"| configuration | handcrafted share | {' | '.join(metrics)} |")
    print("|---|---:|" + "---:|" * len(metrics))
    for row, config in zip(result.table_rows(), configs, strict=True):
        share = shares.get(config.embedding or "")
        share_text = "" if share is None else f"{share:.3f}"
        cells = " | ".join(str(row.get(m, "")) for m in metrics)
        print(f"| {row['config']} | {share_text} | {cells} |")
    print(
        "paired tests against the unweighted hybrid (Holm-adjusted over configurations x metrics):"
    )
    for config in configs[1:]:
        for metric in (f"ndcg@{args.k}", "auc"):
            t = result.test(config.name, metric)
            if t is not None:
                print(
                    f"  {config.name} {metric}: mean difference {t.mean_diff:+.4f}, "
                    f"t-test p {t.p_ttest_holm:.3g}, Wilcoxon p {t.p_wilcoxon_holm:.3g}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
