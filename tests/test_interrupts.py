"""Issue 15: interrupts. Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and SIGTERM
during `ketasim trial` stop the workers, roll the run back, print one line and exit 130 / 143; SIGKILL at
any moment leaves the store with no trace of the run; a signal during the commit cannot split it.

The trial runs in a subprocess in its own session, signalled a few seconds after its store appears
(the run then has well over ten seconds to go on 2 cores).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ketasim._internal.signals import Terminated, checkpoint, deferred_signals, interrupts_as_exceptions

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = str(ROOT / "examples" / "murrough2013_ketamine_vs_midazolam.toml")


def _interrupted_trial(tmp_path: Path, sig: int, *extra: str) -> tuple[int, str, list[int]]:
    db = tmp_path / "runs.duckdb"
    proc = subprocess.Popen([sys.executable, "-m", "ketasim.cli", "trial", SCENARIO, "--patients", "8000",
                             "--db", str(db), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not db.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.5)  # into the run (workers started, chunks under way)
    assert proc.poll() is None, "the trial ended before it could be interrupted"
    os.killpg(proc.pid, sig)  # the whole group, workers included, as a terminal's Ctrl-C
    _, err = proc.communicate(timeout=120)
    con = duckdb.connect(str(db), read_only=True)
    counts = [
        con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "endpoints", "series", "patients")
    ]
    con.close()
    return proc.returncode, err, counts


@pytest.mark.parametrize(
    ("sig", "extra", "code", "line"),
    [
        (signal.SIGINT, (), 130, "interrupted"),
        (signal.SIGINT, ("--workers", "2"), 130, "interrupted"),
        (signal.SIGTERM, ("--workers", "2"), 143, "terminated"),
    ],
    ids=["ctrl-c", "ctrl-c-workers", "sigterm-workers"],
)
def test_an_interrupted_trial_says_one_line_exits_and_leaves_no_run(tmp_path, sig, extra, code, line):
    rc, err, counts = _interrupted_trial(tmp_path, sig, *extra)
    assert rc == code, err
    assert [x for x in err.splitlines() if x.strip()] == [line], err  # no worker's traceback either
    assert counts == [0, 0, 0, 0]


def test_a_killed_trial_leaves_the_store_without_a_trace_of_the_run(tmp_path):
    rc, _, counts = _interrupted_trial(tmp_path, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert counts == [0, 0, 0, 0]  # the next open recovers the store without the uncommitted run


def test_a_signal_during_the_commit_is_raised_after_it_and_the_run_is_whole(tmp_path):
    import ketasim as ks
    from ketasim.interop.store import RunWriter, Store

    real_commit = RunWriter.commit

    class UnderFire:  # the connection, with Ctrl-C arriving just as the COMMIT starts
        def __init__(self, con: object) -> None:
            self.con = con

        def execute(self, sql: str, *args: object) -> object:
            if sql == "COMMIT":
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
            return self.con.execute(sql, *args)  # type: ignore[attr-defined]

    def commit_under_fire(self: RunWriter, result: object) -> None:
        self.con = UnderFire(self.con)  # type: ignore[assignment]
        real_commit(self, result)  # type: ignore[arg-type]

    pop = ks.Population.sample(6, seed=1, cohort="trd_prior")
    trial = ks.Trial({"a": ks.Regimen([])}, pop, duration="1 d", endpoints=ks.Endpoints.make(["1 d"]))
    RunWriter.commit = commit_under_fire  # type: ignore[method-assign]
    try:
        with interrupts_as_exceptions(), Store(tmp_path / "r.duckdb") as store, pytest.raises(KeyboardInterrupt):
            trial.run(seed=3, store=store)
    finally:
        RunWriter.commit = real_commit  # type: ignore[method-assign]
    with Store(tmp_path / "r.duckdb", read_only=True) as store:
        assert len(store.runs()) == 1  # committed whole; the interrupt came after, with no rollback error
        (run_id,) = store.runs()["run_id"]
        assert len(store.load(run_id).endpoints) == 6


def test_deferred_signals_hold_and_then_raise_the_first_signal():
    before = signal.getsignal(signal.SIGINT)
    with interrupts_as_exceptions() as received:
        done = []
        with pytest.raises(Terminated), deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            done.append(True)  # the block ran to its end
        assert done == [True] and received == [signal.SIGTERM]
    # outside: the handling before the block is back, and nothing received is left to raise
    assert signal.getsignal(signal.SIGINT) is before
    checkpoint()
