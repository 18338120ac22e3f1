"""evaluate and compare under time replay with refits (``--windows N``), the learning kinds
(``compare --recommenders``) and the tuned hybrid (``--recommender auto``) through the CLI,
against the library's windowed time replay."""

from __future__ import annotations

import json

import pytest

from _tuned_workspace import build_tuned_workspace
from artrec.cli import main
from artrec.data.workspace import Workspace
from artrec.evaluation.kinds import build_model
from artrec.evaluation.windowed import windowed_time_replay


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return build_tuned_workspace(tmp_path_factory.mktemp("win") / "ws", tuned=False)


def _ndcg(payload: dict) -> float:  # type: ignore[type-arg]
    return next(m["mean"] for m in payload["metrics"] if m["metric"] == "ndcg@10")


def test_evaluate_windows_equals_the_library(ws: Workspace, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["evaluate", "-w", str(ws.root), "--recommender", "item-knn", "--windows", "3"]
    assert main([*args, "-k", "10", "--format", "json", "--no-record"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"] == "time-replay" and out["params"]["windows"] == 3
    purchases_only = ws.interactions(kinds=("purchase",))
    assert len(ws.interactions()) > len(purchases_only)  # likes are learned from too
    expected = windowed_time_replay(
        build_model("item-knn"), ws.catalog(), ws.interactions(), k=10, n_windows=3
    )
    assert out["n_cases"] == expected.n_cases
    assert _ndcg(out) == pytest.approx(expected.summary["ndcg@10"].mean, abs=1e-12)
    # the cases after the test period's start only: the split column's test purchases
    assert out["skipped"]["before_test_period"] == expected.skipped["before_test_period"]


def test_auto_runs_under_every_protocol_and_windows_name_their_protocol(
    ws: Workspace, capsys
) -> None:  # type: ignore[no-untyped-def]
    base = ["evaluate", "-w", str(ws.root), "--recommender", "auto", "--param", "max_trials=0"]
    base += ["-k", "10", "--no-record", "--format", "json"]
    for protocol in ("given", "leave-last-out"):
        assert main([*base, "--protocol", protocol]) == 0
        assert json.loads(capsys.readouterr().out)["n_cases"] > 0
    assert main([*base, "--windows", "2"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["params"]["windows"] == 2
    assert "protocol:" not in captured.err  # asked for: no note about a default
    # plain time replay fits on no event: auto cannot tune there, in one line
    assert main([*base, "--protocol", "time-replay"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main([*base, "--protocol", "given", "--windows", "2"]) == 2
    assert "use --protocol time-replay" in capsys.readouterr().err


def test_compare_windows_with_learning_kinds(ws: Workspace, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["compare", "-w", str(ws.root), "--windows", "2", "-k", "10", "--no-record"]
    args += ["--recommenders", "item-knn", "metadata", "--baselines", "popular"]
    assert main([*args, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in out["configs"]][1:] == ["popular", "item-knn", "metadata"]
    assert all(c["params"]["windows"] == 2 for c in out["configs"])
    ndcg = {r["config"]: r for r in out["rows"] if r["metric"] == "ndcg@10"}
    for name in ("item-knn", "metadata"):
        expected = windowed_time_replay(
            build_model(name), ws.catalog(), ws.interactions(), k=10, n_windows=2
        )
        assert ndcg[name]["mean"] == pytest.approx(expected.summary["ndcg@10"].mean, abs=1e-12)
        assert ndcg[name]["p_ttest"] is not None  # paired against the baseline


def test_learning_kinds_compare_in_worker_processes(ws: Workspace, capsys) -> None:  # type: ignore[no-untyped-def]
    """Their configurations pickle (parameter classes by reference), so --workers 2 runs
    them in worker processes with the same numbers."""
    args = ["compare", "-w", str(ws.root), "--windows", "2", "-k", "10", "--no-record"]
    args += ["--recommenders", "item-knn", "content", "--baselines", "popular", "--format", "json"]
    assert main(args) == 0
    one = json.loads(capsys.readouterr().out)["rows"]
    assert main([*args, "--workers", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == one
