"""Atomic writes and checked JSON reads."""

from __future__ import annotations

import pytest

from artrec.errors import DataError
from artrec.fileio import atomic_write, read_json, write_json


def test_write_then_read_json(tmp_path):
    write_json(tmp_path / "a.json", {"k": [1, 2], "p": tmp_path}, indent=1)
    assert read_json(tmp_path / "a.json") == {"k": [1, 2], "p": str(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, [1])

    def explode(f):
        f.write(b"[2, ")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(target, explode)
    assert read_json(target) == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.json: no such file"):
        read_json(tmp_path / "nope.json")
    with pytest.raises(DataError, match=r"^nope\.json: missing from "):
        read_json(tmp_path / "nope.json", label="nope.json")
    (tmp_path / "bad.json").write_text("[1,")
    with pytest.raises(DataError, match=r"bad\.json: not valid JSON \(line 1"):
        read_json(tmp_path / "bad.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match=r"bin\.json: cannot read"):
        read_json(tmp_path / "bin.json")


def test_parse_json_refuses_a_literal_lone_surrogate() -> None:
    """Not only a \\u escape: a str built in memory can hold a lone surrogate itself."""
    import pytest

    from artrec.errors import DataError
    from artrec.fileio import parse_json

    with pytest.raises(DataError, match="lone surrogate"):
        parse_json('[{"\ud800x": null}]', "x.json")
    assert parse_json('{"caf\u00e9": 1}', "x.json") == {"café": 1}
