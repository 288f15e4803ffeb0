"""Treatment resistance by simulation: an adequate SSRI trial (STAR*D level 1) and its non-remitters.

``level1_trial`` simulates citalopram (mean exit dose 41.8 mg/day in STAR*D level 1, Trivedi 2006) for
up to 12 weeks with clinic visits, in an unselected ``mdd`` cohort; remission is MADRS <= 10 (STAR*D used
HAM-D17 <= 7 and QIDS-SR16 <= 5: 28% and 33% remitted). ``enrich_trd`` keeps the patients who did not
remit, the way TRD trials recruit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketasim._internal.checks import whole_number
from ketasim.dosing import Regimen, Session
from ketasim.errors import InputError
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Population
from ketasim.simulation import simulate

__all__ = ["Level1Result", "enrich_trd", "level1_regimen", "level1_trial"]

VISIT_WEEKS = (0, 2, 4, 6, 9, 12)  # STAR*D's measurement-based care visits (Trivedi 2006)


def level1_regimen(weeks: int = 12, daily_mg: float = 40.0) -> Regimen:
    """Daily citalopram plus the STAR*D visit schedule."""
    # Daily tablets as a steady oral input (the S-enantiomer is half of citalopram; Rausch 2004).
    drug = Session("oral_antidepressant", at="0 d", daily_dose=f"{daily_mg / 2} mg")
    visits = [Session("clinic_visit", at=f"{w * 7} d") for w in VISIT_WEEKS if w <= weeks]
    return Regimen([drug, *visits], name="star-d-level-1", source="Trivedi MH et al. 2006, Am J Psychiatry 163:28-40")


@dataclass(frozen=True)
class Level1Result:
    population: Population
    remitted: np.ndarray  # bool per patient (expected under rating noise > 0.5, see below)
    p_remission: np.ndarray  # probability of remission per patient under MADRS rating noise

    @property
    def remission_rate(self) -> float:
        return float(self.p_remission.mean())


def level1_trial(
    population: Population, *, weeks: int = 12, threshold: float = 10.0, params: ParameterSet | None = None
) -> Level1Result:
    """Simulate the level-1 SSRI trial for everyone; remission at the end under rating noise."""
    from scipy.stats import norm

    if not 2 <= weeks <= 26:
        raise InputError("weeks", "must be within 2-26", got=weeks)
    p = params or default_parameters()
    res = simulate(level1_regimen(weeks), population=population, duration=f"{weeks * 7} d", output_step="1 d", params=p)
    final = res.dataset["madrs"].values[:, -1]
    p_rem = norm.cdf((threshold - final) / p.value("rating_noise_sd"))
    return Level1Result(population, p_rem > 0.5, p_rem)


def enrich_trd(n: int, seed: int, *, weeks: int = 12, params: ParameterSet | None = None) -> Population:
    """A TRD cohort of ``n`` made STAR*D-style: MDD patients who did not remit on an adequate SSRI trial.

    Candidates are drawn in batches from the ``mdd`` cohort with the same seed, so the result is
    reproducible; their patient ids are the candidates' positions in that cohort.
    """
    whole_number(n, "n", 1, 100_000)
    kept: list = []
    size = max(2 * n, 20)
    while len(kept) < n:
        pool = Population.sample(size, seed, cohort="mdd", params=params)
        out = level1_trial(pool, weeks=weeks, params=params)
        kept = [pt for pt, r in zip(pool.patients, out.remitted, strict=True) if not r]
        size *= 2
    return Population(tuple(kept[:n]), seed, "trd-enriched")
