"""Simulated collectors: seeded, documented purchase histories over a real catalogue.

The public-art catalogue comes without any purchases, so the demo and its evaluation use
*simulated* collectors. Everything they produce must be labelled "simulated"
(:data:`SIMULATED_LABEL`); the workspace records the parameters in the meta key
``"simulation"``.

The model (every number is a field of :class:`SimulationParams`; see ``docs/simulation.md``):

1. **Tastes.** Each collector draws ``n_favourite_artists`` favourite artists (with
   probability proportional to the artist's number of works, known artists only), favourite
   centuries, media and museums (proportional to their frequency). The *affinity* of a work is
   ``w_artist*[artist is a favourite] + w_century*[century ...] + w_medium*[medium ...] +
   w_museum*[museum ...]``.
2. **History lengths.** A truncated log-normal: ``round(exp(N(log(length_median),
   length_sigma)))`` clipped to ``[min_purchases, max_purchases]`` (1 to 30): most collectors
   buy a handful of works, a few buy many.
3. **Times.** Each collector arrives uniformly in ``[start, start + span_days]`` and buys at
   exponential gaps of mean ``mean_gap_days``.
4. **Choice.** All purchases of all collectors are replayed in time order over one shared
   stock. At each purchase, with probability ``noise`` the collector buys a uniformly random
   work in stock; otherwise a work in stock with probability proportional to
   ``exp(beta * affinity)``, where ``beta`` is the collector's taste strength (log-normal
   around ``beta_median``). Each work is one of a kind: once bought it leaves the stock, so
   the time-replay protocol is meaningful. A collector whose turn comes when the stock is
   empty stops buying.

Nothing here looks at pixels: the tastes are expressed through metadata only, so a visual
recommender can only succeed to the extent that artists, centuries, media and museums are
visible in the images. That is what makes the task honest.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import DataError

#: The label every table and report built on these histories must carry.
SIMULATED_LABEL = "simulated"
#: Prefix of simulated user ids.
USER_PREFIX = "sim-"
META_KEY = "simulation"
_DAY = 86400.0


@dataclass(frozen=True)
class SimulationParams:
    """Every knob of the collector simulation (defaults are the demo's).

    Parameters
    ----------
    n_users
        Number of collectors; ``None`` means ``round(users_per_item * n_items)``, at least 5.
    users_per_item
        Collectors per catalogue work when ``n_users`` is ``None`` (0.08: about half of the
        stock sells with the default lengths).
    min_purchases, max_purchases
        Bounds of a history's length (1 and 30).
    length_median, length_sigma
        Median and log-space spread of the log-normal history length before clipping.
    n_favourite_artists, n_favourite_centuries, n_favourite_media, n_favourite_museums
        ``(low, high)`` inclusive ranges of how many favourites of each kind a collector has.
    w_artist, w_century, w_medium, w_museum
        Affinity weights of a favourite artist, century, medium and museum.
    beta_median, beta_sigma
        Taste strength ``beta ~ logN(log(beta_median), beta_sigma)`` in ``exp(beta * affinity)``.
    noise
        Probability that a purchase ignores taste (uniform over the stock).
    start, span_days, mean_gap_days
        First possible arrival (seconds since the epoch), the arrival window and the mean
        gap between a collector's purchases.
    seed
        Seed of the random generator: same catalogue + same params = same histories.
    """

    n_users: int | None = None
    users_per_item: float = 0.08
    min_purchases: int = 1
    max_purchases: int = 30
    length_median: float = 4.0
    length_sigma: float = 0.9
    n_favourite_artists: tuple[int, int] = (1, 3)
    n_favourite_centuries: tuple[int, int] = (1, 2)
    n_favourite_media: tuple[int, int] = (0, 1)
    n_favourite_museums: tuple[int, int] = (0, 2)
    w_artist: float = 4.0
    w_century: float = 1.0
    w_medium: float = 0.5
    w_museum: float = 1.0
    beta_median: float = 1.5
    beta_sigma: float = 0.3
    noise: float = 0.2
    start: float = 1_577_836_800.0  # 2020-01-01T00:00:00Z
    span_days: float = 730.0
    mean_gap_days: float = 30.0
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`DataError` naming the first out-of-range parameter."""
        if self.n_users is not None and self.n_users < 1:
            raise DataError(f"n_users must be >= 1, got {self.n_users}")
        if not 1 <= self.min_purchases <= self.max_purchases:
            raise DataError(
                f"need 1 <= min_purchases <= max_purchases, got {self.min_purchases}, {self.max_purchases}"
            )
        if not 0.0 <= self.noise <= 1.0:
            raise DataError(f"noise must be in [0, 1], got {self.noise}")
        for name in (
            "users_per_item",
            "length_median",
            "span_days",
            "mean_gap_days",
            "beta_median",
        ):
            if not getattr(self, name) > 0:
                raise DataError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in (
            "n_favourite_artists",
            "n_favourite_centuries",
            "n_favourite_media",
            "n_favourite_museums",
        ):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise DataError(f"{name} must be a range (low <= high, low >= 0), got {(lo, hi)}")


@dataclass(frozen=True)
class Collector:
    """One simulated collector's tastes."""

    user_id: str
    favourite_artists: tuple[str, ...]
    favourite_centuries: tuple[str, ...]
    favourite_media: tuple[str, ...]
    favourite_museums: tuple[str, ...]
    beta: float
    planned_purchases: int


@dataclass(frozen=True)
class Simulation:
    """The result of :func:`simulate_collectors`.

    Attributes
    ----------
    interactions
        Purchases (kind ``"purchase"``), timestamped, each work bought at most once.
    collectors
        The tastes behind them.
    params
        The parameters used.
    stats
        Difficulty figures: users, purchases, history lengths, share of purchases that
        match a favourite artist, share of noise purchases, share of the stock sold.
    label
        Always :data:`SIMULATED_LABEL`.
    """

    interactions: Interactions
    collectors: list[Collector]
    params: SimulationParams
    stats: dict[str, Any] = field(default_factory=dict)
    label: str = SIMULATED_LABEL


def _norm(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    return None if text in ("", "unknown", "none", "nan") else text


def _column(catalog: Catalog, name: str) -> list[str | None]:
    col = catalog.column(name)
    if col is None:
        return [None] * catalog.n_items
    return [_norm(v) for v in col.tolist()]


def _pick(
    rng: np.random.Generator, values: list[str | None], count_range: tuple[int, int]
) -> tuple[str, ...]:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return ()
    lo, hi = count_range
    n = int(rng.integers(lo, hi + 1))
    names = sorted(counts)
    p = np.array([counts[v] for v in names], dtype=np.float64)
    p /= p.sum()
    n = min(n, len(names))
    if n == 0:
        return ()
    picked = rng.choice(len(names), size=n, replace=False, p=p)
    return tuple(names[i] for i in sorted(picked.tolist()))


def simulate_collectors(catalog: Catalog, params: SimulationParams | None = None) -> Simulation:
    """Simulate collectors buying one-of-a-kind works from ``catalog`` (see the module doc).

    Parameters
    ----------
    catalog
        The works; artist, century, medium and museum columns drive the tastes (missing
        columns simply contribute nothing).
    params
        Simulation parameters; defaults to :class:`SimulationParams()`.

    Returns
    -------
    Simulation
        Labelled :data:`SIMULATED_LABEL`.
    """
    params = params or SimulationParams()
    params.validate()
    n_items = catalog.n_items
    if n_items < 2:
        raise DataError(f"cannot simulate collectors on a catalogue of {n_items} works")
    rng = np.random.default_rng(params.seed)
    artists_raw = catalog.artists()
    artists = [
        None if a is None else _norm(a)
        for a in (artists_raw.tolist() if artists_raw is not None else [None] * n_items)
    ]
    centuries = _column(catalog, "century")
    media = _column(catalog, "medium")
    museums = _column(catalog, "museum")
    n_users = params.n_users or max(5, round(params.users_per_item * n_items))

    collectors: list[Collector] = []
    affinity = np.zeros((n_users, n_items), dtype=np.float32)
    width = len(str(n_users))
    for u in range(n_users):
        fav_a = _pick(rng, artists, params.n_favourite_artists)
        fav_c = _pick(rng, centuries, params.n_favourite_centuries)
        fav_m = _pick(rng, media, params.n_favourite_media)
        fav_u = _pick(rng, museums, params.n_favourite_museums)
        beta = float(np.exp(rng.normal(np.log(params.beta_median), params.beta_sigma)))
        length = int(
            np.clip(
                round(float(np.exp(rng.normal(np.log(params.length_median), params.length_sigma)))),
                params.min_purchases,
                params.max_purchases,
            )
        )
        for values, fav, weight in (
            (artists, fav_a, params.w_artist),
            (centuries, fav_c, params.w_century),
            (media, fav_m, params.w_medium),
            (museums, fav_u, params.w_museum),
        ):
            if fav:
                favs = set(fav)
                affinity[u] += weight * np.fromiter((v in favs for v in values), bool, n_items)
        collectors.append(
            Collector(f"{USER_PREFIX}{u:0{width}d}", fav_a, fav_c, fav_m, fav_u, beta, length)
        )

    # Purchase times: arrival + cumulative exponential gaps; all events replayed in time order.
    events: list[tuple[float, int]] = []
    for u, c in enumerate(collectors):
        t = params.start + rng.uniform(0.0, params.span_days) * _DAY
        for _ in range(c.planned_purchases):
            events.append((t, u))
            t += rng.exponential(params.mean_gap_days) * _DAY
    events.sort()

    in_stock = np.ones(n_items, dtype=bool)
    users_out: list[str] = []
    items_out: list[str] = []
    times_out: list[float] = []
    noise_count = 0
    fav_artist_hits = 0
    for t, u in events:
        stock_rows = np.flatnonzero(in_stock)
        if len(stock_rows) == 0:
            break
        if rng.random() < params.noise:
            row = int(stock_rows[rng.integers(len(stock_rows))])
            noise_count += 1
        else:
            logits = collectors[u].beta * affinity[u, stock_rows].astype(np.float64)
            p = np.exp(logits - logits.max())
            p /= p.sum()
            row = int(stock_rows[rng.choice(len(stock_rows), p=p)])
        in_stock[row] = False
        if artists[row] is not None and artists[row] in collectors[u].favourite_artists:
            fav_artist_hits += 1
        users_out.append(collectors[u].user_id)
        items_out.append(str(catalog.item_ids[row]))
        times_out.append(round(t, 3))

    interactions = Interactions(
        np.asarray(users_out, dtype=object),
        np.asarray(items_out, dtype=object),
        np.asarray(times_out, dtype=np.float64),
        np.full(len(users_out), "purchase", dtype=object),
    )
    lengths = np.array(list(Counter(users_out).values()) or [0])
    n_events = len(users_out)
    stats = {
        "label": SIMULATED_LABEL,
        "n_items": n_items,
        "n_users": len(set(users_out)),
        "n_purchases": n_events,
        "history_length_min": int(lengths.min()),
        "history_length_median": float(np.median(lengths)),
        "history_length_mean": float(lengths.mean()),
        "history_length_max": int(lengths.max()),
        "share_favourite_artist": fav_artist_hits / n_events if n_events else 0.0,
        "share_noise": noise_count / n_events if n_events else 0.0,
        "share_stock_sold": float(1.0 - in_stock.mean()),
    }
    return Simulation(interactions, collectors, params, stats)


def write_simulation(workspace: Workspace, simulation: Simulation) -> int:
    """Replace the workspace's simulated purchases (user ids starting ``sim-``) by ``simulation``.

    The parameters, the statistics and the tastes are stored as JSON in the meta key
    ``"simulation"``. Returns the number of events written.
    """
    workspace.delete_users(USER_PREFIX)
    n = workspace.add_interactions(simulation.interactions)
    workspace.set_meta(
        META_KEY,
        json.dumps(
            {
                "label": SIMULATED_LABEL,
                "params": asdict(simulation.params),
                "stats": simulation.stats,
                "collectors": [asdict(c) for c in simulation.collectors],
            }
        ),
    )
    return n


def interactions_simulated(workspace: Workspace) -> bool:
    """Whether the workspace's interactions are simulated: its own simulation, or assets
    whose importer said so (meta key ``simulated_interactions``)."""
    return workspace.get_meta("simulated_interactions") == "1" or bool(workspace.get_meta(META_KEY))


def stored_simulation(workspace: Workspace) -> dict[str, Any] | None:
    """The ``"simulation"`` meta record written by :func:`write_simulation`, or ``None``."""
    raw = workspace.get_meta(META_KEY)
    return None if raw is None else dict(json.loads(raw))
