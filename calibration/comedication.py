"""Co-medication multipliers on S-ketamine's intrinsic hepatic clearance, fitted to oral S-ketamine.

Each perpetrator's multiplier ``m`` (registry ``comed_<name>``, pk.toml) multiplies ``esk_kel`` and
``esk_kmet`` of the S-ketamine model (Perez-Ruixo 2021), whatever the product. It is found by
root-finding on the simulated AUC(0-inf) ratio of an ORAL S-ketamine dose (with / without the
perpetrator) against the study's published ratio; everything else is a held-out prediction, printed
beside what was observed.

Reproduce:  PYTHONPATH=src python calibration/comedication.py

AUC(0-inf) is the linear system's exact integral (-K^-1 times everything given, on the body states;
tests/model/test_pk.py checks this identity against the integrator); Cmax is read from an integration
on a 1-minute grid. The studies' volunteers are taken as the model's typical adult (70 kg, 45 y, male,
CYP2B6 *1/*1, non-Asian); a ratio of AUCs does not depend on the dose in this linear model.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

import ketasim as ks
from ketasim.model import assemble, pk
from ketasim.parameters import default_parameters

P = default_parameters()
BODY = [i for i in range(pk.N) if i != pk.SINK]

#: name: (study, oral S-ketamine AUC ratio with / without, as published)
ORAL_AUC_RATIO = {
    "clarithromycin": ("Hagelberg 2010, 0.2 mg/kg oral S-ketamine", 2.6),
    "ticlopidine": ("Peltoniemi 2011, 0.2 mg/kg oral S-ketamine", 2.4),
    "rifampicin": ("Peltoniemi 2012 (BCPT), 0.3 mg/kg oral S-ketamine", 1 - 0.86),
    "st_johns_wort": ("Peltoniemi 2012 (FCP), 0.3 mg/kg oral S-ketamine", 1 - 0.58),
}

#: Held-out observations: (name, label, regimen, measure, observed ratio).
HELD_OUT = [
    ("rifampicin", "Peltoniemi 2012: IV S-ketamine 0.1 mg/kg, AUC", ks.Dose("esketamine", "iv", "7 mg"), "auc", 0.86),
    ("clarithromycin", "Hagelberg 2010: oral S-ketamine, Cmax", ks.Dose("esketamine", "oral", "14 mg"), "cmax", 3.6),
    (
        "st_johns_wort",
        "Peltoniemi 2012 (FCP): oral S-ketamine, Cmax",
        ks.Dose("esketamine", "oral", "21 mg"),
        "cmax",
        1 - 0.66,
    ),
    *[
        (
            "ticlopidine",
            f"Spravato label: nasal esketamine {mg} mg, AUC",
            ks.Dose("esketamine", "intranasal", f"{mg} mg"),
            "auc",
            1.29,
        )
        for mg in (28, 56, 84)
    ],  # the study's dose is not stated: all three
    (
        "ticlopidine",
        "Spravato label: nasal esketamine 56 mg, Cmax (no effect)",
        ks.Dose("esketamine", "intranasal", "56 mg"),
        "cmax",
        1.0,
    ),
]


def auc_inf(dose: ks.Dose, params: ks.ParameterSet, comedication: tuple[str, ...] = ()) -> float:
    """Esketamine (S-ketamine) AUC(0-inf) of one dose, ng*h/mL, exactly from the linear system."""
    model = assemble(params, [ks.Patient(comedication=comedication)])
    boluses, infusions = model.pk.inputs(ks.Regimen([dose]))
    given = np.zeros(pk.N)
    for b in boluses:
        given[b.state] += b.amount[0]
    for i in infusions:
        given[i.state] += i.rate[0] * (i.stop - i.start)
    integral = np.zeros(pk.N)
    integral[BODY] = -np.linalg.solve(model.pk.K[0][np.ix_(BODY, BODY)], given[BODY])
    c = model.concentration_map(("esketamine_plasma",))[0, 0]  # ng/mL per umol of each state
    return float(c @ integral)


def cmax(dose: ks.Dose, params: ks.ParameterSet, comedication: tuple[str, ...] = ()) -> float:
    res = ks.simulate(ks.Regimen([dose]), ks.Patient(comedication=comedication), duration="24 h",
                      output_step="1 min", params=params, outputs=["esketamine_plasma"])  # fmt: skip
    return float(res.dataset["esketamine_plasma"].values.max())


def ratio(name: str, dose: ks.Dose, measure: str, params: ks.ParameterSet) -> float:
    f = auc_inf if measure == "auc" else cmax
    return f(dose, params, (name,)) / f(dose, params)


def fit(name: str, target: float) -> float:
    """The multiplier whose simulated oral AUC ratio is ``target`` (root on log m)."""
    oral = ks.Dose("esketamine", "oral", "14 mg")

    def err(log_m: float) -> float:
        return np.log(ratio(name, oral, "auc", P.replace(**{f"comed_{name}": float(np.exp(log_m))}))) - np.log(target)

    return float(np.exp(brentq(err, np.log(1e-3), np.log(1e3), xtol=1e-12)))


def main() -> None:
    fitted = {}
    print("Fitted multipliers on esk_kel and esk_kmet (oral S-ketamine AUC ratio):")
    for name, (study, target) in ORAL_AUC_RATIO.items():
        fitted[name] = fit(name, target)
        print(
            f"  comed_{name:15s} = {fitted[name]:.4g}   (target {target:.3g}; {study}; shipped "
            f"{P.value(f'comed_{name}'):.4g})"
        )
    params = P.replace(**{f"comed_{n}": m for n, m in fitted.items()})
    print("\nHeld-out predictions (predicted vs observed ratio):")
    for name, label, dose, measure, observed in HELD_OUT:
        print(f"  {name:15s} {label:58s} predicted {ratio(name, dose, measure, params):.3g}  observed {observed:.3g}")


if __name__ == "__main__":
    main()
