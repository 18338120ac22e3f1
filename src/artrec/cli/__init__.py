"""The ``artrec`` command-line tool.

Each subcommand lives in its own module of this package, which defines
``register(subparsers)`` (adding its parser and setting ``handler``) and keeps heavy imports
inside the handler.

Errors: bad input raises an :class:`~artrec.errors.ArtrecError` in the library, which
:func:`main` prints as one line (``artrec: error: ...``) with exit code 2. The operating
system's refusals (a missing or unwritable file, a name too long, a full disk) and a
database that cannot be used are bad input too: one line, exit code 2. Anything else is a
bug in artrec: one line saying so, exit code 1, and the traceback with ``--debug`` or
``ARTREC_DEBUG=1`` (which also print the traceback of the errors above).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from artrec import __version__
from artrec.errors import ArtrecError, short_repr

#: Environment variable that turns on tracebacks (like ``--debug``).
DEBUG_ENV = "ARTREC_DEBUG"

#: Subcommand modules, in the order ``artrec --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "import_collection",
    "import_seed",
    "info",
    "items",
    "users",
    "embed",
    "similar",
    "recommend",
    "evaluate",
    "compare",
    "tune",
    "train",
    "serve",
    "token",
    "index",
    "batch_recommend",
    "extract",
    "demo",
    "report",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"artrec: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full ``artrec`` argument parser."""
    parser = _Parser(prog="artrec", description="Content-based recommender for visual art.")
    parser.add_argument("--version", action="version", version=f"artrec {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"print the traceback of any error (also with {DEBUG_ENV}=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"artrec.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 done, 2 bad input, 1 a bug)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    debug = bool(args.debug) or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("artrec: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every error ends here as one line; see the module docstring
        if debug:
            traceback.print_exc()
        message, code = describe_error(exc)
        print(message, file=sys.stderr)
        return code


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The one line the CLI prints for ``exc``, and its exit code (2 bad input, 1 a bug)."""
    if isinstance(exc, ArtrecError):
        return f"artrec: error: {_one_line(str(exc))}", 2
    if isinstance(exc, OSError):
        return f"artrec: error: {_os_error(exc)}", 2
    if isinstance(exc, MemoryError):
        return (
            "artrec: error: not enough memory for this input (lower k, the chunk size or the input)",
            2,
        )
    database = _database_error(exc)
    if database is not None:
        return f"artrec: error: {database}", 2
    return (
        f"artrec: internal error: {type(exc).__name__}: {short_repr(_one_line(str(exc)), 200)} "
        f"(a bug in artrec; run again with --debug or {DEBUG_ENV}=1 for the traceback)",
        1,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def _os_error(exc: OSError) -> str:
    what = exc.strerror or type(exc).__name__
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    if not names:
        return _one_line(str(exc)) or what
    return f"{what}: " + " -> ".join(
        short_repr(str(n) if isinstance(n, int) else os.fsdecode(n), 200) for n in names
    )


def _database_error(exc: BaseException) -> str | None:
    """A database error the library did not translate (``None`` when ``exc`` is not one)."""
    import sqlite3

    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        exc = exc.orig
    if isinstance(exc, sqlite3.Error) and type(exc) in (
        sqlite3.OperationalError,
        sqlite3.DatabaseError,
    ):
        text = " ".join(str(exc).split())
        return f"database error: {text[:200]}"
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
