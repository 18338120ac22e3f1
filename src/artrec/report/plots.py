"""Figures for the report: PCA explained variance and a 2-D map of the catalogue.

Matplotlib is used through its object API with the Agg canvas (no ``pyplot``, no global
backend change, nothing shown); every function returns PNG bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog
from artrec.errors import DataError


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - matplotlib is in the report extra
        from artrec.errors import MissingDependencyError

        raise MissingDependencyError("plots need matplotlib: pip install 'artrec[report]'") from exc
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def explained_variance_plot(
    curves: Mapping[str, Sequence[float]],
    *,
    mark: int | None = 100,
    title: str = "PCA: cumulative explained variance",
) -> bytes:
    """Cumulative explained-variance curves, one per feature set, as PNG bytes (see
    :func:`explained_variance_figure`)."""
    return _png(explained_variance_figure(curves, mark=mark, title=title))


#: Smallest vertical distance between two value labels of the explained-variance plot, in
#: points (the labels are 8 pt high).
LABEL_GAP_PT = 11.0


def explained_variance_figure(
    curves: Mapping[str, Sequence[float]],
    *,
    mark: int | None = 100,
    title: str = "PCA: cumulative explained variance",
) -> Any:
    """The figure of :func:`explained_variance_plot` (a matplotlib ``Figure``).

    Parameters
    ----------
    curves
        Name -> explained variance *ratio* per component (descending, as PCA returns it).
    mark
        A component count to mark with a vertical line and the value of each curve there.
        The values are written in a column right of the axes, each joined to its point by a
        thin line; labels whose curves pass close together are pushed apart vertically (at
        least :data:`LABEL_GAP_PT` points), so they never overprint.
    """
    if not curves:
        raise DataError("explained_variance_plot needs at least one curve")
    fig = _figure(7.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    styles = ("-", "--", ":", "-.")
    marked: list[tuple[float, str, Any]] = []
    for i, (name, ratios) in enumerate(curves.items()):
        cum = np.cumsum(np.asarray(ratios, dtype=np.float64))
        x = np.arange(1, len(cum) + 1)
        (line,) = ax.plot(x, cum, label=name, lw=2.2 - 0.3 * i, ls=styles[i % len(styles)])
        if mark is not None and len(cum) >= mark:
            ax.plot([mark], [cum[mark - 1]], "o", color=line.get_color())
            marked.append((float(cum[mark - 1]), f"{cum[mark - 1]:.1%}", line.get_color()))
    if mark is not None:
        ax.axvline(mark, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("number of principal components (log scale)")
    ax.set_ylabel("cumulative explained variance")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if marked and mark is not None:
        _value_labels(fig, ax, mark, marked)
    return fig


def _value_labels(fig: Any, ax: Any, x: float, marked: list[tuple[float, str, Any]]) -> None:
    """Write each ``(value, text, colour)`` in a column just right of the axes, at the height
    of its point ``(x, value)`` (spread apart where values are close), joined to the point by
    a thin line: the labels never sit on a curve or on each other."""
    points_per_px = 72.0 / fig.dpi
    box = ax.get_window_extent()
    height_pt = box.height * points_per_px
    bottom_pt = box.y0 * points_per_px
    ys = [float(ax.transData.transform((x, v))[1]) * points_per_px for v, _, _ in marked]
    placed = spread(ys, LABEL_GAP_PT)
    for (value, text, colour), want in zip(marked, placed, strict=True):
        ax.annotate(
            f"{text} at {x:g}",
            (x, value),
            xycoords="data",
            xytext=(1.02, (want - bottom_pt) / height_pt),
            textcoords="axes fraction",
            ha="left",
            va="center",
            fontsize=8,
            color=colour,
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.6, "alpha": 0.7},
        )


def spread(positions: Sequence[float], gap: float) -> list[float]:
    """Positions as close to ``positions`` as possible but at least ``gap`` apart, in the
    same order: overlapping runs are spread evenly around their mean (a one-dimensional
    label repel)."""
    order = np.argsort(np.asarray(positions, dtype=np.float64), kind="stable")
    want = [float(positions[i]) for i in order]
    # clusters of labels that must move together, merged until none overlaps the next
    clusters: list[list[float]] = [[w] for w in want]
    centres = list(want)
    merged = True
    while merged:
        merged = False
        for j in range(len(clusters) - 1):
            top = centres[j] + gap * (len(clusters[j]) - 1) / 2
            bottom = centres[j + 1] - gap * (len(clusters[j + 1]) - 1) / 2
            if bottom - top < gap:
                clusters[j] += clusters.pop(j + 1)
                centres.pop(j + 1)
                centres[j] = float(np.mean(clusters[j]))
                merged = True
                break
    out: list[float] = []
    for members, centre in zip(clusters, centres, strict=True):
        start = centre - gap * (len(members) - 1) / 2
        out += [start + gap * i for i in range(len(members))]
    result = [0.0] * len(out)
    for rank, i in enumerate(order.tolist()):
        result[i] = out[rank]
    return result


def catalogue_map(
    catalog: Catalog,
    coords: np.ndarray,
    *,
    n_thumbnails: int = 250,
    thumb_px: int = 28,
    color_by: str = "century",
    seed: int = 0,
    title: str = "The catalogue in 2-D (first two principal components)",
) -> bytes:
    """A scatter of every work at ``coords`` with small thumbnails for a spread-out sample.

    The sample takes at most one work per cell of a grid laid over the plane (cells chosen in
    a seeded random order), so thumbnails do not pile up in dense regions. Works whose image is
    not local appear only as points.

    Parameters
    ----------
    catalog
        The works, in the row order of ``coords``.
    coords
        ``(n_items, 2)`` positions (e.g. the first two PCA components).
    n_thumbnails
        Upper bound on the thumbnails drawn.
    color_by
        Metadata column used to colour the points (numeric values; others are grey).
    """
    from artrec.report.grids import local_image_path, thumbnail

    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != catalog.n_items:
        raise DataError(
            f"catalogue_map needs ({catalog.n_items}, 2) coordinates, got shape {coords.shape}"
        )
    if not np.isfinite(coords).all():
        raise DataError("catalogue_map: coordinates hold NaN or inf")
    fig = _figure(10.0, 8.0)
    ax = fig.add_subplot(1, 1, 1)
    col = catalog.column(color_by)
    values = np.full(len(coords), np.nan)
    if col is not None:
        for i, v in enumerate(col.tolist()):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                values[i] = float(v)
    known = np.isfinite(values)
    ax.scatter(coords[~known, 0], coords[~known, 1], s=3, c="lightgrey", lw=0)
    if known.any():
        sc = ax.scatter(
            coords[known, 0], coords[known, 1], s=3, c=values[known], cmap="viridis", lw=0
        )
        fig.colorbar(sc, ax=ax, fraction=0.03, pad=0.01, label=color_by)
    lo, hi = np.percentile(coords, 1, axis=0), np.percentile(coords, 99, axis=0)
    span = np.maximum(hi - lo, 1e-9)
    ax.set_xlim(lo[0] - 0.05 * span[0], hi[0] + 0.05 * span[0])
    ax.set_ylim(lo[1] - 0.05 * span[1], hi[1] + 0.05 * span[1])
    cells = max(4, int(np.sqrt(n_thumbnails * 1.6)))
    half = span / cells * 0.48
    rng = np.random.default_rng(seed)
    taken: set[tuple[int, int]] = set()
    drawn = 0
    for row in rng.permutation(len(coords)).tolist():
        if drawn >= n_thumbnails:
            break
        x, y = coords[row]
        if not (lo[0] <= x <= hi[0] and lo[1] <= y <= hi[1]):
            continue
        cell = (int((x - lo[0]) / span[0] * cells), int((y - lo[1]) / span[1] * cells))
        if cell in taken:
            continue
        item_id = str(catalog.item_ids[row])
        if local_image_path(catalog, item_id) is None:
            continue
        taken.add(cell)
        img = np.asarray(thumbnail(catalog, item_id, thumb_px))
        ax.imshow(
            img,
            extent=(x - half[0], x + half[0], y - half[1], y + half[1]),
            zorder=3,
            interpolation="bilinear",
        )
        drawn += 1
    ax.set_aspect("auto")
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    ax.set_title(title, fontsize=10)
    return _png(fig)
