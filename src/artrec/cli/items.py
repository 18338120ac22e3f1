"""``artrec items``: find artworks (and their ids) by title or artist."""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``items`` subcommand."""
    from artrec.data.browse import SEARCH_FIELDS

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "items",
        help="list or search the catalogue's artworks (ids, titles, artists), page by page",
        description=(
            "List the artworks of the workspace's catalogue in catalogue order, or those whose "
            "title or artist contains QUERY (case-insensitive), one page at a time: use the "
            "ids with `artrec similar` and `artrec recommend --liked`."
        ),
    )
    opts.add_workspace_arg(parser)
    parser.add_argument("query", nargs="?", default=None, metavar="QUERY", help="text to find")
    parser.add_argument(
        "--field", choices=SEARCH_FIELDS, default="any", help="where to look (default: any)"
    )
    opts.add_page_args(parser, "artworks")
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec items``."""
    from artrec.data.browse import search_items
    from artrec.data.workspace import Workspace

    page = search_items(
        Workspace.open(args.workspace), args.query, field=args.field, offset=args.offset,
        limit=args.limit,
    )  # fmt: skip
    rows = [dict(row.__dict__) for row in page.rows]
    what = f"matching {args.query!r}" if args.query else "in the catalogue"
    opts.emit(rows, args.format, title=opts.page_title(page, len(rows), f"artworks {what}"))
    return 0
