"""The HTML report: one self-contained file that opens offline.

:func:`write_report` renders a *results* mapping (what :func:`artrec.demo.run_demo` computes
and stores as a ``demo`` run in the workspace, or what :func:`artrec.report.collect.collect_results`
gathers for any workspace) together with the workspace's catalogue into a single HTML file.
Images are embedded as small base64 JPEG thumbnails (placeholders for works whose image is
not a local file); figures are embedded PNGs; there are no external links to fetch.

Every number in the report comes from ``results``: the metrics table prints the rows of the
comparison run (``results["evaluation"]["rows"]``), and the findings section derives its
sentences from the same mapping (:func:`findings`), never from constants.

Keys of ``results`` (all optional except where noted; missing parts are left out):

``title``, ``label`` (``"simulated"`` when the purchases are simulated), ``dataset``,
``simulation`` (``stats``), ``features``, ``embeddings`` (name -> sidecar summary with
``explained_variance_ratio``), ``spectra`` (name -> full explained-variance ratio list),
``same_artist`` (name -> ``{"p@10", "map", "n_queries"}``), ``evaluation`` (``protocol``,
``k``, ``baseline``, ``rows``: :meth:`artrec.evaluation.comparison.ComparisonResult.to_rows`),
``similar_examples`` (``[{"query", "metric", "embeddings": {name: [[item_id, score], ...]}}]``),
``collectors`` (``[{"user_id", "bought", "next", "recommendations": [{"item_id", "score",
"because_item_id"}], "config"}]``), ``diversity`` (config -> figures), ``map`` (``{"embedding"}``),
``timings`` (step -> seconds), ``main_config``.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.report.grids import caption_of, image_data_uri, thumbnail_data_uri

#: Metrics shown in the report's table, in order (``{k}`` is the cut-off).
TABLE_METRICS: tuple[str, ...] = (
    "auc",
    "rr",
    "p@{k}",
    "r@{k}",
    "ndcg@{k}",
    "hr@{k}",
    "ap@{k}",
    "diversity@{k}",
    "novelty@{k}",
    "coverage@{k}",
)

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1240px;
padding:12px 20px;color:#222;background:#fafafa}
h1{font-size:26px;margin:8px 0}h2{font-size:20px;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:34px}
h3{font-size:15px;margin:14px 0 6px}
.banner{background:#fff3cd;border:1px solid #e0c36a;padding:8px 12px;border-radius:6px;margin:10px 0}
.facts{display:flex;flex-wrap:wrap;gap:8px}.fact{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px 10px;font-size:13px}
.fact b{display:block;font-size:18px}
.strip{display:flex;flex-wrap:wrap;gap:6px;align-items:flex-start}
.card{width:112px;font-size:10.5px;line-height:1.25;background:#fff;border:1px solid #ddd;border-radius:4px;padding:3px}
.card img,.card .ph{width:106px;height:106px;object-fit:cover;display:block;border-radius:2px}
.card.query{border:2px solid #333}.card.hit{border:3px solid #2a9d3a}
.ph{background:#ccc;color:#444;font-size:9px;overflow:hidden;word-break:break-all;display:flex;align-items:center;justify-content:center;text-align:center}
.why{color:#555;font-style:italic}.score{color:#777}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:14px}.panel{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px}
.panel h4{margin:0 0 6px;font-size:13px}
table{border-collapse:collapse;font-size:11.5px;background:#fff}th,td{border:1px solid #ddd;padding:3px 5px;text-align:right}
th{background:#f0f0f0}td.name,th.name{text-align:left;white-space:nowrap}
tr.base td{background:#eef4ff}tr.best td{background:#eefbea}
td small{color:#777;font-size:9.5px}.sig{color:#b00;font-weight:bold}
.fig{background:#fff;border:1px solid #ddd;padding:6px;border-radius:6px;display:inline-block;max-width:100%}
.fig img{max-width:100%}
.qa dt{font-weight:bold;margin-top:12px}.qa dd{margin:4px 0 0 0}
.muted{color:#777;font-size:12px}
"""


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.{digits}f}"
    return str(v)


def _p(v: Any) -> str:
    """A p-value: 3 decimals, or scientific notation below 0.001."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3f}" if v >= 0.001 else f"{v:.1e}"


def _pct(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


class _Renderer:
    def __init__(self, catalog: Catalog, thumb_px: int) -> None:
        self.catalog = catalog
        self.thumb_px = thumb_px
        self._uri: dict[str, str | None] = {}

    def title(self, item_id: str | None) -> str:
        if item_id is None:
            return ""
        return caption_of(self.catalog, str(item_id))

    def title_artist(self, item_id: str) -> tuple[str, str | None]:
        if not self.catalog.has(item_id):
            return str(item_id), None
        rec = self.catalog.record(int(self.catalog.rows_of([item_id])[0]))
        artist = rec.get("artist")
        return str(rec.get("title") or item_id), (str(artist) if artist else None)

    def img(self, item_id: str) -> str:
        if item_id not in self._uri:
            self._uri[item_id] = thumbnail_data_uri(self.catalog, item_id, self.thumb_px)
        uri = self._uri[item_id]
        if uri is None:
            return f'<div class="ph" data-item-id="{_e(item_id)}">{_e(item_id)}</div>'
        return f'<img src="{uri}" alt="{_e(self.title(item_id))}" data-item-id="{_e(item_id)}">'

    def card(self, item_id: str, extra: str = "", cls: str = "") -> str:
        title, artist = self.title_artist(item_id)
        who = f"<br>{_e(artist)}" if artist else ""
        return (
            f'<div class="card {cls}" data-item-id="{_e(item_id)}">{self.img(item_id)}'
            f"<b>{_e(title)}</b>{who}{extra}</div>"
        )


def _metric_names(k: int) -> list[str]:
    return [m.format(k=k) for m in TABLE_METRICS]


def metrics_table_data(
    results: Mapping[str, Any],
) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """Configurations, metrics and ``(config, metric) -> row`` from the evaluation rows."""
    ev = results.get("evaluation") or {}
    rows: list[dict[str, Any]] = list(ev.get("rows") or [])
    k = int(ev.get("k", 10))
    configs: list[str] = []
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r["config"] not in configs:
            configs.append(r["config"])
        cells[(r["config"], r["metric"])] = r
    present = {r["metric"] for r in rows}
    metrics = [m for m in _metric_names(k) if m in present]
    return configs, metrics, cells


def _metrics_table(results: Mapping[str, Any]) -> str:
    configs, metrics, cells = metrics_table_data(results)
    if not configs:
        return '<p class="muted">No evaluation results in this workspace.</p>'
    ev = results["evaluation"]
    base = ev.get("baseline")
    best = results.get("best_config")
    label = results.get("label")
    head = "".join(f"<th>{_e(m)}</th>" for m in metrics)
    out = [
        f'<table class="metrics" data-label="{_e(label or "")}"><thead><tr><th class="name">configuration'
        f"{' (' + _e(label) + ' purchases)' if label else ''}</th><th>cases</th>{head}</tr></thead><tbody>"
    ]
    for c in configs:
        cls = "base" if c == base else ("best" if c == best else "")
        n = next((cells[(c, m)].get("n") for m in metrics if (c, m) in cells), None)
        tds = []
        for m in metrics:
            r = cells.get((c, m))
            if r is None:
                tds.append("<td>–</td>")
                continue
            mean = r.get("mean")
            ci = ""
            if r.get("ci_low") is not None and r.get("ci_high") is not None:
                ci = f"<br><small>[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]</small>"
            p = r.get("p_ttest_holm")
            pw = r.get("p_wilcoxon_holm")
            sig = ""
            if p is not None and pw is not None and p < 0.05 and pw < 0.05:
                sig = '<span class="sig" title="Holm-adjusted paired t and Wilcoxon p < 0.05">*</span>'
            ptxt = f"<br><small>p={_p(p)}</small>" if p is not None else ""
            tds.append(
                f'<td data-config="{_e(c)}" data-metric="{_e(m)}" data-mean="{_e(mean)}">'
                f'<span class="mean">{_fmt(mean)}</span>{sig}{ci}{ptxt}</td>'
            )
        marker = " (baseline: the notebook's method)" if c == base else ""
        out.append(
            f'<tr class="{cls}"><td class="name">{_e(c)}{_e(marker)}</td><td>{_e(n)}</td>{"".join(tds)}</tr>'
        )
    out.append("</tbody></table>")
    out.append(
        f'<p class="muted">Protocol <b>{_e(ev.get("protocol"))}</b>, k={_e(ev.get("k"))}, '
        f"{_e(label or '')} purchases. Mean over evaluation cases with the 95% Student-t interval "
        "in brackets; p = Holm-adjusted paired t-test against the baseline row; * = both the "
        "Holm-adjusted paired t-test and Wilcoxon signed-rank test give p &lt; 0.05. "
        "Skipped cases: "
        f"{_e(ev.get('skipped') or {})}.</p>"
    )
    return "".join(out)


def _similar_section(r: _Renderer, results: Mapping[str, Any]) -> str:
    examples = results.get("similar_examples") or []
    if not examples:
        return ""
    parts = ["<h2>Similar paintings</h2>"]
    for ex in examples:
        q = str(ex["query"])
        panels = []
        for emb, found in ex["embeddings"].items():
            cards = [r.card(q, "<br><span class='score'>query</span>", "query")]
            cards += [
                r.card(
                    str(i),
                    f"<br><span class='score'>{ex.get('metric', 'cosine')} {_fmt(float(s), 3)}</span>",
                )
                for i, s in found
            ]
            panels.append(
                f'<div class="panel" data-embedding="{_e(emb)}" data-query="{_e(q)}"><h4>embedding '
                f"<b>{_e(emb)}</b>, metric {_e(ex.get('metric', 'cosine'))}</h4>"
                f'<div class="strip">{"".join(cards)}</div></div>'
            )
        parts.append(f"<h3>{_e(r.title(q))}</h3><div class='pair'>{''.join(panels)}</div>")
    return "".join(parts)


def _collector_section(r: _Renderer, results: Mapping[str, Any]) -> str:
    collectors = results.get("collectors") or []
    if not collectors:
        return ""
    label = results.get("label")
    parts = [f"<h2>Recommendations for {_e(label + ' ') if label else ''}collectors</h2>"]
    for c in collectors:
        nxt = {str(i) for i in c.get("next", [])}
        bought = "".join(r.card(str(i)) for i in c.get("bought", []))
        after = "".join(r.card(str(i)) for i in c.get("next", []))
        recs = []
        for rec in c.get("recommendations", []):
            because = rec.get("because_item_id")
            why = ""
            if because:
                t, a = r.title_artist(str(because))
                why = f"<br><span class='why'>because you bought {_e(t)}{' by ' + _e(a) if a else ''}</span>"
            hit = "hit" if str(rec["item_id"]) in nxt else ""
            recs.append(r.card(str(rec["item_id"]), why, hit))
        parts.append(
            f'<div class="panel collector" data-user-id="{_e(c["user_id"])}"><h4>{_e(c["user_id"])}'
            f" — bought {c.get('n_bought', len(c.get('bought', [])))} works (the last "
            f"{len(c.get('bought', []))} shown); config {_e(c.get('config', ''))}</h4>"
            f"<h3>What they bought</h3><div class='strip'>{bought}</div>"
            + (
                f"<h3>What they bought next (held out)</h3><div class='strip'>{after}</div>"
                if after
                else ""
            )
            + f"<h3>What artrec recommends (green frame = bought next)</h3><div class='strip'>{''.join(recs)}</div></div>"
        )
    return "".join(parts)


def _same_artist_table(results: Mapping[str, Any]) -> str:
    sa = results.get("same_artist") or {}
    if not sa:
        return ""
    rows = "".join(
        f"<tr><td class='name'>{_e(name)}</td><td>{_fmt(v.get('p@10'))}</td><td>{_fmt(v.get('map'))}</td>"
        f"<td>{_e(v.get('n_queries'))}</td></tr>"
        for name, v in sa.items()
    )
    return (
        "<h3>Same-artist retrieval (real artists, no simulation)</h3>"
        "<table class='same-artist'><tr><th class='name'>vectors</th><th>P@10</th><th>mAP</th><th>queries</th></tr>"
        f"{rows}</table><p class='muted'>Each work by an artist with at least 5 works queries the "
        "catalogue (cosine, itself excluded); relevant = the artist's other works.</p>"
    )


def _get_row(results: Mapping[str, Any], config: str | None, metric: str) -> dict[str, Any] | None:
    if config is None:
        return None
    _, _, cells = metrics_table_data(results)
    return cells.get((config, metric))


def _cumulative_at(ratios: Sequence[float], n: int) -> float | None:
    if not ratios:
        return None
    return float(np.sum(np.asarray(ratios[:n], dtype=np.float64)))


def _components_for(ratios: Sequence[float], share: float) -> int | None:
    cum = np.cumsum(np.asarray(ratios, dtype=np.float64))
    idx = np.flatnonzero(cum >= share)
    return int(idx[0]) + 1 if len(idx) else None


def findings(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The notebook's questions with answers built from ``results`` (HTML strings)."""
    out: list[tuple[str, str]] = []
    ev = results.get("evaluation") or {}
    k = int(ev.get("k", 10))
    ndcg, hr = f"ndcg@{k}", f"hr@{k}"
    configs, _, cells = metrics_table_data(results)
    base = ev.get("baseline")
    label = results.get("label") or ""
    sa = results.get("same_artist") or {}
    names = results.get("embedding_roles") or {}
    cnn, hand, hyb = names.get("cnn"), names.get("handcrafted"), names.get("hybrid")

    def mean(cfg: str | None, metric: str) -> float | None:
        row = cells.get((cfg, metric)) if cfg else None
        return None if row is None else row.get("mean")

    def cfg_for(emb: str | None, metric: str = "cosine", agg: str = "sum") -> str | None:
        want = f"visrank:{emb}/{metric}/{agg}"
        return want if want in configs else None

    # 1. CNN features
    if sa and cnn in sa and hand in sa:
        rnd = sa.get("random", {})
        txt = (
            f"On the real artists of the catalogue, the CNN embedding ({_e(cnn)}) puts another work by "
            f"the same artist in the top 10 with precision <b>{_fmt(sa[cnn].get('p@10'), 3)}</b> "
            f"(mAP {_fmt(sa[cnn].get('map'), 3)}), against {_fmt(sa[hand].get('p@10'), 3)} for the "
            f"hand-engineered features and {_fmt(rnd.get('p@10'), 3)} for random vectors. "
        )
        c_cfg, h_cfg = cfg_for(cnn), cfg_for(hand)
        if c_cfg and h_cfg:
            txt += (
                f"Recommending from the CNN features gives AUC {_fmt(mean(c_cfg, 'auc'), 3)} and "
                f"{ndcg} {_fmt(mean(c_cfg, ndcg), 3)} versus AUC {_fmt(mean(h_cfg, 'auc'), 3)} and "
                f"{ndcg} {_fmt(mean(h_cfg, ndcg), 3)} for the hand-engineered ones ({_e(label)} purchases). "
            )
        txt += (
            "A network trained on millions of photographs encodes colour, texture, brushwork, "
            "composition and subject in one vector, which is what makes two paintings look alike; "
            "a handful of global statistics (brightness, contrast, colourfulness, ...) cannot tell "
            "a Monet from a Vermeer of the same brightness."
        )
        out.append(("Why do CNN features suit this problem?", txt))

    # 2. PCA
    emb_info = results.get("embeddings") or {}
    spectra = results.get("spectra") or {}
    if hyb and hyb in emb_info:
        info = emb_info[hyb]
        n_comp = int(info.get("n_components", 100))
        kept = info.get("explained_variance_total")
        dims = sum(info.get("input_dims", [])) or None
        spec = spectra.get(hyb) or []
        txt = (
            f"The hybrid embedding concatenates {_e(' + '.join(info.get('inputs', [])))} "
            f"({_e(dims)} dimensions), z-scores every dimension and keeps {n_comp} principal "
            f"components: they explain <b>{_pct(kept)}</b> of the variance, so "
            f"{_pct(None if kept is None else 1 - kept)} is dropped. "
        )
        if spec:
            txt += (
                f"Reaching 90% would take {_e(_components_for(spec, 0.9))} components and 50% takes "
                f"{_e(_components_for(spec, 0.5))}. "
            )
        h_cfg, c_cfg = cfg_for(hyb), cfg_for(cnn)
        if h_cfg and c_cfg:
            txt += (
                f"What is lost is the long tail of low-variance directions: the {n_comp}-d hybrid "
                f"scores {ndcg} {_fmt(mean(h_cfg, ndcg), 3)} against {_fmt(mean(c_cfg, ndcg), 3)} for "
                f"PCA(100) of {_e(cnn)} alone, while vectors are "
                f"{_e(round(dims / n_comp, 1) if dims else '?')}x smaller, so similarity search is that much cheaper."
            )
        out.append(("What does PCA keep and lose at 100 components?", txt))

    # 3. metrics and embeddings
    visrank = [c for c in configs if c.startswith("visrank:")]
    if visrank:
        scored = [(mean(c, ndcg) or 0.0, c) for c in visrank]
        scored.sort(reverse=True)
        by_metric: dict[str, list[float]] = {}
        by_agg: dict[str, list[float]] = {}
        by_emb: dict[str, list[float]] = {}
        for c in visrank:
            emb, met, agg = c.split(":", 1)[1].split("/")
            v = mean(c, ndcg)
            if v is None:
                continue
            by_metric.setdefault(met, []).append(v)
            by_agg.setdefault(agg, []).append(v)
            by_emb.setdefault(emb, []).append(v)

        def avg(d: dict[str, list[float]]) -> str:
            return ", ".join(f"{_e(key)} {_fmt(float(np.mean(v)), 3)}" for key, v in d.items())

        txt = (
            f"Mean {ndcg} over the configurations that share each choice: by similarity metric "
            f"{avg(by_metric)}; by aggregation {avg(by_agg)}; by embedding {avg(by_emb)}. "
            f"The spread between the best ({_e(scored[0][1])}, {_fmt(scored[0][0], 3)}) and the worst "
            f"({_e(scored[-1][1])}, {_fmt(scored[-1][0], 3)}) VisRank configuration is "
            f"{_fmt(scored[0][0] - scored[-1][0], 3)}. "
            "Cosine ignores the vectors' length and compares only their direction, while Euclidean "
            "distance also counts length, which in PCA space grows with how atypical a work is. "
            "The sum and mean of similarities rank identically (the profile size is constant per user); "
            "max rewards works close to any single purchase, top-m mean sits between the two."
        )
        out.append(("How do the metrics and embeddings differ?", txt))

    # 4. diversity
    div = results.get("diversity") or {}
    main = results.get("main_config")
    if div and main in div:
        d = div[main]
        txt = (
            f"For the notebook's method ({_e(main)}), the top-{k} lists have an intra-list diversity of "
            f"<b>{_fmt(d.get('ild'), 3)}</b> (mean pairwise cosine distance), hold "
            f"{_fmt(d.get('distinct_artists'), 1)} distinct known artists on average, and "
            f"<b>{_pct(d.get('profile_artist_share'))}</b> of the recommended works are by an artist "
            f"already in the profile. "
        )
        for other in ("random", "artist"):
            if other in div:
                o = div[other]
                txt += (
                    f"For comparison, the {_e(other)} baseline: diversity {_fmt(o.get('ild'), 3)}, "
                    f"{_fmt(o.get('distinct_artists'), 1)} artists, {_pct(o.get('profile_artist_share'))} "
                    "from the profile's artists. "
                )
        share = d.get("profile_artist_share")
        if share is not None:
            txt += (
                "So the visual recommendations do cluster on the profile's artists"
                if share > 0.3
                else "So the visual recommendations mostly reach beyond the profile's artists"
            ) + (
                f"; catalogue coverage is {_fmt(mean(main, f'coverage@{k}'), 3)} of the works. "
                "MMR re-ranking (engine option diversify) trades relevance for variety when wanted."
            )
        out.append(("Are the recommendations varied?", txt))

    # 5. which model
    best = results.get("best_config")
    if best and base:
        b_row, base_row = cells.get((best, ndcg)), cells.get((base, ndcg))
        if b_row and base_row:
            p = b_row.get("p_ttest_holm")
            sig = p is not None and p < 0.05
            txt = (
                f"By {ndcg} on the {_e(label)} purchases, the best configuration is <b>{_e(best)}</b> with "
                f"{_fmt(b_row['mean'], 3)} [{_fmt(b_row.get('ci_low'), 3)}, {_fmt(b_row.get('ci_high'), 3)}] "
                f"against {_fmt(base_row['mean'], 3)} [{_fmt(base_row.get('ci_low'), 3)}, "
                f"{_fmt(base_row.get('ci_high'), 3)}] for the notebook's method ({_e(base)}). "
            )
            if best == base:
                txt += "The notebook's own method is the best choice here. "
            else:
                txt += (
                    f"The paired difference is {_fmt(b_row.get('diff'), 3)} with Holm-adjusted p = "
                    f"{_p(p)}: "
                    + (
                        "a significant improvement. "
                        if sig
                        else "not significant, so the simpler notebook method is a fair choice. "
                    )
                )
            for bl in ("artist", "popular", "random"):
                row = cells.get((bl, ndcg))
                if row:
                    txt += f"{_e(bl)} baseline: {_fmt(row['mean'], 3)}. "
            vis = [c for c in configs if c.startswith("visrank:") and cells.get((c, ndcg))]
            if vis and best not in vis:
                top = max(vis, key=lambda c: cells[(c, ndcg)]["mean"] or 0.0)
                top_v = cells[(top, ndcg)]["mean"] or 0.0
                rnd = (cells.get(("random", ndcg)) or {}).get("mean")
                versus = ""
                if rnd is not None:
                    versus = (
                        f"{top_v / rnd:.1f} times random's {ndcg}"
                        if rnd > 0
                        else f"against {_fmt(rnd, 3)} for random"
                    )
                txt += (
                    f"Among the visual configurations the best is <b>{_e(top)}</b> "
                    f"({_fmt(top_v, 3)}{', ' + versus if versus else ''}) but below <b>{_e(best)}</b>; "
                    "a production system should combine the two signals (e.g. visual similarity "
                    "within and around the collector's artists). "
                )
            txt += (
                "Because the collectors' tastes are simulated from artists, centuries, media and "
                "museums, the favourite-artist baseline is a strong, honest competitor."
            )
            out.append(("Which model should one choose?", txt))

    # 6. which metrics
    if base and cells:
        txt = (
            f"<b>{ndcg}</b> and <b>{hr}</b>: a visitor sees about {k} works, so what matters is whether a "
            f"work they will buy is among them and how high (notebook method: {ndcg} "
            f"{_fmt(mean(base, ndcg), 3)}, {hr} {_fmt(mean(base, hr), 3)}). <b>AUC</b>: it uses the "
            f"whole ranking, so it separates configurations even when few hits reach the top {k} "
            f"(notebook method: {_fmt(mean(base, 'auc'), 3)}; 0.5 is chance). Precision@{k} is "
            "bounded by the one or few held-out purchases per case and says little more than HR; "
            "diversity, novelty and coverage guard against a recommender that only repeats the profile."
        )
        out.append(("Which 2–3 metrics matter, and why?", txt))
    return out


def _findings_section(results: Mapping[str, Any]) -> str:
    items = findings(results)
    if not items:
        return ""
    body = "".join(f"<dt>{_e(q)}</dt><dd>{a}</dd>" for q, a in items)
    return f"<h2>What the numbers say</h2><dl class='qa'>{body}</dl>"


def _facts(results: Mapping[str, Any], catalog: Catalog) -> str:
    facts: list[tuple[str, Any]] = [("works in the catalogue", catalog.n_items)]
    sim = (results.get("simulation") or {}).get("stats") or {}
    if sim:
        facts += [
            ("simulated collectors", sim.get("n_users")),
            ("simulated purchases", sim.get("n_purchases")),
            (
                "history length min / median / max",
                f"{sim.get('history_length_min')} / {_fmt(sim.get('history_length_median'), 0)} / {sim.get('history_length_max')}",
            ),
            ("purchases by a favourite artist", _pct(sim.get("share_favourite_artist"))),
            ("purchases that are pure noise", _pct(sim.get("share_noise"))),
        ]
    ev = results.get("evaluation") or {}
    if ev:
        facts.append(("evaluation cases", ev.get("n_cases")))
    timings = results.get("timings") or {}
    if timings:
        facts.append(("to compute these results", f"{sum(timings.values()):.0f} s"))
    return (
        "<div class='facts'>"
        + "".join(f"<div class='fact'><b>{_e(v)}</b>{_e(name)}</div>" for name, v in facts)
        + "</div>"
    )


def _figures(workspace: Workspace, catalog: Catalog, results: Mapping[str, Any]) -> str:
    from artrec.report.plots import catalogue_map, explained_variance_plot

    parts: list[str] = []
    curves = dict(results.get("spectra") or {})
    if not curves:
        curves = {
            name: info["explained_variance_ratio"]
            for name, info in (results.get("embeddings") or {}).items()
            if info.get("explained_variance_ratio")
        }
    if curves:
        png = explained_variance_plot(curves, mark=100)
        parts.append(
            "<h2>PCA: explained variance</h2><div class='fig'>"
            f"<img alt='explained variance' src='{image_data_uri(_png_image(png), fmt='PNG')}'></div>"
        )
    emb_name = (results.get("map") or {}).get("embedding")
    if emb_name:
        try:
            from artrec.embedding import load_embedding

            fs = load_embedding(workspace, emb_name).align(catalog.item_ids)
            coords = np.asarray(fs.matrix[:, :2], dtype=np.float64)
            png = catalogue_map(catalog, coords)
            parts.append(
                f"<h2>The catalogue in two dimensions</h2><p class='muted'>First two principal "
                f"components of the {_e(emb_name)} embedding; points coloured by century, "
                "thumbnails for a spread-out sample.</p><div class='fig'>"
                f"<img alt='2-D map' src='{image_data_uri(_png_image(png), fmt='JPEG', quality=85)}'></div>"
            )
        except Exception as exc:  # the map is optional; the report must still be written
            parts.append(f"<p class='muted'>2-D map unavailable: {_e(exc)}</p>")
    return "".join(parts)


def _png_image(png: bytes) -> Any:
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(png))
    im.load()
    return im


def render_report(workspace: Workspace, results: Mapping[str, Any], *, thumb_px: int = 106) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    catalog = workspace.catalog()
    r = _Renderer(catalog, thumb_px)
    label = results.get("label")
    title = results.get("title") or f"artrec report: {workspace.root.name}"
    created = results.get("created") or _dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"
    )
    banner = ""
    if label:
        banner = (
            f"<div class='banner'><b>The purchases in this report are {_e(label).upper()}.</b> "
            "The paintings, titles and artists are real; no real person bought anything. "
            "See docs/simulation.md for how the collectors were simulated.</div>"
        )
    sections = [
        f"<h1>{_e(title)}</h1><p class='muted'>Generated {_e(created)} from workspace "
        f"{_e(workspace.root)}.</p>{banner}{_facts(results, catalog)}",
        _similar_section(r, results),
        _collector_section(r, results),
        f"<h2>Evaluation{' (' + _e(label) + ')' if label else ''}</h2>"
        + _metrics_table(results)
        + _same_artist_table(results),
        _figures(workspace, catalog, results),
        _findings_section(results),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + "</body></html>"
    )


def write_report(
    workspace: Workspace,
    results: Mapping[str, Any],
    path: str | Path | None = None,
    *,
    thumb_px: int = 106,
) -> Path:
    """Write the self-contained HTML report and return its path.

    Parameters
    ----------
    workspace
        Source of the catalogue (titles, artists, local images) and embeddings.
    results
        What to show (see the module docstring).
    path
        Output file; defaults to ``<workspace>/reports/report.html``.
    thumb_px
        Edge of the embedded thumbnails.
    """
    out = Path(path) if path is not None else workspace.reports_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(workspace, results, thumb_px=thumb_px)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
