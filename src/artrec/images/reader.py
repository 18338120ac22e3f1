"""Robust image decoding.

:func:`read_image` turns a file path, raw bytes or a binary stream into a fully decoded RGB
:class:`PIL.Image.Image`. Real catalogues contain broken files, so every failure mode has
a named reason and raises :class:`BadImageError` (never a bare ``OSError``):

============================  ===============================================================
reason                        when
============================  ===============================================================
``missing file``              the path does not exist or is not a regular file
``zero-byte file``            the file (or byte string) is empty
``not an image``              Pillow cannot identify the format (text named ``.jpg``, ...)
``decompression bomb``        the header declares more than ``max_pixels`` pixels; checked
                              on the header, *before* any pixel is decoded
``truncated or corrupt``      decoding the pixel data fails (cut-off JPEG, bad PNG chunk, ...)
``unreadable``                the file cannot be read (permissions, I/O error)
============================  ===============================================================

Decoded images are normalised to RGB:

- EXIF orientation is applied (:func:`PIL.ImageOps.exif_transpose`); a broken EXIF block is
  ignored rather than fatal,
- ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``L``, ``1`` are converted with Pillow's converters,
- images with transparency (``RGBA``, ``LA``, ``PA``, ``P`` with a transparent index) are
  alpha-composited on white,
- 16/32-bit integer greyscale (``I;16*``, ``I``) is rescaled to 8 bits: values are divided
  by 257 when the maximum exceeds 255 (16-bit data), otherwise kept; float (``F``) images
  are clipped to [0, 255].

**Reduced decoding.** A consumer that only needs a small working image passes
``size_hint`` (the longer side it will downscale to). A JPEG whose longer side is more
than :data:`REDUCING_GAP` (1.5) times that is then decoded by DCT scaling
(:meth:`PIL.Image.Image.draft`: 1/2, 1/4 or 1/8 of its size) to the smallest scale that
keeps the longer side at least ``1.5 * size_hint``, so the consumer's own resize still
reduces by 1.5 to 3 times (Pillow's :meth:`~PIL.Image.Image.thumbnail` uses 2 to 4; 1.5
lets a 4000-px photo be decoded at 1/4 rather than 1/2 for a 512-px working size, half
the decoding and a quarter of the pixels to resize). Decoding work and the downscaling
that follows shrink with the scale; the pixels differ slightly from a full decode followed
by the same resize (the tolerance is measured and documented by the consumer, e.g.
:mod:`artrec.features.handcrafted`). Orientation and colour handling are unchanged: the
reduced image is rotated and converted exactly as a full one. Other formats are always
decoded in full.

Pillow's global settings (``Image.MAX_IMAGE_PIXELS``, ``ImageFile.LOAD_TRUNCATED_IMAGES``)
are never changed.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from artrec.errors import ArtrecError

#: Default limit on the number of pixels an image header may declare (Pillow's own default).
DEFAULT_MAX_PIXELS: int = 89_478_485

ImageSource = str | Path | bytes | IO[bytes]


class BadImageError(ArtrecError):
    """An image that cannot be used: missing, empty, not an image, truncated, too large.

    Parameters
    ----------
    source
        What was being read (a path, a URL or ``"<bytes>"``).
    reason
        Short machine-friendly reason (``"truncated or corrupt"``, ``"not an image"``, ...).
    detail
        Human-readable detail (the underlying error message).
    """

    def __init__(self, source: str, reason: str, detail: str = "") -> None:
        self.source = source
        self.reason = reason
        self.detail = detail
        message = f"{source}: {reason}" + (f" ({detail})" if detail else "")
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across DataLoader worker processes
        return (type(self), (self.source, self.reason, self.detail))


#: With ``size_hint``, JPEGs are decoded to a longer side of at least this many times it.
REDUCING_GAP = 1.5


def read_image(
    source: ImageSource,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    size_hint: int | None = None,
) -> Image.Image:
    """Decode an image fully and return it as RGB with EXIF orientation applied.

    Parameters
    ----------
    source
        A file path, the encoded bytes, or a binary stream.
    max_pixels
        Largest accepted ``width * height`` declared by the header (``None``: no limit).
        Checked before decoding, so a decompression bomb never allocates its pixels.
    size_hint
        The longer side the caller will downscale the image to (``None``: decode in full).
        A JPEG more than :data:`REDUCING_GAP` times larger is decoded at a reduced scale
        (see the module docstring); the result is then smaller than the declared size.

    Returns
    -------
    PIL.Image.Image
        A loaded image in mode ``"RGB"``.

    Raises
    ------
    BadImageError
        With a ``reason`` from the table in the module docstring.
    """
    name, stream = _open_stream(source)
    owned = not hasattr(source, "read")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                im = Image.open(stream)
            except Image.DecompressionBombError as exc:
                raise BadImageError(name, "decompression bomb", str(exc)) from None
            except UnidentifiedImageError:
                raise BadImageError(name, "not an image", "format not recognised") from None
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise BadImageError(name, "not an image", str(exc)) from None
            width, height = im.size
            if width <= 0 or height <= 0:
                raise BadImageError(name, "truncated or corrupt", f"declared size {width}x{height}")
            if max_pixels is not None and width * height > max_pixels:
                raise BadImageError(
                    name,
                    "decompression bomb",
                    f"header declares {width}x{height} = {width * height} pixels, limit {max_pixels}",
                )
            if size_hint is not None:
                _draft(im, size_hint)
            try:
                im.load()
            except Image.DecompressionBombError as exc:
                raise BadImageError(name, "decompression bomb", str(exc)) from None
            except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as exc:
                raise BadImageError(name, "truncated or corrupt", str(exc)) from None
            oriented = _apply_orientation(im)
            try:
                return to_rgb(oriented)
            except (OSError, ValueError) as exc:
                raise BadImageError(
                    name, "truncated or corrupt", f"mode {oriented.mode}: {exc}"
                ) from None
    finally:
        if owned:
            stream.close()


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert a decoded image of any Pillow mode to RGB (alpha composited on white).

    Parameters
    ----------
    im
        A loaded image.

    Returns
    -------
    PIL.Image.Image
        The image in mode ``"RGB"`` (``im`` itself when it already is).
    """
    mode = im.mode
    if mode == "RGB":
        return im
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
        if mode == "RGB":
            return im
    if mode in ("PA", "LA", "La", "RGBa", "RGBA"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        if mode != "F" and arr.size and arr.max() > 255:
            arr = arr / 257.0
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return im.convert("RGB")


def _draft(im: Image.Image, size_hint: int) -> None:
    """Ask a JPEG decoder for the smallest DCT scale keeping the longer side at least
    ``REDUCING_GAP * size_hint`` (a no-op for other formats and for small images)."""
    if im.format != "JPEG" or size_hint < 1:
        return
    width, height = im.size
    target = math.ceil(REDUCING_GAP * size_hint)
    longer = max(width, height)
    if longer <= target:
        return
    # the request keeps the aspect ratio, so the scale depends on the longer side only
    wanted = (max(1, -(-width * target // longer)), max(1, -(-height * target // longer)))
    try:
        im.draft(None, wanted)
    except (OSError, ValueError):  # pragma: no cover - the full decode still works
        return


def _apply_orientation(im: Image.Image) -> Image.Image:
    try:
        out = ImageOps.exif_transpose(im)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError, ZeroDivisionError):
        return im  # a broken EXIF block: keep the pixels as stored
    return im if out is None else out


def _open_stream(source: ImageSource) -> tuple[str, IO[bytes]]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise BadImageError("<bytes>", "zero-byte file")
        return "<bytes>", io.BytesIO(data)
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = str(path)
        try:
            if not path.is_file():
                raise BadImageError(name, "missing file")
            if path.stat().st_size == 0:
                raise BadImageError(name, "zero-byte file")
            return name, open(path, "rb")
        except OSError as exc:
            raise BadImageError(name, "unreadable", exc.strerror or str(exc)) from None
    if hasattr(source, "read"):
        return getattr(source, "name", "<stream>"), source
    raise BadImageError(
        repr(source)[:80], "not an image", f"unsupported source type {type(source).__name__}"
    )
