"""Layer 4 — signaling: AMPA drive and eEF2 -> BDNF -> TrkB -> mTORC1 -> synaptic proteins.

Two switchable initiating hypotheses feed BDNF:
(a) disinhibition: the glutamate pulse drives AMPA receptors and activity-dependent BDNF release;
(b) block at rest: NMDA block on pyramidal cells at rest switches eEF2 kinase off, de-repressing BDNF
translation. mTORC1 is an AND-gate of TrkB activation and activity (Jain & Bhalla 2009, no bistability);
synaptic proteins integrate mTORC1 above baseline and turn over over days.
All variables are folds of their baseline (= 1). The switches are constants (1 on, 0 off) so that one
compiled model serves every combination.
"""

from __future__ import annotations

import numpy as np

from ketasim.model._definition import Constants, Equations, State

__all__ = ["STATES", "constants", "equations"]

STATES = {
    "eef2k": State("1", "eEF2 kinase activity, fold of baseline"),
    "bdnf": State("1", "BDNF, fold of baseline"),
    "mtorc1": State("1", "mTORC1 activity, fold of baseline"),
    "synaptic_protein": State("1", "synaptic proteins, fold of baseline"),
}


def constants(k: Constants) -> None:
    for switch, what in (("disinhibition", "interneuron block -> glutamate pulse -> AMPA -> BDNF release"),
                         ("rest_block", "block at rest -> eEF2 kinase off -> BDNF translation"),
                         ("ssri_trkb", "SSRIs potentiate TrkB directly")):  # fmt: skip
        k.set(switch, float(k.switches[switch]), "1", f"hypothesis switch (1 on, 0 off): {what}")
    k.vary("tau_eef2k", "h")
    k.vary("eef2_bdnf_gain", "1")
    k.vary("ampa_bdnf_gain", "1")
    k.vary("tau_bdnf", "h")
    k.fixed("k_trkb", "1")
    k.fixed("k_activity_gate", "1")
    k.fixed("activity_gate_hill", "1")
    k.vary("tau_mtorc1", "h")
    k.vary("k_synaptic_protein", "1/h")
    k.vary("tau_synaptic_protein", "h")
    k.vary("psilocin_trkb_gain", "1")
    k.vary("ssri_trkb_gain", "1")


def initial(k: Constants) -> dict[str, np.ndarray]:
    return {name: np.ones(k.n) for name in STATES}


def equations(eq: Equations) -> None:
    c, x, s, m = eq.c, eq.x, eq.s, eq.m
    on = 0.5  # a switch is on when its constant is 1
    ampa = eq.output("ampa_activation", m.where(c.disinhibition > on, x.glutamate, 1), "1", "fold of baseline",
                     "AMPA drive: follows glutamate while the disinhibition branch is on")  # fmt: skip
    # TrkB activation (fold); allosteric potentiation (psilocin, or an SSRI if switched on) acts like more BDNF
    potentiation = c.psilocin_trkb_gain * s.psilocin_trkb + m.where(
        c.ssri_trkb > on, c.ssri_trkb_gain * s.sert_occupancy, 0
    )
    effective = x.bdnf * (1 + potentiation)
    trkb = eq.output("trkb", effective * (1 + c.k_trkb) / (c.k_trkb + effective), "1", "fold of baseline")
    gate_x = m.pos(ampa) ** c.activity_gate_hill
    gate_k = c.k_activity_gate**c.activity_gate_hill
    gate = gate_x * (1 + gate_k) / (gate_k + gate_x)  # activity gate of mTORC1, 1 at baseline

    eef2k_target = m.where(c.rest_block > on, 1 - s.nmda_occupancy, 1)
    production = (1 + c.eef2_bdnf_gain * (1 - x.eef2k)) * (1 + c.ampa_bdnf_gain * m.pos(ampa - 1)) * s.bdnf_factor
    eq.rate("eef2k", (eef2k_target - x.eef2k) / c.tau_eef2k)
    eq.rate("bdnf", (production - x.bdnf) / c.tau_bdnf)
    eq.rate("mtorc1", (trkb * gate - x.mtorc1) / c.tau_mtorc1)
    eq.rate("synaptic_protein",
            c.k_synaptic_protein * (x.mtorc1 - 1) - (x.synaptic_protein - 1) / c.tau_synaptic_protein)  # fmt: skip
    eq.output("eef2k_activity", x.eef2k, "1", "fold of baseline")
    eq.output("bdnf", x.bdnf, "1", "fold of baseline")
    eq.output("mtorc1", x.mtorc1, "1", "fold of baseline")
    eq.output("synaptic_protein", x.synaptic_protein, "1", "fold of baseline")
