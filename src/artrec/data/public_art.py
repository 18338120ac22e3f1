"""The public-art dataset: 5,736 public-domain paintings with 200x200 thumbnails.

Provenance: the public GitHub repository ``heyitsnoah/public-art`` at commit ``d9e15e8``,
folder ``dist/`` (``data.json`` and ``thumbnails/<id>.jpg``). Metadata comes from Wikidata
and the open-access APIs of the Art Institute of Chicago, the Metropolitan Museum of Art and
the Cleveland Museum of Art.

Where the data is looked for, in order:

1. ``data_home`` (the folder that *contains* ``public-art/``, or ``public-art/`` itself);
2. ``$ARTREC_DATA_HOME`` (same two forms);
3. the user's cache directory, :func:`default_cache_dir` (``$XDG_CACHE_HOME/artrec`` or
   ``~/.cache/artrec``; ``%LOCALAPPDATA%\\artrec`` on Windows; ``~/Library/Caches/artrec`` on
   macOS).

When none has it, :func:`fetch_public_art` downloads it into the cache directory (if
``download_if_missing`` and the network allows), checks every file (JSON parses, record count,
each thumbnail decodes) and only then moves it into place. Without a network it raises a
:class:`~artrec.errors.DataError` that says exactly how to get the files.

Artist names are normalised on reading with the alias table of
:mod:`artrec.data.public_art_artists` (13 bare Wikidata ids and 7 second spellings in the
source); the value as given is kept in the column ``artist_as_given`` where it changed.

Thumbnails are *hard-linked* (or copied, where links are impossible) into the workspace image
store ``<workspace>/images/public-art/<id>.jpg`` and the catalogue records that path: the
server only serves files inside the workspace image store, and a workspace stays usable when
the dataset folder moves. Hard links cost no disk space.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog
from artrec.data.public_art_artists import normalize_artist
from artrec.data.workspace import Workspace
from artrec.errors import DataError
from artrec.images.fetch import FetchError, FetchOptions, fetch_to

DATASET_DIR = "public-art"
SOURCE_REPOSITORY = "heyitsnoah/public-art"
SOURCE_COMMIT = "d9e15e8"
#: Where the files are downloaded from: ``<base>/data.json`` and ``<base>/thumbnails/<id>.jpg``.
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/{SOURCE_REPOSITORY}/{SOURCE_COMMIT}/dist"
#: Number of records in ``data.json`` at that commit.
EXPECTED_RECORDS = 5736
DATA_HOME_ENV = "ARTREC_DATA_HOME"
META_KEY = "public_art"

#: data.json key -> catalogue column.
_FIELDS: dict[str, str] = {
    "t": "title",
    "a": "artist",
    "y": "year",
    "d": "date",
    "m": "medium",
    "u": "museum",
    "c": "city",
    "cn": "century",
    "h": "height_cm",
    "w": "width_cm",
    "img": "image_url",
    "wd": "wikidata",
    "mu": "museum_extra",
}

Progress = Callable[[str, int, int], None]


@dataclass
class PublicArtReport:
    """What loading the dataset found.

    Attributes
    ----------
    directory
        The ``public-art`` folder that was read.
    n_records
        Records in ``data.json``.
    n_items
        Items written to the catalogue (records with a thumbnail, possibly a subset).
    records_without_thumbnail
        Ids of records whose ``thumbnails/<id>.jpg`` is missing (left out of the catalogue).
    thumbnails_without_record
        Thumbnail file stems that no record names (ignored).
    bad_records
        ``(position or id, reason)`` for malformed records (left out).
    downloaded
        Whether the files were downloaded in this call.
    link_mode
        ``"hardlink"``, ``"copy"`` or ``"mixed"``: how thumbnails entered the workspace.
    artists_normalized
        Items whose artist value the alias table replaced.
    """

    directory: str
    n_records: int = 0
    n_items: int = 0
    records_without_thumbnail: list[str] = field(default_factory=list)
    thumbnails_without_record: list[str] = field(default_factory=list)
    bad_records: list[tuple[str, str]] = field(default_factory=list)
    downloaded: bool = False
    link_mode: str = "hardlink"
    artists_normalized: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return asdict(self)


def default_cache_dir() -> Path:
    """The per-user cache directory of artrec (created on demand by the callers)."""
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "artrec"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "artrec"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "artrec"


def _as_dataset_dir(path: str | Path) -> Path | None:
    """``path`` itself or ``path/public-art`` when it holds ``data.json``."""
    p = Path(path).expanduser()
    for cand in (p, p / DATASET_DIR):
        if (cand / "data.json").is_file():
            return cand
    return None


def locate_public_art(data_home: str | Path | None = None) -> Path | None:
    """Find the ``public-art`` folder: ``data_home``, then ``$ARTREC_DATA_HOME``, then the cache.

    Returns ``None`` when no candidate holds ``data.json``.
    """
    candidates: list[Path] = []
    if data_home is not None:
        candidates.append(Path(data_home))
    env = os.environ.get(DATA_HOME_ENV)
    if env:
        candidates.append(Path(env))
    candidates.append(default_cache_dir())
    for cand in candidates:
        found = _as_dataset_dir(cand)
        if found is not None:
            return found
    return None


def how_to_get_data(target: Path) -> str:
    """Instructions for getting the dataset by hand."""
    return (
        f"the public-art dataset was not found. Get it from https://github.com/{SOURCE_REPOSITORY} "
        f"(commit {SOURCE_COMMIT}): `git clone https://github.com/{SOURCE_REPOSITORY}.git && "
        f"git -C public-art checkout {SOURCE_COMMIT}`, then copy its dist/data.json and "
        f"dist/thumbnails/ into {target}/ (so that {target}/data.json exists), or point "
        f"--data-home / ${DATA_HOME_ENV} at a folder that contains public-art/"
    )


# -- reading ------------------------------------------------------------------------------
def read_records(directory: str | Path) -> list[Any]:
    """The raw records of ``<directory>/data.json``; :class:`DataError` naming the file if bad."""
    path = Path(directory) / "data.json"
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of records, got {type(records).__name__}")
    return records


def _clean(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in ("y",):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if key in ("h", "w"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if np.isfinite(number) else None
    if key == "cn":
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return int(value)
        return str(value)
    return str(value)


def load_public_art(
    directory: str | Path,
    *,
    item_ids: Sequence[str] | None = None,
    normalize_artists: bool = True,
) -> tuple[Catalog, PublicArtReport]:
    """Read the dataset folder into a :class:`Catalog` (images point at the thumbnails in place).

    Parameters
    ----------
    directory
        The ``public-art`` folder (with ``data.json`` and ``thumbnails/``).
    item_ids
        Keep only these ids (in the dataset's order); ``None`` keeps all.
    normalize_artists
        Replace artist values by the names of the alias table
        (:func:`artrec.data.public_art_artists.normalize_artist`), keeping the value as given
        in the column ``artist_as_given``; ``False`` keeps the source's values.

    Returns
    -------
    catalog, report
        Malformed records, records without a thumbnail and thumbnails without a record are
        listed in the report, never fatal.
    """
    directory = Path(directory)
    records = read_records(directory)
    thumbs_dir = directory / "thumbnails"
    thumbs = {p.stem for p in thumbs_dir.glob("*.jpg")} if thumbs_dir.is_dir() else set()
    report = PublicArtReport(directory=str(directory), n_records=len(records))
    wanted = None if item_ids is None else set(map(str, item_ids))
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []
    for pos, rec in enumerate(records):
        if not isinstance(rec, dict):
            report.bad_records.append((f"#{pos}", f"not an object ({type(rec).__name__})"))
            continue
        item_id = rec.get("i")
        if not isinstance(item_id, str) or not item_id.strip():
            report.bad_records.append((f"#{pos}", "missing or empty id 'i'"))
            continue
        if "/" in item_id or "\\" in item_id or item_id.startswith("."):
            report.bad_records.append((item_id, "id is not a safe file name"))
            continue
        if item_id in seen:
            report.bad_records.append((item_id, "duplicate id"))
            continue
        seen.add(item_id)
        if item_id not in thumbs:
            report.records_without_thumbnail.append(item_id)
            continue
        if wanted is not None and item_id not in wanted:
            continue
        kept.append(rec)
    report.thumbnails_without_record = sorted(thumbs - seen)
    n = len(kept)
    ids = np.array([r["i"] for r in kept], dtype=object)
    metadata: dict[str, np.ndarray] = {}
    for key, column in _FIELDS.items():
        col = np.empty(n, dtype=object)
        for row, rec in enumerate(kept):
            col[row] = _clean(key, rec.get(key))
        if key in ("t", "a", "y", "d", "m", "u", "c", "cn", "h", "w") or any(
            v is not None for v in col.tolist()
        ):
            metadata[column] = col
    if normalize_artists:
        artist = metadata["artist"]
        given = np.full(n, None, dtype=object)
        for row, value in enumerate(artist.tolist()):
            name = normalize_artist(value)
            if name != value:
                given[row] = value
                artist[row] = name
                report.artists_normalized += 1
        if report.artists_normalized:
            metadata["artist_as_given"] = given
    image = np.array([str(thumbs_dir / f"{i}.jpg") for i in ids.tolist()], dtype=object)
    report.n_items = n
    return Catalog(ids, metadata, image), report


# -- the workspace ------------------------------------------------------------------------
def _link_or_copy(src: Path, dst: Path) -> str:
    if dst.exists():
        if dst.stat().st_size == src.stat().st_size:
            return "hardlink" if dst.stat().st_ino == src.stat().st_ino else "copy"
        dst.unlink()
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    try:
        os.link(src, tmp)
        mode = "hardlink"
    except OSError:
        shutil.copy2(src, tmp)
        mode = "copy"
    os.replace(tmp, dst)
    return mode


def fetch_public_art(
    data_home: str | Path | None = None,
    workspace: Workspace | str | Path | None = None,
    *,
    download_if_missing: bool = True,
    item_ids: Sequence[str] | None = None,
    base_url: str = DEFAULT_BASE_URL,
    expected_records: int | None = EXPECTED_RECORDS,
    progress: Progress | None = None,
    allow_private: bool = False,
) -> Workspace:
    """Load the public-art catalogue into a workspace, downloading it first if needed.

    Parameters
    ----------
    data_home
        Folder containing ``public-art/`` (or ``public-art/`` itself). Falls back to
        ``$ARTREC_DATA_HOME``, then :func:`default_cache_dir`.
    workspace
        Target workspace (created if needed). ``None`` uses ``<cache dir>/workspace``.
    download_if_missing
        Download from the public source (``base_url``) into the cache directory when the data
        is nowhere to be found; otherwise raise with instructions.
    item_ids
        Load only these ids (a trimmed catalogue); ``None`` loads everything.
    base_url
        Download source (the repository's ``dist/`` folder at the pinned commit).
    expected_records
        Record count a download must have (``None`` skips the check).
    progress
        Optional callback ``(step, done, total)``; the library never prints.
    allow_private
        Let the download reach loopback and private addresses (a mirror on an intranet);
        see :func:`download_public_art`.

    Returns
    -------
    Workspace
        With the catalogue (title, artist, year, date, medium, museum, city, century, size,
        thumbnail path, original image URL) written. The loading report (missing thumbnails,
        orphan thumbnails, bad records) is stored as JSON in the workspace meta key
        ``"public_art"``; read it with :func:`public_art_report`.
    """
    directory = locate_public_art(data_home)
    downloaded = False
    if directory is None:
        target = default_cache_dir() / DATASET_DIR
        if not download_if_missing:
            raise DataError(how_to_get_data(target))
        directory = download_public_art(
            target,
            base_url=base_url,
            expected_records=expected_records,
            progress=progress,
            allow_private=allow_private,
        )
        downloaded = True
    if workspace is None:
        workspace = default_cache_dir() / "workspace"
    ws = workspace if isinstance(workspace, Workspace) else Workspace.create(workspace)
    if not ws.db_path.exists():
        ws = Workspace.create(ws.root)
    catalog, report = load_public_art(directory, item_ids=item_ids)
    report.downloaded = downloaded
    store = ws.images_dir / DATASET_DIR
    store.mkdir(parents=True, exist_ok=True)
    assert catalog.image is not None  # set by load_public_art
    local = np.empty(catalog.n_items, dtype=object)
    modes: set[str] = set()
    for row, src in enumerate(catalog.image.tolist()):
        dst = store / Path(src).name
        modes.add(_link_or_copy(Path(src), dst))
        local[row] = str(dst.resolve())
        if progress is not None and (row % 500 == 0 or row == catalog.n_items - 1):
            progress("link thumbnails", row + 1, catalog.n_items)
    report.link_mode = modes.pop() if len(modes) == 1 else ("mixed" if modes else "hardlink")
    ws.upsert_items(Catalog(catalog.item_ids, catalog.metadata, local))
    ws.set_meta(META_KEY, json.dumps(report.to_dict()))
    return ws


def public_art_report(workspace: Workspace) -> dict[str, Any] | None:
    """The report stored by :func:`fetch_public_art`, or ``None`` if it never ran there."""
    raw = workspace.get_meta(META_KEY)
    return None if raw is None else dict(json.loads(raw))


# -- downloading --------------------------------------------------------------------------
def _get(url: str, target: Path, options: FetchOptions) -> None:
    """Download ``url`` to ``target`` through the SSRF-safe fetcher (raises FetchError)."""
    fetch_to(url, target, options)


def _decodes(path: Path) -> str | None:
    """``None`` if ``path`` is a decodable image, else the reason."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
    except Exception as exc:  # any decoding failure is a reason, not a crash
        return f"{type(exc).__name__}: {exc}"
    return None


def download_public_art(
    target: str | Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    expected_records: int | None = EXPECTED_RECORDS,
    timeout: float = 30.0,
    workers: int = 8,
    progress: Progress | None = None,
    allow_private: bool = False,
) -> Path:
    """Download ``data.json`` and every thumbnail into ``target`` and check them.

    Downloads go through :func:`artrec.images.fetch.fetch_to`: only public addresses
    (``allow_private`` also lets loopback and private ones through, for a mirror on an
    intranet), redirects checked again, at most ``timeout`` seconds per socket read, a
    deadline per file, bodies shorter than announced refused.

    Files go to ``<target>.partial/`` first (a rerun resumes there, skipping thumbnails that
    already decode); only when the JSON parses, holds ``expected_records`` records (``None``
    skips that check) and every record's thumbnail decodes is the folder renamed to
    ``target``.

    Raises
    ------
    DataError
        Network unreachable (with instructions for a manual download), wrong record count, or
        thumbnails that fail to download or decode (all listed, up to 10).
    """
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    (partial / "thumbnails").mkdir(parents=True, exist_ok=True)
    base = base_url.rstrip("/")

    def options(max_bytes: int, deadline: float) -> FetchOptions:
        return FetchOptions(
            read_timeout=timeout,
            deadline=deadline,
            max_bytes=max_bytes,
            allow_private=allow_private,
        )

    try:
        _get(
            f"{base}/data.json",
            partial / "data.json",
            options(512 * 1024 * 1024, 20 * timeout),
        )
    except (FetchError, OSError) as exc:
        raise DataError(
            f"could not download {base}/data.json ({exc}); " + how_to_get_data(target)
        ) from None
    records = read_records(partial)
    if expected_records is not None and len(records) != expected_records:
        raise DataError(
            f"{base}/data.json holds {len(records)} records, expected {expected_records} "
            f"(commit {SOURCE_COMMIT})"
        )
    ids = [r["i"] for r in records if isinstance(r, dict) and isinstance(r.get("i"), str)]
    ids = [i for i in ids if "/" not in i and "\\" not in i and not i.startswith(".")]

    def one(item_id: str) -> tuple[str, str | None]:
        dst = partial / "thumbnails" / f"{item_id}.jpg"
        if dst.is_file() and _decodes(dst) is None:
            return item_id, None
        url = f"{base}/thumbnails/{urllib.parse.quote(item_id)}.jpg"
        try:
            _get(url, dst, options(16 * 1024 * 1024, 2 * timeout))
        except (FetchError, OSError) as exc:
            return item_id, f"download failed: {exc}"
        return item_id, _decodes(dst)

    failures: list[tuple[str, str]] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, (item_id, problem) in enumerate(pool.map(one, ids), start=1):
            if problem is not None:
                failures.append((item_id, problem))
            if progress is not None:
                progress("download thumbnails", done, len(ids))
    if failures:
        listed = "; ".join(f"{i}: {why}" for i, why in failures[:10])
        raise DataError(
            f"{len(failures)} of {len(ids)} public-art thumbnails failed to download or decode "
            f"(kept in {partial}; rerun to resume): {listed}"
        )
    if target.exists():
        shutil.rmtree(target)
    os.replace(partial, target)
    return target


def select_subset(catalog: Catalog, n: int, *, seed: int = 0) -> list[str]:
    """A deterministic subset of about ``n`` item ids for trimmed runs.

    Half of the budget goes to whole groups (up to 8 works) of artists with at least 5 works,
    so that same-artist retrieval and artist-based tastes stay measurable; the rest is a seeded
    random sample of the other works. Returned in catalogue order.
    """
    if n >= catalog.n_items:
        return catalog.item_ids.tolist()
    rng = np.random.default_rng(seed)
    artists = catalog.artists()
    chosen: set[int] = set()
    if artists is not None:
        groups: dict[str, list[int]] = {}
        for row, a in enumerate(artists.tolist()):
            if a is not None:
                groups.setdefault(a, []).append(row)
        prolific = sorted(a for a, rows in groups.items() if len(rows) >= 5)
        for idx in rng.permutation(len(prolific)).tolist():
            rows = groups[prolific[idx]]
            take = rng.permutation(len(rows))[:8]
            if len(chosen) + len(take) > n // 2:
                break
            chosen.update(rows[t] for t in take.tolist())
    rest = np.setdiff1d(np.arange(catalog.n_items), np.fromiter(chosen, np.int64, len(chosen)))
    extra = rng.choice(rest, size=min(len(rest), n - len(chosen)), replace=False)
    chosen.update(extra.tolist())
    return [catalog.item_ids[r] for r in sorted(chosen)]
