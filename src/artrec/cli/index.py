"""``artrec index``: build a similarity index of an embedding once and save it; list saved ones.

``artrec index build --index faiss-hnsw --param M=32 --param ef_search=128`` builds over the
workspace's default embedding and writes ``<workspace>/index/<embedding>--<kind>--<metric>/``.
``artrec index info`` lists the saved indexes with their parameters and sizes.
"""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``index`` subcommand with its ``build`` and ``info`` actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "index",
        help="build and save a similarity index (exact or FAISS); list saved indexes",
        description=(
            "Build a similarity index over an embedding of the workspace once and save it under "
            "the workspace's index/ folder (`index build`), or list the saved indexes "
            "(`index info`)."
        ),
    )
    actions = parser.add_subparsers(
        dest="index_action", metavar="ACTION", parser_class=type(parser)
    )
    build = actions.add_parser(
        "build",
        help="build an index over an embedding and save it",
        description=(
            "Build an index of kind --index over the vectors of --embedding (default: the "
            "workspace's default embedding) and save it. FAISS parameters are given as "
            "--param NAME=VALUE: nlist, nprobe, train_size (faiss-ivf); M, ef_construction, "
            "ef_search (faiss-hnsw); over_fetch, seed (all FAISS kinds). FAISS indexes tune "
            "the parameters not given to reach --target-recall (recall@10 on queries sampled "
            "from the catalogue, measured against exact search) at the lowest search time."
        ),
    )
    opts.add_workspace_arg(build)
    opts.add_visrank_args(build, aggregation=False)
    opts.add_index_arg(build, "faiss-hnsw")
    opts.add_param_arg(
        build, "index parameter, repeatable (e.g. --param M=32 --param ef_search=128)"
    )
    build.add_argument(
        "--name",
        default=None,
        help="directory name under index/ (default <embedding>--<kind>--<metric>)",
    )
    build.add_argument(
        "--target-recall",
        type=float,
        default=0.95,
        metavar="R",
        help="recall@10 a FAISS index tunes itself to (default 0.95; 0: no tuning)",
    )
    opts.add_format_arg(build)
    build.set_defaults(handler=run_build)
    info = actions.add_parser(
        "info",
        help="list the saved indexes",
        description="List the indexes saved in the workspace with their kind, metric, parameters and size.",
    )
    opts.add_workspace_arg(info)
    info.add_argument("--embedding", default=None, help="only the indexes of this embedding")
    opts.add_format_arg(info)
    info.set_defaults(handler=run_info)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_build(args: argparse.Namespace) -> int:
    """Handle ``artrec index build``."""
    from artrec.data.workspace import Workspace
    from artrec.index.store import build_saved_index

    ws = Workspace.open(args.workspace)
    params = opts.parse_params(args.param)
    if args.index in ("faiss-ivf", "faiss-hnsw"):
        params.setdefault("target_recall", args.target_recall or None)
    built = build_saved_index(
        ws, embedding=args.embedding, kind=args.index, metric=args.metric,
        params=params, name=args.name,
    )  # fmt: skip
    row: dict[str, Any] = {
        "name": built.directory.name,
        "kind": built.kind,
        "metric": built.metric,
        "n_items": built.n_items,
        "dim": built.dim,
        "build_s": round(built.seconds, 3),
    }
    if built.kind.startswith("faiss-"):
        from artrec.index.faiss_index import index_tuning

        tuning = index_tuning(built.directory)
        if tuning:
            row["recall@10"] = tuning["recall"]
            row["tuned"] = " ".join(f"{k}={v}" for k, v in tuning["params"].items())
    row["directory"] = str(built.directory)
    opts.emit([row], args.format, title=f"saved index of embedding {built.embedding}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Handle ``artrec index info``."""
    from artrec.data.workspace import Workspace
    from artrec.index.store import saved_indexes

    ws = Workspace.open(args.workspace)
    rows = [saved.summary() for saved in saved_indexes(ws, args.embedding)]
    if not rows and args.format == "table":
        print(f"no saved indexes in {ws.index_dir}; build one with `artrec index build`")
        return 0
    opts.emit(rows, args.format, title=f"saved indexes in {ws.index_dir}")
    return 0
