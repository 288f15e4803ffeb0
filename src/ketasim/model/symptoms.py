"""Layer 6 — symptoms: MADRS items, expectancy, dissociation (CADSS) and systolic blood pressure.

Each of the 10 MADRS items (Montgomery & Asberg 1979) is driven by the patient's depression: a
structural part (synapse deficit relative to the typical stressed brain) and a non-synaptic part
(stress acting through other routes), mixed by the biotype's synaptic share. Reliefs: a fast acute
signal (hours-days; functional potentiation, needs no new spines) on the synaptic part only;
expectancy after each session (placebo) on the whole score; an SSRI's slow serotonergic adaptation on
the non-synaptic part; psychotherapy on the self-critical items. Dissociation and blood pressure are
read from the effect-site concentrations with their own potencies, so tolerance to dissociation
(alcohol use disorder history) leaves the antidepressant chain untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ketasim.model.values import PatientValues
from ketasim.parameters import ParameterSet
from ketasim.patients import Patient

__all__ = ["ANHEDONIA_ITEMS", "ITEMS", "SELF_CRITICAL_ITEMS", "STATES", "SymptomModel", "build"]

STATES = ("acute_signal", "expectancy", "sedation", "protein_set_point")
ITEMS = (
    "apparent_sadness",
    "reported_sadness",
    "inner_tension",
    "reduced_sleep",
    "reduced_appetite",
    "concentration_difficulties",
    "lassitude",
    "inability_to_feel",
    "pessimistic_thoughts",
    "suicidal_thoughts",
)
ANHEDONIA_ITEMS = (0, 1, 5, 6, 7)
SELF_CRITICAL_ITEMS = (2, 8, 9)


@dataclass(frozen=True)
class SymptomModel:
    item_scale: np.ndarray  # (10, P): item score at bracket 1 with no relief
    floor_item: float
    synaptic_share: np.ndarray
    stress0: np.ndarray
    reference_density: float
    tau_a: np.ndarray
    gain_ampa: np.ndarray
    gain_prot: np.ndarray
    acute_max: np.ndarray
    acute_hill: float
    acute_sens: np.ndarray  # (10,)
    therapy_relief: np.ndarray
    placebo_gain: np.ndarray
    placebo_max: np.ndarray
    tau_pl: np.ndarray
    placebo_session: np.ndarray
    midazolam_sedation: np.ndarray
    tau_sedation: np.ndarray
    tau_homeostasis: np.ndarray
    ssri_relief: np.ndarray
    psychedelic_perceived: np.ndarray
    cadss_emax: np.ndarray
    cadss_ec50: np.ndarray  # includes the alcohol-use tolerance
    noticed_ec50: np.ndarray  # without it: drives expectancy
    cadss_hill: float
    sbp_emax: np.ndarray
    sbp_ec50: np.ndarray
    r_over_s_potency: float

    def initial(self, n: int) -> np.ndarray:
        return np.concatenate([np.zeros((3, n)), np.ones((1, n))])

    def cadss(self, ce_s: np.ndarray, ce_r: np.ndarray, *, noticed: bool = False) -> np.ndarray:
        """Dissociation (CADSS). ``noticed=True`` gives the perceived drug effect that drives expectancy:
        alcohol-use tolerance blunts perceptual changes but not euphoria or activation (Krystal 2003)."""
        ec50 = self.noticed_ec50 if noticed else self.cadss_ec50
        x = np.maximum(ce_s + self.r_over_s_potency * ce_r, 0.0) ** self.cadss_hill
        return self.cadss_emax * x / (ec50**self.cadss_hill + x)

    def sbp(self, ce_s: np.ndarray) -> np.ndarray:
        c = np.maximum(ce_s, 0.0)
        return self.sbp_emax * c / (self.sbp_ec50 + c)

    def rhs(
        self, y: np.ndarray, ampa: np.ndarray, prot: np.ndarray, noticed: np.ndarray, ht2a: np.ndarray | float = 0.0
    ) -> np.ndarray:
        """Sedation (midazolam sessions) arrives as an engine infusion."""
        acute, expect, sedation, set_point = y
        # Homeostatic scaling: the acute signal follows synaptic proteins above a slowly adapting set
        # point, so sustained rises (repeated dosing, chronic exercise) lose their acute effect over weeks.
        drive = self.gain_ampa * np.maximum(ampa - 1, 0.0) + self.gain_prot * np.maximum(prot - set_point, 0.0)
        # a noticeable effect (dissociation, sedation, a psychedelic experience) unblinds and raises expectancy
        perceived = noticed / self.cadss_emax + sedation + self.psychedelic_perceived * ht2a
        return np.stack(
            [
                drive - acute / self.tau_a,
                self.placebo_gain * perceived - expect / self.tau_pl,
                -sedation / self.tau_sedation,
                (prot - set_point) / self.tau_homeostasis,
            ]
        )

    def items(
        self,
        density: np.ndarray,
        stress: np.ndarray,
        acute: np.ndarray,
        expect: np.ndarray,
        therapy: np.ndarray,
        serotonergic_adaptation: np.ndarray | float = 0.0,
    ) -> np.ndarray:
        """MADRS item scores (10, ...), each within 0-6."""
        deficit = np.maximum(1 - density, 0.0) / (1 - self.reference_density)
        synaptic = self.synaptic_share * deficit  # the part of the drive that synapses carry
        # monoaminergic / inflammatory routes; an SSRI's slow adaptation relieves this part only
        ssri = 1 - self.ssri_relief * np.clip(serotonergic_adaptation, 0.0, 1.0)
        other = (1 - self.synaptic_share) * stress / self.stress0 * ssri
        # The acute glutamatergic signal repairs synaptic function, so it relieves the synaptic part only:
        # depressions driven by other routes (biotypes) respond less to ketamine, not to placebo.
        a_n = np.maximum(acute, 0.0) ** self.acute_hill  # threshold-like: a plateau, then a faster loss
        a_frac = a_n / (1 + a_n)
        relief_p = 1 - self.placebo_max * expect / (1 + expect)
        relief_t = 1 - self.therapy_relief * therapy / (1 + therapy)  # self-critical items only
        out = np.empty((len(ITEMS), *np.broadcast_shapes(np.shape(acute), np.shape(density))))
        # Items differ only by scale, acute sensitivity and whether therapy relieves them: the shared
        # (time, patient) factor is computed once per distinct (sensitivity, self-critical) pair.
        shared: dict[tuple[float, bool], np.ndarray] = {}
        for i in range(len(ITEMS)):
            key = (float(self.acute_sens[i]), i in SELF_CRITICAL_ITEMS)
            if key not in shared:
                relief_a = 1 - np.minimum(self.acute_max * key[0] * a_frac, 0.95)
                f = (synaptic * relief_a + other) * relief_p
                shared[key] = f * relief_t if key[1] else f
            np.clip(self.floor_item + self.item_scale[i] * shared[key], 0.0, 6.0, out=out[i])
        return out


def _profile_weights(profile: float, strength: float) -> np.ndarray:
    w = np.ones(len(ITEMS))
    w[list(ANHEDONIA_ITEMS)] -= strength * profile  # profile -1 (anhedonic) raises these
    w[list(SELF_CRITICAL_ITEMS)] += strength * profile
    return w


def build(
    params: ParameterSet, patients: Sequence[Patient], reference_density: float, density0: np.ndarray
) -> SymptomModel:
    """``density0``: each patient's pre-treatment synapse density (sets the baseline bracket)."""
    v = PatientValues(params, patients)
    share = np.array([v.fixed(f"synaptic_share_{p.biotype}") for p in patients])
    stress0 = np.array([p.stress_load if p.stress_load > 0 else 1.0 for p in patients])
    deficit0 = np.maximum(1 - density0, 0.0) / (1 - reference_density)
    bracket0 = share * deficit0 + (1 - share) * np.array([p.stress_load for p in patients]) / stress0
    floor = v.fixed("madrs_floor")
    scale = np.empty((len(ITEMS), len(patients)))
    for j, p in enumerate(patients):
        w = _profile_weights(p.symptom_profile, v.fixed("profile_weight"))
        above_floor = max(p.madrs_baseline - floor, 0.0)
        scale[:, j] = above_floor * w / w.sum() / (bracket0[j] if bracket0[j] > 0 else 1.0)
    tolerant = np.array([p.alcohol_use_disorder or p.family_history_alcohol for p in patients])
    aud_gain = np.where(tolerant, v.fixed("aud_antidepressant_gain"), 1.0)
    sens = np.ones(len(ITEMS))
    sens[list(ANHEDONIA_ITEMS)] = v.fixed("anhedonia_sensitivity")
    return SymptomModel(
        item_scale=scale,
        floor_item=floor / len(ITEMS),
        synaptic_share=share,
        stress0=stress0,
        reference_density=reference_density,
        tau_a=v("tau_acute", "h"),
        gain_ampa=v("acute_gain_ampa", "1/h") * aud_gain,
        gain_prot=v("acute_gain_protein", "1/h") * aud_gain,
        acute_max=v("acute_max_relief"),
        acute_hill=v.fixed("acute_relief_hill"),
        acute_sens=sens,
        therapy_relief=v("therapy_symptom_relief"),
        placebo_gain=v("placebo_perceived_gain", "1/h"),
        placebo_max=v("placebo_max_relief"),
        tau_pl=v("tau_placebo", "h"),
        placebo_session=v("placebo_session"),
        midazolam_sedation=v("midazolam_sedation"),
        tau_sedation=v("tau_sedation", "h"),
        tau_homeostasis=v("tau_homeostasis", "h"),
        ssri_relief=v("ssri_max_relief"),
        psychedelic_perceived=v("psychedelic_perceived"),
        cadss_emax=v("cadss_emax"),
        cadss_ec50=v("cadss_ec50", "uM") * np.where(tolerant, v.fixed("aud_dissociation_tolerance"), 1.0),
        noticed_ec50=v("cadss_ec50", "uM"),
        cadss_hill=v.fixed("cadss_hill"),
        sbp_emax=v("sbp_emax", "mmHg"),
        sbp_ec50=v("sbp_ec50", "uM"),
        r_over_s_potency=v.fixed("ki_s_ketamine", "uM") / v.fixed("ki_r_ketamine", "uM"),
    )
