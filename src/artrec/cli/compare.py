"""``artrec compare``: several configurations on the same users, with paired tests."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from artrec.cli._common import add_format_arg, add_workspace_arg, emit, positive_int
from artrec.cli.evaluate import AGGREGATION_CHOICES, add_protocol_args, simulated_note
from artrec.similarity import METRICS

BASELINE_CHOICES = ("random", "popular", "artist")


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
    add_workspace_arg(parser)
    add_protocol_args(parser)
    parser.add_argument(
        "--embeddings",
        nargs="+",
        default=None,
        metavar="NAME",
        help="embeddings to compare (default: the workspace's default embedding)",
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        choices=METRICS,
        default=["cosine"],
        metavar="METRIC",
        help=f"similarity metrics ({', '.join(METRICS)}; default cosine)",
    )
    parser.add_argument(
        "--aggregations",
        nargs="+",
        choices=AGGREGATION_CHOICES,
        default=["sum_distance"],
        metavar="AGG",
        help=f"aggregations ({', '.join(AGGREGATION_CHOICES)}; default sum_distance)",
    )
    parser.add_argument(
        "--baselines",
        nargs="*",
        choices=BASELINE_CHOICES,
        default=None,
        metavar="NAME",
        help=(
            "baselines to add (random, popular, artist; default all three, artist only when "
            "the catalogue has artists; give the option with no names for none)"
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
    parser.add_argument("-m", type=positive_int, default=3, help="m of topm_mean (default 3)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random baseline (default 0)"
    )
    add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec compare``."""
    from artrec.data.workspace import Workspace
    from artrec.errors import ArtrecError
    from artrec.evaluation.comparison import EvalData, compare, config_grid
    from artrec.evaluation.protocols import make_split

    ws = Workspace.open(args.workspace)
    embeddings: list[str | None] = list(args.embeddings) if args.embeddings else [None]
    wanted = list(embeddings)
    if args.diversity_embedding is not None:
        wanted.append(args.diversity_embedding)
    data = EvalData.from_workspace(ws, wanted, kinds=tuple(args.kinds))
    resolved = [e if e is not None else data.default_embedding for e in embeddings]
    if args.baselines is None:
        baselines = ["random", "popular"]
        artists = data.catalog.artists()
        if artists is not None and any(a is not None for a in artists.tolist()):
            baselines.append("artist")
    else:
        baselines = list(dict.fromkeys(args.baselines))
    configs = config_grid(
        resolved, args.metrics, args.aggregations, baselines, m=args.m, seed=args.seed
    )
    names = [c.name for c in configs]
    if args.baseline is not None and args.baseline not in names:
        raise ArtrecError(
            f"--baseline {args.baseline!r} is not one of the configurations: {', '.join(names)}"
        )
    if len(data.interactions) == 0:
        raise ArtrecError(
            f"workspace {ws.root} has no events of kind {', '.join(args.kinds)} to evaluate on"
        )
    split = make_split(args.protocol, data.interactions, data.catalog)
    if split.n_cases == 0:
        raise ArtrecError(
            f"nothing to evaluate under protocol {split.protocol} (skipped: {split.skipped})"
        )
    result = compare(
        configs,
        data,
        split,
        args.k,
        args.baseline,
        diversity_embedding=args.diversity_embedding,
        chunk_size=args.chunk_size,
        workspace=None if args.no_record else ws,
    )
    note = simulated_note(ws)
    if args.format == "json":
        payload = {
            "protocol": split.protocol,
            "k": args.k,
            "simulated": note is not None,
            **result.to_dict(),
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return 0
    if args.format == "csv":
        emit(result.to_rows(), "csv")
        return 0
    first = next(iter(result.results.values()))
    skipped = ", ".join(f"{k}={v}" for k, v in sorted(first.skipped.items())) or "none"
    lines = [
        f"protocol {split.protocol}, k={args.k}: {first.n_cases} users/cases, the same for "
        f"every configuration (skipped: {skipped})",
        f"mean ± half-width of the 95% CI; * = differs from {result.baseline!r} at p < 0.05 "
        "(paired t-test and Wilcoxon, Holm-corrected per metric)",
    ]
    if note:
        lines.append(note)
    emit(result.table_rows(), "table", title="\n".join(lines))
    return 0
