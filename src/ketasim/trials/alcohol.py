"""Drinking and its reduction: the course of depressive symptoms when drinking patients stop or cut down.

The classical observation (Brown & Schuckit 1988; Davidson 1995; Mandic-Gajic et al. 2015): many
alcohol-dependent patients are depressed on admission, and most of that depression clears within weeks of
abstinence. ``abstinence_course`` runs it on virtual patients: a population with a drinking habit
(``Patient(drinks_per_day=...)``) replaces a share of its drinks by ethanol-free alternatives from day 0
(1 = abstinence) and is rated on given days, on the MADRS and on the HAM-D17 (the scale of those studies,
read from the model's MADRS through the published crosswalk).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ketasim._internal.checks import days_list, is_number
from ketasim.dosing import Regimen, Session
from ketasim.errors import InputError
from ketasim.parameters import ParameterSet
from ketasim.patients import Population
from ketasim.simulation import simulate
from ketasim.trials.scales import true_score

__all__ = ["abstinence_course"]


def abstinence_course(
    population: Population,
    days: Sequence[float] = (0, 7, 14, 21, 28),
    *,
    share_replaced: float = 1.0,
    params: ParameterSet | None = None,
) -> pd.DataFrame:
    """One row per patient and rating day: ``patient``, ``day``, ``drinks_per_day`` (the habit before day
    0), ``madrs`` and ``hamd`` (noise-free ratings; the mood path fluctuates as usual) after the share
    ``share_replaced`` of every patient's drinks has been replaced by ethanol-free alternatives from day 0
    (1, the default, is abstinence)."""
    if not isinstance(population, Population):
        raise InputError("population", "must be a ketasim.Population", got=type(population).__name__)
    when = days_list(days)
    if not is_number(share_replaced) or not 0 < share_replaced <= 1:
        raise InputError("share_replaced", "must be a number within 0-1 (0 excluded)", got=repr(share_replaced))
    regimen = Regimen([Session("alcohol_alternative", at="0 h", intensity=share_replaced)])
    end = max(max(when), 1.0)
    res = simulate(regimen, population=population, duration=f"{end!r} d", output_step="1 h", outputs=["madrs"],
                   params=params)  # fmt: skip
    t = res.dataset["time"].values
    madrs = np.stack([np.interp(np.array(when) * 24.0, t, row) for row in res.dataset["madrs"].values])
    n = len(population.patients)
    return pd.DataFrame({
        "patient": np.repeat(np.arange(n), len(when)),
        "day": np.tile(when, n),
        "drinks_per_day": np.repeat([p.drinks_per_day for p in population.patients], len(when)),
        "madrs": madrs.ravel(),
        "hamd": true_score("hamd17", madrs.ravel()),
    })  # fmt: skip
