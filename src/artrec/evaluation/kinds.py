"""The learning recommender kinds: parameter schemas, the values ``tune`` tries, builders.

Every kind here (``content``, ``time-popular``, ``item-knn``, ``ease``, ``ials``, ``bpr``,
``metadata``, the learned ``curatornet`` and ``vbpr``, ``auto``) is registered in the
project's one registry of recommender kinds, :data:`artrec.evaluation.configs.KINDS`,
through :func:`config_kind`: its :class:`Param` schema becomes the kind's frozen parameter
dataclass (values coerced and checked in ``__post_init__``), so ``Config("ease", lambda_=300)``, ``artrec evaluate --recommender ease
--param lambda_=300``, :func:`~artrec.evaluation.configs.config_grid` and stored runs work
for them like for VisRank. What this module adds is the search space: each
:class:`Param` lists the values :mod:`artrec.evaluation.tuning` tries.

:func:`build_model` builds any registered kind from a plain dict of parameters, optionally
wrapped in MMR re-ranking at ``λ = mmr`` (:class:`~artrec.recommend.rerank.MMRRecommender`).
"""

from __future__ import annotations

import dataclasses
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
    wants_embedding: bool = False

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


def _content(metric: str, aggregation: str, m: int, embedding: str | None) -> Recommender:
    from artrec.recommend.content import ContentRecommender

    return ContentRecommender(metric, aggregation, m)


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


def _auto(
    embedding: str | None,
    k: int,
    max_trials: int | None,
    max_seconds: float | None,
    retune: bool,
    target_kinds: str | None,
    one_of_a_kind: bool,
    by_time: bool,
) -> Recommender:
    from artrec.evaluation.tuning import AutoRecommender, TuneBudget

    kinds = None if not target_kinds else tuple(t.strip() for t in target_kinds.split(","))
    return AutoRecommender(
        k,
        TuneBudget(max_trials, max_seconds),
        target_kinds=kinds,
        one_of_a_kind=one_of_a_kind,
        by_time=by_time,
        retune=retune,
    )


def _metadata(
    artist: float, century: float, medium: float, museum: float, smoothing: float, mode: str
) -> Recommender:
    from artrec.recommend.metadata import MetadataAffinityRecommender

    weights = {"artist": artist, "century": century, "medium": medium, "museum": museum}
    kept = {k: v for k, v in weights.items() if v > 0} or {"artist": 1.0}
    return MetadataAffinityRecommender(kept, smoothing, mode)


def _learned(kind: str, patience: int, k_validation: int, **params: Any) -> Recommender:
    """A learned model (CuratorNet, VBPR) that early-stops on a validation split of the
    training log when fitted (``patience`` 0: exactly ``epochs`` epochs). ``metadata``
    ``"auto"`` chooses its item inputs on that split (with ``patience`` 0, which has no
    split, the vectors alone)."""
    from artrec.evaluation.training import AUTO_METADATA, early_stopping, make_learned

    params.pop("embedding", None)
    metadata = (params.pop("metadata") or "").strip()
    choose = metadata == AUTO_METADATA
    columns = "" if choose else metadata
    params["metadata"] = tuple(c.strip() for c in columns.split(",") if c.strip())
    model = make_learned(kind, **params)
    if patience:
        model.fit_strategy = early_stopping(
            k_validation, patience, choose_metadata=choose, epochs=model.epochs
        )
    return model


def _curatornet(**params: Any) -> Recommender:
    return _learned("curatornet", **params)


def _vbpr(**params: Any) -> Recommender:
    return _learned("vbpr", **params)


#: The evaluation layer gives a kind with this parameter the named embedding's vectors.
_EMBEDDING = Param(
    "embedding", str, None, optional=True, help="embedding name (default: the workspace's)"
)

_VISUAL = (
    Param("metric", str, "cosine", help="similarity metric"),
    Param("aggregation", str, "mean", ("max", "topm_mean"), help="aggregation over the profile"),
    Param("m", int, 3, help="profile items averaged by topm_mean"),
    _EMBEDDING,
)

#: Parameters every learned model (CuratorNet, VBPR) takes through a configuration.
_LEARNED = (
    _EMBEDDING,
    Param("epochs", int, 30, help="largest number of epochs"),
    Param("seed", int, 0, help="seed of the weights and the training instances"),
    Param(
        "metadata",
        str,
        "auto",
        help="comma-separated metadata appended to the vectors (artist, medium, century, "
        "museum); 'auto': with every column the catalogue has or without, whichever the "
        "validation split prefers; '': none",
    ),
    Param("hard_negatives", str, None, optional=True, help="'artist' or 'cluster' hard negatives"),
    Param("patience", int, 3, help="early stopping patience on validation nDCG (0: none)"),
    Param("k_validation", int, 20, help="cut-off of the validation nDCG"),
)

#: Kind name -> :class:`ModelKind`: the learning kinds and their search spaces.
MODEL_KINDS: dict[str, ModelKind] = {}


def register_kind(spec: ModelKind) -> None:
    """Add (or replace) a kind in :data:`MODEL_KINDS`."""
    MODEL_KINDS[spec.kind] = spec


for _spec in (
    ModelKind(
        "content",
        _content,
        _VISUAL,
        needs_embedding=True,
        help="content source of the hybrid (savable VisRank, mean cosine by default)",
    ),
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
    ModelKind(
        "curatornet",
        _curatornet,
        (*_LEARNED, Param("lr", float, 1e-4, help="AdamW learning rate")),
        needs_embedding=True,
        needs_log=True,
        help="CuratorNet: learned visual taste, new people and new works without retraining",
    ),
    ModelKind(
        "vbpr",
        _vbpr,
        (
            *_LEARNED,
            Param("k", int, 32, help="latent factors"),
            Param("k_visual", int, 32, help="visual factors"),
            Param("lr", float, 5e-3, help="Adam learning rate"),
        ),
        needs_embedding=True,
        needs_log=True,
        help="VBPR: latent factors plus a learned projection of the visual vector",
    ),
    ModelKind(
        "auto",
        _auto,
        (
            _EMBEDDING,
            Param("k", int, 20, help="cut-off of the validation objective"),
            Param("max_trials", int, None, optional=True, help="stage-1 alternatives"),
            Param("max_seconds", float, None, optional=True, help="tuning time bound"),
            Param("retune", bool, False, help="search again at every refit"),
            Param(
                "target_kinds",
                str,
                None,
                optional=True,
                help="comma-separated event kinds judged and used as profiles (default all)",
            ),
            Param("one_of_a_kind", bool, False, help="bought works are sold out"),
            Param("by_time", bool, False, help="validate on a time cut (for time replay)"),
        ),
        help="the hybrid tuned on a validation split of the training events",
        tunable=False,
        wants_embedding=True,
    ),
):
    register_kind(_spec)


def model_kind(kind: str) -> ModelKind:
    """The learning kind ``kind``; :class:`DataError` listing the known ones."""
    spec = MODEL_KINDS.get(kind)
    if spec is None:
        raise DataError(
            f"unknown recommender kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}"
        )
    return spec


def params_dataclass(spec: ModelKind) -> type:
    """A frozen dataclass of ``spec``'s parameters whose ``__post_init__`` coerces each
    value with its :class:`Param` (a bad value is a :class:`DataError` naming it).

    One class per kind, kept as an attribute of this module under its name, so that its
    instances pickle by reference (configurations sent to worker processes by ``compare
    --workers`` and the demo)."""
    name = "".join(part.capitalize() for part in spec.kind.replace("-", "_").split("_")) + "Params"
    known = globals().get(name)
    if isinstance(known, type) and getattr(known, "__artrec_kind__", None) == spec.kind:
        return known
    schema = {p.name: p for p in spec.params}

    def __post_init__(self: Any) -> None:
        for name, param in schema.items():
            object.__setattr__(self, name, param.coerce(getattr(self, name)))

    cls = dataclasses.make_dataclass(
        name,
        [(p.name, Any, dataclasses.field(default=p.default)) for p in spec.params],
        frozen=True,
        namespace={"__post_init__": __post_init__, "__module__": __name__},
    )
    cls.__artrec_kind__ = spec.kind  # type: ignore[attr-defined]
    globals()[name] = cls
    return cls


def config_kind(spec: ModelKind, kind_cls: type) -> Any:
    """``spec`` as an entry of :data:`artrec.evaluation.configs.KINDS` (``kind_cls`` is
    :class:`artrec.evaluation.configs.Kind`, passed in to keep the modules acyclic)."""

    def build(params: Any) -> Recommender:
        return spec.build(**dataclasses.asdict(params))

    return kind_cls(spec.kind, params_dataclass(spec), build)


def build_model(
    kind: str, params: Mapping[str, Any] | None = None, *, mmr: float | None = None
) -> Recommender:
    """An unfitted recommender of any registered ``kind`` with ``params`` (through
    :class:`~artrec.evaluation.configs.Config`); wrapped in MMR re-ranking at ``λ = mmr``
    when given."""
    from artrec.evaluation.configs import Config

    rec = Config(kind, **dict(params or {})).build()
    if mmr is None:
        return rec
    from artrec.recommend.rerank import MMRRecommender

    return MMRRecommender(rec, mmr)
