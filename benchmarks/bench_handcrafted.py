"""Hand-engineered features: ms per image on one core, before (full JPEG decode, then the
previous implementation kept in tests/_handcrafted_reference.py) and after (the reader's
reduced-scale JPEG decode, then artrec.features.handcrafted), side by side.

One command::

    .venv/bin/python benchmarks/bench_handcrafted.py

Images: real public-art thumbnails (about 200 x 200, from ``$ARTREC_DATA_HOME``, the
files as they are) and the same paintings resized (bicubic) to 450 x 300 (a poster),
512 x 512 (the working size), 1024 x 768, 1600 x 1200 and 4000 x 3000, saved as JPEG
(quality 90). For every file the timing covers what the extractor's worker does: decode
(:func:`artrec.images.read_image`, with ``size_hint=512`` after, in full before) and
compute the features (downscaling to the working size included); both parts are reported
separately. BLAS and OpenMP are held to one thread, and freed memory is kept for reuse
(:func:`artrec.features.process.retain_freed_memory`, as in the runner's decoding workers
and ``extract_all``'s side process, where the extractor runs; without it every image's
fresh planes are page-faulted in again, about half the time at 512 x 512). The CPU time of
this process (``time.process_time``) is reported per image, best of ``--repeat`` passes;
before and after alternate within each pass. The largest differences are printed too: after vs before
(both effects together) and after vs the current code on a full decode (the reduced
decode's own effect).

The floor of the decoding is timed beside them: the same file decoded at the smallest DCT
scale libjpeg offers (1/8 of each side, ``Image.draft``), which still entropy-decodes every
coefficient of the file: no reader of that JPEG can do less.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _handcrafted_reference as reference  # noqa: E402
from artrec.features import handcrafted  # noqa: E402
from artrec.features.process import retain_freed_memory  # noqa: E402
from artrec.images import read_image  # noqa: E402

SIZES: dict[str, tuple[int, int] | None] = {
    "thumbnail ~200x200": None,
    "poster 300x450": (300, 450),
    "512x512": (512, 512),
    "1024x768": (1024, 768),
    "1600x1200": (1600, 1200),
    "4000x3000": (4000, 3000),
}
WORKING = 512


def _timed(paths: list[Path], decode: Callable[[Path], Image.Image], features: Callable) -> tuple:
    """CPU seconds per image for decoding and for the features, and the feature vectors."""
    images, decode_s = [], 0.0
    for p in paths:
        start = time.process_time()
        images.append(decode(p))
        decode_s += time.process_time() - start
    start = time.process_time()
    vectors = [np.asarray(features(im), dtype=np.float64) for im in images]
    feature_s = time.process_time() - start
    return decode_s / len(paths), feature_s / len(paths), np.array(vectors)


def _floor_decode(path: Path) -> Image.Image:
    """The least decoding of a JPEG: 1/8 scale (entropy decoding plus the DC terms)."""
    im = Image.open(path)
    im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
    im.load()
    return im


def _floor_ms(paths: list[Path], repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.process_time()
        for p in paths:
            _floor_decode(p)
        best = min(best, (time.process_time() - start) / len(paths))
    return 1000 * best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="paintings per size")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    retained = retain_freed_memory()
    home = os.environ.get("ARTREC_DATA_HOME")
    folder = Path(home or ".") / "public-art" / "thumbnails"
    sources = sorted(folder.glob("*.jpg"))[:: max(1, 5736 // args.images)][: args.images]
    if not sources:
        print(f"no thumbnails in {folder}; set ARTREC_DATA_HOME", file=sys.stderr)
        return 2
    runs = {
        "before": (lambda p: read_image(p), reference.attractiveness_features),
        "after": (lambda p: read_image(p, size_hint=WORKING), handcrafted.attractiveness_features),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, size in SIZES.items():
            count = len(sources) if size is None or size[0] * size[1] < 2e6 else 5
            if size is None:
                paths = sources[:count]
            else:
                paths = []
                for i, src in enumerate(sources[:count]):
                    im = Image.open(src).convert("RGB").resize(size, Image.Resampling.BICUBIC)
                    paths.append(Path(tmp) / f"{label.split()[-1]}-{i}.jpg")
                    im.save(paths[-1], quality=90)
            best = {name: [np.inf, np.inf] for name in runs}
            vectors = {}
            for _ in range(args.repeat):
                for name, (decode, features) in runs.items():
                    dec, feat, vectors[name] = _timed(paths, decode, features)
                    best[name] = [min(best[name][0], dec), min(best[name][1], feat)]
            full = np.array(
                [handcrafted.attractiveness_features(read_image(p)) for p in paths], np.float64
            )
            floor_ms = _floor_ms(paths, args.repeat)
            before_ms = [1000 * v for v in best["before"]]
            after_ms = [1000 * v for v in best["after"]]
            rows.append(
                {
                    "input": label,
                    "images": len(paths),
                    "decoded_after": "x".join(
                        map(str, read_image(paths[0], size_hint=WORKING).size)
                    ),
                    "before_decode_ms": round(before_ms[0], 2),
                    "before_features_ms": round(before_ms[1], 2),
                    "after_decode_ms": round(after_ms[0], 2),
                    "after_features_ms": round(after_ms[1], 2),
                    "decode_floor_ms": round(floor_ms, 2),
                    "speedup_total": round(sum(before_ms) / sum(after_ms), 1),
                    "max_abs_diff_vs_before": float(
                        np.abs(vectors["after"] - vectors["before"]).max()
                    ),
                    "max_abs_diff_reduced_decode": float(np.abs(vectors["after"] - full).max()),
                }
            )
    info = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "numpy": np.__version__,
        "pillow": Image.__version__,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "freed_memory_retained": retained,
    }
    print(json.dumps({"results": rows, **info}, indent=2))
    print(
        "\n| input | images | decoded at (after) | before: decode + features, ms | "
        "after: decode + features, ms | after, features only | speed-up (total) | "
        "max abs diff vs before | of which reduced decode | decode floor (1/8 scale), ms |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['input']} | {r['images']} | {r['decoded_after']} | "
            f"{r['before_decode_ms']} + {r['before_features_ms']} | "
            f"{r['after_decode_ms']} + {r['after_features_ms']} | **{r['after_features_ms']}** | "
            f"{r['speedup_total']}x | {r['max_abs_diff_vs_before']:.1e} | "
            f"{r['max_abs_diff_reduced_decode']:.1e} | {r['decode_floor_ms']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
