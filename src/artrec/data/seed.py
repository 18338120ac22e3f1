"""The course notebook's ``assets/`` folder: loading it and importing it into a workspace.

The folder holds exactly these files (the notebook's own names)::

    resnet50_feature_matrix.npy    float matrix, one row per artwork (2048 columns)
    vgg19_feature_matrix.npy       float matrix, one row per artwork (4096 columns)
    index2artworkId.json           JSON list of int artwork ids, in row order
    artworkImageUrlsCache.json     {str(id): {"medium": url, ...}}; may lack some ids
    past_transactions.pickle       per user, the int artwork ids bought before the split
    ground_truth.pickle            per user, the int artwork ids bought after the split

Users are the keys 0..n-1 of a dict or the positions of a list. The pickles are read with
the restricted unpickler of :mod:`artrec.data.safe_pickle`, never with :func:`pickle.load`.

Everything is checked before the workspace is touched: the matrices' headers against
their file sizes, values that would overflow float32, ids (plain Unicode text of bounded
length), and the number of purchases against :func:`artrec.limits.max_events`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.safe_pickle import load_user_items
from artrec.data.simulate import mark_simulated
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError, short_repr
from artrec.fileio import read_json
from artrec.limits import check_event_count
from artrec.limits import max_events as max_events_limit
from artrec.vectors import FeatureSet, as_id_array, check_float32_range, load_matrix, nonfinite_rows

IDS_FILE = "index2artworkId.json"
URLS_FILE = "artworkImageUrlsCache.json"
TRAIN_FILE = "past_transactions.pickle"
TEST_FILE = "ground_truth.pickle"
#: Feature set name -> matrix file.
FEATURE_FILES: dict[str, str] = {
    "resnet50": "resnet50_feature_matrix.npy",
    "vgg19": "vgg19_feature_matrix.npy",
}
#: Marker written by :func:`artrec.data.synthetic.write_seed_assets` into simulated folders.
SIMULATED_MARKER = "SIMULATED.txt"


@dataclass
class SeedAssets:
    """Everything in a notebook ``assets/`` folder, as artrec objects.

    Attributes
    ----------
    directory
        The folder read.
    catalog
        The artworks in ``index2artworkId.json`` order; ``image`` is the "medium" URL
        (``None`` where the URL cache has no entry).
    feature_sets
        ``resnet50`` and ``vgg19``, memory-mapped, row-aligned with the catalogue.
    interactions
        Purchases: split ``"train"`` from ``past_transactions.pickle`` and ``"test"`` from
        ``ground_truth.pickle``; kind ``"purchase"``; timestamps NaN (none are given). User
        ids are the user indices as text.
    missing_item_ids
        Distinct item ids bought in the transactions but absent from the catalogue
        (reported, not fatal; with ``missing_items="keep"`` their events stay in the log).
    n_missing_events
        Number of events on those ids.
    missing_urls
        Number of catalogue items without an image URL.
    nan_rows
        Feature set name -> item ids whose row holds NaN or inf (only filled with
        ``on_nan="report"``; the default raises).
    simulated
        True when the folder carries the marker of generated (simulated) data.
    warnings
        Human-readable notes about everything unusual found.
    """

    directory: Path
    catalog: Catalog
    feature_sets: list[FeatureSet]
    interactions: Interactions
    missing_item_ids: list[str] = field(default_factory=list)
    n_missing_events: int = 0
    missing_urls: int = 0
    nan_rows: dict[str, list[str]] = field(default_factory=dict)
    simulated: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def n_users(self) -> int:
        """Number of distinct users (train and test together)."""
        return len(set(self.interactions.user_ids.tolist()))


@dataclass
class ImportReport:
    """What :func:`import_seed` wrote into the workspace."""

    assets_dir: Path
    workspace: Path
    n_items: int
    n_users: int
    n_train_events: int
    n_test_events: int
    feature_sets: dict[str, int]
    missing_item_ids: list[str]
    n_missing_events: int
    missing_urls: int
    simulated: bool
    warnings: list[str]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "assets_dir": str(self.assets_dir),
            "workspace": str(self.workspace),
            "n_items": self.n_items,
            "n_users": self.n_users,
            "n_train_events": self.n_train_events,
            "n_test_events": self.n_test_events,
            "feature_sets": dict(self.feature_sets),
            "missing_item_ids": list(self.missing_item_ids),
            "n_missing_events": self.n_missing_events,
            "missing_urls": self.missing_urls,
            "simulated": self.simulated,
            "warnings": list(self.warnings),
        }


def load_seed_assets(
    directory: str | Path,
    *,
    on_nan: str = "raise",
    missing_items: str = "keep",
    max_events: int | None = None,
) -> SeedAssets:
    """Read a notebook ``assets/`` folder.

    Parameters
    ----------
    directory
        The folder with the six files named in the module docstring.
    on_nan
        ``"raise"`` (default): a feature row with NaN or inf raises :class:`DataError`
        naming the file, the item and the count. ``"report"``: such rows are listed in
        :attr:`SeedAssets.nan_rows` and in the warnings.
    missing_items
        What to do with transaction events whose item id is not in the catalogue:
        ``"keep"`` them in the log (default) or ``"drop"`` them. Either way they are
        reported in :attr:`SeedAssets.missing_item_ids`.
    max_events
        Most purchases accepted, both pickles together (default
        :func:`artrec.limits.max_events`: ``$ARTREC_MAX_EVENTS`` or 10,000,000).

    Returns
    -------
    SeedAssets

    Raises
    ------
    DataError
        A file is missing or malformed (message names the file): bad JSON, a matrix whose
        header disagrees with its size or whose row count differs from
        ``len(index2artworkId)``, a value beyond float32, an unsafe or malformed pickle.
    LimitError
        More than ``max_events`` purchases, or a file beyond the size or nesting bounds.
    """
    if on_nan not in ("raise", "report"):
        raise DataError(f"on_nan must be 'raise' or 'report', got {short_repr(on_nan)}")
    if missing_items not in ("keep", "drop"):
        raise DataError(f"missing_items must be 'keep' or 'drop', got {short_repr(missing_items)}")
    limit = max_events_limit(max_events)
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory (expected the notebook's assets/ folder)")
    warnings: list[str] = []

    item_ids = _read_ids(directory / IDS_FILE)
    n = len(item_ids)

    image, missing_urls = _read_urls(directory / URLS_FILE, item_ids, warnings)
    catalog = Catalog(item_ids, {}, image)

    feature_sets: list[FeatureSet] = []
    nan_rows: dict[str, list[str]] = {}
    for name, filename in FEATURE_FILES.items():
        path = directory / filename
        matrix = load_matrix(path, mmap=True)
        if matrix.shape[0] != n:
            raise DataError(f"{filename}: {matrix.shape[0]} rows but {IDS_FILE} lists {n} artworks")
        check_float32_range(matrix, filename, catalog.item_ids)
        bad = nonfinite_rows(matrix)
        if bad.size:
            first = catalog.item_ids[bad[0]]
            msg = (
                f"{filename}: {bad.size} rows hold NaN or inf, first item {first!r} (row {bad[0]})"
            )
            if on_nan == "raise":
                raise DataError(msg)
            warnings.append(msg)
            nan_rows[name] = catalog.item_ids[bad].tolist()
        meta = {
            "source": "notebook assets",
            "file": filename,
            "model": name,
            "source_dtype": str(matrix.dtype),
        }
        feature_sets.append(FeatureSet(name, catalog.item_ids, matrix, meta))

    parts = []
    n_events = 0
    for split, filename in (("train", TRAIN_FILE), ("test", TEST_FILE)):
        users = load_user_items(directory / filename, max_events=limit)
        n_events += sum(len(items) for items in users.values())
        check_event_count(n_events, limit, f"{TRAIN_FILE} and {TEST_FILE}")
        user_col: list[str] = []
        item_col: list[str] = []
        for user, items in users.items():
            for item in items:
                user_col.append(str(user))
                item_col.append(str(item))
        parts.append(
            Interactions(
                np.asarray(user_col, dtype=object),
                np.asarray(item_col, dtype=object),
                np.full(len(user_col), np.nan),
                np.full(len(user_col), "purchase", dtype=object),
                np.full(len(user_col), split, dtype=object),
            )
        )
    interactions = Interactions.concat(parts)

    known = catalog.rows_of(interactions.item_ids, missing="mark") >= 0
    missing_item_ids: list[str] = []
    n_missing_events = int((~known).sum())
    if n_missing_events:
        missing_item_ids = sorted(
            set(interactions.item_ids[~known].tolist()), key=lambda s: (len(s), s)
        )
        action = "dropped" if missing_items == "drop" else "kept in the log"
        warnings.append(
            f"{n_missing_events} purchase events name {len(missing_item_ids)} item ids that are "
            f"not in {IDS_FILE} (first {missing_item_ids[0]!r}); {action}"
        )
        if missing_items == "drop":
            interactions = interactions.select(known)

    simulated = (directory / SIMULATED_MARKER).is_file()
    if simulated:
        warnings.append("this assets folder holds simulated (generated) data")

    return SeedAssets(
        directory=directory,
        catalog=catalog,
        feature_sets=feature_sets,
        interactions=interactions,
        missing_item_ids=missing_item_ids,
        n_missing_events=n_missing_events,
        missing_urls=missing_urls,
        nan_rows=nan_rows,
        simulated=simulated,
        warnings=warnings,
    )


def import_seed(
    assets_dir: str | Path,
    workspace: Workspace | str | Path,
    *,
    on_nan: str = "raise",
    missing_items: str = "keep",
    max_events: int | None = None,
) -> ImportReport:
    """Turn a notebook ``assets/`` folder into a workspace.

    Writes the catalogue and the purchases into the workspace database and the two feature
    sets (float32) into ``workspace.features_dir``. The workspace is created if it does not
    exist; it must not already hold items or interactions, so an import is never doubled.

    Parameters
    ----------
    assets_dir
        The assets folder.
    workspace
        A :class:`Workspace` or its directory.
    on_nan, missing_items, max_events
        As in :func:`load_seed_assets`; everything is read and checked before the
        workspace is created or written.

    Returns
    -------
    ImportReport
    """
    assets = load_seed_assets(
        assets_dir, on_nan=on_nan, missing_items=missing_items, max_events=max_events
    )
    ws = workspace if isinstance(workspace, Workspace) else Workspace.create(workspace)
    if not ws.db_path.is_file():
        ws = Workspace.create(ws.root)
    existing_items = ws.n_items()
    existing_events = len(ws.interactions())
    if existing_items or existing_events:
        raise ArtrecError(
            f"workspace {ws.root} already holds {existing_items} items and {existing_events} "
            "interactions; import the seed assets into a new workspace"
        )
    for fs in assets.feature_sets:
        fs.save(ws.features_dir)
    ws.upsert_items(assets.catalog)
    ws.add_interactions(assets.interactions)
    splits = assets.interactions.splits
    n_train = int(np.count_nonzero(splits == "train")) if splits is not None else 0
    n_test = int(np.count_nonzero(splits == "test")) if splits is not None else 0
    report = ImportReport(
        assets_dir=assets.directory,
        workspace=ws.root,
        n_items=assets.catalog.n_items,
        n_users=assets.n_users,
        n_train_events=n_train,
        n_test_events=n_test,
        feature_sets={fs.name: fs.dim for fs in assets.feature_sets},
        missing_item_ids=assets.missing_item_ids,
        n_missing_events=assets.n_missing_events,
        missing_urls=assets.missing_urls,
        simulated=assets.simulated,
        warnings=assets.warnings,
    )
    mark_simulated(ws, assets.simulated)
    ws.record_run(
        "import-seed",
        {"assets_dir": str(assets.directory), "on_nan": on_nan, "missing_items": missing_items},
        {k: v for k, v in report.as_dict().items() if k not in ("assets_dir", "workspace")},
    )
    return report


# -- helpers ---------------------------------------------------------------------------------


def _read_ids(path: Path) -> np.ndarray:
    ids = read_json(path, label=path.name)
    if not isinstance(ids, list):
        raise DataError(
            f"{path.name}: expected a JSON list of artwork ids, got {type(ids).__name__}"
        )
    for pos, v in enumerate(ids):
        if isinstance(v, bool) or not isinstance(v, (int, str)) or (isinstance(v, str) and not v):
            raise DataError(
                f"{path.name}: entry {pos} ({short_repr(v)}) is not an artwork id (int or text)"
            )
    try:
        out = as_id_array(ids)
    except DataError as exc:
        raise DataError(f"{path.name}: {exc}") from None
    if len(set(out.tolist())) != len(out):
        seen: set[str] = set()
        for pos, v in enumerate(out.tolist()):
            if v in seen:
                raise DataError(
                    f"{path.name}: artwork id {v!r} appears twice (again at entry {pos})"
                )
            seen.add(v)
    return out


def _read_urls(path: Path, item_ids: np.ndarray, warnings: list[str]) -> tuple[np.ndarray, int]:
    image = np.full(len(item_ids), None, dtype=object)
    if not path.exists() and not path.is_symlink():
        warnings.append(f"{path.name} is missing; no image URLs")
        return image, len(item_ids)
    cache = read_json(path, label=path.name)
    if not isinstance(cache, dict):
        raise DataError(f"{path.name}: expected a JSON object {{id: {{'medium': url}}}}")
    missing = 0
    for row, item_id in enumerate(item_ids.tolist()):
        entry = cache.get(item_id)
        if entry is None:
            missing += 1
            continue
        if not isinstance(entry, dict):
            raise DataError(
                f"{path.name}: entry for artwork {short_repr(item_id)} is not an object"
            )
        url = entry.get("medium")
        if url is None:
            missing += 1
            continue
        if not isinstance(url, str):
            raise DataError(f"{path.name}: 'medium' URL of artwork {item_id!r} is not text")
        if not _encodable(url):
            raise DataError(
                f"{path.name}: 'medium' URL of artwork {item_id!r} is not valid Unicode text"
            )
        image[row] = url
    if missing:
        warnings.append(f"{path.name}: {missing} of {len(item_ids)} artworks have no 'medium' URL")
    return image, missing


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
