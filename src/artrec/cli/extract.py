"""``artrec extract``: compute image features for a workspace, a folder or a catalogue file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from artrec.cli import _common as opts
from artrec.features.extractor import RUN_PRECISIONS


def register(subparsers: Any) -> None:
    """Add the ``extract`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "extract",
        help="extract CNN or hand-engineered features from images (resumable)",
        description=(
            "Decode the images of a workspace catalogue (default), a folder (--folder) or a "
            "catalogue file (--catalog), run a feature extractor in batches and write "
            "features/<extractor>.npy with the ids and a JSON sidecar. Bad images are skipped "
            "and listed. An interrupted run resumes; on a grown catalogue only new items are "
            "extracted. Extractors: efficientnet_lite0 (default, offline weights), handcrafted, "
            "resnet50, vgg19 or any torchvision classification model."
        ),
    )
    opts.add_workspace_arg(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--folder", type=Path, help="extract every image file in this folder")
    source.add_argument(
        "--catalog", type=Path, help="extract the images of a catalogue file (CSV, Parquet, JSON)"
    )
    parser.add_argument(
        "--image-dir",
        type=Path,
        help="with --catalog: folder against which relative image paths are resolved "
        "(default: the catalogue file's folder)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="output directory (default: the workspace's features/ when extracting a workspace, "
        "else ./features)",
    )
    parser.add_argument(
        "--extractor",
        default="efficientnet_lite0",
        help="efficientnet_lite0 (default), handcrafted, resnet50, vgg19 or a torchvision model",
    )
    parser.add_argument("--weights", type=Path, help="local state_dict file for the CNN")
    parser.add_argument(
        "--batch-size", type=opts.positive_int, default=32, help="items per batch (default 32)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="decoding worker processes (default: by device and cores, see docs/features.md; "
        "0: decode in the main process)",
    )
    parser.add_argument(
        "--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N or mps"
    )
    parser.add_argument(
        "--precision",
        choices=RUN_PRECISIONS,
        default="fp32",
        help="autocast precision (default fp32; auto: bf16 where the CPU or GPU computes it "
        "natively, else fp32)",
    )
    parser.add_argument(
        "--retry-bad", action="store_true", help="retry items an earlier run listed as bad"
    )
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local (DataLoader workers, default) or ray (a Ray cluster)",
    )
    parser.add_argument("--address", help="with --engine ray: the Ray cluster address")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    opts.add_allow_private_arg(parser)
    opts.add_format_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``artrec extract``."""
    from artrec.features.process import openmp_environment, retain_freed_memory

    # before torch loads: idle OpenMP threads sleep, freed memory is reused (less system time)
    openmp_environment()
    retain_freed_memory()
    from artrec.errors import ArtrecError

    if args.workers is not None and args.workers < 0:
        raise ArtrecError(f"--workers must be >= 0, got {args.workers}")
    if args.address and args.engine != "ray":
        raise ArtrecError("--address is only used with --engine ray")
    source, workspace, output = _source(args)
    if args.engine == "ray":
        return _run_ray(args, source, workspace, output)

    from artrec.features.api import extract_with_report

    bar, progress = opts.progress_bar(f"extract {args.extractor}", not args.no_progress, "item")
    try:
        features, report = extract_with_report(
            source, args.extractor, workspace=workspace, output_dir=output, weights=args.weights,
            batch_size=args.batch_size, num_workers=args.workers, device=args.device,
            precision=args.precision, retry_bad=args.retry_bad, progress=progress,
            fetch_options=opts.fetch_options(args),
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    out_dir = output or (workspace.features_dir if workspace is not None else None)
    opts.emit([_summary(features, report, out_dir)], args.format, title="extraction")
    if report.bad and args.format == "table":
        rows = [
            {"item_id": b.item_id, "reason": b.reason, "detail": b.detail[:80]} for b in report.bad
        ]
        opts.emit(rows, "table", title=f"\n{report.n_bad} bad item(s), skipped:")
    return 0


def _summary(features: Any, report: Any, out_dir: Path | None) -> dict[str, Any]:
    return {
        "extractor": features.name,
        "items": len(features),
        "dim": features.dim,
        "extracted": report.n_extracted,
        "reused": report.n_reused,
        "bad": report.n_bad,
        "seconds": round(report.seconds, 2),
        "items_per_s": round(report.items_per_second, 1),
        "device": report.device or "-",
        "output": str(out_dir),
    }


def _source(args: argparse.Namespace) -> tuple[Any, Any, Path | None]:
    """What to extract, the workspace (if any) and the output directory."""
    from artrec.data.workspace import Workspace

    if args.folder is not None:
        if not args.folder.is_dir():
            from artrec.errors import ArtrecError

            raise ArtrecError(f"--folder {args.folder}: not a directory")
        return args.folder, None, args.output or Path("features")
    if args.catalog is not None:
        from artrec.data.tabular import load_catalog_file

        image_dir = args.image_dir if args.image_dir is not None else args.catalog.parent
        catalog = load_catalog_file(args.catalog, image_dir=image_dir)
        return catalog, None, args.output or Path("features")
    workspace = Workspace.open(args.workspace)
    return workspace, workspace, args.output


def _run_ray(args: argparse.Namespace, source: Any, workspace: Any, output: Path | None) -> int:
    import importlib

    from artrec.errors import MissingDependencyError

    try:
        ray_engine: Any = importlib.import_module("artrec.features.ray_engine")
    except ImportError as exc:
        raise MissingDependencyError(
            f"--engine ray is not available: the module artrec.features.ray_engine could not be "
            f"imported ({exc}); install it with pip install 'artrec[ray]' or use --engine local"
        ) from None
    from artrec.features.api import get_extractor, items_from

    extractor = get_extractor(args.extractor, args.weights)
    base = workspace.root if workspace is not None else None
    items = items_from(source, base_dir=base)
    out = output or (workspace.features_dir if workspace is not None else Path("features"))
    bar, progress = opts.progress_bar(f"extract {args.extractor}", not args.no_progress, "item")
    try:
        features = ray_engine.extract_with_ray(
            [(it.item_id, it.source) for it in items],
            extractor,
            address=args.address,
            batch_size=args.batch_size,
            output_dir=out,
            precision=args.precision,
            retry_bad=args.retry_bad,
            cache_dir=workspace.images_dir if workspace is not None else None,
            progress=progress,
            fetch_options=opts.fetch_options(args),
        )
    finally:
        if bar is not None:
            bar.close()
    opts.emit(
        [
            {
                "extractor": features.name,
                "items": len(features),
                "dim": features.dim,
                "bad": int(features.meta.get("n_bad", 0)),
                "output": str(out),
            }
        ],
        args.format,
        title="extraction (ray)",
    )
    return 0
