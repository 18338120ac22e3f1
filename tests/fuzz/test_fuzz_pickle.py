"""Fuzzing the restricted unpickler and the seed purchase validation."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any

import fuzz_canary
from fuzzing import case, depth, fuzz, outcome, same
from hypothesis import given
from hypothesis import strategies as st
from pickles import USERS, dumps, reference_user_items

from artrec.data.safe_pickle import load_user_items, loads_pickle
from artrec.errors import UnsafePickleError

HASHABLE = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
SCALARS = (
    HASHABLE
    | st.floats()
    | st.builds(lambda e, s: s * 10**e, st.integers(0, 5000), st.sampled_from([1, -1]))
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.tuples(inner, inner)
        | st.dictionaries(HASHABLE, inner, max_size=5)
        | st.sets(HASHABLE, max_size=4)
        | st.frozensets(HASHABLE, max_size=4)
    ),
    max_leaves=30,
)


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, dict):
        return any(_has_bytes(k) or _has_bytes(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_has_bytes(v) for v in value)
    return False


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, (set, frozenset)):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    return same(a, b)


@fuzz(400)
@given(value=VALUES, protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_pickled_builtin_values_load_exactly(value: Any, protocol: int) -> None:
    case("pickle/values")
    data = dumps(value, protocol)
    ok, result = outcome(lambda: loads_pickle(data, source="x.pickle"))
    if _has_bytes(value) and data[:2] not in (b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        # protocols 0-2 spell bytes as a call of _codecs.encode: refused, never called
        assert not ok and isinstance(result, UnsafePickleError), result
        return
    assert depth(value) <= 100
    assert ok, f"an honest pickle was refused: {result}"
    assert _same_value(result, value)


#: Opcode snippets a hostile pickle may be built from (protocol 2 framing).
_CANARY = b"cfuzz_canary\nboom\n"
_SNIPPETS = [
    b"]",  # EMPTY_LIST
    b"}",  # EMPTY_DICT
    b")",  # EMPTY_TUPLE
    b"(",  # MARK
    b"e",  # APPENDS
    b"a",  # APPEND
    b"u",  # SETITEMS
    b"s",  # SETITEM
    b"t",  # TUPLE
    b"2",  # DUP
    b"0",  # POP
    b"1",  # POP_MARK
    b"\x94",  # MEMOIZE
    b"q\x00",  # BINPUT 0
    b"h\x00",  # BINGET 0
    b"h\x01",
    b"K\x07",  # BININT1 7
    b"J\xff\xff\xff\x7f",  # BININT
    b"\x8a\x01\x01",  # LONG1
    b"\x8c\x03abc",  # SHORT_BINUNICODE
    b"X\x02\x00\x00\x00\xed\xa0",  # BINUNICODE with invalid UTF-8
    b"C\x02hi",  # SHORT_BINBYTES
    b"\x88",  # NEWTRUE
    b"N",  # NONE
    b"\x8f",  # EMPTY_SET
    b"\x90",  # ADDITEMS
    b"\x91",  # FROZENSET
    _CANARY,  # GLOBAL fuzz_canary.boom
    b"cos\nsystem\n",
    b"cbuiltins\neval\n",
    b"c__builtin__\nexec\n",
    b"cbuiltins\nset\n",  # allowed
    b"\x8c\x0bfuzz_canary\x8c\x04boom\x93",  # STACK_GLOBAL
    b"R",  # REDUCE
    b"b",  # BUILD
    b"\x81",  # NEWOBJ
    b"o",  # OBJ
    b"ifuzz_canary\nboom\n",  # INST
    b"\x82\x01",  # EXT1
    b"Pfoo\n",  # PERSID
    b"Q",  # BINPERSID
    b"\x95\x05\x00\x00\x00\x00\x00\x00\x00",  # FRAME
    b"\x8d\xff\xff\xff\xff\xff\xff\xff\x7f",  # BINUNICODE8 of an absurd length
    b"B\xff\xff\xff\x7f",  # BINBYTES of 2 GiB, not there
    b".",  # STOP
]


def _hostile_command() -> bytes:
    command = f"touch {fuzz_canary.MARKER}".encode()
    return b"cos\nsystem\n(" + b"\x8c" + bytes([len(command)]) + command + b"tR."


@fuzz(500)
@given(
    parts=st.lists(st.sampled_from(_SNIPPETS), max_size=40),
    proto=st.sampled_from([b"", b"\x80\x02", b"\x80\x04", b"\x80\x05"]),
    stop=st.booleans(),
)
def test_hostile_opcode_streams_never_run_code(
    parts: list[bytes], proto: bytes, stop: bool
) -> None:
    case("pickle/opcodes")
    data = proto + b"".join(parts) + (b"." if stop else b"")
    ok, result = outcome(lambda: loads_pickle(data, source="evil.pickle"))
    if ok:
        assert depth(result) <= 100


@fuzz(300)
@given(
    value=VALUES,
    protocol=st.integers(0, pickle.HIGHEST_PROTOCOL),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_corrupted_pickles_fail_cleanly(
    value: Any, protocol: int, edits: list[tuple[int, int]], cut: int | None
) -> None:
    case("pickle/corrupted")
    data = bytearray(dumps(value, protocol))
    for pos, byte in edits:
        data[pos % len(data)] = byte
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    ok, result = outcome(lambda: loads_pickle(bytes(data), source="bad.pickle"))
    if ok:
        assert depth(result) <= 100
    ok, result = outcome(lambda: loads_pickle(_hostile_command(), source="evil.pickle"))
    assert not ok and isinstance(result, UnsafePickleError)


@fuzz(300)
@given(users=USERS, protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_user_item_pickles_match_the_documented_rule(users: Any, protocol: int) -> None:
    case("pickle/user-items")
    expected = reference_user_items(users)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "past_transactions.pickle"
        path.write_bytes(dumps(users, protocol))
        ok, result = outcome(lambda: load_user_items(path))
    if expected is None:
        assert not ok, f"accepted {users!r:.200}"
    else:
        assert ok, result
        assert result == expected
