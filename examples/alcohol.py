"""Drinking, abstinence and ketamine in virtual patients.

    python examples/alcohol.py [N_PATIENTS]

Part 1: depressed patients who drink heavily (median 15 drinks a day) stop on day 0 and are rated on the
HAM-D17 for 8 weeks, beside two studies of abstinent alcoholics (held-out validation rows: the alcohol
parameters are assumptions, none fitted). Withdrawal first makes them a little worse, then most of their
depression clears within weeks.

Part 2: a treatment-resistant cohort given six ketamine infusions over 12 days, as non-drinkers, as heavy
drinkers (6 drinks a day) who keep drinking, and as the same drinkers who stop on the first infusion day.
Heavy drinking blunts the dissociation (cross-tolerance between two NMDA antagonists) without blunting
the antidepressant chain; what drinking does to the depression is a drive of its own, which stopping
removes.
"""

from __future__ import annotations

import sys

import numpy as np

import ketasim as ks
from ketasim.patients import Population
from ketasim.trials.alcohol import abstinence_course

PUBLISHED = {
    0: "15.2 (Mandic-Gajic 2015, admission)",
    28: "7.4 (Mandic-Gajic 2015); 6/42 of the depressed still >= 20 (Brown & Schuckit 1988)",
    56: "4.2 (Mandic-Gajic 2015)",
}


def part1(n: int) -> None:
    pop = Population.sample(n, seed=11, cohort="mdd", drinks_per_day={"lognormal": [15, 0.5], "within": [0, 40]},
                            madrs_baseline={"normal": [19.7, 8.2], "within": [0, 60]})  # fmt: skip
    df = abstinence_course(pop, days=(0, 3, 14, 28, 56))
    print("Abstinence from day 0: mean HAM-D17 (share >= 20)")
    for day, g in df.groupby("day"):
        print(f"  day {day:>4.0f}: {g['hamd'].mean():5.1f} ({(g['hamd'] >= 20).mean():4.0%})   "
              f"{PUBLISHED.get(int(day), '')}")  # fmt: skip


def part2(n: int) -> None:
    infusions = ks.protocols.get("murrough-2013-six-infusions")
    stop = ks.Session("alcohol_alternative", at="0 h")
    groups = {
        "non-drinkers": (0.0, infusions),
        "drinking 6 a day": (6.0, infusions),
        "6 a day, then stop": (6.0, infusions + ks.Regimen([stop])),
    }
    print("\nSix ketamine infusions (12 days): peak CADSS of the first infusion and MADRS on day 14")
    for name, (drinks, regimen) in groups.items():
        pop = Population.sample(n, seed=12, cohort="trd", drinks_per_day=drinks)
        res = ks.simulate(regimen, population=pop, duration="14 d", output_step="10 min", outputs=["cadss", "madrs"])
        t = res.dataset["time"].values
        cadss = res.dataset["cadss"].values[:, t <= 24].max(axis=1)
        madrs = res.dataset["madrs"].values
        change = madrs[:, -1] - madrs[:, 0]
        print(f"  {name:<20} CADSS {np.median(cadss):5.1f}   MADRS change {change.mean():6.1f}   "
              f"response {(madrs[:, -1] <= 0.5 * madrs[:, 0]).mean():4.0%}")  # fmt: skip


def main(n: int = 200) -> None:
    part1(n)
    part2(n)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
