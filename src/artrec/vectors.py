"""Vectors and ids: the shared vocabulary every layer of artrec speaks.

* :func:`as_id_array`: raw ids as a 1-D array of ``str`` (``1234`` and ``"1234"`` name the
  same artwork everywhere);
* :class:`FeatureSet`: a named matrix of per-item vectors with the item ids in row order
  (extracted features and fitted embeddings are both feature sets);
* :func:`load_npy`: read a ``.npy`` array safely (never unpickles; the header is checked
  against the file size before anything is mapped), and :func:`load_matrix` for a 2-D
  float matrix with at least one column;
* :func:`check_float32_range`: refuse finite values that would become ``inf`` when stored
  as float32;
* :func:`append_rows`: grow a stored feature set without loading it.

A feature set is stored as three files next to each other::

    <dir>/<name>.npy        float32 matrix, one row per item
    <dir>/<name>.ids.json   JSON list of item ids (strings) in row order
    <dir>/<name>.json       JSON sidecar: model, weights, preprocessing, version, ...

Matrices are memory-mapped when read. Writes go to temporary files that are renamed into
place, so a crash never leaves a half-written feature set behind.

The feature set's name becomes a file stem, so :meth:`FeatureSet.save` and
:meth:`FeatureSet.load` accept only plain names (:func:`artrec.fileio.check_name`).

This module imports nothing from artrec but :mod:`artrec.errors`, :mod:`artrec.limits`
and :mod:`artrec.fileio`.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artrec.errors import DataError, short_repr
from artrec.fileio import atomic_write, check_name, read_json, write_json
from artrec.limits import MAX_ID_LENGTH

#: Rows copied (or checked) at a time when a stored matrix is streamed.
_COPY_CHUNK = 65536
_FLOAT32_MAX = float(np.finfo(np.float32).max)


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
            raise DataError(
                f"feature set {short_repr(self.name)}: matrix must be 2-D, got shape {m.shape}"
            )
        if m.shape[0] != len(ids):
            raise DataError(
                f"feature set {short_repr(self.name)}: {m.shape[0]} rows but {len(ids)} item ids"
            )
        if not np.issubdtype(m.dtype, np.floating):
            raise DataError(
                f"feature set {short_repr(self.name)}: matrix must be floating point, got {m.dtype}"
            )
        if m.shape[1] < 1:
            raise DataError(f"feature set {short_repr(self.name)}: matrix has no columns")

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
                f"feature set {short_repr(self.name)}: item {short_repr(self.item_ids[row])} (row {row}) has NaN or inf "
                f"({int(bad.sum())} bad rows in all)"
            )

    def align(self, item_ids: Any) -> FeatureSet:
        """The rows for ``item_ids``, in that order; raises naming the first missing id."""
        index = {item_id: r for r, item_id in enumerate(self.item_ids.tolist())}
        wanted = as_id_array(item_ids).tolist()
        missing = [i for i in wanted if i not in index]
        if missing:
            raise DataError(
                f"feature set {short_repr(self.name)} lacks {len(missing)} of the requested items, "
                f"first {short_repr(missing[0])}"
            )
        rows = np.fromiter((index[i] for i in wanted), dtype=np.int64, count=len(wanted))
        return FeatureSet(
            self.name,
            np.asarray(wanted, dtype=object),
            np.asarray(self.matrix[rows]),
            dict(self.meta),
        )

    def save(self, directory: str | Path) -> Path:
        """Write the feature set atomically into ``directory``; returns the ``.npy`` path.

        The name must be plain (:func:`artrec.fileio.check_name`) and every finite value
        must fit float32 (:func:`check_float32_range`); both are checked before anything
        is written.
        """
        check_name(self.name, what="feature set name")
        check_float32_range(self.matrix, f"feature set {short_repr(self.name)}", self.item_ids)
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
        check_name(name, what="feature set name")
        directory = Path(directory)
        npy = directory / f"{name}.npy"
        ids_path = directory / f"{name}.ids.json"
        if not npy.is_file():
            raise DataError(
                f"no feature set {short_repr(name)} in {directory} (missing {npy.name})"
            )
        matrix = load_matrix(npy, mmap=mmap)
        ids = read_json(ids_path, label=f"feature set {short_repr(name)}: ids file {ids_path.name}")
        if not isinstance(ids, list):
            raise DataError(
                f"feature set {short_repr(name)}: {ids_path} must hold a JSON list of ids"
            )
        meta_path = directory / f"{name}.json"
        meta: Any = {}
        if meta_path.is_file():
            meta = read_json(
                meta_path, label=f"feature set {short_repr(name)}: sidecar {meta_path.name}"
            )
            if not isinstance(meta, dict):
                raise DataError(
                    f"feature set {short_repr(name)}: {meta_path} must hold a JSON object"
                )
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
    """Load a ``.npy`` array safely; raises :class:`DataError` naming the file.

    Never unpickles. Before anything is read or mapped, the header is parsed and checked:
    format version 1 or 2, a dtype without Python objects, a shape of non-negative
    integers, and a data size (shape times item size) equal to what the file holds, so a
    flipped bit in the header (``(40, 64)`` read as ``(40, 44)``) is refused rather than
    read as scrambled rows.
    """
    path = Path(path)
    shape, dtype = _npy_header(path)
    if math.prod(shape) == 0:
        mmap = False  # an empty array cannot be memory-mapped
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(
            f"{path}: not a readable .npy array ({short_repr(str(exc), 120)})"
        ) from None
    if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != dtype:
        raise DataError(f"{path}: changed while it was read")
    return arr


def load_matrix(path: str | Path, *, mmap: bool = True) -> np.ndarray:
    """:func:`load_npy` for a 2-D floating-point matrix with at least one column."""
    path = Path(path)
    arr = load_npy(path, mmap=mmap)
    if arr.ndim != 2:
        raise DataError(f"{path.name}: expected a 2-D matrix, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"{path.name}: expected a float matrix, got dtype {arr.dtype}")
    if arr.shape[1] == 0:
        raise DataError(f"{path.name}: the matrix has no columns (shape {arr.shape})")
    return arr


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` file, checked against its size."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise DataError(f"{path}: not a regular file")
            try:
                version = fmt.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = fmt.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = fmt.read_array_header_2_0(f)
                else:
                    raise DataError(f"{path}: unsupported .npy format version {version}")
            except DataError:
                raise
            except Exception as exc:  # numpy raises ValueError, TokenError, SyntaxError, ...
                raise DataError(
                    f"{path}: not a readable .npy array ({short_repr(str(exc), 120)})"
                ) from None
            offset = f.tell()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: not a regular file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if dtype.hasobject:
        raise DataError(f"{path}: holds Python objects, which artrec never unpickles")
    if any(d < 0 for d in shape):
        raise DataError(f"{path}: header has a negative dimension, shape {short_repr(shape)}")
    data = math.prod(shape) * dtype.itemsize
    held = info.st_size - offset
    if data != held:
        raise DataError(
            f"{path}: header says shape {short_repr(shape)} of {dtype} ({data:,} bytes of data) "
            f"but the file holds {held:,} bytes after the header; the header or the data is "
            "corrupt"
        )
    return tuple(int(d) for d in shape), dtype


def check_float32_range(matrix: np.ndarray, source: str, item_ids: Any = None) -> None:
    """Raise :class:`DataError` when a finite value of ``matrix`` would overflow float32.

    artrec stores vectors as float32, where ``1e300`` becomes ``inf``. The check runs in
    chunks of rows (a memory map is never copied whole) and only for wider float types.
    The message names ``source``, the first bad row (and its item id when ``item_ids`` is
    given) and the value.
    """
    m = np.asarray(matrix) if not isinstance(matrix, np.ndarray) else matrix
    if m.dtype.kind != "f" or m.dtype.itemsize <= 4 or m.ndim != 2:
        return
    for start in range(0, m.shape[0], _COPY_CHUNK):
        block = np.abs(np.asarray(m[start : start + _COPY_CHUNK]))
        over = np.isfinite(block) & (block > _FLOAT32_MAX)
        if over.any():
            row_in, col = np.argwhere(over)[0]
            row = start + int(row_in)
            who = "" if item_ids is None else f"item {short_repr(item_ids[row])} "
            raise DataError(
                f"{source}: {who}(row {row}) holds {float(m[row, col]):.3g}, beyond the float32 "
                f"range artrec stores (|x| <= {_FLOAT32_MAX:.3g})"
            )


def nonfinite_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows holding NaN or inf (or values that overflow float32), checked in chunks of rows."""
    bad: list[np.ndarray] = []
    for start in range(0, matrix.shape[0], _COPY_CHUNK):
        block = np.asarray(matrix[start : start + _COPY_CHUNK])
        with np.errstate(over="ignore"):
            ok = np.isfinite(block.astype(np.float32, copy=False)).all(axis=1)
        rows = np.flatnonzero(~ok)
        if rows.size:
            bad.append(rows + start)
    return np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)


def as_id_array(ids: Iterable[Any]) -> np.ndarray:
    """Return ``ids`` as a 1-D numpy array of Python ``str`` (dtype object).

    Integer ids (as in the notebook's ``index2artworkId.json``) become their decimal text,
    so ``1234`` and ``"1234"`` name the same artwork everywhere.

    Raises :class:`DataError` for an id longer than :data:`~artrec.limits.MAX_ID_LENGTH`
    characters (or an integer of more digits) and for text that is not valid Unicode (a
    lone surrogate such as ``"\\ud800"``), so such an id is refused before anything is
    written.
    """
    if isinstance(ids, (str, bytes)):
        raise DataError(f"expected a sequence of ids, got the single id {short_repr(ids)}")
    values = ids.ravel().tolist() if isinstance(ids, np.ndarray) else list(ids)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, int) and v.bit_length() > 4 * MAX_ID_LENGTH:
            raise DataError(
                f"id {short_repr(v)} (position {i}) is longer than {MAX_ID_LENGTH} characters"
            )
        out[i] = str(v)
    _check_id_text(out)
    return out


def _check_id_text(ids: np.ndarray) -> None:
    """Refuse ids that are too long or not encodable as UTF-8 (checked in C, culprit found after)."""
    texts = ids.tolist()
    if texts and max(map(len, texts)) > MAX_ID_LENGTH:
        pos = next(i for i, t in enumerate(texts) if len(t) > MAX_ID_LENGTH)
        raise DataError(
            f"id {short_repr(texts[pos], 40)} (position {pos}) is longer than {MAX_ID_LENGTH} "
            "characters"
        )
    try:
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        pos = next(i for i, t in enumerate(texts) if not _encodable(t))
        raise DataError(
            f"id {short_repr(texts[pos])} (position {pos}) is not valid Unicode text"
        ) from None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def append_rows(directory: str | Path, name: str, rows: FeatureSet) -> FeatureSet:
    """Append ``rows`` to the stored feature set ``name`` without loading the old matrix.

    The old rows are streamed into a new file, which replaces the old one atomically (as
    do the ids and the sidecar, which records ``n_appended``). Raises :class:`DataError`
    when the dimensions differ or an id is already stored. Returns the stored set
    (memory-mapped).
    """
    directory = Path(directory)
    old = FeatureSet.load(directory, name)
    check_float32_range(rows.matrix, f"rows appended to {short_repr(name)}", rows.item_ids)
    if rows.dim != old.dim:
        raise DataError(
            f"cannot append {rows.dim}-dimensional rows to {short_repr(name)} ({old.dim} dimensions)"
        )
    known = set(old.item_ids.tolist())
    for item_id in rows.item_ids.tolist():
        if item_id in known:
            raise DataError(f"item {short_repr(item_id)} is already in {short_repr(name)}")
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
