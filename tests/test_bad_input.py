"""Issue 15, "nothing lost, nothing silently wrong": regression tests for what a demanding user found.

Every bad value is refused with an ``InputError`` naming its field (never a TypeError, an AttributeError
or a ValueError from inside the package), every valid one is simulated, and every dose is delivered.
The property-based counterpart is ``tests/test_properties.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.engine import integrate
from ketasim.errors import IntegrationError
from ketasim.model import assemble, pk
from ketasim.parameters import default_parameters
from ketasim.units import TIME_RESOLUTION_H

MW_KETAMINE = 237.73  # g/mol, as parameters/pk.toml


def _delivered_mg(model, regimen, t_end, method="auto"):
    """Every PK amount, the eliminated sink included, at ``t_end``, per patient (mg of ketamine)."""
    boluses, infusions = model.events(regimen)
    y = integrate(model, model.initial(), boluses, infusions, np.array([0.0, t_end]), ks.SolverOptions(method=method))
    return y[: len(pk.STATES), :, -1].sum(axis=0) * MW_KETAMINE / 1e3


# ---------------------------------------------------------------- 2. summaries and delivery


def test_tmax_is_nan_when_the_first_dose_is_after_the_end_of_the_run():
    res = ks.simulate(ks.Regimen([ks.Dose("ketamine", "iv", "35 mg", at="2 d")]), duration="1 d", output_step="1 h")
    s = res.summary()
    assert np.isnan(s["tmax_h"])  # was -48 h
    assert s["cmax_ng_ml"] == 0.0 and np.isnan(s["madrs_24h"])


def test_tmax_counts_from_the_first_dose():
    reg = ks.Regimen([ks.Dose("ketamine", "iv", "35 mg", at="1 d", duration="40 min")])
    assert ks.simulate(reg, duration="2 d").summary()["tmax_h"] == pytest.approx(40 / 60, abs=1e-9)


@pytest.mark.parametrize(
    ("at_h", "duration_h"),
    [(8000.0, 1e-13), (8000.0, 3e-12), (0.0, 1e-300), (1.0, 1e-4), (8000.0, 1e-7), (5.0, TIME_RESOLUTION_H)],
)
@pytest.mark.parametrize("method", ["auto", "LSODA"])
def test_an_infusion_shorter_than_the_time_resolution_delivers_its_whole_dose(at_h, duration_h, method):
    """Found in issue 15: at 8,000 h an infusion of 1e-13 h has start == stop in floating point, and it
    delivered 0 mg without an error. Now mass delivered = dose, with the compiled engine and scipy."""
    model = assemble(default_parameters(), [ks.Patient(), ks.Patient(weight="90 kg")])
    reg = ks.Regimen(
        [
            ks.Dose("ketamine", "iv", "0.5 mg/kg", duration=f"{duration_h!r} h", at=f"{at_h!r} h"),
            # another infusion starting 0.7 ms later: its start is merged with the first one's
            ks.Dose("esketamine", "iv", "20 mg", duration=f"{duration_h!r} h", at=f"{at_h + 2e-7!r} h"),
        ]
    )
    np.testing.assert_allclose(_delivered_mg(model, reg, at_h + 1.0, method), [35 + 20, 45 + 20], rtol=1e-9)


def test_an_infusion_at_a_late_time_reaches_the_plasma():
    dose = ks.Dose("ketamine", "iv", "35 mg", duration="1e-13 h", at="8000 h")
    res = ks.simulate(ks.Regimen([dose]), duration="8001 h", output_step="1 h", outputs=["ketamine_plasma"])
    bolus = ks.simulate(ks.Regimen([ks.Dose("ketamine", "iv", "35 mg", at="8000 h")]), duration="8001 h",
                        output_step="1 h", outputs=["ketamine_plasma"])  # fmt: skip
    assert res.summary()["cmax_ng_ml"] == pytest.approx(bolus.summary()["cmax_ng_ml"], rel=1e-9)  # was 0


@pytest.mark.parametrize("times", [(0.0, 5e-324), (0.0, 1e-16), (8000.0, 8000.000000000001), (30.0, 30.0 + 1e-9)])
def test_doses_closer_than_the_time_resolution_are_given_together(times):
    """They stopped the solver ("step size fell below the floating-point resolution of time")."""
    reg = ks.Regimen.at_times(ks.Dose("ketamine", "iv", "35 mg"), [f"{t!r} h" for t in times])
    model = assemble(default_parameters(), [ks.Patient()])
    assert _delivered_mg(model, reg, times[0] + 1.0) == pytest.approx(70.0, rel=1e-12)


def test_a_short_session_is_given_whole():
    model = assemble(default_parameters(), [ks.Patient()])
    boluses, infusions = model.events(ks.Regimen([ks.Session("midazolam", at="8000 h", duration="1e-13 h")]))
    sedation = model.index["sedation"]
    assert not [i for i in infusions if i.state == sedation]
    assert [b.amount for b in boluses if b.state == sedation] == [pytest.approx(model.midazolam_sedation)]


# ---------------------------------------------------------------- 5. the solver's failure names the time


def test_a_solver_failure_names_the_patient_and_the_time():
    model = assemble(default_parameters(), [ks.Patient(), ks.Patient()])
    y0 = model.initial()
    y0[model.index["glutamate"], 1] = np.nan
    with pytest.raises(IntegrationError, match=r"^integration failed for patient 1 .* at 0 h: .*NaN"):
        integrate(model, y0, [], [], np.array([0.0, 1.0]))
    # a state that becomes infinite on the way: the interval between two output times where it did
    y0 = model.initial()
    boluses = [pk.Bolus(5.0, model.index["glutamate"], np.array([0.0, np.inf]))]
    with pytest.raises(IntegrationError, match=r"patient 1 .* between 4 h and 5 h"):
        integrate(model, y0, boluses, [], np.arange(0.0, 10.0))
