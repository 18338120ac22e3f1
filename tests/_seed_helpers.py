"""Small helpers for the seed, embedding and data CLI tests: hand-written assets folders."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

#: The tiny hand-written assets folder: four artworks with non-sequential int ids.
TINY_IDS = [501, 17, 9003, 42]
TINY_RESNET = np.array(
    [[0.0, 1.0, 2.0], [3.0, 0.5, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 4.0]], dtype=np.float32
)
TINY_VGG = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5], [2.0, 2.0]], dtype=np.float32)
TINY_URLS = {
    "501": {"medium": "https://img.example.invalid/501/m.jpg", "small": "s.jpg"},
    "17": {"medium": "https://img.example.invalid/17/m.jpg"},
    "42": {"large": "https://img.example.invalid/42/l.jpg"},  # no medium URL
    # 9003 has no entry at all
}
TINY_TRAIN = {0: [501, 17], 1: [9003], 2: [42, 501, 17]}
TINY_TEST = {0: [42], 1: [501, 77777], 2: [9003]}  # 77777 is not in the catalogue


def write_pickle(path: Path, obj: Any, protocol: int = 4) -> None:
    """Pickle ``obj`` to ``path``."""
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def as_users(users: dict[int, list[int]], users_as: str) -> Any:
    """The per-user dict as the notebook stored it: a dict, or a list indexed 0..n-1."""
    if users_as == "dict":
        return users
    return [users[u] for u in range(len(users))]


def write_tiny_assets(
    directory: Path,
    *,
    users_as: str = "dict",
    protocol: int = 4,
    resnet: np.ndarray | None = None,
    vgg: np.ndarray | None = None,
    ids: list[Any] | None = None,
    urls: dict[str, Any] | None = None,
    train: Any = None,
    test: Any = None,
) -> Path:
    """Write a hand-made notebook-format assets folder; any part can be overridden."""
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "resnet50_feature_matrix.npy", TINY_RESNET if resnet is None else resnet)
    np.save(directory / "vgg19_feature_matrix.npy", TINY_VGG if vgg is None else vgg)
    (directory / "index2artworkId.json").write_text(json.dumps(TINY_IDS if ids is None else ids))
    (directory / "artworkImageUrlsCache.json").write_text(
        json.dumps(TINY_URLS if urls is None else urls)
    )
    write_pickle(
        directory / "past_transactions.pickle",
        as_users(TINY_TRAIN, users_as) if train is None else train,
        protocol,
    )
    write_pickle(
        directory / "ground_truth.pickle",
        as_users(TINY_TEST, users_as) if test is None else test,
        protocol,
    )
    return directory


class Evil:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, (f"touch {self.marker}",))


class Custom:
    """A harmless user-defined class: still refused (it needs a global)."""

    def __init__(self) -> None:
        self.value = 1
