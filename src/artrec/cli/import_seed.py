"""``artrec import-seed``: turn the notebook's ``assets/`` folder into a workspace."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``import-seed`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import-seed",
        help="import the notebook's assets/ folder into a workspace",
        description=(
            "Read the course notebook's assets/ folder (resnet50_feature_matrix.npy, "
            "vgg19_feature_matrix.npy, index2artworkId.json, artworkImageUrlsCache.json, "
            "past_transactions.pickle, ground_truth.pickle) and write its catalogue, purchases "
            "(train/test split) and the two feature sets into a new workspace. Pickles are read "
            "with a restricted unpickler that refuses anything but containers, numbers and text."
        ),
    )
    parser.add_argument("assets_dir", type=Path, metavar="ASSETS_DIR", help="the assets/ folder")
    opts.add_workspace_arg(parser)
    parser.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop purchases of artworks absent from index2artworkId.json (default: keep them)",
    )
    parser.add_argument(
        "--allow-nan",
        action="store_true",
        help="import feature rows with NaN/inf and report them (default: refuse the import)",
    )
    opts.add_max_events_arg(parser)
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec import-seed``."""
    import sys

    from artrec.data.seed import import_seed

    report = import_seed(
        args.assets_dir,
        args.workspace,
        on_nan="report" if args.allow_nan else "raise",
        missing_items="drop" if args.drop_missing else "keep",
        max_events=args.max_events,
    )
    missing = report.missing_item_ids
    row: dict[str, Any] = {
        "workspace": str(report.workspace),
        "items": report.n_items,
        "users": report.n_users,
        "train_events": report.n_train_events,
        "test_events": report.n_test_events,
        "feature_sets": ", ".join(f"{k} ({v})" for k, v in report.feature_sets.items()),
        "missing_ids": len(missing),
        "missing_id_events": report.n_missing_events,
        "items_without_url": report.missing_urls,
        "simulated": report.simulated,
    }
    if args.format == "json":
        opts.emit([{**row, "missing_item_ids": missing, "warnings": report.warnings}], "json")
        return 0
    opts.emit([row], args.format, title=f"imported {report.assets_dir}")
    if args.format == "table":
        for warning in report.warnings:
            print(f"note: {warning}", file=sys.stderr)
    return 0
