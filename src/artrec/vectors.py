"""Vectors and ids: the shared vocabulary every layer of artrec speaks.

* :func:`as_id_array`: raw ids as a 1-D array of ``str`` (``1234`` and ``"1234"`` name the
  same artwork everywhere);
* :class:`FeatureSet`: a named matrix of per-item vectors with the item ids in row order
  (extracted features and fitted embeddings are both feature sets);
* :func:`load_npy`: read a ``.npy`` matrix safely (never unpickles);
* :func:`append_rows`: grow a stored feature set without loading it.

A feature set is stored as three files next to each other::

    <dir>/<name>.npy        float32 matrix, one row per item
    <dir>/<name>.ids.json   JSON list of item ids (strings) in row order
    <dir>/<name>.json       JSON sidecar: model, weights, preprocessing, version, ...

Matrices are memory-mapped when read. Writes go to temporary files that are renamed into
place, so a crash never leaves a half-written feature set behind.

This module imports nothing from artrec but :mod:`artrec.errors` and :mod:`artrec.fileio`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artrec.errors import DataError
from artrec.fileio import atomic_write, write_json

#: Rows copied at a time when a stored matrix is streamed into a new file.
_COPY_CHUNK = 65536


@dataclass(frozen=True)
class FeatureSet:
    """A named matrix of features, one row per item.

    Parameters
    ----------
    name
        Short name, used as the file stem (``"efficientnet_lite0"``, ``"resnet50"``).
    item_ids
        Raw item ids in row order.
    matrix
        ``(n_items, dim)`` array; validated to be 2-D, finite and row-aligned with ``item_ids``.
    meta
        Free-form description (model, weights, preprocessing, dtype, version, bad items).
    """

    name: str
    item_ids: np.ndarray
    matrix: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = as_id_array(self.item_ids)
        object.__setattr__(self, "item_ids", ids)
        m = self.matrix
        if m.ndim != 2:
            raise DataError(f"feature set {self.name!r}: matrix must be 2-D, got shape {m.shape}")
        if m.shape[0] != len(ids):
            raise DataError(f"feature set {self.name!r}: {m.shape[0]} rows but {len(ids)} item ids")
        if not np.issubdtype(m.dtype, np.floating):
            raise DataError(
                f"feature set {self.name!r}: matrix must be floating point, got {m.dtype}"
            )

    @property
    def dim(self) -> int:
        """Number of feature dimensions."""
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def check_finite(self) -> None:
        """Raise :class:`DataError` naming the first item whose row holds NaN or inf."""
        bad = ~np.isfinite(self.matrix).all(axis=1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"feature set {self.name!r}: item {self.item_ids[row]!r} (row {row}) has NaN or inf "
                f"({int(bad.sum())} bad rows in all)"
            )

    def align(self, item_ids: Any) -> FeatureSet:
        """The rows for ``item_ids``, in that order; raises naming the first missing id."""
        index = {item_id: r for r, item_id in enumerate(self.item_ids.tolist())}
        wanted = as_id_array(item_ids).tolist()
        missing = [i for i in wanted if i not in index]
        if missing:
            raise DataError(
                f"feature set {self.name!r} lacks {len(missing)} of the requested items, "
                f"first {missing[0]!r}"
            )
        rows = np.fromiter((index[i] for i in wanted), dtype=np.int64, count=len(wanted))
        return FeatureSet(
            self.name,
            np.asarray(wanted, dtype=object),
            np.asarray(self.matrix[rows]),
            dict(self.meta),
        )

    def save(self, directory: str | Path) -> Path:
        """Write the feature set atomically into ``directory``; returns the ``.npy`` path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        npy = directory / f"{self.name}.npy"
        atomic_write(npy, lambda f: np.save(f, np.ascontiguousarray(self.matrix, dtype=np.float32)))
        atomic_write(
            directory / f"{self.name}.ids.json",
            lambda f: f.write(json.dumps(self.item_ids.tolist()).encode()),
        )
        meta = {
            **self.meta,
            "name": self.name,
            "n_items": len(self),
            "dim": self.dim,
            "dtype": "float32",
        }
        atomic_write(
            directory / f"{self.name}.json",
            lambda f: f.write(json.dumps(meta, indent=2, default=str).encode()),
        )
        return npy

    @classmethod
    def load(cls, directory: str | Path, name: str, *, mmap: bool = True) -> FeatureSet:
        """Read a feature set written by :meth:`save` (memory-mapped unless ``mmap=False``)."""
        directory = Path(directory)
        npy = directory / f"{name}.npy"
        ids_path = directory / f"{name}.ids.json"
        if not npy.is_file():
            raise DataError(f"no feature set {name!r} in {directory} (missing {npy.name})")
        matrix = load_npy(npy, mmap=mmap)
        try:
            ids = json.loads(ids_path.read_text())
        except FileNotFoundError:
            raise DataError(f"feature set {name!r}: missing ids file {ids_path}") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"feature set {name!r}: {ids_path} is not valid JSON ({exc})") from None
        if not isinstance(ids, list):
            raise DataError(f"feature set {name!r}: {ids_path} must hold a JSON list of ids")
        meta_path = directory / f"{name}.json"
        meta: dict[str, Any] = {}
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"feature set {name!r}: {meta_path} is not valid JSON ({exc})"
                ) from None
        return cls(name, np.asarray(ids, dtype=object), matrix, meta)

    @staticmethod
    def available(directory: str | Path) -> list[str]:
        """Names of the feature sets stored in ``directory``."""
        directory = Path(directory)
        if not directory.is_dir():
            return []
        return sorted(
            p.stem for p in directory.glob("*.npy") if (directory / f"{p.stem}.ids.json").is_file()
        )


def load_npy(path: str | Path, *, mmap: bool = True) -> np.ndarray:
    """Load a ``.npy`` matrix safely (never unpickles); raises :class:`DataError` naming the file."""
    path = Path(path)
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{path}: expected a single array")
    return arr


def as_id_array(ids: Iterable[Any]) -> np.ndarray:
    """Return ``ids`` as a 1-D numpy array of Python ``str`` (dtype object).

    Integer ids (as in the notebook's ``index2artworkId.json``) become their decimal text,
    so ``1234`` and ``"1234"`` name the same artwork everywhere.
    """
    if isinstance(ids, (str, bytes)):
        raise DataError(f"expected a sequence of ids, got the single id {ids!r}")
    values = ids.ravel().tolist() if isinstance(ids, np.ndarray) else list(ids)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        out[i] = str(v)
    return out


def append_rows(directory: str | Path, name: str, rows: FeatureSet) -> FeatureSet:
    """Append ``rows`` to the stored feature set ``name`` without loading the old matrix.

    The old rows are streamed into a new file, which replaces the old one atomically (as
    do the ids and the sidecar, which records ``n_appended``). Raises :class:`DataError`
    when the dimensions differ or an id is already stored. Returns the stored set
    (memory-mapped).
    """
    directory = Path(directory)
    old = FeatureSet.load(directory, name)
    if rows.dim != old.dim:
        raise DataError(
            f"cannot append {rows.dim}-dimensional rows to {name!r} ({old.dim} dimensions)"
        )
    known = set(old.item_ids.tolist())
    for item_id in rows.item_ids.tolist():
        if item_id in known:
            raise DataError(f"item {item_id!r} is already in {name!r}")
    n_old, n_new = len(old), len(rows)
    pid = os.getpid()
    tmp = directory / f".{name}.append-{pid}.npy"
    out = np.lib.format.open_memmap(
        tmp, mode="w+", dtype=np.float32, shape=(n_old + n_new, old.dim)
    )
    for lo in range(0, n_old, _COPY_CHUNK):
        hi = min(n_old, lo + _COPY_CHUNK)
        out[lo:hi] = old.matrix[lo:hi]
    out[n_old:] = np.asarray(rows.matrix, dtype=np.float32)
    out.flush()
    del out
    ids = [*old.item_ids.tolist(), *rows.item_ids.tolist()]
    meta = {
        **old.meta,
        "n_items": n_old + n_new,
        "n_appended": int(old.meta.get("n_appended", 0)) + n_new,
    }
    os.replace(tmp, directory / f"{name}.npy")
    write_json(directory / f"{name}.ids.json", ids)
    write_json(directory / f"{name}.json", meta, indent=2)
    return FeatureSet.load(directory, name)
