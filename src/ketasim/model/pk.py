"""Layer 1 — pharmacokinetics: doses in, venous and arterial plasma concentrations out.

One disposition per enantiomer, whatever the product (see ``parameters/pk.toml``): S-ketamine, given
as esketamine or as half of racemic ketamine, follows Perez-Ruixo 2021 (central, two peripheral and a
hepato-portal compartment through which swallowed drug passes first), with its S-norketamine;
R-ketamine follows Fanta 2015's disposition with the R/S clearance ratio of Persson 2002, with the
Otto 2021 norketamine model; hydroxynorketamine follows Simons 2022. Products and routes differ only in
how the drug gets in (nasal, swallowed, oral, intramuscular depots; bioavailability; devices).
Both published models were fitted to venous plasma, so the central concentrations are venous. Drug
entering venous blood passes a heart-lung mixing compartment (Henthorn 2018's total pharmacokinetic
flow) before it reaches arterial blood, and the forearm exchanges with tissue: the arterial outputs
add the partially mixed drug and the arm's uptake or release (see ``equations``).
All of it is linear, so the layer is one matrix ``K`` per patient: dA/dt = K A + u(t). Amounts are in
micromoles so that parent -> metabolite conversion conserves moles; one ``eliminated`` sink collects
everything that leaves, so dose = body + eliminated holds exactly.
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
    "rac_depot_im": None, "rac_depot_nasal": None, "r_depot_gut": None,
    "s_depot_nasal": None, "s_depot_swallowed": None, "s_depot_oral": None, "s_depot_im": None,
    "s_mixing": "pk_v_mixing", "r_mixing": "pk_v_mixing",
    "s_central": "esk_vc", "s_periph1": "esk_vp1", "s_periph2": "esk_vp2", "s_liver": "esk_vh",
    "snk_central": "nesk_vc", "snk_periph": "nesk_vp",
    "r_central": "rac_v1", "r_periph1": "rac_vp1", "r_periph2": "rac_vp2",
    "rnk_central": "nk_v1", "rnk_periph": "nk_vp",
    "hnk_central": "hnk_v1", "hnk_periph": "hnk_vp",
    "psilocybin_gut": None, "psilocin_central": "psilocin_v", "ssri_gut": None, "ssri_central": "ssri_v",
    "eliminated": None,
}  # fmt: skip
#: The volume of each amount that has one.
VOLUME: dict[str, str] = {state: volume for state, volume in COMPARTMENT.items() if volume is not None}
#: The forearm's tissue level of each parent, against which arterial blood exchanges (µM): not an
#: amount (its mass is negligible), so it carries a rate (``equations``) and no flow.
ARM = {"s_arm": "S-ketamine", "r_arm": "R-ketamine"}
STATES: dict[str, State] = {
    **{name: State("umol", f"amount in {name.replace('_', ' ')}", compartmental=True) for name in COMPARTMENT},
    **{name: State("uM", f"{drug} level of forearm tissue, seen by venous blood") for name, drug in ARM.items()},
}
IDX = {name: i for i, name in enumerate(COMPARTMENT)}
N = len(COMPARTMENT)
SINK = IDX["eliminated"]

# Constants of the covariate model written in the code rather than read from the registry (the NONMEM
# population description prints them from here):
#: the reference weight of the allometric scaling (the registry's values are "at 70 kg"),
REFERENCE_WEIGHT_KG = 70.0
#: the age above which S-ketamine's hepatic blood flow falls (Perez-Ruixo 2021), and the flow's floor.
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
        if dose.route is Route.IV:  # into venous blood: through the heart-lung mixing compartment
            for state in ("s_mixing", "r_mixing"):
                if dose.duration_h:
                    timed_input(t, dose.duration_h, IDX[state], 0.5 * a, bol, inf)
                else:
                    bol.append(Bolus(t, IDX[state], 0.5 * a))
        elif dose.route is Route.IM:
            bol.append(Bolus(t, IDX["rac_depot_im"], self.rac_f_im * a))
            bol.append(Bolus(t, SINK, (1 - self.rac_f_im) * a))
        elif dose.route is Route.ORAL:
            self._swallow_racemate(t, a, IDX["s_depot_oral"], self.d_oral, bol, inf)
        else:  # intranasal: mucosal part, the rest is swallowed
            bol.append(Bolus(t, IDX["rac_depot_nasal"], self.rac_frn * a))
            self._swallow_racemate(t, (1 - self.rac_frn) * a, IDX["s_depot_swallowed"], self.d_swallowed, bol, inf)

    def _swallow_racemate(
        self, t: float, a: np.ndarray, s_depot: int, duration: float, bol: list[Bolus], inf: list[Infusion]
    ) -> None:
        # S-ketamine takes the S-ketamine model's gut and liver; R-ketamine its own oral route
        self._swallow(t, 0.5 * a, s_depot, duration, bol, inf)
        bol.append(Bolus(t, IDX["r_depot_gut"], 0.5 * a))

    def _esketamine(self, dose: Dose, bol: list[Bolus], inf: list[Infusion]) -> None:
        t = dose.at_h
        if dose.route is Route.IV:
            a = self._umol(dose)
            if dose.duration_h:
                timed_input(t, dose.duration_h, IDX["s_mixing"], a, bol, inf)
            else:
                bol.append(Bolus(t, IDX["s_mixing"], a))
        elif dose.route is Route.IM:
            a = self._umol(dose)
            bol.append(Bolus(t, IDX["s_depot_im"], self.esk_f_im * a))
            bol.append(Bolus(t, SINK, (1 - self.esk_f_im) * a))
        elif dose.route is Route.ORAL:
            a = self._umol(dose)
            self._swallow(t, a, IDX["s_depot_oral"], self.d_oral, bol, inf)
        else:
            device = self._umol(dose, self.device_mg)
            for k in range(dose.devices):
                tk = t + k * self.device_interval_h
                frn = self.frn if k == 0 else np.minimum(self.frn * self.frn_later, 1.0)
                bol.append(Bolus(tk, IDX["s_depot_nasal"], frn * device))
                self._swallow(tk, (1 - frn) * device, IDX["s_depot_swallowed"], self.d_swallowed, bol, inf)

    def _swallow(
        self, t: float, a: np.ndarray, depot: int, duration: float, bol: list[Bolus], inf: list[Infusion]
    ) -> None:
        # Gut-wall loss is immediate; the escaping part enters its depot at a zero-order rate.
        bol.append(Bolus(t, SINK, (1 - self.fgut) * a))
        timed_input(t, duration, depot, self.fgut * a, bol, inf)


_MOLAR_MASS = ("ketamine", "norketamine", "hnk", "psilocybin", "psilocin", "escitalopram")


def constants(k: Constants) -> None:
    """Volumes (with covariates), molar masses and the sampling-site constants the concentrations read."""
    w = k.attr("weight_kg")
    fv = (w / REFERENCE_WEIGHT_KG) ** k.params.value("allometric_exponent_v")
    for name, registry in (
        ("rac_v1", "r_v1"),
        ("rac_vp1", "r_vp1"),
        ("rac_vp2", "r_vp2"),
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
    k.set("pk_v_mixing", k.read("pk_mixing_volume", "L") * fv, "L", "heart-lung mixing volume (allometric)")
    k.fixed("arm_rate", "1/h", registry="arm_equilibration_rate")
    for drug in _MOLAR_MASS:
        k.fixed(f"mw_{drug}", "g/mol")


def equations(eq: Equations) -> None:
    """Plasma concentrations (µM, and ng/mL for reporting) at the two sampling sites.

    Venous (forearm) plasma is the central compartment, as the published models were fitted. Arterial
    plasma adds two things venous samples miss: drug that entered venous blood and has passed only the
    heart-lung mixing compartment (Henthorn 2018's partially mixed drug; during an infusion at rate R it
    is R / total pharmacokinetic flow), and the forearm's uptake while concentrations rise and its
    release after (venous blood leaves the arm at the tissue's level, which lags; arterial = venous +
    (venous - arm tissue)): higher than venous during an infusion, lower after it. Metabolites enter
    no venous blood from outside and change slowly, so their arterial and venous levels are taken equal.
    """
    x, c, m = eq.x, eq.c, eq.m

    def conc(*states: str) -> Any:
        return sum(x[s] / c[VOLUME[s]] for s in states)

    s_ket = eq.define("s_ketamine_um", conc("s_central"), "uM", "S-ketamine, venous plasma, both products")
    r_ket = eq.define("r_ketamine_um", conc("r_central"), "uM", "R-ketamine, venous plasma")
    eq.rate("s_arm", c.arm_rate * (s_ket - x.s_arm))
    eq.rate("r_arm", c.arm_rate * (r_ket - x.r_arm))
    # (the lead term is a first-order reading of the arm's delay: after a venous fall faster than the arm
    # follows, as in patients with extreme random effects after a bolus, it would cross zero; held at 0)
    s_art = eq.define("s_ketamine_arterial_um", m.pos(s_ket + conc("s_mixing") + (s_ket - x.s_arm)), "uM",
                      "S-ketamine, arterial plasma")  # fmt: skip
    r_art = eq.define("r_ketamine_arterial_um", m.pos(r_ket + conc("r_mixing") + (r_ket - x.r_arm)), "uM",
                      "R-ketamine, arterial plasma")  # fmt: skip
    s_nk = eq.define("s_norketamine_um", conc("snk_central"), "uM", "S-norketamine")
    r_nk = eq.define("r_norketamine_um", conc("rnk_central"), "uM", "R-norketamine")
    hnk = eq.define("hnk_um", conc("hnk_central"), "uM", "hydroxynorketamine")
    ng = "ng/mL"
    mw = c.mw_ketamine
    for site, s, r in (("plasma", s_ket, r_ket), ("arterial", s_art, r_art)):
        where = "venous" if site == "plasma" else "arterial"
        eq.output(f"ketamine_{site}", (s + r) * mw, ng, ng, f"ketamine (S + R), {where} plasma")
        eq.output(f"esketamine_{site}", s * mw, ng, ng, f"S-ketamine, {where} plasma")
        eq.output(f"arketamine_{site}", r * mw, ng, ng, f"R-ketamine, {where} plasma")
    for site in ("plasma", "arterial"):
        where = "venous" if site == "plasma" else "arterial (taken equal to venous)"
        eq.output(f"norketamine_{site}", (s_nk + r_nk) * c.mw_norketamine, ng, ng, f"norketamine, {where} plasma")
        eq.output(f"hydroxynorketamine_{site}", hnk * c.mw_hnk, ng, ng, f"hydroxynorketamine, {where} plasma")
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
    r_cl = v("r_cl", "L/h") * fcl * sex_cl * cyp
    nk_cl = v("nk_cl", "L/h") * fcl * sex_cl
    hnk_cl = v("hnk_cl", "L/h") * fcl
    fm_nk = params.value("r_fm_nk")
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

    # Drug entering venous blood mixes in the heart and lungs before it reaches the arteries.
    k_mix = v("pk_total_flow", "L/h") * fcl / vol["pk_v_mixing"]
    flow("s_mixing", k_mix, [("s_central", 1.0)])
    flow("r_mixing", k_mix, [("r_central", 1.0)])

    # Racemic absorption: depots hold racemate; each enantiomer receives half. Swallowed S-ketamine
    # takes the S-ketamine model's gut and liver (in ``inputs``), swallowed R-ketamine ``r_depot_gut``.
    f_oral = v("rac_f_oral", "1")
    flow("rac_depot_im", v("rac_ka_im", "1/h"), [("s_mixing", 0.5), ("r_mixing", 0.5)])
    flow("rac_depot_nasal", v("rac_ka_intranasal", "1/h"), [("s_mixing", 0.5), ("r_mixing", 0.5)])
    flow("r_depot_gut", v("rac_ka_oral", "1/h"),
         [("r_central", f_oral), ("rnk_central", (1 - f_oral) * params.value("rac_fm_nk_first_pass"))])  # fmt: skip

    # R-ketamine (Fanta 2015's disposition, Persson 2002's R/S clearance ratio) and its norketamine.
    q1, q2 = v("r_q1", "L/h") * fcl, v("r_q2", "L/h") * fcl
    flow("r_central", q1 / vol["rac_v1"], [("r_periph1", 1.0)])
    flow("r_central", q2 / vol["rac_v1"], [("r_periph2", 1.0)])
    flow("r_periph1", q1 / vol["rac_vp1"], [("r_central", 1.0)])
    flow("r_periph2", q2 / vol["rac_vp2"], [("r_central", 1.0)])
    flow("r_central", r_cl / vol["rac_v1"], [("rnk_central", fm_nk)])
    nq = v("nk_q", "L/h") * fcl
    flow("rnk_central", nq / vol["nk_v1"], [("rnk_periph", 1.0)])
    flow("rnk_periph", nq / vol["nk_vp"], [("rnk_central", 1.0)])
    flow("rnk_central", nk_cl / vol["nk_v1"], [("hnk_central", fm_hnk)])

    # Hydroxynorketamine (from both enantiomers).
    hq = v("hnk_q", "L/h") * fcl
    flow("hnk_central", hq / vol["hnk_v1"], [("hnk_periph", 1.0)])
    flow("hnk_periph", hq / vol["hnk_vp"], [("hnk_central", 1.0)])
    flow("hnk_central", hnk_cl / vol["hnk_v1"], [])

    # S-ketamine, either product (Perez-Ruixo 2021): no weight or sex effect was found, so none is applied.
    age_slope = params.value("esk_age_qh_slope", "L/h/year")
    qh = np.maximum(v("esk_qh", "L/h") - age_slope * np.maximum(age - ESK_AGE_FROM_Y, 0), ESK_QH_FLOOR_L_H)
    ddi = hepatic_clearance_multiplier(patients, params)  # co-medication (1.0 without)
    kel = v("esk_kel", "1/h") * np.where(asian, params.value("esk_asian_kel"), 1.0) * cyp * ddi
    kmet = v("esk_kmet", "1/h") * cyp * ddi
    cln = v("nesk_cl", "L/h") * np.where(asian, params.value("esk_asian_cln"), 1.0)
    eq1, eq2 = v("esk_q1", "L/h"), v("esk_q2", "L/h")
    flow("s_depot_nasal", v("esk_ka_nasal", "1/h"), [("s_mixing", 1.0)])
    flow("s_depot_swallowed", v("esk_ka_swallowed", "1/h"), [("s_liver", 1.0)])
    flow("s_depot_oral", v("esk_ka_oral", "1/h"), [("s_liver", 1.0)])
    flow("s_depot_im", v("esk_ka_im", "1/h"), [("s_mixing", 1.0)])
    flow("s_central", eq1 / vol["esk_vc"], [("s_periph1", 1.0)])
    flow("s_central", eq2 / vol["esk_vc"], [("s_periph2", 1.0)])
    flow("s_central", qh / vol["esk_vc"], [("s_liver", 1.0)])
    flow("s_periph1", eq1 / vol["esk_vp1"], [("s_central", 1.0)])
    flow("s_periph2", eq2 / vol["esk_vp2"], [("s_central", 1.0)])
    # hepatic venous blood joins the central (mixed) compartment directly: an oral dose's first pass
    # therefore has no partially mixed arterial term (a limit, stated in the README)
    flow("s_liver", qh / vol["esk_vh"], [("s_central", 1.0)])
    flow("s_liver", kel + kmet, [("snk_central", kmet / (kel + kmet))])
    nq3 = v("nesk_q", "L/h")
    flow("snk_central", nq3 / vol["nesk_vc"], [("snk_periph", 1.0)])
    flow("snk_periph", nq3 / vol["nesk_vp"], [("snk_central", 1.0)])
    flow("snk_central", cln / vol["nesk_vc"], [("hnk_central", fm_hnk)])

    # Comparators: one-compartment oral models (apparent volumes; bioavailability inside V/F).
    flow("psilocybin_gut", v("psilocin_ka", "1/h"), [("psilocin_central", 1.0)])
    flow("psilocin_central", v("psilocin_ke", "1/h"), [])
    flow("ssri_gut", v("escitalopram_ka", "1/h"), [("ssri_central", 1.0)])
    flow("ssri_central", v("escitalopram_cl_f", "L/h") / vol["ssri_v"], [])

    # The nasal share of a racemic intranasal dose, so that nasal + swallowed = the published total F: a
    # property of the device, so from the typical swallowed availability (the mean of R's and S's, the
    # latter through gut wall and liver), not this patient's liver or co-medication.
    typ = params.value
    qh_typ, clint_typ = typ("esk_qh", "L/h"), (typ("esk_kel", "1/h") + typ("esk_kmet", "1/h")) * typ("esk_vh", "L")
    f_swallowed = 0.5 * (typ("rac_f_oral") + typ("esk_fgut") * qh_typ / (qh_typ + clint_typ))
    rac_frn = np.clip((v("rac_f_intranasal", "1") - f_swallowed) / (1 - f_swallowed), 0.0, 1.0)
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
