"""Simulated seed data: a notebook-format ``assets/`` folder generated from a seed.

Everything written here is **simulated**. No real artworks, features or purchases are
involved; the folder also carries a ``SIMULATED.txt`` marker, which the seed loader turns
into a warning so reports can label the data as simulated.

The data has the structure of the real thing so that algorithms behave realistically:

* artworks belong to latent visual *clusters* of uneven size; each artwork's two feature
  vectors (``resnet50``- and ``vgg19``-like, 2048 and 4096 columns by default) are
  non-negative, sparse "ReLU-like" float32 activations of one shared low-rank latent
  vector, so similar artworks really are close under either feature set, and the two
  sets are correlated as real CNN layers are;
* a small fraction of feature columns is dead (always 0), as in real CNN activations,
  which exercises the z-score's "std 0 counts as 1" rule;
* artwork ids are random unique ints (not 0..n-1), as in the notebook;
* each user favours one to three clusters and buys mostly (80%) from them; the first
  purchases form ``past_transactions``, the rest ``ground_truth``.

Generation is chunked and writes the matrices through memory maps, so 13,297 x
(2048 + 4096) items take a few seconds and no more memory than one chunk.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artrec.data.seed import (
    FEATURE_FILES,
    IDS_FILE,
    SIMULATED_MARKER,
    TEST_FILE,
    TRAIN_FILE,
    URLS_FILE,
)

_CHUNK_ROWS = 2048
_LATENT_RANK = 96
#: Latent dimension j is scaled by (1 + j) ** -_SPECTRUM_DECAY: a power-law spectrum, as in
#: real CNN features, rather than a flat one.
_SPECTRUM_DECAY = 0.5
_FAVOURITE_SHARE = 0.8


@dataclass(frozen=True)
class SyntheticSeed:
    """What :func:`write_seed_assets` generated (handy for tests that need the truth).

    Attributes
    ----------
    directory
        The assets folder written.
    item_ids
        Artwork ids in row order (int64).
    clusters
        Latent cluster of each artwork (row order).
    train, test
        User index -> purchased artwork ids, as written to the two pickles.
    missing_item_ids
        The ids added to purchase histories that are not in the catalogue.
    """

    directory: Path
    item_ids: np.ndarray
    clusters: np.ndarray
    train: dict[int, list[int]]
    test: dict[int, list[int]]
    missing_item_ids: list[int]


def write_seed_assets(
    directory: str | Path,
    n_items: int,
    n_users: int,
    *,
    dims: tuple[int, int] = (2048, 4096),
    purchases: tuple[int, int] = (1, 20),
    test_purchases: tuple[int, int] = (1, 3),
    users_as: str = "dict",
    seed: int = 0,
    missing_ids: int = 0,
    missing_urls: int = 0,
    n_clusters: int | None = None,
    dead_fraction: float = 0.01,
) -> SyntheticSeed:
    """Write a simulated notebook-format ``assets/`` folder.

    Parameters
    ----------
    directory
        Folder to write (created if needed); existing files of the same names are replaced.
    n_items, n_users
        Number of artworks and of users.
    dims
        Columns of ``resnet50_feature_matrix.npy`` and ``vgg19_feature_matrix.npy``.
    purchases
        Inclusive range of each user's number of past (train) purchases.
    test_purchases
        Inclusive range of each user's number of held-out (ground-truth) purchases.
    users_as
        ``"dict"`` ({user: [ids]}) or ``"list"`` (position = user) in the pickles.
    seed
        Random seed; the same arguments always give the same files.
    missing_ids
        Number of distinct artwork ids, absent from ``index2artworkId.json``, to add to
        random users' past purchases (the loader must report them).
    missing_urls
        Number of artworks left out of ``artworkImageUrlsCache.json``.
    n_clusters
        Number of latent visual clusters (default about ``sqrt(n_items) / 2``).
    dead_fraction
        Share of feature columns that are always 0.

    Returns
    -------
    SyntheticSeed
    """
    if n_items < 1 or n_users < 0:
        raise ValueError(f"need n_items >= 1 and n_users >= 0, got {n_items}, {n_users}")
    if len(dims) != len(FEATURE_FILES) or min(dims) < 1:
        raise ValueError(f"dims must be two positive ints, got {dims!r}")
    if users_as not in ("dict", "list"):
        raise ValueError(f"users_as must be 'dict' or 'list', got {users_as!r}")
    lo, hi = purchases
    tlo, thi = test_purchases
    if not (0 <= lo <= hi and 0 <= tlo <= thi):
        raise ValueError(f"bad purchase ranges {purchases} / {test_purchases}")
    if hi + thi > n_items:
        raise ValueError(f"users cannot buy {hi + thi} distinct artworks out of {n_items}")
    if not 0 <= missing_urls <= n_items:
        raise ValueError(f"missing_urls must be in 0..{n_items}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    k = n_clusters or max(2, round(float(np.sqrt(n_items)) / 2))
    k = min(k, n_items)
    item_ids = rng.choice(9_900_000, size=n_items, replace=False).astype(np.int64) + 100_000
    weights = rng.dirichlet(np.full(k, 2.0))
    clusters = rng.choice(k, size=n_items, p=weights)
    centres = rng.normal(0.0, 1.6, size=(k, _LATENT_RANK)).astype(np.float32)
    latent = centres[clusters] + rng.normal(0.0, 0.6, size=(n_items, _LATENT_RANK)).astype(
        np.float32
    )
    latent *= (1.0 + np.arange(_LATENT_RANK, dtype=np.float32)) ** -_SPECTRUM_DECAY
    latent *= np.float32(np.sqrt(_LATENT_RANK / 16.0))

    for (_name, filename), dim in zip(FEATURE_FILES.items(), dims, strict=True):
        _write_features(directory / filename, latent, dim, dead_fraction, rng)

    _write_json(directory / IDS_FILE, item_ids.tolist())
    dropped = set(rng.choice(n_items, size=missing_urls, replace=False).tolist())
    urls = {
        str(i): {
            "medium": f"https://images.example.invalid/artworks/{i}/medium.jpg",
            "small": f"https://images.example.invalid/artworks/{i}/small.jpg",
        }
        for row, i in enumerate(item_ids.tolist())
        if row not in dropped
    }
    _write_json(directory / URLS_FILE, urls)

    train, test = _simulate_users(item_ids, clusters, k, n_users, purchases, test_purchases, rng)
    missing: list[int] = []
    if missing_ids and n_users:
        missing = (rng.choice(1_000_000, size=missing_ids, replace=False) + 20_000_000).tolist()
        for mid in missing:
            train[int(rng.integers(n_users))].append(int(mid))
    _write_pickle(directory / TRAIN_FILE, train, users_as)
    _write_pickle(directory / TEST_FILE, test, users_as)
    (directory / SIMULATED_MARKER).write_text(
        "Simulated data written by artrec.data.synthetic.write_seed_assets "
        f"(n_items={n_items}, n_users={n_users}, dims={tuple(dims)}, seed={seed}).\n"
        "No real artworks, features or purchases; label any result on it as simulated.\n",
        encoding="utf-8",
    )
    return SyntheticSeed(directory, item_ids, clusters, train, test, missing)


def _write_features(
    path: Path, latent: np.ndarray, dim: int, dead_fraction: float, rng: np.random.Generator
) -> None:
    n, rank = latent.shape
    loading = (rng.standard_normal((rank, dim), dtype=np.float32) / np.sqrt(rank)).astype(
        np.float32
    )
    bias = rng.normal(-0.6, 0.5, size=dim).astype(np.float32)
    n_dead = round(dead_fraction * dim)
    if n_dead:
        bias[rng.choice(dim, size=n_dead, replace=False)] = -1e4  # never fires: a dead unit
    scale = rng.lognormal(0.0, 0.5, size=dim).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for start in range(0, n, _CHUNK_ROWS):
        stop = min(n, start + _CHUNK_ROWS)
        pre = latent[start:stop] @ loading
        pre += bias
        pre += 0.4 * rng.standard_normal(pre.shape, dtype=np.float32)
        np.maximum(pre, 0.0, out=pre)
        pre *= scale
        out[start:stop] = pre
    out.flush()
    del out


def _simulate_users(
    item_ids: np.ndarray,
    clusters: np.ndarray,
    k: int,
    n_users: int,
    purchases: tuple[int, int],
    test_purchases: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    n_items = len(item_ids)
    members = [np.flatnonzero(clusters == c) for c in range(k)]
    sizes = np.array([len(m) for m in members], dtype=np.float64)
    cluster_p = sizes / sizes.sum()
    train: dict[int, list[int]] = {}
    test: dict[int, list[int]] = {}
    for user in range(n_users):
        n_train = int(rng.integers(purchases[0], purchases[1] + 1))
        n_test = int(rng.integers(test_purchases[0], test_purchases[1] + 1))
        total = n_train + n_test
        n_fav = int(rng.integers(1, min(3, k) + 1))
        fav = rng.choice(k, size=n_fav, replace=False, p=cluster_p)
        pool = np.concatenate([members[c] for c in fav])
        take = min(len(pool), int(rng.binomial(total, _FAVOURITE_SHARE)))
        chosen = rng.choice(pool, size=take, replace=False).tolist()
        seen = set(chosen)
        while len(chosen) < total:
            row = int(rng.integers(n_items))
            if row not in seen:
                seen.add(row)
                chosen.append(row)
        order = rng.permutation(total)
        rows = [chosen[i] for i in order.tolist()]
        train[user] = [int(item_ids[r]) for r in rows[:n_train]]
        test[user] = [int(item_ids[r]) for r in rows[n_train:]]
    return train, test


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj), encoding="utf-8")


def _write_pickle(path: Path, users: dict[int, list[int]], users_as: str) -> None:
    obj: object = users if users_as == "dict" else [users[u] for u in range(len(users))]
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
