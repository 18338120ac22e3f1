"""Import a collection: any catalogue and an optional interaction log into a workspace.

:func:`import_collection` reads a catalogue (CSV/TSV, Parquet, JSON or JSON Lines) and,
optionally, an interaction log in the same formats, through the readers of
:mod:`artrec.data.tabular` (which own the file formats and the column aliases), applies the
import rules below, checks everything, and only then writes the workspace in one
transaction: a bad file leaves the workspace exactly as it was.

The rules, in the order they apply:

1. **Columns.** Each role (item id, title, artist, year, image, user id, timestamp, rating,
   event kind, split, ...) is read from the column named in ``catalog_columns`` /
   ``interaction_columns``, else from the first alias of
   :data:`~artrec.data.tabular.CATALOG_COLUMNS` / :data:`~artrec.data.tabular.INTERACTION_COLUMNS`
   the file has. Catalogue columns with no role are kept as extra metadata.
2. **Images.** Relative image paths are resolved against ``image_dir`` (made absolute);
   URLs are kept and fetched later by ``extract`` through its cache. With
   ``copy_images=True`` every local image file is copied into the workspace's image store
   (``images/``, named by a hash of its bytes, so a re-import copies nothing twice) and the
   catalogue records the copy: the workspace then holds its images, and ``artrec serve``
   shows them with no further option.
3. **Ratings.** With ``positive_threshold=X`` every event needs a rating: a rating ``>= X``
   becomes an implicit positive of kind ``positive_kind`` (default ``"purchase"``, the kind
   every model and the evaluation read by default), a rating ``< X`` is kept as an event of
   kind :data:`BELOW_THRESHOLD_KIND` (``"rating_below_threshold"``), which no model treats
   as a positive. The rating value itself is not stored. A rating column without a threshold
   is refused (map the rating role to ``None`` to ignore the column).
4. **Unknown items.** An event whose item is neither in the catalogue file nor in the
   workspace is an error naming the file, line and column (``unknown_items="drop"`` drops
   and counts it instead).
5. **Event identity.** An event is ``(user_id, item_id, timestamp, kind)`` (an unknown
   timestamp equals an unknown timestamp; the split is not part of it). A repeat inside the
   file is kept once; an event the workspace already holds is not written again. So
   re-importing a file changes nothing, and importing a grown file adds only its new events.
6. **Positives** are the events of kind ``purchase`` or ``like`` (:data:`POSITIVE_KINDS`).
   ``min_user_positives=N`` keeps only users with at least ``N`` positives, counting the
   positives the workspace already holds for them plus the file's new ones; the new events
   of other users are dropped and counted.
7. **Splits** (one rule per workspace), by the held-out rules of :mod:`artrec.data.splits`
   (their one owner), which order a user's events by time, ties broken by item id (compared
   as text), then by position (the workspace's stored events first, then the file's rows);
   unknown times come first:

   * ``split_last_fraction=F``: per user, the last ``max(1, floor(F * n))`` of the ``n``
     positives in that order are ``test``, the rest ``train`` (``F`` is read as the decimal
     it is written as, so 0.29 of 100 is 29). A user's other events are ``train`` when they
     come before the first held-out positive in that order, else ``test``; a user with no
     positive has only ``train`` events.
   * ``split_before=T``: events before ``T`` (seconds or ISO-8601; naive is UTC) are
     ``train``, the others ``test``; events with an unknown time are ``train``.
   * otherwise the file's own split column (``train``/``test``/empty) when it has one,
     else no split.

   The two time rules need a timestamp column in the file.

   The rule is applied to the whole stored history of every user the file touches, so a
   grown log moves earlier held-out events back to ``train`` where the rule says so
   (counted as ``events_resplit``); other users are left alone.

The settings that shape events (threshold, positive kind, minimum positives, split rule) are
recorded in the workspace meta key :data:`META_KEY`; a later import with different settings
is refused, since it would give the same events two meanings. The import also marks the
interactions real, or simulated when the caller says so (``simulated=True``), with
:func:`artrec.data.simulate.mark_simulated` (a workspace that already holds simulated
interactions stays labelled simulated), and records a run of kind ``"import"``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.simulate import interactions_simulated, mark_simulated
from artrec.data.splits import before_mask, last_fraction_mask, user_time_order
from artrec.data.tabular import (
    INTERACTION_COLUMNS,
    CatalogFile,
    InteractionsFile,
    parse_timestamp,
    read_catalog_file,
    read_interactions_file,
)
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError, short_repr

#: Event kinds that count as positives (implicit feedback) for every model and for the
#: import's split and minimum-positives rules.
POSITIVE_KINDS: tuple[str, ...] = ("purchase", "like")
#: Kind of a rated event below the positive threshold.
BELOW_THRESHOLD_KIND = "rating_below_threshold"
#: Workspace meta key holding the import settings (JSON).
META_KEY = "import"
#: Split rule names, as recorded in the meta.
SPLIT_RULES: tuple[str, ...] = ("none", "given", "last_fraction", "before")

_EventKey = tuple[str, str, float | None, str]


@dataclass(frozen=True)
class SplitRule:
    """How an import assigns ``train``/``test`` to events.

    Parameters
    ----------
    rule
        One of :data:`SPLIT_RULES`.
    fraction
        For ``"last_fraction"``: the held-out fraction of each user's positives.
    before
        For ``"before"``: the cut, seconds since the epoch (events before it are ``train``).
    """

    rule: str = "none"
    fraction: float | None = None
    before: float | None = None

    def describe(self) -> str:
        """One line, for summaries and the ``info`` command."""
        if self.rule == "last_fraction":
            return (
                f"per user, the last max(1, floor({self.fraction} x n)) of n positives by time "
                "(ties by item id) are test"
            )
        if self.rule == "before":
            assert self.before is not None
            when = datetime.fromtimestamp(self.before, tz=timezone.utc).isoformat()
            return f"events before {when} are train, the rest test"
        if self.rule == "given":
            return "the interaction file's own split column"
        return "no split"


@dataclass(frozen=True)
class ImportSummary:
    """What an import read, kept and dropped.

    Attributes
    ----------
    workspace
        The workspace written.
    catalog_file, interactions_file
        The files read (``None`` when not given).
    catalog_columns, interaction_columns
        Role -> the file column read for it.
    items_read
        Records in the catalogue file.
    items_added, items_updated, items_unchanged
        Of those: new to the workspace; already there with different fields; identical.
    images
        How the items' images are given: ``{"url": n, "local": n, "missing_file": n,
        "none": n}`` (``missing_file``: a local path where no file exists yet).
    images_copied
        Image files copied into the workspace's image store (``copy_images``; files already
        there are not copied again).
    events_read
        Rows in the interaction file.
    events_added
        Events written.
    events_present
        Events the workspace already held (not written again).
    events_dropped
        Reason -> count: ``duplicate_in_file``, ``user_below_min_positives``,
        ``unknown_item`` (with ``unknown_items="drop"``).
    events_resplit
        Stored events of the file's users whose split the rule changed.
    added_by_kind, added_by_split
        The written events by kind and by split (``"none"`` for no split).
    users_read, users_kept, users_dropped
        Users in the file; those with events in the workspace after the import; those whose
        events were all dropped for having too few positives.
    split
        The split rule applied.
    positive_threshold, positive_kind, min_user_positives
        The rating rule and the minimum, as applied.
    notes
        Anything else worth knowing (ignored columns, a kept simulated label, ...).
    """

    workspace: Path
    catalog_file: Path | None
    interactions_file: Path | None
    catalog_columns: dict[str, str] = field(default_factory=dict)
    interaction_columns: dict[str, str] = field(default_factory=dict)
    items_read: int = 0
    items_added: int = 0
    items_updated: int = 0
    items_unchanged: int = 0
    images: dict[str, int] = field(default_factory=dict)
    images_copied: int = 0
    events_read: int = 0
    events_added: int = 0
    events_present: int = 0
    events_dropped: dict[str, int] = field(default_factory=dict)
    events_resplit: int = 0
    added_by_kind: dict[str, int] = field(default_factory=dict)
    added_by_split: dict[str, int] = field(default_factory=dict)
    users_read: int = 0
    users_kept: int = 0
    users_dropped: int = 0
    split: SplitRule = field(default_factory=SplitRule)
    positive_threshold: float | None = None
    positive_kind: str = "purchase"
    min_user_positives: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (paths as text)."""
        out = asdict(self)
        for key in ("workspace", "catalog_file", "interactions_file"):
            out[key] = None if out[key] is None else str(out[key])
        out["split_rule"] = self.split.describe()
        return out


def import_collection(
    workspace: Workspace | str | Path,
    catalog_file: str | Path | None,
    interactions_file: str | Path | None = None,
    *,
    image_dir: str | Path | None = None,
    catalog_columns: Mapping[str, str | None] | None = None,
    interaction_columns: Mapping[str, str | None] | None = None,
    positive_threshold: float | None = None,
    positive_kind: str = "purchase",
    min_user_positives: int = 0,
    split_last_fraction: float | None = None,
    split_before: float | str | datetime | None = None,
    unknown_items: str = "raise",
    max_events: int | None = None,
    copy_images: bool = False,
    simulated: bool = False,
) -> ImportSummary:
    """Import a catalogue and an optional interaction log into a workspace.

    The rules are in the module docstring. Everything is read and checked before anything
    is written; the writes are one transaction.

    Parameters
    ----------
    workspace
        A :class:`Workspace` or its directory (created when it does not exist yet).
    catalog_file
        The catalogue (CSV/TSV, Parquet, JSON, JSON Lines); ``None`` imports only events
        (their items must then be in the workspace).
    interactions_file
        The interaction log, or ``None``.
    image_dir
        Folder that relative image paths (and, without an image column, ``<item_id>.jpg``
        and the like) are resolved against.
    catalog_columns, interaction_columns
        Role -> file column, overriding the default aliases; ``None`` as a column leaves the
        role unread.
    positive_threshold
        Turn ratings into positives (``rating >= threshold``); needs a rating column.
    positive_kind
        The kind given to positives made from ratings.
    min_user_positives
        Keep only users with at least this many positives (0 keeps all).
    split_last_fraction
        Hold out this fraction (0 < F < 1) of each user's latest positives as ``test``.
    split_before
        Global time cut: earlier events are ``train``, the others ``test``.
    unknown_items
        ``"raise"`` (an error naming the row) or ``"drop"`` (dropped and counted) for events
        whose item is in neither the catalogue file nor the workspace.
    max_events
        Most events the interaction file may hold (default
        :func:`artrec.limits.max_events`: ``$ARTREC_MAX_EVENTS`` or 10,000,000).
    copy_images
        Copy the local image files into the workspace's ``images/`` folder and record the
        copies (see rule 2).
    simulated
        The interactions are simulated (generated for a trial, not real behaviour): the
        workspace is marked so, and every result on it is labelled simulated.

    Returns
    -------
    ImportSummary

    Raises
    ------
    DataError
        A bad file: missing or mistyped columns, unparseable timestamps or ratings,
        duplicate item ids, unknown item ids; the message names the file, row and column.
    ArtrecError
        Invalid options, or settings that differ from the workspace's earlier imports.
    """
    split = _split_rule(split_last_fraction, split_before)
    _check_options(positive_threshold, positive_kind, min_user_positives, unknown_items)
    if catalog_file is None and interactions_file is None:
        raise ArtrecError("nothing to import: give a catalogue file, an interaction file or both")
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    exists = ws.db_path.is_file()
    if catalog_file is None and not exists:
        raise ArtrecError(
            f"no artrec workspace at {ws.root}: the first import needs a catalogue file"
        )
    stored_catalog = ws.catalog() if exists else Catalog(np.array([], dtype=object))
    stored_events = ws.interactions() if exists else _empty_events()
    notes: list[str] = []

    # -- read and check ----------------------------------------------------------------------
    cat_file: CatalogFile | None = None
    if catalog_file is not None:
        img_root = None if image_dir is None else Path(image_dir).expanduser().resolve()
        cat_file = read_catalog_file(catalog_file, img_root, columns=catalog_columns)
    images = _image_counts(None if cat_file is None else cat_file.catalog)
    copies: dict[Path, Path] = {}
    if copy_images and cat_file is not None:
        cat_file, copies = _images_in_store(cat_file, ws.images_dir)
    merged, item_counts = _merge_catalog(cat_file, stored_catalog)

    inter_file: InteractionsFile | None = None
    plan = _EventPlan.empty()
    if interactions_file is not None:
        inter_file = read_interactions_file(
            interactions_file, columns=interaction_columns, max_events=max_events
        )
        if inter_file.columns.get("split") is not None and split.rule == "none":
            split = SplitRule("given")
        elif inter_file.columns.get("split") is not None:
            notes.append(
                f"the file's split column {short_repr(inter_file.columns['split'])} is ignored: "
                f"the {split.rule} rule decides the split"
            )
        kinds = _event_kinds(inter_file, positive_threshold, positive_kind)
        known = set(stored_catalog.item_ids.tolist())
        if cat_file is not None:
            known.update(cat_file.catalog.item_ids.tolist())
        plan = _plan_events(
            inter_file,
            kinds,
            known,
            stored_events,
            split,
            min_user_positives,
            unknown_items,
            catalog_name=None if cat_file is None else cat_file.path.name,
        )
        settings = _settings(positive_threshold, positive_kind, min_user_positives, split)
        _check_settings(ws, exists, settings)
    if exists and interactions_simulated(ws) and interactions_file is not None and not simulated:
        notes.append(
            "the workspace already holds simulated interactions; it stays labelled simulated"
        )

    # -- write, all or nothing ---------------------------------------------------------------
    if not exists:
        ws = Workspace.create(ws.root)
    with ws.transaction():
        n_copied = _copy_files(copies)
        if merged is not None and merged.n_items:
            ws.upsert_items(merged)
        for user, item, kind in plan.deletions:
            ws.delete_interactions(user, item, kind)
        if len(plan.writes):
            ws.add_interactions(plan.writes)
        if inter_file is not None:
            ws.set_meta(META_KEY, json.dumps(settings))
            mark_simulated(ws, simulated)
        summary = ImportSummary(
            workspace=ws.root,
            catalog_file=None if cat_file is None else cat_file.path,
            interactions_file=None if inter_file is None else inter_file.path,
            catalog_columns={} if cat_file is None else dict(cat_file.columns),
            interaction_columns={} if inter_file is None else dict(inter_file.columns),
            items_read=0 if cat_file is None else cat_file.catalog.n_items,
            items_added=item_counts["added"],
            items_updated=item_counts["updated"],
            items_unchanged=item_counts["unchanged"],
            images=images,
            images_copied=n_copied,
            events_read=0 if inter_file is None else len(inter_file.interactions),
            events_added=plan.n_added,
            events_present=plan.n_present,
            events_dropped=dict(plan.dropped),
            events_resplit=plan.n_resplit,
            added_by_kind=dict(plan.added_by_kind),
            added_by_split=dict(plan.added_by_split),
            users_read=plan.users_read,
            users_kept=plan.users_kept,
            users_dropped=plan.users_dropped,
            split=split,
            positive_threshold=positive_threshold,
            positive_kind=positive_kind,
            min_user_positives=min_user_positives,
            notes=notes,
        )
        ws.record_run(
            "import",
            {
                "catalog_file": None if catalog_file is None else str(catalog_file),
                "interactions_file": None if interactions_file is None else str(interactions_file),
                "image_dir": None if image_dir is None else str(image_dir),
                "copy_images": copy_images,
                "simulated": simulated,
                "unknown_items": unknown_items,
            },
            summary.as_dict(),
        )
    return summary


def import_settings(workspace: Workspace) -> dict[str, Any] | None:
    """The settings recorded by the workspace's imports (meta key :data:`META_KEY`), or ``None``."""
    raw = workspace.get_meta(META_KEY)
    return None if raw is None else dict(json.loads(raw))


# -- options ----------------------------------------------------------------------------------


def _split_rule(fraction: float | None, before: float | str | datetime | None) -> SplitRule:
    if fraction is not None and before is not None:
        raise ArtrecError("choose one split rule: a last fraction or a time cut, not both")
    if fraction is not None:
        if isinstance(fraction, bool) or not 0 < float(fraction) < 1:
            raise ArtrecError(f"the split's last fraction must be between 0 and 1, got {fraction}")
        return SplitRule("last_fraction", fraction=float(fraction))
    if before is not None:
        try:
            cut = parse_timestamp(before)
        except DataError as exc:
            raise ArtrecError(f"split time cut: {exc}") from None
        if math.isnan(cut):
            raise ArtrecError("split time cut: empty date")
        return SplitRule("before", before=cut)
    return SplitRule("none")


def _check_options(
    threshold: float | None, positive_kind: str, min_positives: int, unknown_items: str
) -> None:
    if threshold is not None and (isinstance(threshold, bool) or not math.isfinite(threshold)):
        raise ArtrecError(
            f"the positive threshold must be a finite number, got {short_repr(threshold)}"
        )
    if not positive_kind or positive_kind == BELOW_THRESHOLD_KIND:
        raise ArtrecError(f"invalid positive kind {short_repr(positive_kind)}")
    if positive_kind not in POSITIVE_KINDS:
        raise ArtrecError(
            f"the positive kind must be one of {', '.join(POSITIVE_KINDS)}, got {short_repr(positive_kind)}"
        )
    if isinstance(min_positives, bool) or int(min_positives) != min_positives or min_positives < 0:
        raise ArtrecError(
            f"the minimum positives per user must be >= 0, got {short_repr(min_positives)}"
        )
    if unknown_items not in ("raise", "drop"):
        raise ArtrecError(
            f"unknown_items must be 'raise' or 'drop', got {short_repr(unknown_items)}"
        )


def _settings(
    threshold: float | None, positive_kind: str, min_positives: int, split: SplitRule
) -> dict[str, Any]:
    return {
        "positive_threshold": threshold,
        "positive_kind": positive_kind,
        "min_user_positives": int(min_positives),
        "split": asdict(split),
        "split_rule": split.describe(),
    }


def _check_settings(ws: Workspace, exists: bool, settings: dict[str, Any]) -> None:
    """Refuse a re-import whose event-shaping settings differ from the recorded ones."""
    if not exists:
        return
    previous = import_settings(ws)
    if previous is None:
        return
    for key in ("positive_threshold", "positive_kind", "min_user_positives", "split"):
        if previous.get(key) != settings[key]:
            raise ArtrecError(
                f"workspace {ws.root} was imported with {key} = {short_repr(previous.get(key))}; "
                f"this import asks for {short_repr(settings[key])}. The same events cannot have two "
                "meanings: use the same settings, or import into a new workspace"
            )


# -- the catalogue ----------------------------------------------------------------------------


def _merge_catalog(
    cat_file: CatalogFile | None, stored: Catalog
) -> tuple[Catalog | None, dict[str, int]]:
    """The file's items with what the workspace knows filled in; counts added/updated/unchanged.

    Fields the file leaves empty (or lacks) keep their stored values, and without a stock
    column the stored stock flags stay (a re-import never puts a sold work back on sale).
    """
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    if cat_file is None:
        return None, counts
    cat = cat_file.catalog
    n = cat.n_items
    rows = stored.rows_of(cat.item_ids, missing="mark")
    names = list(dict.fromkeys([*cat.metadata, *stored.metadata]))
    metadata: dict[str, np.ndarray] = {}
    for name in names:
        new = cat.metadata.get(name)
        old = stored.metadata.get(name)
        col = np.empty(n, dtype=object)
        for r in range(n):
            value = None if new is None else new[r]
            if value is None and old is not None and rows[r] >= 0:
                value = old[rows[r]]
            col[r] = value
        if any(v is not None for v in col.tolist()):
            metadata[name] = col
    image = np.empty(n, dtype=object)
    stock = np.empty(n, dtype=bool)
    for r in range(n):
        img = None if cat.image is None else cat.image[r]
        if img is None and stored.image is not None and rows[r] >= 0:
            img = stored.image[rows[r]]
        image[r] = img
        keep_stored = not cat.stock_known and rows[r] >= 0
        stock[r] = stored.in_stock[rows[r]] if keep_stored else cat.in_stock[r]
    merged = Catalog(cat.item_ids, metadata, image, stock, stock_known=cat.stock_known)
    for r in range(n):
        if rows[r] < 0:
            counts["added"] += 1
        elif _same_record(merged.record(r), stored.record(int(rows[r]))):
            counts["unchanged"] += 1
        else:
            counts["updated"] += 1
    return merged, counts


def _same_record(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = set(a) | set(b)
    return all(_plain(a.get(k)) == _plain(b.get(k)) for k in keys)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _image_counts(cat: Catalog | None) -> dict[str, int]:
    counts = {"url": 0, "local": 0, "missing_file": 0, "none": 0}
    if cat is None or cat.image is None:
        if cat is not None:
            counts["none"] = cat.n_items
        return counts
    for loc in cat.image.tolist():
        if loc is None:
            counts["none"] += 1
        elif "://" in str(loc):
            counts["url"] += 1
        elif Path(str(loc)).is_file():
            counts["local"] += 1
        else:
            counts["missing_file"] += 1
    return counts


def _images_in_store(cat_file: CatalogFile, store: Path) -> tuple[CatalogFile, dict[Path, Path]]:
    """The catalogue file with its local images relocated to ``store`` (the workspace's image
    folder), and the copies to make (source -> target). Targets are named by the SHA-256 of
    the file's bytes (first 24 hex digits) and its suffix; URLs and missing files stay."""
    import hashlib

    cat = cat_file.catalog
    if cat.image is None:
        return cat_file, {}
    image = cat.image.copy()
    copies: dict[Path, Path] = {}
    store = store.resolve()
    for r, loc in enumerate(cat.image.tolist()):
        if loc is None or "://" in str(loc):
            continue
        source = Path(str(loc))
        if not source.is_file():
            continue
        if source.resolve().parent == store:  # already in the store
            continue
        digest = hashlib.sha256()
        with source.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        target = store / f"{digest.hexdigest()[:24]}{source.suffix.lower()}"
        copies[source] = target
        image[r] = str(target)
    relocated = Catalog(
        cat.item_ids, cat.metadata, image, cat.in_stock, stock_known=cat.stock_known
    )
    return replace(cat_file, catalog=relocated), copies


def _copy_files(copies: Mapping[Path, Path]) -> int:
    """Copy each source to its target (through a temporary name, so a target is whole or
    absent); targets that exist are left alone. Returns the number of files copied."""
    import shutil

    n = 0
    for source, target in copies.items():
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
        n += 1
    return n


# -- the events -------------------------------------------------------------------------------


def _empty_events() -> Interactions:
    return Interactions(np.array([], dtype=object), np.array([], dtype=object))


def _event_kinds(
    inter_file: InteractionsFile, threshold: float | None, positive_kind: str
) -> np.ndarray:
    """The kind of every event in the file, after the rating rule."""
    cols = inter_file.columns
    name = inter_file.path.name
    if threshold is None:
        if inter_file.ratings is not None:
            raise DataError(
                f"{name}: column {short_repr(cols['rating'])} holds ratings; give a positive threshold "
                "to turn them into positives, or map the rating column to none to ignore it"
            )
        return inter_file.interactions.kinds
    if inter_file.ratings is None:
        raise DataError(
            f"{name}: a positive threshold needs a rating column (none of "
            "rating, score, stars; map one explicitly)"
        )
    if "kind" in cols:
        raise DataError(
            f"{name}: column {short_repr(cols['kind'])} gives event kinds, but with a positive threshold "
            "the rating decides the kind; map the kind column to none to ignore it"
        )
    ratings = inter_file.ratings
    empty = np.flatnonzero(np.isnan(ratings))
    if empty.size:
        where = inter_file.locations[int(empty[0])]
        raise DataError(f"{name}: {where}: empty {inter_file.label('rating')}")
    kinds = np.empty(len(ratings), dtype=object)
    kinds[:] = BELOW_THRESHOLD_KIND
    kinds[ratings >= threshold] = positive_kind
    return kinds


@dataclass
class _EventPlan:
    """What to write: stored events to rewrite (deleted, then re-added) and new events."""

    deletions: list[tuple[str, str, str]]
    writes: Interactions
    n_added: int
    n_present: int
    n_resplit: int
    dropped: Counter[str]
    added_by_kind: Counter[str]
    added_by_split: Counter[str]
    users_read: int
    users_kept: int
    users_dropped: int

    @classmethod
    def empty(cls) -> _EventPlan:
        return cls([], _empty_events(), 0, 0, 0, Counter(), Counter(), Counter(), 0, 0, 0)


def _key(user: str, item: str, ts: float, kind: str) -> _EventKey:
    return (user, item, None if math.isnan(ts) else float(ts), kind)


def _plan_events(
    inter_file: InteractionsFile,
    kinds: np.ndarray,
    known_items: set[str],
    stored: Interactions,
    split: SplitRule,
    min_positives: int,
    unknown_items: str,
    catalog_name: str | None,
) -> _EventPlan:
    inter = inter_file.interactions
    name = inter_file.path.name
    users = inter.user_ids.tolist()
    items = inter.item_ids.tolist()
    stamps = inter.timestamps.tolist()
    file_splits = None if inter.splits is None else inter.splits.tolist()
    dropped: Counter[str] = Counter()

    # stored events, by identity (the first of repeats) and by user
    stored_users = stored.user_ids.tolist()
    stored_items = stored.item_ids.tolist()
    stored_ts = stored.timestamps.tolist()
    stored_kinds = [str(k) for k in stored.kinds.tolist()]
    stored_splits = [None] * len(stored) if stored.splits is None else stored.splits.tolist()
    stored_keys = [
        _key(u, i, t, k)
        for u, i, t, k in zip(stored_users, stored_items, stored_ts, stored_kinds, strict=True)
    ]
    stored_index: dict[_EventKey, int] = {}
    for pos, key in enumerate(stored_keys):
        stored_index.setdefault(key, pos)

    # the file's events: unknown items, repeats, already stored
    new: list[int] = []  # file rows to add
    seen: set[_EventKey] = set()
    given_split_of_stored: dict[int, str | None] = {}
    present_users: set[str] = set()
    n_present = 0
    for row in range(len(inter)):
        if items[row] not in known_items:
            if unknown_items == "raise":
                where = inter_file.locations[row]
                source = f"{catalog_name} or the workspace" if catalog_name else "the workspace"
                raise DataError(
                    f"{name}: {where}: {inter_file.label('item_id')} {short_repr(items[row])} is not a "
                    f"known item (not in {source})"
                )
            dropped["unknown_item"] += 1
            continue
        key = _key(users[row], items[row], stamps[row], str(kinds[row]))
        if key in seen:
            dropped["duplicate_in_file"] += 1
            continue
        seen.add(key)
        match = stored_index.get(key)
        if match is not None:
            n_present += 1
            present_users.add(users[row])
            if file_splits is not None:
                given_split_of_stored[match] = file_splits[row]
            continue
        new.append(row)

    # minimum positives per user: stored positives plus the file's new ones
    file_users = list(dict.fromkeys(users))
    positives: Counter[str] = Counter()
    for u, k in zip(stored_users, stored_kinds, strict=True):
        if k in POSITIVE_KINDS:
            positives[u] += 1
    for row in new:
        if kinds[row] in POSITIVE_KINDS:
            positives[users[row]] += 1
    below = {u for u in file_users if positives[u] < min_positives}
    if below:
        kept_new = [row for row in new if users[row] not in below]
        dropped["user_below_min_positives"] += len(new) - len(kept_new)
        new = kept_new
    has_stored = set(stored_users)
    users_kept = sum(1 for u in file_users if u not in below or u in has_stored)
    users_dropped = sum(1 for u in file_users if u in below and u not in has_stored)

    # splits: new events, and the stored events of the users the file touches
    touched = {users[row] for row in new} | present_users
    new_split: dict[int, str | None] = {}  # file row -> split
    stored_split_new: dict[int, str | None] = {}  # stored pos -> split
    if split.rule == "given":
        for row in new:
            new_split[row] = None if file_splits is None else file_splits[row]
        stored_split_new.update(given_split_of_stored)
    elif split.rule in ("before", "last_fraction"):
        if new and "timestamp" not in inter_file.columns:
            raise DataError(
                f"{name}: no timestamp column (looked for "
                f"{', '.join(INTERACTION_COLUMNS['timestamp'])}); the {split.rule} split rule "
                "needs a time per event"
            )
        # the touched users' events: stored ones in log order, then the file's new ones
        origin = [("stored", p) for p, u in enumerate(stored_users) if u in touched]
        origin += [("file", row) for row in new]
        ev_users = np.array(
            [stored_users[i] if o == "stored" else users[i] for o, i in origin], dtype=object
        )
        ev_items = np.array(
            [stored_items[i] if o == "stored" else items[i] for o, i in origin], dtype=object
        )
        ev_ts = np.array(
            [stored_ts[i] if o == "stored" else stamps[i] for o, i in origin], dtype=np.float64
        )
        ev_positive = np.array(
            [
                (stored_kinds[i] if o == "stored" else str(kinds[i])) in POSITIVE_KINDS
                for o, i in origin
            ],
            dtype=bool,
        )
        values = _time_splits(ev_users, ev_items, ev_ts, ev_positive, split)
        for (o, i), value in zip(origin, values, strict=True):
            if o == "stored":
                stored_split_new[i] = value
            else:
                new_split[i] = value
    # stored events whose split changes: their users are rewritten (deleted, re-added in order)
    changed = {p for p, s in stored_split_new.items() if s != stored_splits[p]}
    rewrite_users = {stored_users[p] for p in changed}
    deletions = list(
        dict.fromkeys(
            (stored_users[p], stored_items[p], stored_kinds[p])
            for p in range(len(stored))
            if stored_users[p] in rewrite_users
        )
    )
    # deleting (user, item, kind) removes every stored event of that triple: re-add them all
    deleted = {(u, i, k) for u, i, k in deletions}
    rewrite_pos = [
        p
        for p in range(len(stored))
        if (stored_users[p], stored_items[p], stored_kinds[p]) in deleted
    ]
    out_users: list[str] = []
    out_items: list[str] = []
    out_ts: list[float] = []
    out_kinds: list[str] = []
    out_splits: list[str | None] = []
    for p in rewrite_pos:
        out_users.append(stored_users[p])
        out_items.append(stored_items[p])
        out_ts.append(stored_ts[p])
        out_kinds.append(stored_kinds[p])
        out_splits.append(stored_split_new.get(p, stored_splits[p]))
    added_by_kind: Counter[str] = Counter()
    added_by_split: Counter[str] = Counter()
    for row in new:
        s = new_split.get(row)
        out_users.append(users[row])
        out_items.append(items[row])
        out_ts.append(stamps[row])
        out_kinds.append(str(kinds[row]))
        out_splits.append(s)
        added_by_kind[str(kinds[row])] += 1
        added_by_split[s or "none"] += 1
    any_split = any(s is not None for s in out_splits)
    writes = Interactions(
        np.asarray(out_users, dtype=object),
        np.asarray(out_items, dtype=object),
        np.asarray(out_ts, dtype=np.float64),
        np.asarray(out_kinds, dtype=object),
        np.asarray(out_splits, dtype=object) if any_split else None,
    )
    return _EventPlan(
        deletions=deletions,
        writes=writes,
        n_added=len(new),
        n_present=n_present,
        n_resplit=len(changed),
        dropped=dropped,
        added_by_kind=added_by_kind,
        added_by_split=added_by_split,
        users_read=len(file_users),
        users_kept=users_kept,
        users_dropped=users_dropped,
    )


def _time_splits(
    users: np.ndarray,
    items: np.ndarray,
    timestamps: np.ndarray,
    positive: np.ndarray,
    split: SplitRule,
) -> list[str]:
    """``train``/``test`` of each event by a time rule, through :mod:`artrec.data.splits`.

    ``before``: :func:`~artrec.data.splits.before_mask`. ``last_fraction``: the held-out
    positives are :func:`~artrec.data.splits.last_fraction_mask` of the positive events; in
    the order of :func:`~artrec.data.splits.user_time_order`, every event of a user from the
    first held-out positive on is ``test``, the events before it ``train``.
    """
    if split.rule == "before":
        assert split.before is not None
        return ["train" if t else "test" for t in before_mask(timestamps, split.before).tolist()]
    assert split.fraction is not None
    held = np.zeros(len(users), dtype=bool)
    pos = np.flatnonzero(positive)
    if pos.size:
        held[pos] = last_fraction_mask(users[pos], items[pos], timestamps[pos], split.fraction)
    out = ["train"] * len(users)
    current: object = None
    cut_seen = False
    for e in user_time_order(users, items, timestamps).tolist():
        if users[e] != current:
            current, cut_seen = users[e], False
        cut_seen = cut_seen or bool(held[e])
        if cut_seen:
            out[e] = "test"
    return out


__all__ = [
    "BELOW_THRESHOLD_KIND",
    "META_KEY",
    "POSITIVE_KINDS",
    "SPLIT_RULES",
    "ImportSummary",
    "SplitRule",
    "import_collection",
    "import_settings",
]
