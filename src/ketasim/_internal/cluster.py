"""Map a function over items on a Dask cluster: local worker processes, or an existing scheduler."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ketasim._internal.checks import whole_number
from ketasim._internal.optional import require

__all__ = ["map_ordered", "map_unordered"]

_T = TypeVar("_T")
_R = TypeVar("_R")


@contextmanager
def _client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    dist = require("dask.distributed", "running on Dask workers (--workers, --scheduler)")
    Client, LocalCluster = dist.Client, dist.LocalCluster
    cluster = None
    if scheduler is None:
        n = whole_number(workers, "workers", 1, 256)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster if cluster is not None else scheduler)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def map_unordered(fn: Callable[[_T], _R], items: Sequence[_T], workers: int | None = None,
                  scheduler: str | None = None) -> Iterator[_R]:  # fmt: skip
    """Yield ``fn(item)`` for every item as it completes, on ``workers`` local processes or on ``scheduler``.

    Results arrive in completion order; callers that need order carry an index in the result.
    """
    as_completed = require("dask.distributed", "running on Dask workers (--workers, --scheduler)").as_completed
    with _client(workers, scheduler) as client:
        for fut in as_completed(client.map(fn, items, pure=False)):
            yield fut.result()


def map_ordered(fn: Callable[[_T], _R], items: Sequence[_T], workers: int | None = None,
                scheduler: str | None = None) -> list[_R]:  # fmt: skip
    """``[fn(item) for item in items]`` computed on the cluster, in input order."""
    with _client(workers, scheduler) as client:
        return list(client.gather(client.map(fn, items, pure=False)))
