"""Layer 6 — symptoms: the 10 MADRS items as a symptom network, with dissociation and blood pressure.

Depression is a state of a network of symptoms that keep each other active (Cramer et al. 2016, PLoS
ONE 11:e0167490): each item's latent activation a_i (0-1) relaxes towards a logistic function of the
activity of the other items and of the depressive drive from below,

    tau da_i/dt = sigma(S (W a)_i + G (D_i - 1) - theta_i - kappa R) - a_i,

where (W a)_i is the mean activation of the other items plus a rumination loop between the anhedonic and
the self-critical items (``rumination_coupling``: "anhedonia to self-hatred on an endless loop"), S is
the network's stiffness, D_i the depressive drive of the biology below (1 in the patient at the start),
and R the consolidation of recovery, which builds up while the patient stays well and raises every
threshold (resilience: the longer and deeper the remission, the more drive a relapse needs). A stiff
network (S > 4) is bistable: a depressed and a recovered state coexist over a range of drive, with
hysteresis; relief must push the drive below the fold to switch the patient to the recovered state, and
the drive must come back above the other fold to switch him back (relapse). The drive is the old
item-by-scale model's: a structural part (synapse deficit, relieved by the fast acute signal of
ketamine) and a non-synaptic part (stress through other routes, relieved by an SSRI's slow serotonergic
adaptation), mixed by the biotype; expectancy (placebo) relieves the whole drive and psychotherapy the
self-critical items; the mood fluctuation (day to day, and a slow drift over months) adds to it.

An item's MADRS score is its activation scaled so that the patient's pre-treatment state gives the
patient's ``madrs_baseline`` (the weights of the symptom profile distribute it over the items).
Dissociation and blood pressure are read from the effect-site concentrations with their own
potencies, so tolerance to dissociation (alcohol use disorder history) leaves the antidepressant chain
untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ketasim.model._definition import NUMERIC, Constants, Equations, State
from ketasim.patients import ITEMS

__all__ = ["ANHEDONIA_ITEMS", "ITEMS", "SELF_CRITICAL_ITEMS", "STATES", "constants", "equations", "recurrent"]

ANHEDONIA_ITEMS = (0, 1, 5, 6, 7)
SELF_CRITICAL_ITEMS = (2, 8, 9)
STATES = {
    **{
        f"symptom_{item}": State("1", f"latent activation of the MADRS item {item.replace('_', ' ')} (0-1)")
        for item in ITEMS
    },
    "consolidation": State("1", "consolidation of recovery: builds while well, raises the items' thresholds"),
    "acute_signal": State("1", "acute (functional, spine-independent) antidepressant signal"),
    "expectancy": State("1", "expectancy raised by sessions and noticed drug effects (placebo)"),
    "sedation": State("1", "sedation from a midazolam session"),
    "protein_set_point": State("1", "slowly adapting set point of synaptic proteins (homeostatic scaling)"),
}


def recurrent(a: list[Any], rumination: Any) -> list[Any]:
    """(W a)_i: mean activation of the other items, plus the rumination loop: anhedonic items are fed by
    the mean self-critical activation and self-critical items by the mean anhedonic activation."""
    n = len(a)
    total = sum(a)
    anhedonic = sum(a[j] for j in ANHEDONIA_ITEMS) / len(ANHEDONIA_ITEMS)
    critical = sum(a[j] for j in SELF_CRITICAL_ITEMS) / len(SELF_CRITICAL_ITEMS)
    out = []
    for i in range(n):
        w = (total - a[i]) / (n - 1)
        if i in ANHEDONIA_ITEMS:
            w = w + rumination * critical
        elif i in SELF_CRITICAL_ITEMS:
            w = w + rumination * anhedonic
        out.append(w)
    return out


def _logistic(m: Any, x: Any) -> Any:
    return 1 / (1 + m.exp(-x))


def _profile_weights(profile: np.ndarray, strength: float) -> np.ndarray:
    """(P, 10) item weights: profile -1 (anhedonic) raises the anhedonic items, +1 the self-critical."""
    w = np.ones((profile.size, len(ITEMS)))
    w[:, list(ANHEDONIA_ITEMS)] -= strength * profile[:, None]
    w[:, list(SELF_CRITICAL_ITEMS)] += strength * profile[:, None]
    return w


def constants(k: Constants) -> None:
    """Needs the synapse layer's ``reference_density`` and ``density0`` (the drive at the start)."""
    params, patients = k.params, k.patients
    n = k.n
    # the biotype sets the typical share; each patient's own factor moves it (capped below 1)
    share = np.minimum([params.value(f"synaptic_share_{p.biotype}") * p.factor("synaptic_share") for p in patients],
                       0.98)  # fmt: skip
    k.set("synaptic_share", share, "1", "part of the depressive drive carried by synapse loss (by biotype)")
    stress = np.array([p.stress_load for p in patients])
    # a load of a millionth is none: dividing by a subnormal one would overflow (found by hypothesis)
    stress0 = k.set("stress0", np.where(stress > 1e-6, stress, 1.0), "1", "pre-treatment stress load (1 if none)")
    deficit0 = np.maximum(1 - k["density0"], 0.0) / (1 - k["reference_density"])
    drive0 = share * deficit0 + (1 - share) * stress / stress0

    # the symptom network
    k.vary("network_stiffness", "1")
    k.vary("drive_gain", "1")
    k.vary("rumination_coupling", "1")
    k.vary("consolidation_strength", "1")
    k.vary("tau_consolidation", "h")
    k.vary("tau_symptom", "h")
    k.vary("direct_share", "1")
    theta = k.read("symptom_threshold", "1")
    profile = np.array([p.symptom_profile for p in patients])
    shift = params.value("profile_threshold_shift") * profile
    for i, item in enumerate(ITEMS):  # an anhedonic profile (-1) lowers the anhedonic items' thresholds
        sign = 1.0 if i in ANHEDONIA_ITEMS else (-1.0 if i in SELF_CRITICAL_ITEMS else 0.0)
        # each item's own threshold factor: an item with a low threshold stays active (a residual symptom)
        own = np.array([p.factor(f"item_threshold_{item}") for p in patients])
        k.set(f"threshold_{item}", theta * own + sign * shift, "1", f"activation threshold of {item.replace('_', ' ')}")
    # the patient's state at the start: the highest stable state of the network at the starting drive
    a0 = _depressed_state(k, drive0)
    floor = params.value("madrs_floor")
    weights = _profile_weights(profile, params.value("profile_weight"))
    above_floor = np.maximum(np.array([p.madrs_baseline for p in patients]) - floor, 0.0)
    # madrs_baseline is the score of the depressed state; a network with no depressed state at the
    # starting drive (no stress, say) is scored against full activation, so the patient scores near the floor
    reference = np.where(a0.mean(axis=0) >= 0.5, a0, 1.0)
    weighted = (weights * reference.T).sum(axis=1)
    scale = np.where(weighted > 0, above_floor / np.where(weighted > 0, weighted, 1.0), 0.0)
    k.set("floor_item", np.full(n, floor / len(ITEMS)), "1", "MADRS floor per item")
    for i, item in enumerate(ITEMS):
        k.set(
            f"item_points_{item}",
            scale * weights[:, i],
            "1",
            f"MADRS points of {item.replace('_', ' ')} at full activation",
        )
        k.set(f"start_{item}", a0[i], "1", f"activation of {item.replace('_', ' ')} at the start")

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
    k.vary("augmentation_max_relief", "1")
    k.vary("psychedelic_perceived", "1")
    k.vary("cadss_emax", "1")
    k.vary("cadss_ec50", "uM")
    k.set("history_tolerance", np.where(tolerant, params.value("aud_dissociation_tolerance"), 1.0), "1",
          "multiplier on the CADSS EC50 from a (family) history of alcohol use disorder")  # fmt: skip
    k.set("noticed_ec50", k.read("cadss_ec50", "uM"), "uM",
          "EC50 of the noticed drug effect (no alcohol-use tolerance: Krystal 2003)")  # fmt: skip
    k.fixed("cadss_hill", "1")
    k.vary("sbp_emax", "mmHg")
    k.vary("sbp_ec50", "uM")
    k.set("r_over_s_potency", params.value("ki_s_ketamine", "uM") / params.value("ki_r_ketamine", "uM"), "1",
          "potency of R- relative to S-ketamine (Ki ratio)")  # fmt: skip


def _depressed_state(k: Constants, drive: np.ndarray, iterations: int = 400) -> np.ndarray:
    """(10, P) highest stable activation of the network at a constant drive, without relief: iterated
    from full activation, the network's own map converges to its upper stable state."""
    c = k.c
    a = [np.ones(k.n) for _ in ITEMS]
    for _ in range(iterations):
        w = recurrent(a, c.rumination_coupling)
        a = [_logistic(NUMERIC, c.network_stiffness * w[i] + c.drive_gain * (drive - 1) - c[f"threshold_{item}"])
             for i, item in enumerate(ITEMS)]  # fmt: skip
    return np.array(a)


def initial(k: Constants) -> dict[str, np.ndarray]:
    start = {f"symptom_{item}": k[f"start_{item}"] for item in ITEMS}
    return {**start, "protein_set_point": np.ones(k.n)}


def equations(eq: Equations) -> None:
    c, x, s, m = eq.c, eq.x, eq.s, eq.m
    # Dissociation and blood pressure from the effect sites; the noticed effect (alcohol-use tolerance
    # blunts perceptual changes but not euphoria or activation, Krystal 2003) drives expectancy.
    dissociative = eq.define("dissociative_conc", m.pos(x.ce_s_ketamine + c.r_over_s_potency * x.ce_r_ketamine),
                             "uM", "S-ketamine-equivalent effect-site concentration for dissociation")  # fmt: skip
    # one adaptation, from a history or from current heavy drinking: the larger of the two applies
    current = s.alcohol_tolerance_factor
    ec50 = eq.define("cadss_ec50_effective", c.cadss_ec50 * (current + m.pos(c.history_tolerance - current)), "uM",
                     "CADSS EC50 with the alcohol-use tolerance (history or current drinking)")  # fmt: skip
    cadss_x = (dissociative / ec50) ** c.cadss_hill
    eq.output("cadss", c.cadss_emax * cadss_x / (1 + cadss_x), "1", "points", "dissociation (CADSS)")
    noticed_x = (dissociative / c.noticed_ec50) ** c.cadss_hill
    noticed = noticed_x / (1 + noticed_x)  # the noticed effect, as a fraction of its maximum
    ce_s = m.pos(x.ce_s_ketamine)
    eq.output("sbp_change", c.sbp_emax * ce_s / (c.sbp_ec50 + ce_s), "mmHg", "mmHg", "systolic blood pressure rise")

    # Homeostatic scaling: the acute signal follows synaptic proteins above a slowly adapting set
    # point, so sustained rises (repeated dosing, chronic exercise) lose their acute effect over weeks.
    prot = s.synaptic_protein
    drive_acute = c.acute_gain_ampa * m.pos(s.ampa_activation - 1) + c.acute_gain_protein * m.pos(
        prot - x.protein_set_point
    )
    # a noticeable effect (dissociation, sedation, a psychedelic experience) unblinds and raises expectancy
    perceived = noticed + x.sedation + c.psychedelic_perceived * s.ht2a_occupancy
    eq.rate("acute_signal", drive_acute - x.acute_signal / c.tau_acute)
    eq.rate("expectancy", c.placebo_perceived_gain * perceived - x.expectancy / c.tau_placebo)
    eq.rate("sedation", -x.sedation / c.tau_sedation)  # sessions add sedation as an engine infusion
    eq.rate("protein_set_point", (prot - x.protein_set_point) / c.tau_homeostasis)
    eq.output("acute_signal", x.acute_signal, "1", "a.u.")
    eq.output("expectancy", x.expectancy, "1", "a.u.")
    eq.output("sedation", x.sedation, "1", "a.u.")

    # The depressive drive from below (1 = this patient at the start, without relief).
    deficit = m.pos(1 - s.synapse_density) / (1 - c.reference_density)
    synaptic = eq.define("drive_synaptic", c.synaptic_share * deficit, "1", "drive carried by the synapse deficit")
    # monoaminergic / inflammatory routes; an SSRI's slow adaptation relieves this part only
    other = eq.define(
        "drive_other",
        (1 - c.synaptic_share) * eq.stress / c.stress0
        * (1 - c.ssri_max_relief * m.clip(s.serotonergic_effect, 0, 1))
        * (1 - c.augmentation_max_relief * s.augmentation_effect),
        "1",
        "drive through other routes, relieved by the SSRI's serotonergic adaptation and by augmentation",
    )  # fmt: skip
    # The acute glutamatergic signal repairs synaptic function, so it relieves the synaptic part only:
    # depressions driven by other routes (biotypes) respond less to ketamine, not to placebo.
    acute_n = m.pos(x.acute_signal) ** c.acute_relief_hill  # threshold-like: a plateau, then a faster loss
    acute = eq.define("acute_relief_fraction", acute_n / (1 + acute_n), "1")
    placebo = eq.define("relief_placebo", 1 - c.placebo_max_relief * x.expectancy / (1 + x.expectancy), "1")
    therapy = eq.define("relief_therapy", 1 - c.therapy_symptom_relief * x.therapy_trace / (1 + x.therapy_trace), "1")
    # chronic drinking scales the whole drive (1 at the patient's habit at the start)
    alcohol = s.alcohol_drive_factor
    general = eq.output("depressive_drive",
                        (synaptic * (1 - c.acute_max_relief * acute) + other) * alcohol * placebo + eq.noise,
                        "1", "1 = untreated start", "depressive drive reaching the symptom network")  # fmt: skip
    # the slow part of the drive (without the acute, functional relief): what the direct share follows
    slow = eq.define("drive_slow", (synaptic + other) * alcohol * placebo + eq.noise, "1",
                     "drive without the acute relief (structure, stress, SSRI, drinking, placebo)")  # fmt: skip

    # The symptom network.
    a = [x[f"symptom_{item}"] for item in ITEMS]
    recurrent_input = recurrent(a, c.rumination_coupling)
    resilience = eq.define("resilience", c.consolidation_strength * x.consolidation, "1",
                           "rise of every item's threshold from consolidated recovery")  # fmt: skip
    total = 0
    for i, item in enumerate(ITEMS):
        if i in ANHEDONIA_ITEMS:  # anhedonia responds most to the acute signal (Lally 2014)
            extra = synaptic * c.acute_max_relief * (c.anhedonia_sensitivity - 1) * acute
            drive_i = general - extra * alcohol * placebo
        else:
            drive_i = general
        if i in SELF_CRITICAL_ITEMS:  # psychotherapy relieves the self-critical items
            drive_i = drive_i * therapy
        target = _logistic(m, c.network_stiffness * recurrent_input[i] + c.drive_gain * (drive_i - 1)
                           - c[f"threshold_{item}"] - resilience)  # fmt: skip
        eq.rate(f"symptom_{item}", (target - a[i]) / c.tau_symptom)
        # what a rater scores: the network's activation, and a share that follows the slow drive directly
        # (the acute relief acts through the network: it switches states, it does not erase residuals)
        expressed = (1 - c.direct_share) * a[i] + c.direct_share * c[f"start_{item}"] * m.pos(slow)
        score = m.clip(c.floor_item + c[f"item_points_{item}"] * expressed, 0, 6)
        label = f"MADRS item: {item.replace('_', ' ')}"
        total = total + eq.output(f"madrs_item_{item}", score, "1", "points (0-6)", label)
    eq.output("madrs", total, "1", "points (0-60)", "MADRS total")
    # Recovery consolidates while the patient stays well, the more the deeper the recovery.
    activation = eq.output("symptom_activation", sum(a) / len(a), "1", "0-1", "mean latent activation of the items")
    start = sum(c[f"start_{item}"] for item in ITEMS) / len(ITEMS)
    wellness = m.clip(1 - activation / start, 0, 1)
    eq.rate("consolidation", (wellness - x.consolidation) / c.tau_consolidation)
    eq.output("consolidation", x.consolidation, "1", "0-1")
