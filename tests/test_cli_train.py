"""``artrec train`` on a real workspace (SQLite, a saved embedding), then the saved model
reloaded, and the learned kinds through ``artrec evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _cluster_workspace import build_cluster_workspace
from artrec.cli import main
from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.recommend.curatornet import CuratorNetRecommender
from artrec.recommend.store import data_fingerprint, load_model
from artrec.recommend.vbpr import VBPRRecommender
from artrec.vectors import FeatureSet


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 works in two visual clusters (artist = cluster); 12 collectors, each buying four
    works of one cluster over time."""
    root = tmp_path_factory.mktemp("cli_train") / "ws"
    rng = np.random.default_rng(0)
    build_cluster_workspace(root, rng)
    return root


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_saves_a_model_that_reloads_and_ranks(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        ["train", "-w", str(workspace), "--model", "curatornet", "--epochs", "4",
         "--seed", "3", "--name", "taste", "--format", "json", "--progress"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)
    phases = [r["phase"] for r in rows]
    assert phases[0] == "validation" and rows[0]["epoch"] == 0  # the untrained model, scored
    assert all(r["validation ndcg@20"] is not None for r in rows if r["phase"] == "validation")
    assert "validation" in err and "epoch" in err  # the progress bar
    ws = Workspace.open(workspace)
    model, info = load_model(ws.models_dir, "taste")
    assert isinstance(model, CuratorNetRecommender)
    assert model.seed == 3
    refit = [r for r in rows if r["phase"] == "refit"]
    assert model.epochs == len(refit)  # refitted for the best number of validation epochs
    # --metadata auto (the default): a validation phase per choice of inputs, the better
    # one refitted and saved
    validation = [r for r in rows if r["phase"] == "validation"]
    assert {r["inputs"] for r in validation} == {"vectors", "vectors+artist"}
    best = max(validation, key=lambda r: r["validation ndcg@20"])
    assert {r["inputs"] for r in refit} <= {best["inputs"]}
    assert "+".join(("vectors", *model.metadata)) == best["inputs"]
    assert info.extra["training"]["metadata"] == list(model.metadata)
    events = ws.interactions(("purchase", "like"))
    assert info.fingerprint == data_fingerprint(ws.catalog().item_ids, events)
    assert info.extra["embedding"] == "vis"
    # the reloaded model ranks an unseen collector with one work of cluster 0
    ranking = model.rank([np.array([0])], 5)
    assert len(ranking.rows[0]) == 5 and 0 not in ranking.rows[0].tolist()
    assert ws.runs("train")[0]["params"]["kind"] == "curatornet"


def test_same_seed_same_saved_model(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "-w", str(workspace), "--model", "vbpr", "--epochs", "3", "--seed", "1"]
    for name in ("a", "b"):
        code, _, err = run_cli([*base, "--name", name, "--no-progress"], capsys)
        assert code == 0, err
    code, out, err = run_cli(
        [*base, "--name", "c", "--metadata", "none", "--no-progress", "--format", "json"], capsys
    )
    assert code == 0, err
    assert {r["inputs"] for r in json.loads(out)} == {"vectors"}
    ws = Workspace.open(workspace)
    a, _ = load_model(ws.models_dir, "a")
    b, _ = load_model(ws.models_dir, "b")
    c, info = load_model(ws.models_dir, "c")
    assert isinstance(a, VBPRRecommender) and isinstance(c, VBPRRecommender)
    assert c.metadata == () and info.extra["refresh"].endswith("--metadata none")
    profiles = [np.array([0, 2]), np.array([1])]
    np.testing.assert_array_equal(a.score(profiles), b.score(profiles))


def test_learned_kinds_through_evaluate(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kind in ("curatornet", "vbpr"):
        code, out, err = run_cli(
            ["evaluate", "-w", str(workspace), "--recommender", kind, "--param", "epochs=3",
             "--param", "metadata=artist", "--protocol", "leave-last-out", "-k", "5",
             "--format", "json", "--no-record"],
            capsys,
        )  # fmt: skip
        assert code == 0, err
        result = json.loads(out)
        assert result["n_cases"] == 12
        ndcg = {m["metric"]: m for m in result["metrics"]}["ndcg@5"]["mean"]
        assert 0.0 <= ndcg <= 1.0


@pytest.mark.parametrize(
    ("argv", "culprit"),
    [
        (["--model", "bogus"], "--model"),
        (["--model", "vbpr", "--epochs", "-1"], "--epochs"),
        (["--model", "vbpr", "--embedding", "missing"], "missing"),
        (["--model", "curatornet", "--metadata", "colour"], "colour"),
        (["--model", "curatornet", "--kinds", "view"], "view"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    workspace: Path, capsys: pytest.CaptureFixture[str], argv: list[str], culprit: str
) -> None:
    code, out, err = run_cli(["train", "-w", str(workspace), "--no-progress", *argv], capsys)
    assert code == 2
    assert err.count("\n") == 1 and culprit in err
    assert out == ""


def test_learned_kinds_in_a_comparison(workspace: Path) -> None:
    from artrec.evaluation.comparison import compare
    from artrec.evaluation.configs import Config

    configs = [
        Config("popular"),
        Config("visrank", aggregation="max"),
        Config("curatornet", epochs=2),
        Config("vbpr", epochs=2, patience=0),
    ]
    result = compare(configs, Workspace.open(workspace), "leave-last-out", k=5)
    assert len(result.results) == 4
    assert {r.n_cases for r in result.results.values()} == {12}


def test_a_learned_default_model_serves_a_grown_catalogue(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from artrec.recommend.serving import load_serving_model

    root = tmp_path / "ws"
    shutil.copytree(workspace, root)
    code, _, err = run_cli(
        ["train", "-w", str(root), "--model", "vbpr", "--epochs", "2", "--name", "grown",
         "--no-progress"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    ws = Workspace.open(root)
    before = load_serving_model(ws, "grown")
    assert before.staleness is None
    profile = [np.array([0, 2])]
    old_vectors = np.array(before.model.item_vectors_)
    # four new works, with vectors in the embedding the model was trained on
    new_ids = np.asarray([f"new{i}" for i in range(4)], dtype=object)
    ws.upsert_items(Catalog(new_ids, {"artist": np.asarray(["Painter 0"] * 4, dtype=object)}))
    vis = FeatureSet.load(ws.embeddings_dir, "vis")
    FeatureSet(
        "vis",
        np.concatenate([vis.item_ids, new_ids]),
        np.concatenate([vis.matrix, np.full((4, vis.dim), 4.0, dtype=np.float32)]),
    ).save(ws.embeddings_dir)
    grown = load_serving_model(ws, "grown")
    assert grown.catalog.n_items == 44
    assert grown.staleness is not None  # fitted on an older catalogue: it says so
    scores = grown.model.score(profile)
    assert scores.shape == (1, 44) and np.isfinite(scores).all()
    # nothing retrained: the known works keep their learned item vectors
    np.testing.assert_allclose(grown.model.item_vectors_[:40], old_vectors, rtol=1e-6, atol=1e-9)
    ranking = grown.recommend(profile, k=44)
    assert {int(r) for r in ranking.rows[0] if r >= 40} == {40, 41, 42, 43}  # new works ranked
