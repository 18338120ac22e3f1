"""Image grids of artworks: PIL images for notebooks, and small base64 thumbnails for HTML.

Thumbnails are read only from local files recorded in the catalogue's image column. Items
whose image is remote (a URL, as in the notebook's assets), missing or unreadable get a grey
placeholder showing their id, so a grid never fails because of one bad image.

Functions
---------
:func:`similar_grid` and :func:`recommendation_grid` take an :class:`artrec.engine.Engine`
(or a workspace, from which an engine is built) and return a :class:`PIL.Image.Image`.
:func:`image_grid` lays out any rows of ``(item_id, caption)`` pairs.
:func:`thumbnail_data_uri` is what the HTML report embeds. Captions are drawn in DejaVu Sans
(:func:`caption_font`), which has the dashes and accented letters of titles and names.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw, ImageFont, ImageOps

from artrec.data.catalog import Catalog

if TYPE_CHECKING:  # pragma: no cover
    from artrec.data.workspace import Workspace
    from artrec.engine import Engine

#: The caption font's file name (see :func:`caption_font`).
CAPTION_FONT_FILE = "DejaVuSans.ttf"
PLACEHOLDER_RGB = (200, 200, 200)
BACKGROUND_RGB = (255, 255, 255)


def local_image_path(catalog: Catalog, item_id: str) -> Path | None:
    """The local image file of ``item_id``, or ``None`` when remote, missing or unknown."""
    if catalog.image is None or not catalog.has(item_id):
        return None
    row = int(catalog.rows_of([item_id])[0])
    loc = catalog.image[row]
    if not loc or "://" in str(loc):
        return None
    path = Path(str(loc))
    return path if path.is_file() else None


def placeholder(size: int, text: str) -> Image.Image:
    """A grey square with ``text`` written on it (for images that are not local)."""
    im = Image.new("RGB", (size, size), PLACEHOLDER_RGB)
    draw = ImageDraw.Draw(im)
    font = _font(max(9, size // 12))
    lines = textwrap.wrap(text, width=max(6, size // 8))[:4]
    y = size // 2 - 8 * len(lines)
    for line in lines:
        draw.text((4, y), line, fill=(60, 60, 60), font=font)
        y += max(10, size // 10)
    return im


def thumbnail(catalog: Catalog, item_id: str, size: int = 128) -> Image.Image:
    """The item's image fitted into a ``size`` square (RGB), or a placeholder."""
    path = local_image_path(catalog, item_id)
    if path is None:
        return placeholder(size, str(item_id))
    try:
        with Image.open(path) as raw:
            im = ImageOps.exif_transpose(raw) or raw
            im = im.convert("RGB")
    except Exception:  # an unreadable image becomes a placeholder, never an error
        return placeholder(size, str(item_id))
    im = ImageOps.contain(im, (size, size), Image.Resampling.LANCZOS)  # up or down
    if im.size != (size, size):
        canvas = Image.new("RGB", (size, size), BACKGROUND_RGB)
        canvas.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
        im = canvas
    return im


def thumbnail_data_uri(
    catalog: Catalog, item_id: str, size: int = 120, quality: int = 80
) -> str | None:
    """A ``data:image/jpeg;base64,...`` URI of the item's thumbnail, or ``None`` if not local."""
    if local_image_path(catalog, item_id) is None:
        return None
    return image_data_uri(thumbnail(catalog, item_id, size), quality=quality)


def image_data_uri(image: Image.Image, *, fmt: str = "JPEG", quality: int = 80) -> str:
    """Encode a PIL image as a data URI (JPEG by default, PNG with ``fmt="PNG"``)."""
    buf = io.BytesIO()
    if fmt.upper() == "JPEG":
        image.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
        mime = "image/jpeg"
    else:
        image.save(buf, "PNG", optimize=True)
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def caption_of(catalog: Catalog, item_id: str) -> str:
    """``"<title> — <artist>"`` when known, else the id."""
    if not catalog.has(item_id):
        return str(item_id)
    rec = catalog.record(int(catalog.rows_of([item_id])[0]))
    title, artist = rec.get("title"), rec.get("artist")
    if title and artist:
        return f"{title} — {artist}"
    return str(title or item_id)


def image_grid(
    catalog: Catalog,
    rows: Sequence[Sequence[tuple[str, str]]],
    *,
    size: int = 128,
    row_labels: Sequence[str] | None = None,
    pad: int = 6,
    caption_lines: int = 3,
    highlight_first: bool = False,
) -> Image.Image:
    """Lay out rows of ``(item_id, caption)`` tiles as one image.

    Parameters
    ----------
    catalog
        Where images are found.
    rows
        One sequence of tiles per grid row.
    size
        Tile edge in pixels.
    row_labels
        Optional label drawn above each row.
    caption_lines
        Caption lines kept under each tile.
    highlight_first
        Draw a dark frame around the first tile of each row (the query).
    """
    font = _font(11)
    n_cols = max((len(r) for r in rows), default=1) or 1
    line_h = 13
    label_h = line_h + 4 if row_labels else 0
    cell_w = size + pad
    cell_h = size + caption_lines * line_h + pad + label_h
    width = pad + n_cols * cell_w
    height = pad + max(1, len(rows)) * cell_h
    grid = Image.new("RGB", (width, height), BACKGROUND_RGB)
    draw = ImageDraw.Draw(grid)
    chars = max(8, size // 6)
    for r, tiles in enumerate(rows):
        y0 = pad + r * cell_h
        if row_labels:
            draw.text((pad, y0), str(row_labels[r]), fill=(0, 0, 0), font=font)
        for c, (item_id, caption) in enumerate(tiles):
            x = pad + c * cell_w
            y = y0 + label_h
            grid.paste(thumbnail(catalog, item_id, size), (x, y))
            if highlight_first and c == 0:
                draw.rectangle(
                    (x - 2, y - 2, x + size + 1, y + size + 1), outline=(20, 20, 20), width=3
                )
            for i, line in enumerate(textwrap.wrap(caption, width=chars)[:caption_lines]):
                draw.text((x, y + size + 2 + i * line_h), line, fill=(30, 30, 30), font=font)
    return grid


def _engine(source: Engine | Workspace | str | Path, embedding: str | None) -> Engine:
    from artrec.engine import Engine

    if isinstance(source, Engine):
        return source
    return Engine.from_workspace(source, embedding=embedding)


def similar_grid(
    source: Engine | Workspace | str | Path,
    item_id: str,
    k: int = 8,
    *,
    metric: str = "cosine",
    embedding: str | None = None,
    metrics: Sequence[str] | None = None,
    embeddings: Sequence[str] | None = None,
    size: int = 128,
) -> Image.Image:
    """The query followed by its ``k`` most similar works, one row per (embedding, metric).

    Parameters
    ----------
    source
        An :class:`~artrec.engine.Engine`, or a workspace (path) to build one from.
    item_id
        The query work.
    k
        Neighbours per row.
    metric, embedding
        The single configuration shown when ``metrics``/``embeddings`` are not given.
    metrics, embeddings
        Several metrics and/or embeddings: one row for each combination.
    size
        Tile edge in pixels.
    """
    engine = _engine(source, embedding)
    catalog = engine.catalog
    embs: list[str | None] = list(embeddings) if embeddings else [embedding]
    mets = list(metrics) if metrics else [metric]
    rows: list[list[tuple[str, str]]] = []
    labels: list[str] = []
    for emb in embs:
        for met in mets:
            found = engine.similar(item_id, k, metric=met, embedding=emb)
            tiles = [(str(item_id), "query: " + caption_of(catalog, str(item_id)))]
            tiles += [(n.item_id, f"{n.score:.3f} {caption_of(catalog, n.item_id)}") for n in found]
            rows.append(tiles)
            labels.append(f"embedding {emb or 'default'}, metric {met}")
    return image_grid(catalog, rows, size=size, row_labels=labels, highlight_first=True)


def recommendation_grid(
    source: Engine | Workspace | str | Path,
    liked_item_ids: Sequence[str] | None = None,
    k: int = 8,
    *,
    user_id: str | None = None,
    size: int = 128,
    max_profile: int = 10,
    **options: Any,
) -> Image.Image:
    """Two rows: the profile (what the user bought/liked) and the ``k`` recommendations.

    Each recommendation is captioned with its reason ("because: <title>").

    Parameters
    ----------
    source
        An :class:`~artrec.engine.Engine`, or a workspace (path) to build one from.
    liked_item_ids
        The profile; or give ``user_id`` to read it from the workspace.
    k
        Recommendations shown.
    user_id
        A user of the workspace's interaction log.
    max_profile
        Profile works shown (the most recent last).
    options
        Passed to ``Engine.recommend`` / ``Engine.recommend_for_user`` (``metric``,
        ``aggregation``, ``embedding``, ...).
    """
    engine = _engine(source, options.get("embedding"))
    catalog = engine.catalog
    if user_id is not None:
        recs = engine.recommend_for_user(user_id, k, **options)
        profile = [str(catalog.item_ids[r]) for r in engine.user_profile(user_id).tolist()]
    elif liked_item_ids is not None:
        profile = [str(i) for i in liked_item_ids]
        recs = engine.recommend(profile, k, **options)
    else:
        from artrec.errors import DataError

        raise DataError("recommendation_grid needs liked_item_ids or user_id")
    shown = profile[-max_profile:]
    rows = [
        [(i, caption_of(catalog, i)) for i in shown],
        [
            (
                r.item_id,
                f"{caption_of(catalog, r.item_id)} | because: {caption_of(catalog, r.because_item_id)}"
                if r.because_item_id
                else caption_of(catalog, r.item_id),
            )
            for r in recs
        ],
    ]
    labels = [
        f"profile ({len(profile)} works, last {len(shown)} shown)",
        f"top {len(recs)} recommended",
    ]
    return image_grid(catalog, rows, size=size, row_labels=labels, caption_lines=4)


def caption_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """The font of every caption and label in the grids, at ``size`` pixels.

    DejaVu Sans, which has the dashes, quotes and accented letters of artwork titles and
    artist names ("Self-Portrait — Albrecht Dürer"): first the copy matplotlib ships
    (``mpl-data/fonts/ttf/DejaVuSans.ttf``; matplotlib is in the ``report`` extra), else a
    system copy that Pillow finds by file name (Debian's ``fonts-dejavu-core``). Without
    either, Pillow's built-in default, which draws only ASCII: other characters become
    empty boxes.
    """
    return _font(size)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for candidate in _caption_font_files():
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _caption_font_files() -> list[str]:
    """Where DejaVu Sans may be, in the order :func:`caption_font` tries them."""
    files: list[str] = []
    try:
        import matplotlib

        files.append(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / CAPTION_FONT_FILE))
    except ImportError:
        pass
    files.append(CAPTION_FONT_FILE)  # Pillow looks in the system's font folders
    return files
