"""What the learned recommenders (CuratorNet, VBPR) share: inputs, the training loop, state.

* :class:`ItemInputs` turns a catalogue's frozen item vectors (any embedding or feature
  set), optionally with one-hot metadata (artist, medium, century, museum), into the input
  matrix of a model. It is fitted on the catalogue, never on interactions, so every work,
  bought or not, old or new, has an input row.
* :class:`NeuralRecommender` is the base of the PyTorch models. ``__init__`` stores the
  configuration; :meth:`NeuralRecommender.fit` runs the epoch loop. After every epoch the
  model is ready to score, and an optional callback sees an :class:`EpochReport` and may stop
  training (the trainer in :mod:`artrec.evaluation.training` uses it for validation nDCG,
  early stopping and checkpoints). :meth:`NeuralRecommender.training_state` captures the
  weights *and* the optimiser after an epoch; ``fit(..., resume=state)`` continues from it
  and ends with the same model as an uninterrupted run.

Determinism
-----------
Everything random is drawn from the seed: the weights are initialised under
``torch.manual_seed(seed)`` inside :func:`torch.random.fork_rng` (the caller's global torch
random state is left as it was), and the training instances of epoch ``e`` come from
``numpy.random.default_rng([seed, e])``, so a resumed run draws exactly what an
uninterrupted one draws. Deterministic algorithms are switched on for the duration of
``fit`` (and restored afterwards). The same seed on the same machine and thread count gives
the same scores; ``threads`` pins the thread count for the fit (one by default).
On CUDA, PyTorch also needs ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` in the environment for
bit-identical results.

Devices and precision
---------------------
``device="auto"`` trains on CUDA when present, else on the CPU. ``precision="bf16"``
runs the forward passes under bf16 autocast; whether it pays off is measured in
``docs/benchmarks.md`` (on the development CPU it does not, so the default is ``fp32``).
User vectors are computed in float64 from the float32 weights; CuratorNet's final
catalogue-wide product runs in float32 (and :meth:`~artrec.recommend.base.Recommender.rank`
ranks that float32 block as it is), as VisRank can.
"""

from __future__ import annotations

import contextlib
import math
import time
import zlib
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from artrec.data.catalog import UNKNOWN_ARTISTS
from artrec.errors import DataError
from artrec.features.extractor import import_torch, resolve_device
from artrec.recommend.base import TrainData, best_profile_rows
from artrec.recommend.store import SavableRecommender

#: Metadata columns that :class:`ItemInputs` can one-hot encode (``museum`` is the collection).
METADATA_COLUMNS: tuple[str, ...] = ("artist", "medium", "century", "museum")

#: Ways :class:`ItemInputs` scales the item vectors.
SCALINGS: tuple[str, ...] = ("zscore", "l2", "none")

#: Training precisions.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")


# -- item inputs -------------------------------------------------------------------------
def _category(value: Any) -> str | None:
    """A metadata value as a category key: stripped, lower-cased; ``None`` when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip().lower()
    if not text or text in UNKNOWN_ARTISTS or text in ("none", "nan"):
        return None
    return text


def _slots(values: np.ndarray, min_count: int, max_values: int) -> list[str]:
    """The values of a metadata column that get a one-hot slot: known, on ``min_count``
    works or more, the ``max_values`` most frequent (ties by value)."""
    counts = Counter(v for v in (_category(x) for x in values.tolist()) if v is not None)
    kept = [v for v, c in counts.items() if c >= min_count]
    kept.sort(key=lambda v: (-counts[v], v))
    return kept[:max_values]


def usable_metadata(data: TrainData, min_count: int = 2) -> tuple[str, ...]:
    """The columns of :data:`METADATA_COLUMNS` that :class:`ItemInputs` (with this
    ``min_count``) would give at least one one-hot slot in ``data``'s catalogue: present, with
    a known value shared by ``min_count`` works or more. In :data:`METADATA_COLUMNS` order."""
    return tuple(
        column
        for column in METADATA_COLUMNS
        if (values := data.metadata.get(column)) is not None and _slots(values, min_count, 1)
    )


class ItemInputs:
    """Frozen item vectors, standardised, optionally followed by one-hot metadata blocks.

    Parameters
    ----------
    metadata
        Columns of :data:`METADATA_COLUMNS` to add, e.g. ``("artist", "century")``.
    max_values
        At most this many values per column get a one-hot slot (the most frequent ones).
    min_count
        A value needs at least this many catalogue works to get a slot (a value seen once
        cannot tell works apart).
    scaling
        ``"zscore"``: z-score the vectors per dimension (mean and population std of the
        catalogue); ``"l2"``: scale every vector to unit length (cosine geometry, as VisRank's
        cosine metric); ``"none"``.

    Attributes
    ----------
    mean_, scale_
        Per-dimension mean and std of the vectors (``scale_`` is 1 where the std is 0).
    vocab_
        Column -> the values with a slot, in slot order.
    dim_
        Width of the input matrix.
    """

    def __init__(
        self,
        metadata: Sequence[str] = (),
        max_values: int = 256,
        min_count: int = 2,
        scaling: str = "zscore",
    ) -> None:
        self.metadata = tuple(metadata)
        self.max_values = max_values
        self.min_count = min_count
        self.scaling = scaling

    def fit(self, data: TrainData) -> ItemInputs:
        """Learn the standardisation and the metadata vocabularies from the catalogue."""
        unknown = [c for c in self.metadata if c not in METADATA_COLUMNS]
        if unknown:
            raise DataError(
                f"unknown metadata column {unknown[0]!r}; choose from {', '.join(METADATA_COLUMNS)}"
            )
        if self.scaling not in SCALINGS:
            raise DataError(
                f"unknown input scaling {self.scaling!r}; choose one of {', '.join(SCALINGS)}"
            )
        vectors = _vectors(data)
        if self.scaling == "zscore":
            self.mean_ = vectors.mean(axis=0)
            std = vectors.std(axis=0)
            self.scale_ = np.where(std > 0, std, 1.0)
        else:
            self.mean_ = np.zeros(vectors.shape[1])
            self.scale_ = np.ones(vectors.shape[1])
        self.vocab_: dict[str, list[str]] = {}
        for column in self.metadata:
            values = data.metadata.get(column)
            if values is None:
                raise DataError(f"the catalogue has no {column!r} column to learn from")
            self.vocab_[column] = _slots(values, self.min_count, self.max_values)
        self.dim_ = vectors.shape[1] + sum(len(v) for v in self.vocab_.values())
        return self

    def transform(self, data: TrainData) -> np.ndarray:
        """The ``(n_items, dim_)`` float32 input matrix of ``data``'s catalogue."""
        if not hasattr(self, "mean_"):
            raise DataError("ItemInputs is not fitted: call fit() first")
        vectors = _vectors(data)
        if vectors.shape[1] != len(self.mean_):
            raise DataError(
                f"item vectors have {vectors.shape[1]} dimensions; the model was fitted on "
                f"{len(self.mean_)}"
            )
        scaled = (vectors - self.mean_) / self.scale_
        if self.scaling == "l2":
            norms = np.linalg.norm(scaled, axis=1, keepdims=True)
            scaled = scaled / np.where(norms > 0, norms, 1.0)
        blocks = [scaled.astype(np.float32)]
        for column, values in self.vocab_.items():
            slot = {v: j for j, v in enumerate(values)}
            col = data.metadata.get(column)
            onehot = np.zeros((data.n_items, len(values)), dtype=np.float32)
            if col is not None:
                for row, value in enumerate(col.tolist()):
                    j = slot.get(_category(value) or "")
                    if j is not None:
                        onehot[row, j] = 1.0
            blocks.append(onehot)
        return np.ascontiguousarray(np.concatenate(blocks, axis=1))

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON parameters (with the vocabularies) and arrays (mean, scale)."""
        params = {
            "metadata": list(self.metadata),
            "max_values": self.max_values,
            "min_count": self.min_count,
            "scaling": self.scaling,
            "vocab": self.vocab_,
        }
        return params, {"mean": self.mean_, "scale": self.scale_}

    @classmethod
    def from_state(cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> ItemInputs:
        """Rebuild fitted inputs from :meth:`get_state`."""
        inputs = cls(
            params["metadata"], params["max_values"], params["min_count"], params["scaling"]
        )
        inputs.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
        inputs.scale_ = np.asarray(arrays["scale"], dtype=np.float64)
        inputs.vocab_ = {str(k): [str(v) for v in vals] for k, vals in params["vocab"].items()}
        inputs.dim_ = len(inputs.mean_) + sum(len(v) for v in inputs.vocab_.values())
        return inputs


def _vectors(data: TrainData) -> np.ndarray:
    if data.vectors is None:
        raise DataError("learned recommenders need item vectors (TrainData.vectors is None)")
    vectors = np.asarray(data.vectors, dtype=np.float64)
    if vectors.ndim != 2:
        raise DataError(f"item vectors must be 2-D, got shape {vectors.shape}")
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        raise DataError(f"item vector of row {int(np.flatnonzero(~finite)[0])} holds NaN or inf")
    return vectors


# -- training log helpers -------------------------------------------------------------------
def user_histories(data: TrainData) -> list[np.ndarray]:
    """Distinct rows of each user's training events, in time order (see ``TrainData.profiles``)."""
    if data.users is None or data.n_users == 0 or not len(data.interactions_rows):
        raise DataError("learned recommenders need a per-user training log, and it is empty")
    return data.profiles()


def visual_clusters(inputs: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """k-means cluster of every item (for cluster-guided negatives); deterministic per seed."""
    from sklearn.cluster import KMeans

    n = len(inputs)
    k = int(min(max(2, n_clusters), n))
    km = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100)
    return np.asarray(km.fit_predict(np.asarray(inputs, dtype=np.float64)), dtype=np.int64)


class NegativeSampler:
    """Draws, for (user, positive) pairs, negatives the users never interacted with.

    With probability ``1 - hard_fraction`` (or when the positive has no group) a negative is
    uniform over the catalogue; otherwise it is a *hard* negative sharing something with the
    positive: its artist (``"artist"``) or its k-means visual cluster (``"cluster"``). A draw
    that hits one of the user's own works is redrawn uniformly (up to ``retries`` rounds).

    Parameters
    ----------
    n_items
        Catalogue size.
    histories
        Each user's distinct rows (the works that are never negatives for them).
    groups
        Group of every item for hard negatives (artist code or cluster), ``-1`` for none;
        ``None`` for uniform sampling only.
    hard_fraction
        Share of negatives drawn from the positive's group.
    """

    retries = 20

    def __init__(
        self,
        n_items: int,
        histories: Sequence[np.ndarray],
        groups: np.ndarray | None,
        hard_fraction: float,
    ) -> None:
        self.n_items = n_items
        self.hard_fraction = hard_fraction if groups is not None else 0.0
        users = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        rows = np.concatenate(histories) if len(histories) else np.zeros(0, np.int64)
        self._owned = np.unique(users.astype(np.int64) * n_items + rows)
        if groups is not None:
            g = np.asarray(groups, dtype=np.int64)
            self._order = np.argsort(g, kind="stable")
            sizes = np.bincount(g[g >= 0], minlength=int(g.max(initial=-1)) + 1)
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) + int((g < 0).sum())
            usable = sizes > 1
            self._start = np.where(g >= 0, starts[np.maximum(g, 0)], 0)
            self._size = np.where(
                g >= 0, np.where(usable[np.maximum(g, 0)], sizes[np.maximum(g, 0)], 0), 0
            )

    def owned(self, users: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Whether each ``rows[j]`` is one of ``users[j]``'s works."""
        codes = users.astype(np.int64) * self.n_items + rows
        pos = np.searchsorted(self._owned, codes)
        pos = np.minimum(pos, max(len(self._owned) - 1, 0))
        return (self._owned[pos] == codes) if len(self._owned) else np.zeros(len(codes), bool)

    def draw(
        self, rng: np.random.Generator, users: np.ndarray, positives: np.ndarray
    ) -> np.ndarray:
        """One negative per (user, positive) pair."""
        n = len(users)
        neg = rng.integers(self.n_items, size=n)
        if self.hard_fraction > 0:
            size = self._size[positives]
            hard = (rng.random(n) < self.hard_fraction) & (size > 0)
            offset = np.floor(rng.random(n) * np.maximum(size, 1)).astype(np.int64)
            picks = self._order[self._start[positives] + offset]
            neg = np.where(hard, picks, neg)
        bad = self.owned(users, neg)
        for _ in range(self.retries):
            if not bad.any():
                break
            neg[bad] = rng.integers(self.n_items, size=int(bad.sum()))
            bad = self.owned(users, neg)
        return neg


def artist_groups(data: TrainData) -> np.ndarray:
    """Artist code of every row (``-1`` where unknown); raises when there are no artists."""
    if data.artists is None:
        raise DataError("artist-guided negatives need artists, and the catalogue has none")
    codes: dict[str, int] = {}
    out = np.full(data.n_items, -1, dtype=np.int64)
    for row, artist in enumerate(np.asarray(data.artists, dtype=object).tolist()):
        key = _category(artist)
        if key is not None:
            out[row] = codes.setdefault(key, len(codes))
    return out


#: Kinds of hard negatives the samplers draw (besides uniform ones).
HARD_NEGATIVES: tuple[str, ...] = ("artist", "cluster")


def check_hard_negatives(hard_negatives: str | None, hard_fraction: float) -> None:
    """:class:`DataError` unless ``hard_negatives`` is ``None`` or one of
    :data:`HARD_NEGATIVES` and ``hard_fraction`` lies in [0, 1]."""
    if hard_negatives not in (None, *HARD_NEGATIVES):
        raise DataError(
            f"unknown hard negatives {hard_negatives!r}; choose {', '.join(HARD_NEGATIVES)} or None"
        )
    if not 0.0 <= hard_fraction <= 1.0:
        raise DataError(f"hard_fraction must lie in [0, 1], got {hard_fraction}")


def negative_sampler(
    data: TrainData,
    inputs: np.ndarray,
    histories: list[np.ndarray],
    hard_negatives: str | None,
    hard_fraction: float,
    n_clusters: int | None,
    seed: int,
) -> NegativeSampler:
    """The training sampler: hard negatives grouped by artist, by visual cluster
    (``n_clusters``, default ``sqrt(n_items / 2)``) or none."""
    groups = None
    if hard_negatives == "artist":
        groups = artist_groups(data)
    elif hard_negatives == "cluster":
        k = n_clusters or round(float(np.sqrt(data.n_items / 2)))
        groups = visual_clusters(inputs, k, seed)
    return NegativeSampler(data.n_items, histories, groups, hard_fraction)


def profile_seed(seed: int, rows: np.ndarray) -> list[int]:
    """Seed material for a random stream that depends only on ``seed`` and a profile's rows."""
    rows = np.ascontiguousarray(np.asarray(rows, dtype=np.int64).reshape(-1))
    return [int(seed), len(rows), zlib.crc32(rows.tobytes())]


# -- torch helpers --------------------------------------------------------------------------
def module_arrays(module: Any, prefix: str) -> dict[str, np.ndarray]:
    """A module's state_dict as float32/int numpy arrays under ``prefix.`` keys."""
    return {
        f"{prefix}.{k}": v.detach().cpu().float().numpy()
        if v.is_floating_point()
        else v.detach().cpu().numpy()
        for k, v in module.state_dict().items()
    }


def load_module_arrays(module: Any, arrays: Mapping[str, np.ndarray], prefix: str) -> None:
    """Load arrays written by :func:`module_arrays` into ``module`` (exact key match)."""
    torch = import_torch()
    state = {
        k[len(prefix) + 1 :]: torch.as_tensor(np.asarray(v))
        for k, v in arrays.items()
        if k.startswith(prefix + ".")
    }
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise DataError(f"saved weights do not match the model ({str(exc)[:200]})") from None


def optimizer_state(optimizer: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """An optimiser's state as JSON parameters plus numeric arrays (no pickles)."""
    state = optimizer.state_dict()
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entries in state["state"].items():
        for key, value in entries.items():
            if hasattr(value, "detach") and value.dim() > 0:
                arrays[f"optim.{pid}.{key}"] = value.detach().cpu().numpy()
            else:
                scalars.setdefault(str(pid), {})[key] = float(value)
    groups = [{k: v for k, v in g.items()} for g in state["param_groups"]]
    return {"param_groups": groups, "scalars": scalars}, arrays


def load_optimizer_state(
    optimizer: Any, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> None:
    """Restore an optimiser from :func:`optimizer_state`."""
    torch = import_torch()
    state: dict[int, dict[str, Any]] = {}
    for key, value in arrays.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = torch.as_tensor(np.asarray(value))
    for pid, entries in params["scalars"].items():
        for name, value in entries.items():
            state.setdefault(int(pid), {})[name] = torch.tensor(float(value))
    optimizer.load_state_dict({"state": state, "param_groups": list(params["param_groups"])})


@contextlib.contextmanager
def torch_session(seed: int, threads: int | None, device: str) -> Iterator[Any]:
    """Seeded, deterministic torch for the duration of a fit; restores the caller's settings."""
    torch = import_torch()
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        try:
            if threads:
                torch.set_num_threads(int(threads))
            torch.use_deterministic_algorithms(True, warn_only=True)
            yield torch
        finally:
            torch.set_num_threads(prev_threads)
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)


# -- the base class ---------------------------------------------------------------------------
@dataclass(frozen=True)
class EpochReport:
    """What one training epoch did.

    Attributes
    ----------
    epoch
        Number of epochs completed (1 after the first).
    loss
        Mean training loss over the epoch's instances.
    n_instances
        Training instances drawn for the epoch.
    seconds
        Wall time of the epoch (sampling and optimisation).
    """

    epoch: int
    loss: float
    n_instances: int
    seconds: float


#: Called after every epoch with the model (ready to score) and the report; returns False to
#: stop training.
EpochCallback = Callable[["NeuralRecommender", EpochReport], bool]

#: Fits a model in place of the plain epoch loop (see :attr:`NeuralRecommender.fit_strategy`).
FitStrategy = Callable[["NeuralRecommender", TrainData], "NeuralRecommender"]


@dataclass(frozen=True)
class TrainingState:
    """A model mid-training: epochs done, weights and optimiser (see ``training_state``)."""

    epoch: int
    params: dict[str, Any]
    arrays: dict[str, np.ndarray]


#: Constructor arguments every subclass takes (its :attr:`NeuralRecommender.PARAMS` end).
TRAINING_PARAMS: tuple[str, ...] = (
    "epochs",
    "batch_size",
    "lr",
    "seed",
    "device",
    "precision",
    "threads",
    "metadata",
)


class NeuralRecommender(SavableRecommender):
    """Base of the PyTorch recommenders: configuration, epoch loop, state, scoring caches.

    Subclasses list their constructor arguments in :attr:`PARAMS` and implement
    :meth:`_build` (the network), :meth:`_epoch_batches` (the training instances of an
    epoch), :meth:`_batch_loss`, :meth:`_refresh` (scoring caches after an epoch) and the
    state hooks.

    Common parameters (every subclass accepts them)
    ------------------------------------------------
    epochs
        Maximum number of epochs.
    batch_size
        Training instances per optimiser step.
    lr
        Adam learning rate.
    seed
        Seed of everything random (see the module docstring).
    device
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda[:N]"``.
    precision
        ``"fp32"`` or ``"bf16"`` (autocast for the forward passes).
    threads
        torch threads during the fit (default 1: the batches are small, and on shared
        cores a second thread waits at every parallel region; see docs/benchmarks.md);
        ``None`` keeps the caller's setting. Scoring runs in NumPy on the cached arrays.
    metadata
        Metadata columns appended to the item vectors (see :class:`ItemInputs`).
    """

    #: Constructor arguments, in order (for get_params / clone / saving).
    PARAMS: ClassVar[tuple[str, ...]] = ()

    #: When set, a plain ``fit(data)`` (no callback, no resume) calls ``fit_strategy(self,
    #: data)`` instead of running ``epochs`` epochs: the evaluation layer sets it to early
    #: stopping on a validation split of the training log
    #: (:func:`artrec.evaluation.training.early_stopping`), so ``evaluate``, ``compare``
    #: and the hybrid train these models the way ``artrec train`` does. Not a parameter:
    #: :meth:`clone` and saved models do not carry it.
    fit_strategy: FitStrategy | None = None

    #: What the fit strategy reported (early stopping: the validation history), if one ran.
    validation_: dict[str, Any] | None = None

    epochs: int
    batch_size: int
    lr: float
    seed: int
    device: str
    precision: str
    threads: int | None
    metadata: tuple[str, ...]

    # hooks -----------------------------------------------------------------------------
    @abstractmethod
    def _build(self, torch: Any, data: TrainData, inputs: np.ndarray) -> Any:
        """Create the network (an ``nn.Module``) for the fitted data; called under the seed."""

    @abstractmethod
    def _epoch_batches(
        self, data: TrainData, rng: np.random.Generator
    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """The epoch's training batches as ``(n_instances, arrays)``."""

    @abstractmethod
    def _batch_loss(self, torch: Any, batch: dict[str, Any]) -> Any:
        """Mean loss of one batch (tensors already on the device)."""

    @abstractmethod
    def _refresh(self, torch: Any) -> None:
        """Recompute the scoring caches from the current weights (after each epoch)."""

    @abstractmethod
    def _prepare(self, data: TrainData, inputs: np.ndarray) -> None:
        """Precompute what sampling needs (histories, groups) before the first epoch."""

    # configuration --------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (JSON-ready)."""
        out = {}
        for name in self.PARAMS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def clone(self, **overrides: Any) -> NeuralRecommender:
        """A new, unfitted model with the same parameters except ``overrides``."""
        params = {**self.get_params(), **overrides}
        return type(self)(**params)

    def _check_common(self) -> None:
        for name, low in (("epochs", 0), ("batch_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise DataError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise DataError(f"lr must be positive, got {self.lr!r}")
        if self.precision not in PRECISIONS:
            raise DataError(
                f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise DataError(f"threads must be a positive integer or None, got {self.threads!r}")

    # training --------------------------------------------------------------------------
    def fit(
        self,
        data: TrainData,
        *,
        callback: EpochCallback | None = None,
        resume: TrainingState | None = None,
        report_start: bool = False,
    ) -> NeuralRecommender:
        """Train on ``data``'s per-user log; returns self.

        Parameters
        ----------
        data
            Catalogue (vectors, metadata, stock) and training log.
        callback
            Called after every epoch with the model (ready to score) and an
            :class:`EpochReport`; returning ``False`` stops training.
        resume
            A :meth:`training_state` taken after some epoch of a fit with the same
            parameters and data: training continues from it.
        report_start
            Also call ``callback`` before the first epoch (``epoch=0``, loss NaN), so the
            untrained model can be scored too; returning ``False`` then skips training.
        """
        if self.fit_strategy is not None and callback is None and resume is None:
            return self.fit_strategy(self, data)
        self._check_common()
        self._check_params()
        self.device_ = resolve_device(self.device)
        inputs_model = ItemInputs(self.metadata, scaling=getattr(self, "inputs", "zscore")).fit(
            data
        )
        inputs = inputs_model.transform(data)
        self.inputs_ = inputs_model
        self.data_ = data
        self._prepare(data, inputs)
        with torch_session(self.seed, self.threads, self.device_) as torch:
            self.net_ = self._build(torch, data, inputs).to(self.device_)
            self.x_ = torch.as_tensor(inputs, device=self.device_)
            self.optimizer_ = self._make_optimizer(torch)
            start = 0
            if resume is not None:
                start = self._restore_training(resume)
            self.epochs_done_ = start
            self._refresh(torch)
            stop = False
            if report_start and callback is not None and start == 0:
                stop = callback(self, EpochReport(0, float("nan"), 0, 0.0)) is False
            for epoch in range(start, 0 if stop else self.epochs):
                t0 = time.perf_counter()
                rng = np.random.default_rng([int(self.seed), epoch])
                total, count = 0.0, 0
                self.net_.train()
                for n, arrays in self._epoch_batches(data, rng):
                    batch = {k: torch.as_tensor(v, device=self.device_) for k, v in arrays.items()}
                    with self._autocast(torch):
                        loss = self._batch_loss(torch, batch)
                    self.optimizer_.zero_grad(set_to_none=True)
                    loss.float().backward()
                    self.optimizer_.step()
                    total += float(loss.detach().float()) * n
                    count += n
                self.net_.eval()
                self.epochs_done_ = epoch + 1
                self._refresh(torch)
                report = EpochReport(
                    epoch + 1, total / max(count, 1), count, time.perf_counter() - t0
                )
                if callback is not None and callback(self, report) is False:
                    break
        return self

    def _make_optimizer(self, torch: Any) -> Any:
        """The optimiser (Adam at ``lr``; subclasses may add weight decay)."""
        return torch.optim.Adam(self.net_.parameters(), lr=self.lr)

    def _autocast(self, torch: Any) -> Any:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_.split(":")[0], dtype=torch.bfloat16)

    def training_state(self) -> TrainingState:
        """Weights and optimiser after the last completed epoch (to resume from)."""
        self._check_fitted()
        params, arrays = optimizer_state(self.optimizer_)
        arrays.update(module_arrays(self.net_, "net"))
        return TrainingState(self.epochs_done_, params, arrays)

    def weights(self) -> dict[str, np.ndarray]:
        """The network's current weights (``net.*`` arrays), e.g. to keep the best epoch's."""
        self._check_fitted()
        return module_arrays(self.net_, "net")

    def load_weights(self, arrays: Mapping[str, np.ndarray], epochs_done: int) -> None:
        """Replace the weights by :meth:`weights` taken earlier and refresh the scoring caches."""
        self._check_fitted()
        load_module_arrays(self.net_, arrays, "net")
        self.epochs_done_ = int(epochs_done)
        self._refresh(import_torch())

    def _restore_training(self, state: TrainingState) -> int:
        if not 0 <= state.epoch <= self.epochs:
            raise DataError(f"cannot resume after epoch {state.epoch} of {self.epochs}")
        load_module_arrays(self.net_, state.arrays, "net")
        if "param_groups" in state.params:  # weights alone (no optimiser) resume nothing more
            load_optimizer_state(self.optimizer_, state.params, state.arrays)
        return state.epoch

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise DataError(f"{type(self).__name__} is not fitted: call fit() first")

    @abstractmethod
    def _check_params(self) -> None:
        """Validate the model-specific parameters (raise :class:`DataError`)."""

    def set_items(self, data: TrainData) -> NeuralRecommender:
        """Score the catalogue of ``data`` with the fitted weights, without training.

        New works (rows never seen in training) are scored through their vectors and
        metadata; ``data``'s stock becomes the default availability. Subclasses with
        per-item parameters require the fitted catalogue's rows to come first.
        """
        self._check_fitted()
        torch = import_torch()
        self.x_ = torch.as_tensor(self.inputs_.transform(data), device=self.device_)
        self._on_new_items(data)
        self.data_ = data
        self._refresh(torch)
        return self

    def _on_new_items(self, data: TrainData) -> None:
        """Hook: adjust per-item parameters to a new catalogue (default: none)."""

    # -- explanations and state shared by the subclasses -----------------------------------
    def _explain_by(
        self, item_vectors: np.ndarray, profiles: Sequence[np.ndarray], rows: np.ndarray
    ) -> np.ndarray:
        """For each recommended row, the profile row whose ``item_vectors`` row has the
        largest dot product with its own (``-1`` for padding or an empty profile)."""
        return best_profile_rows(item_vectors, self._check_profiles(profiles), rows)

    def _state_base(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The parameters and input vocabularies every subclass saves (its own arrays are
        added to the second dict)."""
        self._check_fitted()
        in_params, in_arrays = self.inputs_.get_state()
        params = {
            **self.get_params(),
            "item_inputs": in_params,
            "d_in": int(self.inputs_.dim_),
            "epochs_trained": int(self.epochs_done_),
        }
        return params, {f"inputs.{k}": v for k, v in in_arrays.items()}

    @classmethod
    def _from_state_base(cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        """A model with the saved parameters and input vocabularies, on the CPU (the
        subclass rebuilds its network and caches)."""
        rec = cls(**{k: params[k] for k in cls.PARAMS})
        rec._check_params()
        rec.device_ = "cpu"
        rec.inputs_ = ItemInputs.from_state(
            params["item_inputs"],
            {k[len("inputs.") :]: v for k, v in arrays.items() if k.startswith("inputs.")},
        )
        rec.epochs_done_ = int(params["epochs_trained"])
        return rec

    def _check_profiles(self, profiles: Sequence[np.ndarray]) -> list[np.ndarray]:
        self._check_fitted()
        n = self.data_.n_items
        out = []
        for j, p in enumerate(profiles):
            rows = np.asarray(p, dtype=np.int64).reshape(-1)
            if rows.size and (rows.min() < 0 or rows.max() >= n):
                raise DataError(f"profile {j} holds a row outside 0..{n - 1}")
            out.append(np.asarray(list(dict.fromkeys(rows.tolist())), dtype=np.int64))
        return out
