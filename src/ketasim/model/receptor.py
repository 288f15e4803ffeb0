"""Layer 2 — receptor: brain effect-site concentrations and NMDA-receptor block by cell type.

Comparators: psilocin's 5-HT2A occupancy and TrkB binding, escitalopram's SERT occupancy.

Unbound plasma concentrations equilibrate with the brain through one rate constant (ke0). Ketamine
enantiomers and their metabolites compete for the same channel site, so block follows the summed
potency-weighted concentration through one Hill curve. Interneurons (GluN2B-rich, tonically active)
are ``interneuron_sensitivity`` times more sensitive than pyramidal cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ketasim.model.values import PatientValues
from ketasim.parameters import ParameterSet
from ketasim.patients import Patient

__all__ = ["SPECIES", "STATES", "ReceptorModel", "build"]

SPECIES = ("s_ketamine", "r_ketamine", "s_norketamine", "r_norketamine", "hnk")
STATES = tuple(f"ce_{s}" for s in SPECIES)


@dataclass(frozen=True)
class ReceptorModel:
    ke0: np.ndarray  # 1/h
    unbound: np.ndarray  # fu * Kp,uu
    ki: np.ndarray  # (5, P) pyramidal functional Ki, µM
    hill: float
    interneuron_sensitivity: np.ndarray
    ht2a_ec50: np.ndarray  # ng/mL psilocin
    sert_ec50: np.ndarray  # ng/mL escitalopram
    psilocin_trkb_k: np.ndarray  # ng/mL psilocin

    def initial(self, n: int) -> np.ndarray:
        return np.zeros((len(STATES), n))

    def rhs(self, y: np.ndarray, plasma_um: Sequence[np.ndarray]) -> np.ndarray:
        target = np.stack([self.unbound * c for c in plasma_um])
        return self.ke0 * (target - y)

    def block(self, ce: np.ndarray) -> dict[str, np.ndarray]:
        """Fractional NMDA block of pyramidal cells and interneurons from effect-site amounts."""
        x = np.clip(sum(ce[i] / self.ki[i] for i in range(len(SPECIES))), 0.0, None)
        xp = x**self.hill
        xi = (x * self.interneuron_sensitivity) ** self.hill
        return {"nmda_occupancy": xp / (1 + xp), "nmda_interneuron_block": xi / (1 + xi)}

    def serotonergic(self, psilocin_ng_ml: np.ndarray, ssri_ng_ml: np.ndarray) -> dict[str, np.ndarray]:
        """5-HT2A occupancy (psilocin, single-site binding: Madsen 2019), SERT occupancy (escitalopram,
        Emax), and the fraction of TrkB sites bound by psilocin (Moliner 2023). Plasma-driven: psilocin
        and escitalopram equilibrate with the brain fast relative to their own kinetics."""
        ps = np.maximum(psilocin_ng_ml, 0.0)
        ss = np.maximum(ssri_ng_ml, 0.0)
        return {
            "ht2a_occupancy": ps / (self.ht2a_ec50 + ps),
            "sert_occupancy": ss / (self.sert_ec50 + ss),
            "psilocin_trkb": ps / (self.psilocin_trkb_k + ps),
        }


def build(params: ParameterSet, patients: Sequence[Patient]) -> ReceptorModel:
    v = PatientValues(params, patients)
    scale = v("pyramidal_ki_scale")
    ki = np.stack([v(f"ki_{s}", "uM") * scale for s in SPECIES])
    return ReceptorModel(
        ke0=v("ke0", "1/h"),
        unbound=v("fu_plasma") * v("kp_uu_brain"),
        ki=ki,
        hill=v.fixed("nmda_hill"),
        interneuron_sensitivity=v("interneuron_sensitivity"),
        ht2a_ec50=v("ht2a_ec50", "ng/mL"),
        sert_ec50=v("sert_ec50", "ng/mL"),
        psilocin_trkb_k=v("psilocin_trkb_k", "ng/mL"),
    )
