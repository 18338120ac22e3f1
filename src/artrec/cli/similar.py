"""``artrec similar``: the artworks most similar to one or more artworks."""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli._common import add_format_arg, add_workspace_arg, emit, positive_int
from artrec.similarity import METRICS

#: Index kinds offered on the command line (kept in step with artrec.index.factory).
_INDEX_CHOICES = ("exact", "faiss-flat", "faiss-ivf", "faiss-hnsw")


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
    add_workspace_arg(parser)
    parser.add_argument("item_ids", nargs="+", metavar="ITEM_ID", help="artwork id(s) to query")
    parser.add_argument(
        "-k", type=positive_int, default=10, help="neighbours per query (default 10)"
    )
    parser.add_argument(
        "--metric", choices=METRICS, default="cosine", help="similarity metric (default cosine)"
    )
    parser.add_argument(
        "--embedding", default=None, help="embedding name (default: the workspace's default)"
    )
    parser.add_argument(
        "--index", choices=_INDEX_CHOICES, default="exact", help="index kind (default exact)"
    )
    parser.add_argument(
        "--include-self", action="store_true", help="keep the query item in its own list"
    )
    add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec similar``."""
    from artrec.engine import Engine

    engine = Engine.from_workspace(args.workspace, embedding=args.embedding, index=args.index)
    catalog = engine.catalog
    titles = catalog.column("title")
    artists = catalog.column("artist")
    rows: list[dict[str, Any]] = []
    for query in args.item_ids:
        neighbours = engine.similar(
            query, args.k, metric=args.metric, include_self=args.include_self
        )
        for rank, nb in enumerate(neighbours, start=1):
            row = int(catalog.rows_of([nb.item_id])[0])
            rec: dict[str, Any] = {
                "query": query,
                "rank": rank,
                "item_id": nb.item_id,
                "score": nb.score,
            }
            if titles is not None:
                rec["title"] = titles[row]
            if artists is not None:
                rec["artist"] = artists[row]
            rows.append(rec)
    title = f"{args.k} most similar ({args.metric}, embedding {engine.default_embedding})"
    emit(rows, args.format, title=title)
    return 0
