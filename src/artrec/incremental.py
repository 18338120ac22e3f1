"""Incremental catalogue updates: new artworks in, sold artworks out, no refit or rebuild.

Adding artworks (:func:`add_artworks`)
    1. the new rows are appended to the workspace catalogue;
    2. features are extracted for the new images only: the extraction runner reuses every
       row already in ``features/<extractor>.npy`` (same extractor fingerprint) and
       extracts just the missing ones (or precomputed feature sets are given);
    3. the new items are transformed with the *already fitted* embedding
       (:meth:`artrec.embedding.Embedding.transform`; no refit, so old vectors stay valid);
    4. their vectors are appended to ``embeddings/<name>.npy`` (streamed, never holding the
       old matrix in memory) and added to every index saved for that embedding
       (``index.add``; FAISS and exact alike, no rebuild);
    5. :func:`refit_advice` says whether refitting the PCA has become advisable.

    Items whose image is unreadable for any extractor are skipped and reported.

Removing artworks (:func:`remove_artworks`, :func:`restock_artworks`)
    Sold works are marked out of stock in the catalogue and hidden in the saved indexes, so
    they disappear from similar-item lists at once; restocking shows them again.
    ``mode="remove"`` drops them from the indexes instead (FAISS keeps tombstones until a
    rebuild). Catalogue rows are never deleted: purchases refer to them.

When to refit the PCA (:func:`refit_advice`)
    The fitted components describe the catalogue they were fitted on. Refitting (and then
    rebuilding the indexes) is advisable when either

    * **growth**: the catalogue has at least ``growth_threshold`` (default 2) times the
      items the PCA was fitted on; or
    * **drift**: the components capture clearly less of the new items' variance than of the
      fitted items'. For the new items, standardised with the fitted mean and scale,
      ``captured = sum ||P z||^2 / sum ||z||^2`` (``P`` the projection on the kept
      components). For the fitted items this share is exactly the PCA's total explained
      variance ratio. A refit is advised when ``captured < explained - drift_threshold``
      (default 0.05, i.e. five percentage points), judged on at least ``min_new_items``
      (default 10) new items.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from artrec.data.catalog import Catalog
from artrec.errors import DataError
from artrec.vectors import FeatureSet, append_rows, as_id_array

if TYPE_CHECKING:
    from artrec.data.workspace import Workspace
    from artrec.embedding import Embedding
    from artrec.features.extractor import FeatureExtractor
    from artrec.index.base import MutableIndex


@dataclass(frozen=True)
class RefitAdvice:
    """Whether refitting the embedding's PCA is advisable, and why.

    Attributes
    ----------
    refit
        True when at least one rule fires.
    reasons
        One sentence per rule that fired (empty when ``refit`` is False).
    growth
        Current catalogue size over the size the PCA was fitted on.
    explained
        Total explained variance ratio of the fitted components on the fitted items.
    captured
        Share of the new items' variance the components capture (``None`` if not judged).
    n_new
        New items the drift rule looked at.
    notes
        Other remarks (e.g. too few new items to judge drift).
    """

    refit: bool
    reasons: list[str]
    growth: float
    explained: float
    captured: float | None
    n_new: int
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        """One human-readable line."""
        if self.refit:
            return "refit the PCA (then rebuild the indexes): " + "; ".join(self.reasons)
        return (
            f"no refit needed (catalogue {self.growth:.2f}x the fitted size"
            + (
                ""
                if self.captured is None
                else f", new items {self.captured:.1%} explained vs {self.explained:.1%}"
            )
            + ")"
        )


def captured_variance(embedding: Embedding, feature_sets: Sequence[FeatureSet]) -> float:
    """Share of the items' standardised variance captured by the fitted components.

    ``sum ||P z||^2 / sum ||z||^2`` with ``z`` the concatenated features minus the fitted
    mean, divided by the fitted scale, and ``P`` the projection on the kept components.
    Returns 1.0 when the items have no variance at all (``z = 0``).
    """
    by_name = {fs.name: fs for fs in feature_sets}
    missing = [n for n in embedding.input_names_ if n not in by_name]
    if missing:
        raise DataError(f"no feature set {missing[0]!r}, which the embedding was fitted on")
    first = by_name[embedding.input_names_[0]]
    ordered = [first] + [by_name[n].align(first.item_ids) for n in embedding.input_names_[1:]]
    for fs, dim in zip(ordered, embedding.input_dims_, strict=True):
        if fs.dim != dim:
            raise DataError(f"feature set {fs.name!r} has {fs.dim} dimensions, the embedding {dim}")
    comp = np.asarray(embedding.components_, dtype=np.float64)
    total = 0.0
    kept = 0.0
    for lo in range(0, len(first), 4096):
        hi = min(len(first), lo + 4096)
        z = np.concatenate(
            [np.asarray(fs.matrix[lo:hi], dtype=np.float64) for fs in ordered], axis=1
        )
        z -= embedding.mean_
        z /= embedding.scale_
        total += float(np.einsum("ij,ij->", z, z))
        proj = z @ comp.T
        kept += float(np.einsum("ij,ij->", proj, proj))
    return 1.0 if total == 0.0 else kept / total


def refit_advice(
    embedding: Embedding,
    n_items: int,
    new_features: Sequence[FeatureSet] | None = None,
    *,
    growth_threshold: float = 2.0,
    drift_threshold: float = 0.05,
    min_new_items: int = 10,
) -> RefitAdvice:
    """Say whether refitting the PCA of ``embedding`` is advisable (rules in the module doc).

    Parameters
    ----------
    embedding
        The fitted :class:`~artrec.embedding.Embedding`.
    n_items
        Items in the catalogue now.
    new_features
        Raw feature sets of the items added since the fit (for the drift rule), or ``None``.
    growth_threshold, drift_threshold, min_new_items
        The rules' thresholds.
    """
    if n_items < 0:
        raise DataError(f"n_items must be >= 0, got {n_items}")
    fitted = int(embedding.n_items_)
    growth = n_items / fitted if fitted else float("inf")
    explained = float(np.sum(embedding.explained_variance_ratio_))
    reasons: list[str] = []
    notes: list[str] = []
    if growth >= growth_threshold:
        reasons.append(
            f"the catalogue has grown to {n_items} items, {growth:.2f}x the {fitted} the PCA "
            f"was fitted on (threshold {growth_threshold:g}x)"
        )
    captured: float | None = None
    n_new = 0
    if new_features:
        n_new = len(new_features[0])
        if n_new >= min_new_items:
            captured = captured_variance(embedding, new_features)
            if captured < explained - drift_threshold:
                reasons.append(
                    f"the fitted components capture {captured:.1%} of the new items' variance "
                    f"but {explained:.1%} of the fitted items' (drift above {drift_threshold:.0%})"
                )
        else:
            notes.append(f"only {n_new} new items: too few (< {min_new_items}) to judge drift")
    return RefitAdvice(bool(reasons), reasons, growth, explained, captured, n_new, notes)


@dataclass(frozen=True)
class AddReport:
    """What :func:`add_artworks` did.

    Attributes
    ----------
    added
        Ids embedded and added to the indexes, in catalogue order.
    already_present
        Ids that were already embedded (their catalogue records were updated only).
    skipped
        Id -> reason, for new items without features (unreadable image, ...).
    n_extracted
        Feature rows extracted per extractor (only the new items are extracted).
    indexes
        Names of the saved indexes that received the new items.
    advice
        The refit advice after the update.
    seconds
        Wall time.
    """

    added: list[str]
    already_present: list[str]
    skipped: dict[str, str]
    n_extracted: dict[str, int]
    indexes: list[str]
    advice: RefitAdvice
    seconds: float


def add_artworks(
    workspace: Workspace,
    catalog: Catalog,
    *,
    embedding: str | None = None,
    feature_sets: Sequence[FeatureSet] | None = None,
    extractors: Mapping[str, FeatureExtractor] | None = None,
    update_indexes: bool = True,
    extract_options: Mapping[str, Any] | None = None,
) -> AddReport:
    """Add new artworks to a workspace without refitting the embedding or rebuilding indexes.

    Parameters
    ----------
    workspace
        The workspace (with a fitted embedding).
    catalog
        The new artworks (ids, metadata, ``image`` locations). Items already in the
        embedding are left alone (their catalogue records too).
    embedding
        Embedding name (default: the workspace's default embedding).
    feature_sets
        Precomputed raw features of the new items, one per input of the embedding. When
        ``None``, features are extracted from the images with the extraction runner, which
        reuses the existing rows and extracts the new images only.
    extractors
        Extractor instances by feature-set name, for extractors that were not built with
        their defaults (custom weights, options); others come from
        :func:`artrec.features.api.get_extractor`.
    update_indexes
        Add the new items to every index saved for this embedding.
    extract_options
        Passed to :func:`artrec.features.api.extract_with_report` (``batch_size``,
        ``num_workers``, ``device``, ...).

    Returns
    -------
    AddReport
    """
    from artrec.embedding import Embedding

    started = time.perf_counter()
    name = workspace.resolve_embedding(embedding)
    emb = Embedding.load(workspace.embeddings_dir, name)
    vectors = FeatureSet.load(workspace.embeddings_dir, name)
    embedded = set(vectors.item_ids.tolist())
    new_ids = [i for i in catalog.item_ids.tolist() if i not in embedded]
    present = [i for i in catalog.item_ids.tolist() if i in embedded]
    if new_ids:
        workspace.upsert_items(_subset(catalog, catalog.rows_of(new_ids)))
    skipped: dict[str, str] = {}
    n_extracted: dict[str, int] = {}
    raw: list[FeatureSet] = []
    if new_ids:
        for input_name in emb.input_names_:
            if feature_sets is not None:
                given = {fs.name: fs for fs in feature_sets}
                if input_name not in given:
                    raise DataError(
                        f"feature_sets lack {input_name!r}, which embedding {name!r} was fitted on"
                    )
                fs = given[input_name]
                n_extracted[input_name] = 0
            else:
                fs, count = _extract_new(workspace, input_name, extractors, extract_options)
                n_extracted[input_name] = count
            raw.append(fs)
        for fs in raw:
            have = set(fs.item_ids.tolist())
            bad = {
                b.get("item_id"): b.get("reason", "bad image")
                for b in fs.meta.get("bad_items", []) or []
            }
            for item_id in new_ids:
                if item_id not in have and item_id not in skipped:
                    skipped[item_id] = f"no {fs.name} features ({bad.get(item_id, 'missing')})"
    good = [i for i in new_ids if i not in skipped]
    indexes: list[str] = []
    if good:
        new_raw = [fs.align(good) for fs in raw]
        new_vectors = emb.transform(new_raw, name)
        new_vectors.check_finite()
        append_rows(workspace.embeddings_dir, name, new_vectors)
        if update_indexes:
            indexes = _add_to_indexes(workspace, name, new_vectors)
    else:
        new_raw = []
    advice = refit_advice(emb, len(vectors) + len(good), new_raw or None)
    report = AddReport(
        good, present, skipped, n_extracted, indexes, advice, time.perf_counter() - started
    )
    workspace.record_run(
        "add-artworks",
        {"embedding": name, "n_given": catalog.n_items},
        {
            "added": len(good),
            "already_present": len(present),
            "skipped": skipped,
            "n_extracted": n_extracted,
            "indexes": indexes,
            "refit_advised": advice.refit,
            "advice": advice.message(),
        },
    )
    return report


def _subset(catalog: Catalog, rows: np.ndarray) -> Catalog:
    """The catalogue restricted to ``rows`` (all columns)."""
    return Catalog(
        catalog.item_ids[rows],
        {k: np.asarray(v)[rows] for k, v in catalog.metadata.items()},
        None if catalog.image is None else np.asarray(catalog.image)[rows],
        None if catalog.in_stock is None else np.asarray(catalog.in_stock)[rows],
        stock_known=catalog.stock_known,
    )


def _extract_new(
    workspace: Workspace,
    name: str,
    extractors: Mapping[str, FeatureExtractor] | None,
    options: Mapping[str, Any] | None,
) -> tuple[FeatureSet, int]:
    """Features of the whole catalogue for ``name``; only items without a stored row are extracted."""
    from artrec.features.api import extract_with_report, get_extractor

    extractor = (extractors or {}).get(name) or get_extractor(name)
    if extractor.name != name:
        raise DataError(f"extractor for {name!r} is named {extractor.name!r}")
    features, report = extract_with_report(
        workspace, extractor, workspace=workspace, **dict(options or {})
    )
    return features, int(report.n_extracted)


def _add_to_indexes(workspace: Workspace, embedding: str, vectors: FeatureSet) -> list[str]:
    from artrec.index.store import load_index, save_index, saved_indexes

    done = []
    for saved in saved_indexes(workspace, embedding):
        index = load_index(saved.directory)
        indexed = set(index.item_ids_.tolist())
        fresh = [i for i in vectors.item_ids.tolist() if i not in indexed]
        if not fresh:
            continue
        subset = vectors.align(fresh)
        index.add(np.asarray(subset.matrix), subset.item_ids)
        save_index(workspace, index, embedding=embedding, kind=saved.kind, name=saved.name)
        done.append(saved.name)
    return done


def remove_artworks(
    workspace: Workspace,
    item_ids: Any,
    *,
    mode: str = "hide",
    embedding: str | None = None,
) -> list[str]:
    """Mark artworks sold and take them out of the saved indexes, without a rebuild.

    Parameters
    ----------
    workspace
        The workspace.
    item_ids
        Raw ids; each must be in the catalogue (:class:`UnknownIdError` names the first that
        is not).
    mode
        ``"hide"`` (default; reversible with :func:`restock_artworks`) or ``"remove"``
        (dropped from the indexes; space is reclaimed by the next rebuild).
    embedding
        Only the indexes of this embedding (default: all saved indexes).

    Returns
    -------
    list of str
        Names of the saved indexes that changed.
    """
    if mode not in ("hide", "remove"):
        raise DataError(f"mode must be 'hide' or 'remove', got {mode!r}")
    ids = as_id_array(item_ids).tolist()
    workspace.set_in_stock(ids, False)
    if mode == "hide":
        return _change_saved_indexes(
            workspace, ids, embedding, lambda index, mine: index.hide(mine)
        )
    return _change_saved_indexes(workspace, ids, embedding, lambda index, mine: index.remove(mine))


def restock_artworks(
    workspace: Workspace, item_ids: Any, *, embedding: str | None = None
) -> list[str]:
    """Undo :func:`remove_artworks` with ``mode="hide"``: back in stock and shown again."""
    ids = as_id_array(item_ids).tolist()
    workspace.set_in_stock(ids, True)
    return _change_saved_indexes(workspace, ids, embedding, lambda index, mine: index.unhide(mine))


def _change_saved_indexes(
    workspace: Workspace,
    ids: list[str],
    embedding: str | None,
    change: Callable[[MutableIndex, list[str]], Any],
) -> list[str]:
    """Apply ``change`` to every saved index (of ``embedding``) holding some of ``ids``; save
    each changed one and return their names."""
    from artrec.index.store import load_index, save_index, saved_indexes

    changed = []
    for saved in saved_indexes(workspace, embedding):
        index = load_index(saved.directory)
        present = set(index.item_ids_.tolist())
        mine = [i for i in ids if i in present]
        if not mine:
            continue
        change(index, mine)
        save_index(workspace, index, embedding=saved.embedding, kind=saved.kind, name=saved.name)
        changed.append(saved.name)
    return changed
