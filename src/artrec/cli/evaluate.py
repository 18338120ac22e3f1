"""``artrec evaluate``: one recommender on held-out purchases, metrics with 95% CIs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from artrec.cli._common import (
    add_format_arg,
    add_param_arg,
    add_protocol_args,
    add_visrank_args,
    add_workspace_arg,
    emit,
    kinds_of,
    parse_params,
    simulated_note,
)
from artrec.evaluation.configs import KINDS, param_names


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate",
        help="evaluate a recommender on held-out purchases (AUC, RR, P/R/HR/AP/nDCG@k, ...)",
        description=(
            "Evaluate one recommender under a protocol. Every metric is computed per user "
            "(per case), then averaged with a 95% Student-t confidence interval; users with "
            "no relevant item among their candidates are skipped and counted. The candidate "
            "set is the catalogue minus the user's consumed items (and, for time-replay, minus "
            "the works already sold). The run is recorded in the workspace."
        ),
    )
    add_workspace_arg(parser)
    add_protocol_args(parser)
    parser.add_argument(
        "--recommender",
        choices=tuple(KINDS),
        default="visrank",
        help="visrank (content-based) or another recommender kind (default visrank)",
    )
    add_visrank_args(parser)
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random baseline (default 0)"
    )
    add_param_arg(parser, "a parameter of the recommender kind, repeatable (e.g. --param l2=300)")
    add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec evaluate``."""
    from artrec.data.simulate import interactions_simulated
    from artrec.data.workspace import Workspace
    from artrec.evaluation.configs import Config
    from artrec.evaluation.runs import evaluate_workspace

    ws = Workspace.open(args.workspace)
    given = parse_params(args.param)
    options = {**{p: getattr(args, p) for p in param_names(args.recommender)}, **given}
    config = Config(args.recommender, **options)
    kinds = kinds_of(args)
    result = evaluate_workspace(
        ws, config, protocol=args.protocol, k=args.k, kinds=kinds,
        chunk_size=args.chunk_size, record=not args.no_record,
    )  # fmt: skip
    note = simulated_note(interactions_simulated(ws))
    if args.format != "table":
        payload = {**result.to_dict(), "simulated": note is not None, "run_id": result.run_id}
        if args.format == "json":
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        else:
            emit(result.to_rows(), "csv")
        return 0
    skipped = ", ".join(f"{k}={v}" for k, v in sorted(result.skipped.items())) or "none"
    lines = [
        f"{result.name} on protocol {result.protocol}, k={result.k}: {result.n_cases} users/cases "
        f"evaluated (skipped: {skipped})",
    ]
    if result.nan_scores:
        lines.append(f"warning: the recommender gave {result.nan_scores} NaN scores (ranked last)")
    lines.extend([note] if note else [])
    emit(result.to_rows(), "table", title="\n".join(lines))
    return 0
