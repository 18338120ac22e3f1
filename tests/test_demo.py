"""The demo on the real dataset, trimmed (this is how CI runs the demo), then warm from cache."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

REAL = os.environ.get("ARTREC_DATA_HOME")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REAL, reason="needs ARTREC_DATA_HOME (CI always sets it)"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from artrec.demo import run_demo

    root = tmp_path_factory.mktemp("demo") / "ws"
    calls: list[tuple[str, int, int | None]] = []
    t0 = time.perf_counter()
    result = run_demo(root, REAL, trimmed=True, progress=lambda s, d, t: calls.append((s, d, t)))
    return {"result": result, "calls": calls, "seconds": time.perf_counter() - t0, "root": root}


def test_cold_run_builds_everything(demo: dict[str, Any]) -> None:
    from artrec.demo import (
        AGGREGATIONS,
        BASELINES,
        EMBEDDINGS,
        METRICS,
        NOTEBOOK_CONFIG,
        TRIMMED_ITEMS,
    )
    from artrec.vectors import FeatureSet

    result = demo["result"]
    ws = result.workspace
    assert 0.9 * TRIMMED_ITEMS <= ws.n_items() <= TRIMMED_ITEMS
    assert set(FeatureSet.available(ws.features_dir)) >= {"efficientnet_lite0", "handcrafted"}
    assert set(FeatureSet.available(ws.embeddings_dir)) >= set(EMBEDDINGS)
    assert ws.get_meta("default_embedding") == "hybrid"
    assert FeatureSet.load(ws.embeddings_dir, "hybrid").dim == 100
    r = result.results
    assert r.label == "simulated"
    ev = r.evaluation
    assert ev is not None
    assert ev.baseline == NOTEBOOK_CONFIG and ev.protocol == "time-replay"
    configs = set(ev.config_names)
    assert len(configs) == len(EMBEDDINGS) * len(METRICS) * len(AGGREGATIONS) + len(BASELINES)
    assert {"random", "popular", "artist", NOTEBOOK_CONFIG} <= configs
    # Configurations carry their structure (kind and parameters), not just a name.
    assert ev.find("visrank", embedding="hybrid", metric="cosine", aggregation="sum_distance") == (
        NOTEBOOK_CONFIG
    )
    # Every non-baseline configuration carries its paired test against the notebook's method.
    for row in ev.rows:
        if row.metric == "auc":
            assert (row.p_ttest is None) == (row.config == NOTEBOOK_CONFIG)
    # The notebook's method beats random on AUC (the simulated tastes are partly visual).
    auc = {row.config: row.mean for row in ev.rows if row.metric == "auc"}
    assert auc[NOTEBOOK_CONFIG] > auc["random"]  # type: ignore[operator]
    assert set(r.same_artist) >= {*EMBEDDINGS, "random"}
    assert r.same_artist["efficientnet_lite0"].p_at_10 > 2 * r.same_artist["random"].p_at_10  # type: ignore[operator]
    assert len(r.similar_examples) == 4 and r.collectors
    for c in r.collectors:
        assert c.recommendations and not set(c.bought) & {x.item_id for x in c.recommendations}
    # Learning from the collectors: every baseline, every learning kind and the tuned hybrid
    # under time replay with refits, paired-tested against the best single model.
    from artrec.demo import LEARNED_WINDOWS
    from artrec.evaluation.configs import LEARNING
    from artrec.recommend.serving import default_model_name

    lr = r.learned
    assert lr is not None and lr.protocol == "time-replay"
    assert {"random", "popular", "artist", *LEARNING} <= set(lr.config_names)
    assert {c.params.get("aggregation") for c in lr.configs if c.kind == "visrank"} == {
        "sum_distance",
        "max",
    }
    assert all(c.params.get("windows") == LEARNED_WINDOWS for c in lr.configs)
    ndcg = {c: lr.mean(c, "ndcg@10") for c in lr.config_names}
    single = {c: v for c, v in ndcg.items() if c != "auto"}
    assert lr.baseline == max(single, key=lambda c: single[c])  # type: ignore[arg-type, return-value]
    for row in lr.rows:
        if row.metric == "ndcg@10":
            assert (row.p_ttest is None) == (row.config == lr.baseline)
    # tune made the tuned hybrid the workspace's chosen model
    assert default_model_name(ws) == "auto" and r.chosen_model["name"] == "auto"
    assert r.chosen_model["validation"]["ndcg"] > 0
    # Progress for every step, each ending with done == total.
    steps = {s for s, _, _ in demo["calls"]}
    assert {
        "data",
        "simulation",
        "extract efficientnet_lite0",
        "extract handcrafted",
        "embeddings",
        "evaluation",
        "tune",
        "learning models",
        "report",
    } <= steps
    # The run is stored, and the report exists and is self-contained.
    stored = ws.runs("demo")[0]["results"]
    assert stored["evaluation"]["rows"] == r.to_json()["evaluation"]["rows"]
    assert type(r).from_json(stored) == r
    html = result.report_path.read_text()
    assert result.report_path.name == "demo.html" and "data:image/jpeg;base64," in html
    assert "<script src" not in html and "<link" not in html
    assert "Learning from the collectors (simulated)" in html
    assert "the workspace&#x27;s chosen model" in html or "the workspace's chosen model" in html
    # Every step's wall, user and system time; both feature sets from one extract_all call.
    names = [p.name for p in result.phases]
    assert names == ["data", "simulation", "features", "embeddings", "analysis", "report"]
    assert all(p.wall_s >= 0 and p.user_s >= 0 and p.system_s >= 0 for p in result.phases)
    features = next(p for p in result.phases if p.name == "features")
    assert features.user_s > 0
    phase = result.features_phase
    assert phase is not None and set(phase.extractors) == {"efficientnet_lite0", "handcrafted"}
    assert phase.precision["handcrafted"] == "fp32"


def test_warm_run_uses_the_cache(demo: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from artrec.cli import main

    t0 = time.perf_counter()
    rc = main(["demo", "-w", str(demo["root"]), "--data-home", str(REAL), "--trimmed", "--quiet"])
    took = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert rc == 0
    assert (
        "cached: data, simulation, features:efficientnet_lite0, features:handcrafted, embeddings, analysis"
        in out
    )
    report_line = next(line for line in out.splitlines() if line.startswith("report: "))
    path = Path(report_line.split(": ", 1)[1])
    assert path.is_file()
    assert took < 60, f"warm run took {took:.0f} s"
    # the phase table: every step with wall, user and system seconds
    table = out[out.index("phase ") :]
    for step in ("data", "simulation", "features", "embeddings", "analysis", "report"):
        assert any(
            line.split()[:1] == [step] and len(line.split()) == 4 for line in table.splitlines()
        )
    assert "CPU: user" in out and "system / user" in out
    ws = demo["result"].workspace
    assert len(ws.runs("demo")) == 1, "a warm run does not recompute"
    stored = json.loads(ws.get_meta("demo_results") or "{}")["results"]
    assert stored["evaluation"]["rows"] == demo["result"].results.to_json()["evaluation"]["rows"]


def test_report_command_reuses_demo_results(demo: dict[str, Any], tmp_path: Path) -> None:
    from artrec.cli import main

    out = tmp_path / "again.html"
    assert main(["report", "-w", str(demo["root"]), "-o", str(out)]) == 0
    text = out.read_text()
    assert "visrank:hybrid/cosine/sum_distance" in text and "SIMULATED" in text
