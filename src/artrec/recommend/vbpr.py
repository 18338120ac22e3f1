r"""VBPR: visual Bayesian personalised ranking (He & McAuley, AAAI 2016).

The preference of user :math:`u` for item :math:`i` with input vector :math:`f_i` (an
embedding or feature set, optionally with one-hot metadata, see
:class:`~artrec.recommend.neural.ItemInputs`) is

.. math:: \hat x_{ui} = \beta_i + \gamma_u \cdot \gamma_i
          + \theta_u \cdot (E^\top f_i) + \beta'^\top f_i

with latent factors :math:`\gamma_u, \gamma_i \in R^K`, visual factors
:math:`\theta_u \in R^{K'}`, the learned projection :math:`E \in R^{d \times K'}`, item biases
:math:`\beta_i` and the visual bias :math:`\beta'` (global and user biases cancel in a
ranking). Training minimises the BPR loss over (user, bought item, other item) triples,
:math:`-\log \sigma(\hat x_{ui} - \hat x_{uj})`, plus
:math:`\lambda (\lVert\gamma_u\rVert^2 + \lVert\theta_u\rVert^2 + \lVert\gamma_i\rVert^2 +
\lVert\gamma_j\rVert^2 + \beta_i^2 + \beta_j^2) + \lambda_E (\lVert E\rVert^2 + \lVert\beta'\rVert^2)`
on the batch. Negatives are uniform, or partly hard (same artist or visual cluster), as in
:mod:`artrec.recommend.curatornet`.

People and works the model has not seen
----------------------------------------
* **New works** (and works nobody bought in training) are scored through the visual part
  alone: their :math:`\gamma_i` and :math:`\beta_i` are 0. Works with no training event get
  only negative gradient in BPR, so their trained factors are set to 0 after training too.
* **Profiles** are always *folded in*: scoring gets a profile (rows), not a user id, so the
  user's :math:`(\gamma_u, \theta_u)` are fitted to it with the item side frozen, by
  ``fold_in_steps`` Adam steps on the same regularised BPR loss, every profile item against
  ``fold_in_negatives`` fresh uniform negatives per step. The negatives come from a stream
  seeded by the model's seed and the profile's rows, so a profile always gets the same
  vector, whatever batch it is scored in. An empty profile keeps zero factors: its scores
  are the item and visual biases.

Explanations
------------
The profile work that contributed most to a recommendation is the profile item whose joint
item vector :math:`q_p = [\gamma_p; E^\top f_p]` has the largest dot product with the
recommended item's :math:`q_i` (first in profile order on ties).
"""

from __future__ import annotations

import math
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
    profile_seed,
    user_histories,
)

#: ``torch.optim.Adam``'s defaults, which the fold-in's update uses.
ADAM_BETAS: tuple[float, float] = (0.9, 0.999)
ADAM_EPS = 1e-8


def _network(torch: Any, n_users: int, n_items: int, d_in: int, k: int, k_visual: int) -> Any:
    nn = torch.nn
    net = nn.Module()
    net.gamma_user = nn.Embedding(n_users, k)
    net.theta_user = nn.Embedding(n_users, k_visual)
    net.gamma_item = nn.Embedding(n_items, k)
    net.beta_item = nn.Embedding(n_items, 1)
    net.E = nn.Linear(d_in, k_visual, bias=False)
    net.beta_visual = nn.Linear(d_in, 1, bias=False)
    for emb in (net.gamma_user, net.theta_user, net.gamma_item):
        nn.init.normal_(emb.weight, std=0.01)
    nn.init.zeros_(net.beta_item.weight)
    nn.init.normal_(net.E.weight, std=0.01)
    nn.init.zeros_(net.beta_visual.weight)
    return net


class VBPRRecommender(NeuralRecommender):
    """VBPR (see the module docstring), with profiles folded in at scoring time.

    Parameters
    ----------
    k
        Size of the latent (non-visual) factors.
    k_visual
        Size of the visual factors (columns of ``E``).
    reg
        L2 weight on the factors and item biases of each batch.
    reg_visual
        L2 weight on ``E`` and the visual bias.
    hard_negatives, hard_fraction, n_clusters
        Hard negatives as in :class:`~artrec.recommend.curatornet.CuratorNetRecommender`.
    instances_per_epoch
        Triples per epoch (``None``: one per training event).
    fold_in_steps, fold_in_lr, fold_in_negatives
        The fold-in of a profile: Adam steps, learning rate and negatives per step.
    epochs, batch_size, lr, seed, device, precision, threads, metadata
        See :class:`~artrec.recommend.neural.NeuralRecommender`.
    """

    name = "vbpr"
    kind = "vbpr"
    PARAMS = (
        "k",
        "k_visual",
        "reg",
        "reg_visual",
        "hard_negatives",
        "hard_fraction",
        "n_clusters",
        "instances_per_epoch",
        "fold_in_steps",
        "fold_in_lr",
        "fold_in_negatives",
        *TRAINING_PARAMS,
    )

    def __init__(
        self,
        k: int = 32,
        k_visual: int = 32,
        reg: float = 1e-4,
        reg_visual: float = 1e-5,
        hard_negatives: str | None = None,
        hard_fraction: float = 0.3,
        n_clusters: int | None = None,
        instances_per_epoch: int | None = None,
        fold_in_steps: int = 40,
        fold_in_lr: float = 0.05,
        fold_in_negatives: int = 32,
        epochs: int = 30,
        batch_size: int = 256,
        lr: float = 5e-3,
        seed: int = 0,
        device: str = "auto",
        precision: str = "fp32",
        threads: int | None = 1,
        metadata: Sequence[str] = (),
    ) -> None:
        self.k = k
        self.k_visual = k_visual
        self.reg = reg
        self.reg_visual = reg_visual
        self.hard_negatives = hard_negatives
        self.hard_fraction = hard_fraction
        self.n_clusters = n_clusters
        self.instances_per_epoch = instances_per_epoch
        self.fold_in_steps = fold_in_steps
        self.fold_in_lr = fold_in_lr
        self.fold_in_negatives = fold_in_negatives
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.precision = precision
        self.threads = threads
        self.metadata = tuple(metadata)

    def _check_params(self) -> None:
        for name in ("k", "k_visual", "fold_in_negatives"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DataError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.fold_in_steps, int) or self.fold_in_steps < 0:
            raise DataError(f"fold_in_steps must be >= 0, got {self.fold_in_steps!r}")
        if self.reg < 0 or self.reg_visual < 0 or self.fold_in_lr <= 0:
            raise DataError("reg and reg_visual must be >= 0 and fold_in_lr > 0")
        check_hard_negatives(self.hard_negatives, self.hard_fraction)

    # -- training hooks ----------------------------------------------------------------------
    def _build(self, torch: Any, data: TrainData, inputs: np.ndarray) -> Any:
        return _network(torch, data.n_users, data.n_items, inputs.shape[1], self.k, self.k_visual)

    def _prepare(self, data: TrainData, inputs: np.ndarray) -> None:
        histories = user_histories(data)
        lengths = np.array([len(h) for h in histories])
        self._event_users = np.repeat(np.arange(len(lengths)), lengths)
        self._event_items = np.concatenate(histories) if histories else np.zeros(0, np.int64)
        self._sampler = negative_sampler(
            data, inputs, histories, self.hard_negatives, self.hard_fraction, self.n_clusters,
            self.seed,
        )  # fmt: skip
        self.trained_items_ = np.zeros(data.n_items, dtype=bool)
        self.trained_items_[self._event_items] = True

    def _epoch_batches(
        self, data: TrainData, rng: np.random.Generator
    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        n_events = len(self._event_users)
        n = self.instances_per_epoch or n_events
        picks = rng.integers(n_events, size=n)
        for start in range(0, n, self.batch_size):
            sel = picks[start : start + self.batch_size]
            users = self._event_users[sel]
            pos = self._event_items[sel]
            neg = self._sampler.draw(rng, users, pos)
            yield len(sel), {"user": users, "pos": pos, "neg": neg}

    def _item_side(self, torch: Any, rows: Any) -> tuple[Any, Any]:
        """Joint item vectors ``[gamma_i; E^T f_i]`` and biases ``beta_i + beta'^T f_i``."""
        net = self.net_
        x = self.x_[rows]
        q = torch.cat([net.gamma_item(rows), net.E(x)], dim=1)
        b = net.beta_item(rows).squeeze(1) + net.beta_visual(x).squeeze(1)
        return q, b

    def _batch_loss(self, torch: Any, batch: dict[str, Any]) -> Any:
        net = self.net_
        u, i, j = batch["user"], batch["pos"], batch["neg"]
        p = torch.cat([net.gamma_user(u), net.theta_user(u)], dim=1)
        qi, bi = self._item_side(torch, i)
        qj, bj = self._item_side(torch, j)
        diff = (p * (qi - qj)).sum(1) + bi - bj
        loss = -torch.nn.functional.logsigmoid(diff).mean()
        reg = (
            p.pow(2).sum(1)
            + net.gamma_item(i).pow(2).sum(1)
            + net.gamma_item(j).pow(2).sum(1)
            + net.beta_item(i).squeeze(1).pow(2)
            + net.beta_item(j).squeeze(1).pow(2)
        ).mean()
        reg_visual = net.E.weight.pow(2).sum() + net.beta_visual.weight.pow(2).sum()
        return loss + self.reg * reg + self.reg_visual * reg_visual

    def _refresh(self, torch: Any) -> None:
        """Joint item vectors and biases of the catalogue (float64, on the CPU)."""
        net = self.net_
        with torch.no_grad():
            rows = torch.arange(len(self.x_), device=self.x_.device)
            n_fitted = net.gamma_item.num_embeddings
            known = rows < n_fitted
            gamma = torch.zeros((len(rows), self.k), device=self.x_.device)
            beta = torch.zeros(len(rows), device=self.x_.device)
            gamma[known] = net.gamma_item(rows[known])
            beta[known] = net.beta_item(rows[known]).squeeze(1)
            visual = net.E(self.x_)
            vbias = net.beta_visual(self.x_).squeeze(1)
        trained = np.zeros(len(rows), dtype=bool)
        trained[: len(self.trained_items_)] = self.trained_items_
        gamma_np = gamma.double().cpu().numpy()
        beta_np = beta.double().cpu().numpy()
        gamma_np[~trained] = 0.0
        beta_np[~trained] = 0.0
        self.item_vectors_ = np.ascontiguousarray(
            np.concatenate([gamma_np, visual.double().cpu().numpy()], axis=1)
        )
        self.item_bias_ = beta_np + vbias.double().cpu().numpy()

    # -- scoring -----------------------------------------------------------------------------
    def user_vectors(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """Folded-in ``[gamma_u; theta_u]`` of every profile: ``(len(profiles), k + k_visual)``."""
        return self._fold_in(self._check_profiles(profiles))

    def _fold_in(self, plist: list[np.ndarray]) -> np.ndarray:
        """The fold-in of the module docstring for a batch of profiles, in float64 NumPy.

        Each step is one gradient of the regularised BPR loss, written out (for a profile
        item ``l`` and a negative ``n`` with ``d = s_l - s_n``, ``d log sigma(d) / dd =
        sigma(-d)``), and torch's Adam update at its defaults. Per step the work is a few
        small products over the profiles' items (one after another, no padding in the
        pair terms) and their negatives; autograd's graph, torch's per-operation dispatch
        and its thread pool cost more than that arithmetic. The tests check the vectors
        against autograd and ``torch.optim.Adam`` on the same loss.
        """
        n_items, dim = self.item_vectors_.shape
        out = np.zeros((len(plist), dim))
        live = [j for j, p in enumerate(plist) if len(p)]
        if not live or self.fold_in_steps == 0:
            return out
        profs = [plist[j] for j in live]
        n = len(profs)
        sizes = np.array([len(p) for p in profs], dtype=np.int64)
        owner = np.repeat(np.arange(n), sizes)  # profile of each flat profile item
        flat = np.concatenate(profs)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        pmask = np.arange(int(sizes.max()))[None, :] < sizes[:, None]
        pos = np.zeros(pmask.shape, dtype=np.int64)
        pos[pmask] = flat
        negs = np.empty((n, self.fold_in_steps, self.fold_in_negatives), dtype=np.int64)
        for b, prof in enumerate(profs):
            rng = np.random.default_rng(profile_seed(self.seed, prof))
            negs[b] = rng.integers(n_items, size=negs.shape[1:])
        consumed = np.zeros((n, n_items), dtype=bool)
        consumed[owner, flat] = True
        # a negative the profile holds weighs 0 in the loss
        nweight = (~consumed[np.arange(n)[:, None, None], negs]).astype(np.float64)
        pairs = np.maximum(sizes[:, None] * nweight.sum(axis=2), 1.0)  # (n, steps)
        q, bias = self.item_vectors_, self.item_bias_
        q_pos, b_pos = q[pos], bias[flat]
        x = np.zeros((n, dim))
        m1, m2 = np.zeros_like(x), np.zeros_like(x)
        (beta1, beta2), eps, lr = ADAM_BETAS, ADAM_EPS, float(self.fold_in_lr)
        a = np.zeros(pmask.shape)
        for step in range(self.fold_in_steps):
            neg = negs[:, step]
            q_neg = np.take(q, neg, axis=0)  # (n, N, dim)
            s_pos = np.matmul(q_pos, x[:, :, None])[:, :, 0][pmask] + b_pos  # (items,)
            s_neg = np.matmul(q_neg, x[:, :, None])[:, :, 0] + bias[neg]  # (n, N)
            with np.errstate(over="ignore"):  # exp -> inf gives sigma = 0, as it should
                g = nweight[owner, step] / (1.0 + np.exp(s_pos[:, None] - s_neg[owner]))
            a[pmask] = g.sum(axis=1)
            c = np.add.reduceat(g, starts, axis=0)
            grad = np.matmul(c[:, None, :], q_neg)[:, 0] - np.matmul(a[:, None, :], q_pos)[:, 0]
            grad /= pairs[:, step, None]
            grad += 2.0 * self.reg * x
            # torch.optim.Adam's update (no weight decay, no amsgrad)
            m1 += (1.0 - beta1) * (grad - m1)
            m2 *= beta2
            m2 += (1.0 - beta2) * grad * grad
            denom = np.sqrt(m2) / math.sqrt(1.0 - beta2 ** (step + 1)) + eps
            x -= (lr / (1.0 - beta1 ** (step + 1))) * m1 / denom
        out[live] = x
        return out

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """``x_u . q_i + b_i`` with folded-in user factors: ``(len(profiles), n_items)``."""
        if not len(profiles):
            self._check_fitted()
            return np.zeros((0, self.data_.n_items))
        scores = self.user_vectors(profiles) @ self.item_vectors_.T
        scores += self.item_bias_
        return scores

    def _writable_scores(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """:meth:`score` returns a new float64 array every call: no copy needed."""
        return self.score(profiles)

    def explain(self, profiles: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """The profile row whose joint item vector has the largest dot product with each row's."""
        return self._explain_by(self.item_vectors_, profiles, rows)

    # -- state ---------------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Parameters and input vocabularies; item-side weights and the scoring cache.

        User factors of the training users are not saved: scoring always folds in.
        """
        params, arrays = self._state_base()
        params["n_items_fitted"] = int(self.net_.gamma_item.num_embeddings)
        net = self.net_
        arrays.update(
            {
                "gamma_item": net.gamma_item.weight.detach().cpu().float().numpy(),
                "beta_item": net.beta_item.weight.detach().cpu().float().numpy(),
                "E": net.E.weight.detach().cpu().float().numpy(),
                "beta_visual": net.beta_visual.weight.detach().cpu().float().numpy(),
                "trained_items": self.trained_items_,
                "item_vectors": self.item_vectors_,
                "item_bias": self.item_bias_,
            }
        )
        return params, arrays

    @classmethod
    def from_state(
        cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> VBPRRecommender:
        """A fitted model rebuilt from :meth:`get_state` (scores the saved catalogue)."""
        torch = import_torch()
        rec: VBPRRecommender = cls._from_state_base(params, arrays)
        n_fitted = int(params["n_items_fitted"])
        rec.net_ = _network(torch, 1, n_fitted, int(params["d_in"]), rec.k, rec.k_visual)
        weights = module_arrays(rec.net_, "net")  # user factors are not saved: keep the dummies
        for key in ("gamma_item", "beta_item", "E", "beta_visual"):
            weights[f"net.{key}.weight"] = arrays[key]
        load_module_arrays(rec.net_, weights, "net")
        rec.net_.eval()
        rec.trained_items_ = np.asarray(arrays["trained_items"], dtype=bool)
        rec.item_vectors_ = np.asarray(arrays["item_vectors"], dtype=np.float64)
        rec.item_bias_ = np.asarray(arrays["item_bias"], dtype=np.float64)
        rec.data_ = TrainData(len(rec.item_bias_))
        return rec

    def _on_new_items(self, data: TrainData) -> None:
        n_fitted = self.net_.gamma_item.num_embeddings
        if data.n_items < n_fitted:
            raise DataError(
                f"the new catalogue has {data.n_items} items; VBPR was fitted on {n_fitted} "
                "and needs them first, in the same order"
            )
