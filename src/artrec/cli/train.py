"""``artrec train``: train a learned recommender (CuratorNet, VBPR) on a workspace's training
events with early stopping, and save it in the workspace (a thin wrapper of
:func:`artrec.evaluation.training.train_in_workspace`)."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from artrec.cli._common import (
    add_format_arg,
    add_kinds_arg,
    add_progress_arg,
    add_workspace_arg,
    emit,
    kinds_of,
    non_negative_int,
    positive_int,
    progress_wanted,
    simulated_note,
)


def register(subparsers: Any) -> None:
    """Add the ``train`` subcommand."""
    from artrec.evaluation.training import DEFAULT_KINDS, TRAINABLE

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="train a learned recommender (CuratorNet, VBPR) and save it in the workspace",
        description=(
            "Train CuratorNet or VBPR on the workspace's training events (never an event "
            "marked test): validation nDCG@k per epoch on a split carved from the training "
            "events, early stopping, a refit on every training event for the best number of "
            "epochs, checkpoints after every epoch (--resume continues an interrupted run), "
            "and the model saved as models/NAME with its configuration and the fingerprint "
            "of its training data."
        ),
    )
    add_workspace_arg(parser)
    parser.add_argument("--model", required=True, choices=TRAINABLE, help="the model to train")
    parser.add_argument(
        "--embedding", default=None, help="item vectors (default: the workspace's embedding)"
    )
    parser.add_argument(
        "--features", default=None, metavar="NAME", help="a raw feature set instead"
    )
    parser.add_argument(
        "--epochs", type=non_negative_int, default=None, help="epoch budget (default 30)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--metadata", default="auto", metavar="COLUMNS",
        help="comma-separated metadata appended to the vectors: artist, medium, century, "
        "museum; 'auto' (the default): with every column the catalogue has or without, "
        "whichever scores better on the validation split; 'none': the vectors alone",
    )  # fmt: skip
    parser.add_argument(
        "--patience", type=positive_int, default=3, help="early-stopping patience (default 3)"
    )
    parser.add_argument("-k", type=positive_int, default=20, help="validation nDCG cut-off")
    add_kinds_arg(parser, DEFAULT_KINDS, "the model learns from")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--name", default=None, help="saved model name (default: the model)")
    add_progress_arg(parser)
    add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec train``."""
    from artrec.data.simulate import interactions_simulated
    from artrec.data.workspace import Workspace
    from artrec.evaluation.training import (
        AUTO_METADATA,
        EpochLog,
        make_learned,
        train_in_workspace,
    )

    ws = Workspace.open(args.workspace)
    params: dict[str, Any] = {"seed": args.seed}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    metadata = args.metadata.strip()
    if metadata == AUTO_METADATA:
        params["metadata"] = AUTO_METADATA
    elif metadata != "none":
        params["metadata"] = tuple(c.strip() for c in metadata.split(",") if c.strip())

    budget = args.epochs if args.epochs is not None else make_learned(args.model).epochs
    bars: dict[tuple[str, tuple[str, ...]], Any] = {}
    # (validation nDCG, epoch) of the best run so far: the refit runs to its best epoch
    best = [(-math.inf, 0)]

    def progress(log: EpochLog) -> None:
        from tqdm import tqdm

        if log.phase == "validation" and log.ndcg > best[0][0]:
            best[0] = (log.ndcg, log.epoch)
        bar = bars.get((log.phase, log.metadata))
        if bar is None:
            for old in bars.values():
                old.close()
            total = budget if log.phase == "validation" else best[0][1]
            bar = bars[(log.phase, log.metadata)] = tqdm(
                desc=f"{log.phase} ({_inputs(log.metadata)})",
                total=total,
                unit="epoch",
                file=sys.stderr,
                dynamic_ncols=True,
            )
        bar.update(log.epoch - bar.n)
        info = {} if math.isnan(log.loss) else {"loss": f"{log.loss:.4f}"}
        if not math.isnan(log.ndcg):
            info[f"val ndcg@{args.k}"] = f"{log.ndcg:.4f}"
        bar.set_postfix(info)

    try:
        result, folder = train_in_workspace(
            ws,
            args.model,
            name=args.name,
            embedding=args.embedding,
            features=args.features,
            kinds=kinds_of(args),
            params=params,
            k=args.k,
            patience=args.patience,
            resume=args.resume,
            progress=progress if progress_wanted(args) else None,
        )
    finally:
        for bar in bars.values():
            bar.close()
    rows = [
        {
            "phase": h.phase,
            "inputs": _inputs(h.metadata),
            "epoch": h.epoch,
            "loss": None if math.isnan(h.loss) else round(h.loss, 5),
            f"validation ndcg@{args.k}": None if math.isnan(h.ndcg) else round(h.ndcg, 4),
            "seconds": round(h.seconds, 2),
        }
        for h in result.history
    ]
    title = (
        f"{args.model} saved as {folder.name!r}: best validation ndcg@{args.k} "
        f"{result.best_ndcg:.4f} after {result.best_epoch} epochs on "
        f"{result.n_validation_cases} validation users, inputs "
        f"{_inputs(tuple(result.model.metadata))}"
        f"{' (stopped early)' if result.stopped_early else ''}, {result.seconds:.0f} s"
    )
    note = simulated_note(interactions_simulated(ws))
    emit(rows, args.format, title=title if note is None else f"{title}\n{note}")
    return 0


def _inputs(metadata: tuple[str, ...]) -> str:
    """The item inputs of a training run, as the table and the progress bars name them."""
    return "+".join(("vectors", *metadata))
