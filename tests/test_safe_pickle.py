"""The restricted unpickler: containers, numbers and text load; anything needing a global is refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from _seed_helpers import Custom, Evil, write_pickle
from artrec.data.safe_pickle import (
    load_pickle,
    load_user_items,
    loads_pickle,
    validate_user_items,
)
from artrec.errors import DataError, UnsafePickleError

PLAIN = {
    0: [1, 2, 3],
    1: (4, 5),
    "text": "héllo",
    "float": 1.5,
    "neg": -(2**70),
    "none": None,
    "flags": [True, False],
    "nested": {"a": [{"b": (1, 2.0)}]},
}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_containers_load_in_every_protocol(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "plain.pickle"
    write_pickle(path, PLAIN, protocol)
    assert load_pickle(path) == PLAIN


@pytest.mark.parametrize("protocol", range(3, pickle.HIGHEST_PROTOCOL + 1))
def test_bytes_load_from_protocol_3(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "bytes.pickle"
    write_pickle(
        path, [b"\x00\xff", bytearray(b"ab")] if protocol >= 5 else [b"\x00\xff"], protocol
    )
    assert load_pickle(path)[0] == b"\x00\xff"


def test_bytes_in_protocol_2_need_codecs_and_are_refused() -> None:
    # protocols 0-2 spell bytes as a call of _codecs.encode; strictness wins over bytes
    with pytest.raises(UnsafePickleError, match="'_codecs.encode'"):
        loads_pickle(pickle.dumps(b"ab", protocol=2), source="b.pickle")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_sets_load_in_every_protocol(tmp_path: Path, protocol: int) -> None:
    # protocols 0-3 spell a set as a call of builtins.set: the one global allowed
    obj = {0: {3, 1, 2}, 1: frozenset({9})}
    path = tmp_path / "sets.pickle"
    write_pickle(path, obj, protocol)
    assert load_pickle(path) == obj


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_reduce_to_os_system_is_refused_and_never_runs(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "past_transactions.pickle"
    write_pickle(path, {0: [1, Evil(marker)]}, protocol)
    with pytest.raises(UnsafePickleError) as exc:
        load_pickle(path)
    msg = str(exc.value)
    assert msg.startswith("past_transactions.pickle: refusing to load global")
    assert ".system'" in msg  # os.system pickles as posix.system / nt.system
    assert not marker.exists()


def test_hand_written_os_system_pickle_names_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "ground_truth.pickle"
    path.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(
        UnsafePickleError, match=r"ground_truth\.pickle: refusing to load global 'os\.system'"
    ):
        load_pickle(path)
    assert not marker.exists()


def test_custom_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "custom.pickle"
    write_pickle(path, [Custom()])
    with pytest.raises(UnsafePickleError, match=r"custom\.pickle: .*Custom'"):
        load_pickle(path)


@pytest.mark.parametrize(
    "obj",
    [np.arange(3), np.int64(5), eval, getattr, complex(1, 2), range(3), Path("x")],
    ids=["ndarray", "np.int64", "eval", "getattr", "complex", "range", "Path"],
)
def test_other_globals_are_refused(obj: object) -> None:
    with pytest.raises(UnsafePickleError, match="refusing to load global"):
        loads_pickle(pickle.dumps(obj, protocol=2), source="x.pickle")


def test_persistent_ids_are_refused() -> None:
    # PERSID opcode: "P<id>\n" then STOP
    with pytest.raises(UnsafePickleError, match="persistent id"):
        loads_pickle(b"Pabc\n.", source="p.pickle")


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (pickle.dumps({0: [1, 2, 3]})[:-4], "truncated"),
        (b"this is not a pickle at all", "garbage"),
        (b"\x80\x05\x95", "header only"),
        (b"", "empty"),
    ],
)
def test_truncated_or_garbage_is_a_data_error(tmp_path: Path, data: bytes, what: str) -> None:
    path = tmp_path / "broken.pickle"
    path.write_bytes(data)
    with pytest.raises(DataError, match=r"broken\.pickle") as exc:
        load_pickle(path)
    assert not isinstance(exc.value, UnsafePickleError), what


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_pickle(tmp_path / "nope.pickle")


def test_validate_dict_list_and_sets() -> None:
    assert validate_user_items({0: [5, 3], 1: (7,)}, "f") == {0: [5, 3], 1: [7]}
    assert validate_user_items([[5, 3], {9, 1}, frozenset()], "f") == {0: [5, 3], 1: [1, 9], 2: []}


@pytest.mark.parametrize(
    ("obj", "pattern"),
    [
        ("abc", "expected a dict or list"),
        ({"u0": [1]}, "user key 'u0' is not an int"),
        ({0: [1, "2"]}, "user 0: item id '2' is not an int"),
        ({0: [True]}, "item id True is not an int"),
        ({3: 17}, "user 3: expected a list/tuple/set"),
        ([[1], [2.5]], "user 1: item id 2.5"),
    ],
)
def test_validate_names_the_culprit(obj: object, pattern: str) -> None:
    with pytest.raises(DataError, match=f"^gt.pickle: .*{pattern}"):
        validate_user_items(obj, "gt.pickle")


def test_load_user_items(tmp_path: Path) -> None:
    path = tmp_path / "past_transactions.pickle"
    write_pickle(path, [[1, 2], [3]], protocol=2)
    assert load_user_items(path) == {0: [1, 2], 1: [3]}
