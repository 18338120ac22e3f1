"""Python API for feature extraction: :func:`extract` and the :func:`get_extractor` registry.

>>> from artrec.features.api import extract
>>> features = extract("path/to/images", "efficientnet_lite0", output_dir="features")  # doctest: +SKIP
>>> Embedding(n_components=100).fit_transform([features])  # doctest: +SKIP

The returned :class:`~artrec.vectors.FeatureSet` is what the embedding step
(:class:`artrec.embedding.Embedding`) takes. Bad images are not in it; they are listed in
``features.meta["bad_items"]`` (and counted in ``features.meta["n_bad"]``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError
from artrec.features.extractor import FeatureExtractor
from artrec.features.runner import (
    ExtractionItem,
    ExtractionReport,
    ProgressCallback,
    run_extraction,
)
from artrec.images.fetch import FetchOptions, is_url
from artrec.vectors import FeatureSet

#: The default extractor: pretrained, offline, small.
DEFAULT_EXTRACTOR = "efficientnet_lite0"

#: File name extensions taken from a folder (case-insensitive).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".jfif"}
)

_ALIASES = {
    "efficientnet-lite0": "efficientnet_lite0",
    "efficientnet_lite0": "efficientnet_lite0",
    "default": "efficientnet_lite0",
    "handcrafted": "handcrafted",
    "hand-engineered": "handcrafted",
    "attractiveness": "handcrafted",
}


def get_extractor(
    name: str = DEFAULT_EXTRACTOR, weights: str | Path | None = None, **options: Any
) -> FeatureExtractor:
    """Build an extractor by name (cheap: the model is loaded later, by ``setup``).

    Parameters
    ----------
    name
        ``"efficientnet_lite0"`` (default), ``"handcrafted"``, or any torchvision
        classification model (``"resnet50"``, ``"vgg19"``, ...).
    weights
        A local state_dict file for the CNN (``"random"`` for a random torchvision model).
    **options
        Passed to the extractor's constructor (``channels_last``, ``download``,
        ``max_side``, ...).

    Raises
    ------
    ArtrecError
        For an unknown name, naming the known ones.
    """
    key = _ALIASES.get(name.strip().lower(), name.strip())
    if key == "efficientnet_lite0":
        from artrec.features.efficientnet import EfficientNetLite0Extractor

        return EfficientNetLite0Extractor(weights=weights, **options)
    if key == "handcrafted":
        if weights is not None:
            raise ArtrecError("the handcrafted extractor has no weights; drop --weights")
        from artrec.features.handcrafted import HandcraftedExtractor

        return HandcraftedExtractor(**options)
    from artrec.features.torchvision_cnn import TorchvisionExtractor, available_models

    if key not in available_models():
        raise ArtrecError(
            f"unknown extractor {name!r}; use efficientnet_lite0, handcrafted or a torchvision "
            "classification model such as resnet50 or vgg19"
        )
    return TorchvisionExtractor(key, weights=weights, **options)


def items_from(source: Any, *, base_dir: str | Path | None = None) -> list[ExtractionItem]:
    """The :class:`ExtractionItem` s of a workspace, catalogue, folder, mapping or list.

    Parameters
    ----------
    source
        - a :class:`Workspace` or :class:`Catalog`: its item ids and ``image`` column
          (relative paths are resolved against ``base_dir``, or the workspace root),
        - a folder: every file with an image extension, recursively; the id is the path
          relative to the folder without its extension (``<id>.jpg`` -> ``<id>``),
        - a mapping ``item_id -> path or URL``,
        - a list of paths or URLs: each string is its own id.
    base_dir
        Directory against which relative image paths of a catalogue are resolved.
    """
    if isinstance(source, Workspace):
        return items_from(source.catalog(), base_dir=base_dir or source.root)
    if isinstance(source, Catalog):
        if source.image is None:
            raise DataError("the catalogue has no image column: nothing to extract")
        return [
            ExtractionItem(item_id, _resolve(image, base_dir))
            for item_id, image in zip(source.item_ids.tolist(), source.image.tolist(), strict=False)
        ]
    if isinstance(source, (str, Path)) and not is_url(str(source)):
        folder = Path(source)
        if folder.is_dir():
            return _folder_items(folder)
        if folder.is_file():
            return [ExtractionItem(str(source), str(folder))]
        raise DataError(f"{source}: no such folder or file")
    if isinstance(source, Mapping):
        return [ExtractionItem(str(k), _resolve(v, base_dir)) for k, v in source.items()]
    if isinstance(source, Iterable) and not isinstance(source, (str, bytes)):
        return [ExtractionItem(str(s), _resolve(s, base_dir)) for s in source]
    if isinstance(source, str):  # a single URL
        return [ExtractionItem(source, source)]
    raise DataError(
        f"cannot extract from a {type(source).__name__}; give a workspace, catalogue, folder or list"
    )


def extract(
    images_or_catalog: Any,
    extractor: str | FeatureExtractor = DEFAULT_EXTRACTOR,
    *,
    workspace: Workspace | str | Path | None = None,
    output_dir: str | Path | None = None,
    weights: str | Path | None = None,
    batch_size: int = 32,
    num_workers: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
    shard_size: int = 1024,
    retry_bad: bool = False,
    fetch_options: FetchOptions | None = None,
) -> FeatureSet:
    """Extract features of images and return them as a :class:`FeatureSet`.

    Parameters
    ----------
    images_or_catalog
        A :class:`Workspace`, a :class:`Catalog`, a folder, a mapping ``id -> path/URL`` or a
        list of paths/URLs (see :func:`items_from`).
    extractor
        Extractor name (see :func:`get_extractor`) or instance.
    workspace
        Workspace whose ``features/`` receives the result and whose ``images/`` caches
        downloads; implied when ``images_or_catalog`` is one. The run is recorded in it.
    output_dir
        Where to write ``<extractor>.npy`` + ids + sidecar (default: the workspace's
        ``features/``; with neither, the features are returned but not kept, and an
        interrupted run cannot resume).
    weights
        Local weights file for a CNN extractor (``--weights``).
    batch_size, num_workers, device, precision, shard_size, retry_bad, fetch_options
        See :func:`artrec.features.runner.run_extraction`.
    progress
        ``progress(done, total)`` after each batch.
    cache_dir
        Download cache for URLs (default: the workspace's ``images/``, else
        ``$XDG_CACHE_HOME/artrec/images``).

    Returns
    -------
    FeatureSet
        Rows for the good items, in input order; ``meta`` holds the sidecar, including
        ``n_bad`` and ``bad_items`` (id, source, reason).
    """
    features, _ = extract_with_report(
        images_or_catalog,
        extractor,
        workspace=workspace,
        output_dir=output_dir,
        weights=weights,
        batch_size=batch_size,
        num_workers=num_workers,
        device=device,
        precision=precision,
        progress=progress,
        cache_dir=cache_dir,
        shard_size=shard_size,
        retry_bad=retry_bad,
        fetch_options=fetch_options,
    )
    return features


def extract_with_report(
    images_or_catalog: Any,
    extractor: str | FeatureExtractor = DEFAULT_EXTRACTOR,
    *,
    workspace: Workspace | str | Path | None = None,
    output_dir: str | Path | None = None,
    weights: str | Path | None = None,
    batch_size: int = 32,
    num_workers: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
    shard_size: int = 1024,
    retry_bad: bool = False,
    fetch_options: FetchOptions | None = None,
) -> tuple[FeatureSet, ExtractionReport]:
    """Like :func:`extract`, also returning the :class:`ExtractionReport` of the run."""
    ws: Workspace | None
    if isinstance(images_or_catalog, Workspace):
        ws = images_or_catalog
    elif workspace is not None:
        ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    else:
        ws = None
    ext = (
        extractor if isinstance(extractor, FeatureExtractor) else get_extractor(extractor, weights)
    )
    items = items_from(images_or_catalog, base_dir=ws.root if ws is not None else None)
    out = (
        Path(output_dir)
        if output_dir is not None
        else (ws.features_dir if ws is not None else None)
    )
    cache = (
        cache_dir if cache_dir is not None else (ws.images_dir if ws is not None else _user_cache())
    )
    common: dict[str, Any] = {
        "batch_size": batch_size,
        "num_workers": num_workers,
        "device": device,
        "precision": precision,
        "shard_size": shard_size,
        "cache_dir": cache,
        "fetch_options": fetch_options,
        "retry_bad": retry_bad,
        "progress": progress,
    }
    if out is None:
        with tempfile.TemporaryDirectory(prefix="artrec-extract-") as tmp:
            features, report = run_extraction(items, ext, tmp, save=False, **common)
            features = FeatureSet(
                features.name, features.item_ids, features.matrix.copy(), dict(features.meta)
            )
    else:
        features, report = run_extraction(items, ext, out, **common)
    if ws is not None:
        ws.record_run(
            "extract",
            {
                "extractor": ext.name,
                "batch_size": batch_size,
                "device": device,
                "precision": precision,
            },
            {k: v for k, v in report.to_dict().items() if k != "bad"},
        )
    return features, report


def _folder_items(folder: Path) -> list[ExtractionItem]:
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and not p.is_dir()
    )
    items = []
    seen: dict[str, Path] = {}
    for p in files:
        item_id = p.relative_to(folder).with_suffix("").as_posix()
        if item_id in seen:
            raise DataError(f"{p} and {seen[item_id]} would both get the item id {item_id!r}")
        seen[item_id] = p
        items.append(ExtractionItem(item_id, str(p)))
    return items


def _resolve(image: Any, base_dir: str | Path | None) -> str | None:
    if image is None:
        return None
    text = str(image).strip()
    if not text:
        return None
    if is_url(text):
        return text
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return str(path)


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "artrec" / "images"
