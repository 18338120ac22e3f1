"""Cold and warm timings of the end-to-end demo (issue 4).

One command::

    ARTREC_DATA_HOME=/path/to/datasets .venv/bin/python benchmarks/bench_demo.py [--trimmed] [--workspace DIR]

Runs ``run_demo`` twice on a fresh workspace (a temporary directory unless ``--workspace``):
first cold (nothing cached: feature extraction, embeddings, evaluation), then warm (every
step cached, only the report is re-rendered). Prints the seconds of each step, the total of
each run, the warm/cold ratio, the peak memory of the process, and the load average at the
start and end (the machine may be shared; the targets are cold < 15 min and warm < 1 min on
2 cores).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    """Run the benchmark and print its table."""
    from artrec.demo import run_demo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trimmed", action="store_true", help="300 works instead of 5,736")
    parser.add_argument("--workspace", type=Path, default=None, help="workspace (default: temp)")
    args = parser.parse_args()
    root = args.workspace or Path(tempfile.mkdtemp(prefix="artrec-bench-demo-")) / "ws"
    print(f"workspace {root}; cpus {os.cpu_count()}; load at start {_load()}")
    totals = {}
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        result = run_demo(root, trimmed=args.trimmed)
        totals[label] = time.perf_counter() - t0
        steps = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
        print(f"{label}: {totals[label]:.1f} s (cached: {', '.join(result.cached) or 'nothing'})")
        print(f"  steps (s): {steps}")
        print(f"  load now {_load()}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"warm / cold = {totals['warm'] / totals['cold']:.3f}; peak RSS {peak:.0f} MiB")
    print(f"report: {result.report_path}")


if __name__ == "__main__":
    main()
