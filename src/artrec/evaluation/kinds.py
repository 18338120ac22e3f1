"""Every recommender kind with its parameter schema: what evaluate, compare and tune build.

:data:`MODEL_KINDS` maps a kind name to a :class:`ModelKind`: how to build an unfitted
recommender from parameters, the schema of those parameters (name, type, default, the
values ``tune`` tries) and whether it needs item vectors. Evaluation configurations, the
command line and the tuner all build models through :func:`build_model`, so a kind and its
parameters are declared once. A new model (a learned one, say) plugs in with one
:func:`register_kind` call.

``mmr`` is not a kind but a wrapper: :func:`build_model` accepts ``mmr=λ`` for any kind
(:class:`~artrec.recommend.rerank.MMRRecommender`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from artrec.errors import DataError
from artrec.recommend.base import Recommender


@dataclass(frozen=True)
class Param:
    """One parameter of a kind.

    Attributes
    ----------
    name
        Keyword name.
    type
        ``int``, ``float``, ``str`` or ``bool``; values are coerced to it (``None`` stays
        ``None`` when ``optional``).
    default
        The default value.
    search
        Values ``tune`` tries besides the default (empty: not tuned).
    optional
        Whether ``None`` is a valid value.
    help
        One line for people.
    """

    name: str
    type: type
    default: Any
    search: tuple[Any, ...] = ()
    optional: bool = False
    help: str = ""

    def coerce(self, value: Any) -> Any:
        """``value`` as this parameter's type; :class:`DataError` naming it when impossible."""
        if value is None:
            if self.optional:
                return None
            raise DataError(f"parameter {self.name!r} cannot be None")
        try:
            if self.type is bool:
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    return value.lower() in ("true", "1", "yes")
                return bool(value)
            if isinstance(value, str) and self.optional and value.lower() in ("none", ""):
                return None
            return self.type(value)
        except (TypeError, ValueError):
            raise DataError(
                f"parameter {self.name!r} must be {self.type.__name__}, got {value!r:.80}"
            ) from None


@dataclass(frozen=True)
class ModelKind:
    """A recommender kind: builder, parameter schema and needs."""

    kind: str
    build: Callable[..., Recommender]
    params: tuple[Param, ...] = ()
    needs_embedding: bool = False
    needs_log: bool = False
    help: str = ""
    tunable: bool = field(default=True)

    def defaults(self) -> dict[str, Any]:
        """Parameter name -> default."""
        return {p.name: p.default for p in self.params}

    def resolve(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overridden by ``params``, coerced; unknown names raise :class:`DataError`."""
        schema = {p.name: p for p in self.params}
        given = dict(params or {})
        unknown = sorted(set(given) - set(schema))
        if unknown:
            known = ", ".join(schema) or "none"
            raise DataError(f"{self.kind} has no parameter {unknown[0]!r}; known: {known}")
        out = self.defaults()
        out.update({k: schema[k].coerce(v) for k, v in given.items()})
        return out

    def make(self, params: Mapping[str, Any] | None = None) -> Recommender:
        """A new, unfitted recommender."""
        return self.build(**self.resolve(params))


def _content(metric: str, aggregation: str, m: int) -> Recommender:
    from artrec.recommend.content import ContentRecommender

    return ContentRecommender(metric, aggregation, m)


def _visrank(metric: str, aggregation: str, m: int) -> Recommender:
    from artrec.recommend.visrank import VisRankRecommender

    return VisRankRecommender(metric, aggregation, m)


def _random(seed: int) -> Recommender:
    from artrec.recommend.baselines import RandomRecommender

    return RandomRecommender(seed)


def _popular() -> Recommender:
    from artrec.recommend.baselines import PopularRecommender

    return PopularRecommender()


def _artist() -> Recommender:
    from artrec.recommend.baselines import FavouriteArtistRecommender

    return FavouriteArtistRecommender()


def _time_popular(half_life_days: float | None, window_days: float | None) -> Recommender:
    from artrec.recommend.popularity import TimeAwarePopularityRecommender

    return TimeAwarePopularityRecommender(half_life_days, window_days)


def _item_knn(neighbours: int, shrinkage: float) -> Recommender:
    from artrec.recommend.itemknn import ItemKNNRecommender

    return ItemKNNRecommender(neighbours, shrinkage)


def _ease(lambda_: float, max_items: int) -> Recommender:
    from artrec.recommend.ease import EASERecommender

    return EASERecommender(lambda_, max_items=max_items)


def _ials(
    factors: int, regularization: float, alpha: float, iterations: int, random_state: int
) -> Recommender:
    from artrec.recommend.factors import ALSRecommender

    return ALSRecommender(factors, regularization, alpha, iterations, random_state)


def _bpr(
    factors: int, learning_rate: float, regularization: float, iterations: int, random_state: int
) -> Recommender:
    from artrec.recommend.factors import BPRRecommender

    return BPRRecommender(factors, learning_rate, regularization, iterations, random_state)


def _metadata(
    artist: float, century: float, medium: float, museum: float, smoothing: float, mode: str
) -> Recommender:
    from artrec.recommend.metadata import MetadataAffinityRecommender

    weights = {"artist": artist, "century": century, "medium": medium, "museum": museum}
    kept = {k: v for k, v in weights.items() if v > 0} or {"artist": 1.0}
    return MetadataAffinityRecommender(kept, smoothing, mode)


_VISUAL = (
    Param("metric", str, "cosine", help="similarity metric"),
    Param("aggregation", str, "mean", ("max", "topm_mean"), help="aggregation over the profile"),
    Param("m", int, 3, help="profile items averaged by topm_mean"),
)

#: Kind name -> :class:`ModelKind`. ``auto`` (the tuned hybrid) is added by
#: :mod:`artrec.evaluation.tuning`.
MODEL_KINDS: dict[str, ModelKind] = {}


def register_kind(spec: ModelKind) -> None:
    """Add (or replace) a kind in :data:`MODEL_KINDS`."""
    MODEL_KINDS[spec.kind] = spec


for _spec in (
    ModelKind(
        "visrank",
        _visrank,
        (
            Param("metric", str, "cosine"),
            Param("aggregation", str, "sum_distance"),
            Param("m", int, 3),
        ),
        needs_embedding=True,
        help="content: aggregated visual similarity to the profile (the notebook's method)",
        tunable=False,
    ),
    ModelKind(
        "content",
        _content,
        _VISUAL,
        needs_embedding=True,
        help="content source of the hybrid (savable VisRank, mean cosine by default)",
    ),
    ModelKind("random", _random, (Param("seed", int, 0),), help="random scores", tunable=False),
    ModelKind("popular", _popular, help="most events overall", tunable=False),
    ModelKind("artist", _artist, help="favourite artist", tunable=False),
    ModelKind(
        "time-popular",
        _time_popular,
        (
            Param(
                "half_life_days",
                float,
                30.0,
                (None, 7.0, 90.0, 365.0),
                optional=True,
                help="half-life of an event's weight (None: no decay)",
            ),
            Param("window_days", float, None, optional=True, help="only events this recent"),
        ),
        help="time-aware popularity",
    ),
    ModelKind(
        "item-knn",
        _item_knn,
        (
            Param("neighbours", int, 200, (50, 100, 400), help="neighbours kept per item"),
            Param("shrinkage", float, 10.0, (0.0, 50.0), help="cosine shrinkage"),
        ),
        needs_log=True,
        help="item-kNN on the training interactions",
    ),
    ModelKind(
        "ease",
        _ease,
        (
            Param("lambda_", float, 500.0, (100.0, 2000.0, 8000.0), help="ridge"),
            Param("max_items", int, 15_000, help="largest number of interacted items"),
        ),
        needs_log=True,
        help="EASE^R, closed form",
    ),
    ModelKind(
        "ials",
        _ials,
        (
            Param("factors", int, 64, (32, 128)),
            Param("regularization", float, 0.05, (0.5, 5.0)),
            Param("alpha", float, 5.0, (1.0, 20.0)),
            Param("iterations", int, 15),
            Param("random_state", int, 0),
        ),
        needs_log=True,
        help="implicit-feedback ALS (implicit)",
    ),
    ModelKind(
        "bpr",
        _bpr,
        (
            Param("factors", int, 64, (32, 128)),
            Param("learning_rate", float, 0.01, (0.005, 0.05)),
            Param("regularization", float, 0.01, (0.001, 0.05)),
            Param("iterations", int, 100, (50, 200)),
            Param("random_state", int, 0),
        ),
        needs_log=True,
        help="Bayesian personalised ranking (implicit)",
    ),
    ModelKind(
        "metadata",
        _metadata,
        (
            Param("artist", float, 1.0, help="weight of the artist"),
            Param("century", float, 0.3, (0.0, 1.0), help="weight of the century"),
            Param("medium", float, 0.2, (0.0, 1.0), help="weight of the medium"),
            Param("museum", float, 0.2, (0.0, 1.0), help="weight of the museum/collection"),
            Param("smoothing", float, 1.0, (0.0, 5.0), help="share smoothing"),
            Param("mode", str, "share", ("count",), help="share of the profile, or counts"),
        ),
        help="metadata affinity (artist, century, medium, museum)",
    ),
):
    register_kind(_spec)


#: Modules that register more kinds when imported (``auto`` lives above the models).
PLUGIN_MODULES: tuple[str, ...] = ("artrec.evaluation.tuning",)


def model_kind(kind: str) -> ModelKind:
    """The :class:`ModelKind` named ``kind``; :class:`DataError` listing the known ones."""
    if kind not in MODEL_KINDS:
        import importlib

        for module in PLUGIN_MODULES:
            importlib.import_module(module)
    spec = MODEL_KINDS.get(kind)
    if spec is None:
        raise DataError(
            f"unknown recommender kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}"
        )
    return spec


def build_model(
    kind: str, params: Mapping[str, Any] | None = None, *, mmr: float | None = None
) -> Recommender:
    """An unfitted recommender of ``kind`` with ``params``; wrapped in MMR re-ranking at
    ``λ = mmr`` when given."""
    rec = model_kind(kind).make(params)
    if mmr is None:
        return rec
    from artrec.recommend.rerank import MMRRecommender

    return MMRRecommender(rec, mmr)
