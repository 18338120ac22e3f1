"""What a workspace holds: :func:`workspace_info`, the library side of ``artrec info``.

It reads, and never writes: the catalogue and the interaction log (counts by kind and by
split), the feature sets and embeddings (from their sidecars, without loading a matrix), the
trained models under ``models/`` (absent until a model is saved), the saved indexes, the
default configuration, how the data was imported and whether the interactions are simulated.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from artrec.config import VisRankConfig
from artrec.data.importer import import_settings
from artrec.data.simulate import SIMULATED_STATES, simulation_state
from artrec.data.workspace import Workspace
from artrec.evaluation.comparison import default_embedding
from artrec.index.store import saved_indexes
from artrec.recommend.store import saved_models

__all__ = ["SIMULATED_STATES", "WorkspaceInfo", "workspace_info"]


@dataclass(frozen=True)
class ArraySetInfo:
    """A feature set or an embedding, from its sidecar.

    Attributes
    ----------
    name
        File stem.
    n_items, dim
        Rows and columns.
    source
        What made it: the extractor (feature sets) or the input feature sets (embeddings).
    """

    name: str
    n_items: int | None
    dim: int | None
    source: str | None


@dataclass(frozen=True)
class SavedModel:
    """A trained model saved under ``models/<name>/`` (see :mod:`artrec.recommend.store`)."""

    name: str
    kind: str
    created: float


@dataclass(frozen=True)
class IndexInfo:
    """A saved similarity index.

    ``tuning`` is what a self-tuned approximate index recorded when it was built (target
    and measured recall@k, the chosen parameters, ...), as saved in its sidecar; ``None``
    for an index built without tuning.
    """

    name: str
    embedding: str
    kind: str
    metric: str
    n_items: int | None
    tuning: dict[str, Any] | None = None


@dataclass(frozen=True)
class WorkspaceInfo:
    """Everything :func:`workspace_info` reports.

    Attributes
    ----------
    root
        The workspace directory.
    n_items, n_in_stock, stock_known
        Catalogue size, items still available, whether any source said which are sold.
    n_users, n_events
        Users and events in the interaction log.
    events
        Event kind -> split -> count (split ``"none"`` for events without one).
    feature_sets, embeddings
        Stored arrays, by name.
    default_embedding
        The embedding used when none is named (``None`` when there is none).
    default_config
        The recommender configuration used when none is given (its table name).
    models
        Trained models that :func:`artrec.recommend.store.saved_models` can read (empty
        when ``models/`` does not exist yet).
    indexes
        Saved similarity indexes.
    import_settings
        The settings of the workspace's imports (threshold, split rule, ...), if any.
    simulated
        ``"yes"``, ``"no"``, ``"partly"`` or ``"no interactions"``.
    n_simulated_events
        Events that are simulated.
    """

    root: Path
    n_items: int
    n_in_stock: int
    stock_known: bool
    n_users: int
    n_events: int
    events: dict[str, dict[str, int]] = field(default_factory=dict)
    feature_sets: list[ArraySetInfo] = field(default_factory=list)
    embeddings: list[ArraySetInfo] = field(default_factory=list)
    default_embedding: str | None = None
    default_config: str = ""
    models: list[SavedModel] = field(default_factory=list)
    indexes: list[IndexInfo] = field(default_factory=list)
    import_settings: dict[str, Any] | None = None
    simulated: str = "no interactions"
    n_simulated_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (paths as text)."""
        out = asdict(self)
        out["root"] = str(self.root)
        return out


def workspace_info(workspace: Workspace | str | Path) -> WorkspaceInfo:
    """Describe a workspace (read only).

    Parameters
    ----------
    workspace
        A :class:`Workspace` or its directory (which must hold a workspace).

    Returns
    -------
    WorkspaceInfo
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    catalog = ws.catalog()
    inter = ws.interactions()
    splits = inter.splits.tolist() if inter.splits is not None else [None] * len(inter)
    events: dict[str, Counter[str]] = {}
    for kind, split in zip(inter.kinds.tolist(), splits, strict=True):
        events.setdefault(str(kind), Counter())[split or "none"] += 1
    users = inter.user_ids.tolist()
    simulated = simulation_state(ws, users)
    available = {
        "features": _array_sets(ws.features_dir, "extractor"),
        "embeddings": _array_sets(ws.embeddings_dir, "inputs"),
    }
    default = default_embedding(ws)
    return WorkspaceInfo(
        root=ws.root,
        n_items=catalog.n_items,
        n_in_stock=int(catalog.in_stock.sum()),
        stock_known=catalog.stock_known,
        n_users=len(set(users)),
        n_events=len(inter),
        events={k: dict(sorted(v.items())) for k, v in sorted(events.items())},
        feature_sets=available["features"],
        embeddings=available["embeddings"],
        default_embedding=default,
        default_config=VisRankConfig(default).label,
        models=[SavedModel(m.name, m.kind, m.created) for m in saved_models(ws.models_dir)],
        indexes=[
            IndexInfo(
                s.name,
                s.embedding,
                s.kind,
                s.metric,
                _int(s.info.get("n_items")),
                _dict(s.info.get("tuning")),
            )
            for s in saved_indexes(ws)
        ],
        import_settings=import_settings(ws),
        simulated=simulated.state,
        n_simulated_events=simulated.n_simulated,
    )


def _array_sets(directory: Path, source_key: str) -> list[ArraySetInfo]:
    """The ``.npy`` + ``.ids.json`` sets of a directory, described by their ``.json`` sidecars."""
    from artrec.vectors import FeatureSet

    out: list[ArraySetInfo] = []
    for name in FeatureSet.available(directory):
        meta = _read_json(directory / f"{name}.json")
        source = meta.get(source_key) or meta.get("model")
        if isinstance(source, list):
            source = " + ".join(map(str, source))
        out.append(
            ArraySetInfo(
                name,
                _int(meta.get("n_items")),
                _int(meta.get("dim")),
                None if source is None else str(source),
            )
        )
    return out


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a sidecar, or ``{}`` when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
