"""Simulated collectors: seeded, one-of-a-kind, skewed lengths, tastes visible in purchases."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from artrec.data.catalog import Catalog
from artrec.data.simulate import (
    SIMULATED_LABEL,
    SimulationParams,
    simulate_collectors,
    stored_simulation,
    write_simulation,
)
from artrec.data.workspace import Workspace
from artrec.errors import DataError


def _catalog(n: int = 600, seed: int = 3) -> Catalog:
    rng = np.random.default_rng(seed)
    artists = np.array([f"artist{a}" for a in rng.integers(0, 60, n)], dtype=object)
    artists[rng.random(n) < 0.1] = "Unknown artist"
    meta = {
        "artist": artists,
        "century": np.array([int(c) for c in rng.integers(15, 21, n)], dtype=object),
        "medium": np.array(
            [("oil paint", "tempera", "fresco")[i] for i in rng.integers(0, 3, n)], dtype=object
        ),
        "museum": np.array([f"museum{m}" for m in rng.integers(0, 12, n)], dtype=object),
    }
    return Catalog(np.array([f"w{i}" for i in range(n)], dtype=object), meta)


def test_seeded_and_deterministic() -> None:
    cat = _catalog()
    a = simulate_collectors(cat, SimulationParams(seed=7))
    b = simulate_collectors(cat, SimulationParams(seed=7))
    c = simulate_collectors(cat, SimulationParams(seed=8))
    assert a.interactions.item_ids.tolist() == b.interactions.item_ids.tolist()
    assert np.array_equal(a.interactions.timestamps, b.interactions.timestamps)  # type: ignore[arg-type]
    assert a.interactions.item_ids.tolist() != c.interactions.item_ids.tolist()
    assert a.label == SIMULATED_LABEL == a.stats["label"]


def test_one_of_a_kind_lengths_and_times() -> None:
    cat = _catalog()
    p = SimulationParams(n_users=80, seed=1)
    sim = simulate_collectors(cat, p)
    items = sim.interactions.item_ids.tolist()
    assert len(items) == len(set(items)), "a work is sold at most once"
    lengths = np.array(list(Counter(sim.interactions.user_ids.tolist()).values()))
    assert lengths.min() >= 1 and lengths.max() <= 30
    assert np.median(lengths) < lengths.mean(), "lengths are right-skewed"
    ts = sim.interactions.timestamps
    assert ts is not None and np.all(np.diff(ts) >= 0), "events come in time order"
    assert np.all(ts >= p.start)
    assert sim.stats["n_purchases"] == len(items)
    assert sum(c.planned_purchases for c in sim.collectors) >= len(items)


def test_stock_runs_out_and_stops() -> None:
    cat = _catalog(40)
    sim = simulate_collectors(cat, SimulationParams(n_users=50, length_median=10, seed=0))
    assert len(sim.interactions) == 40
    assert sim.stats["share_stock_sold"] == 1.0


def test_tastes_drive_purchases_against_noise() -> None:
    cat = _catalog(1500)
    tasteful = simulate_collectors(cat, SimulationParams(n_users=60, noise=0.0, seed=2))
    random = simulate_collectors(cat, SimulationParams(n_users=60, noise=1.0, seed=2))
    assert tasteful.stats["share_noise"] == 0.0 and random.stats["share_noise"] == 1.0
    # By chance a random purchase matches one of 1-3 favourites of 60 artists rarely.
    assert random.stats["share_favourite_artist"] < 0.15
    assert tasteful.stats["share_favourite_artist"] > 3 * random.stats["share_favourite_artist"]
    for c in tasteful.collectors:
        assert all(a.startswith("artist") for a in c.favourite_artists), (
            "unknown is never a favourite"
        )


def test_bad_params_name_the_culprit() -> None:
    with pytest.raises(DataError, match="noise"):
        simulate_collectors(_catalog(), SimulationParams(noise=1.5))
    with pytest.raises(DataError, match="max_purchases"):
        simulate_collectors(_catalog(), SimulationParams(min_purchases=5, max_purchases=2))
    with pytest.raises(DataError, match="catalogue of 1"):
        simulate_collectors(Catalog(np.array(["x"], dtype=object)))


def test_write_replaces_previous_simulation(tmp_path: Path) -> None:
    cat = _catalog(200)
    ws = Workspace.create(tmp_path / "ws")
    ws.upsert_items(cat)
    first = simulate_collectors(cat, SimulationParams(n_users=10, seed=0))
    second = simulate_collectors(cat, SimulationParams(n_users=12, seed=1))
    write_simulation(ws, first)
    n = write_simulation(ws, second)
    got = ws.interactions()
    assert len(got) == n == len(second.interactions)
    assert got.item_ids.tolist() == second.interactions.item_ids.tolist()
    meta = stored_simulation(ws)
    assert meta is not None and meta["label"] == "simulated" and meta["params"]["seed"] == 1
    assert len(meta["collectors"]) == 12


@pytest.mark.skipif(not os.environ.get("ARTREC_DATA_HOME"), reason="needs ARTREC_DATA_HOME")
def test_on_real_catalogue(tmp_path: Path) -> None:
    from artrec.data.public_art import load_public_art, locate_public_art

    directory = locate_public_art()
    assert directory is not None
    cat, _ = load_public_art(directory)
    sim = simulate_collectors(cat)
    s = sim.stats
    assert 400 <= s["n_users"] <= 470 and 0.3 < s["share_stock_sold"] < 0.7
    assert s["history_length_min"] == 1 and s["history_length_max"] <= 30
    assert s["share_favourite_artist"] > 0.15
