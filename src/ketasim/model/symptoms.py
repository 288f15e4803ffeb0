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

import numpy as np

from ketasim.model._definition import Constants, Equations, State

__all__ = ["ANHEDONIA_ITEMS", "ITEMS", "SELF_CRITICAL_ITEMS", "STATES", "constants", "equations"]

STATES = {
    "acute_signal": State("1", "acute (functional, spine-independent) antidepressant signal"),
    "expectancy": State("1", "expectancy raised by sessions and noticed drug effects (placebo)"),
    "sedation": State("1", "sedation from a midazolam session"),
    "protein_set_point": State("1", "slowly adapting set point of synaptic proteins (homeostatic scaling)"),
}
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


def _profile_weights(profile: float, strength: float) -> np.ndarray:
    w = np.ones(len(ITEMS))
    w[list(ANHEDONIA_ITEMS)] -= strength * profile  # profile -1 (anhedonic) raises these
    w[list(SELF_CRITICAL_ITEMS)] += strength * profile
    return w


def constants(k: Constants) -> None:
    """Needs the synapse layer's ``reference_density`` and ``density0`` (the baseline bracket)."""
    params, patients = k.params, k.patients
    share = np.array([params.value(f"synaptic_share_{p.biotype}") for p in patients])
    k.set("synaptic_share", share, "1", "part of the depression carried by synapse loss (by biotype)")
    stress = np.array([p.stress_load for p in patients])
    stress0 = k.set("stress0", np.where(stress > 0, stress, 1.0), "1", "pre-treatment stress load (1 if none)")
    deficit0 = np.maximum(1 - k["density0"], 0.0) / (1 - k["reference_density"])
    bracket0 = share * deficit0 + (1 - share) * stress / stress0
    floor = params.value("madrs_floor")
    k.set("floor_item", floor / len(ITEMS), "1", "MADRS floor per item")
    weights = np.array([_profile_weights(p.symptom_profile, params.value("profile_weight")) for p in patients])
    above_floor = np.maximum(np.array([p.madrs_baseline for p in patients]) - floor, 0.0)
    scale = above_floor[:, None] * weights / weights.sum(axis=1, keepdims=True)
    scale /= np.where(bracket0 > 0, bracket0, 1.0)[:, None]
    for i, item in enumerate(ITEMS):
        k.set(f"item_scale_{item}", scale[:, i], "1", f"MADRS item {item.replace('_', ' ')} at drive 1, no relief")
    tolerant = np.array([p.alcohol_use_disorder or p.family_history_alcohol for p in patients])
    aud_gain = np.where(tolerant, params.value("aud_antidepressant_gain"), 1.0)
    k.vary("tau_acute", "h")
    k.set("acute_gain_ampa", k.read("acute_gain_ampa", "1/h") * aud_gain, "1/h",
          params["acute_gain_ampa"].description + " (x alcohol-history gain)")  # fmt: skip
    k.set("acute_gain_protein", k.read("acute_gain_protein", "1/h") * aud_gain, "1/h",
          params["acute_gain_protein"].description + " (x alcohol-history gain)")  # fmt: skip
    k.vary("acute_max_relief", "1")
    k.fixed("acute_relief_hill", "1")
    k.fixed("anhedonia_sensitivity", "1")
    k.vary("therapy_symptom_relief", "1")
    k.vary("placebo_perceived_gain", "1/h")
    k.vary("placebo_max_relief", "1")
    k.vary("tau_placebo", "h")
    k.vary("tau_sedation", "h")
    k.vary("tau_homeostasis", "h")
    k.vary("ssri_max_relief", "1")
    k.vary("psychedelic_perceived", "1")
    k.vary("cadss_emax", "1")
    tolerance = np.where(tolerant, params.value("aud_dissociation_tolerance"), 1.0)
    k.set("cadss_ec50", k.read("cadss_ec50", "uM") * tolerance, "uM", "CADSS EC50, with the alcohol-use tolerance")
    k.set("noticed_ec50", k.read("cadss_ec50", "uM"), "uM",
          "EC50 of the noticed drug effect (no alcohol-use tolerance: Krystal 2003)")  # fmt: skip
    k.fixed("cadss_hill", "1")
    k.vary("sbp_emax", "mmHg")
    k.vary("sbp_ec50", "uM")
    k.set("r_over_s_potency", params.value("ki_s_ketamine", "uM") / params.value("ki_r_ketamine", "uM"), "1",
          "potency of R- relative to S-ketamine (Ki ratio)")  # fmt: skip


def initial(k: Constants) -> dict[str, np.ndarray]:
    return {"protein_set_point": np.ones(k.n)}


def equations(eq: Equations) -> None:
    c, x, s, m = eq.c, eq.x, eq.s, eq.m
    # Dissociation and blood pressure from the effect sites; the noticed effect (alcohol-use tolerance
    # blunts perceptual changes but not euphoria or activation, Krystal 2003) drives expectancy.
    dissociative = eq.define("dissociative_conc", m.pos(x.ce_s_ketamine + c.r_over_s_potency * x.ce_r_ketamine),
                             "uM", "S-ketamine-equivalent effect-site concentration for dissociation")  # fmt: skip
    cadss_x = (dissociative / c.cadss_ec50) ** c.cadss_hill
    eq.output("cadss", c.cadss_emax * cadss_x / (1 + cadss_x), "1", "points", "dissociation (CADSS)")
    noticed_x = (dissociative / c.noticed_ec50) ** c.cadss_hill
    noticed = noticed_x / (1 + noticed_x)  # the noticed effect, as a fraction of its maximum
    ce_s = m.pos(x.ce_s_ketamine)
    eq.output("sbp_change", c.sbp_emax * ce_s / (c.sbp_ec50 + ce_s), "mmHg", "mmHg", "systolic blood pressure rise")

    # Homeostatic scaling: the acute signal follows synaptic proteins above a slowly adapting set
    # point, so sustained rises (repeated dosing, chronic exercise) lose their acute effect over weeks.
    prot = s.synaptic_protein
    drive = c.acute_gain_ampa * m.pos(s.ampa_activation - 1) + c.acute_gain_protein * m.pos(prot - x.protein_set_point)
    # a noticeable effect (dissociation, sedation, a psychedelic experience) unblinds and raises expectancy
    perceived = noticed + x.sedation + c.psychedelic_perceived * s.ht2a_occupancy
    eq.rate("acute_signal", drive - x.acute_signal / c.tau_acute)
    eq.rate("expectancy", c.placebo_perceived_gain * perceived - x.expectancy / c.tau_placebo)
    eq.rate("sedation", -x.sedation / c.tau_sedation)  # sessions add sedation as an engine infusion
    eq.rate("protein_set_point", (prot - x.protein_set_point) / c.tau_homeostasis)
    eq.output("acute_signal", x.acute_signal, "1", "a.u.")
    eq.output("expectancy", x.expectancy, "1", "a.u.")
    eq.output("sedation", x.sedation, "1", "a.u.")

    # MADRS items: the depressive drive, synaptic and other, and the reliefs acting on it.
    deficit = m.pos(1 - s.synapse_density) / (1 - c.reference_density)
    synaptic = eq.define("symptom_synaptic", c.synaptic_share * deficit, "1", "drive carried by the synapse deficit")
    # monoaminergic / inflammatory routes; an SSRI's slow adaptation relieves this part only
    other = eq.define(
        "symptom_other",
        (1 - c.synaptic_share) * eq.stress / c.stress0
        * (1 - c.ssri_max_relief * m.clip(s.serotonergic_adaptation, 0, 1)),
        "1",
        "drive through other routes, relieved by the SSRI's serotonergic adaptation",
    )  # fmt: skip
    # The acute glutamatergic signal repairs synaptic function, so it relieves the synaptic part only:
    # depressions driven by other routes (biotypes) respond less to ketamine, not to placebo.
    acute_n = m.pos(x.acute_signal) ** c.acute_relief_hill  # threshold-like: a plateau, then a faster loss
    acute = eq.define("acute_relief_fraction", acute_n / (1 + acute_n), "1")
    placebo = eq.define("relief_placebo", 1 - c.placebo_max_relief * x.expectancy / (1 + x.expectancy), "1")
    therapy = eq.define("relief_therapy", 1 - c.therapy_symptom_relief * x.therapy_trace / (1 + x.therapy_trace), "1")
    total = 0
    for i, item in enumerate(ITEMS):
        sensitivity = c.anhedonia_sensitivity if i in ANHEDONIA_ITEMS else 1
        relief_acute = 1 - m.minimum(c.acute_max_relief * sensitivity * acute, 0.95)
        drive_i = (synaptic * relief_acute + other) * placebo
        if i in SELF_CRITICAL_ITEMS:  # psychotherapy relieves the self-critical items
            drive_i = drive_i * therapy
        score = m.clip(c.floor_item + c[f"item_scale_{item}"] * drive_i, 0, 6)
        label = f"MADRS item: {item.replace('_', ' ')}"
        total = total + eq.output(f"madrs_item_{item}", score, "1", "points (0-6)", label)
    eq.output("madrs", total, "1", "points (0-60)", "MADRS total")
