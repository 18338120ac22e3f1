"""``artrec info``: what a workspace holds."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``info`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "info",
        help="what a workspace holds: items, users, events, features, embeddings, models",
        description=(
            "Describe a workspace without changing it: items and users, events by kind and "
            "split, feature sets, embeddings, trained models, saved indexes (with their "
            "recall tuning when an approximate index recorded one), the default "
            "configuration, how the data was imported and whether it is simulated."
        ),
    )
    opts.add_workspace_arg(parser)
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="output format (default: readable tables)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec info``."""
    from artrec.info import workspace_info

    info = workspace_info(args.workspace)
    if args.format == "json":
        sys.stdout.write(json.dumps(info.as_dict(), indent=2) + "\n")
        return 0
    for title, rows in _sections(info):
        opts.emit(rows, "table", title=title)
        print()
    return 0


def _sections(info: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """The table output: one titled table per part of the workspace."""
    stock = f"{info.n_in_stock} in stock" if info.stock_known else "stock not known"
    simulated = info.simulated
    if info.simulated in ("yes", "partly"):
        simulated += f" ({info.n_simulated_events} of {info.n_events} events SIMULATED)"
    overview = [
        {"what": "workspace", "value": str(info.root)},
        {"what": "items", "value": f"{info.n_items} ({stock})"},
        {"what": "users", "value": str(info.n_users)},
        {"what": "events", "value": str(info.n_events)},
        {"what": "simulated", "value": simulated},
        {"what": "default embedding", "value": info.default_embedding or "none"},
        {"what": "default configuration", "value": info.default_config or "none"},
    ]
    settings = info.import_settings or {}
    if settings:
        threshold = settings.get("positive_threshold")
        overview += [
            {
                "what": "imported ratings",
                "value": "no ratings"
                if threshold is None
                else f"ratings >= {threshold:g} are {settings.get('positive_kind')} events",
            },
            {"what": "min positives per user", "value": str(settings.get("min_user_positives"))},
            {"what": "split rule", "value": str(settings.get("split_rule"))},
        ]
    events = [
        {"kind": kind, "split": split, "events": n}
        for kind, by_split in info.events.items()
        for split, n in by_split.items()
    ]
    arrays = [
        {"what": what, "name": a.name, "items": a.n_items, "dim": a.dim, "from": a.source}
        for what, sets in (("features", info.feature_sets), ("embedding", info.embeddings))
        for a in sets
    ]
    models = [{"model": m.name, "kind": m.kind} for m in info.models]
    indexes = [
        {
            "index": i.name,
            "embedding": i.embedding,
            "kind": i.kind,
            "metric": i.metric,
            "items": i.n_items,
            "tuning": _tuning(i.tuning),
        }
        for i in info.indexes
    ]
    return [
        ("workspace", overview),
        ("events by kind and split", events),
        ("feature sets and embeddings", arrays),
        ("trained models", models),
        ("saved indexes", indexes),
    ]


def _tuning(tuning: dict[str, Any] | None) -> str:
    """``recall@10 0.962 (>= 0.951 at 95%; target 0.95), ef_search=64`` or ``none``."""
    if not tuning:
        return "none"
    k = tuning.get("k", "k")
    text = f"recall@{k} {tuning.get('recall')}"
    if tuning.get("recall_low") is not None:
        text += f" (>= {tuning['recall_low']} at 95%"
        if tuning.get("target_recall") is not None:
            text += f"; target {tuning['target_recall']}"
        text += ")"
    params = tuning.get("params") or {}
    if isinstance(params, dict) and params:
        text += ", " + ", ".join(f"{name}={value}" for name, value in params.items())
    return text
