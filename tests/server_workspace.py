"""A small real workspace for the server tests: public-art paintings and a pixel embedding.

About 270 records of the public-art dataset (every work by Claude Monet and Gustav Klimt,
20 by Edvard Munch, and the first 200 records) are loaded with their real thumbnails into a
fresh workspace by :func:`artrec.data.public_art.fetch_public_art`. The embedding
``pixels_pca`` is computed from the thumbnails: each image downsampled to 16x16 RGB,
centred, projected on its first 32 principal components and L2-normalised. It is cheap and
real (similar colours and layouts come out close), which is all the server needs.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

EMBEDDING = "pixels_pca"
ARTISTS = ("Claude Monet", "Gustav Klimt")


def dataset_dir() -> Path:
    """The public-art folder from ``$ARTREC_DATA_HOME``; skips the test when it is absent."""
    home = os.environ.get("ARTREC_DATA_HOME")
    if not home or not (Path(home) / "public-art" / "data.json").is_file():
        pytest.skip("ARTREC_DATA_HOME does not point at a folder with public-art/")
    return Path(home) / "public-art"


def subset_ids(records: list[dict[str, object]]) -> list[str]:
    """The ids the test workspace holds, in dataset order."""
    munch = [r["i"] for r in records if r.get("a") == "Edvard Munch"][:20]
    chosen = {str(r["i"]) for r in records if r.get("a") in ARTISTS}
    chosen.update(str(i) for i in munch)
    chosen.update(str(r["i"]) for r in records[:200])
    return [str(r["i"]) for r in records if r["i"] in chosen]


def pixel_embedding(paths: list[str], dim: int = 32) -> np.ndarray:
    """Downsampled-pixel PCA embedding of the images at ``paths`` (L2-normalised rows)."""
    from PIL import Image

    rows = []
    for path in paths:
        with Image.open(path) as img:
            small = img.convert("RGB").resize((16, 16), Image.Resampling.BILINEAR)
        rows.append(np.asarray(small, dtype=np.float64).ravel() / 255.0)
    x = np.stack(rows)
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    z = x @ vt[:dim].T
    z /= np.linalg.norm(z, axis=1, keepdims=True) + 1e-12
    return z.astype(np.float32)


def build_workspace(root: Path) -> Path:
    """Create the test workspace at ``root``; returns ``root``."""
    from artrec.data.public_art import fetch_public_art
    from artrec.vectors import FeatureSet

    directory = dataset_dir()
    records = json.loads((directory / "data.json").read_text())
    ids = subset_ids(records)
    ws = fetch_public_art(directory.parent, root, download_if_missing=False, item_ids=ids)
    catalog = ws.catalog()
    assert catalog.image is not None
    matrix = pixel_embedding(catalog.image.tolist())
    FeatureSet(
        EMBEDDING,
        catalog.item_ids,
        matrix,
        {"model": "16x16 RGB pixels + PCA(32) + L2", "note": "test embedding"},
    ).save(ws.embeddings_dir)
    ws.set_meta("default_embedding", EMBEDDING)
    return root


def record_scoring_places(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Wrap ``service.similar`` and ``service.recommend`` so that each call appends where it
    ran: ``"loop"`` on the server's event loop, ``"thread"`` in its thread pool."""
    from artrec.server import service

    places: list[str] = []

    def spy(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                places.append("loop")
            except RuntimeError:
                places.append("thread")
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(service, "similar", spy(service.similar))
    monkeypatch.setattr(service, "recommend", spy(service.recommend))
    return places
