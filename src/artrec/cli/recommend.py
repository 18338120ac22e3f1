"""``artrec recommend``: explained recommendations for users or for a list of liked works."""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``recommend`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "recommend",
        help="recommend artworks to users or to a visitor, with a reason for each",
        description=(
            "Recommendations from the workspace's chosen model (the hybrid saved by `artrec "
            "tune`) when it has one, each with its reason (because you bought X, popular with "
            "collectors who bought X, by an artist you collect, trending this month); else, "
            "or with --recommender visrank or any VisRank option, content-based VisRank: "
            "every artwork is scored by aggregating its similarity to the works the person "
            "bought or liked, and each recommendation names the profile work it is most "
            "similar to. Consumed and sold works are left out."
        ),
    )
    opts.add_workspace_arg(parser)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", nargs="+", metavar="USER_ID", help="user(s) from the workspace log")
    who.add_argument("--liked", nargs="+", metavar="ITEM_ID", help="artworks a visitor liked")
    who.add_argument(
        "--all-users", action="store_true", help="every user with events, in one batch"
    )
    opts.add_k_arg(parser, "recommendations each")
    opts.add_recommender_arg(parser)
    opts.add_visrank_args(parser, explicit=True)
    opts.add_features_arg(parser)
    opts.add_kinds_arg(parser, ("purchase", "like"), "form a user's profile")
    opts.add_history_arg(parser)
    parser.add_argument(
        "--diversify",
        type=opts.unit_interval,
        default=None,
        metavar="LAMBDA",
        help="re-rank with maximal marginal relevance (1 = pure relevance, 0 = most varied)",
    )
    parser.add_argument(
        "--include-sold", action="store_true", help="also recommend works that are out of stock"
    )
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec recommend``."""
    from artrec.engine import Engine
    from artrec.recommend.serving import VISRANK

    engine = Engine.from_workspace(args.workspace)
    visrank_options = opts.names_visrank(args)
    model = engine.model_for(args.recommender, visrank_options=visrank_options)
    config = opts.visrank_config(args)
    options: dict[str, Any] = {
        "diversify": args.diversify,
        "only_in_stock": not args.include_sold,
        "recommender": args.recommender,
    }
    if model is None:
        options.update(config=config, features=args.features, recommender=VISRANK)
    else:
        opts.show_model_line(model)
    if args.liked:
        who, results = "visitor", {"visitor": engine.recommend(args.liked, args.k, **options)}
    else:
        users = None if args.all_users else args.user
        who = "user"
        results = engine.recommend_for_users(
            users, args.k, kinds=opts.kinds_of(args), history=args.history, **options
        )
    rows: list[dict[str, Any]] = []
    for person, recs in results.items():
        for rank, rec in enumerate(recs, start=1):
            row = {who: person, "rank": rank, "item_id": rec.item_id, "score": rec.score}
            row = opts.titled(engine.catalog, row)
            if model is None:
                row["because"] = _reason(engine.catalog, rec.because_item_id)
                if args.format != "table":
                    row.update(because_item_id=rec.because_item_id, because_score=rec.because_score)
            else:
                row["because"] = rec.reason_text
                if args.format != "table":
                    row.update(because_item_id=rec.because_item_id, reason=rec.reason)
            rows.append(row)
    if model is None:
        source = engine.vector_source(config, args.features).label
        title = f"top {args.k} by VisRank ({config.aggregation}, {config.metric}, {source})"
    else:
        title = f"top {args.k} by model {model.info.name!r} ({model.info.kind})"
    opts.emit(rows, args.format, title=title)
    return 0


def _reason(catalog: Any, item_id: str | None) -> str:
    """``because of <item_id> <title> by <artist>`` (parts that are unknown left out)."""
    if item_id is None:
        return ""
    record = opts.titled(catalog, {"item_id": item_id})
    text = f"because of {item_id}"
    if record.get("title"):
        text += f" {record['title']}"
    if record.get("artist"):
        text += f" by {record['artist']}"
    return text
