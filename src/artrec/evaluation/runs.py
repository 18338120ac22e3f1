"""Evaluate and compare configurations on a workspace: what ``artrec evaluate`` and
``artrec compare`` do, as library functions that notebooks and tests can call too.

Both load the catalogue, the events of ``kinds`` and the embeddings they need, build the
protocol's split once, refuse with a one-line :class:`~artrec.errors.ArtrecError` when there
is nothing to evaluate, and record their runs in the workspace unless ``record=False``.

With ``windows=N`` (``--windows N``) the protocol is time replay with refits
(:func:`~artrec.evaluation.windowed.windowed_time_replay`): the test period is cut into
``N`` windows and every configuration is fitted on the workspace's events of every kind
before each window's first case, so a collaborative model or the tuned hybrid learns only
from the past of the cases it ranks (``N`` fits per configuration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, short_repr
from artrec.evaluation.comparison import (
    ComparisonResult,
    EvalData,
    Progress,
    compare,
    default_embedding,
)
from artrec.evaluation.configs import Config, config_grid
from artrec.evaluation.evaluator import (
    DEFAULT_CHUNK,
    EvaluationResult,
    evaluate,
    record_evaluation,
)
from artrec.evaluation.protocols import Split, default_protocol, make_split
from artrec.evaluation.windowed import Refit

#: The protocol ``windows`` runs under.
WINDOWED_PROTOCOL = "time-replay"


def describe_split(split: Split) -> str:
    """One line: protocol, number of cases and what the protocol skipped."""
    skipped = ", ".join(f"{k}={v}" for k, v in sorted(split.skipped.items())) or "none"
    return f"protocol {split.protocol}: {split.n_cases} cases (protocol skipped: {skipped})"


def _split(
    data: EvalData, workspace: Workspace, protocol: str | None, kinds: Sequence[str]
) -> Split:
    workspace.check_kinds(kinds)
    if len(data.interactions) == 0:
        raise ArtrecError(
            f"workspace {workspace.root} has no events of kind {', '.join(kinds)} to evaluate on"
        )
    if protocol is None:
        protocol = default_protocol(data.interactions)
    split = make_split(protocol, data.interactions, data.catalog)
    if split.n_cases == 0:
        raise ArtrecError(f"nothing to evaluate: {describe_split(split)}")
    return split


def _refit(
    workspace: Workspace, protocol: str | None, windows: int | None, kinds: Sequence[str]
) -> tuple[str | None, Refit | None]:
    """The protocol and the :class:`Refit` of ``windows`` (``None`` for no refits)."""
    if windows is None:
        return protocol, None
    if windows < 1:
        raise ArtrecError(f"--windows must be >= 1, got {windows}")
    if protocol is not None and protocol.replace("_", "-") != WINDOWED_PROTOCOL:
        raise ArtrecError(
            f"--windows refits on the past of each time-replay case; it does not apply to the "
            f"{protocol} protocol (use --protocol {WINDOWED_PROTOCOL})"
        )
    return WINDOWED_PROTOCOL, Refit(windows, workspace.interactions(), tuple(kinds))


def evaluate_workspace(
    workspace: Workspace,
    config: Config,
    *,
    protocol: str | None = None,
    k: int = 10,
    kinds: Sequence[str] = ("purchase",),
    chunk_size: int = DEFAULT_CHUNK,
    record: bool = True,
    progress: Progress | None = None,
    windows: int | None = None,
) -> EvaluationResult:
    """Evaluate one configuration on the workspace's events of ``kinds`` under ``protocol``.

    ``protocol`` ``None`` takes the one that fits the data
    (:func:`~artrec.evaluation.protocols.default_protocol`: the log's own split when it has
    one, else leave-last-out); the result names it. A configuration without an embedding
    runs on the workspace's default one. Intra-list diversity is measured in the
    configuration's embedding, else in the default embedding (NaN when there is none).
    ``progress(done, total)`` is called after each chunk of cases (after each window with
    ``windows``, the module doc's time replay with refits).
    """
    protocol, refit = _refit(workspace, protocol, windows, kinds)
    wanted: list[str | None] = []
    if config.needs_embedding:
        wanted.append(config.embedding)
    elif default_embedding(workspace) is not None:
        wanted.append(None)
    data = EvalData.from_workspace(workspace, wanted, kinds=tuple(kinds))
    if config.needs_embedding and config.embedding is None:
        config = config.with_embedding(workspace.resolve_embedding(None))
    split = _split(data, workspace, protocol, kinds)
    vectors = data.vectors(config.embedding) if config.needs_embedding else None
    diversity = vectors
    if diversity is None and data.embeddings:
        diversity = next(iter(data.embeddings.values()))
    if refit is not None:
        result = refit.evaluate(
            config.build,
            data.catalog,
            split,
            k=k,
            vectors=vectors,
            diversity_vectors=diversity,
            chunk_size=chunk_size,
            name=config.name,
            progress=progress,
        )
        params = {**config.params_dict(), "kinds": list(kinds), **result.params}
        result = replace(result, params=params)
        return record_evaluation(workspace, result) if record else result
    return evaluate(
        config.build(),
        data.catalog,
        split,
        k=k,
        vectors=vectors,
        diversity_vectors=diversity,
        chunk_size=chunk_size,
        name=config.name,
        workspace=workspace if record else None,
        params={**config.params_dict(), "kinds": list(kinds)},
        progress=progress,
    )


def compare_workspace(
    workspace: Workspace,
    *,
    embeddings: Sequence[str] | None = None,
    metrics: Sequence[str] = ("cosine",),
    aggregations: Sequence[str] = ("sum_distance",),
    baselines: Sequence[str] | None = None,
    baseline: str | None = None,
    extra: Sequence[Config] = (),
    diversity_embedding: str | None = None,
    m: int = 3,
    seed: int = 0,
    protocol: str | None = None,
    k: int = 10,
    kinds: Sequence[str] = ("purchase",),
    chunk_size: int = DEFAULT_CHUNK,
    record: bool = True,
    workers: int = 1,
    progress: Progress | None = None,
    windows: int | None = None,
) -> ComparisonResult:
    """VisRank for each embedding x metric x aggregation, the baselines and ``extra``
    configurations on the same cases, each paired-tested against ``baseline``.

    ``embeddings`` defaults to the workspace's default embedding; ``baselines`` to random
    and popular, plus the favourite artist when the catalogue knows artists (``[]`` for
    none); ``baseline`` to the first baseline (see :func:`~artrec.evaluation.comparison.compare`);
    ``protocol`` to the one that fits the data (as in :func:`evaluate_workspace`).
    ``progress(done, total)`` is called after each configuration; ``windows`` refits every
    configuration per window of time replay (module doc).
    """
    protocol, refit = _refit(workspace, protocol, windows, kinds)
    names: list[str | None] = list(embeddings) if embeddings else [None]
    data = EvalData.from_workspace(
        workspace,
        [*names, *([diversity_embedding] if diversity_embedding is not None else [])],
        kinds=tuple(kinds),
    )
    resolved = [workspace.resolve_embedding(e) for e in names]
    if baselines is None:
        baselines = ["random", "popular"]
        artists = data.catalog.artists()
        if artists is not None and any(a is not None for a in artists.tolist()):
            baselines.append("artist")
    configs = config_grid(
        resolved, metrics, aggregations, list(dict.fromkeys(baselines)), m=m, seed=seed, extra=extra
    )
    if baseline is not None and baseline not in [c.name for c in configs]:
        raise ArtrecError(
            f"--baseline {short_repr(baseline)} is not one of the configurations: "
            + ", ".join(c.name for c in configs)
        )
    split = _split(data, workspace, protocol, kinds)
    return compare(
        configs,
        data,
        split,
        k,
        baseline,
        diversity_embedding=diversity_embedding,
        chunk_size=chunk_size,
        workspace=workspace if record else None,
        workers=workers,
        progress=progress,
        refit=refit,
    )
