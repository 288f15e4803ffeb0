"""Trial jobs: run one at a time in a background thread, report progress, cancel between chunks.

One worker thread is deliberate: a trial already uses the whole process, and a second one beside it would
only slow both (and the page's single-patient updates). A client polls its job; finished jobs are kept
for ``KEEP`` seconds (and at most ``MAX_KEPT`` of them) so that an abandoned page cannot fill memory.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ketasim.errors import KetasimError
from ketasim.serve._service import Cancelled

__all__ = ["Job", "JobBusyError", "Jobs"]

log = logging.getLogger("ketasim.serve")

#: Seconds a finished job's result is kept for its client to collect.
KEEP = 600.0
#: Most finished jobs kept at once (the oldest go first).
MAX_KEPT = 20


class JobBusyError(Exception):
    """Another trial is running: the server runs one at a time."""


@dataclass
class Job:
    id: str
    state: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "done": self.done, "total": self.total,
                "progress": self.done / self.total if self.total else 0.0,
                "result": self.result, "error": self.error}  # fmt: skip


class Jobs:
    """The server's trial jobs."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, work: Callable[[Callable[[int, int], None], threading.Event], dict[str, Any]]) -> Job:
        """Start ``work(progress, cancel)`` in a thread, unless a job is already running."""
        with self._lock:
            self._prune()
            if any(j.state in ("queued", "running") for j in self._jobs.values()):
                raise JobBusyError()
            job = Job(uuid.uuid4().hex)
            self._jobs[job.id] = job

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        def run() -> None:
            job.state = "running"
            try:
                job.result = work(progress, job.cancel)
                job.state = "done"
            except Cancelled:
                job.state = "cancelled"
            except KetasimError as exc:  # a refusal the request checks could not foresee
                job.state, job.error = "failed", str(exc)
            except BaseException:  # logged here (an interrupt too: the job must not stay "running")
                log.exception("trial job %s failed", job.id)
                job.state, job.error = "failed", "the trial failed inside the server (see the server's log)"
            finally:
                job.finished_at = time.monotonic()

        try:
            threading.Thread(target=run, name=f"ketasim-trial-{job.id[:8]}", daemon=True).start()
        except BaseException:  # no thread: forget the job, or it would hold the one slot for good
            with self._lock:
                self._jobs.pop(job.id, None)
            raise
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        job = self.get(job_id)
        if job is not None and job.state in ("queued", "running"):
            job.cancel.set()
        return job

    def _prune(self) -> None:
        now = time.monotonic()
        finished = sorted((j for j in self._jobs.values() if j.finished_at is not None),
                          key=lambda j: j.finished_at or 0.0)  # fmt: skip
        keep = [j for j in finished if now - (j.finished_at or now) <= KEEP][-MAX_KEPT:]
        for j in finished:
            if j not in keep:
                del self._jobs[j.id]
