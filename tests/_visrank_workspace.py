"""A small real workspace for the engine and CLI tests (brief B).

Real public-art records and thumbnails ($ARTREC_DATA_HOME/public-art) go into a real SQLite
workspace; the embedding is the thumbnails' pixels, downsampled to 8x8 RGB and reduced with
PCA to 16 dimensions -- cheap, but a genuine visual embedding of the real images. The users
and their purchases are a SIMULATION, written by hand below.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artrec.data.catalog import Catalog, Interactions
from artrec.data.simulate import mark_simulated
from artrec.data.workspace import Workspace
from artrec.vectors import FeatureSet

N_ITEMS = 120


def public_art_dir() -> Path:
    """The public-art folder, or skip the test when $ARTREC_DATA_HOME is not set."""
    home = os.environ.get("ARTREC_DATA_HOME")
    if not home or not (Path(home) / "public-art" / "data.json").is_file():
        pytest.skip("ARTREC_DATA_HOME does not point at the datasets folder")
    return Path(home) / "public-art"


def pixel_embedding(image_paths: list[str], n_components: int = 16) -> np.ndarray:
    """8x8 RGB thumbnails, centred and projected on their top principal components."""
    rows = []
    for path in image_paths:
        with Image.open(path) as im:
            small = im.convert("RGB").resize((8, 8), Image.Resampling.BILINEAR)
        rows.append(np.asarray(small, dtype=np.float64).reshape(-1) / 255.0)
    x = np.stack(rows)
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return (x @ vt[:n_components].T).astype(np.float32)


def build_workspace(root: Path, n_items: int = N_ITEMS) -> Workspace:
    """A workspace with ``n_items`` real artworks, a ``pixels`` embedding and simulated users."""
    from artrec.data.public_art import load_public_art

    folder = public_art_dir()
    full, _ = load_public_art(folder)
    catalog, _ = load_public_art(folder, item_ids=full.item_ids[:n_items].tolist())
    ws = Workspace.create(root)
    ws.upsert_items(Catalog(catalog.item_ids, catalog.metadata, catalog.image))
    mark_simulated(ws, True)
    vectors = pixel_embedding(catalog.image.tolist())  # type: ignore[union-attr]
    FeatureSet("pixels", catalog.item_ids, vectors, {"what": "8x8 RGB pixels, PCA 16"}).save(
        ws.embeddings_dir
    )
    ids = catalog.item_ids
    # SIMULATED users: u1 bought 3 works, u2 bought 1 and liked 1, u3 only viewed (no profile).
    users = ["u1", "u1", "u1", "u2", "u2", "u3"]
    items = [ids[0], ids[5], ids[9], ids[20], ids[21], ids[30]]
    kinds = ["purchase", "purchase", "purchase", "purchase", "like", "view"]
    ts = [1.0, 2.0, 3.0, 1.0, 2.0, 1.0]
    ws.add_interactions(Interactions(users, items, np.array(ts), np.array(kinds, dtype=object)))
    return ws
