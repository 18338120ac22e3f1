"""``artrec demo``: the end-to-end demo on the public-art paintings, with a progress bar per step."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from artrec.cli import _common as opts


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run artrec end to end on 5,736 real paintings and write an HTML report",
        description=(
            "Load (or download) the public-art paintings, simulate collectors, extract "
            "EfficientNet-Lite0 and hand-engineered features, build the hybrid PCA(100) "
            "embedding, find similar works, recommend, evaluate and compare every "
            "configuration against the notebook's method, and write a self-contained HTML "
            "report. Every step is cached in the workspace; a second run only re-renders."
        ),
    )
    opts.add_workspace_arg(parser)
    parser.add_argument(
        "--data-home",
        type=Path,
        default=None,
        help="folder containing public-art/ (default: $ARTREC_DATA_HOME, then the user cache; "
        "downloaded there when missing and the network allows)",
    )
    parser.add_argument(
        "--trimmed",
        action="store_true",
        help="use a deterministic subset of 300 paintings (quick look, CI)",
    )
    parser.add_argument(
        "--n-items",
        type=opts.positive_int,
        default=None,
        help="use a subset of this many paintings",
    )
    opts.add_k_arg(parser)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="image-decoding worker processes for feature extraction (default: automatic)",
    )
    parser.add_argument(
        "--eval-workers",
        type=opts.positive_int,
        default=None,
        help="processes evaluating configurations in parallel (default: up to 2)",
    )
    parser.add_argument("-o", "--output", type=Path, default=None, help="report file to write")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


class TqdmProgress:
    """Turns ``progress(step, done, total)`` calls into one tqdm bar per step (on stderr)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bars: dict[str, Any] = {}
        self.started: dict[str, float] = {}

    def __call__(self, step: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        self.started.setdefault(step, time.perf_counter())
        if total is not None and total > 1:
            bar = self.bars.get(step)
            if bar is None:
                bar = self.bars[step] = tqdm(
                    total=total, desc=f"{step:<28}", unit="it", file=sys.stderr, leave=True
                )
            bar.update(max(0, done - bar.n))
            if done >= total:
                bar.close()
        elif total is not None and done >= total and step not in self.bars:
            took = time.perf_counter() - self.started[step]
            sys.stderr.write(f"{step:<28} done ({took:.1f} s)\n")
            self.bars[step] = None


def phase_table(result: Any) -> str:
    """The demo's phases (and the feature extractors) with wall, user and system CPU seconds."""
    rows = [(p.name, p.wall_s, p.user_s, p.system_s) for p in result.phases]
    phase = result.features_phase
    if phase is not None:
        for name, t in phase.extractors.items():
            how = f"{phase.precision.get(name, '?')}"
            if t.user_s or t.system_s:
                how += ", side process"
            rows.append((f"  {name} ({how})", t.wall_s, t.user_s, t.system_s))
    width = max(len(r[0]) for r in rows) if rows else 5
    lines = [f"{'phase':<{width}}  {'wall s':>8}  {'user s':>8}  {'system s':>8}"]
    lines += [f"{n:<{width}}  {w:8.1f}  {u:8.1f}  {sy:8.1f}" for n, w, u, sy in rows]
    user = sum(p.user_s for p in result.phases)
    system = sum(p.system_s for p in result.phases)
    share = f"{system / user:.2f}" if user > 0 else "-"
    lines.append(f"CPU: user {user:.1f} s, system {system:.1f} s (system / user {share})")
    if phase is not None:
        both = "both cores (side process)" if phase.concurrent else "one extractor at a time"
        lines.append(f"features: {both}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where the report is."""
    from artrec.features.process import openmp_environment, retain_freed_memory

    # before torch loads: idle OpenMP threads sleep, freed memory is reused (less system time)
    openmp_environment()
    retain_freed_memory()
    from artrec.demo import run_demo

    progress = TqdmProgress(enabled=not args.quiet)
    t0 = time.perf_counter()
    result = run_demo(
        args.workspace,
        args.data_home,
        trimmed=args.trimmed,
        n_items=args.n_items,
        k=args.k,
        report_path=args.output,
        progress=progress,
        num_workers=args.workers,
        eval_workers=args.eval_workers,
    )
    took = time.perf_counter() - t0
    cached = f" (cached: {', '.join(result.cached)})" if result.cached else ""
    best = result.results.best_config
    print(f"artrec demo finished in {took:.0f} s{cached}")
    print(phase_table(result))
    print(f"workspace: {result.workspace.root}")
    if best:
        print(f"best configuration by ndcg@{args.k} (simulated purchases): {best}")
    print(f"report: {result.report_path.resolve()}")
    return 0
