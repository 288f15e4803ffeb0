"""Map a function over items on a Dask cluster: local worker processes, or an existing scheduler."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ketasim._internal.checks import whole_number
from ketasim._internal.optional import require
from ketasim._internal.signals import ignoring_interrupts

__all__ = ["map_ordered", "map_unordered"]

_T = TypeVar("_T")
_R = TypeVar("_R")


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """File descriptor 2 on /dev/null over the block (processes started in it keep it)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _local_cluster(dist: Any, n: int) -> Any:
    """``n`` local worker processes that leave Ctrl-C and SIGTERM to this process.

    A terminal's Ctrl-C reaches the whole process group; this process stops the workers and rolls the run
    back, and workers that took the interrupt too would only print tracebacks. A worker inherits the
    signal dispositions of the process that starts it: with the ``forkserver`` method that is the fork
    server, which is started here, for a few milliseconds, with both signals ignored -- and with its
    standard error on /dev/null, so that a worker still starting when the run is stopped dies quietly
    (what goes wrong in a chunk reaches this process as the chunk's exception, not on the workers' stderr).
    """
    from multiprocessing import forkserver

    import dask

    with ignoring_interrupts(), _stderr_to_devnull():
        forkserver.ensure_running()
    # set for the process, not for this call: the nanny also starts (and restarts) workers later, from its
    # own thread; a method the user chose is kept
    key = "distributed.worker.multiprocessing-method"
    if dask.config.get(key) == "spawn":
        dask.config.set({key: "forkserver"})
    # the workers log at CRITICAL only: what goes wrong in a chunk reaches this process as its exception
    cluster = dist.LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.CRITICAL
    )
    # the scheduler runs in this process and hooks a GC-pause timer into gc.callbacks; a Ctrl-C raised
    # inside that callback made it print "Exception ignored in ... _gc_callback" with a traceback beside
    # the one-line "interrupted" (seen under load). It only logs long GC pauses: switch it off here.
    require("distributed.gc", "running on Dask workers").disable_gc_diagnosis(force=True)
    return cluster


@contextmanager
def _client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    dist = require("dask.distributed", "running on Dask workers (--workers, --scheduler)")
    n = whole_number(workers, "workers", 1, 256) if scheduler is None else 0
    spec = getattr(getattr(dist, "deploy", None), "spec", None)
    before = set(getattr(getattr(spec, "SpecCluster", None), "_instances", ()))
    cluster = client = None
    try:
        if scheduler is None:
            cluster = _local_cluster(dist, n)
        client = dist.Client(cluster if cluster is not None else scheduler)
        with warnings.catch_warnings():
            # the chunks carry their patients and parameters; Dask's hint to load data on the workers
            # does not apply to a few MiB of inputs
            warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            yield client
    except KeyboardInterrupt:
        # stopping a cluster mid-flight (perhaps mid-start) makes its background tasks log tracebacks that
        # say nothing to the user; the interrupt itself is reported by the caller
        for name in ("distributed", "asyncio", "tornado"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        raise
    finally:
        for part in (client, cluster):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()
        # a cluster interrupted while it started is not ours to hold yet: close it now, not at exit
        started = getattr(getattr(spec, "SpecCluster", None), "_instances", None) or set()
        for other in set(started) - before - {cluster}:
            with contextlib.suppress(BaseException):
                other.close(timeout=5)
            started.discard(other)


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
