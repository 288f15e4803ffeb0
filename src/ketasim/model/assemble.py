"""Assembly: the six layers stacked into one ODE system on the batched engine.

Data flow one way: each layer reads only named signals of the layers before it.
``rhs`` is what the solver integrates; ``observe`` recomputes every algebraic signal (block, firing
rates, MADRS items, CADSS, SBP, ...) from stored states, on any array of time points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ketasim.dosing import Regimen, SessionKind
from ketasim.model import circuit, pk, receptor, signaling, symptoms, synapse
from ketasim.model.pk import Bolus, Infusion
from ketasim.parameters import ParameterSet
from ketasim.patient import Patient

__all__ = ["Hypotheses", "Model", "assemble"]

LAYERS = ("pk", "receptor", "circuit", "signaling", "synapse", "symptoms")


@dataclass(frozen=True)
class Hypotheses:
    """Switches for the two initiating mechanisms (both on by default).

    ``disinhibition``: interneuron block -> glutamate pulse -> AMPA -> activity-dependent BDNF release.
    ``rest_block``: block of pyramidal NMDA receptors at rest -> eEF2 kinase off -> BDNF translation.
    """

    disinhibition: bool = True
    rest_block: bool = True


class Model:
    """The assembled ODE system for a batch of patients (state array shape (n_states, n_patients))."""

    def __init__(self, params: ParameterSet, patients: Sequence[Patient], hypotheses: Hypotheses) -> None:
        self.params = params
        self.patients = tuple(patients)
        self.hypotheses = hypotheses
        self.pk = pk.build(params, patients)
        self.receptor = receptor.build(params, patients)
        self.circuit = circuit.build(params, patients)
        self.signaling = signaling.build(
            params, patients, disinhibition=hypotheses.disinhibition, rest_block=hypotheses.rest_block
        )
        self.synapse = synapse.build(params, patients)
        syn0 = self.synapse.initial(len(patients))
        self.symptoms = symptoms.build(params, patients, self.synapse.reference_density, syn0[0] + syn0[1])
        names: list[str] = []
        self.slices: dict[str, slice] = {}
        for layer, states in (
            ("pk", pk.STATES),
            ("receptor", receptor.STATES),
            ("circuit", circuit.STATES),
            ("signaling", signaling.STATES),
            ("synapse", synapse.STATES),
            ("symptoms", symptoms.STATES),
        ):
            self.slices[layer] = slice(len(names), len(names) + len(states))
            names.extend(states)
        self.state_names = tuple(names)
        self.n_states = len(names)
        self.index = {n: i for i, n in enumerate(names)}

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def initial(self) -> np.ndarray:
        n = self.n_patients
        return np.concatenate(
            [
                np.zeros((len(pk.STATES), n)),
                self.receptor.initial(n),
                self.circuit.initial(n),
                self.signaling.initial(n),
                self.synapse.initial(n),
                self.symptoms.initial(n),
            ]
        )

    def rhs(self, t: float, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        s = self.slices
        y_pk = y[s["pk"]]
        conc = self.pk.concentrations(y_pk)
        ce = y[s["receptor"]]
        block = self.receptor.block(ce)
        r_e, _ = self.circuit.rates(block["nmda_occupancy"], block["nmda_interneuron_block"])
        circ = y[s["circuit"]]
        glu = circ[0]
        sig = y[s["signaling"]]
        ampa = self.signaling.ampa(glu)
        noticed = self.symptoms.cadss(ce[0], ce[1], noticed=True)
        dy = np.concatenate(
            [
                self.pk.rhs(y_pk, u[s["pk"]]),
                self.receptor.rhs(ce, [conc[f"{sp}_um"] for sp in receptor.SPECIES]),
                self.circuit.rhs(circ, r_e),
                self.signaling.rhs(sig, glu, block["nmda_occupancy"]),
                self.synapse.rhs(t, y[s["synapse"]], sig[3], ampa, sig[2]),
                self.symptoms.rhs(y[s["symptoms"]], ampa, sig[3], noticed),
            ]
        )
        n_pk = len(pk.STATES)
        dy[n_pk:] += u[n_pk:]  # session inputs (sedation, oral antidepressant) enter as infusions
        return dy

    def events(self, regimen: Regimen) -> tuple[list[Bolus], list[Infusion]]:
        """Dose inputs, expectancy at each visit, control sessions, therapy sessions and stress steps."""
        boluses, infusions = self.pk.inputs(regimen)
        n = self.n_patients
        sym = self.symptoms
        for t in regimen.visit_times:
            boluses.append(Bolus(t, self.index["expectancy"], sym.placebo_session.copy()))
        for sess in regimen.sessions:
            if sess.kind is SessionKind.MIDAZOLAM:
                rate = sym.midazolam_sedation / sess.duration_h
                infusions.append(Infusion(sess.at_h, sess.at_h + sess.duration_h, self.index["sedation"], rate))
            elif sess.kind is SessionKind.ORAL_ANTIDEPRESSANT:  # taken daily from here on
                infusions.append(Infusion(sess.at_h, np.inf, self.index["antidepressant"], 1 / sym.tau_antidepressant))
        ther = self.index["therapy_trace"]
        for j, p in enumerate(self.patients):
            for t in p.psychotherapy_h:
                amount = np.zeros(n)
                amount[j] = 1.0
                boluses.append(Bolus(t, ther, amount))
            for t, _ in p.stress_steps[1:]:  # cut the integration where stress changes
                boluses.append(Bolus(t, ther, np.zeros(n)))
        return boluses, infusions

    def observe(self, t: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """All output variables from states ``y`` (n, P, T); arrays come back as (P, T)."""
        yt = np.transpose(y, (0, 2, 1))  # (n, T, P): patient last, like the solver's parameters
        s = self.slices
        conc = self.pk.concentrations(yt[s["pk"]])
        ce = yt[s["receptor"]]
        block = self.receptor.block(ce)
        r_e, r_i = self.circuit.rates(block["nmda_occupancy"], block["nmda_interneuron_block"])
        eef2k, bdnf, mtor, prot = yt[s["signaling"]]
        glu = yt[s["circuit"]][0]
        ampa = self.signaling.ampa(glu)
        lab, stab, win, ther = yt[s["synapse"]]
        acute, expect, sedation, antidep = yt[s["symptoms"]]
        stress = self.synapse.stress(t)
        items = self.symptoms.items(lab + stab, stress, acute, expect, ther, antidep)
        out = {k: v for k, v in conc.items() if not k.endswith("_um")}
        out.update(
            {
                "nmda_occupancy": block["nmda_occupancy"],
                "nmda_interneuron_block": block["nmda_interneuron_block"],
                "pyramidal_rate": r_e / self.circuit.r_e0,
                "interneuron_rate": r_i / self.circuit.r_i0,
                "glutamate": glu,
                "ampa_activation": ampa,
                "eef2k_activity": eef2k,
                "bdnf": bdnf,
                "trkb": self.signaling.trkb(bdnf),
                "mtorc1": mtor,
                "synaptic_protein": prot,
                "labile_synapses": lab,
                "stable_synapses": stab,
                "synapse_density": lab + stab,
                "plasticity_window": win,
                "therapy_trace": ther,
                "stress_load": stress,
                "acute_signal": acute,
                "expectancy": expect,
                "sedation": sedation,
                "oral_antidepressant": antidep,
                "madrs": items.sum(axis=0),
                "cadss": self.symptoms.cadss(ce[0], ce[1]),
                "sbp_change": self.symptoms.sbp(ce[0]),
            }
        )
        result = {k: np.asarray(v).T for k, v in out.items()}
        result["madrs_items"] = np.transpose(items, (2, 0, 1))  # (P, item, T)
        return result


def assemble(params: ParameterSet, patients: Sequence[Patient], hypotheses: Hypotheses | None = None) -> Model:
    """Build the full model for ``patients`` with the given mechanism switches."""
    return Model(params, patients, hypotheses or Hypotheses())
