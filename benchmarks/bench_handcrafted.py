"""Hand-engineered features: ms per image on one core, before (the previous implementation,
kept in tests/_handcrafted_reference.py) and after (artrec.features.handcrafted), side by side.

One command::

    .venv/bin/python benchmarks/bench_handcrafted.py

Images: real public-art thumbnails (200 x 200, from ``$ARTREC_DATA_HOME``) and the same
paintings resized (bicubic) to 450 x 300 (a poster), 512 x 512 (the working size),
1024 x 768 and 4000 x 3000. Every image is decoded beforehand: the timing covers what the
extractor's ``preprocess`` does with a decoded image (downscaling to the working size
included). BLAS and OpenMP are held to one thread and the CPU time of this process
(``time.process_time``) is reported per image, best of ``--repeat`` passes; both
implementations alternate within each pass. The largest difference between the two
feature vectors is printed too.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _handcrafted_reference as reference  # noqa: E402
from artrec.features import handcrafted  # noqa: E402

SIZES = {"thumbnail 200x200": None, "poster 300x450": (300, 450), "512x512": (512, 512)}
SIZES.update({"1024x768": (1024, 768), "4000x3000": (4000, 3000)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="paintings per size")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = os.environ.get("ARTREC_DATA_HOME")
    folder = Path(home or ".") / "public-art" / "thumbnails"
    paths = sorted(folder.glob("*.jpg"))[:: max(1, 5736 // args.images)][: args.images]
    if not paths:
        print(f"no thumbnails in {folder}; set ARTREC_DATA_HOME", file=sys.stderr)
        return 2
    originals = [Image.open(p).convert("RGB") for p in paths]
    rows = []
    for label, size in SIZES.items():
        count = len(originals) if size is None or size[0] * size[1] < 2e6 else 3
        images = [
            im if size is None else im.resize(size, Image.Resampling.BICUBIC)
            for im in originals[:count]
        ]
        best = {"before": np.inf, "after": np.inf}
        for _ in range(args.repeat):
            for name, fn in (
                ("before", reference.attractiveness_features),
                ("after", handcrafted.attractiveness_features),
            ):
                start = time.process_time()
                for im in images:
                    fn(im)
                best[name] = min(best[name], (time.process_time() - start) / len(images))
        diff = max(
            float(
                np.abs(
                    reference.attractiveness_features(im) - handcrafted.attractiveness_features(im)
                ).max()
            )
            for im in images
        )
        rows.append(
            {
                "input": label,
                "images": len(images),
                "before_ms": round(1000 * best["before"], 2),
                "after_ms": round(1000 * best["after"], 2),
                "speedup": round(best["before"] / best["after"], 1),
                "max_abs_diff": diff,
            }
        )
    info = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "numpy": np.__version__,
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps({"results": rows, **info}, indent=2))
    print("\n| input | images | before, ms/image | after, ms/image | speed-up | max abs diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['input']} | {r['images']} | {r['before_ms']} | {r['after_ms']} | "
            f"{r['speedup']}x | {r['max_abs_diff']:.1e} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
