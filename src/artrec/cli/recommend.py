"""``artrec recommend``: explained recommendations for users or for a list of liked works."""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli._common import add_format_arg, add_workspace_arg, emit, positive_int
from artrec.similarity import METRICS

#: Aggregations offered on the command line (kept in step with artrec.recommend.visrank).
_AGGREGATIONS = ("sum_distance", "sum", "mean", "max", "topm_mean")


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add the ``recommend`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "recommend",
        help="recommend artworks to users or to a visitor, with a reason for each",
        description=(
            "Content-based (VisRank) recommendations: every artwork is scored by aggregating "
            "its similarity to the works the person bought or liked; consumed and sold works "
            "are left out. Each recommendation names the profile work it is most similar to."
        ),
    )
    add_workspace_arg(parser)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", nargs="+", metavar="USER_ID", help="user(s) from the workspace log")
    who.add_argument("--liked", nargs="+", metavar="ITEM_ID", help="artworks a visitor liked")
    who.add_argument(
        "--all-users", action="store_true", help="every user with events, in one batch"
    )
    parser.add_argument(
        "-k", type=positive_int, default=10, help="recommendations each (default 10)"
    )
    parser.add_argument(
        "--aggregation",
        choices=_AGGREGATIONS,
        default="sum_distance",
        help="how similarities to the profile are combined (default sum_distance, the notebook's)",
    )
    parser.add_argument("-m", type=positive_int, default=3, help="m of topm_mean (default 3)")
    parser.add_argument(
        "--metric", choices=METRICS, default="cosine", help="similarity metric (default cosine)"
    )
    parser.add_argument(
        "--embedding", default=None, help="embedding name (default: the workspace's default)"
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=["purchase", "like"],
        help="event kinds that form a user's profile (default: purchase like)",
    )
    parser.add_argument(
        "--diversify",
        type=_unit_interval,
        default=None,
        metavar="LAMBDA",
        help="re-rank with maximal marginal relevance (1 = pure relevance, 0 = most varied)",
    )
    parser.add_argument(
        "--include-sold", action="store_true", help="also recommend works that are out of stock"
    )
    add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec recommend``."""
    from artrec.engine import Engine

    engine = Engine.from_workspace(args.workspace, embedding=args.embedding)
    options: dict[str, Any] = {
        "aggregation": args.aggregation,
        "metric": args.metric,
        "diversify": args.diversify,
        "only_in_stock": not args.include_sold,
        "m": args.m,
    }
    if args.liked:
        results = {"visitor": engine.recommend(args.liked, args.k, **options)}
        who = "visitor"
    else:
        users = None if args.all_users else args.user
        results = engine.recommend_for_users(users, args.k, kinds=tuple(args.kinds), **options)
        who = "user"
    catalog = engine.catalog
    titles = catalog.column("title")
    artists = catalog.column("artist")

    def describe(item_id: str) -> tuple[Any, Any]:
        row = int(catalog.rows_of([item_id])[0])
        title = None if titles is None else titles[row]
        artist = None if artists is None else artists[row]
        return title, artist

    rows: list[dict[str, Any]] = []
    for person, recs in results.items():
        for rank, rec in enumerate(recs, start=1):
            title, artist = describe(rec.item_id)
            out: dict[str, Any] = {
                who: person,
                "rank": rank,
                "item_id": rec.item_id,
                "score": rec.score,
            }
            if titles is not None:
                out["title"] = title
            if artists is not None:
                out["artist"] = artist
            out["because"] = _reason(
                rec.because_item_id, *describe_or_none(rec.because_item_id, describe)
            )
            if args.format != "table":
                out["because_item_id"] = rec.because_item_id
                out["because_score"] = rec.because_score
            rows.append(out)
    title = (
        f"top {args.k} by VisRank ({args.aggregation}, {args.metric}, "
        f"embedding {engine.default_embedding})"
    )
    emit(rows, args.format, title=title)
    return 0


def describe_or_none(item_id: str | None, describe: Any) -> tuple[Any, Any]:
    """Title and artist of ``item_id``, or ``(None, None)``."""
    return (None, None) if item_id is None else describe(item_id)


def _reason(item_id: str | None, title: Any, artist: Any) -> str:
    """``because of <item_id> <title> by <artist>`` (parts that are unknown left out)."""
    if item_id is None:
        return ""
    text = f"because of {item_id}"
    if title:
        text += f" {title}"
    if artist:
        text += f" by {artist}"
    return text
