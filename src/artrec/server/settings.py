"""Configuration of the artrec server.

:class:`Settings` only holds values; nothing is opened or loaded here. The app factory
(:func:`artrec.server.app.create_app`) turns a :class:`Settings` into a running app.
Settings travel to uvicorn worker processes as JSON in the environment variable
:data:`SETTINGS_ENV` (see :meth:`Settings.to_json` and :meth:`Settings.from_json`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from artrec.config import VisRankConfig
from artrec.errors import ArtrecError

#: Environment variable that carries the settings (JSON) to uvicorn worker processes.
SETTINGS_ENV = "ARTREC_SERVER_SETTINGS"

#: Interaction kinds the API records.
INTERACTION_KINDS: tuple[str, ...] = ("like", "purchase")


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start.

    Parameters
    ----------
    workspace
        The artrec workspace directory (catalogue, embeddings, images).
    database_url
        SQLAlchemy URL of the interaction/stock store. ``None`` (the default) uses the
        workspace's own SQLite database ``artrec.db``; a ``postgresql://`` URL uses
        PostgreSQL, whose schema is created and filled from the workspace on first start.
    max_k
        Largest number of results one request returns; larger ``k`` values are capped.
    max_page_size
        Largest page of ``GET /items``.
    max_body_bytes
        Request bodies larger than this are refused with 413.
    max_profile_items
        Most liked item ids one ``POST /recommendations`` body may carry.
    visrank
        The default VisRank configuration; its embedding ``None`` means the workspace's
        default embedding.
    recommender
        Which recommender answers (:func:`artrec.recommend.serving.chosen_model`): ``None``
        (default) the workspace's chosen model (saved by ``artrec tune``) when it has one,
        else VisRank; ``"visrank"``: VisRank; another name: that saved model. A request that
        names a VisRank option (aggregation, metric, embedding) is answered by VisRank.
    index
        Index kind handed to :meth:`artrec.engine.Engine.from_workspace` (``"exact"``,
        ``"faiss-hnsw"``, ...).
    index_params
        Extra parameters of the index.
    image_roots
        Directories, besides the workspace's ``images/`` folder, from which item images
        may be served. An image file outside all of them is never served.
    recommend_kinds
        Interaction kinds that make up a user's profile.
    cookie_name
        Name of the cookie that carries a web visitor's signed user id.
    secret_key
        Secret that signs visitor cookies, CSRF tokens and API tokens; ``None``:
        ``$ARTREC_SECRET_KEY``, else the workspace's ``server-secret`` file (made on first
        start). See :mod:`artrec.server.auth`.
    admin_token
        Bearer token of the administrator (stock changes, anyone's data); ``None``:
        ``$ARTREC_ADMIN_TOKEN``, else no administrator.
    cookie_secure
        Send the visitor cookie with ``Secure``; ``None``: when the request came over https.
    max_writes_per_minute
        Writes one identity (visitor, token user) may make per minute, per server process,
        in bursts of up to as many; ``0``: no limit. The admin token is not limited.
    keep_alive_timeout
        Seconds an idle keep-alive connection stays open.
    header_timeout
        Seconds a client has to send a request's headers, from the moment its connection
        opens or its previous response ends; a slower client is disconnected.
    body_timeout
        Seconds a client has to send a request's body once its headers arrived (408 after).
    request_threads
        Threads per server process that run the bigger scoring requests (similar items
        and recommendations over more than
        :data:`~artrec.server.routes_api.INLINE_PAIRS` pairs, with MMR, or on
        PostgreSQL; smaller ones are scored on the event loop); requests beyond them wait
        without blocking the event loop. Default: the number of CPUs, at most 8.
    """

    workspace: Path
    database_url: str | None = None
    max_k: int = 100
    max_page_size: int = 100
    max_body_bytes: int = 64 * 1024
    max_profile_items: int = 1000
    visrank: VisRankConfig = field(default_factory=VisRankConfig)
    recommender: str | None = None
    index: str = "exact"
    index_params: dict[str, Any] = field(default_factory=dict)
    image_roots: tuple[Path, ...] = ()
    recommend_kinds: tuple[str, ...] = INTERACTION_KINDS
    cookie_name: str = "artrec_visitor"
    secret_key: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    cookie_secure: bool | None = None
    max_writes_per_minute: int = 60
    keep_alive_timeout: float = 5.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    request_threads: int = field(default_factory=lambda: min(8, os.cpu_count() or 1))

    def __post_init__(self) -> None:
        object.__setattr__(self, "workspace", Path(self.workspace))
        object.__setattr__(self, "image_roots", tuple(Path(p) for p in self.image_roots))
        object.__setattr__(self, "recommend_kinds", tuple(self.recommend_kinds))
        if isinstance(self.visrank, dict):
            object.__setattr__(self, "visrank", VisRankConfig(**self.visrank))
        if not isinstance(self.visrank, VisRankConfig):
            raise ArtrecError(
                f"server setting visrank must be a VisRankConfig, got {self.visrank!r}"
            )
        for name in (
            "max_k",
            "max_page_size",
            "max_body_bytes",
            "max_profile_items",
            "request_threads",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ArtrecError(
                    f"server setting {name} must be a positive integer, got {value!r}"
                )
        value = self.max_writes_per_minute
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ArtrecError(
                f"server setting max_writes_per_minute must be an integer >= 0, got {value!r}"
            )
        for name in ("keep_alive_timeout", "header_timeout", "body_timeout"):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or not 0 < value <= 3600:
                raise ArtrecError(
                    f"server setting {name} must be a number of seconds in (0, 3600], got {value!r}"
                )
        bad = [k for k in self.recommend_kinds if k not in INTERACTION_KINDS]
        if bad or not self.recommend_kinds:
            raise ArtrecError(
                f"server setting recommend_kinds must be some of {', '.join(INTERACTION_KINDS)}, "
                f"got {list(self.recommend_kinds)}"
            )

    def to_json(self) -> str:
        """The settings as a JSON string (paths as text)."""
        data = asdict(self)
        data["workspace"] = str(self.workspace)
        data["image_roots"] = [str(p) for p in self.image_roots]
        data["recommend_kinds"] = list(self.recommend_kinds)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        """Settings from :meth:`to_json` output; raises :class:`ArtrecError` on bad input."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArtrecError(f"server settings are not valid JSON ({exc})") from None
        if not isinstance(data, dict) or "workspace" not in data:
            raise ArtrecError("server settings must be a JSON object with a 'workspace'")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ArtrecError(f"unknown server setting(s): {', '.join(unknown)}")
        data["image_roots"] = tuple(data.get("image_roots") or ())
        data["recommend_kinds"] = tuple(data.get("recommend_kinds") or INTERACTION_KINDS)
        return cls(**data)
