"""The embedding: concatenate feature sets, z-score, PCA, optionally L2-normalise.

This is the notebook's ``pca100_resnet_vgg_hybrid_featmat`` made a fitted, persisted
transform::

    hybrid = [resnet50 | vgg19]                    (concatenate the feature sets)
    z      = (hybrid - mean) / std                 (population std; std 0 counts as 1)
    z_b    = z_b * sqrt(w_b)                       (optional weight of each feature set b)
    emb    = PCA(n_components).transform(z)        (exact eigen-decomposition)
    emb    = emb / ||emb||                         (optional)

:class:`Embedding` follows scikit-learn: ``__init__`` stores parameters, :meth:`Embedding.fit`
learns ``mean_``, ``scale_``, ``components_`` and ``explained_variance_ratio_`` and
:meth:`Embedding.transform` maps any items (also new ones) into the same space.

The data is streamed in row chunks (float64 per chunk) from the, usually memory-mapped,
feature sets. The default solver (``"auto"``) is exact and iterative
(:func:`top_eigenpairs`): a block Krylov (block Lanczos) eigensolver applied to the
covariance operator of the standardised data ``Z``, ``v -> Z^T (Z v) / (n - 1)``, which is
never formed: each product streams the float32 rows, converted to float64 a chunk at a
time and shared out between threads, one per core up to 4, with the standardisation
folded into the small factors of the product (every product is exact in float64).
One pass over the data first gives the means and variances; the solver keeps ``Z`` times
its basis, so the fitted items' projections come without another pass
(:meth:`Embedding.fit_transform`). It stops only when every kept component is certified
exact: its residual divided by its distance to the rest of the spectrum (the Davis-Kahan
bound on its angle to the true eigenspace) is at most :data:`EIG_TOL`. When that check
fails, the full eigen-decomposition of the covariance is used instead and ``notes_``
says so. Small problems go straight to the full eigen-decomposition of the ``dim x dim``
covariance or of the ``n x n`` Gram matrix, whichever is smaller. Components get
scikit-learn's deterministic sign (largest-magnitude loading positive).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from artrec.errors import DataError, short_repr
from artrec.fileio import check_name
from artrec.vectors import FeatureSet

if TYPE_CHECKING:
    from artrec.data.workspace import Workspace

SVD_SOLVERS: tuple[str, ...] = (
    "auto",
    "lanczos",
    "covariance_eigh",
    "gram_eigh",
    "full",
    "randomized",
)
#: Certified accuracy of the iterative solver: the bound on the sine of the angle between
#: each component and the true eigenspace of its eigenvalue (Davis-Kahan).
EIG_TOL = 1e-6
#: Relative eigenvalue gap below which components form one eigenspace (checked as a whole).
CLUSTER_RTOL = 1e-10
#: Vectors added to the Krylov basis per step. Larger blocks make the products with the
#: data more efficient (BLAS-3) but need a larger basis: at the notebook's scale (13,297 x
#: 6,144, 100 components) blocks of 8 certified after 336 products and blocks of 16 after
#: 448, at about the same CPU time for the products (11.2-11.8 vs 8.4-8.7 ms each), and
#: the smaller basis costs less to orthogonalise (0.27 vs 0.34-0.49 s), so 8 took the
#: least time with OpenBLAS's AVX2 (Haswell) kernels. With its AVX-512 ones, wider blocks
#: gain more (16: 8.0 vs 8: 12.4 ms per product vector), and 16 would be the faster.
KRYLOV_BLOCK = 8
#: Bytes of float64 rows converted at a time when streaming the data through a product.
#: Each thread's chunk is multiplied twice while it is in the cache; at the notebook's
#: scale 4 MiB took 3-5% less CPU per product than 8 MiB on one thread and 9% less on two,
#: and 2 MiB more.
STREAM_BYTES = 4 << 20
#: Ratio of a column's norm after and before the second Gram-Schmidt sweep below which
#: the Krylov solver sweeps a third time (the DGKS criterion, 1/sqrt(2)).
_RESWEEP = 0.7071067811865476
#: ``block_weights`` value giving every feature set the same share of the variance.
EQUAL_BLOCKS = "equal"
_FORMAT_VERSION = 1

BlockWeights = Mapping[str, float] | str | None


class Embedding:
    """A fitted concat → z-score → PCA → (L2) transform of one or more feature sets.

    Parameters
    ----------
    n_components
        Number of principal components kept. Capped at ``min(n_items - 1, dim)`` (the
        rank of centred data) at fit time; the cap is recorded in ``notes_``.
    standardize
        Divide each dimension by its population standard deviation (ddof 0) after
        centring; a dimension with std 0 (constant) is divided by 1, as in the notebook.
    l2_normalize
        Scale each output vector to unit length (zero vectors stay zero).
    svd_solver
        ``"auto"`` (exact: ``"lanczos"``, or for small problems the full eigen-decomposition
        that suits the shape), ``"lanczos"`` (the certified iterative solver, see the
        module docstring), ``"covariance_eigh"`` (full decomposition of the ``dim x dim``
        covariance), ``"gram_eigh"`` (of the ``n x n`` Gram matrix), ``"full"``
        (scikit-learn's LAPACK SVD) or ``"randomized"`` (scikit-learn's randomized SVD, not
        exact). The last two materialise the standardised float32 matrix.
    random_state
        Seed of the randomized solver.
    chunk_rows
        Rows streamed at a time.
    block_weights
        How much each feature set (block) weighs before PCA. ``None``: every dimension
        alike, so a block weighs by its number of dimensions (18 hand-engineered dimensions
        next to 1,280 CNN ones carry about 1% of the variance). A mapping ``{name: w}``
        (``w > 0``; unnamed sets keep 1) multiplies the block's standardised values by
        ``sqrt(w)``, so its variance, and its share of squared euclidean distances, is
        multiplied by ``w``. :data:`EQUAL_BLOCKS` (``"equal"``) gives each of the ``B``
        blocks the same share ``1/B`` of the total variance (which stays what it was).
        The factors are folded into ``scale_``, so :meth:`transform` applies them too.

    Attributes
    ----------
    input_names_ : list[str]
        Names of the feature sets, in concatenation order.
    input_dims_ : list[int]
        Their dimensions.
    n_items_ : int
        Items the transform was fitted on.
    n_components_ : int
        Components actually kept.
    mean_ : ndarray of shape (dim,)
        Mean of each input dimension (float64).
    scale_ : ndarray of shape (dim,)
        Population std of each dimension, 1 where it is 0 (all ones without standardize).
    components_ : ndarray of shape (n_components_, dim)
        Principal axes in the standardised space, unit rows.
    explained_variance_ : ndarray of shape (n_components_,)
        Variance (ddof 1) along each axis.
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        Share of the total variance of the standardised data along each axis.
    n_constant_ : int
        Number of constant input dimensions (std 0).
    block_variance_share_ : dict[str, float]
        Each feature set's share of the variance that PCA sees (after the block weights).
    solver_ : str
        The solver used.
    notes_ : list[str]
        Adjustments made while fitting (e.g. capped ``n_components``).
    """

    def __init__(
        self,
        n_components: int = 100,
        *,
        standardize: bool = True,
        l2_normalize: bool = False,
        svd_solver: str = "auto",
        random_state: int = 0,
        chunk_rows: int = 2048,
        block_weights: BlockWeights = None,
    ) -> None:
        self.n_components = n_components
        self.standardize = standardize
        self.l2_normalize = l2_normalize
        self.svd_solver = svd_solver
        self.random_state = random_state
        self.chunk_rows = chunk_rows
        self.block_weights = block_weights

    # -- fitting ------------------------------------------------------------------------
    def fit(self, feature_sets: Sequence[FeatureSet]) -> Embedding:
        """Learn the transform from ``feature_sets`` (all describing the same items).

        Parameters
        ----------
        feature_sets
            One or more feature sets. Later sets are re-ordered to the item order of the
            first; they must hold exactly the same item ids.

        Returns
        -------
        Embedding
            ``self``.

        Raises
        ------
        DataError
            Sets that disagree on their items, NaN/inf (naming the set and the item), fewer
            than two items, or invalid parameters.
        """
        self._fit(feature_sets)
        return self

    def _fit(self, feature_sets: Sequence[FeatureSet]) -> np.ndarray | None:
        """:meth:`fit`; returns the fitted items' projections on the components (float64,
        before L2) when the solver produced them on the way, else ``None``."""
        self._check_params()
        sets = _align(feature_sets)
        n = len(sets[0])
        dim = sum(fs.dim for fs in sets)
        if n < 2:
            raise DataError(f"cannot fit an embedding on {n} item(s); need at least 2")
        notes: list[str] = []
        k = int(self.n_components)
        k_max = min(n - 1, dim)
        if k > k_max:
            notes.append(
                f"n_components={k} capped at {k_max} = min(n_items - 1, dim) = min({n} - 1, {dim})"
            )
            k = k_max
        solver = self.svd_solver
        if solver == "auto":
            solver = _auto_solver(n, dim, k)

        # one pass: mean, sum of squared deviations, constant columns, finiteness
        stats = self._column_stats(sets)
        mean, constant = stats.mean, stats.constant
        projection: np.ndarray | None = None
        if solver == "lanczos":
            components, eigvals, total_var, scale, solver, projection = self._fit_lanczos(
                sets, stats, k, notes
            )
        elif solver == "covariance_eigh":
            components, eigvals, total_var, scale = self._fit_covariance(sets, mean, constant, k)
        elif solver == "gram_eigh":
            scale = self._scale_from(sets, stats)
            components, eigvals, total_var = self._fit_gram(sets, mean, scale, k)
        else:
            scale = self._scale_from(sets, stats)
            components, eigvals, total_var = self._fit_sklearn(sets, mean, scale, k, solver)

        signs = _component_signs(components)
        components = components * signs[:, None]
        if projection is not None:
            projection *= signs
        self.input_names_ = [fs.name for fs in sets]
        self.input_dims_ = [fs.dim for fs in sets]
        self.n_items_ = n
        self.n_components_ = k
        self.mean_ = mean
        self.scale_ = scale
        self.components_ = components
        self.explained_variance_ = eigvals
        self.total_variance_ = float(total_var)
        self.explained_variance_ratio_ = (
            eigvals / total_var if total_var > 0 else np.zeros_like(eigvals)
        )
        self.n_constant_ = int(constant.sum())
        self.solver_ = solver
        self.notes_ = notes
        return projection

    def transform(self, feature_sets: Sequence[FeatureSet], name: str = "embedding") -> FeatureSet:
        """Map items into the fitted space.

        Parameters
        ----------
        feature_sets
            Feature sets with the same names and dimensions as at fit time, in any order,
            describing the same items (any items: new ones included).
        name
            Name of the resulting feature set.

        Returns
        -------
        FeatureSet
            ``(n_items, n_components_)`` float32 vectors in the item order of the set that
            came first at fit time.
        """
        self._check_fitted()
        by_name = {fs.name: fs for fs in feature_sets}
        if sorted(by_name) != sorted(self.input_names_) or len(feature_sets) != len(by_name):
            raise DataError(
                f"embedding was fitted on feature sets {self.input_names_}, "
                f"got {[fs.name for fs in feature_sets]}"
            )
        ordered = [by_name[nm] for nm in self.input_names_]
        for fs, dim in zip(ordered, self.input_dims_, strict=True):
            if fs.dim != dim:
                raise DataError(
                    f"feature set {short_repr(fs.name)} has {fs.dim} dimensions; the embedding was "
                    f"fitted on {dim}"
                )
        sets = _align(ordered)
        n = len(sets[0])
        out = np.empty((n, self.n_components_), dtype=np.float32)
        comp_t = np.ascontiguousarray(self.components_.T)
        for start, block in self._blocks(sets):
            block -= self.mean_
            block /= self.scale_
            out[start : start + len(block)] = self._finish(block @ comp_t)
        return FeatureSet(name, sets[0].item_ids, out, self.describe())

    def fit_transform(
        self, feature_sets: Sequence[FeatureSet], name: str = "embedding"
    ) -> FeatureSet:
        """:meth:`fit`, then :meth:`transform` the same items.

        The iterative solver computes the fitted items' projections on its way (it keeps
        ``Z @ basis``), so they are not computed a second time; they equal
        :meth:`transform`'s up to float64 rounding.
        """
        projection = self._fit(feature_sets)
        if projection is None:
            return self.transform(feature_sets, name)
        ids = _align(feature_sets)[0].item_ids
        return FeatureSet(name, ids, self._finish(projection), self.describe())

    def _finish(self, projection: np.ndarray) -> np.ndarray:
        """Projections as the output vectors: L2-normalised if asked, float32."""
        if self.l2_normalize:
            norms = np.linalg.norm(projection, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            projection = projection / norms
        return np.asarray(projection, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """Parameters and fitted summary as a JSON-friendly dict (the sidecar content)."""
        self._check_fitted()
        ratio = self.explained_variance_ratio_
        return {
            "kind": "embedding",
            "inputs": list(self.input_names_),
            "input_dims": list(self.input_dims_),
            "n_items_fitted": int(self.n_items_),
            "n_components": int(self.n_components_),
            "standardize": bool(self.standardize),
            "l2_normalize": bool(self.l2_normalize),
            "svd_solver": self.solver_,
            "n_constant_dims": int(self.n_constant_),
            "block_weights": _weights_json(self.block_weights),
            "block_variance_share": {k: float(v) for k, v in self.block_variance_share_.items()},
            "explained_variance_ratio": [float(v) for v in ratio],
            "explained_variance_total": float(ratio.sum()),
            "notes": list(self.notes_),
        }

    # -- persistence -----------------------------------------------------------------
    def save(self, directory: str | Path, name: str, vectors: FeatureSet | None = None) -> Path:
        """Write the fitted transform as ``<directory>/<name>.transform.npz``.

        Parameters
        ----------
        directory
            Usually ``workspace.embeddings_dir``.
        name
            File stem.
        vectors
            Optionally the transformed vectors, saved next to it as the feature set
            ``<name>`` (``<name>.npy``, ``<name>.ids.json`` and the ``<name>.json`` sidecar
            describing the transform).

        Returns
        -------
        Path
            The ``.transform.npz`` file.
        """
        self._check_fitted()
        check_name(name, what="embedding name")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        params = {
            "format_version": _FORMAT_VERSION,
            "n_components": int(self.n_components),
            "standardize": bool(self.standardize),
            "l2_normalize": bool(self.l2_normalize),
            "svd_solver": self.svd_solver,
            "random_state": int(self.random_state),
            "chunk_rows": int(self.chunk_rows),
            "block_weights": _weights_json(self.block_weights),
            "block_variance_share": {k: float(v) for k, v in self.block_variance_share_.items()},
            "input_names": list(self.input_names_),
            "input_dims": [int(d) for d in self.input_dims_],
            "n_items": int(self.n_items_),
            "n_components_": int(self.n_components_),
            "total_variance": float(self.total_variance_),
            "n_constant": int(self.n_constant_),
            "solver": self.solver_,
            "notes": list(self.notes_),
        }
        path = directory / f"{name}.transform.npz"
        tmp = directory / f".{name}.transform.tmp.npz"
        np.savez(
            tmp,
            mean=self.mean_,
            scale=self.scale_,
            components=self.components_,
            explained_variance=self.explained_variance_,
            explained_variance_ratio=self.explained_variance_ratio_,
            params=np.array(json.dumps(params)),
        )
        tmp.replace(path)
        if vectors is not None:
            meta = {**vectors.meta, **self.describe(), "transform": path.name}
            FeatureSet(name, vectors.item_ids, vectors.matrix, meta).save(directory)
        return path

    @classmethod
    def load(cls, directory: str | Path, name: str) -> Embedding:
        """Read a transform written by :meth:`save` (never unpickles)."""
        path = Path(directory) / f"{check_name(name, what='embedding name')}.transform.npz"
        if not path.is_file():
            raise DataError(
                f"no fitted embedding {short_repr(name)} in {directory} (missing {path.name})"
            )
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {key: np.asarray(npz[key]) for key in npz.files}
            params = json.loads(str(arrays["params"]))
        except (ValueError, OSError, KeyError, EOFError) as exc:
            raise DataError(f"{path}: not a readable embedding transform ({exc})") from None
        if params.get("format_version") != _FORMAT_VERSION:
            raise DataError(
                f"{path}: unsupported format version {short_repr(params.get('format_version'))}"
            )
        emb = cls(
            params["n_components"],
            standardize=params["standardize"],
            l2_normalize=params["l2_normalize"],
            svd_solver=params["svd_solver"],
            random_state=params["random_state"],
            chunk_rows=params["chunk_rows"],
            block_weights=params.get("block_weights"),
        )
        emb.input_names_ = list(params["input_names"])
        emb.block_variance_share_ = dict(params.get("block_variance_share") or {})
        emb.input_dims_ = [int(d) for d in params["input_dims"]]
        emb.n_items_ = int(params["n_items"])
        emb.n_components_ = int(params["n_components_"])
        emb.total_variance_ = float(params["total_variance"])
        emb.n_constant_ = int(params["n_constant"])
        emb.solver_ = str(params["solver"])
        emb.notes_ = list(params["notes"])
        emb.mean_ = arrays["mean"]
        emb.scale_ = arrays["scale"]
        emb.components_ = arrays["components"]
        emb.explained_variance_ = arrays["explained_variance"]
        emb.explained_variance_ratio_ = arrays["explained_variance_ratio"]
        dim = sum(emb.input_dims_)
        if emb.components_.shape != (emb.n_components_, dim) or emb.mean_.shape != (dim,):
            raise DataError(f"{path}: arrays do not match the recorded shapes")
        return emb

    # -- internals ------------------------------------------------------------------------
    def _check_params(self) -> None:
        if (
            not isinstance(self.n_components, (int, np.integer))
            or isinstance(self.n_components, bool)
            or self.n_components < 1
        ):
            raise DataError(
                f"n_components must be a positive integer, got {short_repr(self.n_components)}"
            )
        if self.svd_solver not in SVD_SOLVERS:
            raise DataError(
                f"svd_solver must be one of {SVD_SOLVERS}, got {short_repr(self.svd_solver)}"
            )
        if self.chunk_rows < 1:
            raise DataError(f"chunk_rows must be positive, got {self.chunk_rows}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise DataError("this Embedding is not fitted yet; call fit() first")

    def _blocks(self, sets: Sequence[FeatureSet]) -> Iterator[tuple[int, np.ndarray]]:
        """Row chunks of the concatenated matrix as fresh float64 arrays; checks finiteness."""
        n = len(sets[0])
        dim = sum(fs.dim for fs in sets)
        for start in range(0, n, self.chunk_rows):
            stop = min(n, start + self.chunk_rows)
            block = np.empty((stop - start, dim))
            col = 0
            for fs in sets:
                part = block[:, col : col + fs.dim]
                part[...] = fs.matrix[start:stop]
                bad = ~np.isfinite(part).all(axis=1)
                if bad.any():
                    row = start + int(np.flatnonzero(bad)[0])
                    raise DataError(
                        f"feature set {short_repr(fs.name)}: item {short_repr(fs.item_ids[row])} (row {row}) has NaN "
                        "or inf; re-extract it or drop it before embedding"
                    )
                col += fs.dim
            yield start, block

    def _column_stats(self, sets: Sequence[FeatureSet]) -> _ColumnStats:
        """Mean and sum of squared deviations of every column in one pass over the data.

        Each chunk's own mean and squared deviations (two-pass within the chunk, exact
        enough in float64) are merged into the running ones (Chan et al.'s pairwise
        update), so no second pass over the data is needed. A column is constant exactly
        when its sum of squared deviations is 0 (every chunk mean of a constant float32
        column is that value exactly). NaN or inf is detected through the chunk sums and
        then located.
        """
        n = len(sets[0])
        dim = sum(fs.dim for fs in sets)
        mean = np.zeros(dim)
        m2 = np.zeros(dim)
        seen = 0
        for start, block in self._stream(sets, _stream_rows(dim, self.chunk_rows)):
            rows = len(block)
            sums = block.sum(axis=0)
            if not np.isfinite(sums).all():
                _raise_not_finite(sets, start, start + rows)
            chunk_mean = sums / rows
            block -= chunk_mean
            chunk_m2 = np.einsum("ij,ij->j", block, block)
            delta = chunk_mean - mean
            total = seen + rows
            mean += delta * (rows / total)
            m2 += chunk_m2
            m2 += delta**2 * (seen * rows / total)
            seen = total
        return _ColumnStats(n, mean, m2)

    def _scale_from(self, sets: Sequence[FeatureSet], stats: _ColumnStats) -> np.ndarray:
        """:meth:`_scale` from the one-pass statistics."""
        variance = stats.m2 / stats.n
        if self.standardize:
            std = np.sqrt(variance)
            std[stats.constant | (std == 0)] = 1.0
        else:
            std = np.ones(len(stats.mean))
        return self._weigh_blocks(sets, std, variance)

    def _stream(self, sets: Sequence[FeatureSet], rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """Row chunks of ``rows`` rows of the concatenated matrix as fresh float64 arrays
        (no finiteness check: see :meth:`_blocks`)."""
        n = len(sets[0])
        dim = sum(fs.dim for fs in sets)
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            block = np.empty((stop - start, dim))
            _fill(block, sets, start, stop)
            yield start, block

    def _scale(
        self, sets: Sequence[FeatureSet], mean: np.ndarray, constant: np.ndarray
    ) -> np.ndarray:
        """Population std per dimension (1 for constant ones, all 1 without standardize),
        divided by the square root of its block's weight."""
        dim = len(mean)
        sq = np.zeros(dim)
        for _start, block in self._blocks(sets):
            block -= mean
            sq += np.einsum("ij,ij->j", block, block)
        variance = sq / len(sets[0])
        if self.standardize:
            std = np.sqrt(variance)
            std[constant | (std == 0)] = 1.0
        else:
            std = np.ones(dim)
        return self._weigh_blocks(sets, std, variance)

    def _weigh_blocks(
        self, sets: Sequence[FeatureSet], std: np.ndarray, variance: np.ndarray
    ) -> np.ndarray:
        """Fold the block weights into the per-dimension divisor ``std``.

        ``variance`` is each input dimension's population variance; ``variance / std**2`` is
        what PCA would see without weights. Sets ``block_variance_share_``.
        """
        seen = variance / std**2
        block_var = []
        col = 0
        for fs in sets:
            block_var.append(float(seen[col : col + fs.dim].sum()))
            col += fs.dim
        factors = _block_factors(self.block_weights, [fs.name for fs in sets], block_var)
        scale = std.copy()
        col = 0
        for fs, factor in zip(sets, factors, strict=True):
            scale[col : col + fs.dim] /= np.sqrt(factor)
            col += fs.dim
        weighted = [v * f for v, f in zip(block_var, factors, strict=True)]
        total = sum(weighted)
        self.block_variance_share_: dict[str, float] = {
            fs.name: (w / total if total > 0 else 0.0) for fs, w in zip(sets, weighted, strict=True)
        }
        return scale

    def _fit_covariance(
        self, sets: Sequence[FeatureSet], mean: np.ndarray, constant: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        cov, std, total_var = self._covariance(sets, mean, constant)
        components, eigvals = _full_top_eigh(cov, k)
        return components, eigvals, total_var, std

    def _covariance(
        self, sets: Sequence[FeatureSet], mean: np.ndarray, constant: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Upper triangle of the standardised covariance (Fortran order), std, total variance."""
        from scipy.linalg import blas

        n = len(sets[0])
        dim = len(mean)
        cov = np.zeros((dim, dim), order="F")
        for _start, block in self._blocks(sets):
            block -= mean
            # upper triangle of cov += block.T @ block (block.T is Fortran-ordered: no copy)
            cov = blas.dsyrk(1.0, block.T, beta=1.0, c=cov, trans=0, lower=0, overwrite_c=1)
        diag = np.diag(cov).copy()
        if self.standardize:
            std = np.sqrt(diag / n)
            std[constant | (std == 0)] = 1.0
        else:
            std = np.ones(dim)
        std = self._weigh_blocks(sets, std, diag / n)
        cov /= std[:, None]
        cov /= std[None, :]
        cov /= n - 1
        return cov, std, float(np.trace(cov))

    def _fit_lanczos(
        self,
        sets: Sequence[FeatureSet],
        stats: _ColumnStats,
        k: int,
        notes: list[str],
    ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, str, np.ndarray | None]:
        """Certified iterative top-k eigenpairs of the covariance of the standardised data,
        never forming it: the operator streams the float32 data (see :class:`_DataOperator`).

        Returns components, eigenvalues, total variance, scale, solver and the projections
        of the fitted items on the components (``None`` after a fallback). When the check
        fails, the full eigen-decomposition of the covariance is used instead.
        """
        # scipy's LAPACK has its own BLAS: load it before the limit, which only reaches the
        # libraries already loaded (else its eigh runs on every core and spins under load)
        import scipy.linalg  # noqa: F401
        from threadpoolctl import threadpool_limits

        scale = self._scale_from(sets, stats)
        n = stats.n
        dim = len(stats.mean)
        total_var = float((stats.m2 / scale**2).sum()) / (n - 1)
        operator = _DataOperator(sets, stats, scale, _stream_threads())
        with threadpool_limits(limits=1, user_api="blas"):
            found = _block_krylov(operator.apply, dim, k, None, None, None, self.random_state)
        if found is not None:
            projection = operator.projections() @ found.coefficients
            return (
                np.ascontiguousarray(found.vectors.T),
                found.values,
                total_var,
                scale,
                "lanczos",
                projection,
            )
        del operator
        notes.append(
            "the iterative eigensolver could not certify every component to "
            f"{EIG_TOL:g}; used the full eigen-decomposition of the covariance instead"
        )
        cov, scale, total_var = self._covariance(sets, stats.mean, stats.constant)
        components, eigvals = _full_top_eigh(cov, k)
        return components, eigvals, total_var, scale, "covariance_eigh", None

    def _fit_gram(
        self, sets: Sequence[FeatureSet], mean: np.ndarray, scale: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, float]:
        from scipy.linalg import eigh

        n = len(sets[0])
        z = self._standardized(sets, mean, scale, np.float64)
        gram = z @ z.T
        total_var = float(np.trace(gram)) / (n - 1)
        eigvals, u = eigh(gram, subset_by_index=[n - k, n - 1], check_finite=False)
        del gram
        order = np.argsort(eigvals)[::-1]
        eigvals = np.clip(eigvals[order], 0.0, None)
        u = u[:, order]
        sing = np.sqrt(eigvals)
        sing[sing == 0] = 1.0
        components = (z.T @ u / sing).T
        norms = np.linalg.norm(components, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return components / norms, eigvals / (n - 1), total_var

    def _fit_sklearn(
        self,
        sets: Sequence[FeatureSet],
        mean: np.ndarray,
        scale: np.ndarray,
        k: int,
        solver: str,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        from sklearn.decomposition import PCA

        z = self._standardized(sets, mean, scale, np.float32)
        pca = PCA(n_components=k, svd_solver=solver, random_state=self.random_state).fit(z)
        # PCA centres z again; its mean is ~0 already, fold the residual into mean_.
        mean += pca.mean_.astype(np.float64) * scale
        total_var = float(np.var(z, axis=0, ddof=1, dtype=np.float64).sum())
        return (
            pca.components_.astype(np.float64),
            pca.explained_variance_.astype(np.float64),
            total_var,
        )

    def _standardized(
        self, sets: Sequence[FeatureSet], mean: np.ndarray, scale: np.ndarray, dtype: Any
    ) -> np.ndarray:
        n = len(sets[0])
        z = np.empty((n, len(mean)), dtype=dtype)
        for start, block in self._blocks(sets):
            block -= mean
            block /= scale
            z[start : start + len(block)] = block
        return z


class _ColumnStats:
    """Items, column means and sums of squared deviations (see ``Embedding._column_stats``)."""

    def __init__(self, n: int, mean: np.ndarray, m2: np.ndarray) -> None:
        self.n = n
        self.mean = mean
        self.m2 = m2
        self.constant = m2 == 0


def _fill(out: np.ndarray, sets: Sequence[FeatureSet], start: int, stop: int) -> None:
    """Rows ``start:stop`` of the concatenated feature sets into ``out`` (converted)."""
    col = 0
    for fs in sets:
        out[:, col : col + fs.dim] = fs.matrix[start:stop]
        col += fs.dim


def _raise_not_finite(sets: Sequence[FeatureSet], start: int, stop: int) -> None:
    """Raise the error naming the first item in rows ``start:stop`` with NaN or inf."""
    for row in range(start, stop):
        for fs in sets:
            if not np.isfinite(np.asarray(fs.matrix[row])).all():
                raise DataError(
                    f"feature set {short_repr(fs.name)}: item {short_repr(fs.item_ids[row])} (row {row}) has NaN "
                    "or inf; re-extract it or drop it before embedding"
                )
    raise DataError("feature sets have NaN or inf")  # pragma: no cover - found above


def _stream_rows(dim: int, limit: int) -> int:
    """Rows per streamed chunk: about :data:`STREAM_BYTES` of float64, at most ``limit``."""
    return max(1, min(limit, STREAM_BYTES // (8 * max(dim, 1))))


def _stream_threads() -> int:
    """Threads that share a streamed product: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class _DataOperator:
    """The covariance of the standardised data as an operator, ``V -> Z^T (Z V) / (n - 1)``
    with ``Z = (X - mean) / scale``, never formed: each product streams the float32 rows of
    the feature sets, converted to float64 in chunks of about :data:`STREAM_BYTES`.
    ``Z V`` of every block is kept, so the projections of the items on any combination of
    the basis cost one small product at the end (:meth:`projections`).

    The rows are cut into :data:`_PRODUCT_PARTS` fixed parts, which ``threads`` threads
    (each with one BLAS thread; the products release the GIL) take one after another as
    they finish, so a thread slowed down by other work on its core does not hold a product
    up. Each part sums its chunks in order and the parts are added in order, so a product
    is the same to the last bit whichever thread took which part, and with any number of
    threads.

    The standardisation is folded into the small factors instead of being applied to every
    chunk: ``Z V = X W - 1 (mean^T W)`` with ``W = V / scale``, and
    ``Z^T P = (X^T P - mean (1^T P)) / scale``. Only the conversion of the float32 rows
    touches the data besides the two products. Folding the mean trades the centring for a
    cancellation whose rounding grows with ``|mean / scale|`` relative to the standardised
    rows; when that ratio exceeds :data:`_FOLD_MEAN_RATIO` each chunk is centred instead.
    Every product is exact in float64 either way: the float32 data converts exactly.
    """

    def __init__(
        self, sets: Sequence[FeatureSet], stats: _ColumnStats, scale: np.ndarray, threads: int
    ) -> None:
        self.sets = list(sets)
        self.mean = stats.mean
        self.scale = scale
        self.n = len(sets[0])
        self.dim = len(stats.mean)
        self.fold_mean = _mean_folds(stats, scale)
        self.rows = _stream_rows(self.dim, self.n)
        starts = np.arange(0, self.n, self.rows)
        self.parts = [p for p in np.array_split(starts, _PRODUCT_PARTS) if len(p)]
        # one conversion buffer per thread, reused by every product (a fresh one per
        # product would be page-faulted in again each time)
        self.buffers = [
            np.empty((min(self.rows, self.n), self.dim))
            for _ in range(min(threads, len(self.parts)))
        ]
        self.kept: list[np.ndarray] = []

    def apply(self, v: np.ndarray) -> np.ndarray:
        """``Z^T (Z v) / (n - 1)`` for a ``(dim, b)`` block; keeps ``Z v``."""
        from concurrent.futures import ThreadPoolExecutor

        w = v / self.scale[:, None]
        shift = self.mean @ w if self.fold_mean else None
        zv = np.empty((self.n, v.shape[1]))
        sums = np.zeros((len(self.parts), self.dim, v.shape[1]))
        queue = iter(range(len(self.parts)))
        lock = threading.Lock()
        if len(self.buffers) == 1:
            self._work(w, shift, zv, sums, queue, lock, self.buffers[0])
        else:
            with ThreadPoolExecutor(len(self.buffers)) as pool:
                futures = [
                    pool.submit(self._work, w, shift, zv, sums, queue, lock, buf)
                    for buf in self.buffers
                ]
                for f in futures:
                    f.result()
        out = sums.sum(axis=0)
        if self.fold_mean:
            out -= np.outer(self.mean, zv.sum(axis=0))
        self.kept.append(zv)
        out /= self.scale[:, None]
        out /= self.n - 1
        return out

    def _work(
        self,
        w: np.ndarray,
        shift: np.ndarray | None,
        zv: np.ndarray,
        sums: np.ndarray,
        queue: Iterator[int],
        lock: threading.Lock,
        buf: np.ndarray,
    ) -> None:
        """Take parts from ``queue`` until none is left: ``sums[i] = Xc^T (Z v)`` over the
        rows of part ``i`` (``Xc`` the rows, centred unless the mean is folded), and those
        rows of ``Z v`` written into ``zv``."""
        while True:
            with lock:
                i = next(queue, None)
            if i is None:
                return
            acc = sums[i]
            for start in self.parts[i]:
                stop = min(self.n, int(start) + self.rows)
                block = buf[: stop - start]
                _fill(block, self.sets, int(start), stop)
                if shift is None:
                    block -= self.mean
                part = np.dot(block, w, out=zv[start:stop])
                if shift is not None:
                    part -= shift
                acc += block.T @ part

    def projections(self) -> np.ndarray:
        """``Z @ basis``: the kept products side by side, ``(n, basis size)``."""
        return np.hstack(self.kept)


#: Fixed parts the rows are cut into for a product's threads (see :class:`_DataOperator`):
#: enough that a thread slowed down by other work leaves at most a sixteenth to the others.
_PRODUCT_PARTS = 16
#: Largest ``|mean / scale|`` (over all dimensions, as a vector norm) relative to the root
#: mean square norm of the standardised rows for which :class:`_DataOperator` folds the
#: centring into its products. The rounding of a folded product is at most about
#: ``1 + ratio`` times that of centred rows (float64's 1e-16 relative), so at 100 it stays
#: orders of magnitude below the residuals the certificate resolves (``EIG_TOL`` times the
#: eigengaps).
_FOLD_MEAN_RATIO = 100.0


def _mean_folds(stats: _ColumnStats, scale: np.ndarray) -> bool:
    """Whether the centring can be folded into the products (see :class:`_DataOperator`)."""
    rows_sq = float((stats.m2 / scale**2).sum()) / stats.n  # mean squared standardised row norm
    shift = float(np.linalg.norm(stats.mean / scale))
    return bool(rows_sq > 0 and shift <= _FOLD_MEAN_RATIO * np.sqrt(rows_sq))


def _component_signs(components: np.ndarray) -> np.ndarray:
    """scikit-learn's sign rule: the sign making each row's largest-magnitude loading positive."""
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return signs


def _auto_solver(n: int, dim: int, k: int) -> str:
    """The exact solver ``"auto"`` picks: iterative unless the problem is small."""
    if min(n, dim) >= 4 * (k + 4 * KRYLOV_BLOCK):
        return "lanczos"
    return "covariance_eigh" if dim <= n else "gram_eigh"


def _symmetrize_upper(a: np.ndarray, block: int = 512) -> np.ndarray:
    """Copy the upper triangle of square ``a`` onto its lower one, in place, block by block."""
    n = len(a)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        a[hi:, lo:hi] = a[lo:hi, hi:].T
        tile = a[lo:hi, lo:hi]
        tile[np.tril_indices(hi - lo, -1)] = tile.T[np.tril_indices(hi - lo, -1)]
    return a


def _full_top_eigh(cov: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` eigenpairs of a symmetric matrix given by its upper triangle (LAPACK ``syevr``).

    Returns the eigenvectors as rows, eigenvalues descending (clipped at 0). ``cov`` is
    overwritten.
    """
    from scipy.linalg import eigh

    dim = len(cov)
    eigvals, eigvecs = eigh(
        cov,
        lower=False,
        subset_by_index=[dim - k, dim - 1],
        overwrite_a=True,
        check_finite=False,
        driver="evr",
    )
    order = np.argsort(eigvals)[::-1]
    return np.ascontiguousarray(eigvecs[:, order].T), np.clip(eigvals[order], 0.0, None)


def top_eigenpairs(
    apply: Callable[[np.ndarray], np.ndarray],
    dim: int,
    k: int,
    *,
    tol: float | None = None,
    block: int | None = None,
    max_basis: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``k`` largest eigenpairs of a symmetric positive semi-definite operator, certified.

    Block Krylov (block Lanczos) with full re-orthogonalisation: the basis grows by
    ``block`` vectors per step, ``apply(basis block)``, and after every step the
    Rayleigh-Ritz pairs of the basis are checked. A Ritz pair ``(theta_i, u_i)`` with
    residual ``r_i = A u_i - theta_i u_i`` is within angle ``|r_i| / gap_i`` of the true
    eigenspace of its eigenvalue (Davis-Kahan), where ``gap_i`` is the distance from
    ``theta_i`` to the other Ritz values outside its cluster (eigenvalues within a relative
    :data:`CLUSTER_RTOL` form one eigenspace), less their residuals. The solver returns as
    soon as that bound is at most ``tol`` for all ``k`` pairs. Each step's check uses the
    Lanczos residuals (the residual of every Ritz vector lies in the part of the last
    block's images outside the basis, so it costs a ``block x block`` product); a pass is
    then confirmed with the residuals computed from the stored images ``A V``.

    Parameters
    ----------
    apply
        ``apply(V)`` returns ``A @ V`` for a ``(dim, b)`` float64 block ``V``.
    dim
        Order of ``A``.
    k
        Eigenpairs wanted.
    tol
        Certified bound on the sine of each angle (default :data:`EIG_TOL`).
    block
        Vectors per Krylov step (default :data:`KRYLOV_BLOCK`).
    max_basis
        Largest basis tried before giving up (default ``min(dim, max(8 * k, 600))``).
    seed
        Seed of the random start block.

    Returns
    -------
    (eigenvalues, eigenvectors) or None
        Eigenvalues descending (clipped at 0) and the ``(dim, k)`` unit eigenvectors, or
        ``None`` when the bound was not reached within ``max_basis`` vectors.
    """
    import scipy.linalg  # noqa: F401  (load its BLAS before the limit below)
    from threadpoolctl import threadpool_limits

    # The loop is dominated by memory-bound products and small factorisations, where BLAS
    # threads spin against each other (a 6144 x 8 QR took 50x longer on 2 threads).
    with threadpool_limits(limits=1, user_api="blas"):
        found = _block_krylov(apply, dim, k, tol, block, max_basis, seed)
    return None if found is None else (found.values, found.vectors)


class _KrylovResult:
    """Certified eigenpairs and their coefficients in the Krylov basis.

    ``vectors = basis @ coefficients``: a caller that kept ``X @ basis`` for some ``X``
    gets ``X @ vectors`` as ``(X @ basis) @ coefficients`` without touching ``X`` again.
    """

    def __init__(self, values: np.ndarray, vectors: np.ndarray, coefficients: np.ndarray) -> None:
        self.values = values
        self.vectors = vectors
        self.coefficients = coefficients


def _block_krylov(
    apply: Callable[[np.ndarray], np.ndarray],
    dim: int,
    k: int,
    tol: float | None,
    block: int | None,
    max_basis: int | None,
    seed: int,
) -> _KrylovResult | None:
    from scipy.linalg import eigh

    tol = EIG_TOL if tol is None else tol
    b = max(1, KRYLOV_BLOCK if block is None else block)
    extra = b  # Ritz pairs past k: they bound the gap of the last kept ones
    m = min(dim, k + extra)
    limit = min(dim, max(8 * k, 600) if max_basis is None else max_basis)
    if limit < m:
        return None
    rng = np.random.default_rng(seed)
    basis = np.empty((dim, limit), order="F")  # columns appended and read contiguously
    images = np.empty((dim, limit), order="F")
    gram = np.empty((limit, limit))
    q = _orthonormal(rng.standard_normal((dim, min(b, limit))), basis[:, :0], rng)
    j = 0
    next_check = m
    history: list[tuple[int, float]] = []  # (basis size, worst bound / tol) at each check
    while True:
        w = np.asarray(apply(q), dtype=np.float64)
        nb = q.shape[1]
        basis[:, j : j + nb] = q
        images[:, j : j + nb] = w
        gram[: j + nb, j : j + nb] = basis[:, : j + nb].T @ w
        gram[j : j + nb, :j] = gram[:j, j : j + nb].T
        j += nb
        # what of the newest images lies outside the basis: the next block, and the
        # residual of every Ritz vector (A V = V H + rest @ E_last^T)
        rest = w - basis[:, :j] @ gram[:j, j - nb : j]
        swept = np.linalg.norm(rest, axis=0)
        rest -= basis[:, :j] @ (basis[:, :j].T @ rest)
        # a third sweep only where the second removed much of a column (the DGKS
        # criterion); else two sweeps leave it orthogonal to working precision
        again = bool((np.linalg.norm(rest, axis=0) < _RESWEEP * swept).any())
        if j >= next_check or j >= limit or j == dim:
            h = gram[:j, :j]
            # all eigenpairs by divide and conquer: faster at these orders than a subset
            theta, y = eigh((h + h.T) / 2, check_finite=False, driver="evd")
            theta, y = theta[::-1][:m], y[:, ::-1][:, :m]
            tail = y[j - nb : j]
            estimated = np.sqrt(
                np.maximum(np.einsum("ij,ik,kj->j", tail, rest.T @ rest, tail), 0.0)
            )
            worst = _worst_bound(theta, estimated, k) / tol if tol > 0 else np.inf
            if j == dim or worst <= 1.0:
                vectors = basis[:, :j] @ y
                residuals = np.linalg.norm(images[:, :j] @ y - vectors * theta, axis=0)
                if j == dim or _certified(theta, residuals, k, tol):
                    return _KrylovResult(np.clip(theta[:k], 0.0, None), vectors[:, :k], y[:, :k])
            history.append((j, worst))
            next_check = j + b * _steps_to_next_check(history, b)
        if j >= limit:
            return None
        q = _orthonormal(rest, basis[:, :j], rng, limit - j, passes=int(again))


def _steps_to_next_check(history: list[tuple[int, float]], b: int) -> int:
    """Krylov steps until the next Rayleigh-Ritz check (each check costs an eigen-
    decomposition of the projected matrix): extrapolates the geometric decay of the worst
    bound over the last two checks and checks again after about 3/4 of the steps it
    predicts; while no bound is finite yet (some Ritz values are not separated, which
    happens well before any is certified), after a quarter of the basis size (at least two
    steps); else every step."""
    (j0, r0), (j1, r1) = ((0, np.inf), history[-1]) if len(history) < 2 else history[-2:]
    if not np.isfinite(r1):
        return max(2, round(j1 / (4 * b)))
    if not np.isfinite(r0) or r0 <= r1 or r1 <= 1.0:
        return 1
    per_step = np.log(r0 / r1) / ((j1 - j0) / b)
    return max(1, int(0.75 * np.log(r1) / per_step))


def _worst_bound(theta: np.ndarray, residuals: np.ndarray, k: int) -> float:
    """The largest Davis-Kahan bound ``|r_i| / gap_i`` over the first ``k`` Ritz pairs
    (``inf`` where a gap is not positive: the pair is not yet separated from the others)."""
    scale = max(float(np.abs(theta).max()), np.finfo(np.float64).tiny)
    worst = 0.0
    for i in range(k):
        apart = np.abs(theta - theta[i]) > CLUSTER_RTOL * scale
        if not apart.any():
            return np.inf
        gap = float((np.abs(theta[apart] - theta[i]) - residuals[apart]).min())
        if gap <= 0:
            return np.inf
        worst = max(worst, float(residuals[i]) / gap)
    return worst


def _certified(theta: np.ndarray, residuals: np.ndarray, k: int, tol: float) -> bool:
    """Whether the Davis-Kahan bound ``|r_i| / gap_i`` holds below ``tol`` for the first k."""
    return _worst_bound(theta, residuals, k) <= tol


def _orthonormal(
    w: np.ndarray,
    basis: np.ndarray,
    rng: np.random.Generator,
    room: int | None = None,
    passes: int = 2,
) -> np.ndarray:
    """Columns of ``w`` made orthonormal to ``basis`` (``passes`` classical Gram-Schmidt
    sweeps, then QR) and to each other; directions lost to rank deficiency are replaced by
    random ones (orthogonalised twice)."""
    w = np.array(w[:, : w.shape[1] if room is None else min(w.shape[1], room)], dtype=np.float64)
    for _ in range(3):
        for _ in range(passes):
            if basis.shape[1]:
                w -= basis @ (basis.T @ w)
        q, r = np.linalg.qr(w)
        diag = np.abs(np.diag(r))
        good = diag > 1e-10 * max(1.0, float(diag.max(initial=0.0)))
        if good.all():
            return np.asarray(q)
        w = np.where(good[None, :], q, rng.standard_normal(w.shape))
        passes = 2
    return np.asarray(q[:, good])


def load_embedding(workspace: Workspace, name: str | None = None) -> FeatureSet:
    """The embedded vectors ``name`` of a workspace (memory-mapped).

    Parameters
    ----------
    workspace
        The workspace.
    name
        Embedding name; ``None`` means the workspace's default
        (:meth:`~artrec.data.workspace.Workspace.resolve_embedding`).
    """
    return FeatureSet.load(workspace.embeddings_dir, workspace.resolve_embedding(name))


def default_feature_names(workspace: Workspace) -> list[str]:
    """The feature sets an embedding uses when none are named: all the workspace has, by name.

    Raises
    ------
    DataError
        When the workspace has no feature set yet.
    """
    names = FeatureSet.available(workspace.features_dir)
    if not names:
        raise DataError(
            f"workspace {workspace.root} has no feature sets; extract some with `artrec extract`"
        )
    return names


def build_embedding(
    workspace: Workspace,
    feature_names: Sequence[str] | None = None,
    name: str = "hybrid",
    n_components: int = 100,
    l2_normalize: bool = False,
    set_default: bool = True,
    *,
    standardize: bool = True,
    svd_solver: str = "auto",
    block_weights: BlockWeights = None,
) -> FeatureSet:
    """Fit an embedding on workspace feature sets, embed every item and save both.

    Writes ``embeddings/<name>.npy`` (+ ids, sidecar) and ``<name>.transform.npz``,
    records an ``embed`` run and, with ``set_default``, makes ``name`` the workspace's
    default embedding.

    Parameters
    ----------
    workspace
        The workspace holding the feature sets in ``features/``.
    feature_names
        Feature sets to concatenate, e.g. ``["resnet50", "vgg19"]``; ``None`` uses every
        feature set of the workspace (:func:`default_feature_names`).
    name
        Name of the embedding.
    n_components, l2_normalize, standardize, svd_solver, block_weights
        See :class:`Embedding`.
    set_default
        Store ``name`` under the meta key ``"default_embedding"``.

    Returns
    -------
    FeatureSet
        The embedded vectors (float32), with the transform summary in ``meta``.
    """
    check_name(name, what="embedding name")
    if feature_names is None:
        feature_names = default_feature_names(workspace)
    if not feature_names:
        raise DataError("no feature sets given to embed")
    available = FeatureSet.available(workspace.features_dir)
    unknown = [f for f in feature_names if f not in available]
    if unknown:
        raise DataError(
            f"no feature set {short_repr(unknown[0])} in workspace {workspace.root} "
            f"(available: {', '.join(available) or 'none'})"
        )
    if len(set(feature_names)) != len(feature_names):
        raise DataError(f"feature sets listed twice: {list(feature_names)}")
    sets = [FeatureSet.load(workspace.features_dir, f) for f in feature_names]
    emb = Embedding(
        n_components,
        standardize=standardize,
        l2_normalize=l2_normalize,
        svd_solver=svd_solver,
        block_weights=block_weights,
    )
    from artrec.data.workspace import DEFAULT_EMBEDDING_KEY  # the database layer, on use

    vectors = emb.fit_transform(sets, name)
    emb.save(workspace.embeddings_dir, name, vectors)
    if set_default:
        workspace.set_meta(DEFAULT_EMBEDDING_KEY, name)
    workspace.record_run("embed", {"name": name, **emb.describe()}, {"n_items": len(vectors)})
    return FeatureSet.load(workspace.embeddings_dir, name)


def _block_factors(
    weights: BlockWeights, names: Sequence[str], variances: Sequence[float]
) -> list[float]:
    """The factor each block's variance is multiplied by (see ``Embedding.block_weights``)."""
    if weights is None:
        return [1.0] * len(names)
    if isinstance(weights, str):
        if weights != EQUAL_BLOCKS:
            raise DataError(
                f"block_weights must be a mapping of feature set -> weight or {short_repr(EQUAL_BLOCKS)}, "
                f"got {short_repr(weights)}"
            )
        total = sum(variances)
        share = total / len(names)
        return [share / v if v > 0 else 1.0 for v in variances]
    unknown = [name for name in weights if name not in names]
    if unknown:
        raise DataError(
            f"block weight for {short_repr(unknown[0])}, which is not one of the feature sets "
            f"({', '.join(names)})"
        )
    factors = []
    for name in names:
        w = weights.get(name, 1.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) or w <= 0:
            raise DataError(
                f"block weight of {short_repr(name)} must be a positive number, got {short_repr(w)}"
            )
        factors.append(float(w))
    return factors


def _align(feature_sets: Sequence[FeatureSet]) -> list[FeatureSet]:
    """The sets re-ordered to the item order of the first; raises if their items differ."""
    sets = list(feature_sets)
    if not sets:
        raise DataError("no feature sets given")
    names = [fs.name for fs in sets]
    if len(set(names)) != len(names):
        raise DataError(f"feature set names must be distinct, got {names}")
    first = sets[0]
    ids = first.item_ids
    out = [first]
    first_set = set(ids.tolist())
    for fs in sets[1:]:
        if len(fs) == len(first) and np.array_equal(fs.item_ids, ids):
            out.append(fs)
            continue
        other = set(fs.item_ids.tolist())
        if other != first_set:
            only_first = sorted(first_set - other)
            only_other = sorted(other - first_set)
            detail = (
                f"{short_repr(first.name)} has {short_repr(only_first[0])} which {short_repr(fs.name)} lacks"
                if only_first
                else f"{short_repr(fs.name)} has {short_repr(only_other[0])} which {short_repr(first.name)} lacks"
            )
            raise DataError(
                f"feature sets {short_repr(first.name)} and {short_repr(fs.name)} describe different items: {detail}"
            )
        out.append(fs.align(ids))
    return out


def _weights_json(weights: BlockWeights) -> Any:
    if weights is None or isinstance(weights, str):
        return weights
    return {str(k): float(v) for k, v in weights.items()}
