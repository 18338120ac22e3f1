"""Batch recommendation on Ray: the chunks of :func:`~artrec.recommend.batch.recommend_all`
ranked by a pool of Ray actors.

:func:`ray_ranker` returns a :data:`~artrec.recommend.batch.ChunkRanker` for
``recommend_all(..., ranker=...)``. The run is otherwise the local one: the driver plans
the chunks, writes every ranking into the same memory-mapped run directory and marks the
chunk done, so a run can be resumed by either engine and the output equals the local
path's (each chunk is ranked by the same code on the same inputs; only the process
differs).

What travels: the source (a fitted recommender with its embedding, or an index candidate
recommender with its index and vectors) and the run's settings are put into the Ray object store once
(``ray.put``); every actor receives the same objects, and numpy arrays in the object store
are read without a copy by actors on the same node. Each job then carries only its chunk
of profiles. Chunks are handed to the actors as they become free
(``ray.util.ActorPool.map_unordered``), so users are split across actors and the driver
writes each result as it arrives.

``ray`` is an optional extra (``pip install 'artrec[ray]'``), imported only when a run
starts. See ``docs/scaling.md`` for a run on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from artrec.errors import DataError
from artrec.recommend.base import Ranking, Recommender
from artrec.recommend.batch import ChunkJob, ChunkRanker, RankSettings, rank_chunk


def import_ray() -> Any:
    """Import and return ``ray``, or raise :class:`~artrec.errors.MissingDependencyError`."""
    from artrec.features.ray_engine import import_ray as _import

    return _import()


class RankActor:
    """A Ray actor holding one source; ranks the chunks it is given."""

    def __init__(self, source: Recommender, settings: RankSettings) -> None:
        self.source = source
        self.settings = settings

    def rank(self, job: ChunkJob) -> tuple[int, Ranking]:
        """The ranking of ``job``'s chunk."""
        return job.chunk, rank_chunk(self.source, self.settings, job)


def ray_ranker(
    address: str | None = None,
    *,
    num_actors: int | None = None,
    num_cpus_per_actor: float = 1.0,
    init_options: Mapping[str, Any] | None = None,
) -> ChunkRanker:
    """A :data:`~artrec.recommend.batch.ChunkRanker` that ranks chunks on Ray actors.

    Parameters
    ----------
    address
        Ray cluster address (``"auto"``, ``"ray://head:10001"``, ...). ``None`` joins the
        Ray instance already initialised in this process, or starts a local one.
    num_actors
        Actors in the pool (default: the cluster's CPUs divided by ``num_cpus_per_actor``,
        at most one per chunk).
    num_cpus_per_actor
        CPUs Ray reserves for each actor.
    init_options
        Extra keyword arguments of ``ray.init`` when this call starts Ray (e.g.
        ``num_cpus``, ``object_store_memory``).
    """
    if num_actors is not None and num_actors < 1:
        raise DataError(f"num_actors must be >= 1, got {num_actors}")
    if num_cpus_per_actor <= 0:
        raise DataError(f"num_cpus_per_actor must be > 0, got {num_cpus_per_actor}")

    def rank(
        source: Recommender, settings: RankSettings, jobs: list[ChunkJob]
    ) -> Iterator[tuple[int, Ranking]]:
        if not jobs:
            return
        ray = import_ray()
        from ray.util import ActorPool

        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": False}
            ray.init(address=address, **{**options, **dict(init_options or {})})
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        size = num_actors or max(1, int(cpus // num_cpus_per_actor))
        size = min(size, len(jobs))
        source_ref = ray.put(source)
        settings_ref = ray.put(settings)
        actor_class = ray.remote(num_cpus=num_cpus_per_actor)(RankActor)
        actors = [actor_class.remote(source_ref, settings_ref) for _ in range(size)]
        try:
            pool = ActorPool(actors)
            yield from pool.map_unordered(lambda actor, job: actor.rank.remote(job), jobs)
        finally:
            for actor in actors:
                ray.kill(actor)

    return rank
