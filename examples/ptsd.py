"""PTSD in virtual patients: ketamine against an active placebo, and exposure therapy with and without
ketamine's plasticity window.

    python examples/ptsd.py [N_PATIENTS]

The PTSD cohort (CAPS-5 40 +- 10, with major depression; ``ketasim.trials.ptsd``) is given, the same
virtual patients in every arm:
  1. six ketamine infusions over two weeks, or midazolam at the same times (Feder 2021's design; its
     CAPS-5 difference at week 2 set how strongly extinction retrieval follows synapse regrowth);
  2. ten weekly sessions of prolonged exposure alone, the same after six ketamine infusions whose first
     sessions fall a day after an infusion (inside the window), and the same under the reconsolidation
     hypothesis (retrieval inside the window weakens the trauma memory itself).
CAPS-5 is shown at weeks 2, 10 and 36: exposure gains consolidated inside the window are larger, and
under reconsolidation they return less. The model's acute (24-h) effect of one infusion on PTSD is
small, unlike Feder 2014 (a held-out row that fails): in the model PTSD relief needs synapse regrowth.
"""

from __future__ import annotations

import sys

import ketasim as ks
from ketasim.trials.ptsd import caps5_course, exposure_course, ptsd_cohort

DAYS = (0, 14, 70, 252)


def main(n: int = 200) -> None:
    pop = ptsd_cohort(n, seed=31)
    times = [f"{d} d" for d in (0, 2, 4, 7, 9, 11)]
    ketamine = ks.Regimen([ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min", at=t) for t in times])
    midazolam = ks.Regimen([ks.Session("midazolam", at=t) for t in times])
    exposure = exposure_course(10, start="1 d")
    arms = {
        "midazolam x6": (midazolam, None),
        "ketamine x6": (ketamine, None),
        "exposure x10": (exposure, None),
        "ketamine, then exposure": (ketamine + exposure, None),
        "... with reconsolidation": (ketamine + exposure, ks.Hypotheses(reconsolidation=True)),
    }
    print(f"{'arm':<26}" + "".join(f"{'CAPS-5 d' + str(d):>12}" for d in DAYS) + f"{'response d14':>14}")
    for name, (regimen, hypotheses) in arms.items():
        df = caps5_course(regimen, pop, DAYS, hypotheses=hypotheses)
        wide = df.pivot(index="patient", columns="day", values="caps5")
        response = (wide[14.0] <= 0.7 * wide[0.0]).mean()
        print(f"{name:<26}" + "".join(f"{wide[float(d)].mean():>12.1f}" for d in DAYS) + f"{response:>14.0%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
