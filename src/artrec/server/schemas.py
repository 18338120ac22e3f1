"""Request and response models of the REST API (pydantic)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    """Answer of ``GET /health``."""

    status: Literal["ok", "degraded"]
    items: int = Field(description="Number of artworks the recommender knows.")
    embedding: str = Field(description="Default embedding.")
    embeddings: list[str]
    database: Literal["sqlite", "postgresql"]
    database_ok: bool


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
        description="The liked or bought artwork this one resembles most (null only for an empty profile)."
    )


class Recommendations(BaseModel):
    """Answer of the recommendation endpoints."""

    user_id: str | None = None
    profile: list[str] = Field(description="Item ids the recommendations are based on.")
    k: int
    aggregation: str
    metric: str
    embedding: str
    diversify: float | None = None
    results: list[Recommendation]


class RecommendRequest(BaseModel):
    """Body of ``POST /recommendations``: a visitor's liked artworks, no account needed."""

    model_config = ConfigDict(extra="forbid")

    liked_item_ids: list[str] = Field(
        min_length=1, description="Ids of the liked artworks (at least one)."
    )
    k: int = Field(10, ge=1, description="Number of recommendations (capped by the server).")
    aggregation: str | None = Field(
        None, description="Profile aggregation (server default if null)."
    )
    metric: str | None = None
    embedding: str | None = None
    diversify: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="MMR lambda in [0, 1]; null: no re-ranking.",
    )
    exclude_item_ids: list[str] = Field(default_factory=list)
    only_in_stock: bool = True


class InteractionIn(BaseModel):
    """Body of ``POST /users/{id}/interactions``."""

    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1, max_length=256)
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

    in_stock: bool


class UserLikes(BaseModel):
    """Answer of ``GET /users/{id}/interactions``."""

    user_id: str
    kinds: list[str]
    item_ids: list[str]


class ErrorBody(BaseModel):
    """Every error answer."""

    detail: str
