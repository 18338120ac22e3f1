"""The ``artrec`` command-line tool.

Each subcommand lives in its own module of this package, which defines
``register(subparsers)`` (adding its parser and setting ``handler``) and keeps heavy imports
inside the handler. Errors caused by bad input (:class:`~artrec.errors.ArtrecError`, a
missing file) become a one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from artrec import __version__
from artrec.errors import ArtrecError

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
    "serve",
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"artrec.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except ArtrecError as exc:
        print(f"artrec: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"artrec: error: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("artrec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
