"""Layer 2 — receptor: brain effect-site concentrations and NMDA-receptor block by cell type.

Comparators: psilocin's 5-HT2A occupancy and TrkB binding, escitalopram's SERT occupancy.

Unbound plasma concentrations equilibrate with the brain through one rate constant (ke0). Ketamine
enantiomers and their metabolites compete for the same channel site, so block follows the summed
potency-weighted concentration through one Hill curve. Interneurons (GluN2B-rich, tonically active)
are ``interneuron_sensitivity`` times more sensitive than pyramidal cells.
"""

from __future__ import annotations

from ketasim.model._definition import Constants, Equations, State

__all__ = ["SPECIES", "STATES", "constants", "equations"]

SPECIES = ("s_ketamine", "r_ketamine", "s_norketamine", "r_norketamine", "hnk")
STATES = {f"ce_{sp}": State("uM", f"brain effect site, unbound {sp.replace('_', '-')}") for sp in SPECIES}


def constants(k: Constants) -> None:
    k.vary("ke0", "1/h")
    k.vary("fu_plasma", "1")
    k.vary("kp_uu_brain", "1")
    for sp in SPECIES:
        k.vary(f"ki_{sp}", "uM")
    k.vary("pyramidal_ki_scale", "1")
    k.fixed("nmda_hill", "1")
    k.vary("interneuron_sensitivity", "1")
    k.vary("ht2a_ec50", "ng/mL")
    k.vary("sert_ec50", "ng/mL")
    k.vary("psilocin_trkb_k", "ng/mL")


def equations(eq: Equations) -> None:
    c, x, s, m = eq.c, eq.x, eq.s, eq.m
    for sp in SPECIES:  # unbound plasma -> brain, one rate constant
        eq.rate(f"ce_{sp}", c.ke0 * (c.fu_plasma * c.kp_uu_brain * s[f"{sp}_um"] - x[f"ce_{sp}"]))

    # competitive block at one site: potency-weighted sum through one Hill curve
    potency = m.pos(sum(x[f"ce_{sp}"] / (c[f"ki_{sp}"] * c.pyramidal_ki_scale) for sp in SPECIES))
    xp = eq.define("nmda_hill_term", potency**c.nmda_hill, "1", "potency-weighted sum to the Hill power")
    xi = xp * c.interneuron_sensitivity**c.nmda_hill  # (sensitivity x sum)^hill
    eq.output("nmda_occupancy", xp / (1 + xp), "1", "fraction (pyramidal)", "NMDA block, pyramidal cells")
    eq.output("nmda_interneuron_block", xi / (1 + xi), "1", "fraction", "NMDA block, interneurons")

    # Psilocin at 5-HT2A (single-site binding, Madsen 2019) and TrkB (Moliner 2023), escitalopram at
    # SERT (Emax); plasma-driven, as both equilibrate with the brain fast relative to their kinetics.
    ps = eq.define("psilocin_pos", m.pos(s.psilocin_plasma), "ng/mL")
    ss = eq.define("escitalopram_pos", m.pos(s.escitalopram_plasma), "ng/mL")
    eq.output("ht2a_occupancy", ps / (c.ht2a_ec50 + ps), "1", "fraction", "5-HT2A occupancy (psilocin)")
    eq.output("sert_occupancy", ss / (c.sert_ec50 + ss), "1", "fraction", "SERT occupancy (escitalopram)")
    eq.define("psilocin_trkb", ps / (c.psilocin_trkb_k + ps), "1", "fraction of TrkB sites bound by psilocin")
