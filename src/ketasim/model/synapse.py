"""Layer 5 — synapse: labile and stable spine pools, stress, resilience and the plasticity window.

dN/dt = f - (e_N + k_stab) N and dS/dt = k_stab N - e_S S, density = N + S (healthy, unstressed = 1).
Chronic stress lowers formation f and raises stable-spine elimination e_S, which sets the depressed
baseline; a supportive environment removes part of the stress effect on elimination. Synaptic
proteins raise formation (ketamine's gain is formation-driven); activity and psychotherapy raise
stabilisation, therapy most inside the plasticity window opened by mTORC1 activity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ketasim.model.values import PatientValues
from ketasim.parameters import ParameterSet
from ketasim.patients import Patient

__all__ = ["STATES", "SynapseModel", "build"]

STATES = ("labile_synapses", "stable_synapses", "ketamine_window", "therapy_trace", "psychedelic_window")


@dataclass(frozen=True)
class SynapseModel:
    f0: np.ndarray  # 1/h, derived so that the unstressed density is 1
    e_n: np.ndarray
    k_s: np.ndarray
    e_s: np.ndarray
    sigma_e: np.ndarray
    sigma_f: np.ndarray
    support: np.ndarray
    support_protection: float
    gain_p: np.ndarray
    gain_a: np.ndarray
    gain_t: np.ndarray
    therapy_outside: float
    tau_t: np.ndarray
    k_open: np.ndarray
    tau_w: np.ndarray
    k_open_psy: np.ndarray
    tau_w_psy: np.ndarray
    window_gain: np.ndarray
    healthy_growth: np.ndarray
    stress_times: np.ndarray  # (P, K) step times, padded with +inf
    stress_levels: np.ndarray  # (P, K) levels, padded with the last level
    reference_density: float  # density of a typical patient at stress 1 without support (< 1)

    def stress(self, t: float | np.ndarray) -> np.ndarray:
        """Stress load of each patient at time t (piecewise constant)."""
        t = np.asarray(t, float)
        k = (self.stress_times <= t[..., None, None]).sum(axis=-1) - 1  # (..., P)
        k = np.maximum(k, 0)
        return np.take_along_axis(
            np.broadcast_to(self.stress_levels, k.shape + self.stress_levels.shape[-1:]), k[..., None], -1
        )[..., 0]

    def rates(
        self,
        stress: np.ndarray,
        density: np.ndarray,
        prot: np.ndarray,
        ampa: np.ndarray,
        window: np.ndarray,
        therapy: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Drug-driven formation regrows lost synapses (Moda-Sava 2019): it scales with the sites lost,
        # so repeated dosing saturates at healthy density instead of overshooting it.
        lost = np.maximum(1 - density, 0.0) / (1 - self.reference_density)
        boost = 1 + self.gain_p * (prot - 1) * (self.healthy_growth + lost) / (self.healthy_growth + 1)
        f = self.f0 * np.maximum(1 - self.sigma_f * stress, 0.0) * np.maximum(boost, 0.0)
        e_s = self.e_s * (1 + self.sigma_e * stress * (1 - self.support_protection * self.support))
        k_stab = (
            self.k_s
            * (1 + self.gain_a * np.maximum(ampa - 1, 0.0))
            * (1 + self.window_gain * window)
            * (1 + self.gain_t * therapy * (self.therapy_outside + (1 - self.therapy_outside) * window))
        )
        return f, e_s, k_stab

    def steady_state(self, stress: np.ndarray) -> np.ndarray:
        ones = np.ones_like(stress)
        f, e_s, k_stab = self.rates(stress, ones, ones, ones, 0 * ones, 0 * ones)
        n = f / (self.e_n + k_stab)
        return np.stack([n, k_stab * n / e_s, 0 * ones, 0 * ones, 0 * ones])

    def initial(self, n: int) -> np.ndarray:
        return self.steady_state(self.stress(0.0))

    @staticmethod
    def window(ketamine_window: np.ndarray, psychedelic_window: np.ndarray) -> np.ndarray:
        """Either drug's window counts; together they combine like independent openings."""
        return 1 - (1 - ketamine_window) * (1 - psychedelic_window)

    def rhs(
        self,
        t: float,
        y: np.ndarray,
        prot: np.ndarray,
        ampa: np.ndarray,
        mtorc1: np.ndarray,
        ht2a: np.ndarray | float = 0.0,
    ) -> np.ndarray:
        lab, stab, win, ther, win_psy = y
        f, e_s, k_stab = self.rates(self.stress(t), lab + stab, prot, ampa, self.window(win, win_psy), ther)
        return np.stack(
            [
                f - (self.e_n + k_stab) * lab,
                k_stab * lab - e_s * stab,
                self.k_open * np.maximum(mtorc1 - 1, 0.0) * (1 - win) - win / self.tau_w,
                -ther / self.tau_t,
                self.k_open_psy * ht2a * (1 - win_psy) - win_psy / self.tau_w_psy,
            ]
        )


def build(params: ParameterSet, patients: Sequence[Patient]) -> SynapseModel:
    model = _make(params, patients)
    # The structural deficit is measured against the typical patient at stress load 1 (no support).
    ss = _make(params, [Patient()]).steady_state(np.array([1.0]))
    return replace(model, reference_density=float(ss[0, 0] + ss[1, 0]))


def _make(params: ParameterSet, patients: Sequence[Patient]) -> SynapseModel:
    v = PatientValues(params, patients)
    e_n = v("elim_labile", "1/h")
    k_s = v("stabilisation", "1/h")
    e_s = v("elim_stable", "1/h")
    # Unstressed steady state: N0 = f0/(e_N + k_s), S0 = k_s N0 / e_S, N0 + S0 = 1.
    f0 = (e_n + k_s) / (1 + k_s / e_s)
    return SynapseModel(
        f0=f0,
        e_n=e_n,
        k_s=k_s,
        e_s=e_s,
        sigma_e=v("stress_elimination"),
        sigma_f=v("stress_formation"),
        support=v.attr("supportive_environment"),
        support_protection=v.fixed("support_protection"),
        gain_p=v("protein_formation_gain"),
        gain_a=v("activity_stabilisation_gain"),
        gain_t=v("therapy_stabilisation_gain"),
        therapy_outside=v.fixed("therapy_outside_window"),
        tau_t=v("tau_therapy", "h"),
        k_open=v("plasticity_window_open", "1/h"),
        tau_w=v("tau_plasticity_window", "h"),
        k_open_psy=v("psychedelic_window_open", "1/h"),
        tau_w_psy=v("tau_psychedelic_window", "h"),
        window_gain=v("window_stabilisation_gain"),
        healthy_growth=v("healthy_growth_share"),
        stress_times=_padded([[s[0] for s in p.stress_steps] for p in patients], np.inf),
        stress_levels=_padded([[s[1] for s in p.stress_steps] for p in patients], None),
        reference_density=0.75,  # placeholder until build() computes it
    )


def _padded(rows: list[list[float]], fill: float | None) -> np.ndarray:
    """Rows of unequal length as one array; pad with ``fill`` or, if None, each row's last value."""
    width = max(len(r) for r in rows)
    return np.array([r + [r[-1] if fill is None else fill] * (width - len(r)) for r in rows], float)
