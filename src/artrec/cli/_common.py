"""What the subcommands share: every common option (defined here once), output formats,
tables and progress bars. Choices come from their owners in the library (metric names from
:mod:`artrec.similarity`, aggregations from :mod:`artrec.config`, index kinds from
:mod:`artrec.index.factory`, recommender kinds from :mod:`artrec.evaluation.configs`)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from artrec.config import AGGREGATIONS, DEFAULT_AGGREGATION, DEFAULT_METRIC, VisRankConfig
from artrec.similarity import METRICS

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


def add_k_arg(
    parser: argparse.ArgumentParser, what: str = "list length", default: int = 10
) -> None:
    """Add ``-k`` (a positive integer)."""
    parser.add_argument(
        "-k", type=positive_int, default=default, help=f"{what} (default {default})"
    )


def add_visrank_args(
    parser: argparse.ArgumentParser,
    *,
    aggregation: bool = True,
    plural: bool = False,
    explicit: bool = False,
) -> None:
    """Add the VisRank options: ``--embedding``, ``--metric``, ``--aggregation`` and ``-m``
    (with ``plural``: ``--embeddings``, ``--metrics``, ``--aggregations``, several each).

    With ``explicit`` the options default to ``None`` (the documented defaults are filled in
    by :func:`visrank_config`), so that :func:`names_visrank` can tell whether one was given.
    """
    if plural:
        parser.add_argument(
            "--embeddings",
            nargs="+",
            default=None,
            metavar="NAME",
            help="embeddings to compare (default: the workspace's default embedding)",
        )
        parser.add_argument(
            "--metrics",
            nargs="+",
            choices=METRICS,
            default=[DEFAULT_METRIC],
            metavar="METRIC",
            help=f"similarity metrics ({', '.join(METRICS)}; default {DEFAULT_METRIC})",
        )
        parser.add_argument(
            "--aggregations",
            nargs="+",
            choices=AGGREGATIONS,
            default=[DEFAULT_AGGREGATION],
            metavar="AGG",
            help=f"aggregations ({', '.join(AGGREGATIONS)}; default {DEFAULT_AGGREGATION})",
        )
    else:
        parser.add_argument(
            "--embedding", default=None, help="embedding name (default: the workspace's default)"
        )
        parser.add_argument(
            "--metric",
            choices=METRICS,
            default=None if explicit else DEFAULT_METRIC,
            help=f"similarity metric (default {DEFAULT_METRIC})",
        )
        if aggregation:
            parser.add_argument(
                "--aggregation",
                choices=AGGREGATIONS,
                default=None if explicit else DEFAULT_AGGREGATION,
                help="how similarities to the profile are combined (default "
                f"{DEFAULT_AGGREGATION}, the notebook's)",
            )
    if aggregation:
        parser.add_argument(
            "-m",
            "--m",
            type=positive_int,
            default=None if explicit else 3,
            help="m of topm_mean (default 3)",
        )


def add_features_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--features NAME``: search a raw feature set instead of an embedding."""
    parser.add_argument(
        "--features",
        default=None,
        metavar="NAME",
        help="search this raw feature set of the workspace (e.g. resnet50) as stored, without "
        "the embedding's z-score and PCA, as the notebook's find_similar_images does "
        "(instead of --embedding)",
    )


def add_history_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--history all|train`` (which of a user's events form the profile)."""
    from artrec.data.splits import HISTORIES

    parser.add_argument(
        "--history",
        choices=HISTORIES,
        default="all",
        help="which of a user's events form the profile: all (default: a recommendation "
        "uses everything known) or train (the events not held out for evaluation; on the "
        "notebook's assets, its past_transactions, so the result is the notebook's "
        "recommend())",
    )


def visrank_config(args: argparse.Namespace) -> VisRankConfig:
    """The :class:`~artrec.config.VisRankConfig` named by :func:`add_visrank_args` options
    (options not given keep :class:`~artrec.config.VisRankConfig`'s defaults)."""
    return VisRankConfig().override(
        embedding=args.embedding,
        metric=args.metric,
        aggregation=getattr(args, "aggregation", None),
        m=getattr(args, "m", None),
    )


def add_recommender_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--recommender visrank|NAME`` (with :func:`add_visrank_args` ``explicit=True``).

    The rule is :func:`artrec.recommend.serving.chosen_model`: by default the workspace's chosen
    model (saved by ``artrec tune``) when it has one and no VisRank option is given, else
    VisRank.
    """
    from artrec.recommend.serving import VISRANK

    parser.add_argument(
        "--recommender",
        default=None,
        metavar="NAME",
        help=f"{VISRANK} (content only), or a saved model's name (default: the workspace's "
        "chosen model from `artrec tune` when it has one and no VisRank option (--embedding, "
        f"--metric, --aggregation, -m, --features) is given, else {VISRANK})",
    )


def names_visrank(args: argparse.Namespace) -> bool:
    """Whether the command line gives a VisRank option (see :func:`add_recommender_arg`)."""
    names = ("embedding", "metric", "aggregation", "m", "features")
    return any(getattr(args, name, None) is not None for name in names)


def show_model_line(serving: Any) -> None:
    """One line on stderr naming the chosen model, and its staleness advice when stale."""
    line = f"artrec: recommending with model {serving.info.name!r} ({serving.info.kind})"
    if serving.staleness:
        line += f"; {serving.staleness}"
    print(line, file=sys.stderr)


def _kind_list(text: str) -> list[str]:
    return [k.strip() for k in text.split(",") if k.strip()]


def add_kinds_arg(parser: argparse.ArgumentParser, default: Sequence[str], what: str) -> None:
    """Add ``--kinds`` (event kinds; several, separated by spaces or commas)."""
    parser.add_argument(
        "--kinds",
        nargs="+",
        type=_kind_list,
        default=[list(default)],
        metavar="KIND",
        help=f"event kinds that {what} (default: {' '.join(default)})",
    )


def kinds_of(args: argparse.Namespace) -> tuple[str, ...]:
    """The event kinds of ``--kinds``, flattened and in order, each once."""
    kinds = tuple(dict.fromkeys(k for group in args.kinds for k in group))
    if not kinds:
        from artrec.errors import DataError

        raise DataError("--kinds names no event kind")
    return kinds


def add_index_arg(
    parser: argparse.ArgumentParser, default: str, *, extra: Sequence[str] = (), help: str = ""
) -> None:
    """Add ``--index`` (an index kind of :data:`artrec.index.factory.INDEX_KINDS`)."""
    from artrec.index.factory import INDEX_KINDS

    parser.add_argument(
        "--index",
        choices=(*extra, *INDEX_KINDS),
        default=default,
        help=help or f"index kind (default {default})",
    )


def add_allow_private_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--allow-private-hosts`` (image URLs may point at loopback and private addresses)."""
    parser.add_argument(
        "--allow-private-hosts",
        action="store_true",
        help="also download image URLs from loopback and private addresses (an intranet "
        "catalogue); link-local, multicast and reserved addresses stay refused",
    )


def fetch_options(args: argparse.Namespace) -> Any:
    """The :class:`~artrec.images.fetch.FetchOptions` of ``--allow-private-hosts``."""
    from artrec.images.fetch import FetchOptions

    return FetchOptions(allow_private=bool(args.allow_private_hosts))


def add_max_events_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--max-events`` (the loaders' event limit; default ``$ARTREC_MAX_EVENTS`` or 10M)."""
    from artrec.limits import DEFAULT_MAX_EVENTS, MAX_EVENTS_ENV

    parser.add_argument(
        "--max-events",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"refuse input that makes more than N events (default ${MAX_EVENTS_ENV} or "
        f"{DEFAULT_MAX_EVENTS:,})",
    )


def add_param_arg(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--param NAME=VALUE`` (repeatable)."""
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=help)


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["M=32", "l2=0.5", "dtype=float64"]`` -> ``{"M": 32, "l2": 0.5, "dtype": "float64"}``.

    Raises :class:`~artrec.errors.DataError` naming an item without ``=``.
    """
    from artrec.errors import DataError, short_repr

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise DataError(f"parameter {short_repr(item)} must look like NAME=VALUE")
        out[name] = _number(value)
    return out


def parse_columns(items: list[str]) -> dict[str, str | None] | None:
    """``["title=Titel", "year="]`` -> ``{"title": "Titel", "year": None}`` (``None`` for no
    items): a role read from a file column, or left unread (``ROLE=``).

    Raises :class:`~artrec.errors.DataError` naming an item without ``=`` or a role.
    """
    from artrec.errors import DataError

    out: dict[str, str | None] = {}
    for item in items:
        role, sep, column = item.partition("=")
        if not sep or not role.strip():
            raise DataError(f"column mapping {item!r} must look like ROLE=NAME (or ROLE=)")
        out[role.strip()] = column.strip() or None
    return out or None


def parse_weights(items: list[str]) -> dict[str, float] | None:
    """``["handcrafted=5"]`` -> ``{"handcrafted": 5.0}`` (``None`` for no items).

    Raises :class:`~artrec.errors.DataError` naming an item that is not ``NAME=NUMBER``.
    """
    from artrec.errors import DataError

    out: dict[str, float] = {}
    for name, value in parse_params(items).items():
        if isinstance(value, str):
            raise DataError(f"weight {name}={value!r} must be a number")
        out[name] = float(value)
    return out or None


def _number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def add_protocol_args(parser: argparse.ArgumentParser) -> None:
    """Options of ``evaluate`` and ``compare``: protocol, k, kinds, chunk size, no-record."""
    from artrec.evaluation.protocols import PROTOCOLS

    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=None,
        help=(
            "given: the log's own train/test split (the notebook's ground truth); "
            "leave-last-out: each user's last purchase by time; time-replay: every repeat "
            "purchase ranked against the stock of its moment (default: the one that fits "
            "the data, given when the events carry a split, else leave-last-out; the choice "
            "is printed)"
        ),
    )
    parser.add_argument(
        "--windows",
        type=positive_int,
        default=None,
        metavar="N",
        help=(
            "time replay with refits: cut the test period into N windows and fit every "
            "recommender on the events of every kind before each window, so a collaborative "
            "model or the tuned hybrid learns only from the past of the cases it ranks (N fits "
            "per recommender; implies --protocol time-replay; default: plain time replay, "
            "fitted on no event)"
        ),
    )
    add_k_arg(parser)
    add_kinds_arg(parser, ("purchase",), "are treated as purchases")
    parser.add_argument(
        "--chunk-size",
        type=positive_int,
        default=256,
        help="cases scored at once; bounds memory (default 256)",
    )
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="do not store the run in the workspace's runs table",
    )
    add_progress_arg(parser)


def add_progress_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--progress/--no-progress`` (default: a bar when stderr is a terminal)."""
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar on stderr (default: shown when stderr is a terminal)",
    )


def progress_wanted(args: argparse.Namespace) -> bool:
    """Whether ``--progress/--no-progress`` (or, by default, a terminal on stderr) asks for a bar."""
    wanted = getattr(args, "progress", None)
    return sys.stderr.isatty() if wanted is None else bool(wanted)


def protocol_note(asked: str | int | None, used: str) -> None:
    """When no ``--protocol`` (nor ``--windows``) was given, say on stderr which one was
    chosen and why."""
    if asked is None:
        from artrec.evaluation.protocols import DEFAULT_PROTOCOL_REASONS

        reason = DEFAULT_PROTOCOL_REASONS.get(used, "")
        print(
            f"protocol: {used} ({reason}; choose another with --protocol)",
            file=sys.stderr,
        )


def progress_bar(
    desc: str, enabled: bool = True, unit: str = "it"
) -> tuple[Any, Callable[[int, int], None] | None]:
    """A tqdm bar on stderr and its ``progress(done, total)`` callback (``(None, None)``
    when not ``enabled``); close the bar when done."""
    if not enabled:
        return None, None
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return bar, update


def add_page_args(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--offset`` and ``--limit`` (one page of a listing)."""
    parser.add_argument(
        "--offset", type=non_negative_int, default=0, help=f"{what} to skip (default 0)"
    )
    parser.add_argument(
        "--limit", type=positive_int, default=20, help=f"{what} per page (default 20)"
    )


def page_title(page: Any, shown: int, what: str) -> str:
    """``12 users; 1-12 shown`` or ``2 of 40 artworks ...; 21-22 shown, next: --offset 22``."""
    if not shown:
        return f"{page.total} {what}; none shown at offset {page.offset}"
    text = f"{page.total} {what}; {page.offset + 1}-{page.offset + shown} shown"
    if page.offset + shown < page.total:
        text += f" (next page: --offset {page.offset + shown})"
    return text


def notes(lines: Sequence[str], fmt: str) -> None:
    """Print ``note: ...`` lines on stderr (table format only)."""
    if fmt == "table":
        for line in lines:
            print(f"note: {line}", file=sys.stderr)


def emit_result(payload: dict[str, Any], csv_rows: Sequence[dict[str, Any]], fmt: str) -> bool:
    """Write ``payload`` as JSON or ``csv_rows`` as CSV; ``False`` (nothing written) for tables."""
    if fmt == "json":
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    elif fmt == "csv":
        emit(csv_rows, "csv")
    return fmt != "table"


def skipped_text(skipped: dict[str, int]) -> str:
    """``reason=count, ...`` (sorted), or ``none``."""
    return ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())) or "none"


def simulated_note(simulated: bool) -> str | None:
    """The warning line shown with results on simulated interactions."""
    return (
        "NOTE: the interactions in this workspace are SIMULATED, not real purchases"
        if simulated
        else None
    )


def titled(catalog: Any, row: dict[str, Any], item_key: str = "item_id") -> dict[str, Any]:
    """``row`` with the ``title`` and ``artist`` of its item, where the catalogue has them."""
    item_id = row[item_key]
    record = catalog.record(int(catalog.rows_of([item_id])[0]))
    for field in ("title", "artist"):
        if catalog.column(field) is not None:
            row[field] = record.get(field)
    return row


def _argument(text: str, cast: Callable[[str], Any], ok: Callable[[Any], bool], what: str) -> Any:
    try:
        value = cast(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        from artrec.errors import short_repr

        raise argparse.ArgumentTypeError(f"expected {what}, got {short_repr(text)}")
    return value


def unit_interval(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    return float(_argument(text, float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]"))


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return int(_argument(text, int, lambda v: v >= 0, "an integer >= 0"))


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return int(_argument(text, int, lambda v: v >= 1, "a positive integer"))


def seed_int(text: str) -> int:
    """argparse type: a seed, an integer in [0, 2**64)."""
    return int(_argument(text, int, lambda v: 0 <= v < 2**64, "an integer from 0 to 2**64 - 1"))


def record_run(args: argparse.Namespace, workspace: Any) -> bool:
    """Whether to store the run: not with ``--no-record``, nor in a read-only workspace
    (said on stderr; the results are still computed and printed)."""
    if args.no_record:
        return False
    if workspace.read_only:
        print(
            f"note: workspace {workspace.root} is read-only; the run is not recorded",
            file=sys.stderr,
        )
        return False
    return True


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


def missing_extra(command: str, extra: str, exc: ImportError) -> Exception:
    """The one-line error for ``artrec COMMAND`` when a module of ``extra`` is missing."""
    from artrec.errors import MissingDependencyError

    return MissingDependencyError(
        f"artrec {command} needs the {extra} extra ({exc.name} is missing): "
        f"pip install 'artrec[{extra}]'"
    )
