"""``artrec evaluate`` and ``artrec compare`` on real workspaces (SQLite, saved embeddings)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from _cluster_workspace import build_cluster_workspace
from artrec.cli import main
from artrec.data.workspace import Workspace
from artrec.vectors import FeatureSet


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 items in 2 visual clusters (artist = cluster), timed purchases within one cluster."""
    root = tmp_path_factory.mktemp("cli_eval") / "ws"
    rng = np.random.default_rng(0)
    ws = build_cluster_workspace(root, rng)
    ids = ws.catalog().item_ids
    FeatureSet("noise", ids, rng.normal(size=(len(ids), 3)).astype(np.float32)).save(
        ws.embeddings_dir
    )
    return root


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_table_default(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["evaluate", "-w", str(workspace), "--protocol", "leave-last-out", "-k", "5"], capsys
    )
    assert code == 0, err
    assert "visrank:vis/cosine/sum_distance on protocol leave-last-out, k=5: 12 users" in out
    for metric in (
        "auc",
        "rr",
        "p@5",
        "r@5",
        "hr@5",
        "ap@5",
        "ndcg@5",
        "diversity@5",
        "novelty@5",
        "coverage@5",
    ):
        assert f"\n{metric} " in out
    assert "SIMULATED" not in out


def test_evaluate_json_matches_the_library(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from artrec.evaluation import evaluate
    from artrec.evaluation.protocols import leave_last_out
    from artrec.recommend.visrank import VisRankRecommender

    code, out, err = run_cli(
        [
            "evaluate",
            "-w",
            str(workspace),
            "--protocol",
            "leave-last-out",
            "--metric",
            "euclidean",
            "--aggregation",
            "max",
            "-k",
            "3",
            "--format",
            "json",
            "--no-record",
        ],
        capsys,
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["protocol"] == "leave-last-out" and payload["n_cases"] == 12
    assert payload["run_id"] is None
    ws = Workspace.open(workspace)
    cat = ws.catalog()
    vec = FeatureSet.load(ws.embeddings_dir, "vis").matrix
    lib = evaluate(
        VisRankRecommender(metric="euclidean", aggregation="max"),
        cat,
        leave_last_out(ws.interactions(kinds=("purchase",)), cat),
        k=3,
        vectors=np.asarray(vec),
    )
    by_metric = {m["metric"]: m for m in payload["metrics"]}
    for name, s in lib.summary.items():
        assert by_metric[name]["mean"] == pytest.approx(s.mean)
        assert by_metric[name]["ci_low"] == pytest.approx(s.ci_low)
    # the visual clusters make this easy: AUC well above chance
    assert by_metric["auc"]["mean"] > 0.8


def test_evaluate_baselines_and_csv(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for rec in ("random", "popular", "artist"):
        code, out, err = run_cli(
            [
                "evaluate",
                "-w",
                str(workspace),
                "--protocol",
                "time-replay",
                "--recommender",
                rec,
                "--format",
                "csv",
            ],
            capsys,
        )
        assert code == 0, err
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows[0]["metric"] == "auc"
        assert {r["metric"] for r in rows} >= {"rr", "ndcg@10", "coverage@10"}
    # time replay: 12 users x 3 repeat purchases; a work already sold to someone else
    # cannot be bought again, so those cases are skipped and counted
    ws = Workspace.open(workspace)
    runs = ws.runs("evaluation")
    results = runs[0]["results"]
    assert results["n_cases"] + results["skipped"]["no_relevant_candidate"] == 36
    assert results["skipped"]["first_purchases"] == 12
    assert runs[0]["params"]["recommender"] == "artist"


def test_compare_table_json_csv(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = [
        "compare",
        "-w",
        str(workspace),
        "--protocol",
        "leave-last-out",
        "--embeddings",
        "vis",
        "noise",
        "--metrics",
        "cosine",
        "euclidean",
        "--aggregations",
        "sum_distance",
        "mean",
        "max",
        "topm_mean",
        "-k",
        "5",
    ]
    code, out, err = run_cli([*base, "--baseline", "popular"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "12 users/cases, the same for every configuration" in lines[0]
    assert "differs from 'popular'" in lines[1]
    table = [ln for ln in lines if ln.startswith(("visrank:", "random", "popular", "artist"))]
    assert len(table) == 2 * 2 * 4 + 3
    assert any(ln.startswith("popular (baseline)") for ln in table)

    code, out, err = run_cli([*base, "--format", "json", "--no-record"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["baseline"] == "random"
    assert len(payload["configs"]) == 19
    assert {c["n_cases"] for c in payload["configs"]} == {12}
    row = next(
        r
        for r in payload["rows"]
        if r["config"] == "visrank:vis/cosine/sum_distance" and r["metric"] == "auc"
    )
    assert row["p_ttest"] is not None and row["p_wilcoxon_holm"] is not None

    code, out, err = run_cli([*base, "--format", "csv", "--baselines", "--no-record"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["config"] for r in rows} == {
        f"visrank:{e}/{m}/{a}"
        for e in ("vis", "noise")
        for m in ("cosine", "euclidean")
        for a in ("sum_distance", "mean", "max", "top3_mean")
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--embedding", "nope"], "no embedding 'nope'"),
        (["evaluate", "--protocol", "given"], "no given train/test split"),
        (["evaluate", "--kinds", "like"], "no events of kind like"),
        (["compare", "--baseline", "zz"], "--baseline 'zz' is not one of"),
        (["compare", "--metrics", "hamming"], "invalid choice: 'hamming'"),
        (["evaluate", "-k", "0"], "expected a positive integer"),
        (["evaluate", "--protocol", "sideways"], "invalid choice: 'sideways'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    workspace: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        code = main([argv[0], "-w", str(workspace), *argv[1:]])
    except SystemExit as exc:  # argparse errors exit from parse_args
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["compare", "-w", str(tmp_path / "none")], capsys)
    assert code == 2 and "no artrec workspace" in err


def test_seed_pipeline_given_protocol(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A notebook-format assets folder, imported and embedded, evaluated on its own split."""
    from artrec.data.seed import import_seed
    from artrec.data.synthetic import write_seed_assets
    from artrec.embedding import build_embedding

    write_seed_assets(tmp_path / "assets", 200, 30, dims=(32, 16), seed=4)
    import_seed(tmp_path / "assets", tmp_path / "ws")
    build_embedding(Workspace.open(tmp_path / "ws"), ["resnet50", "vgg19"], "hybrid", 10)
    code, out, err = run_cli(["evaluate", "-w", str(tmp_path / "ws"), "-k", "5"], capsys)
    assert code == 0, err
    assert "on protocol given, k=5: 30 users/cases" in out
    assert "SIMULATED" in out
    code, out, err = run_cli(
        ["compare", "-w", str(tmp_path / "ws"), "--aggregations", "sum_distance", "mean"], capsys
    )
    assert code == 0, err
    assert "visrank:hybrid/cosine/sum_distance" in out and "random (baseline)" in out
    assert "protocol: given (the events carry their own train/test split" in err


def test_default_protocol_fits_the_data(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No split in the log: evaluate and compare fall back to leave-last-out and say so; a
    named protocol is used as given, with no note."""
    code, out, err = run_cli(["evaluate", "-w", str(workspace), "-k", "5"], capsys)
    assert code == 0, err
    assert "on protocol leave-last-out, k=5: 12 users" in out
    assert "protocol: leave-last-out (the events carry no train/test split" in err
    code, out, err = run_cli(
        ["compare", "-w", str(workspace), "-k", "5", "--format", "json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["protocol"] == "leave-last-out" and "protocol: leave-last-out" in err
    code, out, err = run_cli(
        ["evaluate", "-w", str(workspace), "--protocol", "time-replay", "--no-record"], capsys
    )
    assert code == 0, err
    assert "on protocol time-replay" in out and "protocol:" not in err


def test_progress_bars(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--progress shows a bar on stderr (users for evaluate, configurations for compare);
    without a terminal there is none by default; --no-progress hides it."""
    argv = ["-w", str(workspace), "-k", "5", "--no-record", "--chunk-size", "5"]
    code, out, err = run_cli(["evaluate", *argv, "--progress"], capsys)
    assert code == 0 and "evaluate: 100%" in err and "12/12" in err and "user" in err
    assert "evaluate:" not in out
    code, _, err = run_cli(["compare", *argv, "--progress", "--baselines", "random"], capsys)
    assert code == 0 and "compare: 100%" in err and "2/2" in err
    for flag in ([], ["--no-progress"]):
        code, _, err = run_cli(["evaluate", *argv, *flag], capsys)
        assert code == 0 and "evaluate:" not in err


def test_evaluate_reports_progress_per_chunk(workspace: Path) -> None:
    from artrec.evaluation.configs import Config
    from artrec.evaluation.runs import evaluate_workspace

    calls: list[tuple[int, int]] = []
    result = evaluate_workspace(
        Workspace.open(workspace), Config("popular"), k=5, chunk_size=5, record=False,
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    assert result.protocol == "leave-last-out"
    assert calls == [(5, 12), (10, 12), (12, 12)]
