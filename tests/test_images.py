"""Robust image decoding: orientation, modes, and every kind of broken file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _image_factory import (
    cmyk_jpeg_bytes,
    gradient_rgb,
    huge_png_bytes,
    save_jpeg,
    truncated_jpeg_bytes,
)
from artrec.errors import ArtrecError
from artrec.images import BadImageError, read_image
from artrec.images.reader import to_rgb


def test_plain_rgb_jpeg_round_trips(tmp_path: Path) -> None:
    arr = gradient_rgb(30, 20)
    path = save_jpeg(tmp_path / "a.jpg", arr)
    im = read_image(path)
    assert im.mode == "RGB" and im.size == (30, 20)
    assert np.array_equal(np.asarray(im), np.asarray(Image.open(path).convert("RGB")))


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored 40x20 with a red left half; orientation 6 means "rotate 90° clockwise to view".
    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, format="JPEG", quality=95, exif=exif.tobytes())
    im = read_image(path)
    assert im.size == (20, 40)  # width and height swapped
    out = np.asarray(im, dtype=int)
    # after a clockwise turn the stored left half (red) is on top
    assert out[5, 10, 0] > 200 and out[5, 10, 1] < 60
    assert out[35, 10, 0] < 60


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "YCbCr", "LAB", "HSV"])
def test_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    src = Image.fromarray(gradient_rgb(16, 12))
    im = src.convert(mode)
    fmt, ext = ("TIFF", "tif") if mode in ("CMYK", "LAB", "YCbCr") else ("PNG", "png")
    if mode == "HSV":  # no file format stores HSV: convert the decoded image directly
        out = to_rgb(im)
    else:
        path = tmp_path / f"m.{ext}"
        im.save(path, format=fmt)
        out = read_image(path)
    assert out.mode == "RGB" and out.size == (16, 12)


def test_cmyk_jpeg_is_converted_not_bad(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    path.write_bytes(cmyk_jpeg_bytes())
    assert Image.open(path).mode == "CMYK"
    im = read_image(path)
    assert im.mode == "RGB" and im.size == (40, 30)
    expected = Image.fromarray(gradient_rgb(40, 30, 2)).convert("CMYK").convert("RGB")
    assert np.abs(np.asarray(im, int) - np.asarray(expected, int)).mean() < 10


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red ...
    rgba[:2, :, 3] = 0  # ... fully transparent in the top half
    rgba[2:, :, 3] = 255
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    out = np.asarray(read_image(path))
    assert (out[:2] == 255).all()  # white
    assert (out[2:] == (255, 0, 0)).all()
    la = Image.fromarray(rgba, "RGBA").convert("LA")
    la.save(tmp_path / "la.png")
    assert (np.asarray(read_image(tmp_path / "la.png"))[:2] == 255).all()


def test_palette_with_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (4, 4), 1)
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    im.info["transparency"] = 1
    path = tmp_path / "p.png"
    im.save(path, transparency=1)
    assert (np.asarray(read_image(path)) == 255).all()


def test_sixteen_bit_grey_is_rescaled(tmp_path: Path) -> None:
    arr = np.array([[0, 257 * 100], [65535, 257 * 200]], dtype=np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(arr).save(path)
    out = np.asarray(read_image(path))[..., 0]
    assert out.tolist() == [[0, 100], [255, 200]]


def test_bytes_and_stream_sources(tmp_path: Path) -> None:
    data = (save_jpeg(tmp_path / "a.jpg", gradient_rgb())).read_bytes()
    assert read_image(data).size == (32, 24)
    stream = io.BytesIO(data)
    assert read_image(stream).size == (32, 24)
    assert not stream.closed  # a caller's stream is left open


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "zero-byte file"),
        (b"hello, I am text pretending to be a JPEG\n", "not an image"),
        (truncated_jpeg_bytes(), "truncated or corrupt"),
        (cmyk_jpeg_bytes(truncate=True), "truncated or corrupt"),
        (huge_png_bytes(60000, 60000), "decompression bomb"),  # Pillow's own hard limit
        (huge_png_bytes(10000, 10000), "decompression bomb"),  # our header check
    ],
    ids=["zero", "text", "truncated", "cmyk-truncated", "bomb-hard", "bomb-header"],
)
def test_broken_files_raise_bad_image_with_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(BadImageError) as info:
        read_image(path)
    assert info.value.reason == reason
    assert str(path) in str(info.value)
    assert isinstance(info.value, ArtrecError)


def test_corrupt_png_data(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(gradient_rgb(20, 20)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[60:90] = b"\x00" * 30  # damage the compressed pixel data (and its CRC)
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    with pytest.raises(BadImageError) as info:
        read_image(path)
    assert info.value.reason in ("truncated or corrupt", "not an image")


def test_max_pixels_is_checked_on_the_header_before_decoding(tmp_path: Path) -> None:
    # A truncated file: decoding would fail, but the size check comes first.
    path = tmp_path / "t.jpg"
    path.write_bytes(truncated_jpeg_bytes())
    with pytest.raises(BadImageError) as info:
        read_image(path, max_pixels=100)
    assert info.value.reason == "decompression bomb"
    assert "64x48" in info.value.detail


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadImageError) as info:
        read_image(tmp_path / "nope.jpg")
    assert info.value.reason == "missing file"
    with pytest.raises(BadImageError):
        read_image(tmp_path)  # a directory


def test_bad_image_error_pickles() -> None:
    import pickle

    err = BadImageError("a.jpg", "not an image", "detail")
    back = pickle.loads(pickle.dumps(err))
    assert (back.source, back.reason, back.detail) == ("a.jpg", "not an image", "detail")


def _big_jpeg(path: Path, width: int, height: int, mode: str = "RGB", **kwargs: object) -> Path:
    # smooth (upsampled noise), so a reduced-scale decode is close to a downscaled full one
    small = Image.fromarray(gradient_rgb(width // 16, height // 16, 3))
    im = small.resize((width, height), Image.Resampling.BICUBIC).convert(mode)
    im.save(path, format="JPEG", quality=92, **kwargs)
    return path


@pytest.mark.parametrize(
    ("size", "hint", "expected"),
    [
        ((800, 600), 100, (200, 150)),  # 1/4: the smallest scale keeping >= 1.5 x 100
        ((800, 600), 150, (400, 300)),  # 1/2: 1/4 would give 200 < 225
        ((800, 600), 400, (800, 600)),  # 1/2 would give 400 < 600: full decode
        ((1600, 1200), 50, (200, 150)),  # 1/8 is the smallest DCT scale
        ((600, 800), 100, (150, 200)),  # portrait: the longer side decides
    ],
)
def test_size_hint_decodes_jpegs_at_a_reduced_scale(
    tmp_path: Path, size: tuple[int, int], hint: int, expected: tuple[int, int]
) -> None:
    path = _big_jpeg(tmp_path / "big.jpg", *size)
    im = read_image(path, size_hint=hint)
    assert im.mode == "RGB" and im.size == expected
    assert read_image(path).size == size  # no hint: full size
    # the reduced decode is the full image at that scale, up to JPEG's DCT scaling
    full = Image.open(path).convert("RGB").resize(expected, Image.Resampling.BOX)
    assert np.abs(np.asarray(im, int) - np.asarray(full, int)).mean() < 3


def test_size_hint_keeps_exif_orientation(tmp_path: Path) -> None:
    # Stored 800x400 with a red left half; orientation 6: rotate 90 degrees clockwise.
    arr = np.zeros((400, 800, 3), dtype=np.uint8)
    arr[:, :400] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, format="JPEG", quality=95, exif=exif.tobytes())
    im = read_image(path, size_hint=100)
    assert im.size == (100, 200)  # decoded at 1/4, then turned
    out = np.asarray(im, dtype=int)
    assert out[20, 50, 0] > 200 and out[20, 50, 1] < 60  # the red half is on top
    assert out[180, 50, 0] < 60


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_size_hint_keeps_colour_handling(tmp_path: Path, mode: str) -> None:
    path = _big_jpeg(tmp_path / f"{mode}.jpg", 800, 600, mode)
    assert Image.open(path).mode == mode
    im = read_image(path, size_hint=100)
    assert im.mode == "RGB" and im.size == (200, 150)
    full = read_image(path).resize((200, 150), Image.Resampling.BOX)
    assert np.abs(np.asarray(im, int) - np.asarray(full, int)).mean() < 3


def test_size_hint_leaves_other_formats_and_the_pixel_limit_alone(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.fromarray(gradient_rgb(800, 600)).save(path)
    assert read_image(path, size_hint=100).size == (800, 600)
    jpeg = _big_jpeg(tmp_path / "big.jpg", 800, 600)
    with pytest.raises(BadImageError) as info:
        read_image(jpeg, max_pixels=1000, size_hint=10)  # checked on the declared size
    assert info.value.reason == "decompression bomb"
