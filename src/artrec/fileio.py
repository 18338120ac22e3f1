"""Small file helpers shared across artrec: atomic writes and checked JSON reads.

Every artefact artrec writes goes to a temporary file beside its target that is then
renamed into place, so an interrupted process never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from artrec.errors import DataError


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


def read_json(path: str | Path, *, label: str | None = None) -> Any:
    """Read a JSON file; raise :class:`DataError` naming the file when it is missing or invalid.

    ``label`` names the file in messages (default: its full path); a missing file's message
    then also says which folder it was looked for in.
    """
    path = Path(path)
    name = str(path) if label is None else label
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = "no such file" if label is None else f"missing from {path.parent}"
        raise DataError(f"{name}: {where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{name}: cannot read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


#: Longest name accepted for something that becomes a file or folder name.
MAX_NAME_LENGTH = 100

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+=")


def check_name(name: str, *, what: str = "name") -> str:
    """Return ``name`` if it is a plain file name, else raise :class:`DataError`.

    A plain name is 1 to :data:`MAX_NAME_LENGTH` characters of ASCII letters, digits and
    ``. _ - + =``, does not start with a dot, and so can never be a path (no separators,
    no ``..``). Embeddings, indexes, runs and models are named this way.
    """
    if not isinstance(name, str) or not name:
        raise DataError(f"{what} must be a non-empty string")
    shown = name if len(name) <= 40 else name[:37] + "..."
    if len(name) > MAX_NAME_LENGTH:
        raise DataError(f"{what} {shown!r} is longer than {MAX_NAME_LENGTH} characters")
    if name.startswith(".") or not set(name) <= _NAME_CHARS:
        raise DataError(
            f"{what} {shown!r} is not a plain name: use letters, digits and . _ - + = "
            "(not starting with a dot)"
        )
    return name
