"""PTSD: a cohort with comorbid depression, exposure therapy courses, and CAPS-5 courses of virtual patients.

``ptsd_cohort`` draws patients with chronic PTSD (CAPS-5 about 40 before treatment, as in the large
psychotherapy trials: Schnurr 2022) and major depression (about half of people with PTSD have it:
Rytwinski 2013; the cohort is that half, since the model's depression is what ketamine acts on).
``exposure_course`` is a course of exposure sessions; ``caps5_course`` rates a population on the CAPS-5
(noise-free, the model's 20-symptom score) and the MADRS on given days of a regimen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ketasim._internal.checks import days_list, is_number, whole_number
from ketasim.dosing import Regimen, Session
from ketasim.errors import InputError
from ketasim.model import Hypotheses
from ketasim.parameters import ParameterSet
from ketasim.patients import Population
from ketasim.simulation import simulate

__all__ = ["caps5_course", "exposure_course", "ptsd_cohort"]

#: CAPS-5 before treatment in the cohort: mean and SD (the SD an assumption), within the scale.
CAPS5_BASELINE = (40.0, 10.0)


def ptsd_cohort(n: int, seed: int, *, params: ParameterSet | None = None) -> Population:
    """``n`` patients with PTSD (CAPS-5 normal(40, 10) within 20-80) and major depression (the ``mdd``
    cohort's depression), each from his own stream of ``seed``."""
    mean, sd = CAPS5_BASELINE
    return Population.sample(n, seed, cohort="mdd", params=params,
                             ptsd_baseline={"normal": [mean, sd], "within": [20, 80]})  # fmt: skip


def exposure_course(sessions: int = 10, every_days: float = 7.0, start: str = "0 d") -> Regimen:
    """``sessions`` exposure sessions (90 min) every ``every_days`` from ``start``: prolonged exposure is
    8-15 weekly sessions, written exposure therapy 5."""
    whole_number(sessions, "sessions", 1, 100)
    if not is_number(every_days) or not 0.5 <= every_days <= 60:
        raise InputError("every_days", "must be a number of days within 0.5-60", got=repr(every_days))
    first = Session("exposure_therapy", at=start).at_h
    return Regimen([Session("exposure_therapy", at=f"{first + 24.0 * every_days * i!r} h", duration="90 min")
                    for i in range(sessions)])  # fmt: skip


def caps5_course(
    regimen: Regimen,
    population: Population,
    days: Sequence[float],
    *,
    hypotheses: Hypotheses | None = None,
    params: ParameterSet | None = None,
) -> pd.DataFrame:
    """One row per patient and day: ``patient``, ``day``, ``caps5`` (0-80) and ``madrs`` under ``regimen``
    (noise-free ratings; the mood path fluctuates as usual). Day 0 is read just before anything given at
    time 0."""
    if not isinstance(population, Population):
        raise InputError("population", "must be a ketasim.Population", got=type(population).__name__)
    when = np.array(days_list(days))
    res = simulate(regimen, population=population, duration=f"{max(float(when.max()), 1.0)!r} d", output_step="1 h",
                   outputs=["caps5", "madrs"], hypotheses=hypotheses, params=params)  # fmt: skip
    t = res.dataset["time"].values
    # before anything given at time 0: the patient's own baselines
    before = {"caps5": np.array([p.ptsd_baseline for p in population.patients]),
              "madrs": res.dataset["madrs_pre_dose"].values}  # fmt: skip
    cols = {}
    for name in ("caps5", "madrs"):
        series = np.stack([np.interp(when * 24.0, t, row) for row in res.dataset[name].values])
        series[:, when == 0] = before[name][:, None]
        cols[name] = series.ravel()
    n = len(population.patients)
    return pd.DataFrame({"patient": np.repeat(np.arange(n), when.size), "day": np.tile(when, n), **cols})
