"""``artrec evaluate``: one recommender on held-out purchases, metrics with 95% CIs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from artrec.cli._common import add_format_arg, add_workspace_arg, emit, positive_int
from artrec.similarity import METRICS

if TYPE_CHECKING:
    from artrec.data.workspace import Workspace
    from artrec.evaluation.protocols import Split

#: Kept in step with artrec.evaluation.protocols.PROTOCOLS / compare.AGGREGATIONS / KINDS
#: (not imported, so ``artrec --help`` stays light).
PROTOCOL_CHOICES = ("given", "leave-last-out", "time-replay")
AGGREGATION_CHOICES = ("sum_distance", "sum", "mean", "max", "topm_mean")
RECOMMENDER_CHOICES = ("visrank", "random", "popular", "artist")


def add_protocol_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``evaluate`` and ``compare``: protocol, k, kinds, chunk size."""
    parser.add_argument(
        "--protocol",
        choices=PROTOCOL_CHOICES,
        default="given",
        help=(
            "given: the log's own train/test split (the notebook's ground truth); "
            "leave-last-out: each user's last purchase by time; time-replay: every repeat "
            "purchase ranked against the stock of its moment (default: given)"
        ),
    )
    parser.add_argument("-k", type=positive_int, default=10, help="list length (default 10)")
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=["purchase"],
        help="event kinds treated as purchases (default: purchase)",
    )
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


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate",
        help="evaluate a recommender on held-out purchases (AUC, RR, P/R/HR/AP/nDCG@k, ...)",
        description=(
            "Evaluate one recommender under a protocol. Every metric is computed per user "
            "(per case), then averaged with a 95% Student-t confidence interval; users with "
            "no relevant item among their candidates are skipped and counted. The candidate "
            "set is the catalogue minus the user's consumed items (and, for time-replay, minus "
            "the works already sold). The run is recorded in the workspace."
        ),
    )
    add_workspace_arg(parser)
    add_protocol_args(parser)
    parser.add_argument(
        "--recommender",
        choices=RECOMMENDER_CHOICES,
        default="visrank",
        help="visrank (content-based) or a baseline (default visrank)",
    )
    parser.add_argument(
        "--embedding", default=None, help="embedding name (default: the workspace's default)"
    )
    parser.add_argument(
        "--metric", choices=METRICS, default="cosine", help="similarity metric (default cosine)"
    )
    parser.add_argument(
        "--aggregation",
        choices=AGGREGATION_CHOICES,
        default="sum_distance",
        help="how similarities to the profile are combined (default sum_distance)",
    )
    parser.add_argument("-m", type=positive_int, default=3, help="m of topm_mean (default 3)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random baseline (default 0)"
    )
    add_format_arg(parser)
    parser.set_defaults(handler=run)


def simulated_note(workspace: Workspace) -> str | None:
    """A warning line when the workspace's interactions are simulated, else ``None``."""
    if workspace.get_meta("simulated_interactions") == "1" or workspace.get_meta("simulation"):
        return "NOTE: the interactions in this workspace are SIMULATED, not real purchases"
    return None


def describe_split(split: Split) -> str:
    """One line: protocol, number of cases and what the protocol skipped."""
    skipped = ", ".join(f"{k}={v}" for k, v in sorted(split.skipped.items())) or "none"
    return f"protocol {split.protocol}: {split.n_cases} cases (protocol skipped: {skipped})"


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec evaluate``."""
    from dataclasses import replace

    from artrec.data.workspace import Workspace
    from artrec.errors import ArtrecError
    from artrec.evaluation.comparison import Config, EvalData, config_params
    from artrec.evaluation.evaluator import evaluate
    from artrec.evaluation.protocols import make_split

    ws = Workspace.open(args.workspace)
    config = Config(
        kind=args.recommender,
        embedding=args.embedding,
        metric=args.metric,
        aggregation=args.aggregation,
        m=args.m,
        seed=args.seed,
    )
    wanted: list[str | None] = []
    if config.needs_embedding or args.embedding is not None:
        wanted.append(args.embedding)
    elif ws.get_meta("default_embedding") is not None:
        wanted.append(None)  # for diversity
    data = EvalData.from_workspace(ws, wanted, kinds=tuple(args.kinds))
    if config.needs_embedding and config.embedding is None:
        config = replace(config, name="", embedding=data.default_embedding)
    if len(data.interactions) == 0:
        raise ArtrecError(
            f"workspace {ws.root} has no events of kind {', '.join(args.kinds)} to evaluate on"
        )
    split = make_split(args.protocol, data.interactions, data.catalog)
    if split.n_cases == 0:
        raise ArtrecError(f"nothing to evaluate: {describe_split(split)}")
    vectors = data.vectors(config.embedding) if config.needs_embedding else None
    diversity = vectors
    if diversity is None and data.embeddings:
        diversity = next(iter(data.embeddings.values()))
    result = evaluate(
        config.build(),
        data.catalog,
        split,
        k=args.k,
        vectors=vectors,
        diversity_vectors=diversity,
        chunk_size=args.chunk_size,
        name=config.name,
        workspace=None if args.no_record else ws,
        params={**config_params(config), "kinds": list(args.kinds)},
    )
    note = simulated_note(ws)
    if args.format == "json":
        payload = {**result.to_dict(), "simulated": note is not None, "run_id": result.run_id}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return 0
    if args.format == "csv":
        emit(result.to_rows(), "csv")
        return 0
    skipped = ", ".join(f"{k}={v}" for k, v in sorted(result.skipped.items())) or "none"
    lines = [
        f"{result.name} on protocol {result.protocol}, k={result.k}: {result.n_cases} users/cases "
        f"evaluated (skipped: {skipped})",
    ]
    if result.nan_scores:
        lines.append(f"warning: the recommender gave {result.nan_scores} NaN scores (ranked last)")
    if note:
        lines.append(note)
    emit(result.to_rows(), "table", title="\n".join(lines))
    return 0
