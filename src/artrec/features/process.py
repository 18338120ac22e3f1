"""Process settings for heavy batch work: the memory allocator and the OpenMP threads.

Feature extraction allocates and frees the same large buffers image after image and
batch after batch (decoded images, the planes of the hand-engineered features, a CNN's
activations). glibc's ``malloc`` hands blocks above its mmap threshold back to the kernel
when they are freed, so every image or batch touches fresh pages again: one page fault per
4 KiB, counted as system time. On 2 cores that was a fifth of the CPU time of the demo's
feature phase, and it slows the user time too. :func:`retain_freed_memory` makes freed
memory stay in the process for reuse; the memory held is at most the peak in use.

These settings belong to a process, not to a library call: the runner applies them in the
processes it starts (decoding workers, the side process of
:func:`artrec.features.api.extract_all`), and the command line and the demo apply them to
their own process. A Python caller can call these functions in its own process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

#: glibc ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4
#: Heap memory kept at the top before any is returned to the kernel.
TRIM_THRESHOLD = 1 << 30
#: Extra memory requested each time the heap grows.
TOP_PAD = 64 << 20

_applied = False


def retain_freed_memory() -> bool:
    """Keep freed memory in this process for reuse (glibc ``mallopt``), once per process.

    Every allocation then comes from the heap (no ``mmap`` per large block) and the heap
    is returned to the kernel only above :data:`TRIM_THRESHOLD` of free memory at its top.

    Returns
    -------
    bool
        Whether the allocator was configured (``False`` where the C library is not glibc).
    """
    global _applied
    if _applied:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = (
            libc.mallopt(_M_MMAP_MAX, 0)
            and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            and libc.mallopt(_M_TOP_PAD, TOP_PAD)
        )
    except (OSError, AttributeError):  # pragma: no cover - no usable libc
        return False
    _applied = bool(ok)
    return _applied


def openmp_environment(threads: int | None = None) -> dict[str, str]:
    """Set the OpenMP environment of threads that should not spin, before torch loads.

    OpenMP runtimes keep idle threads spinning for a while so the next parallel region
    starts sooner; on a machine whose cores are all busy (a CNN next to a side process,
    or other jobs) the spinning competes with the work. ``OMP_WAIT_POLICY=PASSIVE`` lets
    them sleep. Variables already set by the user are kept. Only takes effect in a process
    that has not loaded its OpenMP runtime yet (torch, numpy's OpenBLAS read them once).

    Parameters
    ----------
    threads
        Also set ``OMP_NUM_THREADS`` to this (``None``: leave it).

    Returns
    -------
    dict
        The variables this call set.
    """
    wanted = {"OMP_WAIT_POLICY": "PASSIVE"}
    if threads is not None:
        wanted["OMP_NUM_THREADS"] = str(max(1, int(threads)))
    changed = {}
    for name, value in wanted.items():
        if name not in os.environ:
            os.environ[name] = value
            changed[name] = value
    return changed
