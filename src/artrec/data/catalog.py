"""In-memory views of the catalogue and of the interaction log.

Both are column-oriented: one numpy array per field, one row per artwork (catalogue) or per
event (interactions). Raw ids are strings (``item_id``, ``user_id``); the row of an item
in the catalogue is its internal index (``item_idx``). Ids are mapped to rows only at the
edges, with :meth:`Catalog.rows_of`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from artrec.errors import DataError, UnknownIdError, short_repr
from artrec.vectors import as_id_array

#: Metadata columns the catalogue knows by name. Other keys go to ``extra``.
METADATA_FIELDS: tuple[str, ...] = (
    "title",
    "artist",
    "year",
    "date",
    "medium",
    "museum",
    "city",
    "century",
    "height_cm",
    "width_cm",
)

#: Artist values that mean "not known" and never count as a shared artist.
UNKNOWN_ARTISTS: frozenset[str] = frozenset({"", "unknown", "unknown artist", "anonymous"})


@dataclass(frozen=True)
class Catalog:
    """The artworks, in a fixed row order.

    Parameters
    ----------
    item_ids
        Raw artwork ids (strings), unique.
    metadata
        Column name -> array of length ``n_items`` (``None`` where missing). Known names are
        listed in :data:`METADATA_FIELDS`.
    image
        Image location per item: a local path or an http(s) URL, or ``None``.
    in_stock
        Whether each item can still be recommended (sold one-of-a-kind works are not).
    stock_known
        False when the source says nothing about stock (then ``in_stock`` is all True).
    """

    item_ids: np.ndarray
    metadata: dict[str, np.ndarray] = field(default_factory=dict)
    image: np.ndarray | None = None
    in_stock: np.ndarray = None  # type: ignore[assignment]  # all True in __post_init__
    stock_known: bool = False

    def __post_init__(self) -> None:
        ids = as_id_array(self.item_ids)
        object.__setattr__(self, "item_ids", ids)
        n = len(ids)
        row_of = {item_id: row for row, item_id in enumerate(ids.tolist())}
        if len(row_of) != n:
            dup = next(i for i, c in Counter(ids.tolist()).items() if c > 1)
            raise DataError(f"catalogue has duplicate item id {short_repr(dup)}")
        for name, col in self.metadata.items():
            if len(col) != n:
                raise DataError(
                    f"catalogue column {short_repr(name)} has {len(col)} values for {n} items"
                )
        if self.image is not None and len(self.image) != n:
            raise DataError(f"catalogue image column has {len(self.image)} values for {n} items")
        stock = np.ones(n, dtype=bool) if self.in_stock is None else np.asarray(self.in_stock, bool)
        if len(stock) != n:
            raise DataError(f"catalogue in_stock has {len(stock)} values for {n} items")
        object.__setattr__(self, "in_stock", stock)
        object.__setattr__(self, "_row", row_of)

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def n_items(self) -> int:
        """Number of artworks."""
        return len(self.item_ids)

    def rows_of(self, item_ids: Iterable[Any], *, missing: str = "raise") -> np.ndarray:
        """Map raw item ids to catalogue rows.

        Parameters
        ----------
        item_ids
            Raw ids (ints are accepted and compared as text).
        missing
            ``"raise"`` raises :class:`UnknownIdError` naming the first unknown id;
            ``"drop"`` leaves unknown ids out; ``"mark"`` maps them to -1.
        """
        index: dict[str, int] = self._row  # type: ignore[attr-defined]
        rows: list[int] = []
        for item_id in as_id_array(item_ids).tolist():
            row = index.get(item_id)
            if row is None:
                if missing == "raise":
                    raise UnknownIdError(f"unknown item id {short_repr(item_id)}")
                if missing == "mark":
                    rows.append(-1)
                continue
            rows.append(row)
        return np.asarray(rows, dtype=np.int64)

    def has(self, item_id: Any) -> bool:
        """Whether ``item_id`` is in the catalogue."""
        return str(item_id) in self._row  # type: ignore[attr-defined]

    def column(self, name: str) -> np.ndarray | None:
        """A metadata column by name, or ``None`` when the catalogue lacks it."""
        return self.metadata.get(name)

    def artists(self) -> np.ndarray | None:
        """Artist per row with unknown artists as ``None``, or ``None`` if there is no artist column."""
        col = self.metadata.get("artist")
        if col is None:
            return None
        out = np.empty(len(col), dtype=object)
        for i, a in enumerate(col.tolist()):
            out[i] = None if a is None or str(a).strip().lower() in UNKNOWN_ARTISTS else str(a)
        return out

    def record(self, row: int) -> dict[str, Any]:
        """All fields of one artwork as a plain dict (for display and JSON)."""
        rec: dict[str, Any] = {"item_id": self.item_ids[row]}
        for name, col in self.metadata.items():
            value = col[row]
            rec[name] = value.item() if isinstance(value, np.generic) else value
        rec["image"] = None if self.image is None else self.image[row]
        rec["in_stock"] = bool(self.in_stock[row])
        return rec


@dataclass(frozen=True)
class Interactions:
    """An interaction log: one row per event.

    Parameters
    ----------
    user_ids, item_ids
        Raw ids (strings).
    timestamps
        Seconds since the epoch as float64; NaN where unknown.
    kinds
        Event kind per row, e.g. ``"purchase"`` or ``"like"``.
    splits
        Optional role of each event in a given train/test split (``"train"``/``"test"``);
        ``None`` where the source gives no split. The notebook's assets carry one.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: np.ndarray = None  # type: ignore[assignment]  # NaN-filled in __post_init__
    kinds: np.ndarray = None  # type: ignore[assignment]  # "purchase" in __post_init__
    splits: np.ndarray | None = None

    def __post_init__(self) -> None:
        users = as_id_array(self.user_ids)
        items = as_id_array(self.item_ids)
        n = len(users)
        if len(items) != n:
            raise DataError(f"interactions have {n} user ids but {len(items)} item ids")
        ts = (
            np.full(n, np.nan)
            if self.timestamps is None
            else np.asarray(self.timestamps, np.float64)
        )
        kinds = (
            np.full(n, "purchase", dtype=object)
            if self.kinds is None
            else np.asarray(self.kinds, dtype=object)
        )
        splits = None if self.splits is None else np.asarray(self.splits, dtype=object)
        for name, col in (("timestamps", ts), ("kinds", kinds), ("splits", splits)):
            if col is not None and len(col) != n:
                raise DataError(
                    f"interactions column {short_repr(name)} has {len(col)} values for {n} events"
                )
        object.__setattr__(self, "user_ids", users)
        object.__setattr__(self, "item_ids", items)
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "splits", splits)

    def __len__(self) -> int:
        return len(self.user_ids)

    def users(self) -> list[str]:
        """Distinct user ids, in order of first appearance."""
        return list(dict.fromkeys(self.user_ids.tolist()))

    def select(self, mask: np.ndarray) -> Interactions:
        """The events where ``mask`` is True."""
        mask = np.asarray(mask, dtype=bool)
        return Interactions(
            self.user_ids[mask],
            self.item_ids[mask],
            self.timestamps[mask],
            self.kinds[mask],
            None if self.splits is None else self.splits[mask],
        )

    def by_user(self) -> dict[str, np.ndarray]:
        """User id -> item ids of that user's events, in time order (stable for ties)."""
        order = np.argsort(self.timestamps, kind="stable")
        out: dict[str, list[str]] = {}
        for row in order.tolist():
            out.setdefault(self.user_ids[row], []).append(self.item_ids[row])
        return {u: np.asarray(items, dtype=object) for u, items in out.items()}

    def profiles(self, catalog: Catalog) -> dict[str, np.ndarray]:
        """User id -> distinct catalogue rows the user interacted with (unknown items dropped)."""
        out: dict[str, np.ndarray] = {}
        for user, items in self.by_user().items():
            rows = catalog.rows_of(items, missing="drop")
            out[user] = np.asarray(list(dict.fromkeys(rows.tolist())), dtype=np.int64)
        return out

    @staticmethod
    def concat(parts: Sequence[Interactions]) -> Interactions:
        """Concatenate several logs."""
        if not parts:
            return Interactions(np.array([], object), np.array([], object))
        splits = None
        if any(p.splits is not None for p in parts):
            splits = np.concatenate(
                [p.splits if p.splits is not None else np.full(len(p), None, object) for p in parts]
            )
        return Interactions(
            np.concatenate([p.user_ids for p in parts]),
            np.concatenate([p.item_ids for p in parts]),
            np.concatenate([p.timestamps for p in parts]),
            np.concatenate([p.kinds for p in parts]),
            splits,
        )
