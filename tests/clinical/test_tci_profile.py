"""TCI helpers moved out of the CLI: profile parsing, schedule totals, deviation from the target."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.clinical.tci import parse_profile, tci_deviation_pct, tci_rates, tci_schedule, tci_totals
from ketasim.errors import InputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0:100,20min:250", [("0 h", 100.0), ("20min", 250.0)]),
        ("0:100", [("0 h", 100.0)]),
        ("0.5:80,1.25:120", [("0.5 h", 80.0), ("1.25 h", 120.0)]),
        ("0 min:1e2,1 h:250.5", [("0 min", 100.0), ("1 h", 250.5)]),
        (" 0 : 100 ", [(" 0  h", 100.0)]),  # kept as written; the unit parser reads " 0  h" as 0 h
    ],
)
def test_parse_profile_valid(text, expected):
    assert parse_profile(text) == expected


@pytest.mark.parametrize("text", ["", "0-100", "0:100,abc", "0:100,20min", "0:100ng/mL", "0:", "0:100,"])
def test_parse_profile_refuses_malformed_text_naming_the_field(text):
    with pytest.raises(InputError) as exc:
        parse_profile(text)
    assert exc.value.field == "profile"
    assert str(exc.value) == f"profile: expected 'time:conc,...' (got {text!r})"
    assert "\n" not in str(exc.value)


def test_parsed_profile_drives_tci_schedule():
    steps = parse_profile("0:100,20min:250")
    reg = tci_schedule(steps, ks.Patient(weight="70 kg"), duration="40 min", update_every="1 min")
    assert (
        reg.description
        == "TCI of ketamine, plasma target 100 ng/mL from 0 h, 250 ng/mL from 0.333333 h, for 0.666667 h"
    )
    rates = tci_rates(reg)
    # the step up at 20 min needs a new loading rate above the maintenance rate before it
    before = rates[rates["end_h"] <= 1 / 3 + 1e-9]["rate_mg_h"].iloc[-1]
    after = rates[rates["start_h"] >= 1 / 3 - 1e-9]["rate_mg_h"].iloc[0]
    assert after > 2 * before


def test_parsed_profile_values_are_checked_by_tci_schedule():
    with pytest.raises(InputError) as exc:
        tci_schedule(parse_profile("0:100,1:5000"), ks.Patient(), duration="2 h")
    assert exc.value.field == "target"


def test_tci_totals_counts_steps_and_sums_the_amount():
    reg = ks.Regimen(
        [
            ks.Dose("ketamine", "iv", "10 mg", duration="30 min"),
            ks.Dose("ketamine", "iv", "2.5 mg", duration="30 min", at="30 min"),
        ]
    )
    totals = tci_totals(tci_rates(reg))
    assert totals == {"steps": 2, "total_mg": 12.5}
    assert isinstance(totals["steps"], int) and isinstance(totals["total_mg"], float)


def test_tci_deviation_pct_is_small_when_the_target_is_held_and_large_against_a_wrong_target():
    patient = ks.Patient(weight="70 kg")
    reg = tci_schedule("150 ng/mL", patient, duration="1 h", update_every="1 min")
    res = ks.simulate(reg, patient, duration="1 h", output_step="1 min")
    dev = tci_deviation_pct(res, 150.0)
    assert 0.0 <= dev < 3.0
    c = res.dataset["ketamine_plasma"].values[0]
    t = res.dataset["time"].values
    assert dev == pytest.approx(float(np.max(np.abs(c[t > 0.25] / 150.0 - 1)) * 100))
    assert tci_deviation_pct(res, 300.0) == pytest.approx(50.0, abs=1.5)  # the plasma holds half of 300


def test_tci_deviation_pct_reads_esketamine_plasma_for_esketamine():
    patient = ks.Patient(weight="70 kg")
    reg = tci_schedule("100 ng/mL", patient, drug="esketamine", duration="1 h", update_every="1 min")
    res = ks.simulate(reg, patient, duration="1 h", output_step="1 min")
    assert tci_deviation_pct(res, 100.0, "esketamine") < 3.0
    assert tci_deviation_pct(res, 100.0, "Esketamine") == tci_deviation_pct(res, 100.0, ks.Drug.ESKETAMINE)


def test_a_step_with_more_than_one_colon_is_refused():
    with pytest.raises(InputError, match="profile"):
        parse_profile("0:100:3")
