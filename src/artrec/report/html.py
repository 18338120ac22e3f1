"""The HTML report: one self-contained file that opens offline.

:func:`write_report` renders a *results* mapping (what :func:`artrec.demo.run_demo` computes
and stores as a ``demo`` run in the workspace, or what :func:`artrec.report.collect.collect_results`
gathers for any workspace) together with the workspace's catalogue into a single HTML file.
Images are embedded as small base64 JPEG thumbnails (placeholders for works whose image is
not a local file); figures are embedded PNGs; there are no external links to fetch.

Every number in the report comes from ``results`` (a
:class:`~artrec.report.results.ReportResults`): the metrics table prints the rows of the
comparison run, the findings quote the same results.

The findings (questions answered from the numbers) are written by the caller
(:mod:`artrec.findings`) and passed in; this module only renders.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.report.grids import caption_of, image_data_uri, thumbnail_data_uri
from artrec.report.results import EvaluationTable, ReportResults

#: A question of the report and its answer (an HTML fragment).
Finding = tuple[str, str]

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
table{border-collapse:collapse;font-size:11px;background:#fff;max-width:100%}th,td{border:1px solid #ddd;padding:2px 4px;text-align:right}
th{background:#f0f0f0}td.name,th.name{text-align:left;overflow-wrap:anywhere}table.metrics td.name{min-width:9em}
tr.base td{background:#eef4ff}tr.best td{background:#eefbea}
td small{color:#777;font-size:9.5px}.sig{color:#b00;font-weight:bold}
.fig{background:#fff;border:1px solid #ddd;padding:6px;border-radius:6px;display:inline-block;max-width:100%}
.fig img{max-width:100%}
.qa dt{font-weight:bold;margin-top:12px}.qa dd{margin:4px 0 0 0}
.muted{color:#777;font-size:12px}
"""


def escape(text: Any) -> str:
    """``text`` escaped for HTML (``None`` is empty)."""
    return html.escape("" if text is None else str(text), quote=True)


def number(v: Any, digits: int = 4) -> str:
    """A number with ``digits`` decimals; ``–`` for ``None``."""
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.{digits}f}"
    return str(v)


def p_value(v: Any) -> str:
    """A p-value: 3 decimals, or scientific notation below 0.001."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3f}" if v >= 0.001 else f"{v:.1e}"


def percent(v: float | None) -> str:
    """A share as a percentage with one decimal; ``–`` when unknown."""
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
            return f'<div class="ph" data-item-id="{escape(item_id)}">{escape(item_id)}</div>'
        return f'<img src="{uri}" alt="{escape(self.title(item_id))}" data-item-id="{escape(item_id)}">'

    def card(self, item_id: str, extra: str = "", cls: str = "") -> str:
        title, artist = self.title_artist(item_id)
        who = f"<br>{escape(artist)}" if artist else ""
        return (
            f'<div class="card {cls}" data-item-id="{escape(item_id)}">{self.img(item_id)}'
            f"<b>{escape(title)}</b>{who}{extra}</div>"
        )


def table_metrics(table: EvaluationTable) -> list[str]:
    """The metrics of :data:`TABLE_METRICS` that ``table`` has, in table order."""
    present = {r.metric for r in table.rows}
    return [m for m in (t.format(k=table.k) for t in TABLE_METRICS) if m in present]


def _metrics_table(results: ReportResults, table: EvaluationTable | None = None) -> str:
    """The metrics table of ``table`` (default: the report's evaluation): one row per set of
    identical results, the baseline's row and the best one marked."""
    ev = results.evaluation if table is None else table
    if ev is None or not ev.rows:
        return '<p class="muted">No evaluation results in this workspace.</p>'
    metrics = table_metrics(ev)
    base, best, label = ev.baseline, results.best_config, results.label
    notebook = results.notebook_config()
    if table is not None:
        best = ev.best(f"ndcg@{ev.k}")
    head = "".join(f"<th>{escape(m).replace('@', '<wbr>@')}</th>" for m in metrics)
    out = [
        f'<table class="metrics" data-label="{escape(label or "")}"><thead><tr><th class="name">configuration'
        f"{' (' + escape(label) + ' purchases)' if label else ''}</th><th>cases</th>{head}</tr></thead><tbody>"
    ]
    merged = 0
    for group in ev.identical_groups(metrics):
        # one row per set of identical results; the baseline's own cells when it is one of them
        c = base if base in group else group[0]
        same = [g for g in group if g != c]
        merged += len(same)
        cls = "base" if c == base else ("best" if best in group else "")
        cells = [ev.cell(c, m) for m in metrics]
        n = next((r.n for r in cells if r is not None), None)
        tds = []
        for m, r in zip(metrics, cells, strict=True):
            if r is None:
                tds.append("<td>–</td>")
                continue
            ci = ""
            if r.ci_low is not None and r.ci_high is not None:
                ci = f"<br><small>±{number((r.ci_high - r.ci_low) / 2)}</small>"
            sig = ""
            if r.significant():
                sig = '<span class="sig" title="Holm-adjusted paired t and Wilcoxon p &lt; 0.05">*</span>'
            ptxt = (
                f"<br><small>p={p_value(r.p_ttest_holm)}</small>"
                if r.p_ttest_holm is not None
                else ""
            )
            tds.append(
                f'<td data-config="{escape(c)}" data-metric="{escape(m)}" data-mean="{escape(r.mean)}"'
                f' data-same="{escape(" ".join(same))}">'
                f'<span class="mean">{number(r.mean)}</span>{sig}{ci}{ptxt}</td>'
            )
        roles = [
            role
            for role, name in (("baseline", base), ("the notebook's method", notebook))
            if name is not None and name in group
        ]
        marker = f" ({': '.join(roles)})" if roles else ""
        names = _breakable(c) + escape(marker)
        if same:
            names += (
                "<br><small>identical results: "
                + ", ".join(
                    _breakable(g) + (" (the notebook's method)" if g == notebook else "")
                    for g in same
                )
                + "</small>"
            )
        out.append(
            f'<tr class="{cls}"><td class="name">{names}</td><td>{escape(n)}</td>{"".join(tds)}</tr>'
        )
    out.append("</tbody></table>")
    identical = (
        f" Configurations that rank every list alike share one row ({merged} merged), e.g. the "
        "sum of distances, the sum and the mean of similarities."
        if merged
        else ""
    )
    out.append(
        f'<p class="muted">Protocol <b>{escape(ev.protocol)}</b>, k={escape(ev.k)}'
        f"{', ' + escape(label) + ' purchases' if label else ''}. Mean over evaluation cases, "
        "± the half-width of its 95% Student-t interval; p = Holm-adjusted paired t-test "
        f"against the baseline ({escape(base or 'none')}); * = both the Holm-adjusted paired "
        "t-test and Wilcoxon signed-rank test give p &lt; 0.05."
        f"{identical} Cases skipped: {escape(counts_text(ev.skipped))}.</p>"
    )
    return "".join(out)


def _learned_section(results: ReportResults) -> str:
    """The models that learn from the collectors, under time replay with refits."""
    ev = results.learned
    if ev is None or not ev.rows:
        return ""
    label = results.label
    windows = next((c.params.get("windows") for c in ev.configs if c.params.get("windows")), None)
    refits = f"{windows} windows" if windows else "windows"
    return (
        f"<h2>Learning from the collectors{' (' + escape(label) + ')' if label else ''}</h2>"
        "<p>Every baseline, every model that learns from the purchases and likes "
        "(time-aware popularity, item-kNN, EASE, iALS, BPR, metadata affinity, the content "
        "source, and CuratorNet and VBPR, which early-stop, and choose whether to add the "
        "catalogue's metadata to their inputs, on validation cases from their own training "
        "events) and the hybrid tuned on a validation split of its own training events "
        f"(<b>auto</b>), under time replay with refits: the test period is cut into {refits} "
        "and every model is fitted on the events before each window's first case, so none "
        "sees the future of a case it ranks. Paired tests are against the best single model "
        f"(<b>{escape(ev.baseline or 'none')}</b>).</p>" + _metrics_table(results, ev)
    )


def _breakable(name: str) -> str:
    """A configuration name, escaped, that may wrap after each ``/`` and ``:``."""
    return "".join(
        escape(p) + ("<wbr>" if p in ("/", ":") else "") for p in re.split(r"([/:])", name) if p
    )


def counts_text(counts: Any) -> str:
    """Counts in words: ``{"first_purchases": 459}`` -> ``first purchases 459``; ``none``."""
    if not counts:
        return "none"
    return ", ".join(f"{str(k).replace('_', ' ')} {v}" for k, v in dict(counts).items())


def _similar_section(r: _Renderer, results: ReportResults) -> str:
    if not results.similar_examples:
        return ""
    parts = ["<h2>Similar paintings</h2>"]
    for ex in results.similar_examples:
        q = ex.query
        panels = []
        for emb, found in ex.neighbours.items():
            cards = [r.card(q, "<br><span class='score'>query</span>", "query")]
            cards += [
                r.card(i, f"<br><span class='score'>{ex.metric} {number(float(s), 3)}</span>")
                for i, s in found
            ]
            panels.append(
                f'<div class="panel" data-embedding="{escape(emb)}" data-query="{escape(q)}"><h4>embedding '
                f"<b>{escape(emb)}</b>, metric {escape(ex.metric)}</h4>"
                f'<div class="strip">{"".join(cards)}</div></div>'
            )
        parts.append(f"<h3>{escape(r.title(q))}</h3><div class='pair'>{''.join(panels)}</div>")
    return "".join(parts)


def _collector_section(r: _Renderer, results: ReportResults) -> str:
    if not results.collectors:
        return ""
    label = results.label
    parts = [f"<h2>Recommendations for {escape(label + ' ') if label else ''}collectors</h2>"]
    for c in results.collectors:
        nxt = set(c.next)
        bought = "".join(r.card(i) for i in c.bought)
        after = "".join(r.card(i) for i in c.next)
        recs = []
        hits = sum(rec.item_id in nxt for rec in c.recommendations)
        for rec in c.recommendations:
            why = ""
            if rec.because_item_id:
                t, a = r.title_artist(rec.because_item_id)
                why = f"<br><span class='why'>because you bought {escape(t)}{' by ' + escape(a) if a else ''}</span>"
            recs.append(r.card(rec.item_id, why, "hit" if rec.item_id in nxt else ""))
        parts.append(
            f'<div class="panel collector" data-user-id="{escape(c.user_id)}"><h4>{escape(c.user_id)}'
            f" — bought {c.n_bought} works (the last "
            f"{len(c.bought)} shown); config {escape(c.config)}</h4>"
            f"<h3>What they bought</h3><div class='strip'>{bought}</div>"
            + (
                f"<h3>What they bought next (held out)</h3><div class='strip'>{after}</div>"
                if after
                else ""
            )
            + "<h3>What artrec recommends"
            + (" (green frame = bought next)" if hits else "")
            + f"</h3><div class='strip'>{''.join(recs)}</div></div>"
        )
    return "".join(parts)


def _same_artist_table(results: ReportResults) -> str:
    if not results.same_artist:
        return ""
    rows = "".join(
        f"<tr><td class='name'>{escape(name)}</td><td>{number(v.p_at_10)}</td><td>{number(v.map)}</td>"
        f"<td>{escape(v.n_queries)}</td></tr>"
        for name, v in results.same_artist.items()
    )
    return (
        "<h3>Same-artist retrieval (real artists, no simulation)</h3>"
        "<table class='same-artist'><tr><th class='name'>vectors</th><th>P@10</th><th>mAP</th><th>queries</th></tr>"
        f"{rows}</table><p class='muted'>Each work by an artist with at least 5 works queries the "
        "catalogue (cosine, itself excluded); relevant = the artist's other works.</p>"
    )


def _findings_section(findings: Sequence[Finding]) -> str:
    if not findings:
        return ""
    body = "".join(f"<dt>{escape(q)}</dt><dd>{a}</dd>" for q, a in findings)
    return f"<h2>What the numbers say</h2><dl class='qa'>{body}</dl>"


def _facts(results: ReportResults, catalog: Catalog) -> str:
    facts: list[tuple[str, Any]] = [("works in the catalogue", catalog.n_items)]
    sim = results.simulation
    if sim:
        facts += [
            ("simulated collectors", sim.get("n_users")),
            ("simulated purchases", sim.get("n_purchases")),
            (
                "history length min / median / max",
                f"{sim.get('history_length_min')} / {number(sim.get('history_length_median'), 0)} / {sim.get('history_length_max')}",
            ),
            ("purchases by a favourite artist", percent(sim.get("share_favourite_artist"))),
            ("purchases that are pure noise", percent(sim.get("share_noise"))),
        ]
    if results.evaluation is not None:
        facts.append(("evaluation cases", results.evaluation.n_cases))
    chosen = results.chosen_model
    if chosen:
        val = chosen.get("validation") or {}
        score = f", validation {val.get('metric', 'ndcg')} {number(val.get('ndcg'))}" if val else ""
        facts.append(
            ("the workspace's chosen model", f"{chosen.get('name')} ({chosen.get('kind')}{score})")
        )
        if chosen.get("stale"):
            facts.append(("chosen model", str(chosen["stale"])))
    if results.timings:
        facts.append(("to compute these results", f"{sum(results.timings.values()):.0f} s"))
    return (
        "<div class='facts'>"
        + "".join(f"<div class='fact'><b>{escape(v)}</b>{escape(name)}</div>" for name, v in facts)
        + "</div>"
    )


def _figures(workspace: Workspace, catalog: Catalog, results: ReportResults) -> str:
    from artrec.report.plots import catalogue_map, explained_variance_plot

    parts: list[str] = []
    curves = dict(results.spectra)
    if not curves:
        curves = {
            name: info.explained_variance_ratio
            for name, info in results.embeddings.items()
            if info.explained_variance_ratio
        }
    if curves:
        png = explained_variance_plot(curves, mark=100)
        parts.append(
            "<h2>PCA: explained variance</h2><div class='fig'>"
            f"<img alt='explained variance' src='{image_data_uri(_png_image(png), fmt='PNG')}'></div>"
        )
    emb_name = results.map_embedding
    if emb_name:
        try:
            from artrec.embedding import load_embedding

            fs = load_embedding(workspace, emb_name).align(catalog.item_ids)
            coords = np.asarray(fs.matrix[:, :2], dtype=np.float64)
            png = catalogue_map(catalog, coords)
            parts.append(
                f"<h2>The catalogue in two dimensions</h2><p class='muted'>First two principal "
                f"components of the {escape(emb_name)} embedding; points coloured by century, "
                "thumbnails for a spread-out sample.</p><div class='fig'>"
                f"<img alt='2-D map' src='{image_data_uri(_png_image(png), fmt='JPEG', quality=85)}'></div>"
            )
        except Exception as exc:  # the map is optional; the report must still be written
            parts.append(f"<p class='muted'>2-D map unavailable: {escape(exc)}</p>")
    return "".join(parts)


def _png_image(png: bytes) -> Any:
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(png))
    im.load()
    return im


def render_report(
    workspace: Workspace,
    results: ReportResults,
    *,
    findings: Sequence[Finding] = (),
    thumb_px: int = 106,
) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    catalog = workspace.catalog()
    r = _Renderer(catalog, thumb_px)
    label = results.label
    title = results.title or f"artrec report: {workspace.root.name}"
    created = results.created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    banner = ""
    if label and results.simulation:
        banner = (
            f"<div class='banner'><b>The purchases in this report are {escape(label).upper()}.</b> "
            "The paintings, titles and artists are real; no real person bought anything. "
            "See docs/simulation.md for how the collectors were simulated.</div>"
        )
    elif label:
        banner = (
            f"<div class='banner'><b>The interactions in this workspace are {escape(label).upper()}."
            "</b> No real person bought or liked anything; every figure below is about "
            "simulated behaviour.</div>"
        )
    sections = [
        f"<h1>{escape(title)}</h1><p class='muted'>Generated {escape(created)} from workspace "
        f"{escape(workspace.root)}.</p>{banner}{_facts(results, catalog)}",
        _similar_section(r, results),
        _collector_section(r, results),
        f"<h2>Evaluation{' (' + escape(label) + ')' if label else ''}</h2>"
        + _metrics_table(results)
        + _same_artist_table(results),
        _learned_section(results),
        _figures(workspace, catalog, results),
        _findings_section(findings),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + "</body></html>"
    )


def write_report(
    workspace: Workspace,
    results: ReportResults,
    path: str | Path | None = None,
    *,
    findings: Sequence[Finding] = (),
    thumb_px: int = 106,
) -> Path:
    """Write the self-contained HTML report and return its path.

    Parameters
    ----------
    workspace
        Source of the catalogue (titles, artists, local images) and embeddings.
    results
        What to show.
    path
        Output file; defaults to ``<workspace>/reports/report.html``.
    findings
        Questions and answers (HTML) shown at the end, e.g. :func:`artrec.findings.findings`.
    thumb_px
        Edge of the embedded thumbnails.
    """
    out = Path(path) if path is not None else workspace.reports_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(workspace, results, findings=findings, thumb_px=thumb_px)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
