"""Saved recommenders: ``models/<name>/`` in a workspace, with what they were fitted on.

A fitted model that can be saved implements :class:`SavableRecommender`: it hands over its
JSON-ready parameters and its fitted numeric arrays (:meth:`~SavableRecommender.get_state`)
and is rebuilt from them (:meth:`~SavableRecommender.from_state`). :func:`save_model`
writes::

    models/<name>/model.json   kind, parameters, artrec and library versions, the
                               fingerprint of the training data, extra facts (scores, ...)
    models/<name>/arrays.npz   the fitted arrays (numeric only: loading never unpickles)

into a temporary folder that then replaces the old one, so a crash never leaves a
half-written model. :func:`load_model` rebuilds only the kinds listed in :data:`SAVABLE`
(nothing named in a file is ever imported) and compares the stored fingerprint with the
current data's: :meth:`ModelInfo.staleness` says what changed and how to refresh it.

The fingerprint (:func:`data_fingerprint`) hashes the catalogue's item ids in row order and
the training events (user, item, time, kind), separately, so a message can say whether the
catalogue or the log moved on.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import time
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from artrec.data.catalog import Interactions
from artrec.errors import DataError
from artrec.fileio import check_name, read_json, write_json
from artrec.recommend.base import Recommender

#: Version of the on-disk layout written by :func:`save_model`.
MODEL_FORMAT = 1

#: Saved kind -> ``"module:Class"`` of every recommender that can be saved. Loading imports
#: only these; a new savable model adds one line here.
SAVABLE: dict[str, str] = {
    "popular": "artrec.recommend.baselines:PopularRecommender",
    "artist": "artrec.recommend.baselines:FavouriteArtistRecommender",
    "time-popular": "artrec.recommend.popularity:TimeAwarePopularityRecommender",
    "item-knn": "artrec.recommend.itemknn:ItemKNNRecommender",
    "ease": "artrec.recommend.ease:EASERecommender",
    "ials": "artrec.recommend.factors:ALSRecommender",
    "bpr": "artrec.recommend.factors:BPRRecommender",
    "metadata": "artrec.recommend.metadata:MetadataAffinityRecommender",
    "content": "artrec.recommend.content:ContentRecommender",
    "hybrid": "artrec.recommend.hybrid:HybridRecommender",
    "curatornet": "artrec.recommend.curatornet:CuratorNetRecommender",
    "vbpr": "artrec.recommend.vbpr:VBPRRecommender",
}

#: Libraries whose versions are recorded with every model (when installed).
RECORDED_LIBRARIES: tuple[str, ...] = (
    "numpy",
    "scipy",
    "scikit-learn",
    "implicit",
    "torch",
    "lightgbm",
)


class SavableRecommender(Recommender):
    """A recommender whose fitted state can be saved and loaded.

    ``kind`` names it in :data:`SAVABLE`. The state is split into JSON-ready parameters
    (constructor arguments and small fitted facts) and numeric arrays (no object dtype).
    """

    kind: ClassVar[str] = ""

    @abstractmethod
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The parameters (JSON-ready) and fitted arrays (numeric) of a fitted model."""

    @classmethod
    @abstractmethod
    def from_state(
        cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> SavableRecommender:
        """A fitted model rebuilt from what :meth:`get_state` returned."""


@dataclass(frozen=True)
class DataFingerprint:
    """Hashes of the data a model was fitted on (see :func:`data_fingerprint`)."""

    catalog: str
    log: str
    n_items: int
    n_events: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def data_fingerprint(item_ids: np.ndarray, events: Interactions | None = None) -> DataFingerprint:
    """Hash the catalogue's ids (in row order) and the events (user, item, time, kind).

    Events are hashed in a canonical order, so the same log read in another order gives the
    same fingerprint.
    """
    cat = hashlib.sha256()
    for item_id in np.asarray(item_ids, dtype=object).tolist():
        cat.update(str(item_id).encode("utf-8", "surrogatepass") + b"\x1f")
    log = hashlib.sha256()
    n_events = 0
    if events is not None and len(events):
        ts = np.asarray(events.timestamps, dtype=np.float64)
        records = sorted(
            zip(
                events.user_ids.tolist(),
                events.item_ids.tolist(),
                ["nan" if np.isnan(t) else repr(float(t)) for t in ts.tolist()],
                [str(k) for k in events.kinds.tolist()],
                strict=True,
            )
        )
        for rec in records:
            log.update("\x1f".join(rec).encode("utf-8", "surrogatepass") + b"\x1e")
        n_events = len(records)
    return DataFingerprint(cat.hexdigest(), log.hexdigest(), len(item_ids), n_events)


@dataclass(frozen=True)
class ModelInfo:
    """What ``models/<name>/model.json`` says about a saved model.

    Attributes
    ----------
    name
        The model's name (its folder).
    kind
        Its kind in :data:`SAVABLE`.
    params
        The parameters it was saved with.
    fingerprint
        The data it was fitted on.
    created
        When it was saved (seconds since the epoch).
    artrec_version, libraries
        The versions it was fitted with.
    extra
        Free facts recorded by the caller (validation scores, the refresh command, ...).
    """

    name: str
    kind: str
    params: dict[str, Any]
    fingerprint: DataFingerprint
    created: float
    artrec_version: str
    libraries: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def staleness(self, current: DataFingerprint) -> str | None:
        """``None`` when ``current`` is the data the model was fitted on; else one line
        saying what moved on and how to refresh the model."""
        changed = []
        if current.catalog != self.fingerprint.catalog:
            changed.append(
                f"the catalogue ({self.fingerprint.n_items:,} items then, {current.n_items:,} now)"
            )
        if current.log != self.fingerprint.log:
            changed.append(
                f"the interaction log ({self.fingerprint.n_events:,} training events then, "
                f"{current.n_events:,} now)"
            )
        if not changed:
            return None
        refresh = self.extra.get("refresh", "fit and save it again")
        return (
            f"model {self.name!r} was fitted on an older version of {' and '.join(changed)}; "
            f"refresh it with `{refresh}`"
        )


def save_model(
    models_dir: str | Path,
    name: str,
    model: SavableRecommender,
    fingerprint: DataFingerprint,
    *,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``models_dir/name`` (replacing a model of that name); returns the folder."""
    check_name(name, what="model name")
    if not model.kind or SAVABLE.get(model.kind) != _class_path(type(model)):
        raise DataError(f"{type(model).__name__} is not registered as a savable model kind")
    params, arrays = model.get_state()
    for key, arr in arrays.items():
        if np.asarray(arr).dtype.hasobject:
            raise DataError(f"model {name!r}: array {key!r} has object dtype and cannot be saved")
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        with open(tmp / "arrays.npz", "wb") as f:
            np.savez(f, allow_pickle=False, **{k: np.asarray(v) for k, v in arrays.items()})
            f.flush()
            os.fsync(f.fileno())
        info = {
            "format": MODEL_FORMAT,
            "name": name,
            "kind": model.kind,
            "params": params,
            "fingerprint": fingerprint.to_dict(),
            "created": time.time(),
            "artrec_version": _version("artrec"),
            "libraries": {lib: v for lib in RECORDED_LIBRARIES if (v := _version(lib))},
            "extra": dict(extra or {}),
        }
        write_json(tmp / "model.json", info, indent=2)
        final = models_dir / name
        old = models_dir / f".{name}.old-{os.getpid()}"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final


def read_model_info(models_dir: str | Path, name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a saved model; :class:`DataError` when there is none."""
    check_name(name, what="model name")
    folder = Path(models_dir) / name
    if not (folder / "model.json").is_file():
        raise DataError(f"no saved model {name!r} in {models_dir}")
    raw = read_json(folder / "model.json")
    try:
        if raw["format"] != MODEL_FORMAT:
            raise DataError(
                f"model {name!r} has format {raw['format']!r}; this artrec reads {MODEL_FORMAT}"
            )
        fp = raw["fingerprint"]
        return ModelInfo(
            name=str(raw["name"]),
            kind=str(raw["kind"]),
            params=dict(raw["params"]),
            fingerprint=DataFingerprint(
                str(fp["catalog"]), str(fp["log"]), int(fp["n_items"]), int(fp["n_events"])
            ),
            created=float(raw["created"]),
            artrec_version=str(raw["artrec_version"]),
            libraries=dict(raw.get("libraries", {})),
            extra=dict(raw.get("extra", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"model {name!r}: model.json is malformed ({exc!r:.200})") from None


def load_model(models_dir: str | Path, name: str) -> tuple[SavableRecommender, ModelInfo]:
    """Rebuild the saved model ``name``; returns it with its :class:`ModelInfo`.

    Only kinds in :data:`SAVABLE` are rebuilt, and arrays are read without unpickling.
    Compare ``info.fingerprint`` with the current data (:meth:`ModelInfo.staleness`) before
    trusting it.
    """
    info = read_model_info(models_dir, name)
    try:
        cls = savable_class(info.kind)
    except DataError:
        raise DataError(
            f"model {name!r} is of unknown kind {info.kind!r}; known: {', '.join(SAVABLE) or 'none'}"
        ) from None
    try:
        with np.load(Path(models_dir) / name / "arrays.npz", allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"model {name!r}: cannot read arrays.npz ({exc})") from None
    return cls.from_state(info.params, arrays), info


def savable_class(kind: str) -> type[SavableRecommender]:
    """The class registered for ``kind`` in :data:`SAVABLE` (imported only now)."""
    path = SAVABLE.get(kind)
    if path is None:
        raise DataError(f"unknown model kind {kind!r}; known: {', '.join(SAVABLE) or 'none'}")
    module, cls_name = path.split(":")
    cls: type[SavableRecommender] = getattr(importlib.import_module(module), cls_name)
    return cls


def saved_models(models_dir: str | Path) -> list[ModelInfo]:
    """Every saved model in ``models_dir`` (unreadable ones are left out), by name."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            out.append(read_model_info(root, folder.name))
        except DataError:
            continue
    return out


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return ""
