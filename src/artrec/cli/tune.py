"""``artrec tune``: choose the hybrid's configuration on a validation split of the training
events, save it as the workspace's default model (a thin wrapper of
:func:`artrec.evaluation.tuning.tune_workspace`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from artrec.cli._common import add_format_arg, add_workspace_arg, emit, positive_int


def register(subparsers: Any) -> None:
    """Add the ``tune`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tune",
        help="tune the hybrid recommender on training events and make it the default model",
        description=(
            "Fit each source (content, item-kNN, EASE, iALS, time-aware popularity, metadata) "
            "and the blend weights on a validation split carved from the training events only "
            "(never an event marked test), then save the tuned hybrid as models/NAME and make "
            "it the workspace default for recommend, serve and the report."
        ),
    )
    add_workspace_arg(parser)
    parser.add_argument("-k", type=positive_int, default=20, help="nDCG cut-off (default 20)")
    parser.add_argument(
        "--budget", type=int, default=None, metavar="TRIALS",
        help="at most this many alternative configurations (default: the whole grid)",
    )  # fmt: skip
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="stop trying alternatives after this"
    )
    parser.add_argument("--name", default="auto", help="saved model name (default auto)")
    parser.add_argument(
        "--kinds", nargs="+", default=None, help="event kinds learned from (default: all)"
    )
    parser.add_argument(
        "--target-kinds", nargs="+", default=None,
        help="event kinds the model is judged on and profiles hold (default: all)",
    )  # fmt: skip
    parser.add_argument("--one-of-a-kind", action="store_true", help="bought works are sold out")
    parser.add_argument(
        "--by-time", action="store_true",
        help="validate on a time cut (the counterpart of time replay) instead of each "
        "user's last events",
    )  # fmt: skip
    parser.add_argument("--embedding", default=None, help="embedding of the content source")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec tune``."""
    from artrec.data.workspace import Workspace
    from artrec.evaluation.tuning import TuneBudget, tune_workspace

    ws = Workspace.open(args.workspace)

    def progress(done: int, total: int, message: str) -> None:
        if args.quiet:
            return
        width = 30
        filled = width * min(done, total) // max(1, total)
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r[{bar}] {done}/{total} {message[:60]:60s}")
        sys.stderr.flush()

    result = tune_workspace(
        ws,
        k=args.k,
        budget=TuneBudget(args.budget, args.max_seconds),
        name=args.name,
        kinds=args.kinds,
        embedding=args.embedding,
        target_kinds=args.target_kinds,
        one_of_a_kind=args.one_of_a_kind,
        by_time=args.by_time,
        progress=progress,
    )
    if not args.quiet:
        sys.stderr.write("\n")
    val = result.validation
    rows = [
        {
            "source": s["name"],
            "weight": result.weights[s["name"]],
            f"validation ndcg@{args.k}": round(val["sources"][s["name"]], 4),
            "params": ", ".join(f"{k}={v}" for k, v in s["params"].items()),
        }
        for s in result.sources
    ]
    emit(
        rows,
        args.format,
        title=(
            f"tuned hybrid {args.name!r}: validation ndcg@{args.k} {val['ndcg']:.4f} on "
            f"{val['n_cases']} users, {len(result.trials)} trials, {result.seconds:.0f} s; "
            "now the workspace default"
        ),
    )
    return 0
