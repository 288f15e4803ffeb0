"""The size of antipsychotic augmentation, ``augmentation_max_relief`` (parameters/symptoms.toml), solved from
one trial: adjunctive aripiprazole vs placebo for 6 weeks in patients whose antidepressant had failed, MADRS
change -8.8 vs -5.8 (Berman RM et al. 2007, J Clin Psychiatry 68:843-853; 184 and 178 patients).

The virtual trial: the calibrated treatment-resistant cohort (``trd``; these trials recruited after a
prospective antidepressant phase failed), both arms on their ongoing antidepressant (part of their
baseline state) with weekly visits, one arm adding the antipsychotic on day 0; the
difference in mean MADRS change at 6 weeks is set to the published -3.0 by root-finding. Marcus 2008,
Berman 2009 and VAST-D (Mohamed 2017) are held out.

Reproduce:  PYTHONPATH=src python calibration/augmentation.py   (a few minutes; prints the value)
"""

from __future__ import annotations

from scipy.optimize import brentq

import ketasim as ks
from ketasim.parameters import default_parameters
from ketasim.patients import Population

PUBLISHED_DIFFERENCE = -8.8 - (-5.8)
N = 2000


def difference(relief: float) -> float:
    """Mean MADRS change at 6 weeks with the antipsychotic minus without it, over the same virtual patients
    (their true scores: rating noise has mean zero), so that no sampling noise moves the root."""
    params = default_parameters().replace(augmentation_max_relief=relief)
    visits = [ks.Session("clinic_visit", at=f"{w * 7} d") for w in range(7)]
    pop = Population.sample(N, 20261207, cohort="trd", params=params)
    change = {}
    for arm, extra in (("aripiprazole", [ks.Session("antipsychotic_augmentation", at="0 d")]), ("placebo", [])):
        res = ks.simulate(ks.Regimen([*visits, *extra]), population=pop, duration="42 d", output_step="42 d",
                          outputs=["madrs"], params=params)  # fmt: skip
        m = res.dataset["madrs"].values
        change[arm] = float((m[:, -1] - m[:, 0]).mean())
    diff = change["aripiprazole"] - change["placebo"]
    print(f"  augmentation_max_relief {relief:.4g}: MADRS change {change['aripiprazole']:.2f} vs "
          f"{change['placebo']:.2f} (difference {diff:.2f})")  # fmt: skip
    return diff


def main() -> None:
    relief = brentq(lambda r: difference(r) - PUBLISHED_DIFFERENCE, 0.0, 0.95, xtol=1e-3)
    print(f"augmentation_max_relief = {relief:.4g}")


if __name__ == "__main__":
    main()
