"""``artrec token``: a signed API token for the server (see docs/server.md)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``token`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "token",
        help="make a signed API token for the server (a user's, or a gallery back end's)",
        description=(
            "Print a bearer token that `artrec serve` on this workspace accepts: it acts as "
            "--user (or as any user with --user '*') with the given scopes until it expires. "
            "It is signed with the server's secret ($ARTREC_SECRET_KEY, else the workspace's "
            "server-secret file, made here when missing). Send it as "
            "'Authorization: Bearer <token>'."
        ),
    )
    opts.add_workspace_arg(parser)
    parser.add_argument(
        "--user", required=True, help="the user id the token acts as ('*': any user)"
    )
    parser.add_argument(
        "--scope",
        nargs="+",
        choices=("read", "write", "admin"),
        default=["read", "write"],
        help="what the token may do (default: read write)",
    )
    parser.add_argument(
        "--ttl",
        type=opts.positive_int,
        default=24 * 3600,
        metavar="SECONDS",
        help="lifetime in seconds (default one day, at most one year)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the token."""
    try:
        from artrec.server.auth import SECRET_ENV, SECRET_FILE, Auth, load_secret
    except ImportError as exc:
        raise opts.missing_extra("token", "web", exc) from None
    from artrec.data.workspace import Workspace
    from artrec.errors import ArtrecError

    workspace = Workspace.open(args.workspace)
    secret = load_secret(None, workspace.root)
    if not os.environ.get(SECRET_ENV) and not (workspace.root / SECRET_FILE).is_file():
        raise ArtrecError(
            f"workspace {workspace.root} has no {SECRET_FILE} file and cannot be written, so the "
            f"server would not accept this token; set {SECRET_ENV} for both"
        )
    auth = Auth(secret)
    print(auth.issue_token(args.user, args.scope, args.ttl))
    return 0
