"""Electroconvulsive therapy (issue 18 item 4): each seizure induces BDNF for about a day, so a course drives
the plasticity chain; the acute cognitive effect adds up over a course and clears within about two weeks."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.parameters import default_parameters

P = default_parameters()
OUT = ["bdnf", "synaptic_protein", "synapse_density", "ect_cognitive_effect", "expectancy", "madrs"]


def _course(kind: str = "ect", count: int = 9, days: float = 35) -> ks.Result:
    times = [f"{d} d" for d in (0, 2, 4, 7, 9, 11, 14, 16, 18, 21, 23, 25)[:count]]
    reg = ks.Regimen([ks.Session(kind, at=t, duration="15 min") for t in times])
    return ks.simulate(reg, ks.Patient(), duration=f"{days} d", output_step="1 h", fluctuation=False, outputs=OUT)


def _at(res: ks.Result, name: str, day: float) -> float:
    t = res.dataset["time"].values
    return float(np.interp(day * 24.0, t, res.dataset[name].values[0]))


def test_an_ect_course_raises_plasticity_markers_more_than_its_anaesthesia():
    ect, sham = _course(), _course("midazolam")  # the same anaesthesia-like sessions without a seizure
    # the anaesthesia is noticed either way: expectancy is the same, so the difference is the seizure
    assert np.allclose(ect.dataset["expectancy"].values, sham.dataset["expectancy"].values, rtol=1e-5, atol=1e-8)
    for name in ("bdnf", "synaptic_protein", "synapse_density"):
        assert _at(ect, name, 19) > _at(sham, name, 19) + 1e-3, name
    assert _at(ect, "synapse_density", 19) - _at(ect, "synapse_density", 0) > 0.05
    assert _at(ect, "madrs", 21) < _at(sham, "madrs", 21) - 5
    # more treatments, more plasticity (hippocampal volume rises with the number of sessions, Oltedal 2018)
    short = _course(count=3)
    assert _at(ect, "synapse_density", 19) > _at(short, "synapse_density", 19)


def test_the_cognitive_effect_adds_up_and_clears_as_published():
    res = _course(days=40)
    t = res.dataset["time"].values
    times = np.array([0, 2, 4, 7, 9, 11, 14, 16, 18]) * 24.0
    tau = P.value("tau_ect_cognitive", "h")
    a = P.value("ect_cognitive_per_treatment", "1")
    expected = -a * sum(np.where(t >= tk, np.exp(-(t - tk) / tau), 0.0) for tk in times)
    assert np.allclose(res.dataset["ect_cognitive_effect"].values[0], expected, rtol=1e-5, atol=1e-7)
    peak = res.dataset["ect_cognitive_effect"].values[0].min()
    assert _at(res, "ect_cognitive_effect", 18 + 15) > 0.06 * peak  # none left 15 days after (Semkovska 2010)


def test_ect_protocols_are_listed_with_their_sources():
    assert len(ks.protocols.get("ect-3-weekly-9").sessions) == 9
    assert len(ks.protocols.get("ect-2-weekly-12").sessions) == 12
    with pytest.raises(ks.InputError, match="duration"):
        ks.Session("ect", duration="2 d")
