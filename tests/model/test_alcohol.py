"""Drinking as an input (issue 18 item 3): the adaptation to chronic ethanol and its decay with abstinence,
withdrawal, the depressive drive it carries, cross-tolerance to ketamine's dissociation, and abstinence as
an experiment on a population."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.parameters import default_parameters
from ketasim.patients import Population
from ketasim.trials.alcohol import abstinence_course

P = default_parameters()
TAU = P.value("tau_alcohol_adaptation", "h")
TAU_I = P.value("tau_alcohol_intake", "h")
OUT = ["madrs", "depressive_drive", "alcohol_adaptation", "alcohol_withdrawal", "cadss", "acute_signal"]


def _run(patient: ks.Patient, *items, days: float = 28, step: str = "1 h") -> ks.Result:
    return ks.simulate(ks.Regimen(list(items)), patient, duration=f"{days} d", output_step=step, fluctuation=False,
                       outputs=OUT)  # fmt: skip


def _series(res: ks.Result, name: str) -> np.ndarray:
    return res.dataset[name].values[0]


ABSTAIN = ks.Session("alcohol_alternative", at="0 h")


def test_a_non_drinker_is_untouched_by_drinking_inputs():
    plain = _run(ks.Patient())
    with_session = _run(ks.Patient(drinks_per_day=0), ABSTAIN)
    for name in ("madrs", "depressive_drive", "alcohol_adaptation"):
        assert np.array_equal(_series(plain, name), _series(with_session, name)), name
    assert np.all(_series(plain, "alcohol_adaptation") == 0)


def test_a_drinker_who_keeps_drinking_stays_as_he_presented():
    # the baseline MADRS is the score of the drinking patient: only a change of drinking moves it
    plain, drinker = _run(ks.Patient()), _run(ks.Patient(drinks_per_day=12))
    assert np.allclose(_series(drinker, "madrs"), _series(plain, "madrs"), atol=1e-6)
    assert np.allclose(_series(drinker, "alcohol_adaptation"), 12.0, rtol=1e-9)
    assert np.allclose(_series(drinker, "alcohol_withdrawal"), 0.0, atol=1e-9)


def test_abstinence_decays_the_adaptation_exponentially_and_withdrawal_comes_first():
    res = _run(ks.Patient(drinks_per_day=15), ABSTAIN)
    t = res.dataset["time"].values
    a = _series(res, "alcohol_adaptation")
    assert np.allclose(a, 15 * np.exp(-t / TAU), rtol=1e-4, atol=1e-6)  # analytic
    w = _series(res, "alcohol_withdrawal")  # adaptation minus recent intake, both exponential
    assert np.allclose(w, 15 * (np.exp(-t / TAU) - np.exp(-t / TAU_I)), rtol=1e-4, atol=1e-5)
    peak = t[np.argmax(w)]  # the withdrawal peak, analytic: ln(tau / tau_i) / (1/tau_i - 1/tau)
    assert peak == pytest.approx(np.log(TAU / TAU_I) / (1 / TAU_I - 1 / TAU), abs=1.0)


def test_abstinence_lowers_depressive_symptoms_over_weeks():
    res = _run(ks.Patient(drinks_per_day=15), ABSTAIN, step="1 d")
    m = _series(res, "madrs")
    assert m[0] == pytest.approx(32, abs=0.01)
    assert m[2] > m[0]  # withdrawal: the first days are worse
    assert m[28] < 12  # alcohol carried about half of this patient's drive: he recovers
    assert m[7] > m[28] + 10  # ... over weeks, not days (Brown & Schuckit 1988: largest fall by week 2)
    light = _series(_run(ks.Patient(drinks_per_day=3), ABSTAIN, step="1 d"), "madrs")
    assert m[28] < light[28] < light[0]  # a light drinker gains less from stopping


def test_halving_drinking_halves_the_adaptation():
    res = _run(ks.Patient(drinks_per_day=10), ks.Session("alcohol_alternative", at="2 d", intensity=0.5), days=40)
    t = res.dataset["time"].values
    a = _series(res, "alcohol_adaptation")
    expected = np.where(t < 48, 10.0, 5.0 + 5.0 * np.exp(-(t - 48) / TAU))
    assert np.allclose(a, expected, rtol=1e-4, atol=1e-6)


def test_starting_to_drink_is_a_step_that_builds_up():
    res = _run(ks.Patient(drinks_per_day=[(0, 0), ("7 d", 8)]))
    t = res.dataset["time"].values
    expected = np.where(t < 168, 0.0, 8 * (1 - np.exp(-(t - 168) / TAU)))
    assert np.allclose(_series(res, "alcohol_adaptation"), expected, rtol=1e-4, atol=1e-5)
    d = _series(res, "depressive_drive")
    assert d[-1] > d[0] * 1.3  # drinking adds to the drive


def test_heavy_drinking_blunts_dissociation_but_not_the_antidepressant_chain():
    reg = ks.protocols.get("zarate-2006-iv")
    run = lambda p: ks.simulate(reg, p, duration="1 d", output_step="5 min", fluctuation=False,  # noqa: E731
                                outputs=["cadss", "acute_signal", "expectancy"])  # fmt: skip
    naive, drinker = run(ks.Patient()), run(ks.Patient(drinks_per_day=10))
    c0, c1 = (_series(r, "cadss") for r in (naive, drinker))
    i = int(np.argmax(c0))
    # same effect-site concentration, EC50 x (1 + (tol - 1) * A / (half + A)) through the Hill curve
    emax, hill = P.value("cadss_emax", "1"), P.value("cadss_hill", "1")
    tol = 1 + (P.value("aud_dissociation_tolerance", "1") - 1) * 10 / (P.value("alcohol_tolerance_half", "1") + 10)
    x0 = c0[i] / (emax - c0[i])
    assert c1[i] == pytest.approx(emax * (x0 / tol**hill) / (1 + x0 / tol**hill), rel=1e-6)
    assert c1.max() < 0.8 * c0.max()
    for name in ("acute_signal", "expectancy"):  # the noticed effect is not blunted (Krystal 2003)
        # equal up to the solver (the drinking input is an infusion, so its steps differ)
        assert np.allclose(_series(naive, name), _series(drinker, name), rtol=1e-5, atol=1e-7), name
    # a history of use disorder and current drinking are one adaptation: the larger applies
    history = run(ks.Patient(alcohol_use_disorder=True))
    both = run(ks.Patient(alcohol_use_disorder=True, drinks_per_day=10))
    assert np.allclose(_series(both, "cadss"), _series(history, "cadss"), rtol=1e-12)


def test_bad_drinking_input_names_the_field():
    with pytest.raises(ks.InputError, match="drinks_per_day"):
        ks.Patient(drinks_per_day=-1)
    with pytest.raises(ks.InputError, match=r"drinks_per_day\[1\]\.level"):
        ks.Patient(drinks_per_day=[(0, 5), ("1 d", 41)])
    with pytest.raises(ks.InputError, match="intensity"):
        ks.Session("alcohol_alternative", intensity=0)
    pop = Population.sample(2, seed=1, cohort="healthy")
    with pytest.raises(ks.InputError, match="days"):
        abstinence_course(pop, days=["soon"])
    with pytest.raises(ks.InputError, match="share_replaced"):
        abstinence_course(pop, share_replaced=1.5)


def test_abstinence_course_on_a_population():
    pop = Population.sample(40, seed=3, cohort="mdd", drinks_per_day={"lognormal": [15, 0.5], "within": [0, 40]})
    assert all(0 < p.drinks_per_day <= 40 for p in pop.patients)
    assert pop.frame()["drinks_per_day"].tolist() == [p.drinks_per_day for p in pop.patients]
    df = abstinence_course(pop, days=(0, 28))
    assert len(df) == 80 and set(df["day"]) == {0.0, 28.0}
    wide = df.pivot(index="patient", columns="day", values="hamd")
    assert (wide[28.0] < wide[0.0]).mean() > 0.8  # most improve over four weeks of abstinence
    # patient i is the same patient alone and in the population
    alone = abstinence_course(Population(pop.patients[5:6]), days=(0, 28))
    assert np.allclose(alone["madrs"].to_numpy(), df[df["patient"] == 5]["madrs"].to_numpy(), rtol=1e-9)
