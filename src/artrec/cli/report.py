"""``artrec report``: write the HTML report for any workspace."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from artrec.cli._common import add_workspace_arg, positive_int


def register(subparsers: Any) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="write the self-contained HTML report of a workspace",
        description=(
            "Write a single HTML file (images embedded) for a workspace: similar works, "
            "recommendations with reasons, the metrics table, explained variance and a 2-D "
            "map. Uses the results of `artrec demo` when the workspace has them; otherwise "
            "computes them from the workspace (also one imported with `artrec import-seed`)."
        ),
    )
    add_workspace_arg(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="report file (default: <workspace>/reports/report.html)",
    )
    parser.add_argument("-k", type=positive_int, default=10, help="list length (default 10)")
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="ignore stored demo results and compute from the workspace",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Collect the results and write the report; prints its path."""
    from artrec.data.workspace import Workspace
    from artrec.report.collect import collect_results
    from artrec.report.html import write_report

    ws = Workspace.open(args.workspace)
    results = collect_results(ws, k=args.k, use_demo=not args.recompute)
    path = write_report(ws, results, args.output)
    print(f"report: {path.resolve()}")
    return 0
