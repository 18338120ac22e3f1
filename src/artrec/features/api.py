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
import resource
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError
from artrec.features.extractor import FeatureExtractor, TorchModelExtractor
from artrec.features.runner import (
    ExtractionItem,
    ExtractionReport,
    ProgressCallback,
    available_cores,
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
    "efficientnet-lite1": "efficientnet_lite1",
    "efficientnet_lite1": "efficientnet_lite1",
    "efficientnet-lite2": "efficientnet_lite2",
    "efficientnet_lite2": "efficientnet_lite2",
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
        ``"efficientnet_lite0"`` (default), ``"efficientnet_lite1"``,
        ``"efficientnet_lite2"``, ``"handcrafted"``, or any torchvision
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
    if key in ("efficientnet_lite1", "efficientnet_lite2"):
        from artrec.features.efficientnet import EfficientNetLiteExtractor

        return EfficientNetLiteExtractor(
            key.removeprefix("efficientnet_"), weights=weights, **options
        )
    if key == "handcrafted":
        if weights is not None:
            raise ArtrecError("the handcrafted extractor has no weights; drop --weights")
        from artrec.features.handcrafted import HandcraftedExtractor

        return HandcraftedExtractor(**options)
    from artrec.features.torchvision_cnn import TorchvisionExtractor, available_models

    if key not in available_models():
        raise ArtrecError(
            f"unknown extractor {name!r}; use efficientnet_lite0/1/2, handcrafted or a torchvision "
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


# -- several extractors at once ----------------------------------------------------------------
@dataclass(frozen=True)
class PhaseTiming:
    """Wall time and CPU time of one phase of work.

    ``user_s`` and ``system_s`` are CPU seconds in user and kernel mode, of this process
    and of the child processes it waited for during the phase (decoding workers, the side
    process of :func:`extract_all`). A system time that is a large fraction of the user
    time means threads spinning or fighting for cores rather than working.
    """

    name: str
    wall_s: float
    user_s: float
    system_s: float

    @classmethod
    def since(cls, name: str, start: tuple[float, float, float]) -> PhaseTiming:
        """The phase from ``start`` (a :func:`phase_clock` reading) to now."""
        wall, user, system = phase_clock()
        return cls(name, wall - start[0], user - start[1], system - start[2])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "wall_s": round(self.wall_s, 3),
            "user_s": round(self.user_s, 3),
            "system_s": round(self.system_s, 3),
        }


@dataclass(frozen=True)
class FeaturesPhase:
    """What :func:`extract_all` did: the whole phase and each extractor.

    Attributes
    ----------
    total
        The phase: wall time and the CPU time of every process involved.
    extractors
        Per extractor: its wall time, and its CPU time where it ran in a process of its
        own (otherwise 0: it shared this process with the others).
    reports
        Each extractor's :class:`ExtractionReport`.
    concurrent
        Whether model-free extractors ran in a side process next to the CNN.
    precision
        The precision each extractor ran at.
    """

    total: PhaseTiming
    extractors: dict[str, PhaseTiming]
    reports: dict[str, ExtractionReport]
    concurrent: bool
    precision: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "total": self.total.to_dict(),
            "extractors": {k: v.to_dict() for k, v in self.extractors.items()},
            "concurrent": self.concurrent,
            "precision": dict(self.precision),
        }


def _cpu_times() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime


def phase_clock() -> tuple[float, float, float]:
    """Wall clock, user and system CPU seconds now (this process and the child processes it
    waited for): the start of a :class:`PhaseTiming` (:meth:`PhaseTiming.since`)."""
    user, system = _cpu_times()
    return time.perf_counter(), user, system


def _extract_in_side_process(
    items: list[ExtractionItem],
    extractor: FeatureExtractor,
    output_dir: str,
    kwargs: dict[str, Any],
) -> tuple[ExtractionReport, float, float, float]:
    """Run one extraction inline (no workers) in this process; report with its CPU time."""
    from artrec.features.process import retain_freed_memory

    retain_freed_memory()
    started = time.perf_counter()
    _features, report = run_extraction(items, extractor, output_dir, num_workers=0, **kwargs)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return report, time.perf_counter() - started, usage.ru_utime, usage.ru_stime


def extract_all(
    images_or_catalog: Any,
    extractors: Sequence[str | FeatureExtractor],
    *,
    workspace: Workspace | str | Path | None = None,
    output_dir: str | Path | None = None,
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "auto",
    concurrent: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    cache_dir: str | Path | None = None,
    num_workers: int | None = None,
) -> tuple[dict[str, FeatureSet], FeaturesPhase]:
    """Extract several feature sets of the same images, keeping every core busy once.

    With ``concurrent`` (default), when a CNN runs on the CPU and an extractor without a
    model (``handcrafted``: all its work is in ``preprocess``) is asked for too, and there
    are at least two cores, the model-free extractors run in a side process on one core,
    while the CNN runs here on the other cores; when the side process is done, the CNN gets
    every core back (its thread count is checked before each batch). Each run sizes its
    threads as :func:`~artrec.features.runner.run_extraction` describes, so nothing is
    oversubscribed. Otherwise the extractors run one after the other.

    Parameters
    ----------
    images_or_catalog
        As for :func:`extract`.
    extractors
        Extractor names or instances.
    workspace, output_dir, batch_size, device, cache_dir
        As for :func:`extract`; a workspace or an output directory is required (the
        feature sets are written there, also by the side process).
    precision
        ``"auto"`` (default): bf16 for CNNs on hardware that computes it natively, else fp32
        (see :func:`~artrec.features.extractor.resolve_precision`); or an explicit one.
    concurrent
        Allow the side process.
    progress
        ``progress(extractor_name, done, total)`` after each batch of the extractors that
        run here, and once at the end for those in the side process.
    num_workers
        Decoding workers of the extractions that run here (``None``: the runner's default);
        the side process decodes in its own process.

    Returns
    -------
    (dict, FeaturesPhase)
        The feature sets by extractor name, and the timings (wall, user and system CPU) of
        the phase and of each extractor.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from artrec.features.extractor import resolve_precision

    ws: Workspace | None
    if isinstance(images_or_catalog, Workspace):
        ws = images_or_catalog
    elif workspace is not None:
        ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    else:
        ws = None
    exts = [e if isinstance(e, FeatureExtractor) else get_extractor(e) for e in extractors]
    names = [e.name for e in exts]
    if len(set(names)) != len(names):
        raise DataError(f"extractors listed twice: {names}")
    items = items_from(images_or_catalog, base_dir=ws.root if ws is not None else None)
    if output_dir is not None:
        out = Path(output_dir)
    elif ws is not None:
        out = ws.features_dir
    else:
        raise DataError("extract_all needs a workspace or an output_dir to write the features to")
    cache = cache_dir if cache_dir is not None else (ws.images_dir if ws else _user_cache())
    precisions = {e.name: resolve_precision(precision, e, device) for e in exts}
    models: list[FeatureExtractor] = [e for e in exts if isinstance(e, TorchModelExtractor)]
    model_free: list[FeatureExtractor] = [e for e in exts if e not in models]
    cores = available_cores()
    side = concurrent and bool(models) and bool(model_free) and cores >= 2 and not _has_gpu(device)
    started = time.perf_counter()
    user0, sys0 = _cpu_times()
    reports: dict[str, ExtractionReport] = {}
    timings: dict[str, PhaseTiming] = {}
    common: dict[str, Any] = {"batch_size": batch_size, "device": device, "cache_dir": cache}

    def run_here(ext: FeatureExtractor, threads: Any = None) -> None:
        t0 = time.perf_counter()

        def cb(done: int, total: int) -> None:
            if progress is not None:
                progress(ext.name, done, total)

        _f, report = run_extraction(
            items,
            ext,
            out,
            precision=precisions[ext.name],
            progress=cb,
            num_threads=threads,
            num_workers=num_workers,
            **common,
        )
        reports[ext.name] = report
        timings[ext.name] = PhaseTiming(ext.name, time.perf_counter() - t0, 0.0, 0.0)

    if side:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            futures = [
                (
                    ext,
                    pool.submit(
                        _extract_in_side_process,
                        items,
                        ext,
                        str(out),
                        {**common, "precision": precisions[ext.name]},
                    ),
                )
                for ext in model_free
            ]

            def threads() -> int:
                busy = any(not f.done() for _e, f in futures)
                return cores - 1 if busy else cores

            for model in models:
                run_here(model, threads)
            for side_ext, future in futures:
                side_report, wall, user, system = future.result()
                reports[side_ext.name] = side_report
                timings[side_ext.name] = PhaseTiming(side_ext.name, wall, user, system)
                if progress is not None:
                    progress(side_ext.name, side_report.n_requested, side_report.n_requested)
    else:
        for one in exts:
            run_here(one)
    user1, sys1 = _cpu_times()
    total = PhaseTiming("features", time.perf_counter() - started, user1 - user0, sys1 - sys0)
    features: dict[str, FeatureSet] = {}
    for done_ext in exts:
        features[done_ext.name] = FeatureSet.load(out, done_ext.name)
        if ws is not None:
            ws.record_run(
                "extract",
                {
                    "extractor": done_ext.name,
                    "batch_size": batch_size,
                    "device": device,
                    "precision": precisions[done_ext.name],
                    "concurrent": side,
                },
                {k: v for k, v in reports[done_ext.name].to_dict().items() if k != "bad"},
            )
    phase = FeaturesPhase(total, timings, reports, side, precisions)
    return features, phase


def _has_gpu(device: str) -> bool:
    if device != "auto":
        return not device.startswith("cpu")
    from artrec.features.extractor import resolve_device

    return not resolve_device("auto").startswith("cpu")
