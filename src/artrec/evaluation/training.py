"""Training the learned recommenders: validation nDCG per epoch, early stopping, checkpoints.

:func:`train_recommender` trains any :class:`~artrec.recommend.neural.NeuralRecommender`
(CuratorNet, VBPR) the same way:

1. **Validation phase.** A validation split is carved from the *training events only*
   (:func:`~artrec.evaluation.validation.validation_split`: each user's last events by
   time). The model is fitted on the rest; after every epoch the validation cases are
   evaluated (:func:`~artrec.evaluation.evaluator.evaluate`, nDCG@k) and reported to
   ``progress`` with the loss. Training stops when nDCG@k has not improved for
   ``patience`` epochs (or after ``epochs``); the best epoch is remembered.
2. **Refit phase** (``refit=True``, the default). A fresh model with the same seed is
   fitted on *all* training events for exactly the best number of epochs, so the events
   held out for validation are not lost to the final model. With ``refit=False`` the
   model keeps the weights of the best validation epoch instead.

Checkpoints
-----------
With ``checkpoint_dir``, the trainer writes after every epoch (atomically: a crash leaves
the previous checkpoint intact) ``checkpoint.json`` (phase, epochs done, history, best
epoch and score, the model's parameters and the data's fingerprint) and
``checkpoint.npz`` (weights, optimiser state and, with ``refit=False``, the best weights;
numeric arrays only, never pickles). :func:`train_recommender` with ``resume=True``
continues from it when the parameters and the data are the same (otherwise it raises),
and ends with the same model as an uninterrupted run: every epoch's training instances
are drawn from the seed and the epoch number, and the optimiser state is restored.

:func:`train_in_workspace` does all of this inside a workspace: it reads the catalogue,
the training events and an embedding (or feature set), trains, and saves the model in
``models/<name>/`` (:func:`artrec.recommend.store.save_model`) with its configuration,
the validation history and the fingerprint of its training data; the checkpoint lives in
``models/.<name>.checkpoint/`` until the model is saved.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.errors import DataError
from artrec.evaluation.evaluator import evaluate
from artrec.evaluation.validation import DEFAULT_VALIDATION_FRACTION, validation_split
from artrec.fileio import atomic_write, read_json, write_json
from artrec.recommend.base import TrainData, train_data_from
from artrec.recommend.neural import EpochReport, NeuralRecommender, TrainingState
from artrec.recommend.serving import training_events
from artrec.recommend.store import (
    DataFingerprint,
    data_fingerprint,
    savable_class,
    save_model,
)

if TYPE_CHECKING:
    from artrec.data.workspace import Workspace

#: Learned recommender kinds trainable by :func:`train_in_workspace` (their classes are
#: registered in :data:`artrec.recommend.store.SAVABLE`).
TRAINABLE: tuple[str, ...] = ("curatornet", "vbpr")

#: Event kinds a learned model is trained on by default.
DEFAULT_KINDS: tuple[str, ...] = ("purchase", "like")

_CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class EpochLog:
    """One epoch as the trainer saw it.

    Attributes
    ----------
    phase
        ``"validation"`` (fitted on the validation split's training part) or ``"refit"``.
    epoch
        Epochs completed in this phase.
    loss
        Mean training loss of the epoch.
    ndcg
        Validation nDCG@k after the epoch (NaN in the refit phase). The validation phase
        starts with epoch 0, the untrained model (its loss is NaN), so early stopping can
        also choose not to train at all.
    seconds
        Wall time of the epoch, validation included.
    """

    phase: str
    epoch: int
    loss: float
    ndcg: float
    seconds: float


#: Receives every :class:`EpochLog` as it happens (a progress bar, a log line).
ProgressCallback = Callable[[EpochLog], None]


@dataclass(frozen=True)
class TrainingResult:
    """What :func:`train_recommender` produced.

    Attributes
    ----------
    model
        The trained model (fitted on all training events when ``refit``).
    history
        Every epoch of both phases, in order.
    best_epoch
        Number of epochs with the best validation nDCG@k.
    best_ndcg
        That nDCG@k.
    k
        The cut-off of the validation metric.
    stopped_early
        Whether patience ran out before the epoch budget.
    n_validation_cases
        Validation cases evaluated per epoch.
    seconds
        Wall time of the whole training.
    resumed_from
        ``(phase, epoch)`` of the checkpoint training resumed from, or ``None``.
    """

    model: NeuralRecommender
    history: list[EpochLog]
    best_epoch: int
    best_ndcg: float
    k: int
    stopped_early: bool
    n_validation_cases: int
    seconds: float
    resumed_from: tuple[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (history included)."""
        return {
            "best_epoch": self.best_epoch,
            f"best_validation_ndcg@{self.k}": _finite(self.best_ndcg),
            "stopped_early": self.stopped_early,
            "n_validation_cases": self.n_validation_cases,
            "seconds": round(self.seconds, 3),
            "resumed_from": list(self.resumed_from) if self.resumed_from else None,
            "history": [_log_json(h) for h in self.history],
        }


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _log_json(log: EpochLog) -> dict[str, Any]:
    return {**asdict(log), "loss": _finite(log.loss), "ndcg": _finite(log.ndcg)}


def train_recommender(
    model: NeuralRecommender,
    catalog: Catalog,
    events: Interactions,
    *,
    vectors: np.ndarray,
    k: int = 20,
    patience: int = 3,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    refit: bool = True,
    available: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> TrainingResult:
    """Train ``model`` with early stopping on a validation split of ``events``.

    Parameters
    ----------
    model
        An unfitted learned recommender; its ``epochs`` is the epoch budget.
    catalog
        The catalogue ``vectors`` and ``events`` refer to.
    events
        The training events only (never the test split).
    vectors
        ``(n_items, dim)`` item vectors aligned to the catalogue.
    k
        Cut-off of the validation nDCG.
    patience
        Epochs without improvement before stopping.
    validation_fraction
        Share of each user's events held out for validation.
    refit
        Refit on all events for the best number of epochs (see the module docstring).
    available
        Stock mask passed to the final model (``None``: everything may be recommended).
    progress
        Called with every :class:`EpochLog`.
    checkpoint_dir
        Where to write checkpoints after every epoch (``None``: no checkpoints).
    resume
        Continue from the checkpoint in ``checkpoint_dir`` when there is one.

    Returns
    -------
    TrainingResult
    """
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise DataError(f"patience must be a positive integer, got {patience!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise DataError(f"k must be a positive integer, got {k!r}")
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != catalog.n_items:
        raise DataError(f"vectors have shape {vectors.shape}; expected ({catalog.n_items}, dim)")
    t_start = time.perf_counter()
    split = validation_split(events, catalog, fraction=validation_fraction)
    fingerprint = data_fingerprint(catalog.item_ids, events)
    ckpt = _Checkpoint(checkpoint_dir, model, fingerprint, k, refit) if checkpoint_dir else None
    loaded = ckpt.load() if (ckpt is not None and resume) else None
    state = loaded or _State("validation", 0, [], -1, -math.inf, None, False, False)
    resumed_from = None if loaded is None else (loaded.phase, loaded.epoch)

    # 1. validation phase: fit on the validation split's training part, watch nDCG@k
    val_model = model.clone()
    if state.phase == "validation" and not state.finished:

        def on_val_epoch(m: NeuralRecommender, report: EpochReport) -> bool:
            t0 = time.perf_counter()
            result = evaluate(m, catalog, split, k=k, fit=False, chunk_size=512)
            ndcg = result.summary[f"ndcg@{k}"].mean
            log = EpochLog(
                "validation",
                report.epoch,
                report.loss,
                ndcg,
                report.seconds + time.perf_counter() - t0,
            )
            state.history.append(log)
            state.epoch = report.epoch
            if ndcg > state.best_ndcg:
                state.best_ndcg, state.best_epoch = ndcg, report.epoch
                if not refit:
                    state.best_arrays = m.weights()
            go_on = report.epoch - state.best_epoch < patience
            state.stopped_early = not go_on and report.epoch < m.epochs
            state.finished = not go_on or report.epoch >= m.epochs
            if ckpt is not None:
                ckpt.save(state, m.training_state())
            if progress is not None:
                progress(log)
            return go_on

        val_model.fit(
            train_data_from(catalog, split.train, vectors=vectors, available=available),
            callback=on_val_epoch,
            resume=state.training,
            report_start=True,
        )
        state.finished = True
        state.training = None
    if not math.isfinite(state.best_ndcg):
        raise DataError("training produced no epoch with a finite validation nDCG")

    # 2. the final model: refit on every training event, or the best validation weights
    if refit:
        final = model.clone(epochs=state.best_epoch)
        if state.phase == "validation":
            state.phase, state.epoch, state.training = "refit", 0, None
            if ckpt is not None:
                ckpt.save(state, None)

        def on_refit_epoch(m: NeuralRecommender, report: EpochReport) -> bool:
            log = EpochLog("refit", report.epoch, report.loss, math.nan, report.seconds)
            state.history.append(log)
            state.epoch = report.epoch
            if ckpt is not None:
                ckpt.save(state, m.training_state())
            if progress is not None:
                progress(log)
            return True

        final.fit(
            train_data_from(catalog, events, vectors=vectors, available=available),
            callback=on_refit_epoch,
            resume=state.training,
        )
    else:
        if state.best_arrays is None:
            raise DataError("the checkpoint holds no best weights to resume from")
        final = val_model
        if not hasattr(final, "net_"):  # resumed after the validation phase had ended
            final.fit(
                train_data_from(catalog, split.train, vectors=vectors, available=available),
                resume=TrainingState(final.epochs, {}, state.best_arrays),
            )
        final.load_weights(state.best_arrays, state.best_epoch)

    return TrainingResult(
        model=final,
        history=list(state.history),
        best_epoch=state.best_epoch,
        best_ndcg=state.best_ndcg,
        k=k,
        stopped_early=state.stopped_early,
        n_validation_cases=split.n_cases,
        seconds=time.perf_counter() - t_start,
        resumed_from=resumed_from,
    )


# -- checkpoints -------------------------------------------------------------------------------
@dataclass
class _State:
    phase: str
    epoch: int
    history: list[EpochLog]
    best_epoch: int
    best_ndcg: float
    best_arrays: dict[str, np.ndarray] | None
    stopped_early: bool
    finished: bool
    training: TrainingState | None = None


class _Checkpoint:
    """``checkpoint.json`` + ``checkpoint.npz`` in a folder, written atomically."""

    def __init__(
        self,
        directory: str | Path,
        model: NeuralRecommender,
        fingerprint: DataFingerprint,
        k: int,
        refit: bool,
    ) -> None:
        self.dir = Path(directory)
        self.identity = {
            "kind": model.kind,
            "params": model.get_params(),
            "fingerprint": fingerprint.to_dict(),
            "k": k,
            "refit": refit,
        }

    def save(self, state: _State, training: TrainingState | None) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        if training is not None:
            arrays.update({f"train/{k}": v for k, v in training.arrays.items()})
        if state.best_arrays is not None:
            arrays.update({f"best/{k}": v for k, v in state.best_arrays.items()})
        atomic_write(
            self.dir / "checkpoint.npz",
            lambda f: np.savez(f, allow_pickle=False, **arrays),
        )
        info = {
            "format": _CHECKPOINT_FORMAT,
            **self.identity,
            "phase": state.phase,
            "epoch": state.epoch,
            "history": [_log_json(h) for h in state.history],
            "best_epoch": state.best_epoch,
            "best_ndcg": _finite(state.best_ndcg) if state.best_ndcg > -math.inf else None,
            "stopped_early": state.stopped_early,
            "finished": state.finished,
            "training": None
            if training is None
            else {"epoch": training.epoch, "params": training.params},
        }
        write_json(self.dir / "checkpoint.json", info, indent=1)

    def load(self) -> _State | None:
        path = self.dir / "checkpoint.json"
        if not path.is_file():
            return None
        info = read_json(path)
        try:
            if info.get("format") != _CHECKPOINT_FORMAT:
                raise DataError(f"{path}: unsupported checkpoint format {info.get('format')!r}")
            for key, value in self.identity.items():
                if _jsonable(info.get(key)) != _jsonable(value):
                    raise DataError(
                        f"{path} was written for another {key} ({_short(info.get(key))}); "
                        "delete it or train without resume"
                    )
            with np.load(self.dir / "checkpoint.npz", allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
            history = [
                EpochLog(
                    str(h["phase"]),
                    int(h["epoch"]),
                    math.nan if h["loss"] is None else float(h["loss"]),
                    math.nan if h["ndcg"] is None else float(h["ndcg"]),
                    float(h["seconds"]),
                )
                for h in info["history"]
            ]
            best = {k[5:]: v for k, v in arrays.items() if k.startswith("best/")}
            train = {k[6:]: v for k, v in arrays.items() if k.startswith("train/")}
            training = None
            if info["training"] is not None:
                training = TrainingState(
                    int(info["training"]["epoch"]), dict(info["training"]["params"]), train
                )
            return _State(
                phase=str(info["phase"]),
                epoch=int(info["epoch"]),
                history=history,
                best_epoch=int(info["best_epoch"]),
                best_ndcg=-math.inf if info["best_ndcg"] is None else float(info["best_ndcg"]),
                best_arrays=best or None,
                stopped_early=bool(info["stopped_early"]),
                finished=bool(info["finished"]),
                training=training,
            )
        except (KeyError, TypeError, ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path}: unreadable checkpoint ({exc!r:.200})") from None

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- in a workspace -----------------------------------------------------------------------------
def make_learned(kind: str, **params: Any) -> NeuralRecommender:
    """A new learned recommender of ``kind`` (one of :data:`TRAINABLE`)."""
    if kind not in TRAINABLE:
        raise DataError(f"unknown learned model {kind!r}; choose one of {', '.join(TRAINABLE)}")
    cls = savable_class(kind)
    try:
        model = cls(**params)
    except TypeError as exc:
        raise DataError(f"{kind}: {exc}") from None
    assert isinstance(model, NeuralRecommender)
    return model


def early_stopping(
    k: int = 20, patience: int = 3, fraction: float | None = None
) -> Callable[[NeuralRecommender, TrainData], NeuralRecommender]:
    """A :attr:`~artrec.recommend.neural.NeuralRecommender.fit_strategy`: early stopping
    on a validation split of the training log, then a refit on all of it.

    The validation cases are :func:`artrec.evaluation.tuning.validation_cases` (each user's
    last training events, the rule ``tune`` uses for every other source). A copy of the
    model is fitted on the rest and scored (nDCG@``k``) before the first epoch and after
    each; it stops after ``patience`` epochs without improvement. The model itself is then
    fitted on every training event for the best number of epochs (its ``epochs`` becomes
    that number) and keeps the history in ``validation_``. A log too small to carve
    validation cases from is fitted for ``epochs`` as it is.
    """
    from artrec.evaluation.tuning import DEFAULT_FRACTION, score_validation, validation_cases

    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise DataError(f"patience must be a positive integer, got {patience!r}")

    def fit(model: NeuralRecommender, data: TrainData) -> NeuralRecommender:
        model.fit_strategy = None
        try:
            val = validation_cases(data, fraction=fraction or DEFAULT_FRACTION)
        except DataError:
            val = None
        try:
            if val is None or val.n_cases == 0:
                return model.fit(data)
            cases = val
            history: list[tuple[int, float]] = []

            def on_epoch(m: NeuralRecommender, report: EpochReport) -> bool:
                history.append((report.epoch, score_validation(m, cases, k)[0]))
                best = max(history, key=lambda h: h[1])[0]
                return report.epoch - best < patience

            model.clone().fit(val.fit_data, callback=on_epoch, report_start=True)
            best_epoch, best_ndcg = max(history, key=lambda h: h[1])
            model.epochs = best_epoch
            model.fit(data)
            model.validation_ = {
                "k": k,
                "best_epoch": best_epoch,
                "best_ndcg": best_ndcg,
                "n_cases": val.n_cases,
                "history": [{"epoch": e, f"ndcg@{k}": v} for e, v in history],
            }
            return model
        finally:
            model.fit_strategy = fit

    return fit


def train_in_workspace(
    workspace: Workspace,
    kind: str,
    *,
    name: str | None = None,
    embedding: str | None = None,
    features: str | None = None,
    kinds: Sequence[str] = DEFAULT_KINDS,
    params: Mapping[str, Any] | None = None,
    k: int = 20,
    patience: int = 3,
    refit: bool = True,
    resume: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[TrainingResult, Path]:
    """Train a learned recommender on a workspace and save it in ``models/<name>/``.

    Parameters
    ----------
    workspace
        The workspace.
    kind
        ``"curatornet"`` or ``"vbpr"``.
    name
        The saved model's name (default: ``kind``).
    embedding, features
        The item vectors: an embedding (default: the workspace's default embedding) or,
        instead, a feature set of ``features/``.
    kinds
        Event kinds trained on.
    params
        Model parameters (``epochs``, ``seed``, ``metadata``, ...).
    k, patience, refit, resume, progress
        See :func:`train_recommender`.

    Returns
    -------
    (TrainingResult, Path)
        The result and the saved model's folder.
    """
    from artrec.embedding import load_embedding
    from artrec.vectors import FeatureSet

    name = name or kind
    model = make_learned(kind, **dict(params or {}))
    catalog = workspace.catalog()
    if features is not None:
        if embedding is not None:
            raise DataError("give an embedding or a feature set, not both")
        vector_set = FeatureSet.load(workspace.features_dir, features)
        source = {"features": features}
    else:
        vector_set = load_embedding(workspace, embedding)
        source = {"embedding": vector_set.name}
    vectors = np.asarray(vector_set.align(catalog.item_ids).matrix, dtype=np.float32)
    events = training_events(workspace, kinds)
    if len(events) == 0:
        raise DataError(
            f"{workspace.root} has no training events of kinds {', '.join(kinds)} to train on"
        )
    checkpoint = workspace.models_dir / f".{name}.checkpoint"
    available = np.asarray(catalog.in_stock, dtype=bool)
    result = train_recommender(
        model,
        catalog,
        events,
        vectors=vectors,
        k=k,
        patience=patience,
        refit=refit,
        available=available,
        progress=progress,
        checkpoint_dir=checkpoint,
        resume=resume,
    )
    extra = {
        **source,
        "event_kinds": list(kinds),
        "training": result.summary(),
        "refresh": f"artrec train -w {workspace.root} --model {kind} --name {name}",
    }
    folder = save_model(
        workspace.models_dir,
        name,
        result.model,
        data_fingerprint(catalog.item_ids, events),
        extra=extra,
    )
    shutil.rmtree(checkpoint, ignore_errors=True)
    workspace.record_run(
        "train",
        {"kind": kind, "name": name, **source, **result.model.get_params()},
        result.summary(),
    )
    return result, folder
