"""Gather what the report shows, for any workspace.

:func:`collect_results` returns the :class:`~artrec.report.results.ReportResults` that
:func:`artrec.report.html.write_report` renders:

- when the workspace holds a demo run (``artrec demo``), its stored results;
- otherwise it computes them from what the workspace has: similar-work examples under its
  embeddings, a few users' histories next to their recommendations, the latest stored
  comparison run (``artrec compare``) or else a small comparison of the default embedding
  against the baselines, same-artist retrieval when artists are known, and the explained
  variance of each embedding. A workspace imported from the notebook's assets (no titles, no
  artists, remote images) works too: captions fall back to ids, images to placeholders.

Either way the header names the workspace's chosen model (``artrec tune``), its validation
score and, when the catalogue or log moved on since, how to refresh it
(:func:`chosen_model_facts`).

The helpers (:func:`pick_queries`, :func:`sample_collectors`, :func:`list_diversity`,
:func:`same_artist_table`) are shared with :mod:`artrec.demo`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError
from artrec.report.results import (
    CollectorExample,
    Diversity,
    EmbeddingSummary,
    EvaluationTable,
    RecommendedItem,
    ReportResults,
    SameArtist,
    SimilarExample,
    evaluation_table,
)

#: Meta key under which the demo stores its results (``{"key": ..., "results": ...}``).
RESULTS_META = "demo_results"


def same_artist_table(
    embeddings: Mapping[str, np.ndarray],
    artists: np.ndarray | None,
    *,
    k: int = 10,
    seed: int = 0,
) -> dict[str, SameArtist]:
    """Same-artist retrieval (``p@10``, ``map``, ``n_queries``) of each embedding and of random vectors.

    Empty when the catalogue has no artists.
    """
    if artists is None or not any(a is not None for a in artists.tolist()):
        return {}
    from artrec.evaluation.same_artist import same_artist_retrieval

    out: dict[str, SameArtist] = {}
    vecs = dict(embeddings)
    vecs["random"] = (
        np.random.default_rng(seed).standard_normal((len(artists), 100)).astype(np.float32)
    )
    for name, v in vecs.items():
        try:
            res = dict(same_artist_retrieval(np.asarray(v), artists, k=k, min_works=5))
        except ArtrecError:  # e.g. no artist with 5 works in a small catalogue
            continue
        row = {
            key: (float(val) if isinstance(val, (float, np.floating)) else val)
            for key, val in res.items()
            if isinstance(val, (int, float, str, np.integer, np.floating)) or val is None
        }
        row.setdefault("p@10", row.get(f"p@{k}", row.get("precision_at_k")))
        row.setdefault("map", row.get("mAP", row.get("mean_average_precision")))
        out[name] = SameArtist.from_json(row)
    return out


def pick_queries(catalog: Catalog, n: int, *, seed: int = 0) -> list[str]:
    """``n`` query works, by different prolific artists when artists are known (deterministic)."""
    artists = catalog.artists()
    rng = np.random.default_rng(seed)
    if artists is None or not any(a is not None for a in artists.tolist()):
        return [str(i) for i in catalog.item_ids[rng.permutation(catalog.n_items)[:n]].tolist()]
    counts: dict[str, list[int]] = {}
    for row, a in enumerate(artists.tolist()):
        if a is not None:
            counts.setdefault(a, []).append(row)
    ranked = sorted(counts, key=lambda a: (-len(counts[a]), a))[: max(n * 3, n)]
    chosen = [ranked[i] for i in sorted(rng.permutation(len(ranked))[:n].tolist())]
    return [str(catalog.item_ids[counts[a][int(rng.integers(len(counts[a])))]]) for a in chosen]


def list_diversity(
    lists: np.ndarray,
    profiles: Sequence[np.ndarray],
    vectors: np.ndarray,
    artists: np.ndarray | None,
) -> Diversity:
    """How varied top-k lists are.

    Returns ``ild`` (mean pairwise cosine distance within a list, averaged over lists of at
    least two items), ``distinct_artists`` (distinct known artists per list) and
    ``profile_artist_share`` (among recommended works with a known artist, the share whose
    artist also appears in the case's profile).
    """
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    unit = v / np.where(norms == 0, 1.0, norms)
    ilds: list[float] = []
    distinct: list[int] = []
    same = total = 0
    for rows, prof in zip(lists, profiles, strict=True):
        rows = np.asarray(rows)
        rows = rows[rows >= 0]
        if len(rows) >= 2:
            sims = unit[rows] @ unit[rows].T
            iu = np.triu_indices(len(rows), 1)
            ilds.append(float(np.mean(1.0 - sims[iu])))
        if artists is not None:
            rec_artists = [artists[r] for r in rows.tolist() if artists[r] is not None]
            distinct.append(len(set(rec_artists)))
            prof_artists = {artists[r] for r in np.asarray(prof).tolist() if artists[r] is not None}
            same += sum(a in prof_artists for a in rec_artists)
            total += len(rec_artists)
    return Diversity(
        float(np.mean(ilds)) if ilds else None,
        float(np.mean(distinct)) if distinct else None,
        same / total if total else None,
    )


def sample_collectors(
    engine: Any,
    interactions: Interactions,
    *,
    n: int = 4,
    k: int = 10,
    held_out: int = 3,
    embedding: str | None = None,
    metric: str = "cosine",
    aggregation: str = "sum_distance",
    one_of_a_kind: bool = False,
    seed: int = 0,
) -> list[CollectorExample]:
    """A few users: what they bought, what they bought next, and the top ``k`` for them.

    With a given train/test split (the notebook's assets), "bought" is the user's training
    purchases and "next" the test ones. Otherwise the last ``held_out`` purchases in time
    order are held out; with ``one_of_a_kind``, works sold to anyone before the first
    held-out purchase are left out of the recommendations, as in a live gallery.
    """
    from artrec.engine import Engine

    if not isinstance(engine, Engine):
        raise ArtrecError("sample_collectors needs an artrec.engine.Engine")
    catalog = engine.catalog
    known = np.array([catalog.has(i) for i in interactions.item_ids.tolist()], dtype=bool)
    interactions = interactions.select(known)
    splits = interactions.splits
    histories: dict[str, tuple[list[str], list[str]]] = {}
    if splits is not None and any(s == "test" for s in splits.tolist()):
        train = interactions.select(np.array([s == "train" for s in splits.tolist()])).by_user()
        test = interactions.select(np.array([s == "test" for s in splits.tolist()])).by_user()
        for u in sorted(set(train) & set(test)):
            histories[u] = ([str(i) for i in train[u].tolist()], [str(i) for i in test[u].tolist()])
    else:
        for u, items in interactions.by_user().items():
            seq = list(dict.fromkeys(str(i) for i in items.tolist()))
            if len(seq) >= held_out + 3:
                histories[u] = (seq[:-held_out], seq[-held_out:])
    if not histories:
        return []
    sold_at: dict[str, float] = {}
    if one_of_a_kind:
        ts = interactions.timestamps
        assert ts is not None
        for i in np.argsort(ts, kind="stable").tolist():
            sold_at.setdefault(str(interactions.item_ids[i]), float(ts[i]))
    users = sorted(histories)
    rng = np.random.default_rng(seed)
    chosen = [users[i] for i in sorted(rng.permutation(len(users))[:n].tolist())]
    out = []
    for user in chosen:
        bought, nxt = histories[user]
        gone: list[str] = []
        if one_of_a_kind and nxt[0] in sold_at:
            cut = sold_at[nxt[0]]
            mine = set(bought)
            gone = [i for i, t in sold_at.items() if t < cut and i not in mine]
        try:
            recs = engine.recommend(
                bought,
                k,
                aggregation=aggregation,
                metric=metric,
                embedding=embedding,
                exclude_item_ids=gone,
                only_in_stock=False,
            )
        except ArtrecError:
            continue
        out.append(
            CollectorExample(
                user,
                bought[-10:],
                len(bought),
                nxt[:10],
                engine.resolve(metric=metric, aggregation=aggregation, embedding=embedding).label,
                [RecommendedItem(r.item_id, r.score, r.because_item_id) for r in recs],
            )
        )
    return out


def _embedding_info(workspace: Workspace, names: Sequence[str]) -> dict[str, EmbeddingSummary]:
    info: dict[str, EmbeddingSummary] = {}
    for name in names:
        path = workspace.embeddings_dir / f"{name}.json"
        try:
            meta = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if meta.get("explained_variance_ratio"):
            info[name] = EmbeddingSummary.from_json({**meta, "notes": []})
    return info


def stored_demo_results(workspace: Workspace) -> ReportResults | None:
    """The results the demo stored in ``workspace``, if any."""
    raw = workspace.get_meta(RESULTS_META)
    return None if raw is None else ReportResults.from_json(json.loads(raw)["results"])


def collect_results(workspace: Workspace, *, k: int = 10, use_demo: bool = True) -> ReportResults:
    """The report's results for ``workspace`` (see the module docstring).

    Raises :class:`~artrec.errors.ArtrecError` when the workspace has no catalogue or no
    embedding (nothing to show).
    """
    if use_demo:
        stored = stored_demo_results(workspace)
        if stored is not None:
            return replace(stored, chosen_model=chosen_model_facts(workspace))
    from artrec.data.simulate import interactions_simulated, stored_simulation
    from artrec.engine import Engine
    from artrec.evaluation.comparison import load_vectors

    if workspace.n_items() == 0:
        raise ArtrecError(f"workspace {workspace.root} has no catalogue; nothing to report")
    names = workspace.embedding_names()
    if not names:
        raise ArtrecError(
            f"workspace {workspace.root} has no embedding; run `artrec embed` (or `artrec demo`) first"
        )
    engine = Engine.from_workspace(workspace)
    catalog = engine.catalog
    default = engine.default_embedding or names[0]
    shown = [default, *[n for n in names if n != default][:1]]
    sim = stored_simulation(workspace)
    examples = [
        SimilarExample(
            q,
            "cosine",
            {
                emb: [(nb.item_id, nb.score) for nb in engine.similar(q, 6, embedding=emb)]
                for emb in shown
            },
        )
        for q in pick_queries(catalog, 3)
    ]
    interactions = workspace.interactions(kinds=("purchase", "like"))
    collectors = (
        sample_collectors(
            engine, interactions, n=3, k=k, embedding=default, one_of_a_kind=sim is not None
        )
        if len(interactions)
        else []
    )
    try:
        same_artist = same_artist_table(
            {n: load_vectors(workspace, n, catalog) for n in names}, catalog.artists(), k=k
        )
    except ArtrecError:
        same_artist = {}
    evaluation = _evaluation(workspace, interactions, default, k)
    notebook = None if evaluation is None else evaluation.notebook_config(default)
    return ReportResults(
        title=f"artrec report: {workspace.root.name}",
        label="simulated" if interactions_simulated(workspace) else None,
        simulation=dict(sim["stats"]) if sim is not None else {},
        embeddings=_embedding_info(workspace, names),
        same_artist=same_artist,
        evaluation=evaluation,
        similar_examples=examples,
        collectors=collectors,
        map_embedding=default,
        main_config=notebook,
        best_config=None if evaluation is None else best_config(evaluation, notebook),
        chosen_model=chosen_model_facts(workspace),
    )


def chosen_model_facts(workspace: Workspace) -> dict[str, Any]:
    """The workspace's chosen model as the report shows it
    (:func:`artrec.recommend.serving.describe`: name, kind, validation scores, staleness
    now); ``{}`` when the workspace has none, and its one-line error as ``stale`` when it
    cannot be loaded."""
    from artrec.recommend.serving import default_model_name, describe, load_serving_model

    name = default_model_name(workspace)
    if name is None:
        return {}
    try:
        return describe(load_serving_model(workspace))
    except ArtrecError as exc:
        return {"name": name, "kind": "?", "validation": None, "stale": str(exc)}


def best_config(evaluation: EvaluationTable, prefer: str | None = None) -> str | None:
    """The configuration with the highest mean ``ndcg@k``; on a tie, ``prefer`` (the
    notebook's method) when it is among the best, else the first in table order."""
    metric = f"ndcg@{evaluation.k}"
    scored = [(evaluation.mean(c, metric), c) for c in evaluation.config_names]
    known = [(v, c) for v, c in scored if v is not None and v == v]
    if not known:
        return None
    top = max(v for v, _ in known)
    winners = [c for v, c in known if v == top]
    return prefer if prefer in winners else winners[0]


def _evaluation(
    workspace: Workspace, interactions: Interactions, default: str, k: int
) -> EvaluationTable | None:
    """The latest stored comparison, or a small one of the default embedding vs the baselines."""
    runs = workspace.runs("comparison")
    if runs:
        run = runs[0]
        rows = run["results"].get("rows") or []
        configs = run["results"].get("configs") or []
        first = configs[0] if configs else {}
        n_cases = next((r.get("n") for r in rows if r.get("n") is not None), None)
        return EvaluationTable.from_json(
            {
                "protocol": run["params"].get("protocol"),
                "k": run["params"].get("k", k),
                "baseline": run["params"].get("baseline"),
                "n_cases": n_cases,
                "rows": rows,
                "configs": configs,
                "skipped": first.get("skipped") or {},
                "run_id": run["id"],
            }
        )
    if not len(interactions):
        return None
    from artrec.evaluation.comparison import compare, config_grid

    purchases = workspace.interactions(kinds=("purchase",))
    if purchases.splits is not None:
        protocol = "given"
    elif purchases.timestamps is not None and np.isfinite(purchases.timestamps).any():
        protocol = "leave-last-out"
    else:
        return None
    baselines = ["random", "popular"]
    if workspace.catalog().artists() is not None:
        baselines.append("artist")
    configs = config_grid([default], ("cosine",), ("sum_distance",), baselines)
    baseline = configs[0].name
    try:
        result = compare(configs, workspace, protocol, k, baseline=baseline)
    except ArtrecError:
        return None
    return evaluation_table(result, baseline=baseline)
