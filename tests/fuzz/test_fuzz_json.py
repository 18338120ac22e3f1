"""Fuzzing JSON reading (:func:`artrec.fileio.parse_json` and :func:`read_json`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fuzzing import case, depth, fuzz, outcome, same, texts, valid_unicode
from hypothesis import given
from hypothesis import strategies as st

from artrec.errors import LimitError
from artrec.fileio import parse_json, read_json

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.builds(lambda e: 10**e, st.integers(0, 4200))
    | st.floats()
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)


def reference(text: str) -> tuple[bool, Any]:
    """What :func:`parse_json` must do, from :func:`json.loads` and the documented limits."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False, None
    if depth(value) > 100 or not all(valid_unicode(t) for t in texts(value)):
        return False, None
    return True, value


def _check(text: str) -> None:
    expected_ok, expected = reference(text)
    ok, result = outcome(lambda: parse_json(text, "x.json"))
    assert ok == expected_ok, (text[:200], result)
    if ok:
        assert same(result, expected)


@fuzz(400)
@given(value=JSON_VALUES, ascii_only=st.booleans(), indent=st.sampled_from([None, 1]))
def test_json_values_read_back_exactly(value: Any, ascii_only: bool, indent: int | None) -> None:
    case("json/values")
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    _check(text)
    if valid_unicode(text):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "v.json"
            path.write_text(text, encoding="utf-8")
            ok, result = outcome(lambda: read_json(path))
            assert ok == reference(text)[0], result


_PIECES = st.sampled_from(
    [
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        '"',
        "\\",
        "\\u",
        "\\ud800",
        "\\udc00",
        "1",
        "-",
        "e9",
        "0x1",
        "NaN",
        "Infinity",
        "true",
        "null",
        " ",
        "\n",
        "\x00",
        "9" * 5000,
        "[" * 150,
        "]" * 150,
        '"a"',
        '{"k":',
        "\ud800",
        "1e999",
    ]
)


@fuzz(400)
@given(
    base=JSON_VALUES,
    pieces=st.lists(st.tuples(st.integers(0, 10**6), _PIECES), max_size=4),
    raw=st.one_of(st.none(), st.text(max_size=60)),
)
def test_broken_json_fails_cleanly(
    base: Any, pieces: list[tuple[int, str]], raw: str | None
) -> None:
    case("json/broken")
    text = json.dumps(base) if raw is None else raw
    for pos, piece in pieces:
        at = pos % (len(text) + 1)
        text = text[:at] + piece + text[at:]
    _check(text)


@fuzz(150)
@given(levels=st.integers(1, 5000), kind=st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_a_limit_not_a_crash(levels: int, kind: str) -> None:
    case("json/deep")
    close = "]" if kind == "[" else "}"
    text = kind * levels + "1" + close * levels
    ok, result = outcome(lambda: parse_json(text, "deep.json"))
    assert ok == (levels <= 100)
    if not ok:
        assert isinstance(result, LimitError)
