"""The results store: an embedded DuckDB file per project, with Parquet export and run provenance.

A run is written inside one transaction: an interrupted run (Ctrl-C, crash, kill) leaves no rows
behind, and readers never see a half-written run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ketasim._internal.files import atomic_path
from ketasim._internal.meta import VERSION
from ketasim._internal.optional import require
from ketasim.errors import InputError
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


class Store:
    """``Store(path)`` opens (or creates) the DuckDB file."""

    def __init__(self, path: str | Path = DEFAULT_DB) -> None:
        duckdb = require("duckdb", "the results store")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(self.path))
        self.con.execute(SCHEMA)

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
    """One run's open transaction: ``add`` each chunk, then ``commit`` the result or ``rollback``."""

    def __init__(self, store: Store, run_id: str, seed: int, parameter_set: str, control: str, scenario_text: str,
                 patients: pd.DataFrame) -> None:  # fmt: skip

        self.store, self.run_id = store, run_id
        self.con = store.con
        self.con.execute("BEGIN TRANSACTION")
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
        self.con.register("tmp_pat", pats[["run_id", "patient", "arm", "covariates_json"]])
        self.con.execute("INSERT INTO patients SELECT * FROM tmp_pat")
        self.con.unregister("tmp_pat")

    def add(self, endpoints: pd.DataFrame, series: pd.DataFrame) -> None:
        long = endpoints.melt(id_vars=["patient", "arm"], var_name="name", value_name="value")
        long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(float)
        long.insert(0, "run_id", self.run_id)
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
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [*self._meta, json.dumps(result.to_json())]
        )
        self.con.execute("COMMIT")

    def rollback(self) -> None:
        self.con.execute("ROLLBACK")


def _existing(path: str | Path) -> Path:
    """``path`` as a Path if a store file is there; reading must not create an empty store."""
    p = Path(path)
    if not p.exists():
        raise InputError("db", f"no results store at {p}")
    return p


def list_runs(path: str | Path = DEFAULT_DB) -> pd.DataFrame:
    """The runs of the existing store at ``path`` (``Store.runs``); InputError ``db`` if there is none."""
    with Store(_existing(path)) as store:
        return store.runs()


def stored_scenario(path: str | Path, run_id: str) -> str:
    """The scenario text run ``run_id`` of the existing store at ``path`` was started from ("" if none)."""
    with Store(_existing(path)) as store:
        return store.scenario_text(run_id)


def load_run(path: str | Path, run_id: str, *, parquet: str | Path | None = None) -> TrialResult:
    """The stored run ``run_id`` of the existing store at ``path``, re-built without re-simulating.

    ``parquet``: also export the run's tables as Parquet files into this folder (``Store.export_parquet``).
    InputError ``db`` if there is no store at ``path``, ``run_id`` if the run is not in it.
    """
    with Store(_existing(path)) as store:
        result = store.load(run_id)
        if parquet is not None:
            store.export_parquet(run_id, parquet)
    return result
