"""``artrec recommend-all``: recommendations for every user, in bounded chunks, to the workspace.

The run is written to ``<workspace>/recommendations/<run>/`` (see
:mod:`artrec.recommend.batch` for the files) and can be resumed after an interruption by
running the same command again. ``--index visrank`` scores every item for every user
(exact VisRank); an index kind (``exact``, ``faiss-hnsw``, ...) generates candidates from
the nearest neighbours of each profile item, which scales to millions of items. A saved
index (``artrec index build``) is used when there is one for the embedding, kind and metric.
"""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli._common import add_format_arg, add_workspace_arg, emit, positive_int
from artrec.similarity import METRICS

_SOURCES = ("visrank", "exact", "faiss-flat", "faiss-ivf", "faiss-hnsw")
_AGGREGATIONS = ("sum_distance", "sum", "mean", "max", "topm_mean")


def register(subparsers: Any) -> None:
    """Add the ``recommend-all`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "recommend-all",
        help="recommend to every user in bounded chunks and save the lists in the workspace",
        description=(
            "Rank k artworks for every user with events of --kinds, --chunk-size users at a "
            "time, and write them to <workspace>/recommendations/<run>/ (rows, scores, "
            "explanations as .npy, user and item ids as JSON). Rerunning the same command "
            "resumes an interrupted run. --index visrank scores every item exactly; an index "
            "kind takes --candidates nearest neighbours per profile item as candidates and "
            "scores them exactly, which scales to millions of items."
        ),
    )
    add_workspace_arg(parser)
    parser.add_argument(
        "-k", type=positive_int, default=10, help="recommendations per user (default 10)"
    )
    parser.add_argument(
        "--embedding", default=None, help="embedding name (default: the workspace's default)"
    )
    parser.add_argument(
        "--index",
        choices=_SOURCES,
        default="visrank",
        help="visrank (exact, every item scored) or an index kind for candidate generation (default visrank)",
    )
    parser.add_argument(
        "--metric", choices=METRICS, default="cosine", help="similarity metric (default cosine)"
    )
    parser.add_argument(
        "--aggregation",
        choices=_AGGREGATIONS,
        default="sum_distance",
        help="how a profile's similarities combine (default sum_distance, the notebook's)",
    )
    parser.add_argument(
        "--m", type=positive_int, default=3, help="similarities averaged by topm_mean (default 3)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="index parameter when no saved index is used (e.g. --param ef_search=128)",
    )
    parser.add_argument(
        "--candidates",
        type=positive_int,
        default=100,
        help="neighbours per profile item fetched from the index (default 100)",
    )
    parser.add_argument(
        "--chunk-size", type=positive_int, default=1024, help="users per chunk (default 1024)"
    )
    parser.add_argument(
        "--kinds",
        default="purchase,like",
        help="comma-separated event kinds forming the profiles (default purchase,like)",
    )
    parser.add_argument(
        "--split",
        choices=("train", "test"),
        default=None,
        help="only events of this split of the interaction log (default: all events)",
    )
    parser.add_argument(
        "--run", default=None, help="run name (default <embedding>-<index>-<metric>-k<k>)"
    )
    parser.add_argument(
        "--no-resume", action="store_true", help="refuse to continue an existing run"
    )
    parser.add_argument(
        "--include-sold", action="store_true", help="also recommend items that are sold"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec recommend-all``."""
    import sys

    import numpy as np

    from artrec.cli.index import parse_params, resolve_embedding
    from artrec.data.workspace import Workspace
    from artrec.errors import DataError
    from artrec.recommend.batch import recommend_all
    from artrec.vectors import FeatureSet

    ws = Workspace.open(args.workspace)
    embedding = resolve_embedding(ws, args.embedding)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    if not kinds:
        raise DataError("--kinds names no event kind")
    vectors = FeatureSet.load(ws.embeddings_dir, embedding)
    source: Any
    describe: dict[str, Any] = {"embedding": embedding, "index": args.index, "kinds": list(kinds)}
    if args.index == "visrank":
        from artrec.recommend.base import TrainData
        from artrec.recommend.visrank import VisRankRecommender

        vectors.check_finite()
        item_ids = vectors.item_ids
        source = VisRankRecommender(args.metric, args.aggregation, args.m).fit(
            TrainData(len(vectors), vectors=vectors.matrix)
        )
    else:
        from artrec.index.factory import make_index
        from artrec.index.store import load_saved_index

        source = load_saved_index(ws, embedding, args.index, args.metric)
        describe["saved_index"] = source is not None
        if source is None:
            vectors.check_finite()
            source = make_index(args.index, args.metric, **parse_params(args.param))
            source.build(vectors.matrix, vectors.item_ids)
        item_ids = source.item_ids_
    row_of = {item_id: r for r, item_id in enumerate(item_ids.tolist())}
    events = ws.interactions(kinds=kinds)
    if args.split is not None:
        if events.splits is None:
            raise DataError("the interaction log has no train/test split; drop --split")
        events = events.select(events.splits == args.split)
    profiles: dict[str, np.ndarray] = {}
    skipped = 0
    for user, items in events.by_user().items():
        rows = [row_of[i] for i in items.tolist() if i in row_of]
        if not rows:
            skipped += 1  # no item of this user has a vector: nothing to recommend from
            continue
        profiles[user] = np.asarray(list(dict.fromkeys(rows)), dtype=np.int64)
    if not profiles:
        raise DataError(f"no users with {'/'.join(kinds)} events in workspace {ws.root}")
    catalog = ws.catalog()
    available = None
    if catalog.stock_known and not args.include_sold:
        stock_rows = catalog.rows_of(item_ids, missing="mark")
        in_stock = np.asarray(catalog.in_stock, dtype=bool)
        available = np.where(stock_rows >= 0, in_stock[np.maximum(stock_rows, 0)], False)
    name = args.run or f"{embedding}-{args.index}-{args.metric}-k{args.k}"
    if not name or "/" in name or name.startswith("."):
        raise DataError(f"invalid run name {name!r}")
    directory = ws.root / "recommendations" / name
    bar = None
    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(profiles), unit="user", desc="recommend-all", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

    try:
        result = recommend_all(
            source,
            profiles,
            directory,
            k=args.k,
            chunk_size=args.chunk_size,
            item_ids=item_ids,
            available=available,
            aggregation=args.aggregation,
            m=args.m,
            n_candidates=args.candidates,
            resume=not args.no_resume,
            progress=progress,
            describe=describe,
        )
    finally:
        if bar is not None:
            bar.close()
    ws.record_run(
        "recommend-all",
        {
            **describe,
            "k": args.k,
            "metric": args.metric,
            "aggregation": args.aggregation,
            "run": name,
        },
        {
            "n_users": result.n_users,
            "skipped_users": skipped,
            "computed_chunks": result.computed_chunks,
            "seconds": result.seconds,
        },
    )
    emit(
        [
            {
                "run": name,
                "users": result.n_users,
                "skipped_users": skipped,
                "chunks": result.n_chunks,
                "computed": result.computed_chunks,
                "seconds": round(result.seconds, 3),
                "directory": str(result.directory),
            }
        ],
        args.format,
        title="batch recommendations",
    )
    return 0
