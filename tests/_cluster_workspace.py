"""A small workspace with known structure, shared by the CLI evaluation and training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.vectors import FeatureSet


def build_cluster_workspace(root: Path, rng: np.random.Generator) -> Workspace:
    """40 works in two visual clusters (artist = cluster); 12 collectors, each buying four
    works of one cluster over time. The 2-d embedding ``vis`` is the default."""
    n = 40
    clusters = np.arange(n) % 2
    vectors = (np.eye(2)[clusters] * 4 + rng.normal(size=(n, 2))).astype(np.float32)
    cat = Catalog(
        np.asarray([f"w{r}" for r in range(n)], dtype=object),
        {
            "title": np.asarray([f"Work {r}" for r in range(n)], dtype=object),
            "artist": np.asarray([f"Painter {c}" for c in clusters.tolist()], dtype=object),
        },
    )
    users, items, times = [], [], []
    for u in range(12):
        pool = np.flatnonzero(clusters == u % 2)
        for t, row in enumerate(rng.choice(pool, size=4, replace=False).tolist()):
            users.append(f"user{u}")
            items.append(f"w{row}")
            times.append(1000.0 * u + t)
    ws = Workspace.create(root)
    ws.upsert_items(cat)
    ws.add_interactions(
        Interactions(
            np.asarray(users, dtype=object), np.asarray(items, dtype=object), np.asarray(times)
        )
    )
    FeatureSet("vis", cat.item_ids, vectors).save(ws.embeddings_dir)
    ws.set_meta("default_embedding", "vis")
    return ws
