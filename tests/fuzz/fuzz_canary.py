"""A function that hostile fuzz inputs name; it must never be called.

The pickles of the fuzz suite name :func:`boom` (and ``os.system`` with a command that
would create :data:`MARKER`); :func:`fuzzing.no_code_ran` checks after every case that
neither happened.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

#: Arguments of every call of :func:`boom`.
CALLS: list[tuple[object, ...]] = []

#: A file only hostile code would create.
MARKER = Path(tempfile.gettempdir()) / f"artrec-fuzz-canary-{id(CALLS)}"


def boom(*args: object) -> None:
    CALLS.append(args)
    MARKER.touch()
