"""The report's findings: the course notebook's questions, answered from the numbers.

:func:`findings` returns ``(question, answer)`` pairs (answers are HTML fragments) for a
:class:`~artrec.report.results.ReportResults`; each question is one small function that
answers only when the results hold what it needs, quoting them and never constants.
Configurations are looked up by kind and parameters (:meth:`EvaluationTable.find
<artrec.report.results.EvaluationTable.find>`), never by parsing their names. The demo and
``artrec report`` pass the answers to :func:`artrec.report.html.write_report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from artrec.config import VisRankConfig
from artrec.report.html import Finding, number, p_value, percent
from artrec.report.html import escape as _e
from artrec.report.results import EvaluationTable, ReportResults


def findings(results: ReportResults) -> list[Finding]:
    """Every question the results can answer, in the report's order."""
    out = []
    for question in QUESTIONS:
        answer = question(results)
        if answer is not None:
            out.append(answer)
    return out


def _k(results: ReportResults) -> int:
    return results.evaluation.k if results.evaluation is not None else 10


def _visrank(ev: EvaluationTable, embedding: str | None, metric: str = "cosine") -> str | None:
    """The VisRank configuration with the sum of similarities on ``embedding``."""
    if embedding is None:
        return None
    return ev.find("visrank", embedding=embedding, metric=metric, aggregation="sum")


def _both(
    results: ReportResults, a: str | None, b: str | None
) -> tuple[EvaluationTable, str, str, str] | None:
    """The evaluation, ``ndcg@k`` and the VisRank-sum configurations of embeddings ``a`` and
    ``b``, when both were evaluated."""
    ev = results.evaluation
    if ev is None:
        return None
    cfg_a, cfg_b = _visrank(ev, a), _visrank(ev, b)
    return None if not (cfg_a and cfg_b) else (ev, f"ndcg@{ev.k}", cfg_a, cfg_b)


def cnn_features(results: ReportResults) -> Finding | None:
    """Why do CNN features suit this problem? (same-artist retrieval, then recommendation)."""
    sa, roles = results.same_artist, results.embedding_roles
    cnn, hand = roles.get("cnn"), roles.get("handcrafted")
    if not sa or cnn not in sa or hand not in sa:
        return None
    assert cnn is not None and hand is not None
    rnd = sa.get("random")
    txt = (
        f"On the real artists of the catalogue, the CNN embedding ({_e(cnn)}) puts another work by "
        f"the same artist in the top 10 with precision <b>{number(sa[cnn].p_at_10, 3)}</b> "
        f"(mAP {number(sa[cnn].map, 3)}), against {number(sa[hand].p_at_10, 3)} for the "
        f"hand-engineered features and {number(None if rnd is None else rnd.p_at_10, 3)} for "
        "random vectors. "
    )
    pair = _both(results, cnn, hand)
    if pair is not None:
        ev, ndcg, c_cfg, h_cfg = pair
        txt += (
            f"Recommending from the CNN features gives AUC {number(ev.mean(c_cfg, 'auc'), 3)} and "
            f"{ndcg} {number(ev.mean(c_cfg, ndcg), 3)} versus AUC {number(ev.mean(h_cfg, 'auc'), 3)} and "
            f"{ndcg} {number(ev.mean(h_cfg, ndcg), 3)} for the hand-engineered ones "
            f"({_e(results.label or '')} purchases). "
        )
    txt += (
        "A network trained on millions of photographs encodes colour, texture, brushwork, "
        "composition and subject in one vector, which is what makes two paintings look alike; "
        "a handful of global statistics (brightness, contrast, colourfulness, ...) cannot tell "
        "a Monet from a Vermeer of the same brightness."
    )
    return ("Why do CNN features suit this problem?", txt)


def components_for(ratios: Sequence[float], share: float) -> int | None:
    """How many leading components explain at least ``share`` of the variance."""
    cum = np.cumsum(np.asarray(ratios, dtype=np.float64))
    idx = np.flatnonzero(cum >= share)
    return int(idx[0]) + 1 if len(idx) else None


def pca(results: ReportResults) -> Finding | None:
    """What does PCA keep and lose at 100 components?"""
    hyb, cnn = results.embedding_roles.get("hybrid"), results.embedding_roles.get("cnn")
    if not hyb or hyb not in results.embeddings:
        return None
    info = results.embeddings[hyb]
    n_comp = info.n_components or 100
    kept = info.explained_variance_total
    dims = sum(info.input_dims) or None
    spec = results.spectra.get(hyb) or []
    txt = (
        f"The hybrid embedding concatenates {_e(' + '.join(info.inputs))} "
        f"({_e(dims)} dimensions), z-scores every dimension and keeps {n_comp} principal "
        f"components: they explain <b>{percent(kept)}</b> of the variance, so "
        f"{percent(None if kept is None else 1 - kept)} is dropped. "
    )
    if spec:
        txt += (
            f"Reaching 90% would take {_e(components_for(spec, 0.9))} components and 50% takes "
            f"{_e(components_for(spec, 0.5))}. "
        )
    pair = _both(results, hyb, cnn)
    if pair is not None:
        ev, ndcg, h_cfg, c_cfg = pair
        txt += (
            f"What is lost is the long tail of low-variance directions: the {n_comp}-d hybrid "
            f"scores {ndcg} {number(ev.mean(h_cfg, ndcg), 3)} against "
            f"{number(ev.mean(c_cfg, ndcg), 3)} for PCA(100) of {_e(cnn)} alone, while vectors "
            f"are {_e(round(dims / n_comp, 1) if dims else '?')}x smaller, so similarity search "
            "is that much cheaper."
        )
    return ("What does PCA keep and lose at 100 components?", txt)


def metrics_and_embeddings(results: ReportResults) -> Finding | None:
    """How do the metrics and embeddings differ? (means of ndcg@k by shared choice)."""
    ev = results.evaluation
    if ev is None:
        return None
    ndcg = f"ndcg@{ev.k}"
    visrank = [c for c in ev.configs if c.kind == "visrank" and c.name in ev.config_names]
    if not visrank:
        return None
    scored = sorted(((ev.mean(c.name, ndcg) or 0.0, c.name) for c in visrank), reverse=True)
    groups: dict[str, dict[str, list[float]]] = {"metric": {}, "aggregation": {}, "embedding": {}}
    for c in visrank:
        v = ev.mean(c.name, ndcg)
        if v is None:
            continue
        agg = VisRankConfig(
            c.get("embedding"), c.get("metric"), c.get("aggregation"), int(c.get("m") or 3)
        ).aggregation_label
        keys = {"metric": c.get("metric"), "aggregation": agg, "embedding": c.get("embedding")}
        for group, key in keys.items():
            groups[group].setdefault(str(key or "default"), []).append(v)

    def avg(d: dict[str, list[float]]) -> str:
        return ", ".join(f"{_e(key)} {number(float(np.mean(v)), 3)}" for key, v in d.items())

    txt = (
        f"Mean {ndcg} over the configurations that share each choice: by similarity metric "
        f"{avg(groups['metric'])}; by aggregation {avg(groups['aggregation'])}; by embedding "
        f"{avg(groups['embedding'])}. "
        f"The spread between the best ({_e(scored[0][1])}, {number(scored[0][0], 3)}) and the worst "
        f"({_e(scored[-1][1])}, {number(scored[-1][0], 3)}) VisRank configuration is "
        f"{number(scored[0][0] - scored[-1][0], 3)}. "
        "Cosine ignores the vectors' length and compares only their direction, while Euclidean "
        "distance also counts length, which in PCA space grows with how atypical a work is. "
        "The sum and mean of similarities rank identically (the profile size is constant per user); "
        "max rewards works close to any single purchase, top-m mean sits between the two."
    )
    return ("How do the metrics and embeddings differ?", txt)


def diversity(results: ReportResults) -> Finding | None:
    """Are the recommendations varied? (the notebook's method against the baselines)."""
    div, k = results.diversity, _k(results)
    main = results.notebook_config() or results.main_config
    if not div or main not in div:
        return None
    assert main is not None
    d = div[main]
    txt = (
        f"For the notebook's method ({_e(main)}), the top-{k} lists have an intra-list diversity of "
        f"<b>{number(d.ild, 3)}</b> (mean pairwise cosine distance), hold "
        f"{number(d.distinct_artists, 1)} distinct known artists on average, and "
        f"<b>{percent(d.profile_artist_share)}</b> of the recommended works are by an artist "
        f"already in the profile. "
    )
    for other in ("random", "artist"):
        if other in div:
            o = div[other]
            txt += (
                f"For comparison, the {_e(other)} baseline: diversity {number(o.ild, 3)}, "
                f"{number(o.distinct_artists, 1)} artists, {percent(o.profile_artist_share)} "
                "from the profile's artists. "
            )
    share = d.profile_artist_share
    if share is not None:
        coverage = (
            None if results.evaluation is None else results.evaluation.mean(main, f"coverage@{k}")
        )
        txt += (
            "So the visual recommendations do cluster on the profile's artists"
            if share > 0.3
            else "So the visual recommendations mostly reach beyond the profile's artists"
        ) + (
            f"; catalogue coverage is {number(coverage, 3)} of the works. "
            "MMR re-ranking (engine option diversify) trades relevance for variety when wanted."
        )
    return ("Are the recommendations varied?", txt)


def which_model(results: ReportResults) -> Finding | None:
    """Which model should one choose? (the best by ndcg@k against the notebook's method)."""
    ev, best, notebook = results.evaluation, results.best_config, results.notebook_config()
    if ev is None or not best or not notebook:
        return None
    ndcg, base, label = f"ndcg@{ev.k}", ev.baseline, results.label or ""
    b_row, nb_row = ev.cell(best, ndcg), ev.cell(notebook, ndcg)
    if b_row is None or nb_row is None:
        return None
    on = f" on the {_e(label)} purchases" if label else ""
    txt = (
        f"By {ndcg}{on}, the best configuration is <b>{_e(best)}</b> with "
        f"{number(b_row.mean, 3)} [{number(b_row.ci_low, 3)}, {number(b_row.ci_high, 3)}] "
        f"against {number(nb_row.mean, 3)} [{number(nb_row.ci_low, 3)}, "
        f"{number(nb_row.ci_high, 3)}] for the notebook's method ({_e(notebook)}). "
    )
    p = b_row.p_ttest_holm
    if best == notebook or b_row.mean == nb_row.mean:
        txt += "The notebook's own method is the best choice here. "
    elif base == notebook:
        txt += (
            f"The paired difference is {number(b_row.diff, 3)} with Holm-adjusted p = {p_value(p)}: "
            + (
                "a significant improvement. "
                if p is not None and p < 0.05
                else "not significant, so the simpler notebook method is a fair choice. "
            )
        )
    else:
        txt += (
            f"This comparison's paired tests are against {_e(base or 'no baseline')}, not the "
            "notebook's method; compare with <code>--baseline "
            f"{_e(notebook)}</code> for a paired test between the two. "
        )
    for bl in ("artist", "popular", "random"):
        row = ev.cell(bl, ndcg)
        if row:
            txt += f"{_e(bl)} baseline: {number(row.mean, 3)}. "
    visual = [
        c.name for c in ev.configs if c.kind == "visrank" and ev.cell(c.name, ndcg) is not None
    ]
    if visual and best not in visual:
        top = max(visual, key=lambda c: ev.mean(c, ndcg) or 0.0)
        top_v = ev.mean(top, ndcg) or 0.0
        rnd = ev.mean("random", ndcg)
        versus = ""
        if rnd is not None:
            versus = (
                f"{top_v / rnd:.1f} times random's {ndcg}"
                if rnd > 0
                else f"against {number(rnd, 3)} for random"
            )
        txt += (
            f"Among the visual configurations the best is <b>{_e(top)}</b> "
            f"({number(top_v, 3)}{', ' + versus if versus else ''}) but below <b>{_e(best)}</b>; "
            "a production system should combine the two signals (e.g. visual similarity "
            "within and around the collector's artists). "
        )
    if results.simulation:
        txt += (
            "Because the collectors' tastes are simulated from artists, centuries, media and "
            "museums, the favourite-artist baseline is a strong, honest competitor."
        )
    return ("Which model should one choose?", txt)


def which_metrics(results: ReportResults) -> Finding | None:
    """Which 2-3 metrics matter, and why? (quoting the notebook's method)."""
    ev, base = results.evaluation, results.notebook_config()
    if ev is None or not base or not ev.rows:
        return None
    k = ev.k
    ndcg, hr = f"ndcg@{k}", f"hr@{k}"
    txt = (
        f"<b>{ndcg}</b> and <b>{hr}</b>: a visitor sees about {k} works, so what matters is whether a "
        f"work they will buy is among them and how high (the notebook's method, {_e(base)}: {ndcg} "
        f"{number(ev.mean(base, ndcg), 3)}, {hr} {number(ev.mean(base, hr), 3)}). <b>AUC</b>: it uses the "
        f"whole ranking, so it separates configurations even when few hits reach the top {k} "
        f"(the notebook's method: {number(ev.mean(base, 'auc'), 3)}; 0.5 is chance). Precision@{k} is "
        "bounded by the one or few held-out purchases per case and says little more than HR; "
        "diversity, novelty and coverage guard against a recommender that only repeats the profile."
    )
    return ("Which 2–3 metrics matter, and why?", txt)


#: The questions, in the order the report asks them.
QUESTIONS: tuple[Callable[[ReportResults], Finding | None], ...] = (
    cnn_features,
    pca,
    metrics_and_embeddings,
    diversity,
    which_model,
    which_metrics,
)
