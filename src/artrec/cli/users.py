"""``artrec users``: the users of the interaction log, with their event counts."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``users`` subcommand."""
    from artrec.data.browse import USER_ORDERS

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "users",
        help="list the users of the interaction log with their event counts, page by page",
        description=(
            "List the users who have events in the workspace, most active first (or by id), "
            "with their events by kind and by split and the time of their first and last "
            "event: use the ids with `artrec recommend --user`."
        ),
    )
    opts.add_workspace_arg(parser)
    parser.add_argument(
        "query", nargs="?", default=None, metavar="QUERY", help="keep ids containing this text"
    )
    parser.add_argument(
        "--order", choices=USER_ORDERS, default="events", help="events (default) or id"
    )
    opts.add_page_args(parser, "users")
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec users``."""
    from artrec.data.browse import list_users
    from artrec.data.workspace import Workspace

    page = list_users(
        Workspace.open(args.workspace), args.query, order=args.order, offset=args.offset,
        limit=args.limit,
    )  # fmt: skip
    flat = args.format != "json"  # counts as text in tables and CSV, as objects in JSON
    rows = [
        {
            "user_id": u.user_id,
            "events": u.n_events,
            "by_kind": _counts(u.by_kind) if flat else u.by_kind,
            "by_split": _counts(u.by_split) if flat else u.by_split,
            "first": _when(u.first),
            "last": _when(u.last),
        }
        for u in page.rows
    ]
    opts.emit(rows, args.format, title=opts.page_title(page, len(rows), "users"))
    return 0


def _counts(counts: dict[str, int]) -> str:
    """``purchase 5, like 2``."""
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def _when(seconds: float | None) -> str | None:
    """A UTC date and time, or ``None`` when unknown."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds")
