"""``artrec embed``: fit the concat / z-score / PCA / L2 embedding on workspace features."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from artrec.cli import _common as opts
from artrec.embedding import SVD_SOLVERS


def register(subparsers: Any) -> None:
    """Add the ``embed`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "embed",
        help="build an embedding (concat, z-score, PCA, optional L2) from feature sets",
        description=(
            "Concatenate the named feature sets of the workspace, z-score every dimension "
            "(population std; constant dimensions are divided by 1), project onto the top "
            "principal components with an exact eigen-decomposition, optionally L2-normalise, "
            "and save the vectors and the fitted transform under embeddings/NAME. The new "
            "embedding becomes the workspace default unless --no-default."
        ),
    )
    opts.add_workspace_arg(parser)
    parser.add_argument(
        "--features",
        nargs="+",
        default=None,
        metavar="NAME",
        help="feature sets to concatenate, in order (default: every feature set the "
        "workspace has, by name)",
    )
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument(
        "--block-weight",
        action="append",
        default=[],
        metavar="NAME=W",
        help="multiply the variance of feature set NAME by W > 0 before PCA (repeatable; "
        "e.g. handcrafted=5; unnamed sets keep 1). Without it every dimension weighs alike, "
        "so 18 hand-engineered dimensions next to 1,280 CNN ones carry about 1%% of the variance",
    )
    weights.add_argument(
        "--block-weights",
        default=None,
        metavar="equal",
        help="equal: give every feature set the same share of the variance before PCA",
    )
    parser.add_argument(
        "--n-components",
        type=opts.positive_int,
        default=100,
        help="principal components to keep (default 100)",
    )
    parser.add_argument("--name", default="hybrid", help="embedding name (default hybrid)")
    parser.add_argument("--l2", action="store_true", help="L2-normalise the embedded vectors")
    parser.add_argument(
        "--no-standardize", action="store_true", help="centre only; do not divide by the std"
    )
    parser.add_argument(
        "--solver",
        choices=SVD_SOLVERS,
        default="auto",
        help="PCA solver (default auto: exact; lanczos, the certified iterative eigensolver, "
        "for large inputs, else a full eigen-decomposition)",
    )
    parser.add_argument(
        "--no-default", action="store_true", help="do not make this the workspace default"
    )
    parser.add_argument(
        "--components",
        action="store_true",
        help="list the explained variance of every component instead of a summary",
    )
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec embed``."""
    from artrec.data.workspace import Workspace
    from artrec.embedding import build_embedding

    ws = Workspace.open(args.workspace)
    vectors = build_embedding(
        ws, args.features, args.name, args.n_components, l2_normalize=args.l2,
        standardize=not args.no_standardize, svd_solver=args.solver,
        set_default=not args.no_default,
        block_weights=args.block_weights or opts.parse_weights(args.block_weight),
    )  # fmt: skip
    meta = vectors.meta
    ratios = [float(r) for r in meta["explained_variance_ratio"]]
    if args.components:
        cumulative = np.cumsum(ratios).tolist()
        rows = [
            {"component": i, "explained_variance": r, "cumulative": c}
            for i, (r, c) in enumerate(zip(ratios, cumulative, strict=True), start=1)
        ]
        opts.emit(
            rows, args.format, title=f"embedding {args.name}: explained variance per component"
        )
        return 0
    row = _summary(args, len(vectors), meta, ratios)
    title = f"embedding {args.name} written to {ws.embeddings_dir}"
    if meta.get("block_weights") is not None:
        shares = meta.get("block_variance_share") or {}
        share = ", ".join(f"{name} {100 * v:.0f}%" for name, v in shares.items())
        title += (
            f"\nblock weights {_weights_text(meta['block_weights'])}: share of the variance {share}"
        )
    opts.emit([row], args.format, title=title)
    opts.notes(meta.get("notes", []), args.format)
    return 0


def _summary(
    args: argparse.Namespace, n_items: int, meta: dict[str, Any], ratios: list[float]
) -> dict[str, Any]:
    inputs = zip(meta["inputs"], meta["input_dims"], strict=True)
    row: dict[str, Any] = {
        "name": args.name,
        "items": n_items,
        "features": " + ".join(f"{n} ({d})" for n, d in inputs),
        "n_components": int(meta["n_components"]),
        "explained_variance": float(meta["explained_variance_total"]),
        "first_component": ratios[0] if ratios else 0.0,
        "constant_dims": int(meta["n_constant_dims"]),
        "l2": bool(meta["l2_normalize"]),
        "solver": meta["svd_solver"],
        "default": not args.no_default,
    }
    if args.format == "json":
        row.update(explained_variance_ratio=ratios, notes=list(meta.get("notes", [])))
    return row


def _weights_text(weights: Any) -> str:
    """``handcrafted x5`` or ``equal`` for the title."""
    if isinstance(weights, dict):
        return ", ".join(f"{name} x{w:g}" for name, w in weights.items())
    return str(weights)
