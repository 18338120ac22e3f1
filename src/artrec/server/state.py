"""What the server's routes share: :class:`ServerState` and how it is built.

:func:`build_state` opens the workspace, the :class:`artrec.server.store.Store` and an
:class:`artrec.engine.Engine` that reads stock from that store (its one owner). The routes
reach the state through the :func:`get_state` dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request

from artrec.config import VisRankConfig
from artrec.server.auth import Auth, WriteLimiter
from artrec.server.settings import Settings

if TYPE_CHECKING:
    from artrec.engine import Engine
    from artrec.recommend.serving import ServingModel
    from artrec.server.store import Store


@dataclass
class ServerState:
    """What the routes share: settings, recommender, store and image roots.

    Parameters
    ----------
    settings
        The server settings.
    engine
        The id-level recommender facade (stock read from ``store``).
    store
        Items, stock and interactions.
    config
        The default VisRank configuration, its embedding resolved to a name.
    image_roots
        Resolved directories from which item images may be served.
    auth
        Signs and checks visitor cookies, CSRF and API tokens (:mod:`artrec.server.auth`).
    writes
        The per-identity write limit.
    model
        The chosen model that answers recommendations (``None``: VisRank), loaded once per
        server process when the state is built (:meth:`artrec.engine.Engine.model_for`).
    item_models
        Validated item models of the hot endpoints, by ``(item_id, in_stock)``. Item
        metadata never changes while the server runs (only stock does, which is in the key).
    """

    settings: Settings
    engine: Engine
    store: Store
    config: VisRankConfig
    image_roots: tuple[Path, ...]
    auth: Auth
    writes: WriteLimiter
    model: ServingModel | None = None
    item_models: dict[tuple[str, bool], Any] = field(default_factory=dict)

    @property
    def default_embedding(self) -> str:
        """Name of the embedding used when a request names none."""
        assert self.config.embedding is not None
        return self.config.embedding


async def get_state(request: Request) -> ServerState:
    """The :class:`ServerState` of the app serving ``request``.

    ``async`` so that FastAPI calls it inline rather than through its thread pool (a
    thread hand-off per request, a noticeable share of a similar-items request's CPU).
    """
    state: ServerState = request.app.state.artrec
    return state


def build_state(settings: Settings) -> ServerState:
    """Open the workspace, the store and the recommender described by ``settings``.

    Raises :class:`ArtrecError` when the workspace, its embeddings or the database are
    missing or unusable, or when the workspace has several embeddings and no default one
    (name one in the settings).
    """
    from artrec.data.workspace import Workspace
    from artrec.engine import Engine
    from artrec.server.auth import admin_token, load_secret
    from artrec.server.store import Store

    workspace = Workspace.open(settings.workspace)
    auth = Auth(load_secret(settings.secret_key, workspace.root), admin_token(settings.admin_token))
    config = settings.visrank.with_embedding(
        workspace.resolve_embedding(settings.visrank.embedding)
    )
    store = Store.open(workspace, settings.database_url)
    try:
        engine = Engine.from_workspace(
            workspace,
            config,
            index=settings.index,
            index_params=dict(settings.index_params) or None,
            stock=store,
        )
        model = engine.model_for(settings.recommender)  # loaded once, before any request
    except BaseException:
        store.close()
        raise
    roots = [workspace.images_dir, *settings.image_roots]
    resolved = tuple(dict.fromkeys(Path(r).resolve() for r in roots))
    writes = WriteLimiter(settings.max_writes_per_minute)
    return ServerState(settings, engine, store, config, resolved, auth, writes, model)
