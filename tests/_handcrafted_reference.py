"""The original, per-feature numpy implementation of the attractiveness features: the slow reference.

It is the implementation :mod:`artrec.features.handcrafted` shipped before it was fused and
vectorised (float64 throughout, every feature recomputing its colour conversions, LBP
sampled by fancy-indexed bilinear interpolation). ``tests/test_handcrafted.py`` compares
the fast implementation with it on the test images; the benchmark times both.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from artrec.errors import DataError

#: Scalar features, in vector order.
SCALAR_FEATURES: tuple[str, ...] = (
    "brightness",
    "saturation",
    "contrast_rms",
    "contrast_rgb",
    "sharpness",
    "colourfulness",
    "entropy",
    "naturalness",
)
LBP_POINTS = 8
LBP_RADIUS = 1.0
#: All feature names, in vector order (8 scalars + 10 LBP bins).
FEATURE_NAMES: tuple[str, ...] = SCALAR_FEATURES + tuple(f"lbp_{i}" for i in range(LBP_POINTS + 2))


def as_rgb_float(image: Image.Image | np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` float64 array in ``[0, 1]`` from a PIL image or a uint8/float array."""
    if isinstance(image, Image.Image):
        arr = (
            np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.float64)
            / 255.0
        )
    else:
        arr = np.asarray(image)
        arr = arr.astype(np.float64) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise DataError(f"expected an RGB image of shape (H, W, 3), got {arr.shape}")
    return arr


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of an ``(H, W, 3)`` array."""
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def brightness(rgb: np.ndarray) -> float:
    """Mean luma, in ``[0, 1]``."""
    return float(luma(rgb).mean())


def saturation(rgb: np.ndarray) -> float:
    """Mean HSV saturation ``(max - min) / max`` (0 for black pixels), in ``[0, 1]``."""
    mx = rgb.max(axis=2)
    mn = rgb.min(axis=2)
    s = np.divide(mx - mn, mx, out=np.zeros_like(mx), where=mx > 0)
    return float(s.mean())


def contrast_rms(rgb: np.ndarray) -> float:
    """RMS contrast: the standard deviation of the luma."""
    return float(luma(rgb).std())


def contrast_rgb(rgb: np.ndarray) -> float:
    """RGB contrast: root mean squared Euclidean distance of pixel colours to the mean colour."""
    flat = rgb.reshape(-1, 3)
    return float(np.sqrt(((flat - flat.mean(axis=0)) ** 2).sum(axis=1).mean()))


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the luma over interior pixels (0 if none)."""
    y = luma(rgb)
    if y.shape[0] < 3 or y.shape[1] < 3:
        return 0.0
    lap = y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4.0 * y[1:-1, 1:-1]
    return float(lap.var())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Süsstrunk colourfulness on 0..255 values (0: grey; about 109 very colourful)."""
    r, g, b = (rgb[..., i] * 255.0 for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = np.sqrt(rg.var() + yb.var())
    centre = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * centre)


def grey_levels(rgb: np.ndarray) -> np.ndarray:
    """The luma quantised to integers 0..255 (``round(255 Y)``), as float64."""
    return np.clip(np.rint(luma(rgb) * 255.0), 0, 255)


def entropy(rgb: np.ndarray) -> float:
    """Shannon entropy (bits) of the 256-bin grey-level histogram."""
    counts = np.bincount(grey_levels(rgb).astype(np.int64).ravel(), minlength=256)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def hsl(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue (degrees in [0, 360)), HSL saturation and lightness of an RGB array in [0, 1]."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx = rgb.max(axis=2)
    mn = rgb.min(axis=2)
    chroma = mx - mn
    light = (mx + mn) / 2.0
    denom = 1.0 - np.abs(2.0 * light - 1.0)
    sat = np.divide(chroma, denom, out=np.zeros_like(chroma), where=(chroma > 0) & (denom > 0))
    hue = np.zeros_like(chroma)
    nz = chroma > 0
    safe = np.where(nz, chroma, 1.0)
    is_r = nz & (mx == r)
    is_g = nz & ~is_r & (mx == g)
    is_b = nz & ~is_r & ~is_g
    hue = np.where(is_r, ((g - b) / safe) % 6.0, hue)
    hue = np.where(is_g, (b - r) / safe + 2.0, hue)
    hue = np.where(is_b, (r - g) / safe + 4.0, hue)
    return (hue * 60.0) % 360.0, np.clip(sat, 0.0, 1.0), light


_NATURAL_GROUPS: tuple[tuple[float, float, float, float], ...] = (
    # hue from, hue to, ideal mean saturation, spread
    (25.0, 70.0, 0.76, 0.52),  # skin
    (95.0, 135.0, 0.81, 0.53),  # grass
    (185.0, 260.0, 0.43, 0.22),  # sky
)


def naturalness(rgb: np.ndarray) -> float:
    """Huang et al. (2006) naturalness index, in ``[0, 1]`` (0 without skin/grass/sky pixels)."""
    hue, sat, light = hsl(rgb)
    keep = (light >= 0.2) & (light <= 0.8) & (sat > 0.1)
    total = 0
    score = 0.0
    for lo, hi, ideal, spread in _NATURAL_GROUPS:
        mask = keep & (hue >= lo) & (hue <= hi)
        n = int(mask.sum())
        if n == 0:
            continue
        s_mean = float(sat[mask].mean())
        score += n * float(np.exp(-0.5 * ((s_mean - ideal) / spread) ** 2))
        total += n
    return score / total if total else 0.0


def lbp_codes(grey: np.ndarray, points: int = LBP_POINTS, radius: float = LBP_RADIUS) -> np.ndarray:
    """Rotation-invariant uniform LBP codes (0..points+1) of the interior pixels of ``grey``.

    Returns an array of shape ``(H - 2r, W - 2r)`` with ``r = ceil(radius)``; empty when
    the image is too small.
    """
    g = np.asarray(grey, dtype=np.float64)
    border = int(np.ceil(radius))
    h, w = g.shape
    if h <= 2 * border or w <= 2 * border:
        return np.zeros((0, 0), dtype=np.int64)
    angles = 2.0 * np.pi * np.arange(points, dtype=np.float64) / points
    rp = np.round(-radius * np.sin(angles), 5)
    cp = np.round(radius * np.cos(angles), 5)
    rows = np.arange(border, h - border, dtype=np.float64)[:, None]
    cols = np.arange(border, w - border, dtype=np.float64)[None, :]
    centre = g[border : h - border, border : w - border]
    bits = np.empty((points, *centre.shape), dtype=np.int8)
    for i in range(points):
        bits[i] = _bilinear(g, rows + rp[i], cols + cp[i]) - centre >= 0
    changes = (bits[:-1] != bits[1:]).sum(axis=0)
    ones = bits.sum(axis=0, dtype=np.int64)
    return np.where(changes <= 2, ones, points + 1)


def _bilinear(g: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    # Same arithmetic as scikit-image's bilinear_interpolation (interior points only).
    r, c = np.broadcast_arrays(r, c)
    minr = np.floor(r)
    minc = np.floor(c)
    maxr = np.ceil(r)
    maxc = np.ceil(c)
    dr = r - minr
    dc = c - minc
    i0, i1 = minr.astype(np.int64), maxr.astype(np.int64)
    j0, j1 = minc.astype(np.int64), maxc.astype(np.int64)
    top = (1 - dc) * g[i0, j0] + dc * g[i0, j1]
    bottom = (1 - dc) * g[i1, j0] + dc * g[i1, j1]
    return (1 - dr) * top + dr * bottom


def lbp_histogram(rgb: np.ndarray) -> np.ndarray:
    """Normalised histogram (sums to 1; all zeros for images under 3x3) of :func:`lbp_codes`."""
    codes = lbp_codes(grey_levels(rgb))
    counts = np.bincount(codes.ravel(), minlength=LBP_POINTS + 2).astype(np.float64)
    total = counts.sum()
    return counts / total if total else counts


def attractiveness_features(
    image: Image.Image | np.ndarray, max_side: int | None = 512
) -> np.ndarray:
    """All features of one image as a float32 vector ordered as :data:`FEATURE_NAMES`.

    Parameters
    ----------
    image
        A PIL image or an ``(H, W, 3)`` array (uint8, or float in ``[0, 1]``).
    max_side
        Downscale (bilinear, aspect kept) when the longer side exceeds this; ``None``: never.
    """
    if isinstance(image, Image.Image) and max_side is not None and max(image.size) > max_side:
        im = image.convert("RGB") if image.mode != "RGB" else image
        scale = max_side / max(im.size)
        size = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
        image = im.resize(size, Image.Resampling.BILINEAR)
    rgb = as_rgb_float(image)
    scalars = [
        brightness(rgb),
        saturation(rgb),
        contrast_rms(rgb),
        contrast_rgb(rgb),
        sharpness(rgb),
        colourfulness(rgb),
        entropy(rgb),
        naturalness(rgb),
    ]
    return np.concatenate([np.asarray(scalars), lbp_histogram(rgb)]).astype(np.float32)
