"""REST API routes: items, images, similar items, recommendations, interactions, stock.

Errors: unknown ids give 404, invalid parameters 422 (``{"detail": message}``), ``k`` is
capped at :attr:`Settings.max_k <artrec.server.settings.Settings.max_k>`.
"""

from __future__ import annotations

import functools
import math
import mimetypes
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel

from artrec.errors import DataError, UnknownIdError
from artrec.server import schemas
from artrec.server.app import ServerState, get_state

router = APIRouter()

State = Annotated[ServerState, Depends(get_state)]

#: Longest id accepted anywhere in the API.
MAX_ID_LENGTH = 256
#: Longest search text.
MAX_QUERY_LENGTH = 200
#: Files the image endpoint serves, by suffix.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.ErrorBody, "description": "Unknown id"},
    422: {"model": schemas.ErrorBody, "description": "Invalid parameters"},
}

ItemIdPath = Annotated[str, PathParam(description="Artwork id.")]
UserIdPath = Annotated[str, PathParam(description="User id (1-128 printable characters).")]
KQuery = Annotated[int, Query(ge=1, description="Number of results; capped by the server.")]


# -- validation helpers ------------------------------------------------------------------------
def _printable(text: str) -> bool:
    return all(ch.isprintable() for ch in text)


def check_item_id(item_id: str) -> str:
    """``item_id`` if it could name an item; otherwise :class:`UnknownIdError` (404)."""
    if not item_id or len(item_id) > MAX_ID_LENGTH or not _printable(item_id):
        raise UnknownIdError(f"unknown item id {item_id[:MAX_ID_LENGTH]!r}")
    return item_id


def check_user_id(user_id: str) -> str:
    """``user_id`` if well formed (1-128 printable characters); otherwise 422."""
    if not user_id or len(user_id) > 128 or not _printable(user_id) or user_id != user_id.strip():
        raise DataError(
            f"invalid user id {user_id[:128]!r}: use 1-128 printable characters, no edge spaces"
        )
    return user_id


def check_text(value: str | None, name: str) -> str | None:
    """A free-text parameter, or 422 when it holds control characters or is too long."""
    if value is None:
        return None
    if len(value) > MAX_QUERY_LENGTH or not _printable(value):
        raise DataError(f"invalid {name}: at most {MAX_QUERY_LENGTH} printable characters")
    return value.strip() or None


def cap_k(state: ServerState, k: int) -> int:
    """``k`` capped at the server's ``max_k``."""
    return min(int(k), state.settings.max_k)


def check_metric(metric: str | None, state: ServerState) -> str:
    """The metric to use (server default for ``None``); 422 for an unknown one."""
    from artrec.similarity import METRICS

    chosen = metric or state.settings.metric
    if chosen not in METRICS:
        raise DataError(f"unknown metric {chosen[:64]!r}; choose one of {', '.join(METRICS)}")
    return chosen


def check_embedding(embedding: str | None, state: ServerState) -> str:
    """The embedding to use (server default for ``None``); 422 for an unknown one."""
    chosen = embedding or state.default_embedding
    names = list(state.engine.embedding_names)
    if chosen not in names:
        raise DataError(f"unknown embedding {chosen[:64]!r}; choose one of {', '.join(names)}")
    return chosen


def check_aggregation(aggregation: str | None, state: ServerState) -> str:
    """The aggregation to use (server default for ``None``); 422 for an unknown one."""
    chosen = aggregation or state.settings.aggregation
    known = _known_aggregations()
    if known and chosen not in known:
        raise DataError(f"unknown aggregation {chosen[:64]!r}; choose one of {', '.join(known)}")
    if not _printable(chosen) or len(chosen) > 64:
        raise DataError("invalid aggregation")
    return chosen


def _known_aggregations() -> tuple[str, ...]:
    import importlib

    from artrec.recommend import visrank

    engine_module = importlib.import_module("artrec.engine")
    known = getattr(engine_module, "AGGREGATIONS", None) or visrank.AGGREGATIONS
    return tuple(str(a) for a in known)


def item_model(record: dict[str, Any]) -> schemas.Item:
    """An :class:`schemas.Item` from a store record."""
    return schemas.Item(**record, image_url=image_url(record["item_id"]))


#: Most item models :func:`cached_item_model` keeps per server process.
ITEM_MODEL_CACHE = 50_000


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


@functools.lru_cache(maxsize=65_536)
def image_url(item_id: str) -> str:
    """The server path of an item's image."""
    from urllib.parse import quote

    return f"/items/{quote(item_id, safe='')}/image"


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` serialised by pydantic-core in one pass.

    Routes declare ``response_model`` for the OpenAPI schema but return this, which skips
    FastAPI's second validation of an already validated model (about a millisecond per
    request on the similar and recommendation endpoints).
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# -- health -------------------------------------------------------------------------------------
@router.get("/health", response_model=schemas.Health, tags=["meta"])
def health(state: State) -> schemas.Health:
    """Liveness and a summary of what is loaded."""
    ok = state.store.ping()
    return schemas.Health(
        status="ok" if ok else "degraded",
        items=len(state.engine.catalog),
        embedding=state.default_embedding,
        embeddings=list(state.engine.embedding_names),
        database="postgresql" if state.store.backend == "postgresql" else "sqlite",
        database_ok=ok,
    )


# -- items --------------------------------------------------------------------------------------
@router.get("/items", response_model=schemas.ItemPage, responses=_ERRORS, tags=["items"])
def list_items(
    state: State,
    q: Annotated[str | None, Query(description="Text searched in title and artist.")] = None,
    artist: Annotated[str | None, Query(description="Exact artist (case-insensitive).")] = None,
    century: Annotated[str | None, Query(description="Century: '19', 'BCE', ...")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, description="Items per page (capped).")] = 24,
) -> Response:
    """A page of the catalogue, optionally searched and filtered."""
    q = check_text(q, "q")
    artist = check_text(artist, "artist")
    century = check_text(century, "century")
    per_page = min(per_page, state.settings.max_page_size)
    total, rows = state.store.search(
        q=q, artist=artist, century=century, offset=(page - 1) * per_page, limit=per_page
    )
    return json_response(
        schemas.ItemPage(
            items=[item_model(r) for r in rows],
            total=total,
            page=page,
            per_page=per_page,
            pages=max(1, -(-total // per_page)),
        )
    )


@router.get("/items/{item_id}", response_model=schemas.Item, responses=_ERRORS, tags=["items"])
def get_item(state: State, item_id: ItemIdPath) -> schemas.Item:
    """One artwork."""
    return item_model(state.store.item(check_item_id(item_id)))


@router.patch("/items/{item_id}", response_model=schemas.Item, responses=_ERRORS, tags=["items"])
def patch_item(state: State, item_id: ItemIdPath, body: schemas.StockPatch) -> schemas.Item:
    """Mark an artwork sold (``{"in_stock": false}``) or back in stock.

    Sold artworks drop out of every recommendation at once (similar-item lists still show
    them, marked sold).
    """
    check_item_id(item_id)
    state.store.set_in_stock(item_id, body.in_stock)
    return item_model(state.store.item(item_id))


@router.get(
    "/items/{item_id}/image",
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The image file"},
        307: {"description": "Redirect to the catalogue's remote image URL"},
        404: {"model": schemas.ErrorBody, "description": "Unknown id or no servable image"},
    },
    response_class=Response,
    tags=["items"],
)
def get_image(state: State, item_id: ItemIdPath) -> Response:
    """The artwork's image, from the workspace's image store only.

    The item is looked up in the database and its *recorded* image location is used: a
    local file is served only when it lies inside the workspace's ``images/`` folder or a
    configured image root and has an image suffix; an http(s) URL gives a redirect (307)
    to it; anything else is 404. No file path is ever built from the request.
    """
    location = state.store.image_location(check_item_id(item_id))
    if not location:
        raise UnknownIdError(f"item {item_id!r} has no image")
    if location.startswith(("http://", "https://")):
        return RedirectResponse(location, status_code=307)
    path = _servable_image(location, state)
    if path is None:
        raise UnknownIdError(f"item {item_id!r} has no image in the image store")
    media_type = mimetypes.types_map.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(
        path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )


def _servable_image(location: str, state: ServerState) -> Path | None:
    if "://" in location or "\x00" in location:
        return None
    candidate = Path(location)
    if not candidate.is_absolute():
        candidate = state.settings.workspace / candidate
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if resolved.suffix.lower() not in IMAGE_SUFFIXES or not resolved.is_file():
        return None
    if not any(resolved.is_relative_to(root) for root in state.image_roots):
        return None
    return resolved


# -- similar items ------------------------------------------------------------------------------
@router.get(
    "/items/{item_id}/similar",
    response_model=schemas.SimilarItems,
    responses=_ERRORS,
    tags=["recommendations"],
)
async def similar_items(
    state: State,
    item_id: ItemIdPath,
    k: KQuery = 10,
    metric: Annotated[str | None, Query(description="Similarity metric.")] = None,
    embedding: Annotated[str | None, Query(description="Embedding name.")] = None,
) -> Response:
    """The ``k`` artworks most similar to one artwork (the artwork itself left out)."""
    check_item_id(item_id)
    k = cap_k(state, k)
    metric = check_metric(metric, state)
    embedding = check_embedding(embedding, state)
    if not state.engine.catalog.has(item_id):
        state.store.item(item_id)  # 404 when unknown to the store as well
        raise UnknownIdError(f"item {item_id!r} has no embedding yet")
    found = state.engine.similar(item_id, k, metric=metric, embedding=embedding)
    records = state.store.items(n.item_id for n in found)
    results = [
        schemas.Neighbour(
            item=cached_item_model(state, records[n.item_id]), score=_finite(n.score) or 0.0
        )
        for n in found
        if n.item_id in records
    ]
    return json_response(
        schemas.SimilarItems(
            item_id=item_id, metric=metric, embedding=embedding, k=k, results=results
        )
    )


# -- recommendations ----------------------------------------------------------------------------
def recommend(
    state: ServerState,
    profile: list[str],
    *,
    k: int,
    aggregation: str | None,
    metric: str | None,
    embedding: str | None,
    diversify: float | None,
    exclude: list[str] | None = None,
    only_in_stock: bool = True,
    user_id: str | None = None,
) -> schemas.Recommendations:
    """Recommendations for a profile of item ids, each with its reason.

    Profile items unknown to the recommender are left out. Sold items (per the store)
    are excluded when ``only_in_stock``; the store, not the workspace, is the source of
    truth for stock.
    """
    k = cap_k(state, k)
    aggregation = check_aggregation(aggregation, state)
    metric = check_metric(metric, state)
    embedding = check_embedding(embedding, state)
    catalog = state.engine.catalog
    known = [i for i in dict.fromkeys(profile) if catalog.has(i)]
    results: list[schemas.Recommendation] = []
    if known:
        excluded = set(known)
        excluded.update(i for i in exclude or () if catalog.has(i))
        sold = state.store.sold_set()
        if only_in_stock:
            excluded.update(i for i in sold if catalog.has(i))
        found = state.engine.recommend(
            known,
            k,
            aggregation=aggregation,
            metric=metric,
            embedding=embedding,
            exclude_item_ids=sorted(excluded),
            diversify=diversify,
            only_in_stock=False,
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
                )
            )
    return schemas.Recommendations(
        user_id=user_id,
        profile=known,
        k=k,
        aggregation=aggregation,
        metric=metric,
        embedding=embedding,
        diversify=diversify,
        results=results,
    )


DiversifyQuery = Annotated[
    float | None,
    Query(
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="MMR lambda in [0, 1] (1: similarity only); leave out for no re-ranking.",
    ),
]


@router.get(
    "/users/{user_id}/recommendations",
    response_model=schemas.Recommendations,
    responses=_ERRORS,
    tags=["recommendations"],
)
def user_recommendations(
    state: State,
    user_id: UserIdPath,
    k: KQuery = 10,
    aggregation: str | None = None,
    diversify: DiversifyQuery = None,
    metric: str | None = None,
    embedding: str | None = None,
) -> Response:
    """Recommendations from the user's recorded likes and purchases (empty for a new user)."""
    check_user_id(user_id)
    profile = state.store.user_item_ids(user_id, state.settings.recommend_kinds)
    return json_response(
        recommend(
            state,
            profile,
            k=k,
            aggregation=aggregation,
            metric=metric,
            embedding=embedding,
            diversify=diversify,
            user_id=user_id,
        )
    )


@router.post(
    "/recommendations",
    response_model=schemas.Recommendations,
    responses={**_ERRORS, 413: {"model": schemas.ErrorBody, "description": "Body too large"}},
    tags=["recommendations"],
)
async def anonymous_recommendations(state: State, body: schemas.RecommendRequest) -> Response:
    """Recommendations for a visitor without an account, from the liked ids in the body."""
    limit = state.settings.max_profile_items
    if len(body.liked_item_ids) > limit:
        raise DataError(f"liked_item_ids: at most {limit} ids, got {len(body.liked_item_ids)}")
    if len(body.exclude_item_ids) > 10 * limit:
        raise DataError(f"exclude_item_ids: at most {10 * limit} ids")
    for item_id in body.liked_item_ids:
        check_item_id(item_id)
        if not state.engine.catalog.has(item_id):
            raise UnknownIdError(f"unknown item id {item_id!r} in liked_item_ids")
    for name, value in (
        ("aggregation", body.aggregation),
        ("metric", body.metric),
        ("embedding", body.embedding),
    ):
        check_text(value, name)
    return json_response(
        recommend(
            state,
            body.liked_item_ids,
            k=body.k,
            aggregation=body.aggregation,
            metric=body.metric,
            embedding=body.embedding,
            diversify=body.diversify,
            exclude=body.exclude_item_ids,
            only_in_stock=body.only_in_stock,
        )
    )


# -- interactions -------------------------------------------------------------------------------
@router.get(
    "/users/{user_id}/interactions",
    response_model=schemas.UserLikes,
    responses=_ERRORS,
    tags=["interactions"],
)
def user_interactions(
    state: State,
    user_id: UserIdPath,
    kind: Annotated[list[str] | None, Query(description="like and/or purchase")] = None,
) -> schemas.UserLikes:
    """The distinct items a user liked or bought, in order of first interaction."""
    check_user_id(user_id)
    kinds = kind or ["like", "purchase"]
    bad = [x for x in kinds if x not in ("like", "purchase")]
    if bad:
        raise DataError(f"unknown interaction kind {bad[0][:32]!r}; choose like or purchase")
    return schemas.UserLikes(
        user_id=user_id, kinds=kinds, item_ids=state.store.user_item_ids(user_id, kinds)
    )


@router.post(
    "/users/{user_id}/interactions",
    response_model=schemas.InteractionOut,
    status_code=201,
    responses={**_ERRORS, 413: {"model": schemas.ErrorBody, "description": "Body too large"}},
    tags=["interactions"],
)
def add_interaction(
    state: State, user_id: UserIdPath, body: schemas.InteractionIn
) -> schemas.InteractionOut:
    """Record a like or a purchase; the user's next recommendations reflect it at once."""
    check_user_id(user_id)
    check_item_id(body.item_id)
    created = state.store.add_interaction(user_id, body.item_id, body.kind)
    profile = state.store.user_item_ids(user_id, state.settings.recommend_kinds)
    return schemas.InteractionOut(
        user_id=user_id,
        item_id=body.item_id,
        kind=body.kind,
        created=created,
        profile_size=len(profile),
    )


@router.delete(
    "/users/{user_id}/interactions/{item_id}",
    response_model=schemas.Deleted,
    responses=_ERRORS,
    tags=["interactions"],
)
def delete_interaction(
    state: State,
    user_id: UserIdPath,
    item_id: ItemIdPath,
    kind: Annotated[str, Query(description="like (default), purchase, or all")] = "like",
) -> schemas.Deleted:
    """Undo a like (or, with ``kind=purchase|all``, remove purchases). Unknown items give 404."""
    check_user_id(user_id)
    check_item_id(item_id)
    if kind not in ("like", "purchase", "all"):
        raise DataError(f"unknown interaction kind {kind[:32]!r}; choose like, purchase or all")
    if not state.store.has_item(item_id):
        raise UnknownIdError(f"unknown item id {item_id!r}")
    deleted = state.store.delete_interactions(user_id, item_id, None if kind == "all" else kind)
    return schemas.Deleted(
        user_id=user_id, item_id=item_id, kind=None if kind == "all" else kind, deleted=deleted
    )
