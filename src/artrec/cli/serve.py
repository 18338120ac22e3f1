"""``artrec serve``: the REST API and web gallery, with uvicorn."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from artrec.cli import _common as opts


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the REST API and the web gallery",
        description=(
            "Serve the REST API (OpenAPI docs at /docs) and the web gallery of a workspace "
            "with uvicorn. Likes and stock changes go to the workspace's SQLite database, "
            "or to PostgreSQL with --database-url."
        ),
    )
    opts.add_workspace_arg(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=opts.positive_int, default=8000, help="port (default: 8000)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ARTREC_DATABASE_URL"),
        help="postgresql://user:pass@host/db for the store (default: $ARTREC_DATABASE_URL, "
        "else the workspace's SQLite)",
    )
    opts.add_index_arg(parser, "exact", help="similarity index (default: exact)")
    opts.add_visrank_args(parser)
    parser.add_argument(
        "--image-root",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="another directory images may be served from (repeatable); the workspace's "
        "images/ folder always is",
    )
    parser.add_argument(
        "--max-k", type=opts.positive_int, default=100, help="cap on k (default: 100)"
    )
    parser.add_argument(
        "--workers", type=opts.positive_int, default=1, help="uvicorn worker processes (default: 1)"
    )
    parser.add_argument(
        "--blas-threads",
        type=opts.positive_int,
        default=1,
        help="BLAS/OpenMP threads per worker (default: 1; requests run in parallel instead, "
        "and multi-threaded BLAS on one query vector mostly spins)",
    )
    parser.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default="info",
        help="uvicorn log level (default: info)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Start the server; returns when it stops."""
    try:
        from artrec.server.app import serve
        from artrec.server.settings import Settings
    except ImportError as exc:
        from artrec.errors import MissingDependencyError

        raise MissingDependencyError(
            f"artrec serve needs the web extra ({exc.name} is missing): pip install 'artrec[web]'"
        ) from None
    from artrec.data.workspace import Workspace

    _limit_blas_threads(args.blas_threads)
    Workspace.open(args.workspace)
    settings = Settings(
        workspace=args.workspace.resolve(),
        database_url=args.database_url,
        max_k=args.max_k,
        visrank=opts.visrank_config(args),
        index=args.index,
        image_roots=tuple(p.resolve() for p in args.image_root),
    )
    serve(
        settings, host=args.host, port=args.port, workers=args.workers, log_level=args.log_level,
        on_ready=lambda line: print(f"artrec: {line}", file=sys.stderr),
    )  # fmt: skip
    return 0


_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _limit_blas_threads(n: int) -> None:
    """Cap BLAS threads: through the environment for worker processes spawned later, and
    with threadpoolctl for this process, whose numpy may already be loaded."""
    for name in _BLAS_ENV:
        os.environ[name] = str(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(limits=n)
