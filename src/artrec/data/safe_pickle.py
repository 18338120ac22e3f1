"""Reading pickle files without running code.

A pickle is a small program: loading one can import any module and call any function
(``os.system`` included). The notebook ships its purchase histories as pickles, so artrec
reads them with :class:`RestrictedUnpickler`, which refuses every global except the builtin
``set`` and ``frozenset`` types (which protocols 0-3 need to spell a set). Dicts, lists,
tuples, ints, floats, strings, booleans and ``None`` need no globals in any protocol (bytes
none from protocol 3 on; protocols 0-2 spell them as a call of ``_codecs.encode``, which
is refused), so everything the seed files legitimately hold loads, and nothing else does.

A pickle can also be a bomb without running code: a few bytes can nest lists thousands
deep, or share one list between a thousand users so that it reads as a million
purchases. :func:`loads_pickle` therefore refuses files over
:data:`~artrec.limits.MAX_PICKLE_BYTES`, nesting deeper than
:data:`~artrec.limits.MAX_NESTING`, reference cycles, and values that, counted with
repetition, outnumber the bytes of the file (see :func:`artrec.limits.check_structure`).
"""

from __future__ import annotations

import io
import pickle
import stat
from pathlib import Path
from typing import Any

from artrec.errors import DataError, LimitError, UnsafePickleError, short_repr
from artrec.limits import MAX_NESTING, MAX_PICKLE_BYTES, check_event_count, check_structure
from artrec.limits import max_events as max_events_limit

#: Item ids and user keys must fit a signed 64-bit integer.
_ID_RANGE = 1 << 63

#: The only globals a pickle may name: (module, name) pairs.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("__builtin__", "set"),  # protocol 0-2 pickles written by Python 2
        ("__builtin__", "frozenset"),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that loads only builtin containers, numbers and strings.

    Parameters
    ----------
    file
        A binary file object positioned at the start of the pickle.
    source
        Name used in error messages (usually the file name).
    """

    def __init__(self, file: io.BufferedIOBase | io.BytesIO, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return set if name == "set" else frozenset
        raise UnsafePickleError(
            f"{self.source}: refusing to load global {short_repr(f'{module}.{name}')}"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: refusing to load persistent id {short_repr(pid)}")


def load_pickle(path: str | Path, *, max_bytes: int = MAX_PICKLE_BYTES) -> Any:
    """Load a pickle file that may hold only builtin containers, numbers and strings.

    Parameters
    ----------
    path
        The ``.pickle`` file.
    max_bytes
        Largest file accepted (:class:`~artrec.errors.LimitError` beyond it).

    Returns
    -------
    Any
        The unpickled object (dicts, lists, tuples, sets, ints, floats, str, bytes, ...).

    Raises
    ------
    UnsafePickleError
        If the pickle names any global other than ``set``/``frozenset`` (a class, a
        function such as ``os.system``), naming the file and the refused global. Nothing
        named by the pickle is imported or called.
    DataError
        If the file is missing, truncated or not a pickle at all, or (as
        :class:`~artrec.errors.LimitError`) too large, too deeply nested or expanding
        through shared references.
    """
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{path}: not a regular file")
        if info.st_size > max_bytes:
            raise LimitError(f"{path}: {info.st_size:,} bytes, more than the {max_bytes:,} allowed")
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return loads_pickle(data, source=path.name)


def loads_pickle(data: bytes, *, source: str = "<bytes>", max_depth: int = MAX_NESTING) -> Any:
    """Like :func:`load_pickle`, for bytes already in memory; ``source`` names them in errors.

    The result is checked with :func:`artrec.limits.check_structure`: nested at most
    ``max_depth`` deep, free of reference cycles, and no larger (counted with repetition)
    than ``len(data)`` values.
    """
    if not data:
        raise DataError(f"{source}: empty file, not a pickle")
    try:
        value = RestrictedUnpickler(io.BytesIO(data), source).load()
    except UnsafePickleError:
        raise
    except RecursionError:
        raise LimitError(f"{source}: pickle nests too deeply") from None
    except MemoryError:
        raise LimitError(f"{source}: pickle needs more memory than is available") from None
    except Exception as exc:  # truncated / garbage input raises many different types
        raise DataError(
            f"{source}: not a valid pickle ({type(exc).__name__}: {short_repr(str(exc), 120)})"
        ) from None
    check_structure(value, source, max_depth=max_depth, max_values=len(data))
    return value


def validate_user_items(
    obj: Any, source: str, *, max_events: int | None = None
) -> dict[int, list[int]]:
    """Check the structure of a seed purchase file and return it as ``{user: [item, ...]}``.

    The notebook's ``past_transactions.pickle`` and ``ground_truth.pickle`` hold, for each
    user, the int artwork ids bought. Users are either the keys of a dict (ints) or the
    positions 0..n-1 of a list; each value is a list, tuple, set or frozenset of ints.

    Parameters
    ----------
    obj
        The unpickled object.
    source
        The file name, used in error messages.
    max_events
        Most purchases accepted in all (default :func:`artrec.limits.max_events`).

    Returns
    -------
    dict[int, list[int]]
        User index -> item ids. Lists and tuples keep their order; sets are sorted so the
        result is deterministic.

    Raises
    ------
    DataError
        Naming the file and the first user or value of the wrong type, or an id outside
        the signed 64-bit range.
    LimitError
        More than ``max_events`` purchases.
    """
    limit = max_events_limit(max_events)
    if isinstance(obj, dict):
        pairs = list(obj.items())
    elif isinstance(obj, (list, tuple)):
        pairs = list(enumerate(obj))
    else:
        raise DataError(
            f"{source}: expected a dict or list of per-user purchases, got {type(obj).__name__}"
        )
    out: dict[int, list[int]] = {}
    n_events = 0
    for user, items in pairs:
        if not _is_id(user):
            raise DataError(f"{source}: user key {short_repr(user)} is not an int id")
        if isinstance(items, (set, frozenset, list, tuple)):
            n_events += len(items)
            check_event_count(n_events, limit, source)
        if isinstance(items, (set, frozenset)):
            values = sorted(items, key=lambda v: (not _is_id(v), v if _is_id(v) else 0))
        elif isinstance(items, (list, tuple)):
            values = list(items)
        else:
            raise DataError(
                f"{source}: user {user}: expected a list/tuple/set of item ids, "
                f"got {type(items).__name__}"
            )
        for v in values:
            if not _is_id(v):
                raise DataError(f"{source}: user {user}: item id {short_repr(v)} is not an int id")
        out[int(user)] = [int(v) for v in values]
    return out


def _is_id(v: Any) -> bool:
    """An int (not a bool) in the signed 64-bit range."""
    return isinstance(v, int) and not isinstance(v, bool) and -_ID_RANGE <= v < _ID_RANGE


def load_user_items(path: str | Path, *, max_events: int | None = None) -> dict[int, list[int]]:
    """Load and validate a seed purchase pickle (see :func:`validate_user_items`)."""
    path = Path(path)
    return validate_user_items(load_pickle(path), path.name, max_events=max_events)
