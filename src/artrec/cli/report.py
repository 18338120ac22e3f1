"""``artrec report``: write the HTML report for any workspace."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from artrec.cli import _common as opts


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
    opts.add_workspace_arg(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="report file (default: <workspace>/reports/report.html)",
    )
    opts.add_k_arg(parser)
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="ignore stored demo results and compute from the workspace",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Collect the results and write the report; prints its path."""
    from artrec.demo import write_workspace_report

    path = write_workspace_report(
        args.workspace, args.output, k=args.k, use_demo=not args.recompute
    )
    print(f"report: {path.resolve()}")
    return 0
