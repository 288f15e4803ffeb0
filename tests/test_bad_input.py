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
    return y[: pk.N, :, -1].sum(axis=0) * MW_KETAMINE / 1e3  # the amounts (not the arm levels)


# ---------------------------------------------------------------- 2. summaries and delivery


def test_tmax_is_nan_when_the_first_dose_is_after_the_end_of_the_run():
    res = ks.simulate(ks.Regimen([ks.Dose("ketamine", "iv", "35 mg", at="2 d")]), duration="1 d", output_step="1 h")
    s = res.summary()
    assert np.isnan(s["tmax_h"])  # was -48 h
    assert s["cmax_ng_ml"] == 0.0 and np.isnan(s["madrs_24h"])


def test_tmax_counts_from_the_first_dose():
    reg = ks.Regimen([ks.Dose("ketamine", "iv", "35 mg", at="1 d", duration="40 min")])
    assert ks.simulate(reg, duration="2 d").summary()["tmax_h"] == pytest.approx(40 / 60, abs=1e-9)
    # found by tests/test_properties.py: a bolus at 7.5e-121 h is given at 0 h (the time resolution), so
    # its peak came 7.5e-121 h "before" the first dose and Tmax was NaN
    reg = ks.Regimen([ks.Session("midazolam"), ks.Dose("ketamine", "iv", "35 mg", at="7.5e-121 h")])
    # the venous peak comes seconds after the bolus (the heart-lung transit): the first point of the
    # 1-min refined grid
    assert 0.0 <= ks.simulate(reg, duration="1 h").summary()["tmax_h"] <= 1 / 60 + 1e-12


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


# ---------------------------------------------------------------- 3. invalid values accepted, valid ones refused

KETAMINE = ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min")


def _refused(call, field):
    """``call`` raises an InputError whose field is ``field`` (and nothing else escapes)."""
    with pytest.raises(ks.InputError) as info:
        call()
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(f"{field}:")
    return info.value


def test_an_empty_output_step_is_refused_not_replaced_by_the_default():
    err = _refused(lambda: ks.simulate("zarate-2006-iv", duration="1 h", output_step=""), "output_step")
    assert "empty" in err.message


def test_a_run_shorter_than_the_default_output_step():
    res = ks.simulate("zarate-2006-iv", duration="30 s")  # the default 1 min step is clipped to the run
    np.testing.assert_allclose(res.dataset["time"].values, [0.0, 30 / 3600])
    assert res.summary()["cmax_ng_ml"] > 0
    _refused(lambda: ks.simulate("zarate-2006-iv", duration="30 s", output_step="1 min"), "output_step")
    _refused(lambda: ks.simulate("zarate-2006-iv", duration="1e-9 h"), "duration")  # below the resolution
    _refused(lambda: ks.simulate("zarate-2006-iv", duration="1 h", output_step="1e-9 h"), "output_step")


def test_an_unknown_random_effect_is_refused_naming_it_and_listing_the_known():
    patient = ks.Patient(random_effects={"ke0": 1.2, "keo": 1.5})  # a typo would silently change nothing
    err = _refused(lambda: ks.simulate("zarate-2006-iv", patient=patient, duration="1 h"), "random_effects[keo]")
    assert "'keo'" in err.message and "ke0" in err.message and "item_threshold_lassitude" in err.message
    ks.simulate("zarate-2006-iv", population=ks.Population.sample(3, seed=1), duration="1 h")  # drawn ones are known


def test_a_regimen_shifted_before_the_start_is_refused_not_dropped():
    reg = ks.Regimen([KETAMINE, ks.Session("midazolam", at="2 h")])
    err = _refused(lambda: reg.shifted("-1 h"), "by")
    assert "-1 h" in err.message
    assert [d.at_h for d in ks.Regimen([KETAMINE.shifted(2.0)]).shifted("-1 h")] == [1.0]
    _refused(lambda: KETAMINE.shifted(-0.5), "by")
    _refused(lambda: KETAMINE.shifted(float("nan")), "by")
    _refused(lambda: reg.shifted("1e9 h"), "by")
    _refused(lambda: ks.Regimen([ks.Session("midazolam", at="2 h")]).shifted("-3 h"), "by")


def test_randomisation_weights_are_bounded_and_never_materialised():
    pop = ks.Population.sample(4, seed=1, cohort="healthy")
    arms = {"a": ks.Regimen([KETAMINE]), "b": ks.Regimen([KETAMINE]).as_control("saline")}
    _refused(lambda: ks.Trial(arms, pop, duration="1 d", randomisation={"a": 10**9, "b": 1}), "randomisation.a")
    _refused(lambda: ks.Trial(arms, pop, duration="1 d", randomisation={"a": 2.5, "b": 1}), "randomisation.a")
    _refused(lambda: ks.Trial(arms, pop, duration="1 d", randomisation={"a": 0, "b": 1}), "randomisation.a")
    # an arm left out of the ratio got no patients, silently
    _refused(lambda: ks.Trial(arms, pop, duration="1 d", randomisation={"a": 1}), "randomisation.b")
    trial = ks.Trial(arms, pop, duration="1 d", randomisation={"a": 1000, "b": 1})
    assert len(trial.assignment(0)) == 4


def test_seeds_are_validated_before_anything_runs():
    pop = ks.Population.sample(2, seed=1, cohort="healthy")
    trial = ks.Trial({"a": ks.Regimen([KETAMINE])}, pop, duration="1 d")
    for seed in (2**63, -1, 1.5, True, "1"):
        _refused(lambda seed=seed: trial.run(seed), "seed")
        _refused(lambda seed=seed: trial.assignment(seed), "seed")
    _refused(lambda: ks.Population.sample(2, seed=2**63), "seed")
    assert ks.Population.sample(1, seed=2**63 - 1, cohort="healthy")[0].weight_kg > 0


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: ks.Dose("ketamine", "iv", float("nan")), "amount"),
        (lambda: ks.Dose("ketamine", "iv", "inf mg"), "amount"),
        (lambda: ks.Dose("ketamine", "iv", 10**400), "amount"),
        (lambda: ks.Dose("ketamine", "iv", "-0 mg"), "amount"),
        (lambda: ks.Dose("ketamine", "iv", "1e308 g"), "amount"),  # finite, and past the limit once in mg
        (lambda: ks.Dose("ketamine", "iv", "35 mg", at="1e300 week"), "at"),  # infinite once in hours
        (lambda: ks.Dose("ketamine", "iv", "35 mg", at=float("-inf")), "at"),
        (lambda: ks.Dose("ketamine", "iv", "35 mg", duration="nan min"), "duration"),
        (lambda: ks.Dose("ketamine", "iv", "35 mg", duration="-0 min"), "duration"),
        (lambda: ks.Session("midazolam", intensity=float("nan")), "intensity"),
        (lambda: ks.Session("midazolam", duration="1e400 s"), "duration"),
        (lambda: ks.Regimen.repeat(KETAMINE, every="1e300 h", count=2), "every"),
        (lambda: ks.Regimen.repeat(KETAMINE, every="30 d", count=1000), "count"),  # past 2 years
        (lambda: ks.Regimen.at_times(KETAMINE, ["1e9 h"]), "times[0]"),
        (lambda: ks.Patient(weight=float("nan")), "weight"),
        (lambda: ks.Patient(age=10**400), "age"),
        (lambda: ks.Patient(madrs_baseline=10**400), "madrs_baseline"),
        (lambda: ks.Patient(madrs_baseline=float("inf")), "madrs_baseline"),
        (lambda: ks.Patient(random_effects={"ke0": float("nan")}), "random_effects[ke0]"),
        (lambda: ks.Patient(random_effects={"ke0": 10**400}), "random_effects[ke0]"),
        (lambda: ks.Patient(random_effects={"ke0": 0.0}), "random_effects[ke0]"),
        (lambda: ks.Patient(psychotherapy=["1e9 h"]), "psychotherapy[0]"),
        (lambda: ks.Patient(stress_load=[("1e9 h", 1.0)]), "stress_load[0].time"),
    ],
)
def test_invalid_values_are_refused(call, field):
    _refused(call, field)


def test_negative_zero_is_read_as_zero():
    assert str(ks.Dose("ketamine", "iv", "35 mg", at=-0.0).at_h) == "0.0"
    assert str(ks.Dose("ketamine", "iv", "35 mg", at="-0 h").at_h) == "0.0"
    assert str(ks.Patient(symptom_profile=-0.0).symptom_profile) == "0.0"
    assert ks.Patient(weight="70000 g").weight_kg == 70.0  # any unit of the right dimension


# ---------------------------------------------------------------- 4. wrong types: InputError naming the field


def test_hypotheses_and_solver_options_are_checked():
    # "no" is truthy: the mechanism stayed silently on
    _refused(lambda: ks.Hypotheses(disinhibition="no"), "hypotheses.disinhibition")
    _refused(lambda: ks.Hypotheses(ssri_trkb=1), "hypotheses.ssri_trkb")
    _refused(lambda: ks.SolverOptions(atol=float("inf")), "solver.atol")  # no error control at all
    _refused(lambda: ks.SolverOptions(max_step_h=float("nan")), "solver.max_step_h")
    _refused(lambda: ks.SolverOptions(method=["BDF"]), "solver.method")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: ks.Dose("ketamine", "iv", [35]), "amount"),
        (lambda: ks.Dose("ketamine", "iv", b"35 mg"), "amount"),
        (lambda: ks.Dose("ketamine", "iv", "35 mg", duration={"min": 40}), "duration"),
        (lambda: ks.Dose(["ketamine"], "iv", "35 mg"), "drug"),
        (lambda: ks.Dose("ketamine", None, "35 mg"), "route"),
        (lambda: ks.Regimen(5), "doses"),
        (lambda: ks.Regimen("not doses"), "doses"),
        (lambda: ks.Regimen([KETAMINE], name=5), "name"),
        (lambda: ks.Regimen.repeat("a dose", every="1 d", count=2), "dose"),
        (lambda: ks.Regimen.daily(KETAMINE, days=1.5), "days"),
        (lambda: ks.Regimen.at_times("a dose", ["1 h"]), "dose"),
        (lambda: ks.Regimen.at_times(KETAMINE, 5), "times"),
        (lambda: ks.Regimen.at_times(KETAMINE, "1 h"), "times"),  # a string is not a list of times
        (lambda: ks.Regimen.at_times(KETAMINE, [None]), "times[0]"),
        (lambda: ks.Regimen.stepped_infusion("ketamine", 5), "steps"),
        (lambda: ks.Regimen.stepped_infusion("ketamine", []), "steps"),
        (lambda: ks.Regimen.stepped_infusion("ketamine", ["0.4 mg/kg/h"]), "steps[0]"),
        (lambda: ks.Regimen.stepped_infusion("ketamine", [("0.4 mg/kg/h",)]), "steps[0]"),
        (lambda: ks.Regimen.stepped_infusion("ketamine", [(None, "15 min")]), "steps[0].rate"),
        (lambda: ks.Regimen.stepped_infusion("ketamine", [("-0.4 mg/kg/h", "15 min")]), "steps[0].rate"),
        (lambda: ks.Regimen.stepped_infusion("ketamine", [("0.4 mg/kg", "15 min")]), "steps[0].rate"),
        (lambda: ks.Regimen.stepped_infusion("ketamine", [("0.4 mg/kg/h", [15])]), "steps[0].duration"),
        (lambda: ks.Regimen([]).as_control("bogus"), "kind"),
        (lambda: ks.Patient(weight=[70]), "weight"),
        (lambda: ks.Patient(sex=["male"]), "sex"),
        (lambda: ks.Patient(psychotherapy=5), "psychotherapy"),
        (lambda: ks.Patient(psychotherapy="1 h"), "psychotherapy"),
        (lambda: ks.Patient(random_effects=[("ke0", 2.0)]), "random_effects"),
        (lambda: ks.Patient(random_effects={1: 2.0}), "random_effects"),
        (lambda: ks.Patient(stress_load="1"), "stress_load"),
        (lambda: ks.Patient(stress_load=["1 h"]), "stress_load[0]"),
        (lambda: ks.Patient(noise_seed="1"), "noise_seed"),
        (lambda: ks.Patient(alcohol_use_disorder="yes"), "alcohol_use_disorder"),
        (lambda: ks.protocols.get(5), "protocol"),
        (lambda: ks.protocols.get(["zarate-2006-iv"]), "protocol"),
        (lambda: ks.protocols.get(None), "protocol"),
        (lambda: ks.simulate("zarate-2006-iv", outputs=5), "outputs"),
        (lambda: ks.simulate("zarate-2006-iv", outputs=[1]), "outputs"),
        (lambda: ks.simulate("zarate-2006-iv", outputs=["madrs", None]), "outputs"),
        (lambda: ks.simulate("zarate-2006-iv", population=5), "population"),
        (lambda: ks.simulate("zarate-2006-iv", population=[5]), "population"),
        (lambda: ks.simulate("zarate-2006-iv", solver="BDF"), "solver"),
        (lambda: ks.simulate("zarate-2006-iv", hypotheses={"disinhibition": False}), "hypotheses"),
        (lambda: ks.simulate("zarate-2006-iv", params={}), "params"),
        (lambda: ks.simulate("zarate-2006-iv", fluctuation="no"), "fluctuation"),
        (lambda: ks.simulate(5), "regimen"),
        (lambda: ks.simulate("zarate-2006-iv", layers=5), "layers"),
        (lambda: ks.simulate("zarate-2006-iv", layers=[]), "layers"),
        (lambda: ks.simulate("zarate-2006-iv", layers=["pk"]), "layers"),
        (lambda: ks.Population([5]), "patients[0]"),
        (lambda: ks.Population(5), "patients"),
        (lambda: ks.Endpoints.make(visits="24 h"), "visits"),
        (lambda: ks.Endpoints.make(sbp_threshold=float("nan")), "sbp_threshold"),
        (lambda: ks.Endpoints.make(rating_noise="no"), "rating_noise"),
    ],
)
def test_wrong_types_are_refused_naming_the_field(call, field):
    _refused(call, field)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"randomisation": [2, 1]}, "randomisation"),
        ({"randomisation": {"a": "2"}}, "randomisation.a"),
        ({"arms": [ks.Regimen([KETAMINE])]}, "arms"),
        ({"arms": {1: ks.Regimen([KETAMINE])}}, "arms"),
        ({"arms": {"a": KETAMINE}}, "arms.a"),
        ({"population": [ks.Patient()]}, "population"),
        ({"endpoints": {"visits": ["24 h"]}}, "endpoints"),
        ({"control": 5}, "control"),
        ({"hypotheses": None}, "hypotheses"),
        ({"solver": "BDF"}, "solver"),
        ({"duration": "28"}, "duration"),
        ({"series_step": "1e-9 h"}, "series_step"),
    ],
)
def test_wrong_trial_arguments_are_refused_naming_the_field(kwargs, field):
    base = {"arms": {"a": ks.Regimen([KETAMINE])}, "population": ks.Population.sample(2, seed=1, cohort="healthy"),
            "duration": "1 d"}  # fmt: skip
    _refused(lambda: ks.Trial(**{**base, **kwargs}), field)


def test_huge_requests_meet_a_clear_limit(monkeypatch):
    import ketasim._internal.checks as checks

    monkeypatch.setattr(checks, "memory_bytes", lambda: 16 * 2**30)  # the same answer on any machine
    err = _refused(lambda: ks.simulate("zarate-2006-iv", population=[ks.Patient()] * 10**6, output_step="1 min"),
                   "population")  # fmt: skip
    assert "8.0 GiB" in err.message and "outputs=" in err.message and "output_step" in err.message
    err = _refused(lambda: ks.simulate("zarate-2006-iv", duration="365 d", output_step="1 s"), "output_step")
    assert "outputs=" in err.message
    _refused(lambda: ks.Population.sample(10_000_000, seed=1), "n")
    trial = ks.Trial({"a": ks.Regimen([KETAMINE])}, ks.Population.sample(2, seed=1, cohort="healthy"),
                     duration="365 d", series_step="1 ms")  # fmt: skip
    _refused(lambda: trial.run(0), "series_step")
