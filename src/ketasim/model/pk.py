"""Layer 1 — pharmacokinetics: doses in, venous plasma concentrations out.

Two published population models, chosen per product (see ``parameters/pk.toml``): racemic ketamine
follows Fanta 2015 / Otto 2021 with separate S and R enantiomers, norketamine and hydroxynorketamine;
esketamine follows Perez-Ruixo 2021 with its hepato-portal first-pass compartment and nasal, swallowed
and oral inputs. Both are linear, so the layer is one matrix ``K`` per patient: dA/dt = K A + u(t).
Amounts are in micromoles so that parent -> metabolite conversion conserves moles; one ``eliminated``
sink collects everything that leaves, so dose = body + eliminated holds exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ketasim.dosing import Dose, Drug, Regimen, Route
from ketasim.errors import ModelError
from ketasim.model._comedication import hepatic_clearance_multiplier
from ketasim.model._definition import Constants, Equations, State
from ketasim.units import TIME_RESOLUTION_H

__all__ = ["COMPARTMENT", "ESK_AGE_FROM_Y", "ESK_QH_FLOOR_L_H", "REFERENCE_WEIGHT_KG", "STATES", "VOLUME", "Bolus",
           "Infusion", "PKModel", "build", "constants", "equations", "timed_input"]  # fmt: skip

#: Each PK amount (µmol) and the volume its concentration is read against (a constant of this layer;
#: the SBML compartment of the species). Depots and the sink have no volume.
COMPARTMENT: dict[str, str | None] = {
    "rac_depot_im": None, "rac_depot_gut": None, "rac_depot_nasal": None,
    "s_central": "rac_v1", "s_periph1": "rac_vp1", "s_periph2": "rac_vp2",
    "r_central": "rac_v1", "r_periph1": "rac_vp1", "r_periph2": "rac_vp2",
    "snk_central": "nk_v1", "snk_periph": "nk_vp", "rnk_central": "nk_v1", "rnk_periph": "nk_vp",
    "esk_depot_nasal": None, "esk_depot_swallowed": None, "esk_depot_oral": None, "esk_depot_im": None,
    "esk_central": "esk_vc", "esk_periph1": "esk_vp1", "esk_periph2": "esk_vp2", "esk_liver": "esk_vh",
    "nesk_central": "nesk_vc", "nesk_periph": "nesk_vp",
    "hnk_central": "hnk_v1", "hnk_periph": "hnk_vp",
    "psilocybin_gut": None, "psilocin_central": "psilocin_v", "ssri_gut": None, "ssri_central": "ssri_v",
    "eliminated": None,
}  # fmt: skip
#: The volume of each amount that has one.
VOLUME: dict[str, str] = {state: volume for state, volume in COMPARTMENT.items() if volume is not None}
STATES: dict[str, State] = {
    name: State("umol", f"amount in {name.replace('_', ' ')}", compartmental=True) for name in COMPARTMENT
}
IDX = {name: i for i, name in enumerate(STATES)}
N = len(STATES)
SINK = IDX["eliminated"]

# Constants of the covariate model written in the code rather than read from the registry (the NONMEM
# population description prints them from here):
#: the reference weight of the allometric scaling (the registry's values are "at 70 kg"),
REFERENCE_WEIGHT_KG = 70.0
#: the age above which esketamine's hepatic blood flow falls (Perez-Ruixo 2021), and the flow's floor.
ESK_AGE_FROM_Y = 60.0
ESK_QH_FLOOR_L_H = 1.0


@dataclass(frozen=True)
class Bolus:
    """An instantaneous amount (µmol per patient) added to one PK state at ``time`` (h)."""

    time: float
    state: int
    amount: np.ndarray


@dataclass(frozen=True)
class Infusion:
    """A constant input rate (µmol/h per patient) into one PK state over [start, stop)."""

    start: float
    stop: float
    state: int
    rate: np.ndarray


def timed_input(
    t: float, duration: float, state: int, amount: np.ndarray, bol: list[Bolus], inf: list[Infusion]
) -> None:
    """``amount`` into ``state`` at a constant rate over [t, t + duration), delivered exactly: the rate is
    taken over the interval as floating point holds it (at 8,000 h an interval shorter than 2e-12 h is no
    interval at all), and an input shorter than ``TIME_RESOLUTION_H`` (1 ms) is given whole as a bolus."""
    span = (t + duration) - t
    if span < TIME_RESOLUTION_H:
        bol.append(Bolus(t, state, np.asarray(amount, float)))
    else:
        inf.append(Infusion(t, t + duration, state, amount / span))


@dataclass(frozen=True)
class PKModel:
    """The PK flows and dosing of a batch of patients (the concentrations are in ``equations``)."""

    K: np.ndarray  # (P, N, N) rate matrix, 1/h
    mw: dict[str, float]  # g/mol
    frn: np.ndarray  # esketamine nasal fraction, first device
    frn_later: float
    fgut: np.ndarray
    d_swallowed: float
    d_oral: float
    rac_f_im: np.ndarray
    rac_frn: np.ndarray
    esk_f_im: np.ndarray
    device_interval_h: float
    device_mg: float
    weights: np.ndarray
    citalopram_s_fraction: float

    @property
    def n_patients(self) -> int:
        return self.K.shape[0]

    def rhs(self, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        """dA/dt for amounts ``y`` (N, P) and input rates ``u`` (N, P)."""
        return np.einsum("pij,jp->ip", self.K, y) + u

    def inputs(self, regimen: Regimen) -> tuple[list[Bolus], list[Infusion]]:
        """Translate doses into exact boluses and zero-order inputs on the PK states."""
        boluses: list[Bolus] = []
        infusions: list[Infusion] = []
        for dose in regimen:
            if dose.drug is Drug.KETAMINE:
                self._racemic(dose, boluses, infusions)
            elif dose.drug is Drug.ESKETAMINE:
                self._esketamine(dose, boluses, infusions)
            elif dose.drug is Drug.PSILOCYBIN:  # psilocin equivalents; conversion is complete (Brown 2017)
                umol = np.broadcast_to(dose.amount_mg(self.weights) / self.mw["psilocybin"] * 1e3, self.weights.shape)
                boluses.append(Bolus(dose.at_h, IDX["psilocybin_gut"], umol.copy()))
            else:  # escitalopram, or the S-enantiomer of citalopram
                frac = 1.0 if dose.drug is Drug.ESCITALOPRAM else self.citalopram_s_fraction
                mg = dose.amount_mg(self.weights) * frac
                umol = np.broadcast_to(mg / self.mw["escitalopram"] * 1e3, self.weights.shape)
                boluses.append(Bolus(dose.at_h, IDX["ssri_gut"], umol.copy()))
        return boluses, infusions

    def _umol(self, dose: Dose, mg: np.ndarray | float | None = None) -> np.ndarray:
        amount = dose.amount_mg(self.weights) if mg is None else mg
        return np.broadcast_to(np.asarray(amount, float) / self.mw["ketamine"] * 1e3, self.weights.shape).copy()

    def _racemic(self, dose: Dose, bol: list[Bolus], inf: list[Infusion]) -> None:
        a = self._umol(dose)
        t = dose.at_h
        if dose.route is Route.IV:
            for state in ("s_central", "r_central"):
                if dose.duration_h:
                    timed_input(t, dose.duration_h, IDX[state], 0.5 * a, bol, inf)
                else:
                    bol.append(Bolus(t, IDX[state], 0.5 * a))
        elif dose.route is Route.IM:
            bol.append(Bolus(t, IDX["rac_depot_im"], self.rac_f_im * a))
            bol.append(Bolus(t, SINK, (1 - self.rac_f_im) * a))
        elif dose.route is Route.ORAL:
            bol.append(Bolus(t, IDX["rac_depot_gut"], a))
        else:  # intranasal: mucosal part, the rest is swallowed
            bol.append(Bolus(t, IDX["rac_depot_nasal"], self.rac_frn * a))
            bol.append(Bolus(t, IDX["rac_depot_gut"], (1 - self.rac_frn) * a))

    def _esketamine(self, dose: Dose, bol: list[Bolus], inf: list[Infusion]) -> None:
        t = dose.at_h
        if dose.route is Route.IV:
            a = self._umol(dose)
            if dose.duration_h:
                timed_input(t, dose.duration_h, IDX["esk_central"], a, bol, inf)
            else:
                bol.append(Bolus(t, IDX["esk_central"], a))
        elif dose.route is Route.IM:
            a = self._umol(dose)
            bol.append(Bolus(t, IDX["esk_depot_im"], self.esk_f_im * a))
            bol.append(Bolus(t, SINK, (1 - self.esk_f_im) * a))
        elif dose.route is Route.ORAL:
            a = self._umol(dose)
            self._swallow(t, a, IDX["esk_depot_oral"], self.d_oral, bol, inf)
        else:
            device = self._umol(dose, self.device_mg)
            for k in range(dose.devices):
                tk = t + k * self.device_interval_h
                frn = self.frn if k == 0 else np.minimum(self.frn * self.frn_later, 1.0)
                bol.append(Bolus(tk, IDX["esk_depot_nasal"], frn * device))
                self._swallow(tk, (1 - frn) * device, IDX["esk_depot_swallowed"], self.d_swallowed, bol, inf)

    def _swallow(
        self, t: float, a: np.ndarray, depot: int, duration: float, bol: list[Bolus], inf: list[Infusion]
    ) -> None:
        # Gut-wall loss is immediate; the escaping part enters its depot at a zero-order rate.
        bol.append(Bolus(t, SINK, (1 - self.fgut) * a))
        timed_input(t, duration, depot, self.fgut * a, bol, inf)


_MOLAR_MASS = ("ketamine", "norketamine", "hnk", "psilocybin", "psilocin", "escitalopram")


def constants(k: Constants) -> None:
    """Volumes (with covariates) and molar masses: what the concentrations read."""
    w = k.attr("weight_kg")
    fv = (w / REFERENCE_WEIGHT_KG) ** k.params.value("allometric_exponent_v")
    for name, registry in (
        ("rac_v1", "rac_s_v1"),
        ("rac_vp1", "rac_s_vp1"),
        ("rac_vp2", "rac_s_vp2"),
        ("nk_v1", "nk_v1"),
        ("nk_vp", "nk_vp"),
        ("hnk_v1", "hnk_v1"),
        ("hnk_vp", "hnk_vp"),
    ):
        k.set(name, k.read(registry, "L") * fv, "L", k.params[registry].description + " (allometric)")
    for name in ("esk_vc", "esk_vp1", "esk_vp2", "esk_vh", "nesk_vc", "nesk_vp"):  # no weight effect found
        k.vary(name, "L")
    k.vary("psilocin_v", "L", registry="psilocin_v_f")
    k.vary("ssri_v", "L", registry="escitalopram_v_f")
    for drug in _MOLAR_MASS:
        k.fixed(f"mw_{drug}", "g/mol")


def equations(eq: Equations) -> None:
    """Venous plasma concentrations: amount / volume (µM), and in ng/mL for reporting."""
    x, c = eq.x, eq.c

    def conc(*states: str) -> Any:
        return sum(x[s] / c[VOLUME[s]] for s in states)

    s_ket = eq.define("s_ketamine_um", conc("s_central", "esk_central"), "uM", "S-ketamine, both products")
    r_ket = eq.define("r_ketamine_um", conc("r_central"), "uM", "R-ketamine")
    s_nk = eq.define("s_norketamine_um", conc("snk_central", "nesk_central"), "uM", "S-norketamine")
    r_nk = eq.define("r_norketamine_um", conc("rnk_central"), "uM", "R-norketamine")
    hnk = eq.define("hnk_um", conc("hnk_central"), "uM", "hydroxynorketamine")
    ng = "ng/mL"
    eq.output("ketamine_plasma", (s_ket + r_ket) * c.mw_ketamine, ng, ng, "ketamine (S + R), venous plasma")
    eq.output("esketamine_plasma", s_ket * c.mw_ketamine, ng, ng, "S-ketamine, venous plasma")
    eq.output("arketamine_plasma", r_ket * c.mw_ketamine, ng, ng, "R-ketamine, venous plasma")
    eq.output("norketamine_plasma", (s_nk + r_nk) * c.mw_norketamine, ng, ng, "norketamine, venous plasma")
    eq.output("hydroxynorketamine_plasma", hnk * c.mw_hnk, ng, ng, "hydroxynorketamine, venous plasma")
    eq.output("psilocin_plasma", conc("psilocin_central") * c.mw_psilocin, ng, ng, "psilocin, plasma")
    eq.output("escitalopram_plasma", conc("ssri_central") * c.mw_escitalopram, ng, ng, "escitalopram, plasma")


def build(k: Constants) -> PKModel:
    """Per-patient PK matrices with covariates (weight, sex, age, CYP2B6, ancestry) applied; the
    volumes come from ``k`` (registered by :func:`constants`)."""
    params, patients = k.params, k.patients
    P = len(patients)
    w = k.attr("weight_kg")
    female = np.array([p.sex == "female" for p in patients])
    age = k.attr("age_y")
    asian = np.array([p.ancestry in ("asian", "japanese") for p in patients])
    japanese = np.array([p.ancestry == "japanese" for p in patients])
    multiplier = {"*1/*1": 1.0, "*1/*6": params.value("cyp2b6_im_cl_multiplier"),
                  "*6/*6": params.value("cyp2b6_pm_cl_multiplier")}  # fmt: skip
    cyp = np.array([multiplier[p.cyp2b6] for p in patients])
    fcl = (w / REFERENCE_WEIGHT_KG) ** params.value("allometric_exponent_cl")
    sex_cl = np.where(female, params.value("female_cl_multiplier"), 1.0)
    vol = {name: k[name] for name in set(COMPARTMENT.values()) if name is not None}
    v = k.read
    s_cl = v("rac_s_cl", "L/h") * fcl * sex_cl * cyp
    r_cl = s_cl * params.value("rac_r_cl_ratio")
    nk_cl = v("nk_cl", "L/h") * fcl * sex_cl
    hnk_cl = v("hnk_cl", "L/h") * fcl
    fm_nk = params.value("rac_fm_nk")
    fm_hnk = params.value("fm_hnk")

    K = np.zeros((P, N, N))

    def flow(src: str, rate: np.ndarray | float, targets: Sequence[tuple[str, np.ndarray | float]]) -> None:
        i = IDX[src]
        rate = np.asarray(rate, float)
        K[:, i, i] -= rate
        total = np.zeros(P)
        for dst, frac in targets:
            K[:, IDX[dst], i] += rate * frac
            total = total + frac
        if np.any(total > 1 + 1e-12):
            raise ModelError(f"flow fractions from {src} exceed 1")
        K[:, SINK, i] += rate * (1 - total)  # whatever is not routed elsewhere is eliminated

    # Racemic absorption: depots hold racemate; each enantiomer receives half.
    f_oral = v("rac_f_oral", "1")
    fm_fp = params.value("rac_fm_nk_first_pass")
    flow("rac_depot_im", v("rac_ka_im", "1/h"), [("s_central", 0.5), ("r_central", 0.5)])
    flow(
        "rac_depot_gut",
        v("rac_ka_oral", "1/h"),
        [
            ("s_central", 0.5 * f_oral),
            ("r_central", 0.5 * f_oral),
            ("snk_central", 0.5 * (1 - f_oral) * fm_fp),
            ("rnk_central", 0.5 * (1 - f_oral) * fm_fp),
        ],
    )
    flow("rac_depot_nasal", v("rac_ka_intranasal", "1/h"), [("s_central", 0.5), ("r_central", 0.5)])

    # Racemic disposition, one enantiomer at a time.
    q1, q2 = v("rac_s_q1", "L/h") * fcl, v("rac_s_q2", "L/h") * fcl
    for e, cl, nk in (("s", s_cl, "snk"), ("r", r_cl, "rnk")):
        c, p1, p2 = f"{e}_central", f"{e}_periph1", f"{e}_periph2"
        flow(c, q1 / vol["rac_v1"], [(p1, 1.0)])
        flow(c, q2 / vol["rac_v1"], [(p2, 1.0)])
        flow(p1, q1 / vol["rac_vp1"], [(c, 1.0)])
        flow(p2, q2 / vol["rac_vp2"], [(c, 1.0)])
        flow(c, cl / vol["rac_v1"], [(f"{nk}_central", fm_nk)])
        nq = v("nk_q", "L/h") * fcl
        flow(f"{nk}_central", nq / vol["nk_v1"], [(f"{nk}_periph", 1.0)])
        flow(f"{nk}_periph", nq / vol["nk_vp"], [(f"{nk}_central", 1.0)])
        flow(f"{nk}_central", nk_cl / vol["nk_v1"], [("hnk_central", fm_hnk)])

    # Hydroxynorketamine (shared by both products).
    hq = v("hnk_q", "L/h") * fcl
    flow("hnk_central", hq / vol["hnk_v1"], [("hnk_periph", 1.0)])
    flow("hnk_periph", hq / vol["hnk_vp"], [("hnk_central", 1.0)])
    flow("hnk_central", hnk_cl / vol["hnk_v1"], [])

    # Esketamine (Perez-Ruixo 2021): no weight or sex effect was found, so none is applied.
    age_slope = params.value("esk_age_qh_slope", "L/h/year")
    qh = np.maximum(v("esk_qh", "L/h") - age_slope * np.maximum(age - ESK_AGE_FROM_Y, 0), ESK_QH_FLOOR_L_H)
    ddi = hepatic_clearance_multiplier(patients, params)  # co-medication (1.0 without)
    kel = v("esk_kel", "1/h") * np.where(asian, params.value("esk_asian_kel"), 1.0) * cyp * ddi
    kmet = v("esk_kmet", "1/h") * cyp * ddi
    cln = v("nesk_cl", "L/h") * np.where(asian, params.value("esk_asian_cln"), 1.0)
    eq1, eq2 = v("esk_q1", "L/h"), v("esk_q2", "L/h")
    flow("esk_depot_nasal", v("esk_ka_nasal", "1/h"), [("esk_central", 1.0)])
    flow("esk_depot_swallowed", v("esk_ka_swallowed", "1/h"), [("esk_liver", 1.0)])
    flow("esk_depot_oral", v("esk_ka_oral", "1/h"), [("esk_liver", 1.0)])
    flow("esk_depot_im", v("esk_ka_im", "1/h"), [("esk_central", 1.0)])
    flow("esk_central", eq1 / vol["esk_vc"], [("esk_periph1", 1.0)])
    flow("esk_central", eq2 / vol["esk_vc"], [("esk_periph2", 1.0)])
    flow("esk_central", qh / vol["esk_vc"], [("esk_liver", 1.0)])
    flow("esk_periph1", eq1 / vol["esk_vp1"], [("esk_central", 1.0)])
    flow("esk_periph2", eq2 / vol["esk_vp2"], [("esk_central", 1.0)])
    flow("esk_liver", qh / vol["esk_vh"], [("esk_central", 1.0)])
    flow("esk_liver", kel + kmet, [("nesk_central", kmet / (kel + kmet))])
    nq3 = v("nesk_q", "L/h")
    flow("nesk_central", nq3 / vol["nesk_vc"], [("nesk_periph", 1.0)])
    flow("nesk_periph", nq3 / vol["nesk_vp"], [("nesk_central", 1.0)])
    flow("nesk_central", cln / vol["nesk_vc"], [("hnk_central", fm_hnk)])

    # Comparators: one-compartment oral models (apparent volumes; bioavailability inside V/F).
    flow("psilocybin_gut", v("psilocin_ka", "1/h"), [("psilocin_central", 1.0)])
    flow("psilocin_central", v("psilocin_ke", "1/h"), [])
    flow("ssri_gut", v("escitalopram_ka", "1/h"), [("ssri_central", 1.0)])
    flow("ssri_central", v("escitalopram_cl_f", "L/h") / vol["ssri_v"], [])

    f_in = v("rac_f_intranasal", "1")
    rac_frn = np.clip((f_in - f_oral) / (1 - f_oral), 0.0, 1.0)  # so nasal + swallowed = total F
    frn = np.clip(v("esk_frn", "1") * np.where(japanese, params.value("esk_japanese_frn"), 1.0), 0.0, 1.0)
    return PKModel(
        K=K,
        mw={drug: float(k[f"mw_{drug}"][0]) for drug in _MOLAR_MASS},
        frn=frn,
        frn_later=params.value("esk_frn_later_devices"),
        fgut=v("esk_fgut", "1"),
        d_swallowed=params.value("esk_d_swallowed", "h"),
        d_oral=params.value("esk_d_oral", "h"),
        rac_f_im=v("rac_f_im", "1"),
        rac_frn=rac_frn,
        esk_f_im=v("esk_f_im", "1"),
        device_interval_h=params.value("device_interval", "h"),
        device_mg=params.value("device_amount", "mg"),
        weights=w,
        citalopram_s_fraction=params.value("citalopram_s_fraction"),
    )
