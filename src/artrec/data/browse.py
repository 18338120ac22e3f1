"""Finding ids in a workspace: items by title or artist, users with their event counts.

:func:`search_items` and :func:`list_users` are what ``artrec items`` and ``artrec users``
print; both return one page of a stable order plus the total, so a caller can page through.
Matching is a case-insensitive substring test (Unicode case folding, so ``"durer"`` does not
match ``"Dürer"`` but ``"dürer"`` and ``"DÜRER"`` do).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from artrec.errors import ArtrecError

if TYPE_CHECKING:
    from artrec.data.workspace import Workspace

#: Fields :func:`search_items` can match against.
SEARCH_FIELDS: tuple[str, ...] = ("any", "title", "artist")
#: Orders :func:`list_users` can sort by.
USER_ORDERS: tuple[str, ...] = ("events", "id")


@dataclass(frozen=True)
class ItemRow:
    """One catalogue item as listed by :func:`search_items`."""

    item_id: str
    title: str | None
    artist: str | None
    year: int | None
    in_stock: bool
    image: str | None


@dataclass(frozen=True)
class ItemPage:
    """One page of matching items, in catalogue order.

    Attributes
    ----------
    total
        Items matching the query (on all pages).
    offset
        Position of the first row of this page among the matches.
    rows
        The page.
    """

    total: int
    offset: int
    rows: list[ItemRow] = field(default_factory=list)


@dataclass(frozen=True)
class UserRow:
    """One user as listed by :func:`list_users`.

    Attributes
    ----------
    user_id
        The id.
    n_events
        All events of the user.
    by_kind
        Event kind -> count.
    by_split
        Split -> count (``"none"`` for events without one).
    first, last
        Earliest and latest known timestamp (seconds since the epoch), or ``None``.
    """

    user_id: str
    n_events: int
    by_kind: dict[str, int]
    by_split: dict[str, int]
    first: float | None
    last: float | None


@dataclass(frozen=True)
class UserPage:
    """One page of users; ``total`` counts all users matching the filter."""

    total: int
    offset: int
    rows: list[UserRow] = field(default_factory=list)


def _check_page(offset: int, limit: int) -> None:
    for name, value, low in (("offset", offset, 0), ("limit", limit, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ArtrecError(f"{name} must be an integer >= {low}, got {value!r}")


def search_items(
    workspace: Workspace,
    query: str | None = None,
    *,
    field: str = "any",
    offset: int = 0,
    limit: int = 20,
) -> ItemPage:
    """Items whose title or artist contains ``query`` (case-insensitively), in catalogue order.

    Parameters
    ----------
    workspace
        The workspace.
    query
        Text to look for; ``None`` or empty lists every item.
    field
        ``"title"``, ``"artist"`` or ``"any"`` (either).
    offset, limit
        The page: matches ``offset`` to ``offset + limit - 1``.

    Returns
    -------
    ItemPage
    """
    if field not in SEARCH_FIELDS:
        raise ArtrecError(
            f"unknown search field {field!r}; choose one of {', '.join(SEARCH_FIELDS)}"
        )
    _check_page(offset, limit)
    catalog = workspace.catalog()
    needle = (query or "").casefold()
    fields = ("title", "artist") if field == "any" else (field,)
    columns = [catalog.metadata.get(name) for name in fields]
    matches: list[int] = []
    for row in range(catalog.n_items):
        if not needle or any(
            col is not None and col[row] is not None and needle in str(col[row]).casefold()
            for col in columns
        ):
            matches.append(row)
    rows = [_item_row(catalog.record(r)) for r in matches[offset : offset + limit]]
    return ItemPage(len(matches), offset, rows)


def _item_row(rec: dict[str, Any]) -> ItemRow:
    year = rec.get("year")
    return ItemRow(
        item_id=str(rec["item_id"]),
        title=None if rec.get("title") is None else str(rec["title"]),
        artist=None if rec.get("artist") is None else str(rec["artist"]),
        year=None if year is None else int(year),
        in_stock=bool(rec["in_stock"]),
        image=rec.get("image"),
    )


def list_users(
    workspace: Workspace,
    query: str | None = None,
    *,
    order: str = "events",
    offset: int = 0,
    limit: int = 20,
) -> UserPage:
    """Users of the interaction log with their event counts.

    Parameters
    ----------
    workspace
        The workspace.
    query
        Keep users whose id contains this text (case-insensitively); ``None`` keeps all.
    order
        ``"events"`` (most events first, ties by id) or ``"id"``.
    offset, limit
        The page.

    Returns
    -------
    UserPage
    """
    if order not in USER_ORDERS:
        raise ArtrecError(f"unknown order {order!r}; choose one of {', '.join(USER_ORDERS)}")
    _check_page(offset, limit)
    inter = workspace.interactions()
    splits = inter.splits.tolist() if inter.splits is not None else [None] * len(inter)
    kinds: dict[str, Counter[str]] = {}
    by_split: dict[str, Counter[str]] = {}
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for user, kind, split, ts in zip(
        inter.user_ids.tolist(),
        inter.kinds.tolist(),
        splits,
        inter.timestamps.tolist(),
        strict=True,
    ):
        kinds.setdefault(user, Counter())[str(kind)] += 1
        by_split.setdefault(user, Counter())[split or "none"] += 1
        if not math.isnan(ts):
            first[user] = min(first.get(user, ts), ts)
            last[user] = max(last.get(user, ts), ts)
    needle = (query or "").casefold()
    users = [u for u in kinds if needle in u.casefold()]
    if order == "events":
        users.sort(key=lambda u: (-sum(kinds[u].values()), u))
    else:
        users.sort()
    rows = [
        UserRow(
            user_id=u,
            n_events=sum(kinds[u].values()),
            by_kind=dict(sorted(kinds[u].items())),
            by_split=dict(sorted(by_split[u].items())),
            first=first.get(u),
            last=last.get(u),
        )
        for u in users[offset : offset + limit]
    ]
    return UserPage(len(users), offset, rows)
