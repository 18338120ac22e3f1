"""Feature-extraction throughput on the public-art thumbnails (issue 3).

In one process and on the same images, compares:

- **bare forward**: the model alone on pre-decoded, pre-resized uint8 tensors held in
  memory (normalisation + network, nothing else), batch by batch;
- **runner**: :func:`artrec.features.runner.run_extraction` from JPEG files to features on
  disk (DataLoader workers decoding and resizing in parallel with the model, atomic shards,
  final feature set), with the model already loaded in both cases;

each in fp32 and bf16 autocast. The target is runner >= 85% of the bare forward throughput.
The passes are interleaved (bare, runner, bare, runner) so that a change in machine load
hits both alike; the best of ``--repeats`` is kept for each.

    ARTREC_DATA_HOME=/path/to/datasets .venv/bin/python benchmarks/bench_extraction.py [--limit N]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=os.environ.get("ARTREC_DATA_HOME"))
    parser.add_argument("--limit", type=int, default=None, help="first N thumbnails (default all)")
    parser.add_argument("--extractor", default="efficientnet_lite0")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--workers",
        default=None,
        help="DataLoader worker counts to compare, comma-separated (default: the runner's default)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    import torch

    from artrec.features.api import get_extractor
    from artrec.features.runner import ExtractionItem, default_num_workers, run_extraction
    from artrec.images import read_image

    if not args.data_home:
        print("set ARTREC_DATA_HOME (the folder containing public-art/)", file=sys.stderr)
        return 2
    thumbs = sorted((Path(args.data_home) / "public-art" / "thumbnails").glob("*.jpg"))
    if args.limit:
        thumbs = thumbs[: args.limit]
    items = [ExtractionItem(p.stem, str(p)) for p in thumbs]
    n = len(items)
    worker_counts = (
        [default_num_workers()]
        if args.workers is None
        else [int(w) for w in str(args.workers).split(",")]
    )
    load_before = os.getloadavg()

    extractor = get_extractor(args.extractor)
    t0 = time.perf_counter()
    decoded = np.stack([extractor.preprocess(read_image(p)) for p in thumbs])
    decode_s = time.perf_counter() - t0

    def bare(precision: str) -> float:
        extractor.setup(args.device, precision)
        extractor.forward(decoded[: args.batch_size])  # warm-up
        start = time.perf_counter()
        for i in range(0, n, args.batch_size):
            extractor.forward(decoded[i : i + args.batch_size])
        return n / (time.perf_counter() - start)

    def runner(precision: str, workers: int) -> float:
        extractor.setup(args.device, precision)
        out = Path(tempfile.mkdtemp(prefix="artrec-bench-extract-"))
        try:
            start = time.perf_counter()
            fs, report = run_extraction(
                items,
                extractor,
                out,
                batch_size=args.batch_size,
                num_workers=workers,
                device=args.device,
                precision=precision,
            )
            rate = n / (time.perf_counter() - start)
            assert len(fs) + report.n_bad == n and (out / f"{extractor.name}.npy").is_file()
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return rate

    results: dict[tuple[str, str], float] = {}
    kinds = ["bare"] + [f"runner-w{w}" for w in worker_counts]
    for precision in args.precisions.split(","):
        for _ in range(args.repeats):
            for kind in kinds:
                if kind == "bare":
                    rate = bare(precision)
                else:
                    rate = runner(precision, int(kind.removeprefix("runner-w")))
                key = (kind, precision)
                results[key] = max(results.get(key, 0.0), rate)
                print(f"  {kind:10s} {precision}: {rate:7.1f} items/s", file=sys.stderr)

    device = getattr(extractor, "device_", args.device)
    print(
        f"machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {device}"
    )
    print(f"load average before: {load_before[0]:.2f}, after: {os.getloadavg()[0]:.2f}")
    print(
        f"images: {n} public-art thumbnails (200x200 JPEG -> 224x224), extractor "
        f"{args.extractor}, batch {args.batch_size}, best of {args.repeats}, passes interleaved; "
        f"pre-decoding took {decode_s:.1f} s ({n / decode_s:.0f} images/s on one core)"
    )
    print("| precision | pipeline | items/s | / bare forward |")
    print("|---|---|---:|---:|")
    precisions = args.precisions.split(",")
    for precision in precisions:
        b = results[("bare", precision)]
        for kind in kinds:
            r = results[(kind, precision)]
            if kind == "bare":
                label = "bare forward on pre-decoded tensors"
            else:
                label = f"runner, JPEG -> disk, {kind.removeprefix('runner-w')} worker(s)"
            print(f"| {precision} | {label} | {r:.1f} | {r / b:.2f} |")
    if "bf16" in precisions and "fp32" in precisions:
        ratios = ", ".join(f"{k} {results[(k, 'bf16')] / results[(k, 'fp32')]:.2f}" for k in kinds)
        print(f"bf16 / fp32 throughput: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
