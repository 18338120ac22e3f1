"""``artrec similar`` and ``artrec recommend`` end to end, through ``artrec.cli.main``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from _visrank_workspace import build_workspace
from artrec.cli import main
from artrec.data.workspace import Workspace
from artrec.engine import Engine


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("cli"), n_items=50)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("similar", "recommend"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert "--format" in capsys.readouterr().out


def test_similar_table_json_csv(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    engine = Engine.from_workspace(ws)
    ids = engine.catalog.item_ids.tolist()
    expected = engine.similar(ids[4], 3, metric="euclidean")
    code, out, _ = run(
        capsys,
        "similar",
        "-w",
        str(ws.root),
        ids[4],
        ids[6],
        "-k",
        "3",
        "--metric",
        "euclidean",
        "--format",
        "json",
    )
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 6
    first = [r for r in rows if r["query"] == ids[4]]
    assert [r["item_id"] for r in first] == [n.item_id for n in expected]
    assert [r["rank"] for r in first] == [1, 2, 3]
    assert first[0]["score"] == pytest.approx(expected[0].score)
    row = engine.catalog.rows_of([first[0]["item_id"]])[0]
    assert first[0]["title"] == engine.catalog.column("title")[row]  # type: ignore[index]
    assert first[0]["artist"] == engine.catalog.column("artist")[row]  # type: ignore[index]
    code, out, _ = run(capsys, "similar", "-w", str(ws.root), ids[4], "-k", "2")
    assert code == 0
    lines = out.splitlines()
    assert "query" in lines[1] and "item_id" in lines[1] and "title" in lines[1]
    assert len(lines) == 5  # title, header, rule, 2 rows
    code, out, _ = run(
        capsys,
        "similar",
        "-w",
        str(ws.root),
        ids[4],
        "-k",
        "2",
        "--format",
        "csv",
        "--include-self",
    )
    assert code == 0
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert parsed[0]["item_id"] == ids[4]


def test_recommend_liked_and_users(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    engine = Engine.from_workspace(ws)
    ids = engine.catalog.item_ids.tolist()
    expected = engine.recommend([ids[1], ids[2]], 4)
    code, out, _ = run(
        capsys,
        "recommend",
        "-w",
        str(ws.root),
        "--liked",
        ids[1],
        ids[2],
        "-k",
        "4",
        "--format",
        "json",
    )
    assert code == 0
    rows = json.loads(out)
    assert [r["item_id"] for r in rows] == [r.item_id for r in expected]
    assert [r["because_item_id"] for r in rows] == [r.because_item_id for r in expected]
    b_row = engine.catalog.rows_of([rows[0]["because_item_id"]])[0]
    title = engine.catalog.column("title")[b_row]  # type: ignore[index]
    assert rows[0]["because"].startswith(f"because of {rows[0]['because_item_id']} {title}")
    assert " by " in rows[0]["because"] or engine.catalog.column("artist")[b_row] is None  # type: ignore[index]

    code, out, _ = run(
        capsys, "recommend", "-w", str(ws.root), "--user", "u1", "u2", "-k", "2", "--format", "csv"
    )
    assert code == 0
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [r["user"] for r in parsed] == ["u1", "u1", "u2", "u2"]
    assert [r["item_id"] for r in parsed[:2]] == [
        r.item_id for r in engine.recommend_for_user("u1", 2)
    ]

    code, out, _ = run(
        capsys,
        "recommend",
        "-w",
        str(ws.root),
        "--all-users",
        "-k",
        "3",
        "--aggregation",
        "topm_mean",
        "-m",
        "2",
        "--metric",
        "manhattan",
    )
    assert code == 0
    assert "because of" in out and "u1" in out and "u2" in out

    code, out, _ = run(
        capsys, "recommend", "-w", str(ws.root), "--liked", ids[1], "-k", "3", "--diversify", "0.5"
    )
    assert code == 0 and out.count("because of") == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["similar", "no-such-item"], "unknown item id 'no-such-item'"),
        (["similar", "ITEM", "--embedding", "nope"], "no embedding 'nope'"),
        (["recommend", "--user", "nobody"], "unknown user id 'nobody'"),
        (["recommend", "--liked", "no-such-item"], "unknown item id 'no-such-item'"),
    ],
)
def test_bad_input_one_line_exit_2(
    ws: Workspace, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a if a != "ITEM" else str(Engine.from_workspace(ws).catalog.item_ids[0]) for a in argv]
    code, _out, err = run(capsys, argv[0], "-w", str(ws.root), *argv[1:])
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["similar", "x", "-k", "0"],
        ["similar", "x", "--metric", "hamming"],
        ["recommend", "--liked", "x", "--aggregation", "median"],
        ["recommend", "--liked", "x", "--diversify", "1.5"],
        ["recommend", "--liked", "x", "--user", "u1"],
        ["recommend"],
    ],
)
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("artrec: error:") and err.count("\n") == 1


def test_missing_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "similar", "-w", str(tmp_path / "none"), "x")
    assert code == 2 and "no artrec workspace" in err
