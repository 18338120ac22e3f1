"""A workspace whose chosen model was saved by ``artrec tune``, for the serving tests.

300 works with random metadata and a random 6-dimensional embedding ``vis``; the collectors
and their events are SIMULATED (:func:`artrec.data.simulate.simulate_collectors`), the last
20% of each collector's purchases marked ``test``. The tuned hybrid blends content, item-kNN,
time-aware popularity and metadata affinity with a zero trial budget (the defaults), which is
cheap and real.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.simulate import SimulationParams, mark_simulated, simulate_collectors
from artrec.data.splits import last_fraction_mask
from artrec.data.workspace import Workspace
from artrec.evaluation.tuning import TuneBudget, tune_workspace
from artrec.vectors import FeatureSet

N = 300
SOURCES = ("content", "item-knn", "time-popular", "metadata")


def simulated_world(seed: int = 0) -> tuple[Catalog, Interactions, np.ndarray]:
    """The catalogue, its SIMULATED events and the random embedding of the workspace."""
    rng = np.random.default_rng(seed)
    meta = {
        "title": np.array([f"Painting {i}" for i in range(N)], dtype=object),
        "artist": np.array([f"artist{a}" for a in rng.integers(0, 40, N)], dtype=object),
        "century": np.array([str(c) for c in rng.integers(15, 21, N)], dtype=object),
        "medium": np.array([("oil", "tempera", "ink")[i] for i in rng.integers(0, 3, N)], object),
        "museum": np.array([f"m{m}" for m in rng.integers(0, 8, N)], dtype=object),
    }
    cat = Catalog(np.array([f"w{i:03d}" for i in range(N)], dtype=object), meta)
    vectors = rng.standard_normal((N, 6)).astype(np.float32)
    sim = simulate_collectors(
        cat, SimulationParams(n_users=45, seed=seed, likes_per_purchase=2.0), vectors=vectors
    )
    return cat, sim.interactions, vectors


def build_tuned_workspace(root: Path, *, tuned: bool = True, seed: int = 0) -> Workspace:
    """The workspace (module doc); without ``tuned`` it has no chosen model."""
    cat, events, vectors = simulated_world(seed)
    purchases = events.kinds == "purchase"
    test = np.zeros(len(events), dtype=bool)
    test[purchases] = last_fraction_mask(
        events.user_ids[purchases], events.item_ids[purchases], events.timestamps[purchases], 0.2
    )
    log = Interactions(
        events.user_ids,
        events.item_ids,
        events.timestamps,
        events.kinds,
        np.where(test, "test", "train").astype(object),
    )
    ws = Workspace.create(root)
    ws.upsert_items(cat)
    ws.add_interactions(log)
    mark_simulated(ws, True)
    FeatureSet("vis", cat.item_ids, vectors, {"what": "random, for tests"}).save(ws.embeddings_dir)
    if tuned:
        tune_workspace(ws, k=10, budget=TuneBudget(max_trials=0), sources=SOURCES)
    return ws
