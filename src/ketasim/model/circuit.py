"""Layer 3 — circuit: pyramidal/interneuron rate network at quasi-steady state, and glutamate.

The network relaxes in tens of milliseconds, so at every time it is solved at steady state rather
than integrated. With threshold-linear transfer functions and saturating NMDA gating
s = a r / (1 + a r), the steady state reduces to one quadratic in the pyramidal rate, solved in
closed form for whichever regime (interneurons active or silenced) is self-consistent.
Extracellular glutamate follows the pyramidal rate with a smoothing time constant, relative to an
adapting baseline, so the surge is a pulse even while the drug is still on board.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ketasim.errors import ModelError
from ketasim.model.values import PatientValues
from ketasim.parameters import ParameterSet
from ketasim.patients import Patient

__all__ = ["STATES", "CircuitModel", "build"]

STATES = ("glutamate", "glutamate_adaptation")


@dataclass(frozen=True)
class CircuitModel:
    j_ee_a: float
    j_ee_n: float
    j_ei: float
    j_ie_a: float
    j_ie_n: float
    j_ii: float
    i_e0: float
    i_i0: float
    g_e: float
    g_i: float
    a: float  # gamma * tau_NMDA, 1/Hz
    tau_g: np.ndarray  # h
    tau_adapt: np.ndarray  # h
    kappa_g: np.ndarray
    r_e0: float
    r_i0: float
    ht2a_drive: float = 0.0

    def rates(self, b_e: np.ndarray, b_i: np.ndarray, ht2a: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Steady-state pyramidal and interneuron rates (Hz) for given fractional NMDA block and
        5-HT2A occupancy (which adds excitatory drive to layer-5 pyramidal cells)."""
        b_e, b_i, ht2a = np.broadcast_arrays(np.asarray(b_e, float), np.asarray(b_i, float), np.asarray(ht2a, float))
        i_e0 = self.i_e0 + self.ht2a_drive * ht2a
        r_e = np.full(b_e.shape, np.nan)
        r_i = np.zeros(b_e.shape)
        # Interneurons active (h > 0) is tried first; silenced interneurons (h = 0) fill the rest.
        for h in (self.g_i / (1 + self.g_i * self.j_ii), 0.0):
            c2 = (1 - b_i) * self.j_ie_n
            a1 = self.g_e * (self.j_ee_a - self.j_ei * h * self.j_ie_a)
            a2 = self.g_e * ((1 - b_e) * self.j_ee_n - self.j_ei * h * c2)
            a0 = self.g_e * (i_e0 - self.j_ei * h * self.i_i0)
            qa = self.a * (1 - a1)
            qb = 1 - a1 - self.a * (a2 + a0)
            disc = np.maximum(qb * qb + 4 * qa * a0, 0.0)
            r = (-qb + np.sqrt(disc)) / (2 * qa)
            s = self.a * r / (1 + self.a * r)
            drive_i = self.j_ie_a * r + c2 * s + self.i_i0
            consistent = drive_i >= 0 if h > 0 else np.ones_like(r, bool)  # fallback regime
            ok = np.isnan(r_e) & (r >= 0) & consistent
            r_e = np.where(ok, r, r_e)
            r_i = np.where(ok, h * np.maximum(drive_i, 0.0), r_i)
        return np.nan_to_num(r_e), r_i

    def initial(self, n: int) -> np.ndarray:
        return np.stack([np.ones(n), np.zeros(n)])

    def rhs(self, y: np.ndarray, r_e: np.ndarray) -> np.ndarray:
        """Glutamate relaxes to the firing-driven target minus an adapting offset."""
        glu, adapt = y
        excess = r_e / self.r_e0 - 1
        target = np.maximum(1 + self.kappa_g * (excess - adapt), 0.0)
        return np.stack([(target - glu) / self.tau_g, (excess - adapt) / self.tau_adapt])


def build(params: ParameterSet, patients: Sequence[Patient]) -> CircuitModel:
    v = PatientValues(params, patients)
    tau_n_s = v.fixed("tau_nmda", "s")
    m = CircuitModel(
        j_ee_a=v.fixed("j_ee_ampa", "s"),  # weights on rates (Hz) are in seconds
        j_ee_n=v.fixed("j_ee_nmda"),
        j_ei=v.fixed("j_ei", "s"),
        j_ie_a=v.fixed("j_ie_ampa", "s"),
        j_ie_n=v.fixed("j_ie_nmda"),
        j_ii=v.fixed("j_ii", "s"),
        i_e0=v.fixed("i_e0"),
        i_i0=v.fixed("i_i0"),
        g_e=v.fixed("gain_e", "Hz"),
        g_i=v.fixed("gain_i", "Hz"),
        a=v.fixed("gamma_nmda") * tau_n_s,
        tau_g=v("tau_glutamate", "h"),
        tau_adapt=v("tau_glutamate_adaptation", "h"),
        kappa_g=v("glutamate_gain"),
        r_e0=1.0,
        r_i0=1.0,
        ht2a_drive=v.fixed("ht2a_pyramidal_drive"),
    )
    r_e0, r_i0 = m.rates(np.array(0.0), np.array(0.0))
    if not (r_e0 > 0 and r_i0 > 0):
        raise ModelError("circuit parameters give no active baseline state")
    return CircuitModel(**{**m.__dict__, "r_e0": float(r_e0), "r_i0": float(r_i0)})
