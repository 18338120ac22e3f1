"""The demo's feature phase (EfficientNet-Lite0 + hand-engineered features): wall, user
and system CPU time, one extractor after the other vs :func:`artrec.features.api.extract_all`.

One command::

    .venv/bin/python benchmarks/bench_features_phase.py --images 600

Images: the first ``--images`` real public-art thumbnails (``$ARTREC_DATA_HOME``). Each
mode runs in a fresh child process (so the CPU time of its decoding workers and side
process is its own, ``getrusage`` of the child and of the children it waited for), with a
fresh output folder, and the modes alternate over ``--repeat`` rounds:

* ``sequential``: ``extract(images, name, precision="fp32")`` for each extractor, one
  after the other, with the runner's defaults -- what the demo did. ``--before-src`` runs
  this mode with another source tree on ``PYTHONPATH`` (e.g. an export of an earlier
  commit), to time the code as it was;
* ``extract_all``: :func:`artrec.features.api.extract_all` (``precision="auto"``: bf16 on
  CPUs with native bfloat16; the hand-engineered features in a side process next to the
  CNN; threads sized together);
* ``extract_all+process``: the same after the process settings the command line applies
  first (:mod:`artrec.features.process`: ``OMP_WAIT_POLICY=PASSIVE`` before torch loads,
  freed memory kept for reuse instead of page-faulted in again for every image and batch).

Reported per run: wall seconds, user and system CPU seconds, system / user.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXTRACTORS = ("efficientnet_lite0", "handcrafted")


def child(mode: str, images: int, out: str) -> dict[str, object]:
    import resource

    home = os.environ["ARTREC_DATA_HOME"]
    paths = sorted((Path(home) / "public-art" / "thumbnails").glob("*.jpg"))[:images]
    mapping = {p.stem: str(p) for p in paths}
    if mode == "extract_all+process":
        # what `artrec extract` and `artrec demo` do first, before torch loads
        from artrec.features.process import openmp_environment, retain_freed_memory

        openmp_environment()
        retain_freed_memory()
    start = time.perf_counter()
    if mode == "sequential":
        from artrec.features.api import extract

        for name in EXTRACTORS:
            extract(mapping, name, output_dir=out, precision="fp32")
        precision = "fp32"
    else:
        from artrec.features.api import extract_all

        _features, phase = extract_all(mapping, list(EXTRACTORS), output_dir=out)
        precision = ",".join(f"{k}={v}" for k, v in phase.precision.items())
    wall = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "mode": mode,
        "wall_s": round(wall, 2),
        "user_s": round(own.ru_utime + kids.ru_utime, 2),
        "system_s": round(own.ru_stime + kids.ru_stime, 2),
        "precision": precision,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--modes", nargs="+", default=["sequential", "extract_all", "extract_all+process"]
    )
    parser.add_argument("--before-src", default=None, help="source tree for the sequential mode")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.images, args.out)))
        return 0
    rows = []
    for _ in range(args.repeat):
        for mode in args.modes:
            env = dict(os.environ)
            if mode == "sequential" and args.before_src:
                env["PYTHONPATH"] = args.before_src
            with tempfile.TemporaryDirectory() as tmp:
                load = os.getloadavg()[0]
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        mode,
                        "--images",
                        str(args.images),
                        "--out",
                        tmp,
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row["source"] = env.get("PYTHONPATH", "")
                row["load_before"] = round(load, 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs; images: {args.images}")
    print("\n| mode | source | wall s | user s | system s | system / user | precision | load |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['source']} | {r['wall_s']} | {r['user_s']} | {r['system_s']} | "
            f"{r['system_s'] / max(r['user_s'], 1e-9):.2f} | {r['precision']} | {r['load_before']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
