"""``artrec evaluate``: one recommender on held-out purchases, metrics with 95% CIs."""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli import _common as opts
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
    opts.add_workspace_arg(parser)
    opts.add_protocol_args(parser)
    parser.add_argument(
        "--recommender",
        choices=tuple(KINDS),
        default="visrank",
        help="visrank (content-based) or another recommender kind (default visrank)",
    )
    opts.add_visrank_args(parser)
    parser.add_argument(
        "--seed", type=opts.seed_int, default=0, help="seed of the random baseline (default 0)"
    )
    opts.add_param_arg(
        parser, "a parameter of the recommender kind, repeatable (e.g. --param l2=300)"
    )
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec evaluate``."""
    from artrec.data.simulate import interactions_simulated
    from artrec.data.workspace import Workspace
    from artrec.evaluation.configs import Config
    from artrec.evaluation.runs import evaluate_workspace

    ws = Workspace.open(args.workspace)
    given = opts.parse_params(args.param)
    shared = vars(args)  # the options every kind may take: --embedding, --metric, --seed, ...
    options = {p: shared[p] for p in param_names(args.recommender) if p in shared}
    options.update(given)
    config = Config(args.recommender, **options)
    kinds = opts.kinds_of(args)
    bar, progress = opts.progress_bar("evaluate", opts.progress_wanted(args), "user")
    try:
        result = evaluate_workspace(
            ws, config, protocol=args.protocol, k=args.k, kinds=kinds,
            chunk_size=args.chunk_size, record=opts.record_run(args, ws), progress=progress,
            windows=args.windows,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    opts.protocol_note(args.protocol or args.windows, result.protocol)
    note = opts.simulated_note(interactions_simulated(ws))
    payload = {**result.to_dict(), "simulated": note is not None, "run_id": result.run_id}
    if opts.emit_result(payload, result.to_rows(), args.format):
        return 0
    lines = [
        f"{result.name} on protocol {result.protocol}, k={result.k}: {result.n_cases} users/cases "
        f"evaluated (skipped: {opts.skipped_text(result.skipped)})",
    ]
    if result.nan_scores:
        lines.append(f"warning: the recommender gave {result.nan_scores} NaN scores (ranked last)")
    lines.extend([note] if note else [])
    opts.emit(result.to_rows(), "table", title="\n".join(lines))
    return 0
