"""Serotonin manipulation as a probe: the acute tryptophan depletion challenge.

The classical experiment (Delgado et al. 1990, 1999): patients treated until they respond drink a
tryptophan-free amino-acid mixture one day and a sham (the same drink with tryptophan) on another, and
are rated about 7 hours later, at the tryptophan nadir. ``depletion_challenge`` runs it on virtual
patients: ``regimen`` (e.g. a newly started oral antidepressant, a ketamine course, or nothing) from day 0,
the drink on day ``challenge_day``, ratings just before and ``rated_after`` later, on the HAM-D17 (the
scale of those studies, read from the model's MADRS through the published crosswalk) and the MADRS.
Relapse follows Delgado 1999: a HAM-D17 rise of at least 50% to 17 or more.

In the model serotonin matters only to an adapted serotonergic system (an SSRI taken for weeks): the
depletion removes the SSRI's relief while it lasts and touches nothing else. How large that is depends on
how much of an SSRI responder's recovery the model attributes to the drug itself; see the README.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketasim._internal.checks import whole_number
from ketasim.dosing import Regimen, Session
from ketasim.errors import InputError
from ketasim.parameters import ParameterSet
from ketasim.patients import Population
from ketasim.simulation import simulate
from ketasim.trials.scales import true_score
from ketasim.units import QuantityLike, parse_quantity

__all__ = ["depletion_challenge"]


def depletion_challenge(
    population: Population,
    regimen: Regimen | None = None,
    *,
    challenge_day: int = 84,
    rated_after: QuantityLike = "7 h",
    params: ParameterSet | None = None,
) -> pd.DataFrame:
    """One row per patient: ``madrs_start`` (day 0), ``madrs_before``, and after the depletion drink
    (``madrs_depleted``, ``hamd_before``, ``hamd_depleted``) and after the sham drink on a separate run
    (``madrs_sham``, ``hamd_sham``); ``responder`` (MADRS at least 50% below its start before the
    challenge) and ``relapse`` (HAM-D17 up by >= 50% to >= 17 after depletion). Noise-free ratings (the
    mood path fluctuates as usual), so the depletion and sham runs differ only by the drink."""
    if not isinstance(population, Population):
        raise InputError("population", "must be a ketasim.Population", got=type(population).__name__)
    reg = regimen if regimen is not None else Regimen([])
    if not isinstance(reg, Regimen):
        raise InputError("regimen", "must be a ketasim.Regimen or None", got=type(reg).__name__)
    whole_number(challenge_day, "challenge_day", 1, 700)
    after = parse_quantity(rated_after, "rated_after", "h", strictly_positive=True, maximum=48)
    t0 = 24.0 * challenge_day
    times = np.array([0.0, t0 - 1 / 60, t0 + after])

    def run(kind: str) -> np.ndarray:
        drink = Regimen([*reg.doses, *reg.sessions, Session(kind, at=f"{t0!r} h")])
        res = simulate(drink, population=population, duration=f"{t0 + after!r} h", output_step="1 h",
                       outputs=["madrs"], params=params)  # fmt: skip
        t = res.dataset["time"].values
        m = res.dataset["madrs"].values
        return np.stack([np.interp(x, t, row) for row in m for x in times]).reshape(len(m), 3)

    dep, sham = run("tryptophan_depletion"), run("sham_depletion")
    hamd = {k: true_score("hamd17", v) for k, v in (("before", dep[:, 1]), ("depleted", dep[:, 2]),
                                                     ("sham", sham[:, 2]))}  # fmt: skip
    out = pd.DataFrame({
        "patient": np.arange(len(dep)), "madrs_start": dep[:, 0], "madrs_before": dep[:, 1],
        "madrs_depleted": dep[:, 2], "madrs_sham": sham[:, 2], "hamd_before": hamd["before"],
        "hamd_depleted": hamd["depleted"], "hamd_sham": hamd["sham"],
    })  # fmt: skip
    out["responder"] = out["madrs_before"] <= 0.5 * out["madrs_start"]
    out["relapse"] = (out["hamd_depleted"] >= 1.5 * out["hamd_before"]) & (out["hamd_depleted"] >= 17)
    return out
