"""Small file helpers shared across artrec: atomic writes, checked JSON reads, plain names.

Every artefact artrec writes goes to a temporary file beside its target that is then
renamed into place, so an interrupted process never leaves a half-written file behind.

Every name that becomes a file or folder name (a feature set, an embedding, an index, a
run, a model) goes through :func:`check_name` first, so no name can point outside the
folder it is meant for.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from artrec.errors import DataError, LimitError, short_repr
from artrec.limits import MAX_JSON_BYTES, MAX_NAME_LENGTH, MAX_NESTING, check_structure

#: Characters a plain name may hold; the first must be a letter, a digit or ``_``.
NAME_CHARACTERS = "letters, digits and _ . + = @ - (ASCII)"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=@-]*")


def check_name(name: Any, *, what: str = "name") -> str:
    """Return ``name`` if it is a plain name that may become a file name; else raise.

    A plain name is 1 to :data:`~artrec.limits.MAX_NAME_LENGTH` characters of
    :data:`NAME_CHARACTERS`, starting with a letter, a digit or ``_`` (so never a hidden
    file or an option-like ``-x``), without ``..``. It can hold no path separator, so
    ``directory / name`` always stays inside ``directory``.

    Parameters
    ----------
    name
        The name to check.
    what
        What it names, for the message (``"embedding name"``, ``"index name"``, ...).

    Raises
    ------
    DataError
        Naming the value (quoted, bounded) and the rule it breaks.
    """
    if not isinstance(name, str):
        raise DataError(f"invalid {what} {short_repr(name)}: expected text")
    if not name:
        raise DataError(f"invalid {what}: empty")
    if len(name) > MAX_NAME_LENGTH:
        raise DataError(
            f"invalid {what} {short_repr(name, 40)}: {len(name)} characters, "
            f"at most {MAX_NAME_LENGTH}"
        )
    if "/" in name or "\\" in name:
        raise DataError(f"invalid {what} {short_repr(name)}: a plain name has no path separator")
    if ".." in name:
        raise DataError(f"invalid {what} {short_repr(name)}: a plain name holds no '..'")
    if not _NAME.fullmatch(name):
        raise DataError(
            f"invalid {what} {short_repr(name)}: use {NAME_CHARACTERS}, starting with a letter, "
            "a digit or _"
        )
    return name


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(f)`` on a temporary binary file, flush it to disk, then rename it to ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(data))


def write_json(path: str | Path, value: Any, *, indent: int | None = None) -> None:
    """Write ``value`` as JSON to ``path`` atomically (non-JSON values as their ``str``)."""
    atomic_write_bytes(path, json.dumps(value, indent=indent, default=str).encode("utf-8"))


def read_json(
    path: str | Path,
    *,
    label: str | None = None,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_NESTING,
) -> Any:
    """Read a JSON file; raise :class:`DataError` naming the file when it is missing or invalid.

    ``label`` names the file in messages (default: its full path); a missing file's message
    then also says which folder it was looked for in. A file larger than ``max_bytes`` or
    nested deeper than ``max_depth`` raises :class:`~artrec.errors.LimitError` before
    (size) or right after (depth) parsing.
    """
    path = Path(path)
    name = str(path) if label is None else label
    try:
        info = path.stat()
    except FileNotFoundError:
        where = "no such file" if label is None else f"missing from {path.parent}"
        raise DataError(f"{name}: {where}") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{name}: not a regular file")
    if info.st_size > max_bytes:
        raise LimitError(f"{name}: {info.st_size:,} bytes, more than the {max_bytes:,} allowed")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{name}: cannot read ({exc})") from None
    return parse_json(text, name, max_depth=max_depth)


def _utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json(text: str, source: str, *, max_depth: int = MAX_NESTING) -> Any:
    """Parse JSON ``text``; errors are :class:`DataError` naming ``source`` (never a traceback).

    Refuses invalid JSON (with line and column), numbers of more than 4300 digits, text
    that is not valid Unicode (a lone surrogate such as ``"\\ud800"``, which no file or
    database can store), and values nested deeper than ``max_depth``
    (:class:`~artrec.errors.LimitError`).
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise LimitError(f"{source}: nests deeper than {max_depth} levels") from None
    except ValueError:  # int() refuses numbers of more than 4300 digits
        raise DataError(f"{source}: a number has too many digits") from None
    check_structure(value, source, max_depth=max_depth)
    # a lone surrogate comes from a \u escape, or sits in the text itself (a str that was
    # never UTF-8, e.g. built in memory): ASCII text can hold neither
    literal = not text.isascii() and not _utf8_encodable(text)
    if "\\u" in text or literal:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end]
            raise DataError(
                f"{source}: holds text that is not valid Unicode (lone surrogate {bad!r})"
            ) from None
    return value
