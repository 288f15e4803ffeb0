"""Non-drug interventions and the slow serotonergic adaptation: inputs that enter the chain downstream.

Exercise (bouts with an intensity, and the training they build), ketone bodies (a ketogenic diet or a
supplement raising blood beta-hydroxybutyrate) and the weeks-long adaptation to SERT blockade by an SSRI.
Exercise and BHB raise BDNF production (signaling layer); the serotonergic adaptation relieves the
non-synaptic, monoaminergic part of the depressive drive (symptoms layer). Depression is not modelled as
a serotonin deficit: the SSRI helps only through this slow adaptation (and, if switched on, TrkB).
Evidence for the exercise and ketone effect sizes is thin and marked so in ``signaling.toml``.

Acute tryptophan depletion, the classical serotonin probe, lowers plasma tryptophan and with it brain
serotonin synthesis for about a day (a drink's load acting, then recovering: a Bateman time course with
its nadir near 6 h). Less serotonin leaves the adapted serotonergic system less to work with, so it
removes the SSRI's relief and its BDNF contribution while it lasts; nothing else in the model depends
on serotonin, which is the model's reading of "depression is not a lack of serotonin".

Electroconvulsive therapy: each treatment's seizure induces BDNF for about a day (electroconvulsive
seizures raise brain BDNF mRNA and protein, Polyakova 2015), so a course of two or three treatments a week
keeps BDNF production raised and drives the same TrkB -> mTORC1 -> synapse chain as ketamine, more slowly;
its acute cognitive effect (memory tests below the patient's baseline, Semkovska & McLoughlin 2010) adds
up over a course and clears within about two weeks after it.

Augmentation with an atypical antipsychotic (aripiprazole: partial agonism at dopamine D2 and serotonin
5-HT1A receptors, Jordan 2002) acts on the monoaminergic, non-synaptic part of the depressive drive, as
the SSRI's adaptation does, with an onset over about a week as the dose is titrated.

Drinking (``Patient(drinks_per_day=...)``, standard drinks of 14 g ethanol) acts through the brain's
adaptation to chronic ethanol, a running mean of the intake over ``tau_alcohol_adaptation``: it adds to
the depressive drive (alcohol-induced depression, which clears within weeks of abstinence: Brown &
Schuckit 1988; Davidson 1995) and, with heavy use, raises the concentration of ketamine that dissociates
(cross-tolerance between two NMDA antagonists: Krystal 2003) without touching the antidepressant chain.
The drive term is scaled to the patient's own habit at the start, so the baseline MADRS is the score of
the drinking patient as he presents and only a change of drinking moves it. Ethanol's own acute NMDA
block during a drinking occasion is not simulated (see the README's limits).
"""

from __future__ import annotations

import numpy as np

from ketasim.model._definition import Constants, Equations, State

__all__ = ["STATES", "constants", "equations"]

STATES = {
    "exercise_bout": State("1", "exercise bout intensity (decays after the bout)"),
    "training": State("1", "exercise training (1 = one vigorous bout-hour a day, sustained)"),
    "bhb_diet": State("mM", "blood beta-hydroxybutyrate from a ketogenic diet, above the fed baseline"),
    "bhb_supplement": State("mM", "blood beta-hydroxybutyrate from a supplement"),
    "serotonergic_adaptation": State("1", "SSRI adaptation, second of two stages in series"),
    "adaptation_onset": State("1", "SSRI adaptation, first stage"),
    "tryptophan_load": State("1", "the tryptophan-free amino-acid load of a depletion drink (1 per drink)"),
    "tryptophan_deficit": State("1", "fraction of plasma tryptophan below normal, before the nadir scaling"),
    "seizure_trace": State("1", "BDNF induction by recent ECT seizures (1 per treatment, decays)"),
    "ect_cognitive": State("1", "acute cognitive effect of recent ECT treatments (1 per treatment, decays)"),
    "augmentation": State("1", "effect of an added atypical antipsychotic (0 before, 1 at full effect)"),
    "alcohol_intake": State("1", "recent drinking: running mean over about a day (drinks a day)"),
    "alcohol_adaptation": State("1", "adaptation to chronic ethanol: running mean of drinking (drinks a day)"),
}


def constants(k: Constants) -> None:
    k.vary("tau_exercise_bout", "h")
    k.vary("tau_training", "h")
    k.vary("exercise_bout_bdnf", "1")
    k.vary("exercise_training_bdnf", "1")
    k.vary("bhb_bdnf_gain", "1")
    k.vary("bhb_k", "mM")
    k.vary("tau_ketosis", "h")
    k.vary("tau_bhb_supplement", "h")
    k.vary("tau_serotonergic_adaptation", "h")
    k.vary("serotonergic_bdnf_gain", "1")
    k.set("hours_per_day", 24.0, "h", "hours in a day (turns a daily bout-hour into a dimensionless training level)")
    ka, kr = k.fixed("atd_absorption", "1/h"), k.fixed("atd_recovery", "1/h")
    t_nadir = np.log(ka / kr) / (ka - kr)  # the Bateman function's peak time
    peak = ka / (ka - kr) * (np.exp(-kr * t_nadir) - np.exp(-ka * t_nadir))
    k.fixed("tau_ect_bdnf", "h")
    k.vary("ect_bdnf_gain", "1")
    k.fixed("tau_ect_cognitive", "h")
    k.fixed("ect_cognitive_per_treatment", "1")
    k.fixed("tau_augmentation", "h")
    k.fixed("tau_alcohol_intake", "h")
    k.vary("tau_alcohol_adaptation", "h")
    k.vary("alcohol_depression_gain", "1")
    k.fixed("alcohol_withdrawal_gain", "1")
    k.fixed("alcohol_tolerance_half", "1")
    k.fixed("aud_dissociation_tolerance", "1")
    k.set("drinks0", k.attr("drinks_per_day"), "1", "habitual drinking before the start (drinks a day)")
    k.set("atd_scale", k.fixed("atd_nadir_depletion", "1") / peak, "1",
          "tryptophan lost per unit of the deficit state, so that one drink reaches atd_nadir_depletion")  # fmt: skip


def initial(k: Constants) -> dict[str, np.ndarray]:
    """The adaptation to a drinking habit kept up before the start is at its steady state."""
    return {"alcohol_intake": k["drinks0"], "alcohol_adaptation": k["drinks0"]}


def equations(eq: Equations) -> None:
    """Session inputs (bouts, diet, supplements, drinking) arrive as engine infusions and boluses."""
    c, x, s, m = eq.c, eq.x, eq.s, eq.m
    bout, training = x.exercise_bout, x.training
    eq.rate("exercise_bout", -bout / c.tau_exercise_bout)
    # full training (1) = one vigorous bout-hour a day on average, sustained
    eq.rate("training", (bout * c.hours_per_day / c.tau_exercise_bout - training) / c.tau_training)
    eq.rate("bhb_diet", -x.bhb_diet / c.tau_ketosis)
    eq.rate("bhb_supplement", -x.bhb_supplement / c.tau_bhb_supplement)
    # two stages in series (each half the time constant): a delayed, sigmoid onset
    adapt, onset = x.serotonergic_adaptation, x.adaptation_onset
    eq.rate("serotonergic_adaptation", 2 * (onset - adapt) / c.tau_serotonergic_adaptation)
    eq.rate("adaptation_onset", 2 * (s.sert_occupancy - onset) / c.tau_serotonergic_adaptation)
    eq.rate("tryptophan_load", -c.atd_absorption * x.tryptophan_load)
    eq.rate("tryptophan_deficit", c.atd_absorption * x.tryptophan_load - c.atd_recovery * x.tryptophan_deficit)
    depletion = eq.output("tryptophan_depletion", m.clip(c.atd_scale * x.tryptophan_deficit, 0, 1), "1", "0-1",
                          "plasma tryptophan (and serotonin synthesis) lost to a depletion drink")  # fmt: skip
    # what the adapted serotonergic system can act on: serotonin synthesis follows plasma tryptophan
    serotonergic = eq.define("serotonergic_effect", m.pos(adapt) * (1 - depletion), "1",
                             "serotonergic adaptation times the serotonin available to it")  # fmt: skip
    # ECT: each treatment adds 1 to both traces (engine boluses)
    seizure = m.pos(x.seizure_trace)
    eq.rate("seizure_trace", -x.seizure_trace / c.tau_ect_bdnf)
    eq.rate("ect_cognitive", -x.ect_cognitive / c.tau_ect_cognitive)
    eq.output("ect_cognitive_effect", -c.ect_cognitive_per_treatment * x.ect_cognitive, "1",
              "SD of own baseline", "acute cognitive effect of ECT (memory tests; 0 = own baseline)")  # fmt: skip
    # the antipsychotic arrives as an infusion of 1/tau from its start, so its effect rises towards 1
    eq.rate("augmentation", -x.augmentation / c.tau_augmentation)
    eq.output("augmentation_effect", m.clip(x.augmentation, 0, 1), "1", "0-1",
              "effect of an added atypical antipsychotic (1 = full)")  # fmt: skip
    # drinking arrives as infusions of (drinks a day) / tau, so each state is a running mean of intake
    eq.output("alcohol_adaptation", x.alcohol_adaptation, "1", "drinks a day",
              "adaptation to chronic ethanol (running mean of drinking)")  # fmt: skip
    adapted = m.pos(x.alcohol_adaptation)
    eq.rate("alcohol_intake", -x.alcohol_intake / c.tau_alcohol_intake)
    eq.rate("alcohol_adaptation", -x.alcohol_adaptation / c.tau_alcohol_adaptation)
    # withdrawal: an adaptation no longer matched by ethanol (after cutting down, until it has decayed)
    withdrawal = eq.output("alcohol_withdrawal", m.pos(x.alcohol_adaptation - x.alcohol_intake), "1",
                           "drinks a day", "adaptation not matched by current drinking")  # fmt: skip
    eq.define("alcohol_drive_factor",
              (1 + c.alcohol_depression_gain * adapted + c.alcohol_withdrawal_gain * withdrawal)
              / (1 + c.alcohol_depression_gain * c.drinks0), "1",
              "depressive drive from chronic drinking and withdrawal, relative to the habit at the start")  # fmt: skip
    eq.define("alcohol_tolerance_factor",
              1 + (c.aud_dissociation_tolerance - 1) * adapted / (c.alcohol_tolerance_half + adapted), "1",
              "multiplier on the concentration of ketamine that dissociates, from current drinking")  # fmt: skip
    eq.output("exercise_training", training, "1", "0-1 (1 = daily vigorous exercise, sustained)")
    eq.output("serotonergic_adaptation", adapt, "1", "0-1")
    bhb = eq.output("bhb_mm", x.bhb_diet + x.bhb_supplement, "mM", "mM above fed baseline",
                    "blood beta-hydroxybutyrate above the fed baseline")  # fmt: skip
    b = m.pos(bhb)
    # Multiplier on BDNF production (1 without them): exercise, ketone bodies (HDAC inhibition) and
    # chronic serotonergic signalling (CREB -> BDNF transcription).
    eq.define(
        "bdnf_factor",
        (1 + c.exercise_bout_bdnf * bout + c.exercise_training_bdnf * training)
        * (1 + c.bhb_bdnf_gain * b / (c.bhb_k + b))
        * (1 + c.serotonergic_bdnf_gain * serotonergic)
        * (1 + c.ect_bdnf_gain * seizure),
        "1",
        "BDNF production factor from exercise, ketone bodies, serotonergic adaptation and ECT",
    )
