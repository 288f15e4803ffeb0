"""Acute tryptophan depletion, a serotonin probe (issue 18 item 2): its time course, where it acts in the
chain, and the challenge experiment whose outcome depends on the patient's treatment history."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.parameters import default_parameters
from ketasim.patients import Population
from ketasim.trials.probes import depletion_challenge

P = default_parameters()


def _drink(kind: str = "tryptophan_depletion", extra=(), hours: float = 48) -> ks.Result:
    reg = ks.Regimen([*extra, ks.Session(kind, at="0 h")])
    return ks.simulate(reg, ks.Patient(), duration=f"{hours} h", output_step="10 min", fluctuation=False,
                       outputs=["tryptophan_depletion", "madrs", "depressive_drive"])  # fmt: skip


def test_depletion_follows_its_bateman_time_course():
    r = _drink()
    t = r.dataset["time"].values
    d = r.dataset["tryptophan_depletion"].values[0]
    ka, kr = P.value("atd_absorption", "1/h"), P.value("atd_recovery", "1/h")
    t_nadir = np.log(ka / kr) / (ka - kr)  # 6.1 h with the shipped rates: the measured 5-7 h
    assert t[np.argmax(d)] == pytest.approx(t_nadir, abs=1 / 6)
    assert d.max() == pytest.approx(P.value("atd_nadir_depletion", "1"), abs=1e-3)  # Delgado 1990: 87%
    # analytic: scale * ka / (ka - kr) * (exp(-kr t) - exp(-ka t))
    scale = P.value("atd_nadir_depletion", "1") / (ka / (ka - kr) * (np.exp(-kr * t_nadir) - np.exp(-ka * t_nadir)))
    expected = scale * ka / (ka - kr) * (np.exp(-kr * t) - np.exp(-ka * t))
    assert np.allclose(d, expected, atol=1e-5)
    assert d[np.searchsorted(t, 48.0)] < 0.03  # recovered within two days
    assert np.allclose(_drink("sham_depletion").dataset["tryptophan_depletion"].values, 0.0)


def test_depletion_acts_only_through_an_adapted_serotonergic_system():
    # untreated: the drink changes nothing in the chain (depression is not a lack of serotonin)
    untreated = _drink().dataset["depressive_drive"].values[0]
    sham = _drink("sham_depletion").dataset["depressive_drive"].values[0]
    assert np.allclose(untreated, sham, atol=1e-9)
    # after eight weeks on an SSRI the drive rises while tryptophan is low, by the SSRI's relief times it
    ssri = [ks.Session("oral_antidepressant", at="0 h")]
    t0 = 56 * 24
    reg = lambda kind: ks.Regimen([*ssri, ks.Session(kind, at=f"{t0} h")])  # noqa: E731
    out = {k: ks.simulate(reg(k), ks.Patient(), duration=f"{t0 + 12} h", output_step="10 min", fluctuation=False,
                          outputs=["depressive_drive", "serotonergic_adaptation", "tryptophan_depletion"])
           for k in ("tryptophan_depletion", "sham_depletion")}  # fmt: skip
    ds = {k: v.dataset for k, v in out.items()}
    i = int(np.argmax(ds["tryptophan_depletion"]["tryptophan_depletion"].values[0]))
    rise = (
        ds["tryptophan_depletion"]["depressive_drive"].values[0, i]
        - ds["sham_depletion"]["depressive_drive"].values[0, i]
    )
    assert rise > 0
    assert (
        abs(
            ds["tryptophan_depletion"]["depressive_drive"].values[0, 0]
            - ds["sham_depletion"]["depressive_drive"].values[0, 0]
        )
        < 1e-9
    )


def test_the_challenge_depends_on_treatment_history():
    pop = Population.sample(60, seed=4, cohort="mdd")
    ssri = depletion_challenge(pop, ks.Regimen([ks.Session("oral_antidepressant", at="0 d")]), challenge_day=56)
    none = depletion_challenge(pop, None, challenge_day=56)
    ketamine = depletion_challenge(pop, ks.protocols.get("murrough-2013-six-infusions"), challenge_day=14)
    effect = {name: (d["madrs_depleted"] - d["madrs_sham"]).to_numpy() for name, d in
              (("ssri", ssri), ("none", none), ("ketamine", ketamine))}  # fmt: skip
    assert effect["ssri"].mean() > 0.01  # worse on the depletion day than on the sham day, only on the SSRI
    # nothing else depends on serotonin: the runs differ only by the solver's steps around the drink
    assert np.allclose(effect["none"], 0, atol=1e-4) and np.allclose(effect["ketamine"], 0, atol=1e-4)
    assert set(ssri.columns) >= {"responder", "relapse", "hamd_before", "hamd_depleted", "hamd_sham"}


@pytest.mark.parametrize(("kwargs", "field"), [({"challenge_day": 0}, "challenge_day"),
                                               ({"rated_after": "3 d"}, "rated_after"),
                                               ({"regimen": "ssri"}, "regimen")])  # fmt: skip
def test_bad_challenge_input_names_the_field(kwargs, field):
    with pytest.raises(ks.InputError) as exc:
        depletion_challenge(Population.sample(2, seed=1), **kwargs)
    assert exc.value.field == field
