"""Request and response models of the REST API (pydantic), and the input rules they share
with the path and query parameters.

Every rule the server applies to a request is written into the OpenAPI schema: ids and
free text are constrained by :data:`ID_PATTERN` / :data:`TEXT_PATTERN` and their lengths,
names of metrics and aggregations by enums, booleans are strict (``{"in_stock": 0}`` is
refused). Unknown ids and embedding names are 404, since they name resources.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
)

from artrec.config import AGGREGATIONS
from artrec.limits import MAX_ID_LENGTH
from artrec.recommend.reasons import REASONS
from artrec.similarity import METRICS

#: Text without C0 or C1 control characters (no NUL, no newline, no escape sequences).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
#: An id: 1 to :data:`~artrec.limits.MAX_ID_LENGTH` characters of :data:`TEXT_PATTERN`.
ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
#: The same rule, for the checks in Python (:mod:`artrec.server.service`).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Longest search text.
MAX_QUERY_LENGTH = 200

ItemId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
]
UserId = ItemId
SearchText = Annotated[str, StringConstraints(max_length=MAX_QUERY_LENGTH, pattern=TEXT_PATTERN)]
#: A name (embedding) as text; an unknown one is 404.
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]


def _integral(value: Any) -> Any:
    """A float with no fractional part is an integer in JSON Schema (``1.0``): make it one."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


#: An integer in a JSON body: a JSON number without a fractional part, never a string or a
#: boolean (pydantic's strict ``int`` with JSON Schema's reading of ``1.0``).
JsonInt = Annotated[int, BeforeValidator(_integral), Strict()]

#: One of :data:`artrec.similarity.METRICS` (their owner), as a type.
MetricName: Any = Literal.__getitem__(METRICS)
#: One of :data:`artrec.recommend.reasons.REASONS` (their owner), as a type.
ReasonCode: Any = Literal.__getitem__(REASONS)
#: One of :data:`artrec.config.AGGREGATIONS` (their owner), as a type.
AggregationName: Any = Literal.__getitem__(AGGREGATIONS)


class ModelInfo(BaseModel):
    """The workspace's chosen model (saved by ``artrec tune``) that answers recommendations."""

    name: str
    kind: str
    validation_ndcg: float | None = Field(
        None, description="Its nDCG@k on the validation split of the training events."
    )
    stale: str | None = Field(
        None,
        description="Null when fitted on the current catalogue and log; else what moved on "
        "and the command that refreshes it.",
    )


class Health(BaseModel):
    """Answer of ``GET /health``."""

    status: Literal["ok", "degraded"]
    items: int = Field(description="Number of artworks the recommender knows.")
    embedding: str = Field(description="Default embedding.")
    embeddings: list[str]
    database: Literal["sqlite", "postgresql"]
    database_ok: bool
    model: ModelInfo | None = Field(
        None,
        description="The chosen model that answers recommendations; null: VisRank "
        "(content only) answers.",
    )


class Item(BaseModel):
    """One artwork of the catalogue."""

    item_id: str
    title: str | None = None
    artist: str | None = None
    year: int | None = None
    date: str | None = None
    medium: str | None = None
    museum: str | None = None
    city: str | None = None
    century: str | None = Field(None, description="Century as text: '19', 'BCE', or null.")
    height_cm: float | None = None
    width_cm: float | None = None
    in_stock: bool = True
    image_url: str = Field(description="Path of GET /items/{id}/image on this server.")
    extra: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class ItemPage(BaseModel):
    """A page of ``GET /items``."""

    items: list[Item]
    total: int = Field(description="Number of items matching the query.")
    page: int
    per_page: int
    pages: int


class ItemRef(BaseModel):
    """A short reference to an artwork (for reasons)."""

    item_id: str
    title: str | None = None
    artist: str | None = None
    image_url: str


class Neighbour(BaseModel):
    """A similar artwork and its similarity to the query."""

    item: Item
    score: float


class SimilarItems(BaseModel):
    """Answer of ``GET /items/{id}/similar``."""

    item_id: str
    metric: str
    embedding: str
    k: int
    results: list[Neighbour]


class Reason(BaseModel):
    """Why an artwork is recommended: the profile item it resembles most."""

    item: ItemRef
    score: float | None = Field(description="Similarity of the two artworks.")


class Recommendation(BaseModel):
    """A recommended artwork, its score and its reason."""

    item: Item
    score: float
    because: Reason | None = Field(
        description="The liked or bought artwork behind it: the one it resembles most "
        "(VisRank), or the one the chosen model's reason names; null when the reason names "
        "none."
    )
    reason: ReasonCode = Field(
        "",
        description="Why, as a code: similar, co_bought, artist, century, medium, museum, "
        "trending, popular (empty: none).",
    )
    reason_text: str = Field(
        "",
        description="Why, as a sentence: 'because you liked X', 'popular with collectors "
        "who bought X', 'by an artist you collect', 'trending this month', ...",
    )


class Recommendations(BaseModel):
    """Answer of the recommendation endpoints."""

    user_id: str | None = None
    profile: list[str] = Field(description="Item ids the recommendations are based on.")
    k: int
    recommender: str = Field(
        "visrank",
        description="Who answered: 'visrank' (content only), or the name of the workspace's "
        "chosen model (see /health).",
    )
    aggregation: str | None = Field(description="VisRank's aggregation (null for a model).")
    metric: str | None = Field(description="VisRank's metric (null for a model).")
    embedding: str | None = Field(description="VisRank's embedding (null for a model).")
    diversify: float | None = None
    results: list[Recommendation]


class RecommendRequest(BaseModel):
    """Body of ``POST /recommendations``: a visitor's liked artworks, no account needed."""

    model_config = ConfigDict(extra="forbid")

    liked_item_ids: list[ItemId] = Field(
        min_length=1,
        description="Ids of the liked artworks (at least one; at most the server's "
        "max_profile_items). An unknown id is 404.",
    )
    k: JsonInt = Field(10, ge=1, description="Number of recommendations (capped by the server).")
    aggregation: AggregationName | None = Field(
        None, description="Profile aggregation (server default if null)."
    )
    metric: MetricName | None = Field(
        None, description="Similarity metric (server default if null)."
    )
    embedding: Name | None = Field(
        None, description="Embedding name (server default if null); an unknown one is 404."
    )
    diversify: Annotated[float, Strict()] | None = Field(
        None,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="MMR lambda in [0, 1]; null: no re-ranking.",
    )
    exclude_item_ids: list[ItemId] = Field(
        default_factory=list,
        description="Ids never to recommend (at most ten times max_profile_items); unknown "
        "ones are ignored.",
    )
    only_in_stock: StrictBool = True


class InteractionIn(BaseModel):
    """Body of ``POST /users/{id}/interactions``."""

    model_config = ConfigDict(extra="forbid")

    item_id: ItemId = Field(description="The artwork; an unknown one is 404.")
    kind: Literal["like", "purchase"] = "like"


class InteractionOut(BaseModel):
    """Answer of ``POST /users/{id}/interactions``."""

    user_id: str
    item_id: str
    kind: str
    created: bool = Field(description="False when the like was already recorded.")
    profile_size: int


class Deleted(BaseModel):
    """Answer of ``DELETE /users/{id}/interactions/{item_id}``."""

    user_id: str
    item_id: str
    kind: str | None
    deleted: int


class StockPatch(BaseModel):
    """Body of ``PATCH /items/{id}``."""

    model_config = ConfigDict(extra="forbid")

    in_stock: StrictBool = Field(description="false: sold; true: back in stock.")


class UserLikes(BaseModel):
    """Answer of ``GET /users/{id}/interactions``."""

    user_id: str
    kinds: list[str]
    item_ids: list[str]


class Me(BaseModel):
    """Answer of ``GET /me``: who the server takes the caller for."""

    kind: Literal["anonymous", "visitor", "token", "admin"]
    user_id: str | None = Field(
        description="The user id the caller acts as ('*': any user); null for the anonymous "
        "and the admin token."
    )
    scopes: list[str]
    csrf_token: str | None = Field(
        None,
        description="For a visitor: the value of the X-CSRF-Token header its writes must carry.",
    )


class ErrorBody(BaseModel):
    """Every error answer."""

    detail: str
