"""Hand-engineered attractiveness features: synthetic images with known values."""

from __future__ import annotations

import colorsys
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import _handcrafted_reference as reference
from _image_factory import gradient_rgb
from artrec.features import handcrafted as hc
from artrec.features.extractor import FeatureExtractor
from artrec.features.handcrafted import FEATURE_NAMES, HandcraftedExtractor, attractiveness_features
from contracts.extractor_contract import ExtractorContract


def flat(value: tuple[int, int, int], h: int = 12, w: int = 10) -> np.ndarray:
    return np.tile(np.asarray(value, dtype=np.uint8), (h, w, 1))


def halves(
    left: tuple[int, int, int], right: tuple[int, int, int], h: int = 8, w: int = 10
) -> np.ndarray:
    arr = flat(left, h, w)
    arr[:, w // 2 :] = right
    return arr


def feature(arr: np.ndarray, name: str) -> float:
    return float(attractiveness_features(arr, max_side=None)[FEATURE_NAMES.index(name)])


def test_flat_grey() -> None:
    arr = flat((128, 128, 128))
    f = dict(zip(FEATURE_NAMES, attractiveness_features(arr).tolist(), strict=True))
    assert f["brightness"] == pytest.approx(128 / 255, abs=1e-6)
    for name in (
        "saturation",
        "contrast_rms",
        "contrast_rgb",
        "sharpness",
        "colourfulness",
        "entropy",
    ):
        assert f[name] == pytest.approx(0.0, abs=1e-7), name
    assert f["naturalness"] == 0.0  # grey has no saturated skin/grass/sky pixels
    # every neighbour equals the centre: all bits set, uniform code 8
    lbp = [f[f"lbp_{i}"] for i in range(10)]
    assert lbp == [0.0] * 8 + [1.0, 0.0]


def test_half_black_half_white() -> None:
    arr = halves((0, 0, 0), (255, 255, 255), h=8, w=10)
    rgb = hc.as_rgb_float(arr)
    assert hc.entropy(rgb) == pytest.approx(1.0)
    assert hc.brightness(rgb) == pytest.approx(0.5)
    assert hc.contrast_rms(rgb) == pytest.approx(0.5)
    assert hc.contrast_rgb(rgb) == pytest.approx(math.sqrt(0.75))
    assert hc.saturation(rgb) == 0.0
    assert hc.colourfulness(rgb) == pytest.approx(0.0, abs=1e-9)
    # Laplacian is +1 left of the edge and -1 right of it: variance 2 / (W - 2)
    assert hc.sharpness(rgb) == pytest.approx(2 / 8)


def test_entropy_of_four_equal_levels_is_two_bits() -> None:
    arr = np.zeros((4, 4, 3), dtype=np.uint8)
    for i, v in enumerate((0, 60, 120, 240)):
        arr[i] = v
    assert feature(arr, "entropy") == pytest.approx(2.0)


def test_colourfulness_known_values() -> None:
    # pure red: rg = 255, yb = 127.5, no spread -> 0.3 * sqrt(255^2 + 127.5^2)
    assert feature(flat((255, 0, 0)), "colourfulness") == pytest.approx(
        0.3 * math.hypot(255, 127.5), rel=1e-6
    )
    # half red / half green: sigma_rg = 255, mu_rg = 0, yb = 127.5 everywhere
    assert feature(halves((255, 0, 0), (0, 255, 0)), "colourfulness") == pytest.approx(
        255 + 0.3 * 127.5
    )
    assert feature(flat((255, 0, 0)), "saturation") == pytest.approx(1.0)
    assert feature(flat((255, 0, 0)), "brightness") == pytest.approx(0.299, abs=1e-6)


def _hls_pixel(hue_deg: float, light: float, sat: float) -> tuple[float, float, float]:
    return colorsys.hls_to_rgb(hue_deg / 360.0, light, sat)


def test_naturalness_known_values() -> None:
    sky_ideal = np.tile(np.asarray(_hls_pixel(220, 0.5, 0.43)), (6, 6, 1))
    assert hc.naturalness(sky_ideal) == pytest.approx(1.0, abs=1e-9)
    # half ideal skin (S = 0.76 -> 1), half sky one spread away (S = 0.65 -> e^-1/2)
    mixed = np.zeros((6, 6, 3))
    mixed[:, :3] = _hls_pixel(40, 0.5, 0.76)
    mixed[:, 3:] = _hls_pixel(200, 0.5, 0.65)
    assert hc.naturalness(mixed) == pytest.approx(0.5 * (1 + math.exp(-0.5)), abs=1e-9)
    # too dark (L < 0.2) or off every hue range (magenta, 300°) does not count
    dark = np.tile(np.asarray(_hls_pixel(220, 0.1, 0.43)), (4, 4, 1))
    magenta = np.tile(np.asarray(_hls_pixel(300, 0.5, 0.8)), (4, 4, 1))
    assert hc.naturalness(dark) == 0.0
    assert hc.naturalness(magenta) == 0.0


def test_hsl_matches_colorsys_reference() -> None:
    rng = np.random.default_rng(5)
    rgb = rng.random((7, 9, 3))
    rgb[0, 0] = (0.3, 0.3, 0.3)  # a grey pixel
    hue, sat, light = hc.hsl(rgb)
    for i in range(7):
        for j in range(9):
            h, l_, s = colorsys.rgb_to_hls(*rgb[i, j])
            assert light[i, j] == pytest.approx(l_)
            assert sat[i, j] == pytest.approx(s, abs=1e-9)
            if s > 0:
                d = abs(hue[i, j] - 360 * h)
                assert min(d, 360 - d) == pytest.approx(0.0, abs=1e-7)


def test_slow_references_for_contrast_and_sharpness() -> None:
    rng = np.random.default_rng(2)
    rgb = rng.random((6, 7, 3))
    mean = rgb.reshape(-1, 3).mean(axis=0)
    slow_rgb = math.sqrt(
        sum(float(((rgb[i, j] - mean) ** 2).sum()) for i in range(6) for j in range(7)) / 42
    )
    assert hc.contrast_rgb(rgb) == pytest.approx(slow_rgb)
    y = hc.luma(rgb)
    laps = [
        y[i - 1, j] + y[i + 1, j] + y[i, j - 1] + y[i, j + 1] - 4 * y[i, j]
        for i in range(1, 5)
        for j in range(1, 6)
    ]
    assert hc.sharpness(rgb) == pytest.approx(float(np.var(laps)))


def test_lbp_matches_scikit_image() -> None:
    feature_mod = pytest.importorskip("skimage.feature")
    rng = np.random.default_rng(9)
    grey = rng.integers(0, 256, size=(25, 31)).astype(np.uint8)
    ref = feature_mod.local_binary_pattern(grey, 8, 1, method="uniform")[1:-1, 1:-1]
    np.testing.assert_array_equal(hc.lbp_codes(grey.astype(np.float64)), ref)


def test_lbp_histogram_sums_to_one_and_small_images() -> None:
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, size=(10, 12, 3)).astype(np.uint8)
    hist = hc.lbp_histogram(hc.as_rgb_float(arr))
    assert hist.shape == (10,) and hist.sum() == pytest.approx(1.0)
    tiny = attractiveness_features(np.zeros((2, 2, 3), dtype=np.uint8))
    assert tiny.shape == (18,) and np.isfinite(tiny).all()


def test_large_images_are_downscaled_first() -> None:
    big = Image.fromarray(flat((90, 140, 200), 1200, 900))
    out = attractiveness_features(big, max_side=256)
    np.testing.assert_allclose(out, attractiveness_features(flat((90, 140, 200))), atol=1e-6)


def _test_images() -> list[tuple[str, np.ndarray]]:
    """Real thumbnails (when the dataset is there), gradients, noise and flat images."""
    rng = np.random.default_rng(7)
    images = []
    home = os.environ.get("ARTREC_DATA_HOME")
    folder = Path(home or "/nonexistent") / "public-art" / "thumbnails"
    if folder.is_dir():
        for path in sorted(folder.glob("*.jpg"))[::97][:60]:
            images.append((path.name, np.asarray(Image.open(path).convert("RGB"))))
    for seed in range(8):
        h, w = (int(v) for v in rng.integers(3, 160, size=2))
        images.append((f"gradient-{seed}", gradient_rgb(w, h, seed)))
        noise = rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8)
        images.append((f"noise-{seed}", noise))
        images.append((f"flat-{seed}", flat(tuple(int(v) for v in rng.integers(0, 256, 3)))))
    images.append(("poster", gradient_rgb(300, 450, 99)))
    return images


def test_fast_features_equal_the_slow_reference() -> None:
    """The vectorised features against the previous float64 implementation (kept in the
    tests), within the documented tolerances, on real and synthetic test images."""
    tol = hc.REFERENCE_TOLERANCE
    n_scalars = len(hc.SCALAR_FEATURES)
    natural = FEATURE_NAMES.index("naturalness")
    images = _test_images()
    assert len(images) >= 25
    for name, arr in images:
        ours = attractiveness_features(arr, max_side=None).astype(np.float64)
        ref = reference.attractiveness_features(arr, max_side=None).astype(np.float64)
        scalars = [i for i in range(n_scalars) if i != natural]
        np.testing.assert_allclose(ours[scalars], ref[scalars], rtol=1e-6, atol=tol["scalars"])
        assert abs(ours[natural] - ref[natural]) <= tol["naturalness"], name
        np.testing.assert_allclose(ours[n_scalars:], ref[n_scalars:], atol=tol["lbp"])


def test_lbp_codes_equal_the_reference_sampler() -> None:
    """Exact integer LBP bits against the reference's bilinear sampling (no ties in noise)."""
    rng = np.random.default_rng(4)
    grey = rng.integers(0, 256, size=(60, 45)).astype(np.float64)
    np.testing.assert_array_equal(hc.lbp_codes(grey), reference.lbp_codes(grey))


def test_working_size_bounds_the_image() -> None:
    big = Image.fromarray(gradient_rgb(1600, 900, 3))
    work = hc.working_image(big, 512)
    assert work.size == (512, 288)
    assert hc.working_image(work, 512) is work  # small enough already: untouched


def test_extractor_info_lists_feature_names() -> None:
    ext = HandcraftedExtractor()
    assert ext.dim == 18 and ext.info()["feature_names"] == list(FEATURE_NAMES)


class TestHandcraftedContract(ExtractorContract):
    batch_atol = 0.0

    def make_extractor(self) -> FeatureExtractor:
        return HandcraftedExtractor()


@pytest.mark.skipif(
    not (Path(os.environ.get("ARTREC_DATA_HOME", "/nonexistent")) / "public-art").is_dir(),
    reason="needs the public-art dataset (ARTREC_DATA_HOME)",
)
@pytest.mark.parametrize("size", [(4000, 3000), (1600, 1200), (1200, 1600)])
def test_reduced_jpeg_decode_stays_within_the_documented_tolerance(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    """The extractor's reduced-scale JPEG decode (reader ``size_hint``) against a full
    decode, on real paintings enlarged to photo sizes and saved as JPEG."""
    from artrec.images import read_image

    tol = hc.REDUCED_DECODE_TOLERANCE
    folder = Path(os.environ["ARTREC_DATA_HOME"]) / "public-art" / "thumbnails"
    extractor = HandcraftedExtractor()
    sharp = FEATURE_NAMES.index("sharpness")
    n_scalars = len(hc.SCALAR_FEATURES)
    for i, path in enumerate(sorted(folder.glob("*.jpg"))[::701][:4]):
        big = Image.open(path).convert("RGB").resize(size, Image.Resampling.BICUBIC)
        file = tmp_path / f"{i}.jpg"
        big.save(file, quality=90)
        reduced = read_image(file, size_hint=extractor.decode_size)
        assert max(reduced.size) < max(size)  # decoded at a reduced scale
        assert max(reduced.size) >= 1.5 * 512
        ours = extractor.preprocess(reduced).astype(np.float64)
        full = extractor.preprocess(read_image(file)).astype(np.float64)
        others = [j for j in range(n_scalars) if j != sharp]
        np.testing.assert_allclose(ours[others], full[others], rtol=tol["scalars"], atol=1e-6)
        assert abs(ours[sharp] - full[sharp]) <= tol["sharpness"] * abs(full[sharp])
        np.testing.assert_allclose(ours[n_scalars:], full[n_scalars:], atol=tol["lbp"])
