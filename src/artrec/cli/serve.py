"""``artrec serve``: the REST API and web gallery, with uvicorn."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from artrec.cli import _common as opts
from artrec.errors import short_repr


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the REST API and the web gallery",
        description=(
            "Serve the REST API (OpenAPI docs at /docs) and the web gallery of a workspace "
            "with uvicorn. Likes and stock changes go to the workspace's SQLite database, "
            "or to PostgreSQL with --database-url. Recommendations come from the workspace's "
            "chosen model (`artrec tune`) when it has one, loaded once per worker, with a "
            "reason each; --recommender visrank or a VisRank option serves VisRank. /health "
            "names the model and whether it is stale."
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
    opts.add_recommender_arg(parser)
    opts.add_visrank_args(parser, explicit=True)
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
        "--admin-token-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="file holding the admin token (stock changes, anyone's data); default "
        "$ARTREC_ADMIN_TOKEN, else no admin",
    )
    parser.add_argument(
        "--max-writes-per-minute",
        type=_non_negative_int,
        default=60,
        metavar="N",
        help="writes one visitor or token user may make per minute, per worker (default 60; "
        "0: no limit)",
    )
    parser.add_argument(
        "--keep-alive-timeout",
        type=_seconds,
        default=5.0,
        metavar="S",
        help="seconds an idle keep-alive connection stays open (default 5)",
    )
    parser.add_argument(
        "--header-timeout",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="seconds a client has to send a request's headers (default 10)",
    )
    parser.add_argument(
        "--body-timeout",
        type=_seconds,
        default=30.0,
        metavar="S",
        help="seconds a client has to send a request's body (default 30; 408 after)",
    )
    parser.add_argument(
        "--request-threads",
        type=opts.positive_int,
        default=None,
        metavar="N",
        help="threads per worker for the bigger scoring requests; small ones are scored on "
        "the event loop (default: the CPUs, at most 8)",
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
        raise opts.missing_extra("serve", "web", exc) from None
    from artrec.data.workspace import Workspace
    from artrec.recommend.serving import VISRANK, chosen_model

    _limit_blas_threads(args.blas_threads)
    Workspace.open(args.workspace)
    visrank_options = opts.names_visrank(args)
    chosen_model(None, args.recommender, visrank_options=visrank_options)  # refuses a clash
    admin = None
    if args.admin_token_file is not None:
        admin = args.admin_token_file.read_text(encoding="utf-8").strip()
    settings = Settings(
        workspace=args.workspace.resolve(),
        database_url=args.database_url,
        max_k=args.max_k,
        visrank=opts.visrank_config(args),
        recommender=VISRANK if visrank_options else args.recommender,
        index=args.index,
        image_roots=tuple(p.resolve() for p in args.image_root),
        admin_token=admin,
        max_writes_per_minute=args.max_writes_per_minute,
        keep_alive_timeout=args.keep_alive_timeout,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        **({} if args.request_threads is None else {"request_threads": args.request_threads}),
    )
    serve(
        settings, host=args.host, port=args.port, workers=args.workers, log_level=args.log_level,
        on_ready=lambda line: print(f"artrec: {line}", file=sys.stderr),
    )  # fmt: skip
    return 0


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {short_repr(text)}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds in (0, 3600], got {short_repr(text)}")
    return value


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
