"""Post-dose monitoring: sessions, peaks, flags and discharge times (monitoring.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ketasim as ks
from ketasim.clinical.monitoring import (
    COLUMNS,
    SBP_THRESHOLD_MMHG,
    discharge_summary,
    monitor,
    sessions,
)

HIGH_SBP = ks.Patient(random_effects={"sbp_emax": 15.0})


@pytest.fixture(scope="module")
def esk84():
    """Typical and SBP-sensitive patient after one 84 mg esketamine session (one batched run)."""
    reg = ks.protocols.get("esketamine-84mg-single")
    res = ks.simulate(reg, population=[ks.Patient(), HIGH_SBP], duration="8 h", output_step="1 min")
    return reg, res


@pytest.fixture(scope="module")
def zarate():
    reg = ks.protocols.get("zarate-2006-iv")
    return reg, ks.simulate(reg, patient=ks.Patient(), duration="8 h", output_step="1 min")


def test_esketamine_single_session_discharge_after_two_hours(esk84):
    reg, res = esk84
    table = monitor(res, reg)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 2  # two patients, one session each
    typical = table.iloc[0]
    assert typical["drug"] == "esketamine" and typical["route"] == "intranasal" and typical["dose"] == "84 mg"
    assert typical["start_h"] == 0.0
    assert typical["discharge_h"] >= 2.0
    # the label's 2 h are counted from the last of three devices, 5 min apart
    assert typical["min_observation_h"] == pytest.approx(2.0 + 10 / 60)
    assert typical["discharge_h"] >= typical["min_observation_h"]


def test_high_sbp_sensitivity_is_flagged_and_discharged_later(esk84):
    reg, res = esk84
    table = monitor(res, reg)
    typical, high = table.iloc[0], table.iloc[1]
    assert high["sbp_rise_peak_mmhg"] >= SBP_THRESHOLD_MMHG
    assert bool(high["flag_sbp"]) and bool(high["flag"])
    assert high["hours_sbp_above"] > 0
    assert not bool(typical["flag_sbp"]) and typical["hours_sbp_above"] == 0.0
    assert high["discharge_h"] > typical["discharge_h"]
    assert high["discharge_limited_by"] == "sbp"
    # after discharge the SBP rise stays below the threshold until the end of the window
    t = res.dataset["time"].values
    sbp = res.dataset["sbp_change"].values[1]
    assert np.all(sbp[t > high["discharge_at_h"] + 1e-9] < SBP_THRESHOLD_MMHG)
    assert np.any(sbp[t < high["discharge_at_h"]] >= SBP_THRESHOLD_MMHG)
    s = discharge_summary(table)
    assert s["n_flag_sbp"] == 1 and s["n_patients"] == 2 and s["n_sessions"] == 2
    assert s["discharge_h_max"] == pytest.approx(high["discharge_h"])


def test_zarate_one_session_peak_matches_summary(zarate):
    reg, res = zarate
    table = monitor(res, reg)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["cadss_peak"] == pytest.approx(res.summary()["cadss_peak"], rel=1e-12)
    assert row["sbp_rise_peak_mmhg"] == pytest.approx(res.summary()["sbp_change_peak_mmhg"], rel=1e-12)
    assert row["administration_end_h"] == pytest.approx(40 / 60)
    # IV rule (assumption): 1 h after the end of the infusion, at least 2 h after the start
    assert row["min_observation_h"] == pytest.approx(2.0)
    assert row["discharge_h"] >= 2.0
    assert discharge_summary(table)["discharge_h"] == pytest.approx(row["discharge_h"])


def test_regimen_taken_from_the_result(zarate, esk84):
    for reg, res in (zarate, esk84):
        assert res.regimen is reg
        assert monitor(res).equals(monitor(res, reg))
    # an ad-hoc regimen (no protocol name) travels with its Result
    reg = ks.Regimen([ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min", at="1 h")])
    res = ks.simulate(reg, duration="5 h", output_step="5 min")
    got = monitor(res)
    assert got["start_h"].tolist() == [1.0]
    assert got["administration_end_h"].iloc[0] == pytest.approx(1 + 40 / 60, rel=1e-12)


def test_repeated_dosing_gives_one_row_per_session():
    reg = ks.protocols.get("spravato-induction-56mg")
    res = ks.simulate(reg, duration="28 d", output_step="15 min")
    table = monitor(res, reg)
    assert len(table) == 8
    assert table["session"].tolist() == list(range(8))
    assert table["start_h"].tolist() == pytest.approx([d.at_h for d in reg.doses])
    assert (table["discharge_h"] >= 2.0).all()
    assert (table["window_end_h"].iloc[:-1].to_numpy() == table["start_h"].iloc[1:].to_numpy()).all()
    assert discharge_summary(table)["n_sessions"] == 8


def test_devices_minutes_apart_form_one_session_and_visits_days_apart_do_not():
    reg = ks.Regimen(
        [
            ks.Dose("esketamine", "intranasal", "28 mg", at="0 min"),
            ks.Dose("esketamine", "intranasal", "28 mg", at="5 min"),
            ks.Dose("esketamine", "intranasal", "56 mg", at="3 d"),
            ks.Session("midazolam", at="5 d"),  # control sessions are not dosing sessions
        ]
    )
    got = sessions(reg)
    assert [len(s.doses) for s in got] == [2, 1]
    assert got[0].administration_end_h == pytest.approx(5 / 60)
    assert got[1].administration_end_h == pytest.approx(72 + 5 / 60)  # second device of the 56 mg dose


def test_threshold_overrides_and_diastolic_estimate(esk84):
    reg, res = esk84
    later = monitor(res, reg, min_observation_h="3 h")
    assert (later["discharge_h"] >= 3.0).all()
    default = monitor(res, reg)
    assert np.isnan(default["dbp_rise_peak_mmhg"]).all() and not default["flag_dbp"].any()
    assert not discharge_summary(default)["dbp_assessed"]
    dbp = monitor(res, reg, dbp_ratio=0.5, dbp_threshold="25 mmHg")
    assert dbp["dbp_rise_peak_mmhg"].to_numpy() == pytest.approx(0.5 * dbp["sbp_rise_peak_mmhg"].to_numpy())
    assert dbp["flag_dbp"].tolist() == [False, True]  # 0.5 x ~70 mmHg >= 25 mmHg
    assert discharge_summary(dbp)["n_flag_dbp"] == 1
    lenient = monitor(res, reg, cadss_threshold=50.0, sbp_threshold=100.0)
    assert not lenient["flag"].any()
    assert (lenient["discharge_limited_by"] == "observation").all()


def test_discharge_is_undetermined_when_the_window_ends_first():
    reg = ks.protocols.get("esketamine-84mg-single")
    res = ks.simulate(reg, duration="1 h", output_step="5 min")
    row = monitor(res, reg).iloc[0]
    assert math.isnan(row["discharge_h"]) and row["discharge_limited_by"] == "window"
    assert discharge_summary(monitor(res, reg))["n_undetermined"] == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sbp_threshold": -5}, "sbp_threshold"),
        ({"sbp_threshold": 0}, "sbp_threshold"),
        ({"sbp_threshold": "500 mmHg"}, "sbp_threshold"),
        ({"dbp_threshold": 0.0}, "dbp_threshold"),
        ({"cadss_threshold": 0}, "cadss_threshold"),
        ({"cadss_threshold": -1.0}, "cadss_threshold"),
        ({"cadss_threshold": 100}, "cadss_threshold"),
        ({"cadss_threshold": "four"}, "cadss_threshold"),
        ({"min_observation_h": 0}, "min_observation_h"),
        ({"dbp_ratio": 0}, "dbp_ratio"),
    ],
)
def test_bad_thresholds_are_refused(zarate, kwargs, field):
    reg, res = zarate
    with pytest.raises(ks.InputError) as err:
        monitor(res, reg, **kwargs)
    assert err.value.field == field
    assert "must be" in err.value.message  # names the allowed range


def test_bad_inputs_are_refused(zarate):
    reg, res = zarate
    with pytest.raises(ks.InputError) as err:
        monitor("not a result", reg)
    assert err.value.field == "result"
    with pytest.raises(ks.InputError) as err:
        monitor(res, "zarate")
    assert err.value.field == "regimen"
    with pytest.raises(ks.InputError) as err:
        discharge_summary({"discharge_h": 2})
    assert err.value.field == "table"
