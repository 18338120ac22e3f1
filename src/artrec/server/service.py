"""The server's use cases and what both route modules share.

:func:`similar` and :func:`recommend` answer "similar artworks" and "recommended for you"
as response models, from the engine and the store of a :class:`~artrec.server.state.ServerState`;
the API routes serialise them and the web pages render them. Input checks (ids, free text,
``k``, the VisRank options) and the item models live here too, so that the routes stay
thin and neither route module imports the other.

Errors: unknown ids raise :class:`~artrec.errors.UnknownIdError` (404), invalid parameters
:class:`~artrec.errors.DataError` (422); ``k`` is capped at
:attr:`Settings.max_k <artrec.server.settings.Settings.max_k>`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from artrec.config import AGGREGATIONS, VisRankConfig
from artrec.errors import DataError, UnknownIdError, check_choice, short_repr
from artrec.limits import MAX_ID_LENGTH
from artrec.recommend.serving import VISRANK
from artrec.server import schemas
from artrec.server.schemas import CONTROL_CHARACTERS, MAX_QUERY_LENGTH
from artrec.server.state import ServerState
from artrec.similarity import METRICS

#: Most item models :func:`cached_item_model` keeps per server process.
ITEM_MODEL_CACHE = 50_000


# -- input checks (the rules of artrec.server.schemas, for calls that bypass FastAPI) -----------
def _well_formed(text: str, longest: int) -> bool:
    return (
        0 < len(text) <= longest
        and CONTROL_CHARACTERS.search(text) is None
        and _valid_unicode(text)
    )


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_item_id(item_id: str) -> str:
    """``item_id`` if it could name an item; otherwise :class:`UnknownIdError` (404)."""
    if not _well_formed(item_id, MAX_ID_LENGTH):
        raise UnknownIdError(f"unknown item id {short_repr(item_id)}")
    return item_id


def check_user_id(user_id: str) -> str:
    """``user_id`` if well formed (:data:`~artrec.server.schemas.ID_PATTERN`); else 422."""
    if not _well_formed(user_id, MAX_ID_LENGTH):
        raise DataError(
            f"invalid user id {short_repr(user_id)}: use 1-{MAX_ID_LENGTH} characters "
            "without control characters"
        )
    return user_id


def check_text(value: str | None, name: str) -> str | None:
    """A free-text parameter, or 422 when it holds control characters or is too long."""
    if value is None:
        return None
    if len(value) > MAX_QUERY_LENGTH or not (value == "" or _well_formed(value, MAX_QUERY_LENGTH)):
        raise DataError(
            f"invalid {name}: at most {MAX_QUERY_LENGTH} characters without control characters"
        )
    return value.strip() or None


def cap_k(state: ServerState, k: int) -> int:
    """``k`` capped at the server's ``max_k``."""
    return min(int(k), state.settings.max_k)


def request_config(
    state: ServerState,
    *,
    metric: str | None = None,
    aggregation: str | None = None,
    embedding: str | None = None,
) -> VisRankConfig:
    """The server's configuration with a request's choices: 422 for an unknown metric or
    aggregation, 404 for an unknown embedding (a resource)."""
    if metric is not None:
        check_choice(metric, METRICS, "metric")
    if aggregation is not None:
        check_choice(aggregation, AGGREGATIONS, "aggregation")
    names = list(state.engine.embedding_names)
    if embedding is not None and embedding not in names:
        raise UnknownIdError(
            f"unknown embedding {short_repr(embedding)}; choose one of {', '.join(names)}"
        )
    return state.config.override(metric=metric, aggregation=aggregation, embedding=embedding)


# -- item models -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=65_536)
def image_url(item_id: str) -> str:
    """The server path of an item's image."""
    from urllib.parse import quote

    return f"/items/{quote(item_id, safe='')}/image"


def item_model(record: dict[str, Any]) -> schemas.Item:
    """An :class:`schemas.Item` from a store record."""
    return schemas.Item(**record, image_url=image_url(record["item_id"]))


def cached_item_model(state: ServerState, record: dict[str, Any]) -> schemas.Item:
    """:func:`item_model` of a store record, validated once per ``(item_id, in_stock)``.

    Store records carry the catalogue metadata (fixed while the server runs) and the
    current stock, so the key identifies the model; the cache is dropped when full.
    """
    key = (record["item_id"], bool(record["in_stock"]))
    cache = state.item_models
    model = cache.get(key)
    if model is None:
        if len(cache) >= ITEM_MODEL_CACHE:
            cache.clear()
        model = cache[key] = item_model(record)
    return model


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# -- use cases ---------------------------------------------------------------------------------
def similar(
    state: ServerState,
    item_id: str,
    *,
    k: int,
    metric: str | None = None,
    embedding: str | None = None,
) -> schemas.SimilarItems:
    """The ``k`` artworks most similar to one artwork (the artwork itself left out)."""
    check_item_id(item_id)
    k = cap_k(state, k)
    cfg = request_config(state, metric=metric, embedding=embedding)
    if not state.engine.has_vector(item_id, cfg.embedding):
        state.store.item(item_id)  # 404 when unknown to the store as well
        raise UnknownIdError(
            f"item {short_repr(item_id)} has no vector in embedding {cfg.embedding!r} yet"
        )
    found = state.engine.similar(item_id, k, metric=cfg.metric, embedding=cfg.embedding)
    records = state.store.items(n.item_id for n in found)
    results = [
        schemas.Neighbour(
            item=cached_item_model(state, records[n.item_id]), score=_finite(n.score) or 0.0
        )
        for n in found
        if n.item_id in records
    ]
    assert cfg.embedding is not None
    return schemas.SimilarItems(
        item_id=item_id, metric=cfg.metric, embedding=cfg.embedding, k=k, results=results
    )


def model_info(state: ServerState) -> schemas.ModelInfo | None:
    """The chosen model that answers recommendations, as ``/health`` shows it (its
    staleness as of when this server process loaded it); ``None`` when VisRank answers."""
    serving = state.model
    if serving is None:
        return None
    validation = serving.info.extra.get("validation") or {}
    return schemas.ModelInfo(
        name=serving.info.name,
        kind=serving.info.kind,
        validation_ndcg=_finite(validation.get("ndcg")),
        stale=serving.staleness,
    )


def recommend(
    state: ServerState,
    profile: list[str],
    *,
    k: int,
    aggregation: str | None = None,
    metric: str | None = None,
    embedding: str | None = None,
    diversify: float | None = None,
    exclude: list[str] | None = None,
    only_in_stock: bool = True,
    user_id: str | None = None,
) -> schemas.Recommendations:
    """Recommendations for a profile of item ids, each with its reason.

    The workspace's chosen model answers (loaded once, :attr:`ServerState.model`), unless
    the server runs VisRank or the request names a VisRank option (aggregation, metric,
    embedding): the rule of :func:`artrec.recommend.serving.chosen_model`. The profile is
    folded in at scoring time, so a like recorded a moment ago counts at once; a person with
    no events gets the model's cold-start list (time-aware popularity). Profile items
    unknown to the catalogue (and, for VisRank, those without a vector in the embedding)
    are left out. Sold items are excluded when ``only_in_stock``: the engine reads them from
    the store, the one owner of stock.
    """
    k = cap_k(state, k)
    visrank = any(option is not None for option in (aggregation, metric, embedding))
    model = None if visrank else state.model
    cfg = request_config(state, metric=metric, aggregation=aggregation, embedding=embedding)
    catalog = state.engine.catalog
    if model is None:
        known = state.engine.with_vectors(list(dict.fromkeys(profile)), cfg.embedding)
    else:
        known = [i for i in dict.fromkeys(profile) if catalog.has(i)]
    results: list[schemas.Recommendation] = []
    if known or model is not None:  # a model ranks an empty profile too: a cold start
        excluded = set(known)
        excluded.update(i for i in exclude or () if catalog.has(i))
        sold = state.store.sold_set()
        options: dict[str, Any] = {"config": cfg, "recommender": VISRANK}
        if model is not None:
            options = {"recommender": model.info.name}
        found = state.engine.recommend(
            known,
            k,
            exclude_item_ids=sorted(excluded),
            diversify=diversify,
            only_in_stock=only_in_stock,
            **options,
        )
        wanted = [r.item_id for r in found] + [
            r.because_item_id for r in found if r.because_item_id
        ]
        records = state.store.items(wanted, sold=sold)
        for rec in found:
            if rec.item_id not in records:
                continue
            because = None
            if rec.because_item_id is not None:
                ref = records.get(rec.because_item_id, {"item_id": rec.because_item_id})
                because = schemas.Reason(
                    item=schemas.ItemRef(
                        item_id=rec.because_item_id,
                        title=ref.get("title"),
                        artist=ref.get("artist"),
                        image_url=image_url(rec.because_item_id),
                    ),
                    score=_finite(rec.because_score),
                )
            results.append(
                schemas.Recommendation(
                    item=cached_item_model(state, records[rec.item_id]),
                    score=_finite(rec.score) or 0.0,
                    because=because,
                    reason=rec.reason,
                    reason_text=rec.reason_text,
                )
            )
    assert cfg.embedding is not None
    if model is not None:
        return schemas.Recommendations(
            user_id=user_id, profile=known, k=k, recommender=model.info.name,
            aggregation=None, metric=None, embedding=None, diversify=diversify,
            results=results,
        )  # fmt: skip
    return schemas.Recommendations(
        user_id=user_id,
        profile=known,
        k=k,
        recommender=VISRANK,
        aggregation=cfg.aggregation,
        metric=cfg.metric,
        embedding=cfg.embedding,
        diversify=diversify,
        results=results,
    )
