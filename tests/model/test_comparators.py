"""Comparators and combinations: psilocybin, SSRIs, exercise, ketone bodies, psychotherapy sessions."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.dosing import Session
from ketasim.patients import Population
from ketasim.trials.resistance import enrich_trd, level1_regimen, level1_trial


def run(regimen: ks.Regimen, days: int, **patient) -> ks.Result:
    return ks.simulate(regimen, ks.Patient(**patient), duration=f"{days} d", output_step="2 h")


def at(res: ks.Result, var: str, days: float) -> float:
    return float(np.interp(days * 24, res.dataset["time"].values, res.dataset[var].values[0]))


@pytest.fixture(scope="module")
def untreated() -> ks.Result:
    return run(ks.Regimen([]), 56)


def test_psilocin_pk_reproduces_holze_2023():
    res = ks.simulate("psilocybin-25mg-single", ks.Patient(), duration="12 h", output_step="5 min")
    c = res.dataset["psilocin_plasma"].values[0]
    assert c.max() == pytest.approx(17, abs=1)  # mean Cmax 17 ng/mL (95% CI 16-19)
    assert res.dataset["time"].values[c.argmax()] == pytest.approx(2.0, abs=0.25)
    assert 0.6 < res.dataset["ht2a_occupancy"].values.max() < 0.8  # Madsen 2019: up to 72%


def test_escitalopram_reaches_80_percent_sert_occupancy_at_steady_state():
    res = ks.simulate("escitalopram-10mg-daily", ks.Patient(), duration="10 d", output_step="1 h")
    occ = res.dataset["sert_occupancy"].values[0]
    t = res.dataset["time"].values
    assert np.interp(6, t, occ) == pytest.approx(0.64, abs=0.03)  # single dose, Klein 2006
    assert np.interp(9 * 24 + 6, t, occ) == pytest.approx(0.815, abs=0.08)  # day 10, Klein 2007


def _effects(regimen: ks.Regimen, pop: Population, days: tuple[float, ...]) -> np.ndarray:
    """Mean MADRS improvement over the same patients left untreated (same mood paths), at ``days``."""

    def madrs(reg: ks.Regimen) -> np.ndarray:
        res = ks.simulate(reg, population=pop, duration="56 d", output_step="6 h", outputs=["madrs"])
        t = res.dataset["time"].values
        return np.array([[np.interp(d * 24, t, row) for d in days] for row in res.dataset["madrs"].values])

    return (madrs(ks.Regimen([])) - madrs(regimen)).mean(axis=0)


def test_ssri_acts_in_weeks_ketamine_in_hours():
    """A patient is a switch (see the symptom network), so effects are compared over a calibrated cohort."""
    pop = Population.sample(150, seed=11)
    ssri = _effects(ks.protocols.get("escitalopram-10mg-daily"), pop, (0.25, 3, 56))
    ket = _effects(ks.protocols.get("zarate-2006-iv"), pop, (0.25, 3, 56))
    assert abs(ssri[0]) < 0.1 and ssri[1] < 0.5  # nothing in the first days
    assert ssri[2] > 1.5  # separation over weeks
    assert ket[0] > 5.0  # ketamine: within hours


def test_biotypes_respond_differently_to_ketamine():
    """Depressions that look alike on the MADRS respond differently when synapse loss drives them less."""
    gain = {}
    for bt in ("monoaminergic", "synaptic"):
        pop = Population.sample(150, seed=11, biotype=bt)
        gain[bt] = _effects(ks.protocols.get("zarate-2006-iv"), pop, (1,))[0]
    assert gain["synaptic"] > 1.2 * gain["monoaminergic"] > 0


def test_ssri_trkb_hypothesis_is_a_switch():
    reg = ks.protocols.get("escitalopram-10mg-daily")
    off = ks.simulate(reg, ks.Patient(), duration="14 d", output_step="6 h")
    on = ks.simulate(reg, ks.Patient(), duration="14 d", output_step="6 h", hypotheses=ks.Hypotheses(ssri_trkb=True))
    assert on.dataset["trkb"].values.max() > off.dataset["trkb"].values.max() + 0.05


def test_psilocybin_synapse_gain_outlasts_ketamine(untreated):
    psi = run(ks.protocols.get("psilocybin-25mg-single"), 56)
    ket = run(ks.protocols.get("zarate-2006-iv"), 56)
    base = at(untreated, "synapse_density", 0)

    def gain(res: ks.Result, d: float) -> float:
        return at(res, "synapse_density", d) - base

    assert gain(psi, 28) > 2 * max(gain(ket, 28), 1e-4)
    assert gain(psi, 28) > 0.3 * max(gain(psi, d) for d in (2, 4, 7))  # still there a month later (Shao 2021)
    assert psi.dataset["plasticity_window"].values[0].max() > ket.dataset["plasticity_window"].values[0].max() - 0.2
    assert at(psi, "plasticity_window", 10) > 3 * at(ket, "plasticity_window", 10)  # 2 weeks vs 48 h (Nardou 2023)


def test_exercise_and_ketones_are_modest_chronic_inputs():
    pop = Population.sample(150, seed=11)
    bouts = ks.Regimen([Session("exercise", at=f"{d} d", duration="45 min", intensity=0.8) for d in range(0, 56, 2)])
    keto = ks.Regimen([Session("ketogenic_diet", at="0 d")])
    ket = _effects(ks.protocols.get("zarate-2006-iv"), pop, (1,))[0]
    for reg in (bouts, keto):
        early, day1, late = _effects(reg, pop, (0.25, 1, 56))
        assert 0.5 < late < 10.0  # a few points over eight weeks, on average
        assert early < 0.5  # nothing within hours
        assert ket > 3 * day1
    ex = run(bouts, 56)
    assert run(keto, 56).dataset["bhb_mm"].values[0, -1] == pytest.approx(1.5, rel=0.02)  # nutritional ketosis
    assert ex.dataset["exercise_training"].values[0, -1] > 0.1


def test_combinations_compose_in_one_regimen():
    ket = ks.protocols.get("zarate-2006-iv")
    therapy = ks.Regimen([Session("psychotherapy", at=f"{d} d") for d in (1, 8)])
    alone = run(ket, 14)
    combined = run(ket + therapy, 14)
    assert at(combined, "madrs", 14) < at(alone, "madrs", 14) - 1.0
    maintenance = ks.protocols.get("murrough-2013-six-infusions") + ks.Regimen(
        [Session("oral_antidepressant", at="0 d")]
    )
    res = run(maintenance, 21)
    assert res.dataset["sert_occupancy"].values[0, -1] > 0.7 and res.summary()["cadss_peak"] > 1


def test_star_d_level1_and_trd_enrichment():
    pop = Population.sample(60, seed=3, cohort="mdd")
    out = level1_trial(pop)
    assert 0.0 < out.remission_rate < 0.7
    trd = enrich_trd(10, seed=3)
    assert len(trd) == 10 and trd.cohort == "trd-enriched"
    assert len(level1_regimen(12).sessions) == 7  # the drug + 6 visits


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Session("exercise", intensity=-0.5), "intensity"),
        (lambda: Session("yoga"), "kind"),
        (lambda: ks.Dose("psilocybin", "iv", "25 mg"), "route"),
        (lambda: ks.Dose("lsd", "oral", "0.1 mg"), "drug"),
        (lambda: Session("exercise", daily_dose="10 mg"), "daily_dose"),
    ],
)
def test_bad_intervention_input_is_refused(make, field):
    with pytest.raises(ks.InputError, match=f"^{field}"):
        make()
