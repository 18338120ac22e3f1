"""``artrec import``: a catalogue and an optional interaction log into a workspace."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``import`` subcommand."""
    from artrec.data.tabular import CATALOG_COLUMNS, INTERACTION_COLUMNS

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="import your own catalogue (and purchases, likes or ratings) into a workspace",
        description=(
            "Read a catalogue (CSV, TSV, Parquet, JSON or JSON Lines) and optionally an "
            "interaction log in the same formats, check everything, then write the workspace "
            "in one transaction: a bad file changes nothing and is named with its row and "
            "column. Columns are found by common names or mapped with --column and "
            "--event-column. Importing again adds only what is new. Every rule is in "
            "docs/data-formats.md (Your own collection)."
        ),
    )
    parser.add_argument("catalog", type=Path, metavar="CATALOG", help="the catalogue file")
    parser.add_argument(
        "interactions",
        type=Path,
        nargs="?",
        default=None,
        metavar="INTERACTIONS",
        help="the interaction log: user, item[, timestamp][, kind or rating][, split]",
    )
    opts.add_workspace_arg(parser)
    parser.add_argument(
        "--image-dir", type=Path, help="folder that relative image paths are resolved against"
    )
    parser.add_argument(
        "--copy-images",
        action="store_true",
        help="copy the local images into the workspace's images/ folder (then `artrec serve` "
        "shows them with no --image-root)",
    )
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="read the catalogue's ROLE from column NAME (repeatable; ROLE= leaves it unread). "
        f"Roles: {', '.join(CATALOG_COLUMNS)}. Other columns are kept as metadata",
    )
    parser.add_argument(
        "--event-column",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="read the interaction log's ROLE from column NAME (repeatable; ROLE= leaves it "
        f"unread). Roles: {', '.join(INTERACTION_COLUMNS)}",
    )
    parser.add_argument(
        "--positive-threshold",
        type=float,
        default=None,
        metavar="X",
        help="ratings >= X become positives (kind --positive-kind); lower ones are kept as "
        "their own kind, which no model counts as a positive",
    )
    parser.add_argument(
        "--positive-kind",
        default="purchase",
        help="the kind of positives made from ratings (default purchase)",
    )
    parser.add_argument(
        "--min-user-positives",
        type=opts.non_negative_int,
        default=0,
        metavar="N",
        help="keep only users with at least N positives (default 0: all)",
    )
    split = parser.add_mutually_exclusive_group()
    split.add_argument(
        "--split-last-fraction",
        type=float,
        default=None,
        metavar="F",
        help="per user, hold out the last max(1, floor(F x n)) of n positives by time as test "
        "(ties by item id)",
    )
    split.add_argument(
        "--split-before",
        default=None,
        metavar="DATE",
        help="events before DATE (ISO-8601 or seconds; naive is UTC) are train, the rest test",
    )
    parser.add_argument(
        "--drop-unknown-items",
        action="store_true",
        help="drop and count events whose item is not in the catalogue (default: an error)",
    )
    parser.add_argument(
        "--simulated",
        action="store_true",
        help="the interactions are simulated (generated for a trial, not real behaviour); "
        "every result on the workspace is then labelled simulated",
    )
    parser.add_argument(
        "--max-events",
        type=opts.positive_int,
        default=None,
        help="most events the log may hold (default $ARTREC_MAX_EVENTS or 10,000,000)",
    )
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec import``."""
    from artrec.data.importer import import_collection

    summary = import_collection(
        args.workspace, args.catalog, args.interactions, image_dir=args.image_dir,
        catalog_columns=opts.parse_columns(args.column),
        interaction_columns=opts.parse_columns(args.event_column),
        positive_threshold=args.positive_threshold, positive_kind=args.positive_kind,
        min_user_positives=args.min_user_positives,
        split_last_fraction=args.split_last_fraction, split_before=args.split_before,
        unknown_items="drop" if args.drop_unknown_items else "raise",
        max_events=args.max_events, copy_images=args.copy_images, simulated=args.simulated,
    )  # fmt: skip
    rows = _rows(summary)
    if opts.emit_result(summary.as_dict(), rows, args.format):
        return 0
    opts.emit(rows, "table", title=f"imported into {summary.workspace}")
    opts.notes(summary.notes, args.format)
    return 0


def _rows(s: Any) -> list[dict[str, Any]]:
    """What was read, kept and dropped, one line each, in words."""
    rows = []
    if s.catalog_file is not None:
        rows += [
            _row(
                "items read",
                s.items_read,
                f"{s.catalog_file.name} ({_pairs(s.catalog_columns, '=')})",
            ),
            _row("items added", s.items_added),
            _row("items updated", s.items_updated, "already there, some field changed"),
            _row("items unchanged", s.items_unchanged),
            _row("images", sum(s.images.values()), _pairs(s.images)),
            _row("images copied", s.images_copied, "into the workspace's images/ folder"),
        ]
    if s.interactions_file is not None:
        dropped = sum(s.events_dropped.values())
        added = f"by kind: {_pairs(s.added_by_kind) or 'none'}; by split: {_pairs(s.added_by_split) or 'none'}"
        rows += [
            _row(
                "events read",
                s.events_read,
                f"{s.interactions_file.name} ({_pairs(s.interaction_columns, '=')})",
            ),
            _row("events added", s.events_added, added),
            _row("events already there", s.events_present, "not written again"),
            _row("events dropped", dropped, _pairs(s.events_dropped) or "none"),
            _row("events re-split", s.events_resplit, "stored events whose split the rule changed"),
            _row("users read", s.users_read),
            _row("users kept", s.users_kept),
            _row("users dropped", s.users_dropped, f"fewer than {s.min_user_positives} positives"),
            _row("split", None, s.split.describe()),
        ]
        if s.positive_threshold is not None:
            rule = f"ratings >= {s.positive_threshold:g} are {s.positive_kind} events"
            rows.append(_row("ratings", None, rule))
    return rows


def _row(what: str, count: int | None, detail: str = "") -> dict[str, Any]:
    return {"what": what, "count": count, "detail": detail}


def _pairs(counts: dict[str, Any], sep: str = " ") -> str:
    """``a 1, b 2`` (underscores as spaces; ``sep="="`` for role=column pairs)."""
    if sep == "=":
        return ", ".join(f"{k}={v}" for k, v in counts.items())
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
