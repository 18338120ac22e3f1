"""Similarity: the metric names, their validation, and the pairwise kernels.

Shared by the exact index, VisRank, MMR and every caller that names a metric.
:class:`PreparedVectors` holds a matrix prepared once for a metric, so that an index and
every VisRank aggregation over the same embedding can share one read-only copy.

Every kernel works on *prepared* vectors (see :func:`prepare`) and returns similarities,
higher meaning more alike, following the conventions of the module table below:

==============  ==========================================  ===========================
metric          prepared vectors                            similarity of prepared a, b
==============  ==========================================  ===========================
``cosine``      rows scaled to unit length (zero rows kept)  ``a @ b``
``correlation`` rows centred on their mean, then unit length ``a @ b``
``dot``         unchanged                                    ``a @ b``
``euclidean``   unchanged                                    ``-||a - b||_2``
``manhattan``   unchanged                                    ``-||a - b||_1``
``chebyshev``   unchanged                                    ``-||a - b||_inf``
==============  ==========================================  ===========================

A zero vector (or, for correlation, a constant vector) has no direction: its cosine and
correlation similarity to anything is defined as ``0`` rather than NaN.

The *distance* of a pair (:func:`to_distance`) is ``1 - similarity`` for cosine and
correlation (as :func:`scipy.spatial.distance.cosine` and ``correlation`` define it) and
``-similarity`` for the others (for ``dot`` that is minus the inner product).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from artrec.errors import check_choice

#: Metric names, in the order the CLI and tables list them.
METRICS: tuple[str, ...] = ("cosine", "euclidean", "manhattan", "correlation", "chebyshev", "dot")


def check_metric(metric: str) -> str:
    """Return ``metric`` if known, else raise :class:`DataError` listing the choices."""
    return check_choice(metric, METRICS, "metric")


#: Metrics whose similarity is an inner product of prepared vectors.
LINEAR_METRICS: tuple[str, ...] = ("cosine", "correlation", "dot")


def prepare(vectors: np.ndarray, metric: str, dtype: type | np.dtype = np.float32) -> np.ndarray:
    """Vectors transformed so that :func:`pairwise` can score them under ``metric``.

    Parameters
    ----------
    vectors
        ``(n, dim)`` finite array.
    metric
        One of :data:`METRICS`.
    dtype
        Floating type of the result (``float32`` or ``float64``).

    Returns
    -------
    numpy.ndarray
        A new C-contiguous ``(n, dim)`` array (the input is never modified).
    """
    check_metric(metric)
    out = np.array(vectors, dtype=dtype, copy=True, order="C")
    if out.ndim != 2:
        out = out.reshape(len(out), -1)
    if metric in ("cosine", "correlation"):
        # Rows with no direction (zero rows; for correlation, constant rows, whose centred
        # values are only rounding noise) get similarity 0 to everything instead of NaN.
        scale = np.abs(out).max(axis=1) if out.shape[1] else np.zeros(len(out), dtype=out.dtype)
        if metric == "correlation":
            out -= out.mean(axis=1, keepdims=True)
        norms = np.sqrt(np.einsum("ij,ij->i", out, out))
        eps = float(np.finfo(out.dtype).eps)
        tiny = norms <= 64.0 * eps * scale * np.sqrt(max(out.shape[1], 1))
        norms[tiny] = 1.0
        out /= norms[:, None]
        out[tiny] = 0.0
    return out


def squared_norms(prepared: np.ndarray) -> np.ndarray:
    """Row-wise squared L2 norms (used by the euclidean kernel)."""
    return np.einsum("ij,ij->i", prepared, prepared)


def pairwise(
    a: np.ndarray,
    b: np.ndarray,
    metric: str,
    *,
    b_sqnorms: np.ndarray | None = None,
) -> np.ndarray:
    """Similarities between every row of ``a`` and every row of ``b``: ``(len(a), len(b))``.

    Both inputs must come from :func:`prepare` with the same ``metric``. Memory use is
    ``len(a) * len(b)`` values (the L1 and L-infinity kernels loop over dimensions rather
    than broadcast a 3-D array). ``b_sqnorms`` may pass precomputed squared norms of ``b``
    for the euclidean kernel.
    """
    if metric in LINEAR_METRICS:
        return np.asarray(a @ b.T)
    if metric == "euclidean":
        bn = squared_norms(b) if b_sqnorms is None else b_sqnorms
        d2 = a @ b.T
        d2 *= -2.0
        d2 += squared_norms(a)[:, None]
        d2 += bn[None, :]
        np.maximum(d2, 0.0, out=d2)
        np.sqrt(d2, out=d2)
        d2 *= -1.0
        return d2
    if metric in ("manhattan", "chebyshev"):
        acc = np.zeros((len(a), len(b)), dtype=np.result_type(a.dtype, b.dtype))
        diff = np.empty_like(acc)
        for j in range(a.shape[1]):
            np.subtract(a[:, j, None], b[None, :, j], out=diff)
            np.abs(diff, out=diff)
            if metric == "manhattan":
                acc += diff
            else:
                np.maximum(acc, diff, out=acc)
        acc *= -1.0
        return acc
    check_metric(metric)
    raise AssertionError(f"unhandled metric {metric!r}")  # pragma: no cover


def rowwise(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Similarity of ``a[i]`` and ``b[i]`` for every ``i`` (prepared vectors, as :func:`pairwise`)."""
    if metric in LINEAR_METRICS:
        return np.asarray(np.einsum("ij,ij->i", a, b))
    diff = np.abs(a - b)
    if metric == "euclidean":
        return np.asarray(-np.sqrt(np.einsum("ij,ij->i", diff, diff)))
    if metric == "manhattan":
        return np.asarray(-diff.sum(axis=1))
    if metric == "chebyshev":
        return np.asarray(-diff.max(axis=1))
    check_metric(metric)
    raise AssertionError(f"unhandled metric {metric!r}")  # pragma: no cover


@dataclass(frozen=True, eq=False)
class PreparedVectors:
    """Vectors prepared once for one metric (read-only), shared by indexes and recommenders.

    Build with :meth:`of`. ``sqnorms`` holds the squared row norms for ``euclidean``.
    """

    metric: str
    matrix: np.ndarray
    sqnorms: np.ndarray | None = None

    @classmethod
    def of(
        cls, vectors: np.ndarray, metric: str, dtype: type | np.dtype = np.float32
    ) -> PreparedVectors:
        """:func:`prepare` ``vectors`` for ``metric`` (a new array, marked read-only)."""
        matrix = prepare(vectors, metric, dtype)
        sqnorms = squared_norms(matrix) if metric == "euclidean" else None
        for arr in (matrix, sqnorms):
            if arr is not None:
                arr.flags.writeable = False
        return cls(metric, matrix, sqnorms)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the prepared matrix."""
        return tuple(self.matrix.shape)

    def take(self, rows: np.ndarray) -> PreparedVectors:
        """The prepared vectors of ``rows`` only (a copy)."""
        rows = np.asarray(rows, dtype=np.int64)
        return PreparedVectors(
            self.metric, self.matrix[rows], None if self.sqnorms is None else self.sqnorms[rows]
        )


def to_distance(similarity: np.ndarray, metric: str) -> np.ndarray:
    """The distance that corresponds to a similarity under ``metric`` (see the module doc)."""
    check_metric(metric)
    if metric in ("cosine", "correlation"):
        return 1.0 - similarity
    return -similarity
