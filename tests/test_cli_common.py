"""CLI frame: output formats and one-line errors with exit code 2."""

from __future__ import annotations

import io
import json

import pytest

from artrec.cli import build_parser, main
from artrec.cli._common import emit, format_table


def test_formats():
    rows = [{"item_id": "a", "score": 0.5, "n": 3}, {"item_id": "bb", "score": 0.25, "n": 10}]
    out = io.StringIO()
    emit(rows, "json", out=out)
    assert json.loads(out.getvalue()) == rows
    out = io.StringIO()
    emit(rows, "csv", out=out)
    assert out.getvalue().splitlines() == ["item_id,score,n", "a,0.5000,3", "bb,0.2500,10"]
    table = format_table(rows).splitlines()
    assert table[0].split() == ["item_id", "score", "n"]
    assert table[2].endswith(" 3") and table[3].endswith("10")


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices  # type: ignore[truthy-bool]
    for name in sub.choices:  # type: ignore[union-attr]
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: artrec" in capsys.readouterr().out


def test_bad_argument_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("artrec: error:")
