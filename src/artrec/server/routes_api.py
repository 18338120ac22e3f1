"""REST API routes: items, images, similar items, recommendations, interactions, stock.

Errors: unknown ids give 404, invalid parameters 422 (``{"detail": message}``), ``k`` is
capped at :attr:`Settings.max_k <artrec.server.settings.Settings.max_k>`. ``/users/{id}/...``
routes serve only that user, and ``PATCH /items/{id}`` only the admin (see
:mod:`artrec.server.access`): 401 without credentials, 403 when not allowed, 429 over the
write limit. Every rule a route applies is in its OpenAPI schema, and every status it may
answer is documented there.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from artrec.errors import DataError, UnknownIdError, short_repr
from artrec.server import schemas, service
from artrec.server.access import Caller, UserIdPath, admin, reader, writer
from artrec.server.auth import CSRF_HEADER, Identity
from artrec.server.schemas import AggregationName, ItemId, MetricName, Name, SearchText
from artrec.server.service import check_item_id, check_text, item_model
from artrec.server.state import ServerState, get_state

router = APIRouter()

State = Annotated[ServerState, Depends(get_state)]
Reader = Annotated[Identity, Depends(reader)]
Writer = Annotated[Identity, Depends(writer)]
Admin = Annotated[Identity, Depends(admin)]

#: Files the image endpoint serves, by suffix.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})


def _error(description: str) -> dict[str, Any]:
    return {"model": schemas.ErrorBody, "description": description}


_Responses = dict[int | str, dict[str, Any]]

_NOT_FOUND: _Responses = {404: _error("Unknown id")}
_INVALID: _Responses = {422: _error("Invalid parameters (the message names the culprit)")}
_READ: _Responses = {
    401: _error("No visitor cookie and no bearer token, or an invalid token"),
    403: _error("The caller may not read this user's data"),
}
_WRITE: _Responses = {
    400: _error("Malformed request (a body that cannot be decoded, an invalid Content-Length)"),
    401: _error("No visitor cookie and no bearer token, or an invalid token"),
    403: _error(
        f"Not allowed: another user's data, or a cookie-authenticated write without the "
        f"visitor's {CSRF_HEADER} header or from another site"
    ),
    408: _error("The request body did not arrive in time"),
    413: _error("Body too large"),
    429: _error("Too many writes by this identity; see the Retry-After header"),
    503: _error("The store is read-only (a read-only workspace)"),
}
_BODY: _Responses = {
    400: _error("Malformed request (a body that cannot be decoded, an invalid Content-Length)"),
    408: _error("The request body did not arrive in time"),
    413: _error("Body too large"),
}

ItemIdPath = Annotated[
    ItemId, PathParam(description="Artwork id: 1-256 characters, no control characters.")
]
KQuery = Annotated[int, Query(ge=1, description="Number of results; capped by the server.")]
MetricQuery = Annotated[
    MetricName | None, Query(description="Similarity metric (default: the server's).")
]
AggregationQuery = Annotated[
    AggregationName | None, Query(description="Profile aggregation (default: the server's).")
]
EmbeddingQuery = Annotated[
    Name | None, Query(description="Embedding name (default: the server's); unknown: 404.")
]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` serialised by pydantic-core in one pass.

    Routes declare ``response_model`` for the OpenAPI schema but return this, which skips
    FastAPI's second validation of an already validated model (about a millisecond per
    request on the similar and recommendation endpoints).
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


#: Scoring work, in (catalogue item x profile item) pairs, up to which a similar-items or
#: recommendation request is computed on the event loop rather than handed to the thread
#: pool. Handing a request to a thread and back cost 0.25-0.35 ms of CPU per request on
#: the 2-core benchmark machine, as much as the whole similar-items computation, and
#: computing inline raised throughput by 25-45% (docs/benchmarks.md). 200,000 pairs is
#: a 35-item profile over 5,736 works, a few milliseconds at most; bigger requests, and
#: every request of a server whose store is not a local SQLite file (its reads wait on the
#: network), still go to the threads, so the event loop is never held for long.
INLINE_PAIRS = 200_000


def scored_inline(state: ServerState, profile_items: int, diversify: float | None = None) -> bool:
    """Whether a scoring request is computed on the event loop: the store is SQLite, there
    is no MMR re-ranking, and the catalogue times ``profile_items`` (at least 1) is at most
    :data:`INLINE_PAIRS`."""
    return (
        state.store.backend == "sqlite"
        and diversify is None
        and len(state.engine.catalog) * max(1, profile_items) <= INLINE_PAIRS
    )


async def computed(inline: bool, compute: Callable[[], BaseModel]) -> Response:
    """``compute()``'s answer as JSON, computed here on the event loop when ``inline``
    (:func:`scored_inline`), else in the request thread pool (at most
    ``--request-threads`` at once)."""
    if inline:
        return json_response(compute())
    return json_response(await run_in_threadpool(compute))


# -- health -------------------------------------------------------------------------------------
@router.get("/health", response_model=schemas.Health, tags=["meta"])
async def health(state: State) -> schemas.Health:
    """Liveness and a summary of what is loaded.

    ``async``: it runs on the event loop, never queued behind recommendation requests in
    the thread pool (its database ping is one ``SELECT 1`` on a pooled connection).
    """
    ok = state.store.ping()
    return schemas.Health(
        status="ok" if ok else "degraded",
        items=len(state.engine.catalog),
        embedding=state.default_embedding,
        embeddings=list(state.engine.embedding_names),
        database="postgresql" if state.store.backend == "postgresql" else "sqlite",
        database_ok=ok,
        model=service.model_info(state),
    )


# -- items --------------------------------------------------------------------------------------
@router.get("/me", response_model=schemas.Me, responses=_READ, tags=["meta"])
async def me(state: State, who: Caller) -> schemas.Me:
    """Who the server takes the caller for: the visitor of the cookie, the user of a token,
    the admin, or nobody (the anonymous)."""
    csrf = None
    if who.via_cookie and who.subject is not None:
        csrf = state.auth.csrf_token(who.subject)
    return schemas.Me(
        kind=who.kind, user_id=who.subject, scopes=sorted(who.scopes), csrf_token=csrf
    )


@router.get("/items", response_model=schemas.ItemPage, responses=_INVALID, tags=["items"])
def list_items(
    state: State,
    q: Annotated[SearchText | None, Query(description="Text searched in title and artist.")] = None,
    artist: Annotated[
        SearchText | None, Query(description="Exact artist (case-insensitive).")
    ] = None,
    century: Annotated[SearchText | None, Query(description="Century: '19', 'BCE', ...")] = None,
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


@router.get(
    "/items/{item_id}",
    response_model=schemas.Item,
    responses={**_NOT_FOUND, **_INVALID},
    tags=["items"],
)
def get_item(state: State, item_id: ItemIdPath) -> schemas.Item:
    """One artwork."""
    return item_model(state.store.item(check_item_id(item_id)))


@router.patch(
    "/items/{item_id}",
    response_model=schemas.Item,
    responses={
        **_NOT_FOUND,
        **_INVALID,
        **_WRITE,
        401: _error("No admin token"),
        403: _error("The caller is not the admin"),
    },
    tags=["items"],
)
def patch_item(
    state: State, _who: Admin, item_id: ItemIdPath, body: schemas.StockPatch
) -> schemas.Item:
    """Mark an artwork sold (``{"in_stock": false}``) or back in stock (admin only).

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
        404: _error("Unknown id or no servable image"),
        **_INVALID,
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
        raise UnknownIdError(f"item {short_repr(item_id)} has no image")
    if location.startswith(("http://", "https://")):
        return RedirectResponse(location, status_code=307)
    path = _servable_image(location, state)
    if path is None:
        raise UnknownIdError(f"item {short_repr(item_id)} has no image in the image store")
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
    responses={
        404: _error("Unknown id or embedding, or an artwork without a vector yet"),
        **_INVALID,
    },
    tags=["recommendations"],
)
async def similar_items(
    state: State,
    item_id: ItemIdPath,
    k: KQuery = 10,
    metric: MetricQuery = None,
    embedding: EmbeddingQuery = None,
) -> Response:
    """The ``k`` artworks most similar to one artwork (the artwork itself left out).

    Computed on the event loop for a catalogue of up to :data:`INLINE_PAIRS` works (see
    :func:`scored_inline`), else in the thread pool, so a long search never blocks the loop
    (``/health`` stays fast).
    """
    return await computed(
        scored_inline(state, 1),
        lambda: service.similar(state, item_id, k=k, metric=metric, embedding=embedding),
    )


# -- recommendations ----------------------------------------------------------------------------
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
    responses={**_READ, 404: _error("Unknown embedding"), **_INVALID},
    tags=["recommendations"],
)
async def user_recommendations(
    state: State,
    _who: Reader,
    user_id: UserIdPath,
    k: KQuery = 10,
    aggregation: AggregationQuery = None,
    diversify: DiversifyQuery = None,
    metric: MetricQuery = None,
    embedding: EmbeddingQuery = None,
) -> Response:
    """Recommendations from the user's recorded likes and purchases (empty for a new user).

    Served to that user only (their visitor cookie or a token for them) and the admin.
    Computed on the event loop or in the thread pool as :func:`scored_inline` decides; the
    profile is read there too (with PostgreSQL, always in the pool).
    """
    kinds = state.settings.recommend_kinds

    def answer(profile: list[str]) -> schemas.Recommendations:
        return service.recommend(
            state,
            profile,
            k=k,
            aggregation=aggregation,
            metric=metric,
            embedding=embedding,
            diversify=diversify,
            user_id=user_id,
        )

    if not scored_inline(state, 1, diversify):  # PostgreSQL, MMR or a large catalogue
        return await computed(False, lambda: answer(state.store.user_item_ids(user_id, kinds)))
    profile = state.store.user_item_ids(user_id, kinds)  # SQLite: cached, or one local read
    return await computed(scored_inline(state, len(profile)), lambda: answer(profile))


@router.post(
    "/recommendations",
    response_model=schemas.Recommendations,
    responses={
        404: _error("An unknown liked item id or embedding"),
        **_INVALID,
        **_BODY,
    },
    tags=["recommendations"],
)
async def anonymous_recommendations(state: State, body: schemas.RecommendRequest) -> Response:
    """Recommendations for a visitor without an account, from the liked ids in the body.

    Computed on the event loop when the profile and the excluded ids are small (see
    :data:`INLINE_PAIRS`) and there is no re-ranking, else in the thread pool: scoring is
    CPU work, and a long one must not block the event loop.
    """
    limit = state.settings.max_profile_items
    if len(body.liked_item_ids) > limit:
        raise DataError(f"liked_item_ids: at most {limit} ids, got {len(body.liked_item_ids)}")
    if len(body.exclude_item_ids) > 10 * limit:
        raise DataError(f"exclude_item_ids: at most {10 * limit} ids")
    for item_id in body.liked_item_ids:
        check_item_id(item_id)
        if not state.engine.catalog.has(item_id):
            raise UnknownIdError(f"unknown item id {short_repr(item_id)} in liked_item_ids")
    profile_items = len(body.liked_item_ids) + len(body.exclude_item_ids)
    return await computed(
        scored_inline(state, profile_items, body.diversify),
        lambda: service.recommend(
            state,
            body.liked_item_ids,
            k=body.k,
            aggregation=body.aggregation,
            metric=body.metric,
            embedding=body.embedding,
            diversify=body.diversify,
            exclude=body.exclude_item_ids,
            only_in_stock=body.only_in_stock,
        ),
    )


# -- interactions -------------------------------------------------------------------------------
@router.get(
    "/users/{user_id}/interactions",
    response_model=schemas.UserLikes,
    responses={**_READ, **_INVALID},
    tags=["interactions"],
)
def user_interactions(
    state: State,
    _who: Reader,
    user_id: UserIdPath,
    kind: Annotated[
        list[Literal["like", "purchase"]] | None,
        Query(description="like and/or purchase (default both)"),
    ] = None,
) -> schemas.UserLikes:
    """The distinct items a user liked or bought, in order of first interaction.

    Served to that user only (their visitor cookie or a token for them) and the admin.
    """
    kinds: list[str] = list(dict.fromkeys(kind)) if kind else ["like", "purchase"]
    return schemas.UserLikes(
        user_id=user_id, kinds=kinds, item_ids=state.store.user_item_ids(user_id, kinds)
    )


@router.post(
    "/users/{user_id}/interactions",
    response_model=schemas.InteractionOut,
    status_code=201,
    responses={**_NOT_FOUND, **_INVALID, **_WRITE},
    tags=["interactions"],
)
def add_interaction(
    state: State, _who: Writer, user_id: UserIdPath, body: schemas.InteractionIn
) -> schemas.InteractionOut:
    """Record a like or a purchase; the user's next recommendations reflect it at once.

    Only that user (their visitor cookie with its CSRF header, or a token for them with the
    ``write`` scope) and the admin may write.
    """
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
    responses={**_NOT_FOUND, **_INVALID, **_WRITE},
    tags=["interactions"],
)
def delete_interaction(
    state: State,
    _who: Writer,
    user_id: UserIdPath,
    item_id: ItemIdPath,
    kind: Annotated[
        Literal["like", "purchase", "all"], Query(description="like (default), purchase, or all")
    ] = "like",
) -> schemas.Deleted:
    """Undo a like (or, with ``kind=purchase|all``, remove purchases). Unknown items give 404.

    Only that user (their visitor cookie with its CSRF header, or a token for them with the
    ``write`` scope) and the admin may delete.
    """
    check_item_id(item_id)
    if not state.store.has_item(item_id):
        raise UnknownIdError(f"unknown item id {short_repr(item_id)}")
    deleted = state.store.delete_interactions(user_id, item_id, None if kind == "all" else kind)
    return schemas.Deleted(
        user_id=user_id, item_id=item_id, kind=None if kind == "all" else kind, deleted=deleted
    )
