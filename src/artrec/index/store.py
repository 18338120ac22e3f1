"""Saved indexes in a workspace: where they live, how to read them back, what they hold.

``artrec index build`` writes one directory per (embedding, index kind, metric)::

    <workspace>/index/<embedding>--<kind>--<metric>/
        index.json     the index's own sidecar (exact or FAISS format)
        store.json     which embedding it was built from, when, and how many items
        ...            the index's files (vectors.npy, ids.json, index.faiss, labels.npy)

:func:`load_index` reads any saved index (it dispatches on the sidecar's ``format``), so
callers such as the engine, the server and :mod:`artrec.incremental` need not know which
back end wrote it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from artrec.errors import DataError
from artrec.fileio import check_name, write_json
from artrec.index.base import SimilarityIndex

if TYPE_CHECKING:
    from artrec.data.workspace import Workspace

STORE_FILE = "store.json"
_EXACT_FORMAT = "artrec-exact-index"
_FAISS_FORMAT = "artrec-faiss-index"


@dataclass(frozen=True)
class SavedIndex:
    """One saved index, as listed by :func:`saved_indexes`.

    Attributes
    ----------
    name
        Directory name under ``<workspace>/index``.
    directory
        Its path.
    embedding, kind, metric
        What it was built from and how (``kind`` as in
        :data:`artrec.index.factory.INDEX_KINDS`).
    info
        The rest of ``store.json`` and of the index sidecar (parameters, counts, ...).
    """

    name: str
    directory: Path
    embedding: str
    kind: str
    metric: str
    info: dict[str, Any]


def index_name(embedding: str, kind: str, metric: str) -> str:
    """Directory name of a saved index: ``<embedding>--<kind>--<metric>``."""
    for part, what in ((embedding, "embedding"), (kind, "index kind"), (metric, "metric")):
        check_name(part, what=f"{what} name")
        if "--" in part:
            raise DataError(f"invalid {what} name {part!r} for a saved index (holds '--')")
    return check_name(f"{embedding}--{kind}--{metric}", what="index name")


def save_index(
    workspace: Workspace,
    index: SimilarityIndex,
    *,
    embedding: str,
    kind: str,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save a built ``index`` under ``<workspace>/index/`` with its ``store.json``; returns the directory.

    ``name`` (default ``<embedding>--<kind>--<metric>``) must be a plain name
    (:func:`artrec.fileio.check_name`); it is checked before anything is written.
    """
    dir_name = index_name(embedding, kind, index.metric) if name is None else name
    directory = workspace.index_dir / check_name(dir_name, what="index name")
    index.save(directory)
    record = {
        "embedding": embedding,
        "kind": kind,
        "metric": index.metric,
        "n_items": index.n_items,
        "dim": index.dim,
        "saved": time.time(),
        **dict(extra or {}),
    }
    write_json(directory / STORE_FILE, record, indent=1)
    return directory


def load_index(directory: str | Path, *, mmap: bool = True) -> SimilarityIndex:
    """Read an index saved by ``save`` of the exact or the FAISS index (vectors memory-mapped).

    Raises :class:`DataError` when ``directory`` holds no readable saved index.
    """
    directory = Path(directory)
    meta_path = directory / "index.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise DataError(f"no saved index in {directory} (missing index.json)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{meta_path}: not valid JSON ({exc})") from None
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt == _FAISS_FORMAT:
        from artrec.index.faiss_index import FaissIndex

        return FaissIndex.load(directory, mmap=mmap)
    if fmt == _EXACT_FORMAT:
        from artrec.index.exact import ExactIndex

        return ExactIndex.load(directory, mmap=mmap)
    raise DataError(f"{meta_path}: unknown index format {fmt!r}")


def saved_indexes(workspace: Workspace, embedding: str | None = None) -> list[SavedIndex]:
    """The indexes saved in a workspace (optionally only those of one embedding), by name."""
    out: list[SavedIndex] = []
    root = workspace.index_dir
    if not root.is_dir():
        return out
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        store = directory / STORE_FILE
        sidecar = directory / "index.json"
        if not store.is_file() or not sidecar.is_file():
            continue
        try:
            record = json.loads(store.read_text())
            meta = json.loads(sidecar.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(record, dict) or not isinstance(meta, dict):
            continue
        if embedding is not None and record.get("embedding") != embedding:
            continue
        info = {**meta, **record}
        out.append(
            SavedIndex(
                directory.name,
                directory,
                str(record.get("embedding")),
                str(record.get("kind")),
                str(record.get("metric")),
                info,
            )
        )
    return out


def load_saved_index(
    workspace: Workspace, embedding: str, kind: str, metric: str
) -> SimilarityIndex | None:
    """The saved index for (embedding, kind, metric), or ``None`` when there is none."""
    directory = workspace.index_dir / index_name(embedding, kind, metric)
    if not (directory / STORE_FILE).is_file():
        return None
    return load_index(directory)
