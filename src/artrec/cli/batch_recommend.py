"""``artrec recommend-all``: recommendations for every user, in bounded chunks, to the workspace.

The run is written to ``<workspace>/recommendations/<run>/`` (see
:mod:`artrec.recommend.batch` for the files) and can be resumed after an interruption by
running the same command again. The workspace's chosen model (``artrec tune``) ranks when
it has one and no VisRank option (``--embedding``, ``--metric``, ``--aggregation``, ``-m``,
an index kind) is given (:func:`artrec.recommend.serving.chosen_model`). ``--index
visrank`` scores every item for every user (exact VisRank); an index kind (``exact``,
``faiss-hnsw``, ...) generates candidates from the nearest neighbours of each profile item,
which scales to millions of items. A saved index (``artrec index build``) is used when
there is one for the embedding, kind and metric.
"""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``recommend-all`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "recommend-all",
        help="recommend to every user in bounded chunks and save the lists in the workspace",
        description=(
            "Rank k artworks for every user with events of --kinds, --chunk-size users at a "
            "time (with the workspace's chosen model from `artrec tune` when it has one and "
            "no VisRank option is given, else VisRank), and write them to "
            "<workspace>/recommendations/<run>/ (rows, scores, explanations as .npy, user and "
            "item ids as JSON). Rerunning the same command "
            "resumes an interrupted run. --index visrank scores every item exactly; an index "
            "kind takes --candidates nearest neighbours per profile item as candidates and "
            "scores them exactly, which scales to millions of items."
        ),
    )
    opts.add_workspace_arg(parser)
    opts.add_k_arg(parser, "recommendations per user")
    opts.add_recommender_arg(parser)
    opts.add_visrank_args(parser, explicit=True)
    opts.add_index_arg(
        parser,
        "visrank",
        extra=("visrank",),
        help="visrank (exact, every item scored) or an index kind for candidate generation "
        "(default visrank)",
    )
    opts.add_param_arg(
        parser, "index parameter when no saved index is used (e.g. --param ef_search=128)"
    )
    parser.add_argument(
        "--candidates",
        type=opts.positive_int,
        default=100,
        help="neighbours per profile item fetched from the index (default 100)",
    )
    parser.add_argument(
        "--chunk-size", type=opts.positive_int, default=1024, help="users per chunk (default 1024)"
    )
    opts.add_kinds_arg(parser, ("purchase", "like"), "form the profiles")
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
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="rank the chunks in this process (local, default) or on Ray actors (ray)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster address for --engine ray (default: start a local Ray instance)",
    )
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec recommend-all``."""
    from artrec.data.workspace import Workspace
    from artrec.recommend.batch import recommend_all_in_workspace
    from artrec.recommend.serving import chosen_model, default_model_name, load_serving_model

    ws = Workspace.open(args.workspace)
    visrank_options = opts.names_visrank(args) or args.index != "visrank"
    name = chosen_model(default_model_name(ws), args.recommender, visrank_options=visrank_options)
    model = None if name is None else load_serving_model(ws, name)
    if model is not None:
        opts.show_model_line(model)
    ranker = None
    if args.engine == "ray":
        from artrec.recommend.ray_batch import ray_ranker

        ranker = ray_ranker(args.address)
    bar, progress = opts.progress_bar("recommend-all", not args.no_progress, "user")
    try:
        done = recommend_all_in_workspace(
            ws, opts.visrank_config(args), index=args.index, params=opts.parse_params(args.param),
            n_candidates=args.candidates, k=args.k, chunk_size=args.chunk_size,
            kinds=opts.kinds_of(args), split=args.split, run=args.run, resume=not args.no_resume,
            include_sold=args.include_sold, progress=progress, ranker=ranker, model=model,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    result = done.result
    row = {
        "run": done.name,
        "users": result.n_users,
        "skipped_users": done.skipped_users,
        "chunks": result.n_chunks,
        "computed": result.computed_chunks,
        "seconds": round(result.seconds, 3),
        "directory": str(result.directory),
    }
    opts.emit([row], args.format, title="batch recommendations")
    return 0
