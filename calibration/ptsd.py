"""The trauma layer's two free numbers (parameters/synapse.toml), each solved from one published anchor, in
the PTSD cohort of ``ketasim.trials.ptsd`` (CAPS-5 40 +- 10 with major depression; the SD an assumption).

``extinction_consolidation``: prolonged exposure against control conditions, Hedges g 1.08 after treatment
(Powers et al. 2010, Clin Psychol Rev 30:635-641; 13 trials, 675 patients). The virtual comparison: ten
weekly exposure sessions against none, both arms seen weekly (the same attention), the same patients,
CAPS-5 a week after the last session; g from the two arms' means and pooled SD. The course length and
the control are assumptions.

``pfc_extinction_exponent``: six ketamine infusions (0.5 mg/kg over 40 min, three a week for two weeks)
against midazolam at the same times, CAPS-5 11.88 points lower at week 2 (Feder A et al. 2021, Am J
Psychiatry 178:193-202; 15 and 15 patients), the same virtual patients in both arms, CAPS-5 on day 14.
Solved second, with the first in place (exposure plays no part in it).

Held out: Feder 2014 (one infusion, IES-R at 24 h), Powers 2010's follow-up effect size.

Reproduce:  PYTHONPATH=src python calibration/ptsd.py   (a few minutes; prints both values)
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

import ketasim as ks
from ketasim.parameters import default_parameters
from ketasim.trials.ptsd import caps5_course, exposure_course, ptsd_cohort

N = 1500
SEED = 20261207
POWERS_G = 1.08
FEDER_DIFFERENCE = -11.88


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """(mean a - mean b) / pooled SD, small-sample corrected."""
    na, nb = a.size, b.size
    sd = np.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    return float((a.mean() - b.mean()) / sd * (1 - 3 / (4 * (na + nb) - 9)))


def exposure_g(rate: float) -> float:
    params = default_parameters().replace(extinction_consolidation=rate)
    pop = ptsd_cohort(N, SEED, params=params)
    day = 7 * 9 + 7
    visits = ks.Regimen([ks.Session("clinic_visit", at=f"{7 * w} d") for w in range(10)])
    pe = caps5_course(exposure_course(10) + visits, pop, [day], params=params)["caps5"].to_numpy()
    control = caps5_course(visits, pop, [day], params=params)["caps5"].to_numpy()
    g = hedges_g(control, pe)
    print(f"  extinction_consolidation {rate:.4g}/h: CAPS-5 {pe.mean():.1f} vs {control.mean():.1f}, g {g:.2f}")
    return g


def feder_difference(exponent: float, rate: float) -> float:
    params = default_parameters().replace(extinction_consolidation=rate, pfc_extinction_exponent=exponent)
    pop = ptsd_cohort(N, SEED, params=params)
    times = [f"{d} d" for d in (0, 2, 4, 7, 9, 11)]
    ket = ks.Regimen([ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min", at=t) for t in times])
    mid = ks.Regimen([ks.Session("midazolam", at=t) for t in times])
    a = caps5_course(ket, pop, [0, 14], params=params).pivot(index="patient", columns="day", values="caps5")
    b = caps5_course(mid, pop, [0, 14], params=params).pivot(index="patient", columns="day", values="caps5")
    diff = float((a[14.0] - a[0.0]).mean() - (b[14.0] - b[0.0]).mean())
    print(f"  pfc_extinction_exponent {exponent:.4g}: CAPS-5 change {(a[14.0] - a[0.0]).mean():.1f} vs "
          f"{(b[14.0] - b[0.0]).mean():.1f} (difference {diff:.2f})")  # fmt: skip
    return diff


def main() -> None:
    rate = brentq(lambda r: exposure_g(r) - POWERS_G, 0.005, 2.0, xtol=1e-3)
    exponent = brentq(lambda k: feder_difference(k, rate) - FEDER_DIFFERENCE, 0.0, 20.0, xtol=1e-2)
    print(f"extinction_consolidation = {rate:.4g}")
    print(f"pfc_extinction_exponent = {exponent:.4g}")


if __name__ == "__main__":
    main()
