r"""Art similarity learned from the catalogue's own metadata (no interactions needed).

:class:`MetadataSupervisedTransform` maps frozen CNN features into a space where works by
the same artist, and, more weakly, works of the same century and medium or of the same
museum, are close. It is fitted with weak labels taken from the catalogue itself:

1. **Power normalisation and shrunk whitening** (unsupervised): ``z = x ** power`` (the
   CNN's pooled ReLU6 activations are non-negative), centred, projected on its top ``dim``
   principal axes and divided by the square roots of their shrunk variances
   :math:`(1 - s)\lambda_k + s\bar\lambda` (:math:`\bar\lambda` the mean variance; ``s = 0``
   is plain PCA whitening, ``s = 1`` plain PCA), all fitted on the fit rows.
2. **A linear map** ``W`` (``dim x dim``) on the whitened vectors, by ``method``:

   * ``"wccn"`` (the default; closed form, seconds): within-class covariance
     normalisation. :math:`S_w` is the covariance of the whitened works around their
     artist's mean (artists with two or more fit works; the ``class_label`` column),
     shrunk towards its mean variance, :math:`S_\alpha = (1 - \alpha) S_w + \alpha
     \frac{\mathrm{tr}\, S_w}{\mathrm{dim}} I`, and :math:`W = S_\alpha^{-1/2}`
     (symmetric), so that the directions in which one artist's works vary count less.
     ``alpha = 1`` leaves the whitening alone. Keeping every direction (all of ``dim``)
     is deliberate: it is LDA followed by within-class whitening without truncation, and
     truncating to the top discriminant directions scored lower on validation artists.
   * ``"contrastive"``: initialised at the identity, trained with a soft
     supervised-contrastive loss: in a batch of ``b`` works with unit vectors
     :math:`e_i = Wz_i / \lVert Wz_i\rVert`, work :math:`i` should find the others that
     share a label, weighted by label: the target distribution over :math:`j \ne i` is
     :math:`t_{ij} \propto \sum_\ell w_\ell [y^\ell_i = y^\ell_j]` and the loss is
     :math:`-\sum_j t_{ij} \log \mathrm{softmax}_j(e_i \cdot e_j / \tau)`, averaged over
     the works with at least one match. The default labels and weights are ``artist``
     (1.0), ``century+medium`` (0.2) and ``museum`` (0.1); unknown values never match.
   * ``"wccn+contrastive"``: the contrastive training started from the selected WCCN map
     (and its whitening) instead of the identity.
3. **Selection on validation artists**: an optional callback scores an embedding of all
   rows (the trainer in :mod:`artrec.evaluation.similarity_training` gives the same-artist
   P@10 of validation artists held out of the fit). WCCN keeps the best of the grid
   ``shrinkage x within_shrinkage``; the contrastive training keeps the best epoch's map
   (epoch 0, its starting point, competes too). Without a callback WCCN takes the first
   value of each grid and the training keeps its last epoch.

The output is L2-normalised, so cosine similarity (VisRank's default metric) works on it
unchanged. A fitted transform is saved as ``<name>.metadata-transform.npz`` (numeric arrays
and a JSON parameter string; never pickles) next to the embedded vectors, which are an
ordinary feature set in the workspace's ``embeddings/`` folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from artrec.data.catalog import UNKNOWN_ARTISTS
from artrec.errors import DataError
from artrec.features.extractor import import_torch

#: Default weak labels and their weights.
DEFAULT_LABELS: dict[str, float] = {"artist": 1.0, "century+medium": 0.2, "museum": 0.1}

#: File suffix of a saved transform.
TRANSFORM_SUFFIX = ".metadata-transform.npz"

#: The ways of fitting the map on the whitened vectors (see the module doc).
METHODS = ("wccn", "contrastive", "wccn+contrastive")

#: Candidate shrinkages of the whitening's variances, tried in this order.
DEFAULT_SHRINKAGE: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4)

#: Candidate shrinkages of the within-class covariance (1.0: no WCCN), tried in this order.
DEFAULT_WITHIN_SHRINKAGE: tuple[float, ...] = (0.3, 0.6, 0.8, 1.0)

_FORMAT_VERSION = 2

#: Scores a candidate embedding of all rows (higher is better); used for early stopping.
EpochScorer = Callable[[np.ndarray], float]


def label_codes(metadata: Mapping[str, np.ndarray], label: str, n_items: int) -> np.ndarray:
    """Integer code of every row for ``label`` (``-1`` where unknown).

    ``label`` is a metadata column (``"artist"``, ``"museum"``, ...) or several joined by
    ``+`` (``"century+medium"``: both must be known). Values are compared stripped and
    lower-cased; unknown artists (:data:`~artrec.data.catalog.UNKNOWN_ARTISTS`) never match.
    """
    columns = label.split("+")
    missing = [c for c in columns if c not in metadata]
    if missing:
        raise DataError(f"the catalogue has no {missing[0]!r} column for the label {label!r}")
    codes = np.full(n_items, -1, dtype=np.int64)
    seen: dict[tuple[str, ...], int] = {}
    values = [np.asarray(metadata[c], dtype=object).tolist() for c in columns]
    for row in range(n_items):
        key = tuple(_clean(v[row]) for v in values)
        if any(k is None for k in key):
            continue
        codes[row] = seen.setdefault(key, len(seen))  # type: ignore[arg-type]
    return codes


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    return None if text in UNKNOWN_ARTISTS or text in ("none", "nan") else text


def within_class_scatter(z: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The within-class covariance of ``z``: the mean outer product of every row's offset
    from its class mean, over the rows whose class (``>= 0``) has two or more of them.

    Parameters
    ----------
    z
        ``(n, d)`` vectors.
    classes
        ``(n,)`` integer class of every row (``-1``: unknown, left out).
    """
    classes = np.asarray(classes, dtype=np.int64)
    _, inverse, counts = np.unique(classes, return_inverse=True, return_counts=True)
    use = (classes >= 0) & (counts[inverse] >= 2)
    if not use.any():
        raise DataError("no class has two or more works to learn the within-class covariance from")
    codes, members = np.unique(classes[use], return_inverse=True)
    means = np.zeros((len(codes), z.shape[1]))
    np.add.at(means, members, z[use])
    means /= np.bincount(members)[:, None]
    offsets = z[use] - means[members]
    return np.asarray(offsets.T @ offsets / len(offsets))


def wccn_map(scatter: np.ndarray, alpha: float) -> np.ndarray:
    """The symmetric inverse square root of the within-class covariance shrunk towards its
    mean variance: ``((1 - alpha) S + alpha tr(S)/d I) ** -1/2`` (``alpha = 1``: a multiple of
    the identity)."""
    return _wccn_maps(scatter, [alpha])[0]


def _wccn_maps(scatter: np.ndarray, alphas: Sequence[float]) -> list[np.ndarray]:
    """:func:`wccn_map` for several ``alphas`` from one eigendecomposition (shrinking towards
    a multiple of the identity keeps the eigenvectors)."""
    d = len(scatter)
    mean_variance = float(np.trace(scatter)) / d
    if mean_variance <= 0:
        return [np.eye(d) for _ in alphas]
    eigvals, eigvecs = np.linalg.eigh(scatter)
    maps = []
    for alpha in alphas:
        shrunk = (1 - alpha) * eigvals + alpha * mean_variance
        inv_sqrt = 1.0 / np.sqrt(np.clip(shrunk, mean_variance * 1e-9, None))
        maps.append(np.asarray((eigvecs * inv_sqrt) @ eigvecs.T))
    return maps


class MetadataSupervisedTransform:
    """Shrunk whitening plus a linear map fitted on the catalogue's weak labels (see the
    module doc).

    Parameters
    ----------
    method
        ``"wccn"`` (closed form), ``"contrastive"`` or ``"wccn+contrastive"``.
    dim
        Whitened dimensions kept (and the output size); ``None``: all (at most one fewer
        than the fit works).
    power
        Exponent of the power normalisation (``1`` turns it off).
    shrinkage
        Candidate shrinkages ``s`` of the whitening's variances (``0``: plain whitening).
        ``"contrastive"`` whitens with the first of them.
    within_shrinkage
        Candidate shrinkages ``alpha`` of the within-class covariance (``1``: no WCCN).
    class_label
        The metadata column whose classes WCCN normalises (see :func:`label_codes`).
    labels
        Label -> weight in the soft contrastive target (see :func:`label_codes`).
    temperature
        Softmax temperature of the loss.
    epochs, batch_size, lr, weight_decay
        Training: epochs at most, works per batch, AdamW learning rate and weight decay.
    seed
        Seed of the initialisation-free training (batch order).
    threads
        torch threads during the fit (``None``: the caller's setting).

    Attributes
    ----------
    mean_, components_, scale_
        The whitening: ``(z - mean_) @ components_.T / scale_``.
    weight_
        The ``(dim, dim)`` map.
    shrinkage_, within_shrinkage_
        The selected shrinkages (``within_shrinkage_`` is NaN for ``"contrastive"``).
    selection_
        ``(shrinkage, within_shrinkage, score)`` per WCCN candidate tried.
    history_
        ``(epoch, loss, score)`` per epoch of the training (score NaN without a scorer).
    best_epoch_
        The epoch whose map was kept (0: the starting point scored best, or no training).
    """

    def __init__(
        self,
        method: str = "wccn",
        dim: int | None = None,
        power: float = 0.5,
        shrinkage: Sequence[float] = DEFAULT_SHRINKAGE,
        within_shrinkage: Sequence[float] = DEFAULT_WITHIN_SHRINKAGE,
        class_label: str = "artist",
        labels: Mapping[str, float] | None = None,
        temperature: float = 0.1,
        epochs: int = 30,
        batch_size: int = 256,
        lr: float = 3e-4,
        weight_decay: float = 1e-4,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        self.method = method
        self.dim = dim
        self.power = power
        self.shrinkage = tuple(shrinkage)
        self.within_shrinkage = tuple(within_shrinkage)
        self.class_label = class_label
        self.labels = dict(labels) if labels is not None else dict(DEFAULT_LABELS)
        self.temperature = temperature
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.threads = threads

    # -- fitting -------------------------------------------------------------------------
    def fit(
        self,
        vectors: np.ndarray,
        metadata: Mapping[str, np.ndarray],
        rows: np.ndarray | None = None,
        *,
        scorer: EpochScorer | None = None,
    ) -> MetadataSupervisedTransform:
        """Fit on the catalogue rows ``rows`` (default: all) of ``vectors`` and ``metadata``.

        Parameters
        ----------
        vectors
            ``(n_items, d)`` non-negative CNN features, one row per catalogue work.
        metadata
            Catalogue columns (``artist``, ``century``, ``medium``, ``museum``, ...).
        rows
            Rows the fit may see (both the whitening and the labels); the others are only
            transformed.
        scorer
            Scores an embedding of *all* rows (higher is better): every WCCN candidate, and
            the training's starting point and every epoch; the best is kept.
        """
        self._check_params()
        x = self._power(vectors)
        n = len(x)
        fit_rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(fit_rows) < 2:
            raise DataError("the metadata transform needs at least two works to fit on")
        dim = int(min(self.dim or x.shape[1], x.shape[1], len(fit_rows) - 1))
        codes = np.stack([label_codes(metadata, lab, n) for lab in self.labels])  # checks them
        variances = self._fit_pca(x[fit_rows], dim)
        self.selection_: list[tuple[float, float, float]] = []
        self.history_: list[tuple[int, float, float]] = []
        self.best_epoch_ = 0
        if self.method == "contrastive":
            self.shrinkage_, self.within_shrinkage_ = self.shrinkage[0], float("nan")
            self.scale_ = self._shrunk_scale(variances, self.shrinkage_)
            self.weight_ = np.eye(dim)
        else:
            classes = label_codes(metadata, self.class_label, n)[fit_rows]
            self._select_wccn(x, fit_rows, classes, variances, scorer)
        if self.method == "wccn":
            return self
        weights = np.asarray(list(self.labels.values()), dtype=np.float64)
        z = self._whiten(x)
        torch = import_torch()
        prev_threads = torch.get_num_threads()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            if self.threads:
                torch.set_num_threads(int(self.threads))
            try:
                self._train(torch, z, codes, weights, fit_rows, scorer)
            finally:
                torch.set_num_threads(prev_threads)
        return self

    def _select_wccn(
        self,
        x: np.ndarray,
        fit_rows: np.ndarray,
        classes: np.ndarray,
        variances: np.ndarray,
        scorer: EpochScorer | None,
    ) -> None:
        """Try every (shrinkage, within_shrinkage) pair; keep the best-scoring one."""
        projected = (x - self.mean_) @ self.components_.T
        best = -np.inf
        for s in self.shrinkage if scorer is not None else self.shrinkage[:1]:
            scale = self._shrunk_scale(variances, s)
            z = projected / scale
            scatter = within_class_scatter(z[fit_rows], classes)
            alphas = self.within_shrinkage if scorer is not None else self.within_shrinkage[:1]
            for alpha, weight in zip(alphas, _wccn_maps(scatter, alphas), strict=True):
                score = (
                    float("nan") if scorer is None else float(scorer(self._normalise(z @ weight)))
                )
                self.selection_.append((float(s), float(alpha), score))
                if scorer is None or score > best:
                    best = score
                    self.scale_, self.weight_ = scale, weight
                    self.shrinkage_, self.within_shrinkage_ = float(s), float(alpha)

    def _train(
        self,
        torch: Any,
        z: np.ndarray,
        codes: np.ndarray,
        weights: np.ndarray,
        fit_rows: np.ndarray,
        scorer: EpochScorer | None,
    ) -> None:
        dim = z.shape[1]
        initial = np.asarray(self.weight_, dtype=np.float64)
        linear = torch.nn.Linear(dim, dim, bias=False)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(initial.T, dtype=torch.float32))
        opt = torch.optim.AdamW(linear.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        zt = torch.as_tensor(z, dtype=torch.float32)
        labels = torch.as_tensor(codes[:, fit_rows])
        w = torch.as_tensor(weights, dtype=torch.float32)
        rows = torch.as_tensor(fit_rows)
        best = -np.inf if scorer is None else float(scorer(self.transform_whitened(z)))
        self.history_.append((0, float("nan"), best if scorer else float("nan")))
        self.best_epoch_ = 0
        rng = np.random.default_rng(self.seed)
        for epoch in range(1, self.epochs + 1):
            order = rng.permutation(len(fit_rows))
            total, count = 0.0, 0
            for start in range(0, len(order), self.batch_size):
                idx = torch.as_tensor(order[start : start + self.batch_size])
                if len(idx) < 2:
                    continue
                e = torch.nn.functional.normalize(linear(zt[rows[idx]]), dim=1)
                sim = e @ e.T / self.temperature
                eye = torch.eye(len(idx), dtype=torch.bool)
                sim = sim.masked_fill(eye, -1e9)
                logp = sim - torch.logsumexp(sim, dim=1, keepdim=True)
                y = labels[:, idx]  # (n_labels, b)
                same = (y[:, :, None] == y[:, None, :]) & (y[:, :, None] >= 0)
                target = (same.float() * w[:, None, None]).sum(0).masked_fill(eye, 0.0)
                has = target.sum(1) > 0
                if not bool(has.any()):
                    continue
                target = target[has] / target[has].sum(1, keepdim=True)
                loss = -(target * logp[has]).sum(1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * int(has.sum())
                count += int(has.sum())
            current = linear.weight.detach().double().numpy().T
            score = float("nan")
            if scorer is not None:
                score = float(scorer(self._normalise(z @ current)))
                if score > best:
                    best, self.best_epoch_, self.weight_ = score, epoch, current.copy()
            else:
                self.best_epoch_, self.weight_ = epoch, current.copy()
            self.history_.append((epoch, total / max(count, 1), score))

    # -- transforming --------------------------------------------------------------------
    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """The ``(n, dim)`` float32 embedding (unit rows) of any works' CNN features."""
        self._check_fitted()
        return self.transform_whitened(self._whiten(self._power(vectors)))

    def transform_whitened(self, z: np.ndarray) -> np.ndarray:
        """The embedding of already whitened vectors (with the current map)."""
        weight = getattr(self, "weight_", None)
        return self._normalise(z if weight is None else z @ weight)

    def whitening_only(self, vectors: np.ndarray) -> np.ndarray:
        """The embedding without the map: power normalisation and the (selected, shrunk)
        whitening alone (unit rows), for comparison."""
        return self._normalise(self._whiten(self._power(vectors)))

    @staticmethod
    def _normalise(y: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(y, axis=1, keepdims=True)
        return (y / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def _power(self, vectors: np.ndarray) -> np.ndarray:
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2:
            raise DataError(f"features must be 2-D, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise DataError("features hold NaN or inf")
        if self.power != 1.0:
            if (x < 0).any():
                raise DataError("power normalisation needs non-negative features; use power=1")
            x = x**self.power
        return x

    def _fit_pca(self, x: np.ndarray, dim: int) -> np.ndarray:
        """Set ``mean_`` and ``components_`` (top ``dim`` axes, signs fixed); return all the
        variances, largest first."""
        self.mean_ = x.mean(axis=0)
        cov = np.cov((x - self.mean_).T)
        eigvals, eigvecs = np.linalg.eigh(cov)
        order = np.argsort(eigvals)[::-1]
        self.components_ = eigvecs[:, order[:dim]].T
        signs = np.sign(self.components_[np.arange(dim), np.argmax(np.abs(self.components_), 1)])
        self.components_ *= np.where(signs == 0, 1.0, signs)[:, None]
        return np.clip(eigvals[order], 0.0, None)

    def _shrunk_scale(self, variances: np.ndarray, s: float) -> np.ndarray:
        """Square roots of the kept axes' variances shrunk towards the mean variance."""
        dim = len(self.components_)
        return np.sqrt(np.clip((1 - s) * variances[:dim] + s * variances.mean(), 1e-12, None))

    def _whiten(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return (x - self.mean_) @ self.components_.T / self.scale_

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise DataError("the metadata transform is not fitted: call fit() first")

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise DataError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.dim is not None and (not isinstance(self.dim, int) or self.dim < 1):
            raise DataError(f"dim must be a positive integer or None, got {self.dim!r}")
        for name, grid in (
            ("shrinkage", self.shrinkage),
            ("within_shrinkage", self.within_shrinkage),
        ):
            if not grid or any(not 0.0 <= float(v) <= 1.0 for v in grid):
                raise DataError(f"{name} needs one or more values in [0, 1], got {grid!r}")
        if not self.labels or any(v < 0 for v in self.labels.values()):
            raise DataError("labels need non-negative weights")
        if self.temperature <= 0 or self.power <= 0 or self.lr <= 0:
            raise DataError("temperature, power and lr must be positive")
        if not isinstance(self.epochs, int) or self.epochs < 0:
            raise DataError(f"epochs must be >= 0, got {self.epochs!r}")

    # -- persistence -----------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {
            "method": self.method,
            "dim": self.dim,
            "power": self.power,
            "shrinkage": list(self.shrinkage),
            "within_shrinkage": list(self.within_shrinkage),
            "class_label": self.class_label,
            "labels": dict(self.labels),
            "temperature": self.temperature,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "seed": self.seed,
            "threads": self.threads,
        }

    def describe(self) -> dict[str, Any]:
        """The sidecar description: kind, parameters, best epoch, history."""
        self._check_fitted()
        return {
            "kind": "metadata_supervised",
            "params": self.get_params(),
            "n_components": len(self.scale_),
            "shrinkage": float(self.shrinkage_),
            "within_shrinkage": _num(self.within_shrinkage_),
            "selection": [
                {"shrinkage": a, "within_shrinkage": b, "score": _num(c)}
                for a, b, c in self.selection_
            ],
            "best_epoch": int(self.best_epoch_),
            "history": [
                {"epoch": e, "loss": _num(loss), "score": _num(s)} for e, loss, s in self.history_
            ],
        }

    def save(self, directory: str | Path, name: str) -> Path:
        """Write ``<directory>/<name>.metadata-transform.npz`` atomically; returns its path."""
        from artrec.fileio import atomic_write, check_name

        self._check_fitted()
        check_name(name, what="embedding name")
        path = Path(directory) / f"{name}{TRANSFORM_SUFFIX}"
        path.parent.mkdir(parents=True, exist_ok=True)
        info = {"format_version": _FORMAT_VERSION, **self.describe()}
        arrays = {
            "mean": self.mean_,
            "components": self.components_,
            "scale": self.scale_,
            "weight": self.weight_,
            "info": np.array(json.dumps(info)),
        }
        atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))
        return path

    @classmethod
    def load(cls, directory: str | Path, name: str) -> MetadataSupervisedTransform:
        """Read a transform written by :meth:`save` (never unpickles)."""
        path = Path(directory) / f"{name}{TRANSFORM_SUFFIX}"
        if not path.is_file():
            raise DataError(f"no metadata transform {name!r} in {directory}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: np.asarray(npz[k]) for k in npz.files}
            info = json.loads(str(arrays["info"]))
            version = info.get("format_version")
            if version not in (1, _FORMAT_VERSION):
                raise DataError(f"{path}: unsupported format {version!r}")
            if version == 1:  # written before WCCN: a contrastive map on plain whitening
                info["params"]["method"] = "contrastive"
                info["params"]["shrinkage"] = [0.0]
                info.update(shrinkage=0.0, within_shrinkage=None, selection=[])
            out = cls(**info["params"])
            out.mean_ = arrays["mean"]
            out.components_ = arrays["components"]
            out.scale_ = arrays["scale"]
            out.weight_ = arrays["weight"]
            out.best_epoch_ = int(info["best_epoch"])
            out.shrinkage_ = float(info["shrinkage"])
            out.within_shrinkage_ = _nan(info["within_shrinkage"])
            out.selection_ = [
                (float(c["shrinkage"]), float(c["within_shrinkage"]), _nan(c["score"]))
                for c in info["selection"]
            ]
            out.history_ = [
                (int(h["epoch"]), _nan(h["loss"]), _nan(h["score"])) for h in info["history"]
            ]
        except (KeyError, TypeError, ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable metadata transform ({exc!r:.200})") from None
        return out


def _num(x: float) -> float | None:
    return None if x is None or np.isnan(x) else float(x)


def _nan(x: Any) -> float:
    return float("nan") if x is None else float(x)
