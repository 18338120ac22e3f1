"""Simulated collectors: seeded, one-of-a-kind, skewed lengths, tastes visible in purchases."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from artrec.data.catalog import Catalog
from artrec.data.simulate import (
    SIMULATED_LABEL,
    Simulation,
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
    items = sim.purchases.item_ids.tolist()
    assert len(items) == len(set(items)), "a work is sold at most once"
    lengths = np.array(list(Counter(sim.purchases.user_ids.tolist()).values()))
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
    assert len(sim.purchases) == 40
    assert sim.stats["share_stock_sold"] == 1.0


def test_tastes_drive_purchases_against_noise() -> None:
    cat = _catalog(1500)
    tasteful = simulate_collectors(
        cat, SimulationParams(n_users=60, noise=0.0, w_artist=4.0, seed=2)
    )
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


def test_purchases_take_works_out_of_stock_likes_do_not() -> None:
    sim = simulate_collectors(_catalog(300), SimulationParams(n_users=40, seed=4))
    ev = sim.interactions
    sold_at: dict[str, float] = {}
    for item, t, kind in zip(
        ev.item_ids.tolist(), ev.timestamps.tolist(), ev.kinds.tolist(), strict=True
    ):
        assert item not in sold_at, "nothing is liked or bought after it sold"
        if kind == "purchase":
            sold_at[item] = t
    assert sim.stats["n_likes"] > sim.stats["n_purchases"] > 0
    likes = Counter(
        i for i, k in zip(ev.item_ids.tolist(), ev.kinds.tolist(), strict=True) if k == "like"
    )
    assert max(likes.values()) > 1, "a work can be liked by many"


def test_popularity_is_heavy_tailed() -> None:
    """Zipf-like appeal and trending concentrate the likes far beyond chance."""
    cat = _catalog(600)

    def top_decile_share(sim: Simulation) -> float:
        counts = np.array(sorted(Counter(sim.interactions.item_ids.tolist()).values()))[::-1]
        return float(counts[:60].sum() / counts.sum())

    p = SimulationParams(n_users=60, seed=5, likes_per_purchase=10.0)
    skewed = simulate_collectors(cat, p)
    flat = simulate_collectors(cat, replace(p, noise=1.0))
    assert top_decile_share(skewed) > 1.5 * top_decile_share(flat)
    assert skewed.stats["share_likes_top_1pct_works"] > flat.stats["share_likes_top_1pct_works"]


def _co_liked(sim: Simulation, a: str, b: str) -> int:
    ev = sim.interactions
    by_user: dict[str, set[str]] = {}
    for u, i in zip(ev.user_ids.tolist(), ev.item_ids.tolist(), strict=True):
        by_user.setdefault(u, set()).add(i)
    return len(by_user.get(a, set()) & by_user.get(b, set()))


def test_communities_create_co_purchase_structure_beyond_metadata() -> None:
    cat = _catalog(800)
    params = SimulationParams(
        n_users=100, seed=6, w_artist=0.0, w_century=0.0, w_medium=0.0, w_museum=0.0,
        w_appeal=0.0, w_heat=0.0, loyalty=0.0, w_community=2.0, n_communities=4, noise=0.0,
    )  # fmt: skip
    sim = simulate_collectors(cat, params)
    same, other = [], []
    cs = sim.collectors
    for x in range(len(cs)):
        for y in range(x + 1, len(cs)):
            pair = _co_liked(sim, cs[x].user_id, cs[y].user_id)
            (same if cs[x].community == cs[y].community else other).append(pair)
    assert np.mean(same) > 2 * np.mean(other)


def test_collectors_buy_again_from_the_same_artists() -> None:
    cat = _catalog(1500)
    loyal = simulate_collectors(cat, SimulationParams(n_users=80, seed=7, loyalty=2.0))
    fickle = simulate_collectors(
        cat, SimulationParams(n_users=80, seed=7, loyalty=0.0, w_artist=0.0, noise=1.0)
    )
    assert loyal.stats["share_repeat_artist"] > 2 * fickle.stats["share_repeat_artist"]


def test_visual_taste_pulls_purchases_together() -> None:
    cat = _catalog(800)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((800, 8))
    params = SimulationParams(
        n_users=60, seed=8, w_artist=0.0, w_century=0.0, w_medium=0.0, w_museum=0.0,
        w_community=0.0, w_appeal=0.0, w_heat=0.0, loyalty=0.0, noise=0.0, w_visual=2.0,
    )  # fmt: skip
    seen = simulate_collectors(cat, params, vectors=vectors)
    blind = simulate_collectors(cat, params)
    assert seen.stats["visual_taste"] and not blind.stats["visual_taste"]

    def spread(sim: Simulation) -> float:
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        rows = cat.rows_of(sim.purchases.item_ids)
        users = sim.purchases.user_ids
        sims = []
        for u in set(users.tolist()):
            r = rows[users == u]
            if len(r) > 1:
                g = unit[r] @ unit[r].T
                sims.append(g[np.triu_indices(len(r), 1)].mean())
        return float(np.mean(sims))

    assert spread(seen) > spread(blind) + 0.1


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
