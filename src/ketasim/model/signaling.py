"""Layer 4 — signaling: AMPA drive and eEF2 -> BDNF -> TrkB -> mTORC1 -> synaptic proteins.

Two switchable initiating hypotheses feed BDNF:
(a) disinhibition: the glutamate pulse drives AMPA receptors and activity-dependent BDNF release;
(b) block at rest: NMDA block on pyramidal cells at rest switches eEF2 kinase off, de-repressing BDNF
translation. mTORC1 is an AND-gate of TrkB activation and activity (Jain & Bhalla 2009, no bistability);
synaptic proteins integrate mTORC1 above baseline and turn over over days.
All variables are folds of their baseline (= 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ketasim.model.values import PatientValues
from ketasim.parameters import ParameterSet
from ketasim.patients import Patient

__all__ = ["STATES", "SignalingModel", "build"]

STATES = ("eef2k", "bdnf", "mtorc1", "synaptic_protein")


@dataclass(frozen=True)
class SignalingModel:
    disinhibition: bool
    rest_block: bool
    tau_e: np.ndarray
    gain_e: np.ndarray
    gain_a: np.ndarray
    tau_b: np.ndarray
    k_t: float
    k_gate: float
    n_gate: float
    tau_m: np.ndarray
    k_p: np.ndarray
    tau_p: np.ndarray
    psilocin_gain: np.ndarray
    ssri_gain: np.ndarray
    ssri_trkb: bool = False

    def initial(self, n: int) -> np.ndarray:
        return np.ones((len(STATES), n))

    def ampa(self, glutamate: np.ndarray) -> np.ndarray:
        """AMPA drive (fold): follows glutamate only while the disinhibition branch is on."""
        return glutamate if self.disinhibition else np.ones_like(glutamate)

    def trkb(self, bdnf: np.ndarray, potentiation: np.ndarray | float = 0.0) -> np.ndarray:
        """TrkB activation (fold); allosteric potentiation (psilocin, or an SSRI if switched on) acts
        like more BDNF."""
        eff = bdnf * (1 + potentiation)
        return eff * (1 + self.k_t) / (self.k_t + eff)

    def potentiation(self, psilocin_trkb: np.ndarray, sert_occupancy: np.ndarray) -> np.ndarray:
        ssri = self.ssri_gain * sert_occupancy if self.ssri_trkb else 0.0
        return self.psilocin_gain * psilocin_trkb + ssri

    def gate(self, ampa: np.ndarray) -> np.ndarray:
        x = np.maximum(ampa, 0.0) ** self.n_gate
        k = self.k_gate**self.n_gate
        return x * (1 + k) / (k + x)

    def rhs(
        self,
        y: np.ndarray,
        glutamate: np.ndarray,
        block_rest: np.ndarray,
        production_factor: np.ndarray | float = 1.0,
        potentiation: np.ndarray | float = 0.0,
    ) -> np.ndarray:
        """``production_factor``: exercise and ketone bodies; ``potentiation``: TrkB allosteric drugs."""
        eef2k, bdnf, mtor, prot = y
        a = self.ampa(glutamate)
        target_e = 1 - block_rest if self.rest_block else np.ones_like(eef2k)
        production = (1 + self.gain_e * (1 - eef2k)) * (1 + self.gain_a * np.maximum(a - 1, 0.0)) * production_factor
        return np.stack(
            [
                (target_e - eef2k) / self.tau_e,
                (production - bdnf) / self.tau_b,
                (self.trkb(bdnf, potentiation) * self.gate(a) - mtor) / self.tau_m,
                self.k_p * (mtor - 1) - (prot - 1) / self.tau_p,
            ]
        )


def build(
    params: ParameterSet,
    patients: Sequence[Patient],
    *,
    disinhibition: bool = True,
    rest_block: bool = True,
    ssri_trkb: bool = False,
) -> SignalingModel:
    v = PatientValues(params, patients)
    return SignalingModel(
        disinhibition=disinhibition,
        rest_block=rest_block,
        tau_e=v("tau_eef2k", "h"),
        gain_e=v("eef2_bdnf_gain"),
        gain_a=v("ampa_bdnf_gain"),
        tau_b=v("tau_bdnf", "h"),
        k_t=v.fixed("k_trkb"),
        k_gate=v.fixed("k_activity_gate"),
        n_gate=v.fixed("activity_gate_hill"),
        tau_m=v("tau_mtorc1", "h"),
        k_p=v("k_synaptic_protein", "1/h"),
        tau_p=v("tau_synaptic_protein", "h"),
        psilocin_gain=v("psilocin_trkb_gain"),
        ssri_gain=v("ssri_trkb_gain"),
        ssri_trkb=ssri_trkb,
    )
