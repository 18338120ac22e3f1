"""Saved indexes in a workspace: where they live, how to read them back, what they hold.

:func:`build_saved_index` (``artrec index build``) writes one directory per (embedding,
index kind, metric)::

    <workspace>/index/<embedding>--<kind>--<metric>/
        index.json     the index's own sidecar (exact or FAISS format)
        store.json     which embedding it was built from, when, and how many items
        ...            the index's files (vectors.npy, ids.json, index.faiss, labels.npy)

:func:`load_index` reads any saved index (it dispatches on the sidecar's ``format``), so
callers such as the engine, the server and :mod:`artrec.incremental` need not know which
back end wrote it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from artrec.errors import DataError, short_repr
from artrec.fileio import check_name, read_json, write_json
from artrec.index.base import MutableIndex

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

    def summary(self) -> dict[str, Any]:
        """One row for a listing: sizes, hidden and removed counts, parameters."""
        info = self.info
        size = sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())
        params = info.get("params") or {
            k: info[k] for k in ("batch_size", "item_block", "dtype") if k in info
        }
        hidden = info.get("hidden", info.get("hidden_rows", []))
        return {
            "name": self.name,
            "embedding": self.embedding,
            "kind": self.kind,
            "metric": self.metric,
            "n_items": info.get("n_items"),
            "hidden": len(hidden) if isinstance(hidden, list) else 0,
            "removed": info.get("n_removed", 0),
            "dim": info.get("dim"),
            "params": " ".join(f"{k}={v}" for k, v in params.items() if v is not None),
            "size_mb": round(size / 2**20, 2),
        }


@dataclass(frozen=True)
class BuiltIndex:
    """What :func:`build_saved_index` built and where it saved it."""

    directory: Path
    embedding: str
    kind: str
    metric: str
    n_items: int
    dim: int
    seconds: float


def index_name(embedding: str, kind: str, metric: str) -> str:
    """Directory name of a saved index: ``<embedding>--<kind>--<metric>``."""
    for part, what in ((embedding, "embedding"), (kind, "index kind"), (metric, "metric")):
        check_name(part, what=f"{what} name")
        if "--" in part:
            raise DataError(
                f"invalid {what} name {short_repr(part)} for a saved index (holds '--')"
            )
    return check_name(f"{embedding}--{kind}--{metric}", what="index name")


def save_index(
    workspace: Workspace,
    index: MutableIndex,
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


def build_saved_index(
    workspace: Workspace,
    *,
    embedding: str | None = None,
    kind: str = "faiss-hnsw",
    metric: str = "cosine",
    params: dict[str, Any] | None = None,
    name: str | None = None,
) -> BuiltIndex:
    """Build an index of ``kind`` over an embedding (default: the workspace's) and save it.

    The build is recorded as an ``index-build`` run. Raises :class:`DataError` for an
    unknown embedding, kind or parameter, or a non-finite vector.
    """
    from artrec.index.factory import make_index
    from artrec.vectors import FeatureSet

    embedding = workspace.resolve_embedding(embedding)
    params = dict(params or {})
    vectors = FeatureSet.load(workspace.embeddings_dir, embedding)
    vectors.check_finite()
    index = make_index(kind, metric, **params)
    start = time.perf_counter()
    index.build(vectors.matrix, vectors.item_ids)
    seconds = time.perf_counter() - start
    directory = save_index(
        workspace,
        index,
        embedding=embedding,
        kind=kind,
        name=name,
        extra={"build_seconds": seconds},
    )
    workspace.record_run(
        "index-build",
        {"embedding": embedding, "kind": kind, "metric": metric, **params},
        {"n_items": index.n_items, "seconds": seconds, "directory": str(directory)},
    )
    return BuiltIndex(directory, embedding, kind, metric, index.n_items, index.dim, seconds)


def load_index(directory: str | Path, *, mmap: bool = True) -> MutableIndex:
    """Read an index saved by ``save`` of the exact or the FAISS index (vectors memory-mapped).

    Raises :class:`DataError` when ``directory`` holds no readable saved index.
    """
    directory = Path(directory)
    meta_path = directory / "index.json"
    meta = read_json(meta_path)
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt == _FAISS_FORMAT:
        from artrec.index.faiss_index import FaissIndex

        return FaissIndex.load(directory, mmap=mmap)
    if fmt == _EXACT_FORMAT:
        from artrec.index.exact import ExactIndex

        return ExactIndex.load(directory, mmap=mmap)
    raise DataError(f"{meta_path}: unknown index format {short_repr(fmt)}")


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
            record, meta = read_json(store), read_json(sidecar)
        except DataError:
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
) -> MutableIndex | None:
    """The saved index for (embedding, kind, metric), or ``None`` when there is none."""
    directory = workspace.index_dir / index_name(embedding, kind, metric)
    if not (directory / STORE_FILE).is_file():
        return None
    return load_index(directory)
