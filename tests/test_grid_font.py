"""Grid captions are drawn with a font that has the dash and accented letters of real titles.

A character a font lacks is drawn as its "missing glyph" box; so a character is rendered
properly when its pixels differ from those of a private-use code point no font here has.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from artrec.data.catalog import Catalog
from artrec.report.grids import caption_font, image_grid

MISSING = "\ue000"  # private use area: no glyph in DejaVu Sans nor in Pillow's default
NEEDED = ["—", "é", "ü", "Ö", "ñ", "ç", "’"]


def _pixels(font: ImageFont.ImageFont | ImageFont.FreeTypeFont, text: str) -> np.ndarray:
    image = Image.new("L", (60, 40), 0)
    ImageDraw.Draw(image).text((4, 4), text, fill=255, font=font)
    return np.asarray(image)


def test_caption_font_has_the_glyphs() -> None:
    font = caption_font(20)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert font.getname()[0] == "DejaVu Sans"
    missing = _pixels(font, MISSING)
    for ch in NEEDED:
        drawn = _pixels(font, ch)
        assert drawn.any(), ch
        assert not np.array_equal(drawn, missing), f"{ch!r} is drawn as the missing glyph"


def test_the_check_detects_a_font_without_them() -> None:
    # Pillow's built-in font (the grids' former font) draws these as the missing glyph
    try:
        default = ImageFont.load_default(size=20)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        pytest.skip("this Pillow has no sized default font")
    missing = _pixels(default, MISSING)
    assert np.array_equal(_pixels(default, "—"), missing)
    assert np.array_equal(_pixels(default, "é"), missing)


def test_grid_captions_use_it() -> None:
    catalog = Catalog(np.array(["a", "b"], dtype=object))  # no images: placeholders

    def caption_pixels(caption: str) -> np.ndarray:
        grid = image_grid(catalog, [[("a", caption)]], size=64, caption_lines=1)
        return np.asarray(grid.convert("L"))[64 + 6 :, :]  # below the tile

    assert not np.array_equal(
        caption_pixels("Étude — Dürer"), caption_pixels(f"{MISSING}tude {MISSING} D{MISSING}rer")
    )
