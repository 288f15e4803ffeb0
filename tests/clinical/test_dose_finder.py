"""Dose finding (dose_finder.py): the chosen dose is safe when re-simulated and the binding limit is real."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.clinical.dose_finder import DoseFinding, find_dose

PATIENT = ks.Patient()


def _peaks(finding: DoseFinding, dose: float | None = None) -> dict[str, np.ndarray]:
    """Re-simulate the finding's dose (or ``dose``) for PATIENT with ketasim.simulate."""
    reg = finding.regimen if dose is None else _at(finding, dose)
    return ks.simulate(reg, patient=PATIENT, duration="25 h", output_step="1 min").per_patient()


def _at(finding: DoseFinding, dose: float) -> ks.Regimen:
    return ks.Regimen(
        [ks.Dose(finding.drug, finding.route, f"{dose} {finding.unit}", duration=f"{finding.duration_h} h")]
    )


@pytest.fixture(scope="module")
def tight() -> DoseFinding:
    return find_dose(PATIENT, max_cadss=3.0)


@pytest.fixture(scope="module")
def loose() -> DoseFinding:
    return find_dose(PATIENT, max_cadss=None, max_sbp_rise=None)


def test_tight_cadss_limit_binds_and_holds_when_resimulated(tight):
    assert tight.binding == "cadss"
    assert tight.unit == "mg/kg" and 0.1 <= tight.dose < 1.5
    again = _peaks(tight)
    assert float(again["cadss_peak"][0]) <= 3.0
    assert float(again["sbp_change_peak_mmhg"][0]) <= 40.0
    assert tight.cadss_peak == pytest.approx(float(again["cadss_peak"][0]), rel=1e-9)
    # the limit really binds: a dose two tolerance steps higher breaks it
    above = _peaks(tight, dose=tight.dose + 0.01)
    assert float(above["cadss_peak"][0]) > 3.0
    improvement = float(again["madrs_baseline"][0] - again["madrs_24h"][0])
    assert tight.madrs_improvement == pytest.approx(improvement, rel=1e-9)


def test_loose_limits_give_a_higher_dose_consistent_with_the_grid(tight, loose):
    assert loose.dose > tight.dose
    assert loose.madrs_improvement >= tight.madrs_improvement
    best_on_grid = max(e.madrs_improvement for e in loose.grid if e.feasible)
    assert loose.madrs_improvement >= best_on_grid - 1e-6 * abs(best_on_grid)
    if loose.binding == "dose_range_upper":
        assert loose.dose == pytest.approx(1.5)
    else:  # an interior optimum: both neighbours on the grid are worse
        assert loose.binding is None and loose.dose < 1.5
        below = [e for e in loose.grid if e.dose < loose.dose]
        above = [e for e in loose.grid if e.dose > loose.dose]
        assert below and above
        assert max(below, key=lambda e: e.dose).madrs_improvement <= loose.madrs_improvement
        assert min(above, key=lambda e: e.dose).madrs_improvement <= loose.madrs_improvement
    table = loose.grid_table()
    assert {"dose", "madrs_improvement", "cadss_peak", "sbp_rise_peak", "feasible"} <= set(table.columns)
    assert table["dose"].is_monotonic_increasing
    assert loose.to_dict()["n_evaluated"] == len(loose.grid)


def test_sbp_limit_binds_for_a_pressure_sensitive_patient():
    sensitive = ks.Patient(random_effects={"sbp_emax": 15.0})
    f = find_dose(sensitive, max_cadss=None, max_sbp_rise="40 mmHg")
    assert f.binding == "sbp"
    s = ks.simulate(f.regimen, patient=sensitive, duration="25 h", output_step="1 min").per_patient()
    assert float(s["sbp_change_peak_mmhg"][0]) <= 40.0
    assert f.sbp_rise_peak == pytest.approx(float(s["sbp_change_peak_mmhg"][0]), rel=1e-9)


def test_population_percentile_limit_with_whole_nasal_devices():
    pop = ks.Population.sample(3, seed=7)
    f = find_dose(
        pop, drug="esketamine", route="intranasal", dose_range=("28 mg", "84 mg"), max_cadss=20.0, percentile=90
    )
    assert f.dose in (28.0, 56.0, 84.0) and f.unit == "mg" and f.n_patients == 3 and f.statistic == "p90"
    assert [e.dose for e in f.grid] == [28.0, 56.0, 84.0]
    s = ks.simulate(f.regimen, population=pop, duration="25 h", output_step="1 min").per_patient()
    assert float(np.percentile(s["cadss_peak"], 90)) <= 20.0
    bigger = [e for e in f.grid if e.dose > f.dose]
    if f.binding == "cadss":
        assert bigger and not bigger[0].feasible
    else:
        assert f.binding in ("dose_range_upper", None)


def test_infeasible_constraints_are_refused():
    with pytest.raises(ks.InputError) as err:
        find_dose(PATIENT, max_cadss=0.01)
    assert err.value.field == "constraints"
    assert "infeasible" in err.value.message and "max_cadss" in err.value.message


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_cadss": 0}, "max_cadss"),
        ({"max_cadss": -2.0}, "max_cadss"),
        ({"max_sbp_rise": 0}, "max_sbp_rise"),
        ({"max_sbp_rise": "-10 mmHg"}, "max_sbp_rise"),
        ({"dose_range": ("1.5 mg/kg", "0.1 mg/kg")}, "dose_range"),
        ({"dose_range": ("0.1 mg/kg", "50 mg")}, "dose_range"),
        ({"dose_range": ("0.1 mg/kg",)}, "dose_range"),
        ({"objective": "madrs_1y"}, "objective"),
        ({"percentile": 0}, "percentile"),
        ({"drug": "aspirin"}, "drug"),
        ({"tolerance": "1 mg"}, "tolerance"),
        ({"drug": "esketamine", "route": "intranasal", "dose_range": ("30 mg", "50 mg")}, "dose_range"),
    ],
)
def test_bad_inputs_are_refused(kwargs, field):
    with pytest.raises(ks.InputError) as err:
        find_dose(PATIENT, **kwargs)
    assert err.value.field == field


def test_bad_patient_is_refused():
    with pytest.raises(ks.InputError) as err:
        find_dose("someone")
    assert err.value.field == "patient_or_population"
