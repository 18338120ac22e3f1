"""One small local Ray instance for the tests that use Ray (a module-scoped fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """Ray on 2 CPUs with a 150 MiB object store, started unless one is running, and shut
    down after the module when started here."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=2,
            object_store_memory=150 * 2**20,
            include_dashboard=False,
            log_to_driver=False,
        )
    yield
    if started:
        ray.shutdown()
