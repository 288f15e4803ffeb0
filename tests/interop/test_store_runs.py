"""Reading an existing results store: list its runs, load one (and export it as Parquet)."""

from __future__ import annotations

import pandas as pd
import pytest

import ketasim as ks
from ketasim.errors import InputError
from ketasim.interop.store import Store, list_runs, load_run
from ketasim.patients import Population
from ketasim.trials import Endpoints, Trial


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    db = tmp_path_factory.mktemp("store") / "runs.duckdb"
    z = ks.protocols.get("murrough-2013-single-infusion")
    trial = Trial(
        {"ketamine": z, "midazolam": z.as_control("midazolam")},
        Population.sample(6, seed=2),
        duration="1 d",
        endpoints=Endpoints.make(visits=["24 h"]),
    )
    with Store(db) as store:
        res = trial.run(seed=9, store=store, scenario_text="# test")
    return db, res


@pytest.mark.parametrize("call", [lambda p: list_runs(p), lambda p: load_run(p, "abc")])
def test_a_missing_store_is_refused_and_not_created(tmp_path, call):
    path = tmp_path / "none.duckdb"
    with pytest.raises(InputError) as exc:
        call(path)
    assert str(exc.value) == f"db: no results store at {path}"
    assert not path.exists()


def test_list_runs(stored):
    db, res = stored
    df = list_runs(str(db))
    assert isinstance(df, pd.DataFrame)
    assert df["run_id"].tolist() == [res.run_id]
    assert df["seed"].tolist() == [9]
    assert df["n_patients"].tolist() == [6]
    assert df["control"].tolist() == ["midazolam"]


def test_load_run_rebuilds_the_result(stored):
    db, res = stored
    loaded = load_run(db, res.run_id)
    assert (loaded.run_id, loaded.seed, loaded.control) == (res.run_id, 9, "midazolam")
    assert set(loaded.arms) == set(res.arms)
    for arm, d in res.arms.items():
        assert loaded.arms[arm]["n"]["estimate"] == d["n"]["estimate"]
        assert loaded.arms[arm]["madrs_change_24h"]["estimate"] == pytest.approx(d["madrs_change_24h"]["estimate"])


def test_load_run_exports_parquet(stored, tmp_path):
    db, res = stored
    out = tmp_path / "pq"
    load_run(db, res.run_id, parquet=out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{res.run_id}_{t}.parquet" for t in ("endpoints", "patients", "runs", "series"))
    assert len(pd.read_parquet(out / f"{res.run_id}_patients.parquet")) == 6


def test_load_run_refuses_an_unknown_run(stored):
    db, _ = stored
    with pytest.raises(InputError) as exc:
        load_run(db, "nope")
    assert exc.value.field == "run_id"


def test_parquet_export_takes_any_folder_name(stored, tmp_path):
    """Issue 14: a quote in the folder name went into the SQL text and gave a traceback."""
    db, res = stored
    out = tmp_path / "o'x; DROP TABLE runs"
    load_run(db, res.run_id, parquet=out)
    assert len(pd.read_parquet(out / f"{res.run_id}_endpoints.parquet")) > 0
    assert list_runs(db)["run_id"].tolist() == [res.run_id]


def test_runs_show_when_they_were_created_as_iso_time(stored):
    created = list_runs(stored[0])["created"].iloc[0]
    assert pd.Timestamp(created).year >= 2026 and created.endswith("Z")
