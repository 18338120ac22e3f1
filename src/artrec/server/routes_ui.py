"""The web gallery: server-rendered Jinja2 pages with a little plain JavaScript.

Pages: the gallery grid (``/``, search, filters, paging plus infinite scroll), an artwork
page (``/artworks/{id}``: large image, metadata, similar works) and "For you"
(``/for-you``: live recommendations, each with "because you liked ..."; a switch between
similarity-only and diversified MMR with a lambda slider). A visitor is identified by a
random user id in a signed cookie set on the first visit (:mod:`artrec.server.auth`); the
pages' like buttons call the same ``POST /users/{id}/interactions`` and ``DELETE``
endpoints as any API client, with the visitor's CSRF token in a header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from artrec.errors import ArtrecError, UnknownIdError, short_repr
from artrec.server import service
from artrec.server.state import ServerState, get_state

router = APIRouter(include_in_schema=False)
State = Annotated[ServerState, Depends(get_state)]

_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

#: Content-Security-Policy of every page: no inline script, no third-party code.
CSP = (
    "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
GALLERY_PAGE_SIZE = 24
FOR_YOU_K = 24
SIMILAR_K = 12
DEFAULT_LAMBDA = 0.5


def visitor_id(request: Request, state: ServerState) -> tuple[str, bool]:
    """The visitor's user id from the signed cookie, and whether it is new (a fresh uuid4,
    when the cookie is missing or forged)."""
    cached: tuple[str, bool] | None = getattr(request.state, "visitor", None)
    if cached is not None:
        return cached
    known = state.auth.visitor_from_cookie(request.cookies.get(state.settings.cookie_name))
    found = (known, False) if known is not None else (state.auth.new_visitor_id(), True)
    request.state.visitor = found
    return found


def render(
    request: Request,
    state: ServerState,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    """Render ``template`` for the visitor, setting the signed visitor cookie on a first
    visit; the page carries the visitor's CSRF token for its script's writes."""
    user_id, new = visitor_id(request, state)
    liked = set(state.store.user_item_ids(user_id, ("like",)))
    response = _TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "user_id": user_id,
            "csrf_token": state.auth.csrf_token(user_id),
            "liked": liked,
            **context,
        },
        status_code=status_code,
    )
    if new:
        secure = state.settings.cookie_secure
        response.set_cookie(
            state.settings.cookie_name,
            state.auth.visitor_cookie(user_id),
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https" if secure is None else secure,
            path="/",
        )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _error_page(request: Request, state: ServerState, status: int, message: str) -> Response:
    return render(
        request, state, "error.html", {"status": status, "message": message}, status_code=status
    )


@router.get("/", response_class=HTMLResponse)
def gallery(
    request: Request,
    state: State,
    q: str | None = None,
    artist: str | None = None,
    century: str | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """The gallery grid with search, filters and paging."""
    try:
        q = service.check_text(q, "q")
        artist = service.check_text(artist, "artist")
        century = service.check_text(century, "century")
    except ArtrecError as exc:
        return _error_page(request, state, 422, str(exc))
    total, rows = state.store.search(
        q=q,
        artist=artist,
        century=century,
        offset=(page - 1) * GALLERY_PAGE_SIZE,
        limit=GALLERY_PAGE_SIZE,
    )
    pages = max(1, -(-total // GALLERY_PAGE_SIZE))
    return render(
        request,
        state,
        "gallery.html",
        {
            "items": [service.item_model(r) for r in rows],
            "total": total,
            "page": page,
            "pages": pages,
            "per_page": GALLERY_PAGE_SIZE,
            "q": q or "",
            "artist": artist or "",
            "century": century or "",
        },
    )


@router.get("/artworks/{item_id}", response_class=HTMLResponse)
def artwork(request: Request, state: State, item_id: str) -> Response:
    """One artwork: large image, metadata and similar works."""
    try:
        service.check_item_id(item_id)
        item = service.item_model(state.store.item(item_id))
    except UnknownIdError:
        return _error_page(request, state, 404, f"No artwork with id {short_repr(item_id)}.")
    similar: list[Any] = []
    if state.engine.has_vector(item_id, state.default_embedding):  # else "no similar works yet"
        found = state.engine.similar(
            item_id, SIMILAR_K, metric=state.config.metric, embedding=state.default_embedding
        )
        records = state.store.items(n.item_id for n in found)
        similar = [
            {"item": service.item_model(records[n.item_id]), "score": n.score}
            for n in found
            if n.item_id in records
        ]
    return render(request, state, "artwork.html", {"item": item, "similar": similar})


@router.get("/for-you", response_class=HTMLResponse)
def for_you(
    request: Request,
    state: State,
    mode: str = "similar",
    lam: Annotated[
        float, Query(ge=0.0, le=1.0, allow_inf_nan=False, alias="lambda")
    ] = DEFAULT_LAMBDA,
) -> Response:
    """Live recommendations for the visitor, each with its reason."""
    if mode not in ("similar", "diverse"):
        return _error_page(request, state, 422, "mode must be 'similar' or 'diverse'")
    user_id, _ = visitor_id(request, state)
    profile = state.store.user_item_ids(user_id, state.settings.recommend_kinds)
    recs = service.recommend(
        state, profile, k=FOR_YOU_K, diversify=lam if mode == "diverse" else None, user_id=user_id
    )
    liked_items = state.store.items(profile)
    profile_items = [service.item_model(liked_items[i]) for i in profile if i in liked_items]
    return render(
        request,
        state,
        "for_you.html",
        {
            "recs": recs,
            "profile_items": profile_items,
            "mode": mode,
            "lam": lam,
            "k": FOR_YOU_K,
        },
    )
