"""Distributed feature extraction on Ray: the same extractors as a Ray Data pipeline.

The pipeline mirrors the local runner (:mod:`artrec.features.runner`) stage by stage and
reuses its pieces, so the output is the same feature set, in the same format, and every
later step (embedding, index, recommender) is unchanged:

1. **plan** (driver): :func:`~artrec.features.runner.plan_extraction` decides which items
   are still to do (rows of an existing feature set and shards of an interrupted run are
   reused; only new images are extracted);
2. **read** (Ray tasks, ``map_batches`` with the function :func:`read_batch`): each item's image is fetched or
   read and preprocessed by :class:`~artrec.features.runner.PreprocessStage`; a bad image
   becomes a reported bad item, never an exception;
3. **model** (Ray actor pool, ``map_batches`` with the class :class:`ModelActor`): each actor calls the
   extractor's ``setup`` once (the model is loaded once per actor, on a GPU when the actor
   has one) and ``forward`` on every batch;
4. **write** (driver): results stream back in blocks and are written as shards by
   :class:`~artrec.features.runner.ShardStore`, then
   :func:`~artrec.features.runner.finalize_extraction` merges them into
   ``<output_dir>/<name>.npy`` + ids + sidecar, exactly as the local runner does.

GPUs: with ``num_gpus_per_actor=None`` (auto) each actor asks for one GPU when the cluster
has any (``ray.cluster_resources()["GPU"]``) and the model runs on ``cuda``; otherwise the
actors run on CPUs. See ``docs/scaling.md`` for running on a real cluster.

``ray`` is an optional extra (``pip install 'artrec[ray]'``), imported only when a run starts.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from artrec.errors import DataError, MissingDependencyError
from artrec.features.extractor import FeatureExtractor, check_precision
from artrec.features.runner import (
    BadItem,
    ExtractionItem,
    PreprocessStage,
    ProgressCallback,
    finalize_extraction,
    plan_extraction,
)
from artrec.images.fetch import FetchOptions
from artrec.images.reader import DEFAULT_MAX_PIXELS
from artrec.vectors import FeatureSet


def import_ray() -> Any:
    """Import and return ``ray`` (with Ray Data), or raise :class:`MissingDependencyError`."""
    try:
        import ray
        import ray.data  # Ray Data is a separate part of the ray package
    except ImportError:  # pragma: no cover - CI installs the extra
        raise MissingDependencyError(
            "distributed extraction needs the 'ray' extra: pip install 'artrec[ray]'"
        ) from None
    return ray


# -- stage 2: read + preprocess (Ray tasks) ----------------------------------------------------
def read_batch(batch: dict[str, np.ndarray], stage: PreprocessStage) -> dict[str, np.ndarray]:
    """``map_batches`` function: ``{item_id, source}`` -> ``{item_id, array, bad}``.

    ``array`` holds each good item's preprocessed input as ``.npy`` bytes (any shape travels
    through Arrow this way; they are read back with ``allow_pickle=False``); ``bad`` holds
    a bad item's JSON record, ``""`` for a good one.
    """
    ids = [str(i) for i in batch["item_id"].tolist()]
    sources = [None if s in (None, "") else str(s) for s in batch["source"].tolist()]
    arrays: list[bytes] = []
    bads: list[str] = []
    for item_id, source in zip(ids, sources, strict=True):
        array, bad = stage(ExtractionItem(item_id, source))
        if bad is not None or array is None:
            arrays.append(b"")
            bads.append(json.dumps((bad or BadItem(item_id, source, "no data")).to_dict()))
        else:
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
            arrays.append(buf.getvalue())
            bads.append("")
    return {
        "item_id": np.asarray(ids, dtype=object),
        "array": np.asarray(arrays, dtype=object),
        "bad": np.asarray(bads, dtype=object),
    }


# -- stage 3: the model (Ray actor pool) --------------------------------------------------------
class ModelActor:
    """``map_batches`` class: loads the model once, then ``{item_id, array, bad}`` ->
    ``{item_id, features, bad}`` (``features`` is ``(n, dim)`` float32; NaN rows for bad
    items, which are listed in ``bad``)."""

    def __init__(self, extractor: FeatureExtractor, device: str, precision: str) -> None:
        self.extractor = extractor
        extractor.setup(device, precision)
        self.device = str(getattr(extractor, "device_", None) or device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = [str(i) for i in batch["item_id"].tolist()]
        bads = [str(b) for b in batch["bad"].tolist()]
        dim = self.extractor.dim
        out = np.full((len(ids), dim), np.nan, dtype=np.float32)
        good = [j for j, b in enumerate(bads) if not b]
        if good:
            stacked = np.stack(
                [np.load(io.BytesIO(batch["array"][j]), allow_pickle=False) for j in good]
            )
            feats = np.asarray(self.extractor.forward(stacked), dtype=np.float32)
            if feats.shape != (len(good), dim):
                raise DataError(
                    f"{self.extractor.name}: forward returned shape {feats.shape} for "
                    f"{len(good)} items of dim {dim}"
                )
            out[good] = feats
        return {
            "item_id": np.asarray(ids, dtype=object),
            "features": out,
            "bad": np.asarray(bads, dtype=object),
            "device": np.asarray([self.device] * len(ids), dtype=object),
        }


def extract_with_ray(
    sources: Iterable[ExtractionItem | tuple[Any, Any]],
    extractor: FeatureExtractor,
    *,
    output_dir: str | Path,
    address: str | None = None,
    batch_size: int = 32,
    concurrency: int | None = None,
    num_gpus_per_actor: float | None = None,
    num_cpus_per_actor: float = 1.0,
    read_tasks_cpus: float = 1.0,
    precision: str = "fp32",
    shard_size: int = 1024,
    cache_dir: str | Path | None = None,
    fetch_options: FetchOptions | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    retry_bad: bool = False,
    progress: ProgressCallback | None = None,
    init_options: Mapping[str, Any] | None = None,
) -> FeatureSet:
    """Extract features with a Ray Data pipeline; same output as the local runner.

    Parameters
    ----------
    sources
        :class:`ExtractionItem` s or ``(item_id, path_or_url)`` pairs, in output order.
    extractor
        Any :class:`FeatureExtractor` (it is pickled to the actors; each calls ``setup``).
    output_dir
        Where ``<name>.npy`` + ids + sidecar and the resumable shard store go (on a
        cluster: a path every node can read is only needed for image sources; the output
        is written by the driver).
    address
        Ray cluster address (``"auto"``, ``"ray://head:10001"``, ...). ``None`` joins the
        running Ray instance of this process or starts a local one.
    batch_size
        Items per model batch.
    concurrency
        Model actors (``None``: one per GPU when actors use GPUs, else
        ``max(1, CPUs // num_cpus_per_actor - 1)``, leaving a CPU for reading).
    num_gpus_per_actor
        GPUs per actor; ``None`` (auto): 1 when the cluster has GPUs, else 0.
    num_cpus_per_actor, read_tasks_cpus
        CPUs reserved by each model actor and by each read task.
    precision
        ``"fp32"``, ``"bf16"`` or ``"fp16"`` (autocast on GPUs).
    shard_size
        Items per shard written by the driver (the granularity of resume).
    cache_dir, fetch_options, max_pixels
        For URL sources and image decoding (as in the local runner).
    retry_bad
        Re-attempt items listed as bad by an earlier run.
    progress
        ``progress(done, total)`` as results arrive.
    init_options
        Extra keyword arguments of ``ray.init`` when this call starts Ray (e.g.
        ``{"num_cpus": 2}`` for a small local instance).

    Returns
    -------
    FeatureSet
        The features of the good items in input order, saved in ``output_dir``; the
        sidecar lists bad items and records ``engine: "ray"``.
    """
    if batch_size < 1 or shard_size < 1:
        raise DataError(
            f"batch_size and shard_size must be >= 1, got {batch_size} and {shard_size}"
        )
    if concurrency is not None and concurrency < 1:
        raise DataError(f"concurrency must be >= 1, got {concurrency}")
    check_precision(precision)
    started = time.perf_counter()
    plan = plan_extraction(sources, extractor, output_dir, retry_bad=retry_bad)
    meta: dict[str, Any] = {
        "engine": "ray",
        "precision": precision,
        "batch_size": batch_size,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if plan.pending:
        ray = import_ray()
        if not ray.is_initialized():
            options = {
                "include_dashboard": False,
                "log_to_driver": False,
                **dict(init_options or {}),
            }
            ray.init(address=address, **options)
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        per_gpu = (
            (1.0 if gpus > 0 else 0.0) if num_gpus_per_actor is None else float(num_gpus_per_actor)
        )
        if per_gpu > 0 and gpus <= 0:
            raise DataError("num_gpus_per_actor > 0 but the Ray cluster has no GPU")
        device = "cuda" if per_gpu > 0 else "cpu"
        if concurrency is None:
            if per_gpu > 0:
                concurrency = max(1, int(gpus // per_gpu))
            else:
                concurrency = max(1, int(cpus // max(num_cpus_per_actor, 1e-9)) - 1)
        stage = PreprocessStage(
            extractor,
            None if cache_dir is None else str(cache_dir),
            fetch_options or FetchOptions(),
            max_pixels,
        )
        ds = ray.data.from_items(
            [{"item_id": it.item_id, "source": it.source or ""} for it in plan.pending]
        )
        ds = ds.map_batches(
            read_batch,
            fn_kwargs={"stage": stage},
            batch_size=batch_size,
            batch_format="numpy",
            num_cpus=read_tasks_cpus,
        )
        ds = ds.map_batches(
            ModelActor,
            fn_constructor_args=(extractor, device, precision),
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            num_cpus=num_cpus_per_actor,
            num_gpus=per_gpu,
        )
        total = len(plan.pending)
        done = 0
        devices: set[str] = set()
        buf_ids: list[str] = []
        buf_rows: list[np.ndarray] = []
        buf_bad: list[BadItem] = []
        for batch in ds.iter_batches(batch_size=batch_size, batch_format="numpy"):
            ids = [str(i) for i in batch["item_id"].tolist()]
            feats = np.asarray(batch["features"], dtype=np.float32)
            for j, (item_id, bad) in enumerate(zip(ids, batch["bad"].tolist(), strict=True)):
                if bad:
                    buf_bad.append(BadItem.from_dict(json.loads(bad)))
                else:
                    buf_ids.append(item_id)
                    buf_rows.append(feats[j])
            devices.update(str(d) for d in batch["device"].tolist())
            done += len(ids)
            if len(buf_ids) + len(buf_bad) >= shard_size:
                plan.store.write(buf_ids, np.stack(buf_rows) if buf_rows else None, buf_bad)
                buf_ids, buf_rows, buf_bad = [], [], []
            if progress is not None:
                progress(done, total)
        if buf_ids or buf_bad:
            plan.store.write(buf_ids, np.stack(buf_rows) if buf_rows else None, buf_bad)
        meta.update(
            device=",".join(sorted(devices)) or device,
            ray_actors=concurrency,
            ray_gpus_per_actor=per_gpu,
            ray_address=address,
        )
    meta["seconds"] = time.perf_counter() - started
    return finalize_extraction(plan, extractor, meta=meta)
