"""``artrec index build/info`` and ``artrec recommend-all`` on a small real workspace
(real public-art images and a pixel embedding; the users are simulated)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faiss")

from _visrank_workspace import build_workspace
from artrec.cli import main
from artrec.data.workspace import Workspace
from artrec.engine import Engine
from artrec.recommend.batch import load_batch


@pytest.fixture(scope="module")
def ws_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scale") / "ws"
    build_workspace(root)
    return root


def _json_out(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return json.loads(capsys.readouterr().out)


def test_index_build_and_info(ws_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "index",
            "build",
            "-w",
            str(ws_root),
            "--index",
            "faiss-hnsw",
            "--param",
            "M=16",
            "--param",
            "ef_search=50",
            "--format",
            "json",
        ]
    )
    assert code == 0
    built = _json_out(capsys)[0]
    assert built["name"] == "pixels--faiss-hnsw--cosine" and built["n_items"] == 120
    assert (ws_root / "index" / built["name"] / "index.faiss").is_file()
    assert (
        main(["index", "build", "-w", str(ws_root), "--index", "exact", "--metric", "euclidean"])
        == 0
    )
    capsys.readouterr()
    assert main(["index", "info", "-w", str(ws_root), "--format", "json"]) == 0
    listed = {r["name"]: r for r in _json_out(capsys)}
    assert set(listed) == {"pixels--faiss-hnsw--cosine", "pixels--exact--euclidean"}
    hnsw = listed["pixels--faiss-hnsw--cosine"]
    assert "M=16" in hnsw["params"] and "ef_search=50" in hnsw["params"]
    assert hnsw["kind"] == "faiss-hnsw" and hnsw["n_items"] == 120 and hnsw["size_mb"] > 0
    assert any(r["kind"] == "index-build" for r in Workspace.open(ws_root).runs())


def test_index_build_tunes_to_the_target_recall(
    ws_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from artrec.index.faiss_index import index_tuning

    args = ["index", "build", "-w", str(ws_root), "--index", "faiss-ivf", "--format", "json"]
    assert main([*args, "--name", "tuned", "--target-recall", "0.99"]) == 0
    built = _json_out(capsys)[0]
    tuning = index_tuning(ws_root / "index" / "tuned")
    assert tuning is not None and tuning["target_recall"] == 0.99
    assert built["recall@10"] == tuning["recall"] and "nprobe=" in built["tuned"]
    assert main([*args, "--name", "fixed", "--target-recall", "0"]) == 0
    assert "recall@10" not in _json_out(capsys)[0]
    assert index_tuning(ws_root / "index" / "fixed") is None


def test_index_build_errors_are_one_line(ws_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["index", "build", "-w", str(ws_root), "--index", "faiss-ivf", "--param", "nprob=3"])
        == 2
    )
    assert "unknown FAISS parameter 'nprob'" in capsys.readouterr().err
    assert (
        main(
            ["index", "build", "-w", str(ws_root), "--index", "faiss-hnsw", "--metric", "manhattan"]
        )
        == 2
    )
    assert "'manhattan' is not supported" in capsys.readouterr().err
    assert main(["index", "build", "-w", str(ws_root), "--param", "M"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert main(["index", "build", "-w", str(ws_root), "--embedding", "nope"]) == 2
    assert "no embedding 'nope'" in capsys.readouterr().err


def test_recommend_all_visrank_equals_the_engine(
    ws_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["recommend-all", "-w", str(ws_root), "-k", "5", "--no-progress", "--format", "json"]
    assert main([*args, "--run", "vr"]) == 0
    summary = _json_out(capsys)[0]
    assert summary["users"] == 2 and summary["computed"] == 1  # u3 only viewed
    run = load_batch(ws_root / "recommendations" / "vr")
    engine = Engine.from_workspace(ws_root)
    for user in ("u1", "u2"):
        expected = engine.recommend_for_user(user, 5)
        got = run.for_user(user)
        assert [r["item_id"] for r in got] == [r.item_id for r in expected]
        np.testing.assert_allclose(
            [r["score"] for r in got], [r.score for r in expected], rtol=1e-5
        )
    # Same command again: nothing left to do.
    assert main([*args, "--run", "vr"]) == 0
    assert _json_out(capsys)[0]["computed"] == 0
    # An index source with every item a candidate gives the same lists.
    assert main([*args, "--run", "flat", "--index", "faiss-flat", "--candidates", "120"]) == 0
    capsys.readouterr()
    flat = load_batch(ws_root / "recommendations" / "flat")
    np.testing.assert_array_equal(flat.rows, run.rows)
    assert flat.meta["saved_index"] is False


def test_recommend_all_uses_a_saved_index_and_skips_sold(
    ws_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", "build", "-w", str(ws_root), "--index", "faiss-flat"]) == 0
    capsys.readouterr()
    args = [
        "recommend-all",
        "-w",
        str(ws_root),
        "-k",
        "5",
        "--no-progress",
        "--index",
        "faiss-flat",
    ]
    assert main([*args, "--run", "before", "--candidates", "120"]) == 0
    before = load_batch(ws_root / "recommendations" / "before")
    assert before.meta["saved_index"] is True
    top = before.for_user("u1")[0]["item_id"]
    ws = Workspace.open(ws_root)
    ws.set_in_stock([top], False)
    try:
        assert main([*args, "--run", "after", "--candidates", "120"]) == 0
        after = load_batch(ws_root / "recommendations" / "after")
        ids = [r["item_id"] for r in after.for_user("u1")]
        assert top not in ids
        assert ids[:4] == [r["item_id"] for r in before.for_user("u1")][1:5]
    finally:
        ws.set_in_stock([top], True)
    capsys.readouterr()
    assert main([*args, "--run", "after", "-k", "3"]) == 2
    assert "other users or settings" in capsys.readouterr().err
