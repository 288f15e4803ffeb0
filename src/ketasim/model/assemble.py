"""Assembly: the layers stacked into one ODE system on the batched engine.

Data flow one way: pk -> receptor -> interventions -> circuit -> signaling -> synapse -> symptoms; each
layer reads only named signals of the layers before it. ``rhs`` is what the solver integrates;
``observe`` recomputes every algebraic signal (block, firing rates, MADRS items, CADSS, SBP, ...) from
stored states, on any array of time points. Session inputs (sedation, exercise, diet, supplements,
therapy, a daily oral antidepressant) arrive as engine boluses and infusions on the states they feed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from ketasim.dosing import Regimen, SessionKind
from ketasim.model import circuit, interventions, pk, receptor, signaling, symptoms, synapse
from ketasim.model.pk import Bolus, Infusion
from ketasim.model.values import recording_varied
from ketasim.parameters import ParameterSet
from ketasim.patients import Patient

__all__ = ["SLICES", "STATE_NAMES", "Hypotheses", "Model", "assemble"]

STATE_LAYERS = ("pk", "receptor", "interventions", "circuit", "signaling", "synapse", "symptoms")
_LAYER_STATES = (pk.STATES, receptor.STATES, interventions.STATES, circuit.STATES, signaling.STATES,
                 synapse.STATES, symptoms.STATES)  # fmt: skip
#: Every state of the assembled model, layer by layer (the row order of the state array).
STATE_NAMES: tuple[str, ...] = tuple(name for states in _LAYER_STATES for name in states)
_ends = np.cumsum([0, *(len(states) for states in _LAYER_STATES)]).tolist()
#: Where each layer's states sit in the state array.
SLICES: dict[str, slice] = {layer: slice(a, b) for layer, a, b in zip(STATE_LAYERS, _ends[:-1], _ends[1:], strict=True)}


@dataclass(frozen=True)
class Hypotheses:
    """Switches for competing mechanisms.

    ``disinhibition`` (on): interneuron block -> glutamate pulse -> AMPA -> activity-dependent BDNF release.
    ``rest_block`` (on): block of pyramidal NMDA receptors at rest -> eEF2 kinase off -> BDNF translation.
    ``ssri_trkb`` (off): SSRIs potentiate TrkB directly (Casarotto 2021; disputed on concentration grounds).
    """

    disinhibition: bool = True
    rest_block: bool = True
    ssri_trkb: bool = False


class Model:
    """The assembled ODE system for a batch of patients (state array shape (n_states, n_patients))."""

    def __init__(self, params: ParameterSet, patients: Sequence[Patient], hypotheses: Hypotheses) -> None:
        self.params = params
        self.patients = tuple(patients)
        self.hypotheses = hypotheses
        self.pk = pk.build(params, patients)
        self.receptor = receptor.build(params, patients)
        self.interventions = interventions.build(params, patients)
        self.circuit = circuit.build(params, patients)
        self.signaling = signaling.build(
            params,
            patients,
            disinhibition=hypotheses.disinhibition,
            rest_block=hypotheses.rest_block,
            ssri_trkb=hypotheses.ssri_trkb,
        )
        self.synapse = synapse.build(params, patients)
        syn0 = self.synapse.initial(len(patients))
        self.symptoms = symptoms.build(params, patients, self.synapse.reference_density, syn0[0] + syn0[1])
        self.ad_daily_mg = params.value("oral_antidepressant_daily_dose", "mg")
        self.slices = dict(SLICES)
        self.state_names = STATE_NAMES
        self.n_states = len(STATE_NAMES)
        self.index = {n: i for i, n in enumerate(STATE_NAMES)}

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def initial(self) -> np.ndarray:
        n = self.n_patients
        return np.concatenate(
            [
                np.zeros((len(pk.STATES), n)),
                self.receptor.initial(n),
                self.interventions.initial(n),
                self.circuit.initial(n),
                self.signaling.initial(n),
                self.synapse.initial(n),
                self.symptoms.initial(n),
            ]
        )

    def _signals(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """Algebraic signals shared by ``rhs`` and ``observe`` (y: states by row, patients last)."""
        s = self.slices
        conc = self.pk.concentrations(y[s["pk"]])
        ce = y[s["receptor"]]
        block = self.receptor.block(ce)
        sero = self.receptor.serotonergic(conc["psilocin_plasma"], conc["escitalopram_plasma"])
        iv = y[s["interventions"]]
        r_e, r_i = self.circuit.rates(block["nmda_occupancy"], block["nmda_interneuron_block"], sero["ht2a_occupancy"])
        glu = y[s["circuit"]][0]
        return {
            **conc,
            **block,
            **sero,
            "r_e": r_e,
            "r_i": r_i,
            "glutamate": glu,
            "ampa": self.signaling.ampa(glu),
            "bdnf_factor": self.interventions.bdnf_factor(iv),
            "potentiation": self.signaling.potentiation(sero["psilocin_trkb"], sero["sert_occupancy"]),
        }

    def rhs(self, t: float, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        s = self.slices
        g = self._signals(y)
        ce = y[s["receptor"]]
        sig = y[s["signaling"]]
        noticed = self.symptoms.cadss(ce[0], ce[1], noticed=True)
        dy = np.concatenate(
            [
                self.pk.rhs(y[s["pk"]], u[s["pk"]]),
                self.receptor.rhs(ce, [g[f"{sp}_um"] for sp in receptor.SPECIES]),
                self.interventions.rhs(y[s["interventions"]], g["sert_occupancy"]),
                self.circuit.rhs(y[s["circuit"]], g["r_e"]),
                self.signaling.rhs(sig, g["glutamate"], g["nmda_occupancy"], g["bdnf_factor"], g["potentiation"]),
                self.synapse.rhs(t, y[s["synapse"]], sig[3], g["ampa"], sig[2], g["ht2a_occupancy"]),
                self.symptoms.rhs(y[s["symptoms"]], g["ampa"], sig[3], noticed, g["ht2a_occupancy"]),
            ]
        )
        n_pk = len(pk.STATES)
        dy[n_pk:] += u[n_pk:]  # session inputs enter as infusions on their states
        return dy

    def events(self, regimen: Regimen) -> tuple[list[Bolus], list[Infusion]]:
        """Dose inputs, expectancy at each visit, sessions, therapy sessions and stress steps."""
        boluses, infusions = self.pk.inputs(regimen)
        n = self.n_patients
        ix = self.index
        iv = self.interventions
        for t in regimen.visit_times:
            boluses.append(Bolus(t, ix["expectancy"], self.symptoms.placebo_session.copy()))
        for sess in regimen.sessions:
            t0, t1, k = sess.at_h, sess.at_h + sess.duration_h, sess.kind
            if k is SessionKind.MIDAZOLAM:
                infusions.append(Infusion(t0, t1, ix["sedation"], self.symptoms.midazolam_sedation / sess.duration_h))
            elif k is SessionKind.ORAL_ANTIDEPRESSANT:  # daily tablets from here on, as a steady oral input
                daily = sess.daily_mg if sess.daily_mg is not None else self.ad_daily_mg
                rate = daily / self.pk.mw["escitalopram"] * 1e3 / 24.0
                infusions.append(Infusion(t0, np.inf, ix["ssri_gut"], np.full(n, rate)))
            elif k is SessionKind.PSYCHOTHERAPY:
                boluses.append(Bolus(t0, ix["therapy_trace"], np.full(n, sess.intensity)))
            elif k is SessionKind.EXERCISE:
                infusions.append(Infusion(t0, t1, ix["exercise_bout"], np.full(n, sess.intensity / sess.duration_h)))
            elif k is SessionKind.KETOGENIC_DIET:
                infusions.append(Infusion(t0, np.inf, ix["bhb_diet"], iv.ketogenic_bhb / iv.tau_ketosis))
            elif k is SessionKind.BHB_SUPPLEMENT:
                boluses.append(Bolus(t0, ix["bhb_supplement"], iv.supplement_bhb * sess.intensity))
        for j, p in enumerate(self.patients):
            for t in p.psychotherapy_h:
                amount = np.zeros(n)
                amount[j] = 1.0
                boluses.append(Bolus(t, ix["therapy_trace"], amount))
            for t, _ in p.stress_steps[1:]:  # cut the integration where stress changes
                boluses.append(Bolus(t, ix["therapy_trace"], np.zeros(n)))
        return boluses, infusions

    def observe(self, t: np.ndarray, y: np.ndarray, only: Collection[str] | None = None) -> dict[str, np.ndarray]:
        """Output variables from states ``y`` (n, P, T); arrays come back as (P, T).

        ``only`` computes just the named variables (all by default): on fine grids the algebra of
        unrequested outputs (circuit rates, MADRS items, ...) is most of the cost.
        """
        yt = np.transpose(y, (0, 2, 1))  # (n, T, P): patient last, like the solver's parameters
        s = self.slices
        ce = yt[s["receptor"]]
        eef2k, bdnf, mtor, prot = yt[s["signaling"]]
        lab, stab, win, ther, win_psy = yt[s["synapse"]]
        acute, expect, sedation, _set_point = yt[s["symptoms"]]
        iv = yt[s["interventions"]]

        @cache
        def conc() -> dict[str, np.ndarray]:
            return self.pk.concentrations(yt[s["pk"]])

        @cache
        def block() -> dict[str, np.ndarray]:
            return self.receptor.block(ce)

        @cache
        def sero() -> dict[str, np.ndarray]:
            return self.receptor.serotonergic(conc()["psilocin_plasma"], conc()["escitalopram_plasma"])

        @cache
        def rates() -> tuple[np.ndarray, np.ndarray]:
            b = block()
            return self.circuit.rates(b["nmda_occupancy"], b["nmda_interneuron_block"], sero()["ht2a_occupancy"])

        @cache
        def ampa() -> np.ndarray:
            return self.signaling.ampa(yt[s["circuit"]][0])

        @cache
        def items() -> np.ndarray:
            return self.symptoms.items(lab + stab, self.synapse.stress(t), acute, expect, ther, iv[4])

        def potentiation() -> np.ndarray:
            return self.signaling.potentiation(sero()["psilocin_trkb"], sero()["sert_occupancy"])

        recipes: dict[str, Callable[[], np.ndarray]] = {
            **{k: (lambda k=k: conc()[k]) for k in _PK_OUTPUTS},  # type: ignore[misc]  # lambda default arg
            "nmda_occupancy": lambda: block()["nmda_occupancy"],
            "nmda_interneuron_block": lambda: block()["nmda_interneuron_block"],
            "ht2a_occupancy": lambda: sero()["ht2a_occupancy"],
            "sert_occupancy": lambda: sero()["sert_occupancy"],
            "pyramidal_rate": lambda: rates()[0] / self.circuit.r_e0,
            "interneuron_rate": lambda: rates()[1] / self.circuit.r_i0,
            "glutamate": lambda: yt[s["circuit"]][0],
            "ampa_activation": ampa,
            "eef2k_activity": lambda: eef2k,
            "bdnf": lambda: bdnf,
            "trkb": lambda: self.signaling.trkb(bdnf, potentiation()),
            "mtorc1": lambda: mtor,
            "synaptic_protein": lambda: prot,
            "labile_synapses": lambda: lab,
            "stable_synapses": lambda: stab,
            "synapse_density": lambda: lab + stab,
            "plasticity_window": lambda: self.synapse.window(win, win_psy),
            "therapy_trace": lambda: ther,
            "stress_load": lambda: self.synapse.stress(t),
            "exercise_training": lambda: iv[1],
            "bhb_mm": lambda: self.interventions.bhb(iv),
            "serotonergic_adaptation": lambda: iv[4],
            "acute_signal": lambda: acute,
            "expectancy": lambda: expect,
            "sedation": lambda: sedation,
            "madrs": lambda: items().sum(axis=0),
            "cadss": lambda: self.symptoms.cadss(ce[0], ce[1]),
            "sbp_change": lambda: self.symptoms.sbp(ce[0]),
        }
        wanted = [*recipes, "madrs_items"] if only is None else list(only)
        # copies, never views of ``y``: a view would keep the whole state buffer alive with the output
        result = {k: np.array(np.asarray(recipes[k]()).T, order="C") for k in wanted if k != "madrs_items"}
        if "madrs_items" in wanted:
            result["madrs_items"] = np.array(np.transpose(items(), (2, 0, 1)), order="C")  # (P, item, T)
        return result


_PK_OUTPUTS = (
    "ketamine_plasma",
    "esketamine_plasma",
    "arketamine_plasma",
    "norketamine_plasma",
    "hydroxynorketamine_plasma",
    "psilocin_plasma",
    "escitalopram_plasma",
)


def assemble(params: ParameterSet, patients: Sequence[Patient], hypotheses: Hypotheses | None = None) -> Model:
    """Build the full model for ``patients`` with the given mechanism switches."""
    return Model(params, patients, hypotheses or Hypotheses())


def varied_parameters(params: ParameterSet) -> frozenset[str]:
    """The parameters the layers read per patient (with random effects): the ones sampling tools may vary."""
    with recording_varied() as names:
        Model(params, [Patient()], Hypotheses())
    return frozenset(names)
