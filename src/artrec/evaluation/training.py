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
from artrec.evaluation.protocols import Split
from artrec.evaluation.validation import DEFAULT_VALIDATION_FRACTION, validation_split
from artrec.fileio import atomic_write, read_json, write_json
from artrec.recommend.base import TrainData, train_data_from
from artrec.recommend.neural import (
    EpochReport,
    NeuralRecommender,
    TrainingState,
    usable_metadata,
)
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
    metadata
        The model's metadata inputs (``()``: the vectors alone), which tell apart the
        validation phases of :func:`train_recommender`'s ``metadata_choices``.
    """

    phase: str
    epoch: int
    loss: float
    ndcg: float
    seconds: float
    metadata: tuple[str, ...] = ()


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
            **self.extra,
        }


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _log_json(log: EpochLog) -> dict[str, Any]:
    return {
        **asdict(log),
        "loss": _finite(log.loss),
        "ndcg": _finite(log.ndcg),
        "metadata": list(log.metadata),
    }


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
    metadata_choices: Sequence[Sequence[str]] | None = None,
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
    metadata_choices
        Item inputs to choose between (see :func:`metadata_choices`): one ``metadata`` value
        of the model per choice, ``()`` for the vectors alone. Every choice goes through the
        validation phase on the same split (with its checkpoint in
        ``checkpoint_dir/inputs-<i>``); only the one with the best validation nDCG@k (the
        first on ties) goes on to the final model. ``None``: the model's own ``metadata``.

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
    if metadata_choices is not None and not len(metadata_choices):
        raise DataError("metadata_choices needs at least one choice")
    t_start = time.perf_counter()
    split = validation_split(events, catalog, fraction=validation_fraction)
    fingerprint = data_fingerprint(catalog.item_ids, events)
    val_data = train_data_from(catalog, split.train, vectors=vectors, available=available)

    # 1. validation phase, once per choice of inputs: fit on the split's training part
    runs: list[_Run] = []
    choices = [None] if metadata_choices is None else [tuple(c) for c in metadata_choices]
    for i, choice in enumerate(choices):
        candidate = model if choice is None else model.clone(metadata=choice)
        folder = checkpoint_dir
        if folder is not None and choice is not None:
            folder = Path(folder) / f"inputs-{i}"
        run = _Run.start(candidate, folder, fingerprint, k, refit, resume)
        _validation_phase(run, catalog, split, val_data, k, patience, refit, progress)
        runs.append(run)
    best = max(runs, key=lambda r: r.state.best_ndcg)  # the first of equals

    # 2. the final model: refit on every training event, or the best validation weights
    final = _final_phase(best, catalog, events, vectors, available, split, refit, progress)
    history = [h for r in runs for h in r.state.history if h.phase == "validation"]
    history += [h for h in best.state.history if h.phase == "refit"]
    extra: dict[str, Any] = {}
    if metadata_choices is not None:
        extra["metadata"] = list(best.model.metadata)
        extra["metadata_choices"] = [
            {
                "metadata": list(r.model.metadata),
                "best_epoch": r.state.best_epoch,
                f"best_validation_ndcg@{k}": _finite(r.state.best_ndcg),
            }
            for r in runs
        ]
    return TrainingResult(
        model=final,
        history=history,
        best_epoch=best.state.best_epoch,
        best_ndcg=best.state.best_ndcg,
        k=k,
        stopped_early=best.state.stopped_early,
        n_validation_cases=split.n_cases,
        seconds=time.perf_counter() - t_start,
        resumed_from=best.resumed_from,
        extra=extra,
    )


@dataclass
class _Run:
    """One model through the trainer: its validation-phase copy, state and checkpoint."""

    model: NeuralRecommender
    val_model: NeuralRecommender
    state: _State
    ckpt: _Checkpoint | None
    resumed_from: tuple[str, int] | None

    @classmethod
    def start(
        cls,
        model: NeuralRecommender,
        checkpoint_dir: str | Path | None,
        fingerprint: DataFingerprint,
        k: int,
        refit: bool,
        resume: bool,
    ) -> _Run:
        ckpt = _Checkpoint(checkpoint_dir, model, fingerprint, k, refit) if checkpoint_dir else None
        loaded = ckpt.load() if (ckpt is not None and resume) else None
        state = loaded or _State("validation", 0, [], -1, -math.inf, None, False, False)
        resumed = None if loaded is None else (loaded.phase, loaded.epoch)
        return cls(model, model.clone(), state, ckpt, resumed)


def _validation_phase(
    run: _Run,
    catalog: Catalog,
    split: Split,
    val_data: TrainData,
    k: int,
    patience: int,
    refit: bool,
    progress: ProgressCallback | None,
) -> None:
    """Fit ``run``'s validation copy on the split's training part, scoring nDCG@k on its
    cases before the first epoch and after each, until ``patience`` runs out."""
    state, ckpt = run.state, run.ckpt
    metadata = tuple(run.model.metadata)
    if state.phase == "validation" and not state.finished:

        def on_val_epoch(m: NeuralRecommender, report: EpochReport) -> bool:
            t0 = time.perf_counter()
            result = evaluate(m, catalog, split, k=k, fit=False, chunk_size=512)
            ndcg = result.summary[f"ndcg@{k}"].mean
            seconds = report.seconds + time.perf_counter() - t0
            log = EpochLog("validation", report.epoch, report.loss, ndcg, seconds, metadata)
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

        run.val_model.fit(val_data, callback=on_val_epoch, resume=state.training, report_start=True)
        state.finished = True
        state.training = None
    if not math.isfinite(state.best_ndcg):
        raise DataError("training produced no epoch with a finite validation nDCG")


def _final_phase(
    run: _Run,
    catalog: Catalog,
    events: Interactions,
    vectors: np.ndarray,
    available: np.ndarray | None,
    split: Split,
    refit: bool,
    progress: ProgressCallback | None,
) -> NeuralRecommender:
    """The final model of ``run``: refitted on every training event for the best number of
    epochs, or (``refit=False``) the validation copy with its best weights."""
    state, ckpt = run.state, run.ckpt
    metadata = tuple(run.model.metadata)
    if not refit:
        if state.best_arrays is None:
            raise DataError("the checkpoint holds no best weights to resume from")
        final = run.val_model
        if not hasattr(final, "net_"):  # resumed after the validation phase had ended
            final.fit(
                train_data_from(catalog, split.train, vectors=vectors, available=available),
                resume=TrainingState(final.epochs, {}, state.best_arrays),
            )
        final.load_weights(state.best_arrays, state.best_epoch)
        return final
    final = run.model.clone(epochs=state.best_epoch)
    if state.phase == "validation":
        state.phase, state.epoch, state.training = "refit", 0, None
        if ckpt is not None:
            ckpt.save(state, None)

    def on_refit_epoch(m: NeuralRecommender, report: EpochReport) -> bool:
        log = EpochLog("refit", report.epoch, report.loss, math.nan, report.seconds, metadata)
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
    return final


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
                    tuple(str(c) for c in h.get("metadata", ())),
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


#: The ``metadata`` value of a learned model's configuration (and of ``artrec train
#: --metadata``) that chooses its item inputs on the validation split: see
#: :func:`metadata_choices`.
AUTO_METADATA = "auto"


def metadata_choices(data: TrainData) -> list[tuple[str, ...]]:
    """The item inputs :data:`AUTO_METADATA` chooses between: the vectors alone, and the
    vectors with every metadata column the catalogue can one-hot encode
    (:func:`~artrec.recommend.neural.usable_metadata`) when it has any.

    Which helps is a property of the collection (buyers loyal to artists, or to a look), so
    the trainer measures it on the validation split instead of assuming it.
    """
    usable = usable_metadata(data)
    return [(), usable] if usable else [()]


def early_stopping(
    k: int = 20,
    patience: int = 3,
    fraction: float | None = None,
    choose_metadata: bool = False,
    epochs: int | None = None,
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

    With ``choose_metadata``, a copy is early-stopped for each of :func:`metadata_choices`
    on the same validation cases, and the model takes the inputs (its ``metadata``) of the
    best one, the vectors alone on ties and when no validation cases can be carved.

    ``epochs`` is the epoch budget of every validation run (``None``: the model's
    ``epochs`` at the first fit). It is kept apart from the model's ``epochs``, which each
    fit sets to the best number: a model refitted on a grown log (every window of a time
    replay) searches the whole budget again, not only up to the previous best.
    """
    from artrec.evaluation.tuning import DEFAULT_FRACTION, score_validation, validation_cases

    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise DataError(f"patience must be a positive integer, got {patience!r}")

    budget = epochs

    def fit(model: NeuralRecommender, data: TrainData) -> NeuralRecommender:
        nonlocal budget
        if budget is None:
            budget = model.epochs
        model.fit_strategy = None
        model.epochs = budget
        try:
            val = validation_cases(data, fraction=fraction or DEFAULT_FRACTION)
        except DataError:
            val = None
        try:
            choices = metadata_choices(data) if choose_metadata else [model.metadata]
            if val is None or val.n_cases == 0:
                model.metadata = choices[0]
                return model.fit(data)
            cases = val

            def stopped(choice: tuple[str, ...]) -> list[tuple[int, float]]:
                history: list[tuple[int, float]] = []

                def on_epoch(m: NeuralRecommender, report: EpochReport) -> bool:
                    history.append((report.epoch, score_validation(m, cases, k)[0]))
                    best = max(history, key=lambda h: h[1])[0]
                    return report.epoch - best < patience

                model.clone(metadata=choice).fit(
                    cases.fit_data, callback=on_epoch, report_start=True
                )
                return history

            runs = []
            for choice in choices:
                history = stopped(choice)
                best_epoch, best_ndcg = max(history, key=lambda h: h[1])
                runs.append((choice, best_epoch, best_ndcg, history))
            choice, best_epoch, best_ndcg, history = max(runs, key=lambda r: r[2])
            model.metadata = choice
            model.epochs = best_epoch
            model.fit(data)
            model.validation_ = {
                "k": k,
                "best_epoch": best_epoch,
                "best_ndcg": best_ndcg,
                "n_cases": val.n_cases,
                "history": [{"epoch": e, f"ndcg@{k}": v} for e, v in history],
            }
            if choose_metadata:
                model.validation_["metadata"] = list(choice)
                model.validation_["metadata_choices"] = [
                    {"metadata": list(c), "best_epoch": e, "best_ndcg": v} for c, e, v, _ in runs
                ]
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
        Model parameters (``epochs``, ``seed``, ``metadata``, ...); ``metadata`` set to
        :data:`AUTO_METADATA` chooses the item inputs on the validation split
        (:func:`metadata_choices`).
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
    params = dict(params or {})
    choose = params.get("metadata") == AUTO_METADATA
    if choose:
        del params["metadata"]
    model = make_learned(kind, **params)
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
        metadata_choices=metadata_choices(
            train_data_from(catalog, events, vectors=vectors)
        ) if choose else None,
    )  # fmt: skip
    extra = {
        **source,
        "event_kinds": list(kinds),
        "training": result.summary(),
        "refresh": f"artrec train -w {workspace.root} --model {kind} --name {name}"
        + ("" if choose else f" --metadata {','.join(result.model.metadata) or 'none'}"),
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
