"""Helpers shared by the subcommands: workspace option, output formats, tables."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_WORKSPACE_ENV = "ARTREC_WORKSPACE"
DEFAULT_WORKSPACE = "artrec-workspace"


def add_workspace_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``-w/--workspace`` (default: ``$ARTREC_WORKSPACE`` or ``./artrec-workspace``)."""
    parser.add_argument(
        "-w",
        "--workspace",
        type=Path,
        default=Path(os.environ.get(DEFAULT_WORKSPACE_ENV, DEFAULT_WORKSPACE)),
        help=f"workspace directory (default: ${DEFAULT_WORKSPACE_ENV} or ./{DEFAULT_WORKSPACE})",
    )


def add_format_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--format table|json|csv``."""
    parser.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="output format (default: a human-readable table)",
    )


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def emit(
    rows: Sequence[dict[str, Any]], fmt: str, *, title: str | None = None, out: Any = None
) -> None:
    """Write ``rows`` (dicts with the same keys) as a table, JSON or CSV."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(json.dumps(list(rows), indent=2, default=_jsonable) + "\n")
        return
    if fmt == "csv":
        if not rows:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0].keys()), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
        out.write(buf.getvalue())
        return
    if title:
        out.write(title + "\n")
    out.write(format_table(rows) + "\n")


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table with aligned columns (numbers right-aligned)."""
    if not rows:
        return "(no rows)"
    headers = list(rows[0].keys())
    cells = [[_cell(r.get(h)) for h in headers] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    numeric = [all(_is_number(r.get(h)) for r in rows) for h in headers]

    def fmt_row(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    lines = [fmt_row(headers), fmt_row(["-" * w for w in widths])]
    lines.extend(fmt_row(c) for c in cells)
    return "\n".join(lines)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _jsonable(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
