"""The batched, resumable feature-extraction runner.

Extraction is a pipeline of three stages, in the manner of clip-retrieval's
reader -> mapper -> writer:

1. **reader + preprocess** (:class:`PreprocessStage`): an :class:`ExtractionItem` (id and
   image location) becomes the extractor's input array. URLs are fetched into the cache
   (:func:`artrec.images.fetch.fetch_url`), files are decoded robustly
   (:func:`artrec.images.read_image`) and :meth:`FeatureExtractor.preprocess` is applied.
   A bad item becomes a :class:`BadItem` with its reason instead of an exception. In the
   local engine this stage runs in ``torch.utils.data.DataLoader`` worker processes, in
   parallel with the model; :func:`collate_batch` stacks the good arrays of a batch.
2. **mapper** (:meth:`FeatureExtractor.forward`): the model, loaded once per process by
   :meth:`FeatureExtractor.setup`, on a stacked batch.
3. **writer** (:class:`ShardStore`): rows are appended as shards
   ``<output>/.<name>.shards/shard-<seq>.npy`` + ``.json``; each file is written to a
   temporary name and renamed, the ``.json`` (ids and bad items) last, so a shard exists
   only when complete.

Around them, :func:`plan_extraction` decides what is left to do, and
:func:`finalize_extraction` merges the rows into ``<output>/<name>.npy`` with the ids and a
JSON sidecar (model, weights, preprocessing, dtype, artrec version, device, precision, the
count and list of bad items) via :meth:`FeatureSet.save`, then deletes the shards:

- **resume**: items already in a complete shard are not extracted again. Batches are
  consecutive chunks of the pending items and shards end on batch boundaries, so a resumed
  run forms exactly the batches the interrupted run would have formed next, and its
  features are identical to one uninterrupted run,
- **grown catalogue**: items already in the final feature set (same extractor
  fingerprint) are reused; only new items are extracted,
- **bad items** are skipped and listed; items listed as bad by an earlier run are not
  retried unless ``retry_bad=True``,
- a shard store or feature set made with a different extractor configuration
  (fingerprint) is never mixed in: stale shards are deleted, stale rows re-extracted.

Another engine (the Ray engine) reuses the pieces: :func:`plan_extraction` for the pending
items and the store, :class:`PreprocessStage` for reading, the extractor's
``setup``/``forward`` in its actors, :meth:`ShardStore.write` for the output and
:func:`finalize_extraction` at the end. Everything here is picklable.

The runner never prints; pass ``progress`` to follow it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artrec import __version__
from artrec.errors import DataError
from artrec.features.extractor import (
    FeatureExtractor,
    TorchModelExtractor,
    check_precision,
    import_torch,
    resolve_device,
    resolve_precision,
)
from artrec.fileio import atomic_write_bytes
from artrec.images.fetch import FetchOptions, fetch_url, is_url
from artrec.images.reader import DEFAULT_MAX_PIXELS, BadImageError, read_image
from artrec.vectors import FeatureSet, as_id_array, load_npy

#: ``progress(done, total)``: items processed so far (good or bad) out of those pending.
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class ExtractionItem:
    """One thing to extract: the item id and where its image is (a path or an http(s) URL)."""

    item_id: str
    source: str | None


@dataclass(frozen=True)
class BadItem:
    """An item that produced no features, with the reason."""

    item_id: str
    source: str | None
    reason: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BadItem:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(d["item_id"]), d.get("source"), str(d.get("reason", "")), str(d.get("detail", ""))
        )


@dataclass(frozen=True)
class ExtractionReport:
    """What a run did.

    Attributes
    ----------
    extractor
        Extractor name.
    n_requested
        Items asked for.
    n_reused
        Items whose features came from the existing feature set or from shards of an
        interrupted run.
    n_extracted
        Items extracted by this run (good ones).
    bad
        Items without features, with reasons (including ones carried over from earlier runs).
    seconds
        Wall time of this run.
    device, precision
        Where and how the model ran (``None`` when nothing was extracted).
    n_new_bad
        Bad items found by this run.
    """

    extractor: str
    n_requested: int
    n_reused: int
    n_extracted: int
    bad: tuple[BadItem, ...]
    seconds: float
    device: str | None
    precision: str
    n_new_bad: int = 0

    @property
    def n_bad(self) -> int:
        """Number of bad items."""
        return len(self.bad)

    @property
    def items_per_second(self) -> float:
        """Throughput of this run over the items it processed (good and bad)."""
        done = self.n_extracted + self.n_new_bad
        return done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        d = asdict(self)
        d["bad"] = [b.to_dict() for b in self.bad]
        d["n_bad"] = self.n_bad
        d["items_per_second"] = self.items_per_second
        return d


# -- stage 1: reader + preprocess ------------------------------------------------------------
@dataclass
class PreprocessStage:
    """Reader stage: item -> (preprocessed array, None) or (None, BadItem).

    Parameters
    ----------
    extractor
        Supplies :meth:`FeatureExtractor.preprocess` (no model is needed or loaded).
    cache_dir
        Where URLs are downloaded (required when items have URLs).
    fetch_options
        Timeouts, retries, size limit for URLs.
    max_pixels
        Decompression-bomb limit passed to :func:`read_image`.
    """

    extractor: FeatureExtractor
    cache_dir: str | None = None
    fetch_options: FetchOptions = field(default_factory=FetchOptions)
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def __call__(self, item: ExtractionItem) -> tuple[np.ndarray | None, BadItem | None]:
        """Read and preprocess one item; never raises for a bad image."""
        source = item.source
        if source is None or str(source).strip() == "":
            return None, BadItem(item.item_id, source, "no image", "the item has no image location")
        try:
            path: str | Path = source
            if is_url(source):
                if self.cache_dir is None:
                    return None, BadItem(
                        item.item_id, source, "no cache dir", "URLs need a cache_dir"
                    )
                path = fetch_url(source, self.cache_dir, self.fetch_options)
            image = read_image(
                path, max_pixels=self.max_pixels, size_hint=self.extractor.decode_size
            )
            array = self.extractor.preprocess(image)
        except BadImageError as exc:
            return None, BadItem(item.item_id, source, exc.reason, exc.detail)
        except Exception as exc:  # a decoder or feature bug on one odd image must not stop the run
            return None, BadItem(
                item.item_id, source, "unexpected error", f"{type(exc).__name__}: {exc}"
            )
        return np.asarray(array), None


@dataclass(frozen=True)
class PreparedBatch:
    """A collated batch: the good items' ids and stacked arrays, and the bad items."""

    item_ids: list[str]
    array: np.ndarray | None
    bad: list[BadItem]

    def __len__(self) -> int:
        return len(self.item_ids) + len(self.bad)


def collate_batch(
    samples: Sequence[tuple[str, np.ndarray | None, BadItem | None]],
) -> PreparedBatch:
    """Stack the good arrays of ``(item_id, array, bad)`` samples (numpy, no torch)."""
    ids = [s[0] for s in samples if s[1] is not None]
    arrays = [s[1] for s in samples if s[1] is not None]
    bad = [s[2] for s in samples if s[2] is not None]
    return PreparedBatch(ids, np.stack(arrays) if arrays else None, bad)


class _ItemDataset:
    """Map-style dataset over items (module level so worker processes can unpickle it)."""

    def __init__(self, items: Sequence[ExtractionItem], stage: PreprocessStage) -> None:
        self.items = list(items)
        self.stage = stage

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[str, np.ndarray | None, BadItem | None]:
        item = self.items[i]
        array, bad = self.stage(item)
        return item.item_id, array, bad


# -- stage 3: writer ---------------------------------------------------------------------------
class ShardStore:
    """Atomic shards of extracted rows for one extractor in one output directory.

    Layout: ``<directory>/config.json`` (the extractor fingerprint) and, per shard,
    ``shard-<seq>.npy`` (float32 rows) + ``shard-<seq>.json`` (``item_ids``, ``bad``). The
    ``.json`` is renamed into place last and marks the shard complete.

    Parameters
    ----------
    directory
        The shard directory (``<output>/.<name>.shards``).
    fingerprint
        The extractor's :meth:`~FeatureExtractor.fingerprint`.
    """

    def __init__(self, directory: str | Path, fingerprint: str) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint

    def open(self) -> None:
        """Create the directory; delete shards written with another fingerprint."""
        config = self.directory / "config.json"
        if self.directory.is_dir():
            try:
                stored = json.loads(config.read_text()).get("fingerprint")
            except (OSError, json.JSONDecodeError, AttributeError):
                stored = None
            if stored != self.fingerprint:
                shutil.rmtree(self.directory)
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True)
            atomic_write_bytes(config, json.dumps({"fingerprint": self.fingerprint}).encode())

    def _complete(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        out = []
        for meta in self.directory.glob("shard-*.json"):
            try:
                seq = int(meta.stem.split("-", 1)[1])
            except (IndexError, ValueError):
                continue
            if meta.with_suffix(".npy").is_file():
                out.append((seq, meta))
        return sorted(out)

    def read(self) -> tuple[list[str], np.ndarray | None, list[BadItem]]:
        """All complete shards, in write order: ids, stacked rows, bad items."""
        ids: list[str] = []
        mats: list[np.ndarray] = []
        bad: list[BadItem] = []
        for _, meta_path in self._complete():
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise DataError(
                    f"shard {meta_path} is unreadable ({exc}); delete it to re-extract"
                ) from None
            shard_ids = [str(i) for i in meta.get("item_ids", [])]
            mat = load_npy(meta_path.with_suffix(".npy"), mmap=False)
            if mat.shape[0] != len(shard_ids):
                raise DataError(
                    f"shard {meta_path} has {mat.shape[0]} rows for {len(shard_ids)} ids"
                )
            ids.extend(shard_ids)
            if len(shard_ids):
                mats.append(mat)
            bad.extend(BadItem.from_dict(b) for b in meta.get("bad", []))
        return ids, (np.concatenate(mats) if mats else None), bad

    def done_ids(self) -> set[str]:
        """Ids of all items in complete shards (good and bad)."""
        ids, _, bad = self.read()
        return set(ids) | {b.item_id for b in bad}

    def write(
        self, item_ids: Sequence[str], rows: np.ndarray | None, bad: Sequence[BadItem]
    ) -> Path:
        """Append one shard atomically; returns its ``.json`` path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        done = self._complete()
        seq = done[-1][0] + 1 if done else 0
        base = self.directory / f"shard-{seq:06d}"
        matrix = (
            np.zeros((0, 0), dtype=np.float32)
            if rows is None
            else np.ascontiguousarray(rows, dtype=np.float32)
        )
        if matrix.shape[0] != len(item_ids):
            raise DataError(f"shard: {matrix.shape[0]} rows for {len(item_ids)} ids")
        npy = base.with_suffix(".npy")
        tmp = npy.with_name(f".{npy.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as f:
            np.save(f, matrix)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, npy)
        meta = {"item_ids": list(item_ids), "bad": [b.to_dict() for b in bad]}
        json_path = base.with_suffix(".json")
        atomic_write_bytes(json_path, json.dumps(meta).encode())
        return json_path

    def clear(self) -> None:
        """Delete the shard directory."""
        if self.directory.is_dir():
            shutil.rmtree(self.directory)


# -- planning and finalising -------------------------------------------------------------------
@dataclass
class ExtractionPlan:
    """What a run must do; made by :func:`plan_extraction`.

    Attributes
    ----------
    name
        Feature set name (the extractor's name).
    fingerprint
        The extractor's fingerprint.
    items
        All requested items, in output order.
    pending
        Items still to extract, in the same relative order.
    reused
        Existing rows reused from the final feature set: id -> row vector.
    carried_bad
        Bad items of an earlier run that are not retried.
    store
        The shard store (opened).
    output_dir
        Where the feature set is written (``None``: not saved).
    n_from_shards
        Items found in shards of an interrupted run.
    existing_ids
        Row order of the final feature set found on disk (``None``: none usable).
    """

    name: str
    fingerprint: str
    items: list[ExtractionItem]
    pending: list[ExtractionItem]
    reused: dict[str, np.ndarray]
    carried_bad: list[BadItem]
    store: ShardStore
    output_dir: Path | None
    n_from_shards: int = 0
    existing_ids: list[str] | None = None
    existing_n_bad: int = 0


def normalise_items(items: Iterable[ExtractionItem | tuple[Any, Any]]) -> list[ExtractionItem]:
    """Validate items (unique ids, as text); accepts ``(item_id, source)`` pairs too."""
    out: list[ExtractionItem] = []
    seen: set[str] = set()
    for it in items:
        item = it if isinstance(it, ExtractionItem) else ExtractionItem(*it)
        item_id = str(as_id_array([item.item_id])[0])
        if item_id in seen:
            raise DataError(f"extraction: duplicate item id {item_id!r}")
        seen.add(item_id)
        source = None if item.source is None else str(item.source)
        out.append(ExtractionItem(item_id, source))
    return out


def plan_extraction(
    items: Iterable[ExtractionItem | tuple[Any, Any]],
    extractor: FeatureExtractor,
    output_dir: str | Path,
    *,
    retry_bad: bool = False,
    precision: str = "fp32",
) -> ExtractionPlan:
    """Work out which items still need extracting, given earlier (possibly interrupted) runs.

    Parameters
    ----------
    items
        Items in output order.
    extractor
        The extractor (not set up).
    output_dir
        Directory of the final feature set and of its shard store.
    retry_bad
        Re-attempt items listed as bad by an earlier complete run.
    precision
        The autocast precision of the run; for torch models it is part of the
        fingerprint, since bf16/fp16 features differ slightly from fp32 ones and are
        never mixed with them.
    """
    all_items = normalise_items(items)
    out = Path(output_dir)
    name = extractor.name
    fingerprint = extractor.fingerprint()
    if check_precision(precision) != "fp32" and isinstance(extractor, TorchModelExtractor):
        fingerprint += f"|precision={precision}"
    wanted = {it.item_id for it in all_items}
    reused: dict[str, np.ndarray] = {}
    carried: list[BadItem] = []
    existing_ids: list[str] | None = None
    existing_n_bad = 0
    if (out / f"{name}.npy").is_file():
        try:
            existing = FeatureSet.load(out, name, mmap=True)
        except DataError:
            existing = None  # unreadable: extract everything again
        if existing is not None and existing.meta.get("fingerprint") == fingerprint:
            existing_ids = existing.item_ids.tolist()
            existing_n_bad = len(existing.meta.get("bad_items", []) or [])
            for row, item_id in enumerate(existing.item_ids.tolist()):
                if item_id in wanted:
                    reused[item_id] = np.asarray(existing.matrix[row], dtype=np.float32)
            if not retry_bad:
                for b in existing.meta.get("bad_items", []) or []:
                    bad = BadItem.from_dict(b)
                    if bad.item_id in wanted and bad.item_id not in reused:
                        carried.append(bad)
    store = ShardStore(out / f".{name}.shards", fingerprint)
    store.open()
    in_shards = store.done_ids()
    carried_ids = {b.item_id for b in carried}
    pending = [
        it
        for it in all_items
        if it.item_id not in reused
        and it.item_id not in in_shards
        and it.item_id not in carried_ids
    ]
    n_from_shards = len(wanted & in_shards - set(reused))
    return ExtractionPlan(
        name,
        fingerprint,
        all_items,
        pending,
        reused,
        carried,
        store,
        out,
        n_from_shards,
        existing_ids,
        existing_n_bad,
    )


def finalize_extraction(
    plan: ExtractionPlan,
    extractor: FeatureExtractor,
    *,
    meta: dict[str, Any] | None = None,
    save: bool = True,
) -> FeatureSet:
    """Merge reused rows and all shards into the final feature set, save it, drop the shards.

    Rows follow the order of ``plan.items``; bad items are left out and listed in the
    sidecar (``n_bad``, ``bad_items``).
    """
    shard_ids, shard_rows, shard_bad = plan.store.read()
    rows: dict[str, np.ndarray] = dict(plan.reused)
    if shard_rows is not None:
        for i, item_id in enumerate(shard_ids):
            rows[item_id] = shard_rows[i]
    bad_by_id: dict[str, BadItem] = {b.item_id: b for b in plan.carried_bad}
    for b in shard_bad:
        bad_by_id[b.item_id] = b
    ids = [it.item_id for it in plan.items if it.item_id in rows]
    bad = [
        bad_by_id[it.item_id]
        for it in plan.items
        if it.item_id in bad_by_id and it.item_id not in rows
    ]
    unchanged = (
        not shard_ids
        and not shard_bad
        and plan.existing_ids == ids
        and len(bad) == len(plan.carried_bad) == plan.existing_n_bad
        and plan.output_dir is not None
    )
    if unchanged and save:
        plan.store.clear()
        return FeatureSet.load(plan.output_dir, plan.name)  # type: ignore[arg-type]
    matrix = (
        np.stack([rows[i] for i in ids]).astype(np.float32, copy=False)
        if ids
        else np.zeros((0, extractor.dim), dtype=np.float32)
    )
    info = {
        **extractor.info(),
        **(meta or {}),
        "fingerprint": plan.fingerprint,
        "artrec_version": __version__,
        "dtype": "float32",
        "n_bad": len(bad),
        "bad_items": [b.to_dict() for b in bad],
    }
    features = FeatureSet(plan.name, np.asarray(ids, dtype=object), matrix, info)
    features.check_finite()
    if save and plan.output_dir is not None:
        features.save(plan.output_dir)
    plan.store.clear()
    return features


# -- the local engine -----------------------------------------------------------------------------
def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def single_threaded_worker(_worker_id: int = 0) -> None:
    """``worker_init_fn`` of the decoding workers: one BLAS/OpenMP thread per worker.

    Workers decode and preprocess one image at a time; a multi-threaded BLAS in each of
    them would put more threads than cores on the machine, spinning against the model's
    own threads (system time rather than work). torch already sets one thread per worker.
    Freed memory stays in the worker for the next image
    (:func:`artrec.features.process.retain_freed_memory`).
    """
    from threadpoolctl import threadpool_limits

    from artrec.features.process import retain_freed_memory

    threadpool_limits(limits=1)
    retain_freed_memory()


def default_num_workers(device: str = "cpu") -> int:
    """Decoding worker processes for a model running on ``device``.

    With a GPU (``cuda``/``mps``) the CPU cores are free for decoding: ``cores - 1``, at
    most 8. On the CPU the model's own threads already use every core, so a worker steals
    from the model: none on machines with 2 cores or fewer (measured on 2 cores with
    200 px thumbnails: inline decoding kept the runner within a few percent of the bare
    forward, one worker cost about a third), else a quarter of the cores, at most 4.
    Large JPEGs decode slowly; pass ``num_workers`` explicitly for such catalogues.
    """
    cores = available_cores()
    if not device.startswith("cpu"):
        return max(0, min(8, cores - 1))
    if cores <= 2:
        return 0
    return min(4, max(1, cores // 4))


class _TorchThreads:
    """Sets a CPU torch model's intra-op threads for a run (and back afterwards)."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        device: str,
        wanted: int | Callable[[], int] | None,
        default: int,
    ) -> None:
        self.active = isinstance(extractor, TorchModelExtractor) and device.startswith("cpu")
        self.wanted = default if wanted is None else wanted
        self.previous: int | None = None
        self.current: int | None = None

    def update(self) -> None:
        """Apply the wanted thread count if it changed."""
        if not self.active:
            return
        n = max(1, int(self.wanted() if callable(self.wanted) else self.wanted))
        if n != self.current:
            import_torch().set_num_threads(n)
            self.current = n

    def __enter__(self) -> _TorchThreads:
        if self.active:
            self.previous = int(import_torch().get_num_threads())
            self.update()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active and self.previous is not None:
            import_torch().set_num_threads(self.previous)


def _one_blas_thread() -> Any:
    """numpy's BLAS held to one thread in this process for the duration of a run."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def run_extraction(
    items: Iterable[ExtractionItem | tuple[Any, Any]],
    extractor: FeatureExtractor,
    output_dir: str | Path,
    *,
    batch_size: int = 32,
    num_workers: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    shard_size: int = 1024,
    cache_dir: str | Path | None = None,
    fetch_options: FetchOptions | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    retry_bad: bool = False,
    save: bool = True,
    progress: ProgressCallback | None = None,
    num_threads: int | Callable[[], int] | None = None,
) -> tuple[FeatureSet, ExtractionReport]:
    """Extract features for ``items`` with a DataLoader feeding the model, resumably.

    Threads are sized together so that no core is asked for twice: the decoding workers run
    one BLAS/OpenMP thread each (:func:`single_threaded_worker`), this process's numpy BLAS
    runs one thread during the run, and a torch model on the CPU gets one intra-op thread per
    core (where :func:`default_num_workers` starts no decoding worker on 2 cores or fewer).
    The thread count does not follow the number of workers, so a run resumed with other
    workers computes bit-identical features.

    Parameters
    ----------
    items
        :class:`ExtractionItem` s (or ``(item_id, source)`` pairs) in output order.
    extractor
        The feature extractor.
    output_dir
        Directory for ``<name>.npy`` / ``.ids.json`` / ``.json`` and the shard store.
    batch_size
        Items per model batch.
    num_workers
        DataLoader worker processes for decoding (``None``: :func:`default_num_workers`
        for the device with a torch model; one per core, at most 8, for extractors whose
        work is all in ``preprocess``; 0: decode in the main process, between batches).
    device
        ``"auto"`` or a torch device string.
    precision
        ``"fp32"``, ``"bf16"`` or ``"fp16"`` autocast, or ``"auto"``: bf16 where the
        hardware computes it natively (see :func:`~artrec.features.extractor.resolve_precision`).
    shard_size
        Items per shard (rounded up to whole batches); the granularity of resume.
    cache_dir
        Download cache for URL sources.
    fetch_options
        Timeouts, retries, size limit for URL sources.
    max_pixels
        Decompression-bomb limit.
    retry_bad
        Re-attempt items listed as bad by an earlier run.
    save
        Write the final feature set to ``output_dir`` (the shards are always used).
    progress
        Called as ``progress(done, total)`` after every batch.
    num_threads
        Intra-op threads of a torch model on the CPU (default: one per core); a callable is
        asked again before every batch, so a caller sharing the cores with other work can
        hand them back when that work ends (features then match a run with a fixed count
        up to the order of float sums).

    Returns
    -------
    (FeatureSet, ExtractionReport)
        The features of the good items in ``items`` order, and what the run did.
    """
    from torch.utils.data import DataLoader

    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}")
    if shard_size < 1:
        raise DataError(f"shard_size must be >= 1, got {shard_size}")
    precision = resolve_precision(precision, extractor, device)
    started = time.perf_counter()
    plan = plan_extraction(items, extractor, output_dir, retry_bad=retry_bad, precision=precision)
    if num_workers is None and isinstance(extractor, TorchModelExtractor):
        workers = default_num_workers(resolve_device(device))
    elif num_workers is None:  # all the work is in preprocess: use every core for it
        workers = min(8, available_cores())
    else:
        workers = int(num_workers)
    total = len(plan.pending)
    done = 0
    n_extracted = 0
    n_new_bad = 0
    used_device: str | None = None
    if plan.pending:
        stage = PreprocessStage(
            extractor,
            None if cache_dir is None else str(cache_dir),
            fetch_options or FetchOptions(),
            max_pixels,
        )
        loader: Any = DataLoader(
            _ItemDataset(plan.pending, stage),  # type: ignore[arg-type]
            batch_size=batch_size,
            shuffle=False,
            num_workers=workers,
            collate_fn=collate_batch,
            prefetch_factor=4 if workers > 0 else None,
            worker_init_fn=single_threaded_worker if workers > 0 else None,
        )
        batches = iter(loader)  # start the workers before the model exists (fork-safe)
        extractor.setup(device, precision)
        used_device = getattr(extractor, "device_", None) or (device if device != "auto" else "cpu")
        torch_threads = _TorchThreads(extractor, used_device, num_threads, available_cores())
        buf_ids: list[str] = []
        buf_rows: list[np.ndarray] = []
        buf_bad: list[BadItem] = []
        with torch_threads, _one_blas_thread():
            for batch in batches:
                torch_threads.update()
                if batch.array is not None:
                    feats = extractor.forward(batch.array)
                    if feats.shape != (len(batch.item_ids), extractor.dim):
                        raise DataError(
                            f"{extractor.name}: forward returned shape {feats.shape} for "
                            f"{len(batch.item_ids)} items of dim {extractor.dim}"
                        )
                    buf_ids.extend(batch.item_ids)
                    buf_rows.append(feats)
                    n_extracted += len(batch.item_ids)
                buf_bad.extend(batch.bad)
                n_new_bad += len(batch.bad)
                done += len(batch)
                if len(buf_ids) + len(buf_bad) >= shard_size:
                    plan.store.write(
                        buf_ids, np.concatenate(buf_rows) if buf_rows else None, buf_bad
                    )
                    buf_ids, buf_rows, buf_bad = [], [], []
                if progress is not None:
                    progress(done, total)
        if buf_ids or buf_bad:
            plan.store.write(buf_ids, np.concatenate(buf_rows) if buf_rows else None, buf_bad)
    meta = {
        "device": used_device,
        "precision": precision,
        "batch_size": batch_size,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    features = finalize_extraction(plan, extractor, meta=meta, save=save)
    seconds = time.perf_counter() - started
    report = ExtractionReport(
        extractor=extractor.name,
        n_requested=len(plan.items),
        n_reused=len(plan.reused) + plan.n_from_shards,
        n_extracted=n_extracted,
        bad=tuple(BadItem.from_dict(b) for b in features.meta.get("bad_items", [])),
        seconds=seconds,
        device=used_device,
        precision=precision,
        n_new_bad=n_new_bad,
    )
    return features, report
