"""Recommender configurations for :func:`~artrec.evaluation.evaluator.evaluate` and
:func:`~artrec.evaluation.comparison.compare`, and the registry of recommender kinds.

A :class:`Config` is a structured name: a *kind* (``"visrank"``, ``"random"``, ...) and the
kind's parameters, an instance of the kind's parameter dataclass (for VisRank,
:class:`artrec.config.VisRankConfig`). Tables show :attr:`Config.name`; reports and stored
runs use :attr:`Config.kind` and :meth:`Config.params_dict`, never the name's text.

Adding a recommender kind is one entry in :data:`KINDS`: its name, its parameter dataclass
(fields with defaults; validation in ``__post_init__``) and a builder that turns the
parameters into an unfitted :class:`~artrec.recommend.base.Recommender`::

    Kind("ease", EaseParams, lambda p: EaseRecommender(l2=p.l2))

``Config("ease", l2=300.0)`` then works everywhere (``artrec evaluate --recommender ease
--param l2=300``, :func:`config_grid`, the report). Builders import their recommender
module only when called, so listing the kinds stays light.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from artrec.config import VisRankConfig
from artrec.errors import DataError, short_repr
from artrec.evaluation.kinds import MODEL_KINDS as LEARNING_KINDS
from artrec.evaluation.kinds import config_kind

__all__ = [
    "BASELINES",
    "KINDS",
    "LEARNING",
    "Config",
    "Kind",
    "config_grid",
    "get_kind",
    "param_names",
]

if TYPE_CHECKING:
    from artrec.recommend.base import Recommender


@dataclass(frozen=True)
class NoParams:
    """Parameters of a kind that has none."""


@dataclass(frozen=True)
class SeedParams:
    """Parameters of a seeded kind."""

    seed: int = 0

    def __post_init__(self) -> None:
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int)
            or not 0 <= self.seed < 2**64
        ):
            raise DataError(
                f"seed must be an integer from 0 to 2**64 - 1, got {short_repr(self.seed)}"
            )


@dataclass(frozen=True)
class Kind:
    """A recommender kind that configurations can name.

    Parameters
    ----------
    name
        The kind's name (``Config.kind``, ``--recommender``).
    params
        Frozen dataclass of the kind's parameters: every field has a default, and
        ``__post_init__`` raises :class:`~artrec.errors.DataError` for bad values.
    build
        Parameters -> a new, unfitted recommender.
    label
        Parameters -> the name shown in tables (default: the kind's name).
    baseline
        Listed among the baselines of ``artrec compare``.
    """

    name: str
    params: type
    build: Callable[[Any], Recommender]
    label: Callable[[Any], str] | None = None
    baseline: bool = False

    @property
    def uses_embedding(self) -> bool:
        """Whether the parameters name an embedding (the recommender then needs vectors)."""
        return any(f.name == "embedding" for f in dataclasses.fields(self.params))


def _visrank(p: VisRankConfig) -> Recommender:
    from artrec.recommend.visrank import VisRankRecommender

    return VisRankRecommender(p.metric, p.aggregation, p.m)


def _random(p: SeedParams) -> Recommender:
    from artrec.recommend.baselines import RandomRecommender

    return RandomRecommender(seed=p.seed)


def _popular(_p: NoParams) -> Recommender:
    from artrec.recommend.baselines import PopularRecommender

    return PopularRecommender()


def _artist(_p: NoParams) -> Recommender:
    from artrec.recommend.baselines import FavouriteArtistRecommender

    return FavouriteArtistRecommender()


#: Every recommender kind a :class:`Config` can name: register a new kind here.
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("visrank", VisRankConfig, _visrank, label=lambda p: p.label),
        Kind("random", SeedParams, _random, label=lambda _p: "random", baseline=True),
        Kind("popular", NoParams, _popular, baseline=True),
        Kind("artist", NoParams, _artist, baseline=True),
    )
}
# The learning kinds (time-aware popularity, item-kNN, EASE, iALS, BPR, metadata affinity,
# the savable content source, the learned CuratorNet and VBPR, the tuned hybrid ``auto``), with their parameter schemas
# and search spaces in artrec.evaluation.kinds.
KINDS.update({name: config_kind(spec, Kind) for name, spec in LEARNING_KINDS.items()})

#: Names of the kinds ``artrec compare`` offers as baselines, in order.
BASELINES: tuple[str, ...] = tuple(name for name, k in KINDS.items() if k.baseline)
#: Names of the learning kinds ``artrec compare --recommenders`` offers, in order.
LEARNING: tuple[str, ...] = tuple(LEARNING_KINDS)


def get_kind(name: str) -> Kind:
    """The registered kind ``name``; :class:`DataError` listing the kinds otherwise."""
    kind = KINDS.get(name)
    if kind is None:
        raise DataError(
            f"unknown recommender kind {short_repr(name)}; choose one of {', '.join(KINDS)}"
        )
    return kind


def param_names(kind: str) -> tuple[str, ...]:
    """The parameter names of ``kind``."""
    return tuple(f.name for f in dataclasses.fields(get_kind(kind).params))


@dataclass(frozen=True, init=False)
class Config:
    """One recommender configuration: a kind and its parameters.

    ``Config(kind, params)`` takes a ready parameter object; ``Config(kind, **fields)``
    builds it from keyword fields (``Config("visrank", embedding="hybrid", metric="dot")``,
    ``Config("random", seed=3)``). Unknown kinds, unknown fields and bad values raise
    :class:`~artrec.errors.DataError`.

    Attributes
    ----------
    kind
        A key of :data:`KINDS`.
    params
        The kind's parameter object.
    name
        Name in tables (default: the kind's label of ``params``).
    """

    kind: str
    params: Any
    name: str

    def __init__(
        self, kind: str = "visrank", params: Any = None, *, name: str = "", **fields: Any
    ) -> None:
        spec = get_kind(kind)
        if params is None:
            known = set(param_names(kind))
            unknown = sorted(set(fields) - known)
            if unknown:
                raise DataError(
                    f"recommender kind {short_repr(kind)} has no parameter {short_repr(unknown[0])}"
                    + (f"; it takes {', '.join(sorted(known))}" if known else "")
                )
            try:
                params = spec.params(**fields)
            except TypeError as exc:
                raise DataError(
                    f"bad parameters for recommender kind {short_repr(kind)}: {exc}"
                ) from None
        elif fields:
            raise DataError("give either a parameter object or keyword parameters, not both")
        elif not isinstance(params, spec.params):
            raise DataError(
                f"recommender kind {short_repr(kind)} takes {spec.params.__name__} parameters, "
                f"got {type(params).__name__}"
            )
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "name", name or (spec.label or (lambda _p: kind))(params))

    @property
    def spec(self) -> Kind:
        """The registered :class:`Kind`."""
        return KINDS[self.kind]

    @property
    def needs_embedding(self) -> bool:
        """Whether the recommender needs item vectors."""
        return self.spec.uses_embedding

    @property
    def embedding(self) -> str | None:
        """The embedding named by the parameters (``None``: none, or the workspace default)."""
        return getattr(self.params, "embedding", None) if self.needs_embedding else None

    def with_embedding(self, embedding: str) -> Config:
        """The same configuration on a named embedding (its name re-derived unless given)."""
        if not self.needs_embedding:
            return self
        params = dataclasses.replace(self.params, embedding=embedding)
        derived = (self.spec.label or (lambda _p: self.kind))(self.params)
        return Config(self.kind, params, name="" if self.name == derived else self.name)

    def build(self) -> Recommender:
        """A new, unfitted recommender for this configuration."""
        return self.spec.build(self.params)

    def params_dict(self) -> dict[str, Any]:
        """``{"kind": ..., **parameters}``: what is recorded with a run and read by reports."""
        return {"kind": self.kind, **dataclasses.asdict(self.params)}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any], name: str = "") -> Config:
        """The configuration described by :meth:`params_dict` output (unknown keys ignored)."""
        kind = str(record.get("kind", "visrank"))
        known = set(param_names(kind))
        return cls(kind, name=name, **{k: v for k, v in record.items() if k in known})


def config_grid(
    embeddings: Sequence[str | None],
    metrics: Sequence[str] = ("cosine",),
    aggregations: Sequence[str] = ("sum_distance",),
    baselines: Sequence[str] = ("random", "popular", "artist"),
    *,
    m: int = 3,
    seed: int = 0,
    extra: Sequence[Config] = (),
) -> list[Config]:
    """VisRank for embedding x metric x aggregation, then the baselines, then ``extra``.

    Baselines get the ``seed`` when their parameters have one. Duplicates (by name) are
    removed, keeping the first occurrence.
    """
    configs: list[Config] = [
        Config("visrank", VisRankConfig(emb, metric, agg, m))
        for emb in embeddings
        for metric in metrics
        for agg in aggregations
    ]
    for kind in baselines:
        if kind not in BASELINES:
            raise DataError(
                f"{short_repr(kind)} is not a baseline; name {', '.join(BASELINES)}"
                if kind in KINDS
                else f"unknown baseline {short_repr(kind)}; name {', '.join(BASELINES)}"
            )
        shared = {"seed": seed} if "seed" in param_names(kind) else {}
        configs.append(Config(kind, get_kind(kind).params(**shared)))
    configs.extend(extra)
    unique: dict[str, Config] = {}
    for c in configs:
        unique.setdefault(c.name, c)
    return list(unique.values())
