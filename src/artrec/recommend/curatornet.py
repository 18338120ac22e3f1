r"""CuratorNet: a visual taste learned from purchases, with no user or item ids.

After Messina et al., "CuratorNet: visually-aware recommendation of art images" (2020).
Every part of the model works on features, so a person never seen in training is scored
from their profile and a work nobody has bought yet from its vector:

* **item transform** :math:`g`: an MLP with SELU activations applied to every item's frozen
  input (an embedding or feature set, optionally with one-hot metadata, see
  :class:`~artrec.recommend.neural.ItemInputs`), shared by profile and candidate items;
* **profile encoder**: the transformed vectors of the profile's items are pooled by mean
  and by max, concatenated, and mapped by a second SELU MLP :math:`h` to a user vector
  :math:`u = h([\mathrm{mean}_{p \in P} g(x_p); \max_{p \in P} g(x_p)])`;
* **score**: :math:`s(P, i) = u \cdot g(x_i)`.

Hidden layers use SELU (self-normalising, as in the paper); the last layer of each MLP is
linear. An empty profile pools to zeros.

Starting from similarity
------------------------
With ``skip=True`` (the default) the item embedding is :math:`[w \odot x_i ; g(x_i)]` and
the user vector :math:`[\mathrm{mean}_{p \in P}\, w \odot x_p ; u]`, with a learned
per-dimension weight :math:`w` initialised at 1 and the item MLP's output layer at 0, so that

.. math:: s(P, i) = \sum_d w_d^2\, \overline{x_{P,d}}\, x_{i,d} + u \cdot g(x_i)

starts as VisRank's mean aggregation on the inputs (cosine similarity with ``inputs="l2"``;
one-hot metadata blocks then add the share of profile works with the same artist, medium,
century or museum) and training learns a reweighting plus the paper's non-linear taste
on top. Purchase logs are small; this keeps a model trained on few of them from falling
below plain similarity, and lets early stopping (which also scores the untrained model,
see :mod:`artrec.evaluation.training`) keep the similarity alone when training does not
help on the validation split. ``skip=False`` is the paper's architecture alone.

Training
--------
Each epoch draws (profile, positive, negative) triples from the training log and minimises
the BPR loss :math:`-\log \sigma(s(P, i^+) - s(P, i^-))` (or, with ``loss="hinge"``, the
triplet hinge :math:`\max(0, m - s(P, i^+) + s(P, i^-))`). The positive strategies
(``strategies``, weights of a mixture) are:

``next``
    the user's history up to a purchase predicts that purchase (a user's first purchase
    falls back to ``hidden``);
``hidden``
    the rest of the history predicts one held-out item of it.

Negatives are works the user never touched: uniform over the catalogue, or, for a share
``hard_fraction`` of them, *hard* negatives that share the positive's artist
(``hard_negatives="artist"``) or its k-means visual cluster (``"cluster"``, ``n_clusters``
clusters of the item inputs). Users with a single event give no triple. Profiles longer
than ``max_profile`` keep their most recent items.

Explanations
------------
The work of the profile that contributed most to a recommendation is the profile item
whose transformed vector has the largest dot product with the recommended item's,
:math:`\arg\max_{p \in P} g(x_p) \cdot g(x_i)` (first in profile order on ties): the
profile work closest to the recommendation in the learned item space.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from artrec.errors import DataError
from artrec.features.extractor import import_torch
from artrec.recommend.base import TrainData
from artrec.recommend.neural import (
    TRAINING_PARAMS,
    NeuralRecommender,
    check_hard_negatives,
    load_module_arrays,
    module_arrays,
    negative_sampler,
    user_histories,
)

#: Positive sampling strategies.
STRATEGIES: tuple[str, ...] = ("next", "hidden")
#: Losses.
LOSSES: tuple[str, ...] = ("bpr", "hinge")


def _mlp(torch: Any, dims: Sequence[int]) -> Any:
    nn = torch.nn
    layers: list[Any] = []
    for j, (a, b) in enumerate(itertools.pairwise(dims)):
        layers.append(nn.Linear(a, b))
        if j < len(dims) - 2:
            layers.append(nn.SELU())
    return nn.Sequential(*layers)


#: SELU's constants (Klambauer et al. 2017), the values of ``torch.nn.SELU``.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

#: A :func:`_mlp` as arrays: ``(weight.T, bias)`` (float64) per linear layer, ``None`` per SELU.
MLPLayers = list[tuple[np.ndarray, np.ndarray] | None]


def _mlp_layers(torch: Any, mlp: Any) -> MLPLayers:
    """The layers of a :func:`_mlp` as float64 arrays, for :func:`_mlp_forward`."""
    layers: MLPLayers = []
    for layer in mlp:
        if isinstance(layer, torch.nn.Linear):
            weight = layer.weight.detach().cpu().double().numpy()
            bias = layer.bias.detach().cpu().double().numpy()
            layers.append((np.ascontiguousarray(weight.T), bias))
        elif isinstance(layer, torch.nn.SELU):
            layers.append(None)
        else:
            raise DataError(f"cannot score with a {type(layer).__name__} layer")
    return layers


def _mlp_forward(layers: MLPLayers, x: np.ndarray) -> np.ndarray:
    """The MLP of :func:`_mlp_layers` applied to the rows of ``x`` (float64)."""
    for layer in layers:
        if layer is None:
            x = _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))
        else:
            x = x @ layer[0] + layer[1]
    return x


def _network(
    torch: Any, d_in: int, item_dims: Sequence[int], user_dims: Sequence[int], skip: bool
) -> Any:
    """``item`` (input -> embedding) and ``user`` (pooled profile -> user vector) modules.

    With ``skip``, the item embedding is ``[w * x ; g(x)]`` (a learned per-dimension weight
    ``w``, initialised at 1, in front of the input) and the item MLP's last layer starts at 0.
    """
    nn = torch.nn

    class ItemTransform(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.mlp = _mlp(torch, [d_in, *item_dims])
            self.skip = nn.Parameter(torch.ones(d_in)) if skip else None
            if skip:
                nn.init.zeros_(self.mlp[-1].weight)
                nn.init.zeros_(self.mlp[-1].bias)

        def forward(self, x: Any) -> Any:
            out = self.mlp(x)
            return out if self.skip is None else torch.cat([x * self.skip, out], dim=-1)

    net = nn.Module()
    net.item = ItemTransform()
    d = item_dims[-1]
    net.user = _mlp(torch, [2 * d, *user_dims, d])
    net.d_skip = d_in if skip else 0
    return net


def _encode_users(torch: Any, user_mlp: Any, emb: Any, mask: Any, d_skip: int = 0) -> Any:
    """User vectors from padded profile item embeddings ``(B, L, d)`` and their mask ``(B, L)``:
    mean and max pooling over the real entries (zeros for an empty profile), then the MLP.
    The first ``d_skip`` columns (the skip path) are mean-pooled and passed on unchanged."""
    m = mask.unsqueeze(-1).to(emb.dtype)
    mean = (emb * m).sum(1) / m.sum(1).clamp(min=1.0)
    learned = emb[..., d_skip:]
    mx = learned.masked_fill(~mask.unsqueeze(-1), torch.finfo(emb.dtype).min).amax(1)
    mx = torch.where(mask.any(1, keepdim=True), mx, torch.zeros_like(mx))
    users = user_mlp(torch.cat([mean[:, d_skip:], mx], dim=1))
    return users if not d_skip else torch.cat([mean[:, :d_skip], users], dim=1)


class CuratorNetRecommender(NeuralRecommender):
    """CuratorNet (see the module docstring): scores any profile and any work from features.

    Parameters
    ----------
    item_dims
        Output sizes of the item transform's layers (the last is the embedding size).
    user_dims
        Hidden sizes of the profile encoder (its output layer has the embedding size).
    loss
        ``"bpr"`` or ``"hinge"``.
    margin
        Margin of the hinge loss.
    strategies
        Positive strategy -> weight in the mixture (see :data:`STRATEGIES`).
    hard_negatives
        ``None``, ``"artist"`` or ``"cluster"``.
    hard_fraction
        Share of negatives drawn hard.
    n_clusters
        k-means clusters for ``"cluster"`` negatives (``None``: ``sqrt(n_items / 2)``).
    max_profile
        Longest profile used in training (most recent items).
    instances_per_epoch
        Triples per epoch (``None``: one per training event).
    weight_decay
        Decoupled weight decay of all weights (AdamW).
    skip
        Add the similarity path (see "Starting from similarity" in the module docstring);
        ``False`` is the paper's architecture alone.
    inputs
        Scaling of the item vectors (:data:`~artrec.recommend.neural.SCALINGS`): ``"l2"``
        (unit length, cosine geometry, the default) or ``"zscore"``.
    epochs, batch_size, lr, seed, device, precision, threads, metadata
        See :class:`~artrec.recommend.neural.NeuralRecommender`.
    """

    name = "curatornet"
    kind = "curatornet"
    PARAMS = (
        "item_dims",
        "user_dims",
        "loss",
        "margin",
        "strategies",
        "hard_negatives",
        "hard_fraction",
        "n_clusters",
        "max_profile",
        "instances_per_epoch",
        "weight_decay",
        "skip",
        "inputs",
        *TRAINING_PARAMS,
    )

    def __init__(
        self,
        item_dims: Sequence[int] = (256, 128),
        user_dims: Sequence[int] = (256, 256),
        loss: str = "bpr",
        margin: float = 1.0,
        strategies: Mapping[str, float] | None = None,
        hard_negatives: str | None = None,
        hard_fraction: float = 0.3,
        n_clusters: int | None = None,
        max_profile: int = 64,
        instances_per_epoch: int | None = None,
        weight_decay: float = 1e-5,
        skip: bool = True,
        inputs: str = "l2",
        epochs: int = 30,
        batch_size: int = 256,
        lr: float = 1e-4,
        seed: int = 0,
        device: str = "auto",
        precision: str = "fp32",
        threads: int | None = 1,
        metadata: Sequence[str] = (),
    ) -> None:
        self.item_dims = tuple(item_dims)
        self.user_dims = tuple(user_dims)
        self.loss = loss
        self.margin = margin
        self.strategies = (
            dict(strategies) if strategies is not None else {"next": 0.5, "hidden": 0.5}
        )
        self.hard_negatives = hard_negatives
        self.hard_fraction = hard_fraction
        self.n_clusters = n_clusters
        self.max_profile = max_profile
        self.instances_per_epoch = instances_per_epoch
        self.weight_decay = weight_decay
        self.skip = skip
        self.inputs = inputs
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.precision = precision
        self.threads = threads
        self.metadata = tuple(metadata)

    # -- configuration ---------------------------------------------------------------------
    def _check_params(self) -> None:
        for label, dims in (("item_dims", self.item_dims), ("user_dims", self.user_dims)):
            if not dims or any(not isinstance(d, int) or d < 1 for d in dims):
                raise DataError(f"{label} must be positive layer sizes, got {list(dims)}")
        if self.loss not in LOSSES:
            raise DataError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise DataError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}")
        weights = np.asarray(list(self.strategies.values()), dtype=np.float64)
        if not len(weights) or (weights < 0).any() or weights.sum() <= 0:
            raise DataError("strategies need non-negative weights with a positive sum")
        check_hard_negatives(self.hard_negatives, self.hard_fraction)
        if self.max_profile < 1:
            raise DataError(f"max_profile must be >= 1, got {self.max_profile}")

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (JSON-ready)."""
        params = super().get_params()
        params["strategies"] = dict(self.strategies)
        return params

    # -- training hooks ----------------------------------------------------------------------
    def _build(self, torch: Any, data: TrainData, inputs: np.ndarray) -> Any:
        return _network(torch, inputs.shape[1], self.item_dims, self.user_dims, self.skip)

    def _prepare(self, data: TrainData, inputs: np.ndarray) -> None:
        histories = user_histories(data)
        self._sampler = negative_sampler(
            data, inputs, histories, self.hard_negatives, self.hard_fraction, self.n_clusters,
            self.seed,
        )  # fmt: skip
        lengths = np.array([len(h) for h in histories], dtype=np.int64)
        # histories as a padded matrix: row u holds user u's works in time order
        self._hist = np.full((len(histories), max(1, int(lengths.max(initial=1)))), -1, np.int64)
        for u, h in enumerate(histories):
            self._hist[u, : len(h)] = h
        self._lengths = lengths
        self._event_users = np.repeat(np.arange(len(lengths)), lengths)
        positions = [np.arange(n) for n in lengths]
        self._event_pos = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        eligible = lengths[self._event_users] >= 2
        self._event_users = self._event_users[eligible]
        self._event_pos = self._event_pos[eligible]
        if not len(self._event_users):
            raise DataError("CuratorNet needs users with two or more distinct training items")
        names = list(self.strategies)
        w = np.asarray([self.strategies[s] for s in names], dtype=np.float64)
        self._next_code = names.index("next") if "next" in names else -1
        self._strategy_p = w / w.sum()

    def _epoch_batches(
        self, data: TrainData, rng: np.random.Generator
    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        n_events = len(self._event_users)
        n = self.instances_per_epoch or n_events
        picks = rng.integers(n_events, size=n)
        kinds = rng.choice(len(self._strategy_p), size=n, p=self._strategy_p)
        for start in range(0, n, self.batch_size):
            sel = picks[start : start + self.batch_size]
            users = self._event_users[sel]
            t = self._event_pos[sel]
            lengths = self._lengths[users]
            width = int(lengths.max())
            j = np.arange(width)[None, :]
            nxt = (kinds[start : start + len(sel)] == self._next_code) & (t > 0)
            # next: the works before t; hidden: every work but t
            mask = np.where(
                nxt[:, None], j < t[:, None], (j < lengths[:, None]) & (j != t[:, None])
            )
            # keep the max_profile most recent works of each profile
            from_end = np.cumsum(mask[:, ::-1], axis=1)[:, ::-1]
            mask &= from_end <= self.max_profile
            rows = np.where(mask, self._hist[users, :width], -1)
            pos = self._hist[users, t]
            neg = self._sampler.draw(rng, users, pos)
            yield len(sel), {"profile": rows, "mask": mask, "pos": pos, "neg": neg}

    def _batch_loss(self, torch: Any, batch: dict[str, Any]) -> Any:
        prof, mask = batch["profile"], batch["mask"]
        pos, neg = batch["pos"], batch["neg"]
        # embed each distinct work of the batch once; gather with index_select (its backward
        # is a plain index_add, also under deterministic algorithms), padding -> a zero row
        uniq, inverse = torch.unique(torch.cat([prof.reshape(-1), pos, neg]), return_inverse=True)
        has_pad = bool((uniq[0] < 0).item())
        emb = self.net_.item(self.x_[uniq.clamp(min=0)])
        if has_pad:
            emb = torch.cat([emb.new_zeros((1, emb.shape[1])), emb[1:]])
        n_prof = prof.numel()
        prof_emb = emb.index_select(0, inverse[:n_prof]).view(*prof.shape, emb.shape[1])
        users = _encode_users(torch, self.net_.user, prof_emb, mask, self.net_.d_skip)
        e_pos = emb.index_select(0, inverse[n_prof : n_prof + len(pos)])
        e_neg = emb.index_select(0, inverse[n_prof + len(pos) :])
        diff = (users * e_pos).sum(1) - (users * e_neg).sum(1)
        if self.loss == "hinge":
            return torch.relu(self.margin - diff).mean()
        return -torch.nn.functional.logsigmoid(diff).mean()

    def _make_optimizer(self, torch: Any) -> Any:
        """AdamW: the weight decay is decoupled from the adaptive step, so it never turns
        into full-size steps once the ranking loss has no gradient left."""
        return torch.optim.AdamW(
            self.net_.parameters(), lr=self.lr, weight_decay=float(self.weight_decay)
        )

    def _refresh(self, torch: Any) -> None:
        """Item embeddings of the whole catalogue and float64 copies of the user MLP's weights."""
        with torch.no_grad():
            self._set_item_embeddings(self.net_.item(self.x_).double().cpu().numpy())
        self.user_layers_ = _mlp_layers(torch, self.net_.user)

    # -- scoring -----------------------------------------------------------------------------
    def user_vectors(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """The ``(len(profiles), d)`` user vectors of the profiles (float64).

        The same function as training's :func:`_encode_users`, on the cached item
        embeddings: mean and max of each profile's rows as segment reductions over the
        profiles' rows one after another (no padding), then the user MLP on the batch, as
        float64 NumPy products of its cached weights (:func:`_mlp_forward`: a few small
        products, which torch's thread pool only slows down on shared cores).
        """
        plist = self._check_profiles(profiles)
        d_skip = self.net_.d_skip
        mean, mx = _pool_profiles(self.item_emb_, plist, d_skip)
        users = _mlp_forward(self.user_layers_, np.concatenate([mean[:, d_skip:], mx], axis=1))
        return users if not d_skip else np.concatenate([mean[:, :d_skip], users], axis=1)

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """``u(P) . g(x_i)`` for every catalogue row and profile: ``(len(profiles), n_items)``."""
        return np.asarray(self._writable_scores(profiles), dtype=np.float64)

    def _writable_scores(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """The scores as the float32 product itself (:meth:`rank` ranks it unconverted)."""
        if not len(profiles):
            self._check_fitted()
            return np.zeros((0, self.data_.n_items), dtype=np.float32)
        users = self.user_vectors(profiles).astype(np.float32)
        return np.matmul(users, self._item_emb_t32)

    def _set_item_embeddings(self, emb: np.ndarray) -> None:
        """The item embeddings (float64, for user vectors and explanations) and their float32
        transpose, which the final product of :meth:`score` uses (as VisRank scores in
        float32: half the memory traffic of the catalogue-wide product)."""
        self.item_emb_ = np.asarray(emb, dtype=np.float64)
        self._item_emb_t32 = np.ascontiguousarray(self.item_emb_.T, dtype=np.float32)

    def explain(self, profiles: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """The profile row with the largest item-space dot product with each recommended row."""
        return self._explain_by(self.item_emb_, profiles, rows)

    # -- state ---------------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Parameters, input vocabularies and dimensions; weights and item embeddings."""
        params, arrays = self._state_base()
        arrays.update(module_arrays(self.net_, "net"))
        arrays["item_embeddings"] = self.item_emb_.astype(np.float32)
        return params, arrays

    @classmethod
    def from_state(
        cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> CuratorNetRecommender:
        """A fitted model rebuilt from :meth:`get_state` (scores the saved catalogue)."""
        torch = import_torch()
        rec: CuratorNetRecommender = cls._from_state_base(params, arrays)
        rec.net_ = _network(torch, int(params["d_in"]), rec.item_dims, rec.user_dims, rec.skip)
        load_module_arrays(rec.net_, arrays, "net")
        rec.net_.eval()
        rec._set_item_embeddings(np.asarray(arrays["item_embeddings"], dtype=np.float64))
        rec.user_layers_ = _mlp_layers(torch, rec.net_.user)
        rec.data_ = TrainData(len(rec.item_emb_))
        return rec


def _pool_profiles(
    emb: np.ndarray, profiles: Sequence[np.ndarray], d_skip: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of every column and max of the columns after ``d_skip`` of each profile's rows
    of ``emb``: ``(B, d)`` and ``(B, d - d_skip)``, zeros for an empty profile (as
    :func:`_encode_users` pools), by segment reductions over the gathered rows."""
    n, d = len(profiles), emb.shape[1]
    mean = np.zeros((n, d), dtype=emb.dtype)
    mx = np.zeros((n, d - d_skip), dtype=emb.dtype)
    sizes = np.fromiter((len(p) for p in profiles), dtype=np.int64, count=n)
    filled = np.flatnonzero(sizes)
    if len(filled):
        starts = np.concatenate([[0], np.cumsum(sizes[filled])[:-1]])
        gathered = emb[np.concatenate(list(profiles))]  # empty profiles add no rows
        mean[filled] = np.add.reduceat(gathered, starts, axis=0) / sizes[filled, None]
        mx[filled] = np.maximum.reduceat(gathered[:, d_skip:], starts, axis=0)
    return mean, mx
