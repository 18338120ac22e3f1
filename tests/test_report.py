"""The HTML report: real image grids for a known query, numbers taken from the evaluation run."""

from __future__ import annotations

import base64
import io
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from artrec.data.workspace import Workspace

REAL = os.environ.get("ARTREC_DATA_HOME")
needs_data = pytest.mark.skipif(not REAL, reason="needs ARTREC_DATA_HOME (CI always sets it)")


class _Collect(HTMLParser):
    """Collects img tags (with the enclosing panel) and metric cells."""

    def __init__(self) -> None:
        super().__init__()
        self.panels: list[dict[str, str]] = []
        self.imgs: list[tuple[dict[str, str] | None, dict[str, str]]] = []
        self.cells: list[dict[str, str]] = []
        self.placeholders: list[str] = []
        self._stack: list[dict[str, str] | None] = []
        self._cell: dict[str, str] | None = None
        self._in_mean = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "div":
            panel = a if "data-embedding" in a else None
            self._stack.append(panel)
            if "ph" in a.get("class", "").split():
                self.placeholders.append(a.get("data-item-id", ""))
        if tag == "img":
            panel = next((p for p in reversed(self._stack) if p is not None), None)
            self.imgs.append((panel, a))
        if tag == "td" and "data-metric" in a:
            self._cell = dict(a)
            self.cells.append(self._cell)
        if tag == "span" and a.get("class") == "mean":
            self._in_mean = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._stack:
            self._stack.pop()
        if tag == "span":
            self._in_mean = False

    def handle_data(self, data: str) -> None:
        if self._in_mean and self._cell is not None:
            self._cell["shown"] = data


def _decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/jpeg;base64,")
    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    im.load()
    return im.convert("RGB")


@pytest.fixture(scope="module")
def small_ws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real workspace: 90 public-art works, hand-engineered features, simulated collectors, a comparison."""
    if not REAL:
        pytest.skip("needs ARTREC_DATA_HOME")
    from artrec.data.public_art import (
        fetch_public_art,
        load_public_art,
        locate_public_art,
        select_subset,
    )
    from artrec.data.simulate import SimulationParams, simulate_collectors, write_simulation
    from artrec.embedding import build_embedding
    from artrec.evaluation.comparison import compare, config_grid
    from artrec.features.api import extract

    root = tmp_path_factory.mktemp("report") / "ws"
    directory = locate_public_art(REAL)
    assert directory is not None
    full, _ = load_public_art(directory)
    ids = select_subset(full, 90, seed=3)
    ws = fetch_public_art(REAL, root, item_ids=ids, download_if_missing=False)
    extract(ws, "handcrafted", num_workers=0)
    build_embedding(ws, ["handcrafted"], "hand", 8)
    build_embedding(ws, ["handcrafted"], "hand_l2", 8, l2_normalize=True, set_default=False)
    write_simulation(
        ws,
        simulate_collectors(
            ws.catalog(), SimulationParams(n_users=12, seed=1, likes_per_purchase=0.0)
        ),
    )
    configs = config_grid(["hand"], ("cosine", "euclidean"), ("sum_distance", "max"), ("random",))
    comparison = compare(configs, ws, "time-replay", 5, baseline=configs[0].name)
    return {"ws": ws, "comparison": comparison, "query": ids[7]}


@needs_data
def test_report_grid_and_metrics_come_from_the_run(
    small_ws: dict[str, Any], tmp_path: Path
) -> None:
    from artrec.embedding import load_embedding
    from artrec.report.collect import collect_results
    from artrec.report.grids import thumbnail
    from artrec.report.html import write_report

    ws: Workspace = small_ws["ws"]
    query = small_ws["query"]
    results = collect_results(ws, k=5)
    # Force a known query into the similar-works section.
    from dataclasses import replace

    from artrec.engine import Engine
    from artrec.report.results import SimilarExample

    engine = Engine.from_workspace(ws)
    example = SimilarExample(
        query,
        "cosine",
        {
            emb: [(n.item_id, n.score) for n in engine.similar(query, 6, embedding=emb)]
            for emb in ("hand", "hand_l2")
        },
    )
    results = replace(results, similar_examples=[example])
    path = write_report(ws, results, tmp_path / "r.html")
    text = path.read_text()
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text
    parser = _Collect()
    parser.feed(text)

    # The known query's grid: slow reference = brute-force cosine over the embedding.
    catalog = ws.catalog()
    emb = load_embedding(ws, "hand").align(catalog.item_ids)
    x = np.asarray(emb.matrix, dtype=np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    q_row = int(catalog.rows_of([query])[0])
    sims = unit @ unit[q_row]
    sims[q_row] = -np.inf
    expected = [str(catalog.item_ids[r]) for r in np.lexsort((np.arange(len(sims)), -sims))[:6]]
    panel_imgs = [
        a
        for p, a in parser.imgs
        if p is not None and p["data-embedding"] == "hand" and p["data-query"] == query
    ]
    assert [a["data-item-id"] for a in panel_imgs] == [query, *expected]
    size = 106
    every = {
        i: np.asarray(thumbnail(catalog, i, size), np.float64) for i in catalog.item_ids.tolist()
    }
    for a in panel_imgs:
        got = np.asarray(_decode(a["src"]), dtype=np.float64)
        assert got.shape == (size, size, 3)
        # JPEG at quality 80 changes pixels a little; the image must still be identified as
        # its own work's thumbnail among all the catalogue's thumbnails.
        diffs = {i: float(np.abs(got - t).mean()) for i, t in every.items()}
        assert min(diffs, key=diffs.__getitem__) == a["data-item-id"]
        assert diffs[a["data-item-id"]] < 8.0

    # Every metric cell equals the stored comparison run's number.
    run = ws.runs("comparison")[0]
    rows = {(r["config"], r["metric"]): r for r in run["results"]["rows"]}
    assert parser.cells, "the report has a metrics table"
    shown = set()
    for cell in parser.cells:
        # a row stands for its configuration and those with identical results (data-same)
        for config in [cell["data-config"], *cell["data-same"].split()]:
            row = rows[(config, cell["data-metric"])]
            assert cell["shown"] == ("–" if row["mean"] is None else f"{row['mean']:.4f}")
            shown.add((config, cell["data-metric"]))
    table_metrics = {
        "auc",
        "rr",
        "p@5",
        "r@5",
        "ndcg@5",
        "hr@5",
        "ap@5",
        "diversity@5",
        "novelty@5",
        "coverage@5",
    }
    assert shown == {key for key in rows if key[1] in table_metrics}
    # ... and they are the comparison's own numbers.
    comp = small_ws["comparison"]
    name = next(iter(comp.results))
    assert rows[(name, "auc")]["mean"] == pytest.approx(comp.results[name].summary["auc"].mean)
    assert "SIMULATED" in text and "simulated purchases" in text


@needs_data
def test_recommendation_captions_and_findings(small_ws: dict[str, Any], tmp_path: Path) -> None:
    from artrec.findings import findings
    from artrec.report.collect import collect_results
    from artrec.report.html import write_report

    ws: Workspace = small_ws["ws"]
    results = collect_results(ws, k=5)
    assert results.collectors, "simulated users with enough purchases exist"
    answers = findings(results)
    text = write_report(ws, results, tmp_path / "r.html", findings=answers).read_text()
    catalog = ws.catalog()
    for c in results.collectors:
        for rec in c.recommendations:
            b = rec.because_item_id
            assert b in c.bought or b is None
            rec_ = catalog.record(int(catalog.rows_of([b])[0]))
            assert (
                f"because you bought {rec_['title']}".replace("&", "&amp;").replace("'", "&#x27;")
                in text
            )
    # Findings quote the run's numbers, not constants, and the report shows them.
    assert results.evaluation is not None
    mean = results.evaluation.mean(results.evaluation.baseline, "auc")
    assert mean is not None and f"{mean:.3f}" in " ".join(a for _, a in answers)
    assert "What the numbers say" in text


def test_grids_from_python_api(tmp_path: Path) -> None:
    """similar_grid / recommendation_grid on a tiny real workspace built from generated JPEGs."""
    from artrec.data.catalog import Catalog, Interactions
    from artrec.report.grids import image_grid, recommendation_grid, similar_grid, thumbnail
    from artrec.vectors import FeatureSet

    ws = Workspace.create(tmp_path / "ws")
    colours = [(250, 0, 0), (240, 10, 10), (0, 0, 250), (10, 10, 240), (0, 250, 0), (128, 128, 128)]
    paths = []
    for i, c in enumerate(colours):
        p = ws.images_dir / f"{i}.jpg"
        Image.new("RGB", (64, 48), c).save(p)
        paths.append(str(p))
    ids = np.array([f"w{i}" for i in range(6)], dtype=object)
    ws.upsert_items(Catalog(ids, {"title": ids.copy()}, np.array(paths, dtype=object)))
    vecs = np.array(
        [[1, 0, 0], [0.9, 0.1, 0], [0, 0, 1], [0.1, 0, 0.9], [0, 1, 0], [0.5, 0.5, 0.5]], np.float32
    )
    FeatureSet("rgb", ids, vecs).save(ws.embeddings_dir)
    ws.set_meta("default_embedding", "rgb")
    ws.add_interactions(
        Interactions(np.array(["u"], object), np.array(["w0"], object), np.array([1.0]))
    )
    g = similar_grid(ws.root, "w0", 2)
    assert g.mode == "RGB" and g.width > 3 * 128
    # The first tile is the query's thumbnail, the second its nearest neighbour (w1, red too).
    pad, label_h = 6, 17
    tile = np.asarray(g.crop((pad, pad + label_h, pad + 128, pad + label_h + 128)), np.float64)
    want = np.asarray(thumbnail(ws.catalog(), "w0", 128), np.float64)
    inner = (slice(8, 120), slice(8, 120))  # inside the frame drawn around the query
    assert np.abs(tile[inner] - want[inner]).mean() < 1.0
    assert tile[64, 64, 0] > 200 and tile[64, 64, 2] < 40
    second = np.asarray(
        g.crop((pad + 134 + 20, pad + label_h + 40, pad + 134 + 100, pad + label_h + 80))
    )
    assert second[..., 0].mean() > 200 and second[..., 2].mean() < 40
    r = recommendation_grid(ws.root, user_id="u", k=3)
    assert r.height > 2 * 128
    r2 = recommendation_grid(ws.root, ["w2"], k=2)
    assert r2.width >= 2 * 128
    # Remote / missing images become placeholders, never errors.
    cat = Catalog(np.array(["x"], object), image=np.array(["https://example.org/x.jpg"], object))
    ph = np.asarray(image_grid(cat, [[("x", "remote")]], size=40))
    assert ph.shape[0] > 40 and (ph == 200).any()


def test_report_for_seed_workspace_degrades_gracefully(tmp_path: Path) -> None:
    """A workspace imported from the notebook's assets: no titles, remote images, a given split."""
    from artrec.data.seed import import_seed
    from artrec.data.synthetic import write_seed_assets
    from artrec.embedding import build_embedding
    from artrec.report.collect import collect_results
    from artrec.report.html import write_report

    write_seed_assets(tmp_path / "assets", 120, 25, dims=(24, 40), seed=2)
    ws = Workspace.create(tmp_path / "ws")
    import_seed(tmp_path / "assets", ws)
    build_embedding(ws, ["resnet50", "vgg19"], "hybrid", 10)
    results = collect_results(ws, k=5)
    assert results.evaluation is not None and results.evaluation.protocol == "given"
    text = write_report(ws, results, tmp_path / "seed.html").read_text()
    parser = _Collect()
    parser.feed(text)
    assert parser.placeholders, "remote images are shown as placeholders"
    assert not [a for _, a in parser.imgs if a.get("data-item-id")], "no item image was fetched"
    assert parser.cells and all(
        re.fullmatch(r"-?\d+\.\d{4}|–|nan", c["shown"]) for c in parser.cells
    )
    assert "interactions in this workspace are SIMULATED" in text  # generated assets


def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from artrec.cli import main

    assert main(["report", "-w", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no artrec workspace" in err
    Workspace.create(tmp_path / "empty")
    assert main(["report", "-w", str(tmp_path / "empty")]) == 2
    assert "no catalogue" in capsys.readouterr().err


# -- the notebook's method by what it is; words, not dict reprs; one row per result ---------


def _visible_text(html_text: str) -> str:
    """The text a reader sees (style and script left out)."""

    class _Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []
            self._skip = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self._skip += tag in ("style", "script")

        def handle_endtag(self, tag: str) -> None:
            self._skip -= tag in ("style", "script")

        def handle_data(self, data: str) -> None:
            if not self._skip:
                self.parts.append(data)

    parser = _Text()
    parser.feed(html_text)
    return " ".join(parser.parts)


def _rows(html_text: str) -> list[tuple[str, str]]:
    """``(name cell text, first data-config)`` of every row of the metrics table."""
    body = html_text.split('<table class="metrics"', 1)[1].split("</table>", 1)[0]
    out = []
    for tr in re.findall(r"<tr class=\"[^\"]*\">(.*?)</tr>", body):
        name = re.sub(r"<[^>]+>", "", tr.split("</td>", 1)[0]).replace("&#x27;", "'")
        config = re.search(r'data-config="([^"]+)"', tr)
        out.append((name, config.group(1) if config else ""))
    return out


def test_report_finds_the_notebooks_method_when_the_baseline_is_random(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``artrec compare --baselines random popular`` (its baseline defaults to random), then
    ``artrec report --recompute``: the notebook's configuration is named by what it is and
    the findings quote its own numbers, never random's."""
    from artrec.cli import main
    from artrec.data.synthetic import write_seed_assets

    write_seed_assets(tmp_path / "assets", 150, 30, dims=(24, 40), seed=2)
    ws = tmp_path / "ws"
    assert main(["import-seed", str(tmp_path / "assets"), "-w", str(ws)]) == 0
    assert main(["embed", "-w", str(ws), "--n-components", "10"]) == 0
    argv = ["compare", "-w", str(ws), "--aggregations", "sum_distance", "mean", "max"]
    assert main([*argv, "--baselines", "random", "popular"]) == 0
    out = tmp_path / "r.html"
    assert main(["report", "-w", str(ws), "--recompute", "-o", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    rows = _rows(text)
    notebook = "visrank:hybrid/cosine/sum_distance"
    marked = [(name, config) for name, config in rows if "(the notebook's method)" in name]
    assert len(marked) == 1 and marked[0][1] == notebook
    assert ("random (baseline)", "random") in rows
    assert not any("random" in name and "notebook" in name for name, _ in rows)
    # the sum and the mean of similarities rank alike: one row, the mean named in it
    assert "identical results: visrank:hybrid/cosine/mean" in marked[0][0]
    run = Workspace.open(ws).runs("comparison")[0]
    means = {(r["config"], r["metric"]): r["mean"] for r in run["results"]["rows"]}
    ours, rnd = means[(notebook, "auc")], means[("random", "auc")]
    visible = _visible_text(text)
    assert f"(the notebook's method: {ours:.3f}; 0.5 is chance)" in visible
    assert f"(the notebook's method: {rnd:.3f};" not in visible or f"{rnd:.3f}" == f"{ours:.3f}"
    assert f"for the notebook's method ({notebook})" in visible
    ndcg = means[(notebook, "ndcg@10")]
    assert f"against {ndcg:.3f} [" in visible
    # were another configuration the best, its paired test would be against random, not
    # against the notebook's method: the finding says so instead of quoting it
    from dataclasses import replace

    from artrec.findings import which_model
    from artrec.report.collect import collect_results

    results = collect_results(Workspace.open(ws))
    assert results.notebook_config() == notebook
    answer = which_model(replace(results, best_config="visrank:hybrid/cosine/max"))
    assert answer is not None
    assert f"for the notebook's method ({notebook})" in answer[1]
    assert (
        f"<code>--baseline {notebook}</code>" in answer[1] and "paired difference" not in answer[1]
    )
    assert "{'" not in visible and '{"' not in visible
    assert "interactions in this workspace are SIMULATED" in visible


def test_collectors_legend_only_with_a_hit(tmp_path: Path) -> None:
    from artrec.data.catalog import Catalog
    from artrec.report.html import render_report
    from artrec.report.results import CollectorExample, RecommendedItem, ReportResults

    ws = Workspace.create(tmp_path / "ws")
    ws.upsert_items(Catalog(np.array(["a", "b", "c", "d"], dtype=object)))

    def collector(user: str, recs: list[str]) -> CollectorExample:
        items = [RecommendedItem(i, 1.0, "a") for i in recs]
        return CollectorExample(user, ["a"], 1, ["c"], "visrank", items)

    results = ReportResults(
        collectors=[collector("miss", ["b", "d"]), collector("hit", ["c", "b"])]
    )
    text = render_report(ws, results)
    panels = {part.split('"', 1)[0]: part for part in text.split('data-user-id="')[1:]}
    assert "bought next)" not in panels["miss"].split("held out")[-1]
    assert "(green frame = bought next)" in panels["hit"]
    assert text.count("(green frame = bought next)") == 1


def test_explained_variance_labels_never_overlap() -> None:
    """Curves that pass through almost the same value at 100 components: their value labels
    are spread apart (pairwise disjoint text boxes), and each still names its own value."""
    from matplotlib.text import Text

    from artrec.report.plots import explained_variance_figure, spread

    assert spread([0.0, 1.0, 30.0], 10.0) == [-4.5, 5.5, 30.0]
    assert spread([5.0, 0.0], 2.0) == [5.0, 0.0]
    curves = {}
    for i, total in enumerate([0.851, 0.853, 0.856, 0.6, 0.852]):
        ratios = np.full(400, (1 - total) / 300)
        ratios[:100] = total / 100
        curves[f"embedding {i}"] = ratios
    fig = explained_variance_figure(curves)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = fig.axes[0].texts
    assert sorted(t.get_text().split("%")[0] for t in texts) == [
        "60.0",
        "85.1",
        "85.2",
        "85.3",
        "85.6",
    ]
    boxes = [Text.get_window_extent(t, renderer) for t in texts]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (texts[i].get_text(), texts[j].get_text())
    axes_box = fig.axes[0].get_window_extent(renderer)
    assert all(b.x0 >= axes_box.x1 for b in boxes)  # beside the axes, off the curves
