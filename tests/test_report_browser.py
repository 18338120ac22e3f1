"""The HTML report in a real browser at 800 px: the demo-sized metrics table (33
configurations with long names) fits without horizontal scrolling, has one row per distinct
result, and the prose holds words, not dict reprs.

The workspace is real: 90 public-art paintings, their hand-engineered features, three
embeddings and SIMULATED collectors, compared and reported through the CLI. Playwright
drives Debian's chromium (never a downloaded browser), as ``tests/test_browser.py`` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from artrec.cli import main

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REAL = os.environ.get("ARTREC_DATA_HOME")
EMBEDDINGS = ("handcrafted_pca8", "handcrafted_pca8_l2norm", "handcrafted_pca4")
AGGREGATIONS = ("sum_distance", "sum", "mean", "max", "topm_mean")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not REAL:
        pytest.skip("needs ARTREC_DATA_HOME (CI always sets it)")
    from artrec.data.public_art import (
        fetch_public_art,
        load_public_art,
        locate_public_art,
        select_subset,
    )
    from artrec.data.simulate import SimulationParams, simulate_collectors, write_simulation
    from artrec.embedding import build_embedding
    from artrec.features.api import extract

    root = tmp_path_factory.mktemp("report_800")
    directory = locate_public_art(REAL)
    assert directory is not None
    full, _ = load_public_art(directory)
    ws = fetch_public_art(
        REAL, root / "ws", item_ids=select_subset(full, 90, seed=3), download_if_missing=False
    )
    extract(ws, "handcrafted", num_workers=0)
    build_embedding(ws, ["handcrafted"], EMBEDDINGS[0], 8)
    build_embedding(ws, ["handcrafted"], EMBEDDINGS[1], 8, l2_normalize=True, set_default=False)
    build_embedding(ws, ["handcrafted"], EMBEDDINGS[2], 4, set_default=False)
    write_simulation(ws, simulate_collectors(ws.catalog(), SimulationParams(n_users=24, seed=1)))
    argv = [
        "compare", "-w", str(ws.root), "--protocol", "time-replay", "--embeddings", *EMBEDDINGS,
        "--metrics", "cosine", "euclidean", "--aggregations", *AGGREGATIONS,
        "--baselines", "random", "popular", "artist", "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    out = root / "report.html"
    assert main(["report", "-w", str(ws.root), "--recompute", "-o", str(out)]) == 0
    return out


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (scripts/ci-services.sh installs chromium)")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 800, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_report_fits_800px_one_row_per_result_and_words_only(report: Path, page: Any) -> None:
    page.goto(report.as_uri())
    page.wait_for_selector("table.metrics")
    widths = page.eval_on_selector_all(
        "table",
        "ts => ts.map(t => [t.className, t.scrollWidth, t.clientWidth,"
        " t.getBoundingClientRect().right])",
    )
    assert len(widths) >= 2  # the metrics and the same-artist tables
    viewport = page.evaluate("document.documentElement.clientWidth")
    assert viewport <= 800
    for name, scroll, client, right in widths:
        assert scroll <= client, (name, scroll, client)
        assert right <= viewport + 0.5, (name, right, viewport)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport

    rows = page.eval_on_selector_all(
        "table.metrics tbody tr",
        "rs => rs.map(r => [r.cells[0].innerText, [...r.cells].slice(1).map(c => c.innerText).join('|'),"
        " r.querySelector('td[data-config]')?.dataset.config,"
        " r.querySelector('td[data-config]')?.dataset.same])",
    )
    values = [v for _, v, _, _ in rows]
    assert len(values) == len(set(values)), "two rows show the same results"
    shown = [c for _, _, c, same in rows for c in [c, *(same or "").split()]]
    assert len(shown) == len(set(shown)) == 3 * 2 * 5 + 3  # every configuration, once
    assert len(rows) < 33  # the sum of distances, the sum and the mean share rows
    notebook = [n for n, _, c, _ in rows if "the notebook's method" in n]
    assert notebook and all("random" not in n for n in notebook)

    text = page.inner_text("body")
    assert "{'" not in text and '{"' not in text
    assert "Cases skipped: first purchases" in text
