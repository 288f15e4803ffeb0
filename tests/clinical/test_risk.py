"""Risks of use (issue 18 item 5): a regimen's exposure, computed by hand, beside the reported evidence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import ketasim as ks
from _cli import cli
from ketasim.clinical.risk import exposure, risk_panel, risks
from ketasim.errors import InputError


def test_exposure_counts_sessions_weeks_and_milligrams():
    # esketamine induction: 56 mg, then 84 mg twice weekly for 4 weeks (days 0, 3, 7, ..., 24)
    e = exposure(ks.protocols.get("spravato-induction-84mg"))
    assert (e.sessions, e.max_sessions_per_week) == (8, 2)
    assert e.total_mg == pytest.approx(56 + 7 * 84)
    assert e.max_mg_per_week == pytest.approx(168) and e.mg_per_session_max == 84
    assert e.course_days == pytest.approx(24) and e.longest_infusion_h == 0
    # per-kg doses scale with weight; three infusions in the busiest week of Murrough's course
    light, heavy = (exposure(ks.protocols.get("murrough-2013-six-infusions"), w) for w in ("50 kg", "100 kg"))
    assert (light.total_mg, heavy.total_mg) == pytest.approx((6 * 25, 6 * 50))
    assert light.max_sessions_per_week == 3 and light.longest_infusion_h == pytest.approx(40 / 60)
    # a daily regimen has 7 sessions in its busiest week
    daily = ks.Regimen([ks.Dose("ketamine", "oral", "50 mg", at=f"{d} d") for d in range(14)])
    assert exposure(daily).max_sessions_per_week == 7 and exposure(daily).max_mg_per_week == pytest.approx(350)


def test_the_panel_sets_exposure_beside_the_reported_exposure_and_cites_it():
    panel = risk_panel(ks.protocols.get("spravato-induction-84mg"))
    rows = panel.rows.set_index("risk")
    assert len(rows) == len(risks()) == 4
    uro = rows.loc["urinary tract toxicity (ketamine uropathy, ulcerative cystitis)"]
    assert uro["ratio"] == pytest.approx(168 / 21000)  # 3 g/day in symptomatic recreational users
    assert "Garcia-Larrosa" in uro["reported_at"] and "BJU Int" in uro["sources"]
    assert rows.loc["cognitive effects (working and episodic memory)", "ratio"] == pytest.approx(2 / 7)
    assert math.isnan(rows.loc["misuse and dependence", "ratio"])  # no published threshold: no ratio
    for r in risks():
        assert r["level"] and r["evidence"] and r["citations"]
    # the acute part is the model's monitoring of every session
    assert panel.acute["sessions_simulated"] == 8
    assert 5 < panel.acute["cadss_peak_max"] < 40 and panel.acute["sbp_rise_peak_max_mmhg"] > 0
    assert "not a personal risk score" in panel.to_json()["note"]


def test_bad_input_names_the_field():
    with pytest.raises(InputError) as exc:
        exposure(ks.Regimen([ks.Session("saline", at="0 h")]))
    assert exc.value.field == "regimen" and "no ketamine" in str(exc.value)
    with pytest.raises(InputError) as exc:
        exposure(ks.protocols.get("zarate-2006-iv"), "5 kg")
    assert exc.value.field == "weight"
    with pytest.raises(InputError) as exc:
        risk_panel("zarate-2006-iv")
    assert exc.value.field == "regimen"


def test_cli_risk_prints_the_panel_and_json(capsys):
    code, out, err = cli(capsys, "risk", "murrough-2013-six-infusions", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["exposure"]["sessions"] == 6 and data["exposure"]["total_mg"] == pytest.approx(210)
    assert {r["risk"] for r in data["long_term"]} >= {"misuse and dependence", "drug-induced liver injury"}
    code, out, _ = cli(capsys, "risk", "murrough-2013-six-infusions")
    assert code == 0 and "not a personal risk score" in out
    code, _, err = cli(capsys, "risk", "no-such-protocol")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_the_trial_report_shows_each_arms_exposure(capsys, tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "murrough2013_ketamine_vs_midazolam.toml"
    code, out, err = cli(capsys, "trial", str(example), "--patients", "6", "--db", str(tmp_path / "r.duckdb"))
    assert code == 0, err
    assert "exposure per arm at 70 kg" in out and "ketasim risk" in out
