"""PTSD (issue 18 item 1): the fear memory and its extinction, exposure therapy inside and outside the
plasticity window, the reconsolidation switch, and CAPS-5 / PCL-5 scoring of the clusters."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.model.trauma import CLUSTERS
from ketasim.parameters import default_parameters
from ketasim.trials.ptsd import caps5_course, exposure_course, ptsd_cohort

P = default_parameters()
OUT = ["caps5", *(f"caps5_{c}" for c in CLUSTERS), "fear_expression", "extinction_memory", "plasticity_window"]


def _run(regimen: ks.Regimen, days: float = 21, patient: ks.Patient | None = None, **kw) -> ks.Result:
    return ks.simulate(regimen, patient or ks.Patient(ptsd_baseline=40), duration=f"{days} d", output_step="1 h",
                       fluctuation=False, outputs=OUT, **kw)  # fmt: skip


def _end(res: ks.Result, name: str) -> float:
    return float(res.dataset[name].values[0, -1])


def test_clusters_are_scored_like_the_caps5_and_hold_without_treatment():
    res = _run(ks.Regimen([]), days=7)
    ds = res.dataset
    total = sum(ds[f"caps5_{c}"].values for c in CLUSTERS)
    assert np.allclose(ds["caps5"].values, total)
    for cluster, items in CLUSTERS.items():  # the start split by item count: B 10, C 4, D 14, E 12 of 40
        assert ds[f"caps5_{cluster}"].values[0, 0] == pytest.approx(40 * items / 20, abs=1e-9)
    assert np.allclose(ds["caps5"].values, 40.0, atol=1e-6)  # untreated and noise-free: it stays
    none = _run(ks.protocols.get("zarate-2006-iv"), days=2, patient=ks.Patient())
    assert np.all(none.dataset["caps5"].values == 0)  # no PTSD, no fear memory, whatever is given


def test_one_exposure_session_consolidates_the_analytic_share():
    res = _run(ks.Regimen([ks.Session("exposure_therapy", at="1 d")]), days=4)
    # no drug: window efficacy = therapy_outside_window; the labile trace splits between consolidation and loss
    w = P.value("therapy_outside_window", "1")
    k, tau = P.value("extinction_consolidation", "1/h"), P.value("tau_extinction_labile", "h")
    share = k * w / (k * w + 1 / tau)
    gained = _end(res, "extinction_memory") - P.value("extinction_baseline", "1")
    assert gained == pytest.approx(share, rel=0.01)  # the slow return of fear costs < 1% over 3 days


def test_extinction_consolidates_more_inside_the_plasticity_window():
    infusions = ks.Regimen([ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min", at=f"{d} d") for d in (0, 7)])
    exposure = exposure_course(2, start="1 d")  # each session a day after an infusion, inside its window
    alone, inside, ketamine = _run(exposure), _run(infusions + exposure), _run(infusions)
    base = P.value("extinction_baseline", "1")
    assert _end(ketamine, "extinction_memory") == pytest.approx(base, abs=1e-9)  # no session, no extinction
    gain_alone = _end(alone, "extinction_memory") - base
    gain_inside = _end(inside, "extinction_memory") - base
    assert gain_inside > 1.5 * gain_alone > 0
    assert _end(inside, "caps5") < min(_end(alone, "caps5"), _end(ketamine, "caps5"))


def test_ketamine_alone_lowers_fear_through_synapse_regrowth():
    res = _run(ks.protocols.get("murrough-2013-six-infusions"), days=14)
    ds = res.dataset
    assert ds["fear_expression"].values[0, -1] < 0.85 * ds["fear_expression"].values[0, 0]
    assert ds["caps5_b"].values[0, -1] < ds["caps5_b"].values[0, 0]


def test_reconsolidation_switch_weakens_the_memory_itself():
    infusions = ks.Regimen([ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min", at=f"{d} d") for d in (0, 7)])
    reg = infusions + exposure_course(2, start="1 d")
    run = lambda on: ks.simulate(reg, ks.Patient(ptsd_baseline=40), duration="21 d", output_step="1 d",  # noqa: E731
                                 fluctuation=False, outputs=["fear_expression"],
                                 hypotheses=ks.Hypotheses(reconsolidation=on))  # fmt: skip
    off, on = run(False), run(True)
    assert on.dataset["fear_expression"].values[0, -1] < off.dataset["fear_expression"].values[0, -1]
    with pytest.raises(ks.InputError, match=r"hypotheses\.reconsolidation"):
        ks.Hypotheses(reconsolidation="yes")


def test_ptsd_inputs_and_cohort():
    with pytest.raises(ks.InputError, match="ptsd_baseline"):
        ks.Patient(ptsd_baseline=81)
    with pytest.raises(ks.InputError, match="sessions"):
        exposure_course(0)
    pop = ptsd_cohort(30, seed=4)
    base = np.array([p.ptsd_baseline for p in pop.patients])
    assert np.all((base >= 20) & (base <= 80)) and 30 < base.mean() < 50
    df = caps5_course(ks.Regimen([]), pop, [0, 7])
    assert np.allclose(df[df["day"] == 0]["caps5"].to_numpy(), base)
    assert pop.patients[0].random_effects["pfc_extinction_exponent"] != 1.0  # the traits vary between patients
