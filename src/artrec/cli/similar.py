"""``artrec similar``: the artworks most similar to one or more artworks."""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``similar`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "similar",
        help="find the artworks most similar to given artworks",
        description=(
            "List the k nearest artworks of each ITEM_ID in an embedding of the workspace, "
            "under a similarity metric. The query itself is left out unless --include-self."
        ),
    )
    opts.add_workspace_arg(parser)
    parser.add_argument("item_ids", nargs="+", metavar="ITEM_ID", help="artwork id(s) to query")
    opts.add_k_arg(parser, "neighbours per query")
    opts.add_visrank_args(parser, aggregation=False)
    opts.add_features_arg(parser)
    opts.add_index_arg(parser, "exact")
    parser.add_argument(
        "--include-self", action="store_true", help="keep the query item in its own list"
    )
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec similar``."""
    from artrec.engine import Engine

    engine = Engine.from_workspace(args.workspace, index=args.index)
    found = engine.similar_many(
        args.item_ids, args.k, metric=args.metric, embedding=args.embedding,
        features=args.features, include_self=args.include_self,
    )  # fmt: skip
    rows = [
        opts.titled(
            engine.catalog, {"query": q, "rank": rank, "item_id": n.item_id, "score": n.score}
        )
        for q, neighbours in zip(args.item_ids, found, strict=True)
        for rank, n in enumerate(neighbours, start=1)
    ]
    wanted = engine.config.override(embedding=args.embedding)
    source = engine.vector_source(wanted, args.features).label
    title = f"{args.k} most similar ({args.metric}, {source})"
    opts.emit(rows, args.format, title=title)
    return 0
