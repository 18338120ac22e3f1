"""``artrec import-seed`` and ``artrec embed``: output formats, one-line errors, exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import artrec.cli as cli
from _seed_helpers import Evil, write_pickle, write_tiny_assets
from artrec.data.workspace import Workspace
from artrec.embedding import Embedding
from artrec.vectors import FeatureSet


@pytest.fixture(autouse=True)
def _only_these_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    # test these two commands on their own, whatever state the other subcommands are in
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("import_seed", "embed"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("import-seed", "embed"):
        code, out, _err = _run(capsys, name, "--help")
        assert code == 0 and f"usage: artrec {name}" in out


def test_import_then_embed_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    ws = tmp_path / "ws"
    code, out, err = _run(capsys, "import-seed", str(assets), "-w", str(ws))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"imported {assets}"
    header, values = lines[1].split(), lines[3].split()
    row = dict(zip(header, values, strict=False))
    assert row["items"] == "4" and row["users"] == "3"
    assert row["train_events"] == "6" and row["test_events"] == "4"
    assert "missing_ids" in header and "note:" in err and "77777" in err

    code, out, err = _run(capsys, "embed", "-w", str(ws), "--n-components", "2")
    assert code == 0, err
    assert "embedding hybrid written to" in out and "resnet50 (3) + vgg19 (2)" in out
    assert Workspace.open(ws).get_meta("default_embedding") == "hybrid"
    vectors = FeatureSet.load(ws / "embeddings", "hybrid")
    assert vectors.matrix.shape == (4, 2)
    assert Embedding.load(ws / "embeddings", "hybrid").input_names_ == ["resnet50", "vgg19"]


def test_json_and_csv_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assets = write_tiny_assets(tmp_path / "assets", users_as="list")
    ws = tmp_path / "ws"
    code, out, _ = _run(capsys, "import-seed", str(assets), "-w", str(ws), "--format", "json")
    assert code == 0
    (summary,) = json.loads(out)
    assert summary["items"] == 4 and summary["missing_item_ids"] == ["77777"]
    assert summary["feature_sets"] == "resnet50 (3), vgg19 (2)"

    code, out, _ = _run(
        capsys,
        "embed",
        "-w",
        str(ws),
        "--features",
        "vgg19",
        "resnet50",
        "--name",
        "h",
        "--n-components",
        "3",
        "--l2",
        "--format",
        "json",
    )
    assert code == 0
    (row,) = json.loads(out)
    assert row["name"] == "h" and row["n_components"] == 3 and row["l2"] is True
    assert len(row["explained_variance_ratio"]) == 3
    assert row["explained_variance"] == pytest.approx(sum(row["explained_variance_ratio"]))
    unit = FeatureSet.load(ws / "embeddings", "h").matrix
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1, rtol=1e-5)

    code, out, _ = _run(
        capsys,
        "embed",
        "-w",
        str(ws),
        "--name",
        "c",
        "--n-components",
        "2",
        "--components",
        "--format",
        "csv",
        "--no-default",
        "--no-standardize",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "component,explained_variance,cumulative" and len(lines) == 3
    assert Workspace.open(ws).get_meta("default_embedding") == "h"


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["import-seed", "{tmp}/nowhere", "-w", "{tmp}/ws2"], "not a directory"),
        (["embed", "-w", "{tmp}/nows"], "no artrec workspace"),
        (["embed", "-w", "{tmp}/ws", "--features", "resnet50", "nope"], "no feature set 'nope'"),
        (["embed", "-w", "{tmp}/ws", "--n-components", "0"], "expected a positive integer"),
        (["embed", "-w", "{tmp}/ws", "--name", "../x"], "invalid embedding name"),
        (["import-seed", "{tmp}/assets", "-w", "{tmp}/ws"], "already holds 4 items"),
    ],
)
def test_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], pattern: str
) -> None:
    assets = write_tiny_assets(tmp_path / "assets")
    assert _run(capsys, "import-seed", str(assets), "-w", str(tmp_path / "ws"))[0] == 0
    code, _out, err = _run(capsys, *(a.format(tmp=tmp_path) for a in argv))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("artrec: error:") and pattern in lines[0]


def test_unsafe_pickle_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    assets = write_tiny_assets(tmp_path / "assets")
    write_pickle(assets / "past_transactions.pickle", [[501], Evil(marker)])
    code, _out, err = _run(capsys, "import-seed", str(assets), "-w", str(tmp_path / "ws"))
    assert code == 2 and not marker.exists()
    assert err.startswith("artrec: error: past_transactions.pickle: refusing to load global")
    assert len(err.strip().splitlines()) == 1


def test_nan_rows_refused_or_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resnet = np.ones((4, 3), np.float32)
    resnet[1, 1] = np.nan
    assets = write_tiny_assets(tmp_path / "assets", resnet=resnet)
    code, _out, err = _run(capsys, "import-seed", str(assets), "-w", str(tmp_path / "ws"))
    assert code == 2 and "first item '17'" in err
    code, _out, err = _run(
        capsys, "import-seed", str(assets), "-w", str(tmp_path / "ws"), "--allow-nan"
    )
    assert code == 0 and "NaN" in err
    code, _out, err = _run(capsys, "embed", "-w", str(tmp_path / "ws"))
    assert code == 2 and "feature set 'resnet50': item '17' (row 1) has NaN" in err


def test_embed_solver_choices_include_lanczos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from artrec.embedding import SVD_SOLVERS

    assets = write_tiny_assets(tmp_path / "assets")
    ws = tmp_path / "ws"
    assert _run(capsys, "import-seed", str(assets), "-w", str(ws))[0] == 0
    code, out, _err = _run(capsys, "embed", "--help")
    assert "{" + ",".join(SVD_SOLVERS) + "}" in out.replace("\n", "").replace(" ", "")
    for solver in ("lanczos", "covariance_eigh"):
        code, out, err = _run(
            capsys, "embed", "-w", str(ws), "--n-components", "2", "--solver", solver,
            "--name", solver, "--format", "json",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)[0]["solver"] == solver
    a, b = (FeatureSet.load(ws / "embeddings", s).matrix for s in ("lanczos", "covariance_eigh"))
    np.testing.assert_allclose(np.abs(a), np.abs(b), atol=1e-5)
    code, _out, err = _run(capsys, "embed", "-w", str(ws), "--solver", "nope")
    assert code == 2 and "invalid choice" in err
