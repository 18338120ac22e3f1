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
    for cell in parser.cells:
        row = rows[(cell["data-config"], cell["data-metric"])]
        assert cell["shown"] == ("–" if row["mean"] is None else f"{row['mean']:.4f}")
    shown = {(c["data-config"], c["data-metric"]) for c in parser.cells}
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
    assert "SIMULATED" not in text


def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from artrec.cli import main

    assert main(["report", "-w", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no artrec workspace" in err
    Workspace.create(tmp_path / "empty")
    assert main(["report", "-w", str(tmp_path / "empty")]) == 2
    assert "no catalogue" in capsys.readouterr().err
