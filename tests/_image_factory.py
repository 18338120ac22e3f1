"""Small real image files for the image, runner and CLI tests (good and deliberately broken)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def gradient_rgb(width: int = 32, height: int = 24, seed: int = 0) -> np.ndarray:
    """A deterministic colourful uint8 image (gradients plus seeded noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([255 * x / max(width - 1, 1), 255 * y / max(height - 1, 1), 128 + 0 * x], axis=2)
    arr = arr + rng.integers(-40, 40, size=arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def save_jpeg(path: Path, arr: np.ndarray, **kwargs: object) -> Path:
    Image.fromarray(arr).save(path, format="JPEG", quality=90, **kwargs)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png_bytes(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares ``width x height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def truncated_jpeg_bytes(seed: int = 1) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gradient_rgb(64, 48, seed)).save(buf, format="JPEG", quality=95)
    data = buf.getvalue()
    return data[: len(data) // 2]


def cmyk_jpeg_bytes(seed: int = 2, *, truncate: bool = False) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gradient_rgb(40, 30, seed)).convert("CMYK").save(buf, format="JPEG", quality=95)
    data = buf.getvalue()
    return data[: len(data) // 2] if truncate else data


def write_broken_five(folder: Path) -> dict[str, str]:
    """The five broken files of the issue; returns item id -> expected reason.

    The CMYK one is a CMYK JPEG that is *also* cut off (a valid CMYK JPEG is converted to
    RGB and is not a bad item; see docs/features.md).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "truncated.jpg").write_bytes(truncated_jpeg_bytes())
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image, just text named .jpg\n")
    (folder / "huge.png").write_bytes(huge_png_bytes(60000, 60000))
    (folder / "cmyk.jpg").write_bytes(cmyk_jpeg_bytes(truncate=True))
    return {
        "truncated": "truncated or corrupt",
        "zero": "zero-byte file",
        "text": "not an image",
        "huge": "decompression bomb",
        "cmyk": "truncated or corrupt",
    }


def write_good_images(folder: Path, n: int, size: tuple[int, int] = (40, 32)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        paths.append(save_jpeg(folder / f"img{i:03d}.jpg", gradient_rgb(size[0], size[1], seed=i)))
    return paths
