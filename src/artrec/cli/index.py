"""``artrec index``: build a similarity index of an embedding once and save it; list saved ones.

``artrec index build --index faiss-hnsw --param M=32 --param ef_search=128`` builds over the
workspace's default embedding and writes ``<workspace>/index/<embedding>--<kind>--<metric>/``.
``artrec index info`` lists the saved indexes with their parameters and sizes.
"""

from __future__ import annotations

import argparse
from typing import Any

from artrec.cli._common import add_format_arg, add_workspace_arg, emit
from artrec.similarity import METRICS

#: Index kinds offered on the command line (kept in step with artrec.index.factory).
_INDEX_CHOICES = ("exact", "faiss-flat", "faiss-ivf", "faiss-hnsw")


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
            "ef_search (faiss-hnsw); over_fetch, seed (all FAISS kinds)."
        ),
    )
    add_workspace_arg(build)
    build.add_argument(
        "--embedding", default=None, help="embedding name (default: the workspace's default)"
    )
    build.add_argument(
        "--index",
        choices=_INDEX_CHOICES,
        default="faiss-hnsw",
        help="index kind (default faiss-hnsw)",
    )
    build.add_argument(
        "--metric", choices=METRICS, default="cosine", help="similarity metric (default cosine)"
    )
    build.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="index parameter, repeatable (e.g. --param M=32 --param ef_search=128)",
    )
    build.add_argument(
        "--name",
        default=None,
        help="directory name under index/ (default <embedding>--<kind>--<metric>)",
    )
    add_format_arg(build)
    build.set_defaults(handler=run_build)
    info = actions.add_parser(
        "info",
        help="list the saved indexes",
        description="List the indexes saved in the workspace with their kind, metric, parameters and size.",
    )
    add_workspace_arg(info)
    info.add_argument("--embedding", default=None, help="only the indexes of this embedding")
    add_format_arg(info)
    info.set_defaults(handler=run_info)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["M=32", "dtype=float64"]`` -> ``{"M": 32, "dtype": "float64"}`` (integers converted).

    Raises :class:`~artrec.errors.DataError` naming an item without ``=``.
    """
    from artrec.errors import DataError

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise DataError(f"index parameter {item!r} must look like NAME=VALUE")
        try:
            out[name] = int(value)
        except ValueError:
            out[name] = value
    return out


def resolve_embedding(workspace: Any, name: str | None) -> str:
    """The embedding to use: ``name``, else the workspace default, else the only one there is."""
    from artrec.errors import DataError
    from artrec.vectors import FeatureSet

    available = FeatureSet.available(workspace.embeddings_dir)
    if name is not None:
        if name not in available:
            raise DataError(
                f"no embedding {name!r} in workspace {workspace.root} "
                f"(available: {', '.join(available) or 'none'})"
            )
        return name
    default = workspace.get_meta("default_embedding")
    if default is not None and default in available:
        return str(default)
    if len(available) == 1:
        return available[0]
    if not available:
        raise DataError(
            f"workspace {workspace.root} has no embedding; create one with `artrec embed`"
        )
    raise DataError(
        "several embeddings and no default: choose one with --embedding: " + ", ".join(available)
    )


def run_build(args: argparse.Namespace) -> int:
    """Handle ``artrec index build``."""
    import time

    from artrec.data.workspace import Workspace
    from artrec.index.factory import make_index
    from artrec.index.store import save_index
    from artrec.vectors import FeatureSet

    ws = Workspace.open(args.workspace)
    embedding = resolve_embedding(ws, args.embedding)
    params = parse_params(args.param)
    vectors = FeatureSet.load(ws.embeddings_dir, embedding)
    vectors.check_finite()
    index = make_index(args.index, args.metric, **params)
    start = time.perf_counter()
    index.build(vectors.matrix, vectors.item_ids)
    seconds = time.perf_counter() - start
    directory = save_index(
        ws,
        index,
        embedding=embedding,
        kind=args.index,
        name=args.name,
        extra={"build_seconds": seconds},
    )
    ws.record_run(
        "index-build",
        {"embedding": embedding, "kind": args.index, "metric": args.metric, **params},
        {"n_items": index.n_items, "seconds": seconds, "directory": str(directory)},
    )
    emit(
        [
            {
                "name": directory.name,
                "kind": args.index,
                "metric": args.metric,
                "n_items": index.n_items,
                "dim": index.dim,
                "build_s": round(seconds, 3),
                "directory": str(directory),
            }
        ],
        args.format,
        title=f"saved index of embedding {embedding}",
    )
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Handle ``artrec index info``."""
    from artrec.data.workspace import Workspace
    from artrec.index.store import saved_indexes

    ws = Workspace.open(args.workspace)
    rows: list[dict[str, Any]] = []
    for saved in saved_indexes(ws, args.embedding):
        info = saved.info
        size = sum(p.stat().st_size for p in saved.directory.iterdir() if p.is_file())
        params = info.get("params") or {
            k: info[k] for k in ("batch_size", "item_block", "dtype") if k in info
        }
        hidden = info.get("hidden", info.get("hidden_rows", []))
        rows.append(
            {
                "name": saved.name,
                "embedding": saved.embedding,
                "kind": saved.kind,
                "metric": saved.metric,
                "n_items": info.get("n_items"),
                "hidden": len(hidden) if isinstance(hidden, list) else 0,
                "removed": info.get("n_removed", 0),
                "dim": info.get("dim"),
                "params": " ".join(f"{k}={v}" for k, v in params.items() if v is not None),
                "size_mb": round(size / 2**20, 2),
            }
        )
    if not rows and args.format == "table":
        print(f"no saved indexes in {ws.index_dir}; build one with `artrec index build`")
        return 0
    emit(rows, args.format, title=f"saved indexes in {ws.index_dir}")
    return 0
