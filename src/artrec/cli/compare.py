"""``artrec compare``: several configurations on the same users, with paired tests."""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli import _common as opts
from artrec.evaluation.configs import BASELINES, LEARNING


def register(subparsers: Any) -> None:
    """Add the ``compare`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compare",
        help="compare embedding x metric x aggregation and baselines side by side",
        description=(
            "Evaluate every configuration (VisRank for each embedding x metric x aggregation, "
            "plus the baselines) on the same users under one protocol, and print one table "
            "with the mean and 95% confidence interval of each metric. Each configuration is "
            "tested against the baseline with a paired t-test and a Wilcoxon signed-rank test "
            "over users, Holm-corrected within each metric; '*' marks p < 0.05 under both. "
            "Use --format json or csv for every p-value."
        ),
    )
    opts.add_workspace_arg(parser)
    opts.add_protocol_args(parser)
    opts.add_visrank_args(parser, plural=True)
    parser.add_argument(
        "--baselines",
        nargs="*",
        choices=BASELINES,
        default=None,
        metavar="NAME",
        help=(
            f"baselines to add ({', '.join(BASELINES)}; default random and popular, and artist "
            "when the catalogue has artists; give the option with no names for none)"
        ),
    )
    parser.add_argument(
        "--recommenders",
        nargs="+",
        choices=LEARNING,
        default=(),
        metavar="KIND",
        help=(
            f"further recommender kinds at their default parameters ({', '.join(LEARNING)}; "
            "auto is the hybrid tuned on a validation split of each fit's own events)"
        ),
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="configuration every other one is tested against (default: the first baseline)",
    )
    parser.add_argument(
        "--diversity-embedding",
        default=None,
        help="embedding in which intra-list diversity is measured for all (default: the default one)",
    )
    parser.add_argument(
        "--seed", type=opts.seed_int, default=0, help="seed of the random baseline (default 0)"
    )
    parser.add_argument(
        "--workers", type=opts.positive_int, default=1, help="processes evaluating configurations"
    )
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec compare``."""
    from artrec.data.simulate import interactions_simulated
    from artrec.data.workspace import Workspace
    from artrec.evaluation.configs import Config
    from artrec.evaluation.runs import compare_workspace

    ws = Workspace.open(args.workspace)
    bar, progress = opts.progress_bar("compare", opts.progress_wanted(args), "config")
    try:
        result = compare_workspace(
            ws, embeddings=args.embeddings, metrics=args.metrics, aggregations=args.aggregations,
            baselines=args.baselines, baseline=args.baseline, m=args.m, seed=args.seed,
            diversity_embedding=args.diversity_embedding, protocol=args.protocol, k=args.k,
            kinds=opts.kinds_of(args), chunk_size=args.chunk_size, record=opts.record_run(args, ws),
            workers=args.workers, progress=progress, windows=args.windows,
            extra=[Config(kind) for kind in args.recommenders],
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    note = opts.simulated_note(interactions_simulated(ws))
    first = next(iter(result.results.values()))
    opts.protocol_note(args.protocol or args.windows, first.protocol)
    payload = {"protocol": first.protocol, "k": first.k, "simulated": note is not None}
    if opts.emit_result({**payload, **result.to_dict()}, result.to_rows(), args.format):
        return 0
    lines = [
        f"protocol {first.protocol}, k={first.k}: {first.n_cases} users/cases, the same for "
        f"every configuration (skipped: {opts.skipped_text(first.skipped)})",
        f"mean ± half-width of the 95% CI; * = differs from {result.baseline!r} at p < 0.05 "
        "(paired t-test and Wilcoxon, Holm-corrected per metric)",
    ]
    lines.extend([note] if note else [])
    opts.emit(result.table_rows(), "table", title="\n".join(lines))
    return 0
