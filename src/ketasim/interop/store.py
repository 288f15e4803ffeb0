"""The results store: an embedded DuckDB file per project, with Parquet export and run provenance.

A run is written inside one transaction: an interrupted run (Ctrl-C, crash, kill) leaves no rows
behind, and readers never see a half-written run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ketasim._internal.files import atomic_path
from ketasim._internal.meta import VERSION
from ketasim._internal.optional import require
from ketasim._internal.signals import deferred_signals
from ketasim.errors import InputError, OutputError, StoreBusyError
from ketasim.trials import TrialResult

__all__ = ["DEFAULT_DB", "RunWriter", "Store", "list_runs", "load_run", "stored_scenario"]

DEFAULT_DB = "ketasim-runs.duckdb"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, created DOUBLE, ketasim_version VARCHAR, parameter_set VARCHAR,
    seed BIGINT, n_patients BIGINT, control VARCHAR, scenario VARCHAR, summary_json VARCHAR
);
CREATE TABLE IF NOT EXISTS endpoints (run_id VARCHAR, patient BIGINT, arm VARCHAR, name VARCHAR, value DOUBLE);
CREATE TABLE IF NOT EXISTS series (run_id VARCHAR, patient BIGINT, arm VARCHAR, time_h DOUBLE, madrs DOUBLE,
                                   synapse_density DOUBLE);
CREATE TABLE IF NOT EXISTS patients (run_id VARCHAR, patient BIGINT, arm VARCHAR, covariates_json VARCHAR);
"""


#: How long opening a store waits while another process holds it (seconds); KETASIM_STORE_WAIT overrides.
STORE_WAIT_S = 30.0


class Store:
    """``Store(path)`` opens (or creates) the DuckDB file; ``read_only=True`` opens an existing one for reading.

    DuckDB lets one process write a file at a time. While another process holds it, opening waits up to
    ``wait_s`` seconds (default ``STORE_WAIT_S``, or the ``KETASIM_STORE_WAIT`` environment variable),
    calling ``on_wait(message)`` once, then raises ``StoreBusyError`` naming the file and the holder.
    Reading opens the file read-only, so a store on a read-only file system can be listed and reported;
    a store that cannot be written (read-only file system, disk full) is an ``OutputError`` naming it.
    """

    def __init__(self, path: str | Path = DEFAULT_DB, *, read_only: bool = False, wait_s: float | None = None,
                 on_wait: Callable[[str], None] | None = None) -> None:  # fmt: skip
        duckdb = require("duckdb", "the results store")
        self.path = _store_path(path)
        self.read_only = read_only
        if read_only:
            _existing(self.path)
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(self.path, exc.strerror or str(exc)) from None
        self.con = _connect(duckdb, self.path, read_only, _wait_s(wait_s), on_wait)
        try:
            if read_only:
                tables = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
                if not set(_TABLES) <= tables:
                    raise InputError("db", "not a ketasim results store (no runs table)", got=str(self.path))
            else:
                self.con.execute(SCHEMA)
        except duckdb.Error as exc:
            self.con.close()
            raise OutputError(self.path, _duckdb_reason(exc)) from None
        except BaseException:
            self.con.close()
            raise

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin_run(self, run_id: str, seed: int, parameter_set: str, control: str, scenario_text: str,
                  patients: pd.DataFrame) -> RunWriter:  # fmt: skip
        """Open the run's transaction and write its patients (covariates and arm); see ``trials.RunStore``."""
        return RunWriter(self, run_id, seed, parameter_set, control, scenario_text, patients)

    def runs(self) -> pd.DataFrame:
        """One row per stored run; ``created`` as an ISO 8601 time (UTC, seconds)."""
        frame = self.con.execute(
            "SELECT run_id, created, ketasim_version, parameter_set, seed, n_patients, control "
            "FROM runs ORDER BY created"
        ).df()
        frame["created"] = pd.to_datetime(frame["created"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        return frame

    def load(self, run_id: str) -> TrialResult:
        """Re-build the TrialResult of a stored run without re-simulating."""
        row = self.con.execute("SELECT seed, control, summary_json FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            raise InputError("run_id", "no such run in the store (see `ketasim runs`)", got=run_id)
        long = self.con.execute("SELECT patient, arm, name, value FROM endpoints WHERE run_id = ?", [run_id]).df()
        ep = long.pivot_table(index=["patient", "arm"], columns="name", values="value", aggfunc="first").reset_index()
        ep.columns.name = None
        for col in ep.columns:
            if col.startswith(("response_", "remission_", "sbp_rise_ge_")) or col in (
                "relapsed",
                "responder_at_relapse_start",
            ):
                ep[col] = ep[col].astype(bool)
        series = self.con.execute(
            "SELECT patient, arm, time_h, madrs, synapse_density FROM series WHERE run_id = ?", [run_id]
        ).df()
        if "included" in ep:  # the analysis set, as the run summarised it
            series = series.merge(ep[["patient", "included"]], on="patient", how="left")
        design = json.loads(row[2] or "{}").get("design", {})  # runs stored before it was kept have none
        return TrialResult.from_tables(run_id, ep, series, row[1], int(row[0]), self._member_ratios(run_id),
                                       dose_times=design.get("dose_times_h") or {},
                                       remission_threshold=design.get("remission_threshold", 10.0))  # fmt: skip

    def scenario_text(self, run_id: str) -> str:
        """The scenario text the run was started from ("" for a run started from Python)."""
        row = self.con.execute("SELECT scenario FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            raise InputError("run_id", "no such run in the store (see `ketasim runs`)", got=run_id)
        return str(row[0] or "")

    def _member_ratios(self, run_id: str) -> np.ndarray | None:
        """The ensemble weights of a run's patients (a calibrated virtual population), else None."""
        pats = self.con.execute(
            "SELECT patient, covariates_json FROM patients WHERE run_id = ? ORDER BY patient", [run_id]
        ).fetchall()
        ratios = [json.loads(c).get("member_ratios") for _, c in pats]
        if not ratios or any(r is None for r in ratios):
            return None
        out = np.zeros((max(p for p, _ in pats) + 1, len(ratios[0])))
        out[[p for p, _ in pats]] = ratios
        return out

    def export_parquet(self, run_id: str, directory: str | Path) -> list[Path]:
        """Write the run's tables as Parquet files into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for table in _TABLES:  # the path never enters SQL (any file name works); each file appears whole
            p = out / f"{run_id}_{table}.parquet"
            frame = self.con.execute(f"SELECT * FROM {table} WHERE run_id = ?", [run_id]).df()
            with atomic_path(p) as tmp:
                frame.to_parquet(tmp, index=False)
            paths.append(p)
        return paths


_TABLES = ("runs", "endpoints", "series", "patients")


class RunWriter:
    """One run's open transaction: ``add`` each chunk, then ``commit`` the result or ``rollback``.

    The commit cannot be split by Ctrl-C or SIGTERM (they are held over it and raised after it), so a run
    is stored whole or not at all; ``rollback`` after a commit, or twice, does nothing. A write the disk
    refuses rolls the run back and raises ``OutputError`` naming the store.
    """

    def __init__(self, store: Store, run_id: str, seed: int, parameter_set: str, control: str, scenario_text: str,
                 patients: pd.DataFrame) -> None:  # fmt: skip

        self.store, self.run_id = store, run_id
        self.con = store.con
        self._meta = (
            run_id,
            time.time(),
            VERSION,
            parameter_set,
            int(seed),
            len(patients),
            control,
            scenario_text,
        )
        pats = patients.copy()
        pats["run_id"] = run_id
        pats["covariates_json"] = [json.dumps(r) for r in pats.drop(columns=["arm", "run_id"]).to_dict("records")]
        self._open = False
        with self._writing():
            self.con.execute("BEGIN TRANSACTION")
            self._open = True
            self.con.register("tmp_pat", pats[["run_id", "patient", "arm", "covariates_json"]])
            self.con.execute("INSERT INTO patients SELECT * FROM tmp_pat")
            self.con.unregister("tmp_pat")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        import duckdb

        try:
            yield
        except duckdb.Error as exc:
            self.rollback()
            raise OutputError(self.store.path, _duckdb_reason(exc)) from None

    def add(self, endpoints: pd.DataFrame, series: pd.DataFrame) -> None:
        long = endpoints.melt(id_vars=["patient", "arm"], var_name="name", value_name="value")
        long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(float)
        long.insert(0, "run_id", self.run_id)
        with self._writing():
            self.con.register("tmp_ep", long)
            self.con.execute("INSERT INTO endpoints SELECT run_id, patient, arm, name, value FROM tmp_ep")
            self.con.unregister("tmp_ep")
            if not series.empty:
                s = series.copy()
                s.insert(0, "run_id", self.run_id)
                self.con.register("tmp_s", s)
                self.con.execute(
                    "INSERT INTO series SELECT run_id, patient, arm, time_h, madrs, synapse_density FROM tmp_s"
                )
                self.con.unregister("tmp_s")

    def commit(self, result: TrialResult) -> None:
        summary = json.dumps(result.to_json())
        with deferred_signals(), self._writing():  # whole or not at all, and the caller learns which
            self.con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [*self._meta, summary])
            self.con.execute("COMMIT")
            self._open = False

    def rollback(self) -> None:
        if not self._open:
            return
        self._open = False
        with contextlib.suppress(Exception):  # a connection the disk broke may refuse even this
            self.con.execute("ROLLBACK")


def _store_path(path: str | Path) -> Path:
    if str(path).strip() in ("", "."):  # the command line reads --db '' as "."
        raise InputError("db", "must be a file name (an empty name would keep the runs in memory only)")
    p = Path(path)
    if p.is_dir():
        raise InputError("db", "is a folder; give the store's file name, e.g. runs.duckdb", got=str(p))
    return p


def _wait_s(wait_s: float | None) -> float:
    if wait_s is not None:
        return float(wait_s)
    env = os.environ.get("KETASIM_STORE_WAIT")
    if env is None:
        return STORE_WAIT_S
    try:
        value = float(env)
    except ValueError:
        raise InputError("KETASIM_STORE_WAIT", "must be a number of seconds >= 0", got=env) from None
    if not 0 <= value < 1e6:
        raise InputError("KETASIM_STORE_WAIT", "must be a number of seconds >= 0", got=env)
    return value


def _duckdb_reason(exc: BaseException) -> str:
    text = str(exc).split("\n")[0]
    for known in ("Read-only file system", "No space left on device", "Permission denied", "Disk quota exceeded"):
        if known in text:
            return known
    return text.removeprefix("IO Error: ")


def _connect(duckdb: Any, path: Path, read_only: bool, wait_s: float, on_wait: Callable[[str], None] | None) -> Any:
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            text = str(exc)
            if "Conflicting lock" not in text:
                if "not a valid DuckDB database" in text:
                    raise InputError("db", "not a DuckDB results store", got=str(path)) from None
                raise OutputError(path, _duckdb_reason(exc)) from None
            m = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", text)
            holder = f"PID {m[2]}, {Path(m[1]).name}" if m else "another process"
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"db: the results store {path} is in use by another process ({holder}); waited {wait_s:g} s. "
                    "Try again when it has finished, or give another --db"
                ) from None
            if on_wait is not None and not told:
                on_wait(f"the results store {path} is in use by another process ({holder}); "
                        f"waiting up to {wait_s:g} s")  # fmt: skip
                told = True
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.01)))


def _existing(path: str | Path) -> Path:
    """``path`` as a Path if a store file is there; reading must not create an empty store."""
    p = Path(path)
    if not p.exists():
        raise InputError("db", f"no results store at {p}")
    return p


def list_runs(path: str | Path = DEFAULT_DB, *, on_wait: Callable[[str], None] | None = None) -> pd.DataFrame:
    """The runs of the existing store at ``path`` (``Store.runs``); InputError ``db`` if there is none."""
    with Store(path, read_only=True, on_wait=on_wait) as store:
        return store.runs()


def stored_scenario(path: str | Path, run_id: str) -> str:
    """The scenario text run ``run_id`` of the existing store at ``path`` was started from ("" if none)."""
    with Store(path, read_only=True) as store:
        return store.scenario_text(run_id)


def load_run(path: str | Path, run_id: str, *, parquet: str | Path | None = None,
             on_wait: Callable[[str], None] | None = None) -> TrialResult:  # fmt: skip
    """The stored run ``run_id`` of the existing store at ``path``, re-built without re-simulating.

    ``parquet``: also export the run's tables as Parquet files into this folder (``Store.export_parquet``).
    InputError ``db`` if there is no store at ``path``, ``run_id`` if the run is not in it.
    """
    with Store(path, read_only=True, on_wait=on_wait) as store:
        result = store.load(run_id)
        if parquet is not None:
            store.export_parquet(run_id, parquet)
    return result
