"""The explorer's trial jobs (``serve._jobs``) with work that blocks until the test lets it go: one job at
a time, progress, cancelling between chunks, failures reported without a traceback, finished jobs pruned."""

from __future__ import annotations

import threading
import time

import pytest

from ketasim.errors import InputError
from ketasim.serve import _jobs
from ketasim.serve._jobs import JobBusyError, Jobs
from ketasim.serve._service import Cancelled


def _wait(jobs: Jobs, job_id: str, states: tuple[str, ...], timeout: float = 10.0) -> _jobs.Job:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = jobs.get(job_id)
        assert job is not None
        if job.state in states:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job never reached {states}")


def _blocking(release: threading.Event, chunks: int = 5):
    def work(progress, cancel):
        for i in range(chunks):
            release.wait(10)
            progress(i + 1, chunks)
            if cancel.is_set():
                raise Cancelled()
        return {"chunks": chunks}

    return work


def test_one_job_at_a_time_with_progress_and_result():
    jobs, release = Jobs(), threading.Event()
    job = jobs.start(_blocking(release))
    _wait(jobs, job.id, ("running",))
    with pytest.raises(JobBusyError):
        jobs.start(_blocking(release))
    release.set()
    done = _wait(jobs, job.id, ("done",))
    assert done.view()["progress"] == 1.0 and done.result == {"chunks": 5}
    second = jobs.start(_blocking(release))  # the slot is free again
    assert _wait(jobs, second.id, ("done",)).result == {"chunks": 5}


def test_cancel_stops_between_chunks():
    jobs, release = Jobs(), threading.Event()
    job = jobs.start(_blocking(release, chunks=100))
    _wait(jobs, job.id, ("running",))
    jobs.cancel(job.id)
    release.set()
    cancelled = _wait(jobs, job.id, ("cancelled",))
    assert cancelled.done < 100 and cancelled.result is None
    assert jobs.cancel("no-such-job") is None


def test_failures_are_reported_in_one_line():
    jobs = Jobs()

    def refused(progress, cancel):
        raise InputError("patients", "must be within 2-60")

    def broken(progress, cancel):
        raise ZeroDivisionError("deep inside")

    a = _wait(jobs, jobs.start(refused).id, ("failed",))
    assert a.error == "patients: must be within 2-60"
    b = _wait(jobs, jobs.start(broken).id, ("failed",))
    assert "inside the server" in (b.error or "") and "ZeroDivisionError" not in (b.error or "")


def test_finished_jobs_are_pruned(monkeypatch):
    monkeypatch.setattr(_jobs, "MAX_KEPT", 3)
    jobs, release = Jobs(), threading.Event()
    release.set()
    ids = []
    for _ in range(6):
        job = jobs.start(_blocking(release, chunks=1))
        _wait(jobs, job.id, ("done",))
        ids.append(job.id)
    last = jobs.start(_blocking(release, chunks=1))  # pruning happens when a job starts
    kept = [i for i in ids if jobs.get(i) is not None]
    assert kept == ids[-3:]
    _wait(jobs, last.id, ("done",))
    monkeypatch.setattr(_jobs, "KEEP", 0.0)  # results older than KEEP seconds go too
    time.sleep(0.01)
    jobs.start(_blocking(release, chunks=1))
    assert all(jobs.get(i) is None for i in [*ids, last.id])
