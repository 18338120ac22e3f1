"""Process settings for batch work (artrec.features.process): freed memory is reused
instead of faulted in again, and OpenMP threads are told not to spin, without overriding
what the user set."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from artrec.features.process import openmp_environment

SRC = str(Path(__file__).resolve().parents[1] / "src")

# Allocate and fill a 64 MiB array 5 times; print the minor page faults of the last 4.
_FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] == "retain":
    from artrec.features.process import retain_freed_memory
    assert retain_freed_memory() and retain_freed_memory()  # once per process, idempotent
np.ones(8 << 20).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    np.ones(8 << 20).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_freed_memory_is_reused_not_faulted_in_again() -> None:
    default = _faults("default")
    # every new block is mapped afresh: at least one fault per 2 MiB (huge) page
    assert default >= 4 * (64 // 2)
    assert _faults("retain") * 10 <= default  # the freed block is reused


def test_openmp_environment_keeps_what_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    changed = openmp_environment(threads=1)
    assert changed == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and os.environ["OMP_NUM_THREADS"] == "3"
    assert openmp_environment() == {}  # already set: nothing changes
