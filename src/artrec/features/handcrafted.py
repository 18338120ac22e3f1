r"""Hand-engineered "attractiveness" features (Dominguez et al. DLRS 2017; Messina et al. 2019).

The papers behind the notebook describe artworks with the visual-attractiveness features of
San Pedro & Siersdorfer (WWW 2009), plus a texture descriptor. This module implements them
in numpy, one pure function each, on an RGB image ``I`` with channels ``R, G, B`` scaled to
``[0, 1]`` (``N`` pixels). ``Y = 0.299 R + 0.587 G + 0.114 B`` is the BT.601 luma.

==================  ==========================================================================
feature             formula
==================  ==========================================================================
brightness          :math:`\bar Y = \frac1N \sum Y`
saturation          :math:`\frac1N \sum S`, HSV saturation :math:`S = (\max - \min)/\max`
                    (0 where :math:`\max = 0`)
contrast_rms        :math:`\sqrt{\frac1N \sum (Y - \bar Y)^2}` (RMS contrast)
contrast_rgb        :math:`\sqrt{\frac1N \sum \lVert c - \bar c \rVert^2}`, :math:`c = (R,G,B)`:
                    RMS contrast extended to the RGB colour space
sharpness           :math:`\operatorname{Var}(\nabla^2 Y)`, the variance of the 4-neighbour
                    Laplacian ``[[0,1,0],[1,-4,1],[0,1,0]]`` of ``Y`` over interior pixels
colourfulness       Hasler & Süsstrunk (2003) on 0..255 values: :math:`rg = R-G`,
                    :math:`yb = (R+G)/2 - B`,
                    :math:`M = \sqrt{\sigma_{rg}^2+\sigma_{yb}^2} + 0.3\sqrt{\mu_{rg}^2+\mu_{yb}^2}`
entropy             :math:`-\sum_k p_k \log_2 p_k` over the 256-bin histogram of
                    ``round(255 Y)`` (bits)
naturalness         Huang, Wang & Wu (2006), as used by San Pedro & Siersdorfer: in HSL,
                    keep pixels with :math:`0.2 \le L \le 0.8` and :math:`S > 0.1`; group
                    them by hue: skin 25-70°, grass 95-135°, sky 185-260°; with
                    :math:`\bar S_g` the mean saturation of group :math:`g`,
                    :math:`N_{skin} = e^{-\frac12((\bar S-0.76)/0.52)^2}`,
                    :math:`N_{grass} = e^{-\frac12((\bar S-0.81)/0.53)^2}`,
                    :math:`N_{sky} = e^{-\frac12((\bar S-0.43)/0.22)^2}`;
                    naturalness :math:`= \sum_g (n_g / \sum n) N_g` (0 without such pixels)
lbp_0 .. lbp_9      normalised histogram of rotation-invariant uniform local binary patterns
                    (Ojala et al. 2002, "riu2"), ``P = 8`` neighbours at radius ``R = 1``,
                    sampled with bilinear interpolation on ``round(255 Y)``; a neighbour
                    sets its bit when ``>=`` the centre; codes 0..8 count the set bits of
                    uniform patterns (at most 2 transitions), code 9 collects the others.
                    Border pixels are left out. These are the codes of
                    ``skimage.feature.local_binary_pattern(g, 8, 1, "uniform")`` on
                    interior pixels (the tests compare them).
==================  ==========================================================================

**Speed.** Images larger than ``max_side`` (default 512) on their longer side are first
downscaled to that working size (bilinear, aspect kept; PIL reduces huge images by an
integer box filter first, ``reducing_gap=2``), so the cost per image is bounded whatever the
input size, and the features of a 6000-px scan and of its thumbnail are comparable;
sharpness in particular depends on scale. All the features are then computed from one set
of planes (:class:`ColourPlanes`), each derived once from the 8-bit image: the luma is kept
as the exact integer ``299 R + 587 G + 114 B`` (so brightness, contrast, sharpness and the
grey levels are exact), the colour moments come from one 3 x 3 product, HSL is only
evaluated on the pixels the naturalness index keeps, and each LBP bit is an integer
comparison on shifted views of the grey image: for the diagonal neighbours, with the
sampling offsets ``0.70711`` and ``0.29289`` the bilinear value ``v`` satisfies
``v >= centre`` exactly when ``29289 (h + w - 2c) + 70711 (d - c) >= 0`` (``h``, ``w`` the
horizontal and vertical neighbours, ``d`` the diagonal one), a test done in int32 with no
rounding. The 256 patterns are counted once and folded into the 10 riu2 bins by a table.

The previous per-feature float64 implementation is kept in the tests as the slow
reference (``tests/_handcrafted_reference.py``). On the test images (400 public-art
thumbnails, gradients, noise and flat images) the two agree to ``1e-6`` (float32 rounding)
on every feature except where a quantity is an exact tie in real arithmetic, which the old
float64 code rounded either way and this one decides exactly: an LBP neighbour equal to its
centre after interpolation (LBP bins differ by at most ``3e-5``) and pixels exactly on a
naturalness threshold, e.g. lightness ``(max + min) / 510 = 0.2``, which the old code
computed as ``0.19999999999999998`` and dropped (naturalness differs by at most ``6e-3``).
:data:`REFERENCE_TOLERANCE` holds the bounds ``tests/test_handcrafted.py`` checks; large
inputs are compared at the same working image, since the downscaling itself now reduces
by an integer box filter first.

**Reduced decoding.** The extractor asks the image reader for a JPEG decoded at a reduced
DCT scale (``size_hint = max_side``: the longer side stays at least 1.5 times the working
size, see :mod:`artrec.images.reader`), so a 4000 x 3000 photo is decoded at 1000 x 750
and only that is downscaled. The features then differ slightly from those of a full decode
followed by the same working-size resize, since the pixels of the working image are
filtered differently; :data:`REDUCED_DECODE_TOLERANCE` holds the bounds measured on 30
public-art paintings at 1600 x 1200 to 4000 x 3000 (sharpness, a variance of second
differences, is the most sensitive to the filter: up to 11% relative; the other scalars
move by at most 0.5%, LBP bins by at most 0.011) and checked by ``tests/test_handcrafted.py``.
Inputs at most 1.5 times ``max_side`` larger on their longer side (e.g. 768 px for 512),
and formats other than JPEG, are decoded in full and unaffected.

The :class:`HandcraftedExtractor` computes everything in :meth:`~HandcraftedExtractor.preprocess`,
i.e. in the runner's worker processes; its ``forward`` is the identity.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from artrec.errors import DataError
from artrec.features.extractor import FeatureExtractor, base_info
from artrec.images.reader import REDUCING_GAP

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
#: Largest difference between the features of a JPEG decoded at a reduced scale and those of
#: its full decode (same working size): relative for the scalars (sharpness on its own),
#: absolute for the LBP bins. See "Reduced decoding" above.
REDUCED_DECODE_TOLERANCE: dict[str, float] = {"scalars": 0.01, "sharpness": 0.15, "lbp": 0.02}
#: Largest difference from the previous float64 implementation on the test images, per
#: feature group, from exact ties decided differently (see the module docstring).
REFERENCE_TOLERANCE: dict[str, float] = {"scalars": 1e-6, "naturalness": 1e-2, "lbp": 1e-4}

#: 255 * 1000: the integer luma ``299 R + 587 G + 114 B`` of 8-bit channels is ``Y * _LUMA_SCALE``.
_LUMA_SCALE = 255_000
_LUMA_WEIGHTS = np.array([299.0, 587.0, 114.0])
_DIAGONAL = (29289, 70711)  # (1 - 0.70711, 0.70711) * 1e5: the bilinear weights of radius 1


def as_rgb_float(image: Image.Image | np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` float64 array in ``[0, 1]`` from a PIL image or a uint8/float array."""
    arr = _as_rgb(image)
    return arr.astype(np.float64) / 255.0 if arr.dtype == np.uint8 else arr


def _as_rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 array (8-bit input) or float64 array in ``[0, 1]`` (float input)."""
    if isinstance(image, Image.Image):
        arr = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    else:
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            arr = arr.astype(np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise DataError(f"expected an RGB image of shape (H, W, 3), got {arr.shape}")
    return arr


class ColourPlanes:
    """The planes every feature is computed from, each derived at most once per image.

    For 8-bit input every quantity is an exact integer computation carried in float64 (the
    channel sums and sums of products, the luma ``299 R + 587 G + 114 B``, its Laplacian)
    or in small integer types (grey levels, extremes, hue groups), so the features do not
    depend on summation order.

    Parameters
    ----------
    image
        A PIL image or an ``(H, W, 3)`` array: uint8, or float in ``[0, 1]``.
    """

    def __init__(self, image: Image.Image | np.ndarray) -> None:
        self.rgb = _as_rgb(image)
        self.exact = self.rgb.dtype == np.uint8
        self.shape: tuple[int, int] = (self.rgb.shape[0], self.rgb.shape[1])
        self.n = self.shape[0] * self.shape[1]

    @cached_property
    def channels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R, G, B as separate contiguous planes (uint8 or float64)."""
        return tuple(np.ascontiguousarray(self.rgb[..., i]) for i in range(3))  # type: ignore[return-value]

    @cached_property
    def wide(self) -> np.ndarray:
        """The channels as the rows of one ``(3, N)`` float64 array (integers for 8-bit input)."""
        out = np.empty((3, self.n))
        for row, plane in zip(out, self.channels, strict=True):
            row[...] = plane.reshape(-1)
        return out

    @cached_property
    def colour_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel sums ``(3,)`` and sums of products ``(3, 3)`` of the 8-bit values,
        exact integers in float64 (8-bit input only)."""
        rows = self.wide
        sums = rows.sum(axis=1)
        second = np.empty((3, 3))
        for i in range(3):
            for j in range(i, 3):
                second[i, j] = second[j, i] = float(np.einsum("i,i->", rows[i], rows[j]))
        return sums, second

    @cached_property
    def colour_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean colour ``(3,)`` and population covariance ``(3, 3)``, on the ``[0, 1]`` scale."""
        if self.exact:
            sums, second = self.colour_sums
            mean = sums / self.n
            cov = second / self.n - np.outer(mean, mean)
            return mean / 255.0, cov / 255.0**2
        rows = self.wide
        mean = rows.sum(axis=1) / self.n
        centred = rows - mean[:, None]
        return mean, np.einsum("in,jn->ij", centred, centred) / self.n

    @cached_property
    def luma(self) -> np.ndarray:
        """The luma plane, float64: ``299 R + 587 G + 114 B`` (= ``Y * 255000``, an integer)
        for 8-bit input, ``Y`` in ``[0, 1]`` otherwise."""
        weights = _LUMA_WEIGHTS if self.exact else _LUMA_WEIGHTS / 1000.0
        rows = self.wide
        out = rows[0] * weights[0]
        out += rows[1] * weights[1]
        out += rows[2] * weights[2]
        return out.reshape(self.shape)

    @property
    def luma_scale(self) -> float:
        """What :attr:`luma` must be divided by to give ``Y``."""
        return float(_LUMA_SCALE) if self.exact else 1.0

    @cached_property
    def luma_moments(self) -> tuple[float, float]:
        """Mean and population variance of :attr:`luma` (exact rational arithmetic on the
        integer sums for 8-bit input)."""
        if not self.exact:
            y = self.luma
            return float(y.mean()), float(y.var())
        sums, second = self.colour_sums
        w = [int(v) for v in _LUMA_WEIGHTS]
        s = [int(v) for v in sums]
        total = sum(wi * si for wi, si in zip(w, s, strict=True))
        squares = sum(w[i] * w[j] * int(second[i, j]) for i in range(3) for j in range(3))
        return total / self.n, (self.n * squares - total * total) / self.n**2

    @cached_property
    def grey(self) -> np.ndarray:
        """Grey levels ``round(255 Y)`` as uint8 (halves rounded as the float64 reference)."""
        if not self.exact:
            return np.clip(np.rint(self.luma * 255.0), 0, 255).astype(np.uint8)
        scaled = self.luma * 0.001  # luma / 1000: its fraction is a multiple of 0.001
        rounded = np.rint(scaled)
        scaled -= rounded
        ties = np.abs(scaled, out=scaled) > 0.4999  # exact halves: L = 1000 k + 500
        grey = rounded.astype(np.uint8)
        if ties.any():  # round them as rint(255 * float64 luma) does
            r, g, b = (c[ties].astype(np.float64) / 255.0 for c in self.channels)
            grey[ties] = np.rint((0.299 * r + 0.587 * g + 0.114 * b) * 255.0).astype(np.uint8)
        return grey

    @cached_property
    def extremes(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel maximum and minimum over the channels (uint8 or float64)."""
        r, g, b = self.channels
        return np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)


def _planes(image: Image.Image | np.ndarray | ColourPlanes) -> ColourPlanes:
    return image if isinstance(image, ColourPlanes) else ColourPlanes(image)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of an ``(H, W, 3)`` array in ``[0, 1]``."""
    p = _planes(rgb)
    return np.asarray(p.luma / p.luma_scale, dtype=np.float64)


def brightness(rgb: np.ndarray | ColourPlanes) -> float:
    """Mean luma, in ``[0, 1]``."""
    p = _planes(rgb)
    return float(p.luma_moments[0] / p.luma_scale)


def saturation(rgb: np.ndarray | ColourPlanes) -> float:
    """Mean HSV saturation ``(max - min) / max`` (0 for black pixels), in ``[0, 1]``."""
    mx, mn = _planes(rgb).extremes
    top = mx.astype(np.float32)
    s = np.divide(top - mn, top, out=np.zeros_like(top), where=mx > 0)
    return float(s.mean(dtype=np.float64))


def contrast_rms(rgb: np.ndarray | ColourPlanes) -> float:
    """RMS contrast: the standard deviation of the luma."""
    p = _planes(rgb)
    return float(np.sqrt(max(p.luma_moments[1], 0.0)) / p.luma_scale)


def contrast_rgb(rgb: np.ndarray | ColourPlanes) -> float:
    """RGB contrast: root mean squared Euclidean distance of pixel colours to the mean colour."""
    _mean, cov = _planes(rgb).colour_moments
    return float(np.sqrt(max(float(np.trace(cov)), 0.0)))


def sharpness(rgb: np.ndarray | ColourPlanes) -> float:
    """Variance of the 4-neighbour Laplacian of the luma over interior pixels (0 if none)."""
    p = _planes(rgb)
    y = p.luma
    if y.shape[0] < 3 or y.shape[1] < 3:
        return 0.0
    lap = y[:-2, 1:-1] + y[2:, 1:-1]
    lap += y[1:-1, :-2]
    lap += y[1:-1, 2:]
    lap -= 4 * y[1:-1, 1:-1]
    flat_lap = lap.reshape(-1)
    mean = float(flat_lap.sum()) / flat_lap.size
    var = max(float(np.einsum("i,i->", flat_lap, flat_lap)) / flat_lap.size - mean * mean, 0.0)
    return var / p.luma_scale**2


def colourfulness(rgb: np.ndarray | ColourPlanes) -> float:
    """Hasler-Süsstrunk colourfulness on 0..255 values (0: grey; about 109 very colourful)."""
    mean, cov = _planes(rgb).colour_moments
    mean, cov = mean * 255.0, cov * 255.0**2
    rg = np.array([1.0, -1.0, 0.0])  # R - G
    yb = np.array([0.5, 0.5, -1.0])  # (R + G) / 2 - B
    var_rg, var_yb = max(rg @ cov @ rg, 0.0), max(yb @ cov @ yb, 0.0)
    spread = np.sqrt(var_rg + var_yb)
    centre = np.sqrt((rg @ mean) ** 2 + (yb @ mean) ** 2)
    return float(spread + 0.3 * centre)


def grey_levels(rgb: np.ndarray | ColourPlanes) -> np.ndarray:
    """The luma quantised to integers 0..255 (``round(255 Y)``), as uint8."""
    return _planes(rgb).grey


def entropy(rgb: np.ndarray | ColourPlanes) -> float:
    """Shannon entropy (bits) of the 256-bin grey-level histogram."""
    counts = _histogram256(_planes(rgb).grey)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def hsl(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue (degrees in [0, 360)), HSL saturation and lightness of an RGB array in [0, 1]."""
    rgb = np.asarray(rgb, dtype=np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx = rgb.max(axis=-1)
    mn = rgb.min(axis=-1)
    chroma = mx - mn
    light = (mx + mn) / 2.0
    denom = 1.0 - np.abs(2.0 * light - 1.0)
    sat = np.divide(chroma, denom, out=np.zeros_like(chroma), where=(chroma > 0) & (denom > 0))
    return _hue(r, g, b, mx, chroma), np.clip(sat, 0.0, 1.0), light


def _hue(
    r: np.ndarray, g: np.ndarray, b: np.ndarray, mx: np.ndarray, chroma: np.ndarray
) -> np.ndarray:
    """Hue in degrees ``[0, 360)`` (0 for greys) from the channels, their maximum and chroma."""
    is_r = mx == r
    is_g = ~is_r & (mx == g)
    num = np.where(is_r, g - b, np.where(is_g, b - r, r - g))
    offset = np.where(is_r, 0.0, np.where(is_g, 2.0, 4.0)).astype(chroma.dtype)
    hue = np.divide(num, chroma, out=np.zeros(chroma.shape, dtype=chroma.dtype), where=chroma > 0)
    hue += offset
    hue *= 60.0
    hue[hue < 0] += 360.0
    hue[chroma <= 0] = 0.0
    return hue


_NATURAL_GROUPS: tuple[tuple[float, float, float, float], ...] = (
    # hue from, hue to, ideal mean saturation, spread
    (25.0, 70.0, 0.76, 0.52),  # skin
    (95.0, 135.0, 0.81, 0.53),  # grass
    (185.0, 260.0, 0.43, 0.22),  # sky
)


def naturalness(rgb: np.ndarray | ColourPlanes) -> float:
    """Huang et al. (2006) naturalness index, in ``[0, 1]`` (0 without skin/grass/sky pixels)."""
    p = _planes(rgb)
    if p.exact:
        groups, sat = _natural_groups_exact(p)
    else:
        groups, sat = _natural_groups_float(p)
    counts = [int(np.count_nonzero(mask)) for mask in groups]
    total_n = sum(counts)
    if total_n == 0:
        return 0.0
    score = 0.0
    for n, mask, (_lo, _hi, ideal, spread) in zip(counts, groups, _NATURAL_GROUPS, strict=True):
        if n:
            s_mean = float(sat.sum(where=mask, dtype=np.float64)) / n
            score += n * float(np.exp(-0.5 * ((s_mean - ideal) / spread) ** 2))
    return score / total_n


def _natural_groups_exact(p: ColourPlanes) -> tuple[list[np.ndarray], np.ndarray]:
    """Masks of the kept skin, grass and sky pixels and the HSL saturation, for 8-bit input.

    Lightness, saturation and hue thresholds are integer inequalities, so exact: with
    ``C = max - min``, a pixel whose maximum is R has hue ``60 (G - B) / C`` (mod 360), so
    it is skin (25-70 degrees) when ``12 (G - B) >= 5 C``; a maximum at G gives hue
    ``120 + 60 (B - R) / C``, skin when ``6 (B - R) <= -5 C`` and grass (95-135) when
    ``-5 C <= 12 (B - R)`` and ``4 (B - R) <= C``; a maximum at B gives ``240 + 60 (R - G) / C``,
    sky (185-260) when ``-11 C <= 12 (R - G)`` and ``3 (R - G) <= C``.
    """
    mx, mn = p.extremes
    top = mx.astype(np.int16)
    total = top + mn
    chroma = top - mn
    denom = 255 - np.abs(total - 255)
    keep = (total >= 102) & (total <= 408) & (10 * chroma > denom)
    r8, g8, _b8 = p.channels
    r, g, b = (c.astype(np.int16) for c in p.channels)
    is_r = mx == r8
    is_g = (mx == g8) & ~is_r
    is_b = ~(is_r | (mx == g8))
    c5 = 5 * chroma
    g_b = g - b
    b_r = b - r
    r_g = r - g
    skin = (is_r & (12 * g_b >= c5)) | (is_g & (6 * b_r <= -c5))
    grass = is_g & (12 * b_r >= -c5) & (4 * b_r <= chroma)
    sky = is_b & (12 * r_g >= -11 * chroma) & (3 * r_g <= chroma)
    sat = chroma.astype(np.float32) / np.maximum(denom, 1).astype(np.float32)
    return [mask & keep for mask in (skin, grass, sky)], sat


def _natural_groups_float(p: ColourPlanes) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`_natural_groups_exact` for float input, through the hue in degrees."""
    mx, mn = p.extremes
    light = (mx + mn) / 2.0
    denom = 1.0 - np.abs(2.0 * light - 1.0)
    chroma = mx - mn
    sat = np.clip(np.divide(chroma, denom, out=np.zeros_like(mx), where=denom > 0), 0, 1)
    keep = (light >= 0.2) & (light <= 0.8) & (sat > 0.1)
    r, g, b = p.channels
    hue = _hue(r, g, b, mx, chroma)
    return [keep & (hue >= lo) & (hue <= hi) for lo, hi, _i, _s in _NATURAL_GROUPS], sat


def _uniform_table(points: int = LBP_POINTS) -> np.ndarray:
    """riu2 code of each of the ``2**points`` bit patterns (bit i = neighbour i)."""
    table = np.empty(1 << points, dtype=np.int64)
    for pattern in range(1 << points):
        bits = [(pattern >> i) & 1 for i in range(points)]
        changes = sum(bits[i] != bits[i + 1] for i in range(points - 1))
        table[pattern] = sum(bits) if changes <= 2 else points + 1
    return table


_RIU2 = _uniform_table()


def _lbp_patterns(grey: np.ndarray) -> np.ndarray:
    """8-bit neighbour patterns of the interior pixels (P = 8, R = 1; bit i = neighbour i,
    counter-clockwise from the right) of integer grey levels, as uint8.

    A diagonal neighbour is at least the centre when
    ``near (h + v) + far d >= (2 near + far) c``, with ``(near, far)`` = :data:`_DIAGONAL`:
    three planes scaled once, then one sum and one comparison per diagonal.
    """
    g = np.asarray(grey)
    c = g[1:-1, 1:-1]
    near, far = _DIAGONAL
    wide = g.astype(np.int32)
    side = wide * near
    corner = wide * far
    centre = wide[1:-1, 1:-1] * (2 * near + far)

    def diagonal(rows: slice, cols: slice) -> np.ndarray:
        acc = side[rows, 1:-1] + side[1:-1, cols]
        acc += corner[rows, cols]
        return acc >= centre

    up, down, left, right = slice(None, -2), slice(2, None), slice(None, -2), slice(2, None)
    bits = (
        g[1:-1, 2:] >= c,
        diagonal(up, right),
        g[:-2, 1:-1] >= c,
        diagonal(up, left),
        g[1:-1, :-2] >= c,
        diagonal(down, left),
        g[2:, 1:-1] >= c,
        diagonal(down, right),
    )
    pattern = bits[0].astype(np.uint8)
    for i, bit in enumerate(bits[1:], start=1):
        pattern |= bit.view(np.uint8) << i
    return pattern


def lbp_codes(grey: np.ndarray, points: int = LBP_POINTS, radius: float = LBP_RADIUS) -> np.ndarray:
    """Rotation-invariant uniform LBP codes (0..points+1) of the interior pixels of ``grey``
    (integer grey levels 0..255).

    Returns an array of shape ``(H - 2, W - 2)``; empty when the image is too small. Only
    ``points = 8`` and ``radius = 1`` are implemented.
    """
    if points != LBP_POINTS or radius != LBP_RADIUS:
        raise DataError(f"LBP is implemented for P = 8, R = 1 only, got P = {points}, R = {radius}")
    g = np.asarray(grey)
    if g.shape[0] <= 2 or g.shape[1] <= 2:
        return np.zeros((0, 0), dtype=np.int64)
    return _RIU2[_lbp_patterns(np.rint(g).astype(np.int32))]


def lbp_histogram(rgb: np.ndarray | ColourPlanes) -> np.ndarray:
    """Normalised histogram (sums to 1; all zeros for images under 3x3) of :func:`lbp_codes`."""
    grey = _planes(rgb).grey
    if grey.shape[0] <= 2 or grey.shape[1] <= 2:
        return np.zeros(LBP_POINTS + 2)
    patterns = _histogram256(_lbp_patterns(grey))
    counts = np.bincount(_RIU2, weights=patterns, minlength=LBP_POINTS + 2)
    total = counts.sum()
    return counts / total if total else counts


def _histogram256(values: np.ndarray) -> np.ndarray:
    """Counts of each value 0..255 of a 2-D uint8 array (Pillow's histogram: one C pass)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(values)).histogram(), dtype=np.int64)


def working_image(image: Image.Image, max_side: int | None) -> Image.Image:
    """``image`` as RGB, downscaled (bilinear, aspect kept) so its longer side is at most
    ``max_side`` (``None``: unchanged)."""
    im = image.convert("RGB") if image.mode != "RGB" else image
    if max_side is None or max(im.size) <= max_side:
        return im
    scale = max_side / max(im.size)
    size = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
    return im.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def attractiveness_features(
    image: Image.Image | np.ndarray, max_side: int | None = 512
) -> np.ndarray:
    """All features of one image as a float32 vector ordered as :data:`FEATURE_NAMES`.

    Parameters
    ----------
    image
        A PIL image or an ``(H, W, 3)`` array (uint8, or float in ``[0, 1]``).
    max_side
        Working size: a PIL image whose longer side exceeds it is downscaled first
        (bilinear, aspect kept); ``None``: never.
    """
    if isinstance(image, Image.Image):
        image = working_image(image, max_side)
    p = ColourPlanes(image)
    scalars = [
        brightness(p),
        saturation(p),
        contrast_rms(p),
        contrast_rgb(p),
        sharpness(p),
        colourfulness(p),
        entropy(p),
        naturalness(p),
    ]
    return np.concatenate([np.asarray(scalars), lbp_histogram(p)]).astype(np.float32)


class HandcraftedExtractor(FeatureExtractor):
    """The 18 attractiveness features (8 scalars + 10-bin uniform LBP histogram).

    Parameters
    ----------
    max_side
        Longer side above which images are downscaled before measuring (default 512).
    """

    def __init__(self, max_side: int | None = 512) -> None:
        self.name = "handcrafted"
        self.dim = len(FEATURE_NAMES)
        self.max_side = max_side
        self.decode_size = max_side

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """Compute the feature vector (float32, length 18); runs in the worker processes."""
        return attractiveness_features(image, self.max_side)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """Identity: the features were computed by :meth:`preprocess`."""
        out = np.asarray(batch, dtype=np.float32)
        if out.ndim != 2 or out.shape[1] != self.dim:
            raise DataError(f"handcrafted: expected a (n, {self.dim}) batch, got {out.shape}")
        return out

    def info(self) -> dict[str, Any]:
        """Sidecar description: feature names, formulas' source, preprocessing."""
        return {
            **base_info(self),
            "model": "attractiveness features (San Pedro & Siersdorfer 2009; Dominguez et al. 2017)",
            "weights": None,
            "feature_names": list(FEATURE_NAMES),
            "lbp": {"points": LBP_POINTS, "radius": LBP_RADIUS, "method": "uniform (riu2)"},
            "preprocessing": {
                "max_side": self.max_side,
                "interpolation": "bilinear",
                "decode": "full"
                if self.max_side is None
                else f"JPEG at a reduced scale, longer side >= {REDUCING_GAP} x max_side",
            },
        }
