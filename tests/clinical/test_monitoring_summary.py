"""The monitoring lines that `ketasim simulate` adds to a run's summary."""

from __future__ import annotations

import pytest

import ketasim as ks
from ketasim.clinical import monitor
from ketasim.clinical.summary import MonitoringSummary, monitoring_summary


def test_one_flagged_and_one_unflagged_session():
    reg = ks.Regimen(
        [
            ks.Dose("ketamine", "iv", "0.05 mg/kg", duration="40 min"),
            ks.Dose("ketamine", "iv", "1.5 mg/kg", duration="10 min", at="24 h"),
        ]
    )
    res = ks.simulate(reg, duration="30 h", output_step="5 min")
    table = monitor(res)
    s = monitoring_summary(res)
    assert list(s.metrics) == ["discharge_h", "sessions_flagged"]
    assert s.metrics["sessions_flagged"] == 1 and isinstance(s.metrics["sessions_flagged"], int)
    assert s.metrics["discharge_h"] == float(table["discharge_h"].iloc[0]) >= 2.0
    high = table.iloc[1]
    assert high["cadss_peak"] > 20
    assert s.flags == (
        f"session at 24 h: peak CADSS {high['cadss_peak']:.1f}, SBP rise {high['sbp_rise_peak_mmhg']:.1f} mmHg",
    )


def test_esketamine_session_is_flagged_for_dissociation():
    s = monitoring_summary(ks.simulate("esketamine-84mg-single", duration="6 h", output_step="5 min"))
    assert s.metrics["sessions_flagged"] == 1
    assert s.metrics["discharge_h"] == pytest.approx(13 / 6)  # 2 h after the last device at 10 min
    assert len(s.flags) == 1 and s.flags[0].startswith("session at 0 h: peak CADSS ")


@pytest.mark.parametrize("name", ["psilocybin-25mg-single", "escitalopram-10mg-daily"])
def test_runs_without_ketamine_get_nothing(name):
    assert monitoring_summary(ks.simulate(name, duration="6 h")) == MonitoringSummary()
