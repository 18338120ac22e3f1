"""Simulated collectors: seeded, documented purchase and like histories over a real catalogue.

The public-art catalogue comes without any purchases, so the demo and its evaluation use
*simulated* collectors. Everything they produce must be labelled "simulated"
(:data:`SIMULATED_LABEL`); the workspace records the parameters in the meta key
``"simulation"``.

The model (every number is a field of :class:`SimulationParams`; see ``docs/simulation.md``).
A collector ``u`` chooses a work ``i`` with probability proportional to
``exp(beta_u * utility(u, i, t))`` among the works in stock, where the utility adds

1. **metadata taste**: ``w_artist*[artist is a favourite] + w_century*[century ...] +
   w_medium*[medium ...] + w_museum*[museum ...]``; each collector draws 1-3 favourite
   artists, 1-2 centuries, 0-1 media, 0-2 museums, proportionally to their frequency;
2. **visual taste** (when item vectors are given): ``w_visual`` times the standardised
   cosine between the work and the collector's taste centre (the vector of an anchor work,
   by a favourite artist when there is one, plus noise);
3. **community taste**: collectors belong to one of ``n_communities`` latent communities
   and each work has a standard-normal appeal to each community, weighted ``w_community``:
   structure that only co-purchases and co-likes reveal;
4. **appeal**: ``w_appeal * log(a_i)`` with ``a_i`` Zipf-like (``rank^-zipf_exponent`` over
   a random order of the works), so popularity is heavy-tailed;
5. **trending**: ``w_heat * log(1 + heat_i(t))``, where ``heat`` counts the likes and
   purchases of the work with a half-life of ``heat_half_life_days``;
6. **loyalty**: ``loyalty`` for works by an artist the collector already bought, so
   collectors buy repeatedly from the same artists.

With probability ``noise`` a choice ignores taste (uniform over the stock).

History lengths are a truncated log-normal (median ``length_median``, 1 to 30
purchases). Each collector arrives uniformly in ``[start, start + span_days]`` and buys at
exponential gaps (mean ``mean_gap_days``); between purchases they **like** works
(``Poisson(likes_per_purchase)`` likes per purchase, at uniform times in the gap), chosen by
the same model. All events of all collectors are replayed in time order over one shared
stock; each work is one of a kind, so a **purchase takes it out of stock** (likes do not);
a collector whose turn comes when the stock is empty stops.

Nothing here is fitted to any recommender: the factors are the ones a gallery's buyers are
known to follow (artists, periods, looks, word of mouth, fashion), each given a moderate
weight so that no single model can explain the purchases alone.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
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
#: Workspace meta key: ``"1"`` when the workspace holds simulated interactions (the demo's
#: simulation, generated notebook-format assets), ``"0"`` when its interactions are real.
#: Written by :func:`mark_simulated`; which events are simulated is :func:`simulated_events`.
SIMULATED_KEY = "simulated_interactions"
#: Answers of :func:`simulation_state`.
SIMULATED_STATES: tuple[str, ...] = ("yes", "no", "partly", "no interactions")
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
        Utility of a favourite artist, century, medium and museum.
    w_visual
        Weight of the standardised visual similarity to the taste centre (used only when
        item vectors are given).
    visual_noise
        Noise added to the anchor vector of the taste centre, relative to its norm.
    n_communities, w_community
        Latent taste communities and the weight of a work's appeal to the collector's one.
    zipf_exponent, w_appeal
        Exponent of the Zipf-like appeal ``rank^-s`` and its weight (on ``log`` appeal).
    w_heat, heat_half_life_days
        Weight of ``log(1 + heat)`` and the half-life of a like's or purchase's heat.
    loyalty
        Utility of works by an artist the collector already bought.
    likes_per_purchase
        Mean number of likes between two purchases (Poisson); 0 for purchases only.
    beta_median, beta_sigma
        Taste strength ``beta ~ logN(log(beta_median), beta_sigma)`` in ``exp(beta * utility)``.
    noise
        Probability that a choice ignores taste (uniform over the stock).
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
    w_artist: float = 3.0
    w_century: float = 0.7
    w_medium: float = 0.3
    w_museum: float = 0.5
    w_visual: float = 0.7
    visual_noise: float = 0.5
    n_communities: int = 12
    w_community: float = 0.7
    zipf_exponent: float = 1.0
    w_appeal: float = 0.6
    w_heat: float = 0.7
    heat_half_life_days: float = 30.0
    loyalty: float = 1.0
    likes_per_purchase: float = 3.0
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
            "heat_half_life_days",
        ):
            if not getattr(self, name) > 0:
                raise DataError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in (
            "w_visual",
            "visual_noise",
            "w_community",
            "zipf_exponent",
            "w_appeal",
            "w_heat",
            "loyalty",
            "likes_per_purchase",
        ):
            if not getattr(self, name) >= 0:
                raise DataError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_communities < 1:
            raise DataError(f"n_communities must be >= 1, got {self.n_communities}")
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
    community: int = 0


@dataclass(frozen=True)
class Simulation:
    """The result of :func:`simulate_collectors`.

    Attributes
    ----------
    interactions
        Purchases (kind ``"purchase"``, each work bought at most once) and likes (kind
        ``"like"``), timestamped, in time order.
    collectors
        The tastes behind them.
    params
        The parameters used.
    stats
        Difficulty figures: users, purchases, likes, history lengths, share of purchases
        that match a favourite artist or repeat an artist, share of noise purchases, share
        of the stock sold, concentration of likes.
    label
        Always :data:`SIMULATED_LABEL`.
    """

    interactions: Interactions
    collectors: list[Collector]
    params: SimulationParams
    stats: dict[str, Any] = field(default_factory=dict)
    label: str = SIMULATED_LABEL

    @property
    def purchases(self) -> Interactions:
        """The purchases only."""
        kinds = np.asarray(self.interactions.kinds, dtype=object)
        return self.interactions.select(kinds == "purchase")


def _norm(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    return None if text in ("", "unknown", "none", "nan", "unknown artist") else text


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


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def simulate_collectors(
    catalog: Catalog,
    params: SimulationParams | None = None,
    *,
    vectors: np.ndarray | None = None,
) -> Simulation:
    """Simulate collectors liking and buying one-of-a-kind works (see the module doc).

    Parameters
    ----------
    catalog
        The works; artist, century, medium and museum columns drive the metadata tastes
        (missing columns simply contribute nothing).
    params
        Simulation parameters; defaults to :class:`SimulationParams()`.
    vectors
        ``(n_items, dim)`` item vectors for the visual taste; without them the visual term
        is absent. Use a representation other than the one the evaluated recommenders use
        (the demo and the benchmarks give raw hand-engineered features), so that the
        visual taste is related to, not copied from, what a content model sees.

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
    if vectors is not None and (vectors.ndim != 2 or vectors.shape[0] != n_items):
        raise DataError(f"vectors have shape {vectors.shape}; expected ({n_items}, dim)")
    rng = np.random.default_rng(params.seed)
    artists_raw = catalog.artists()
    artists = [
        None if a is None else _norm(a)
        for a in (artists_raw.tolist() if artists_raw is not None else [None] * n_items)
    ]
    artist_code = np.full(n_items, -1, dtype=np.int64)
    lookup: dict[str, int] = {}
    for row, a in enumerate(artists):
        if a is not None:
            artist_code[row] = lookup.setdefault(a, len(lookup))
    centuries = _column(catalog, "century")
    media = _column(catalog, "medium")
    museums = _column(catalog, "museum")
    n_users = params.n_users or max(5, round(params.users_per_item * n_items))

    # item-side factors shared by every collector
    appeal = np.empty(n_items)
    appeal[rng.permutation(n_items)] = np.arange(1, n_items + 1, dtype=np.float64) ** (
        -params.zipf_exponent
    )
    log_appeal = np.log(appeal)
    base_utility = params.w_appeal * (log_appeal - log_appeal.mean())
    community_appeal = rng.standard_normal((params.n_communities, n_items))
    unit = None
    if vectors is not None:
        v = np.asarray(vectors, dtype=np.float64)
        v = v - v.mean(axis=0)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        unit = v / np.where(norms > 0, norms, 1.0)

    collectors: list[Collector] = []
    utility = np.zeros((n_users, n_items), dtype=np.float32)
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
        community = int(rng.integers(params.n_communities))
        row = base_utility + params.w_community * community_appeal[community]
        for values, fav, weight in (
            (artists, fav_a, params.w_artist),
            (centuries, fav_c, params.w_century),
            (media, fav_m, params.w_medium),
            (museums, fav_u, params.w_museum),
        ):
            if fav:
                favs = set(fav)
                row = row + weight * np.fromiter((v in favs for v in values), bool, n_items)
        if unit is not None and params.w_visual > 0:
            by_fav = [i for i, a in enumerate(artists) if a is not None and a in set(fav_a)]
            anchor = int(rng.choice(by_fav)) if by_fav else int(rng.integers(n_items))
            centre = unit[anchor] + params.visual_noise * rng.standard_normal(
                unit.shape[1]
            ) / np.sqrt(unit.shape[1])
            row = row + params.w_visual * _standardise(unit @ centre)
        utility[u] = row
        collectors.append(
            Collector(
                f"{USER_PREFIX}{u:0{width}d}", fav_a, fav_c, fav_m, fav_u, beta, length, community
            )
        )

    # the timeline: purchases at exponential gaps, likes at uniform times in each gap
    events: list[tuple[float, int, int]] = []  # (time, kind 0=like 1=purchase, user)
    for u, c in enumerate(collectors):
        t = params.start + rng.uniform(0.0, params.span_days) * _DAY
        for _ in range(c.planned_purchases):
            gap = rng.exponential(params.mean_gap_days) * _DAY
            for _ in range(int(rng.poisson(params.likes_per_purchase))):
                events.append((t + rng.uniform(0.0, gap), 0, u))
            t += gap
            events.append((t, 1, u))
    events.sort()

    in_stock = np.ones(n_items, dtype=bool)
    heat = np.zeros(n_items)
    heat_time = params.start
    bought_artists: list[set[int]] = [set() for _ in range(n_users)]
    users_out: list[str] = []
    items_out: list[str] = []
    times_out: list[float] = []
    kinds_out: list[str] = []
    noise_count = fav_artist_hits = repeat_artist = n_purchases = 0
    like_counts = np.zeros(n_items, dtype=np.int64)
    for t, kind, u in events:
        stock_rows = np.flatnonzero(in_stock)
        if len(stock_rows) == 0:
            break
        heat *= 0.5 ** ((t - heat_time) / (params.heat_half_life_days * _DAY))
        heat_time = t
        if rng.random() < params.noise:
            row = int(stock_rows[rng.integers(len(stock_rows))])
            noise_count += kind
        else:
            logits = utility[u, stock_rows].astype(np.float64)
            logits += params.w_heat * np.log1p(heat[stock_rows])
            if bought_artists[u] and params.loyalty:
                codes = artist_code[stock_rows]
                logits += params.loyalty * np.isin(codes, list(bought_artists[u]))
            logits *= collectors[u].beta
            p = np.exp(logits - logits.max())
            p /= p.sum()
            row = int(stock_rows[rng.choice(len(stock_rows), p=p)])
        heat[row] += 1.0
        users_out.append(collectors[u].user_id)
        items_out.append(str(catalog.item_ids[row]))
        times_out.append(round(t, 3))
        if kind == 0:
            kinds_out.append("like")
            like_counts[row] += 1
            continue
        kinds_out.append("purchase")
        n_purchases += 1
        in_stock[row] = False
        code = int(artist_code[row])
        if code >= 0:
            repeat_artist += code in bought_artists[u]
            bought_artists[u].add(code)
        if artists[row] is not None and artists[row] in collectors[u].favourite_artists:
            fav_artist_hits += 1

    interactions = Interactions(
        np.asarray(users_out, dtype=object),
        np.asarray(items_out, dtype=object),
        np.asarray(times_out, dtype=np.float64),
        np.asarray(kinds_out, dtype=object),
    )
    buyers = [usr for usr, k in zip(users_out, kinds_out, strict=True) if k == "purchase"]
    lengths = np.array(list(Counter(buyers).values()) or [0])
    n_likes = len(kinds_out) - n_purchases
    top = np.sort(like_counts)[::-1]
    top1 = max(1, n_items // 100)
    stats = {
        "label": SIMULATED_LABEL,
        "n_items": n_items,
        "n_users": len(set(buyers)),
        "n_purchases": n_purchases,
        "n_likes": n_likes,
        "history_length_min": int(lengths.min()),
        "history_length_median": float(np.median(lengths)),
        "history_length_mean": float(lengths.mean()),
        "history_length_max": int(lengths.max()),
        "share_favourite_artist": fav_artist_hits / n_purchases if n_purchases else 0.0,
        "share_repeat_artist": repeat_artist / n_purchases if n_purchases else 0.0,
        "share_noise": noise_count / n_purchases if n_purchases else 0.0,
        "share_stock_sold": float(1.0 - in_stock.mean()),
        "share_likes_top_1pct_works": float(top[:top1].sum() / n_likes) if n_likes else 0.0,
        "visual_taste": vectors is not None and params.w_visual > 0,
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
    mark_simulated(workspace, True)
    return n


def interactions_simulated(workspace: Workspace) -> bool:
    """Whether the workspace holds simulated interactions (any): the meta key
    :data:`SIMULATED_KEY` says so, or the workspace has a simulation record (written by
    :func:`write_simulation` before that function also set the key)."""
    return workspace.get_meta(SIMULATED_KEY) == "1" or workspace.get_meta(META_KEY) is not None


def mark_simulated(workspace: Workspace, simulated: bool) -> None:
    """Record whether the interactions just written are simulated.

    ``True`` sets :data:`SIMULATED_KEY` to ``"1"``; ``False`` sets ``"0"`` unless the
    workspace already holds simulated interactions (real events added to simulated ones
    never make the workspace look real).
    """
    if simulated or not interactions_simulated(workspace):
        workspace.set_meta(SIMULATED_KEY, "1" if simulated else "0")


def simulated_events(workspace: Workspace, user_ids: Sequence[str]) -> int:
    """How many of the events of ``user_ids`` (one entry per event) are simulated.

    The one rule: with a simulation record (:func:`write_simulation`, the demo) the events
    of users whose id starts with :data:`USER_PREFIX` are simulated; otherwise, when
    :data:`SIMULATED_KEY` is ``"1"`` (generated notebook-format assets), all of them; else
    none.
    """
    if workspace.get_meta(META_KEY) is not None:
        return sum(1 for u in user_ids if str(u).startswith(USER_PREFIX))
    return len(user_ids) if workspace.get_meta(SIMULATED_KEY) == "1" else 0


def simulation_state(
    workspace: Workspace, user_ids: Sequence[str] | None = None
) -> SimulationState:
    """Whether the workspace's interactions are simulated: ``"yes"``, ``"no"``, ``"partly"``
    or ``"no interactions"`` (one of :data:`SIMULATED_STATES`), with the counts.

    ``user_ids`` (one per event) saves reading the interaction log again when the caller
    has it.
    """
    if user_ids is None:
        user_ids = workspace.interactions().user_ids.tolist()
    n_events = len(user_ids)
    n_sim = simulated_events(workspace, user_ids)
    if n_events == 0:
        state = "no interactions"
    elif n_sim == 0:
        state = "no"
    else:
        state = "yes" if n_sim == n_events else "partly"
    return SimulationState(state, n_sim, n_events)


@dataclass(frozen=True)
class SimulationState:
    """The answer of :func:`simulation_state`.

    Attributes
    ----------
    state
        One of :data:`SIMULATED_STATES`.
    n_simulated, n_events
        Simulated events, and all events.
    """

    state: str
    n_simulated: int
    n_events: int


def stored_simulation(workspace: Workspace) -> dict[str, Any] | None:
    """The ``"simulation"`` meta record written by :func:`write_simulation`, or ``None``."""
    raw = workspace.get_meta(META_KEY)
    return None if raw is None else dict(json.loads(raw))
