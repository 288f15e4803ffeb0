"""Layer 7 — trauma: a fear memory, its extinction, and the PTSD symptom clusters (CAPS-5 / PCL-5 scoring).

PTSD shares the synaptic and stress machinery of depression and adds a fear memory. Extinction is new
learning that competes with the trauma memory and does not destroy it (Bouton 2004): the fear expressed
is the memory's strength times what extinction fails to hold back,

    expression = fear * (1 - pfc * E / (1 + E)),    pfc = (synapse density / density at start)^k,

where E is consolidated extinction (the patient's own, low, before treatment) and pfc the prefrontal
control needed to retrieve it, which follows the synapse density: stress-driven synapse loss impairs
extinction retrieval and ketamine's regrowth restores it (ketamine given after conditioning enhances
extinction through mTORC1 in the medial prefrontal cortex, Girgenti 2017). An exposure session (prolonged
or written exposure) writes a labile extinction trace that consolidates into E at a rate scaled by the
same window law as psychotherapy (``therapy_window_efficacy``: most inside a drug-opened plasticity
window); E fades back towards the patient's own level (the return of fear). Under the reconsolidation
hypothesis (``Hypotheses(reconsolidation=True)``, off by default: Schiller 2010's human result has failed
replications) a retrieval inside the plasticity window also weakens the trauma memory itself (Nader 2000),
so what is gained does not fade.

The clusters are scored like the CAPS-5 and the PCL-5 (20 DSM-5 symptoms rated 0-4, total 0-80; B
intrusions 5 items, C avoidance 2, D negative cognitions and mood 7, E arousal 6): B, C and E follow the
fear expression, D the depressive symptom network's activation (so expectancy reaches PTSD through the
depressive drive only: it does not extinguish fear). Each cluster is scaled so that the patient's start
gives his ``ptsd_baseline`` split by item count. A patient without PTSD (baseline 0) scores 0 and has no fear memory.
"""

from __future__ import annotations

import numpy as np

from ketasim.model._definition import Constants, Equations, State
from ketasim.patients import ITEMS

__all__ = ["CLUSTERS", "STATES", "constants", "equations", "initial"]

#: DSM-5 PTSD symptom clusters and their number of items (CAPS-5 and PCL-5 alike).
CLUSTERS = {"b": 5, "c": 2, "d": 7, "e": 6}
STATES = {
    "fear_memory": State("1", "strength of the trauma memory (1 = the patient's at the start, 0 without PTSD)"),
    "extinction_labile": State("1", "extinction learned in recent exposure sessions, not yet consolidated"),
    "extinction_memory": State("1", "consolidated extinction (safety learning), in units of its half-effect"),
}


def constants(k: Constants) -> None:
    """Needs the synapse layer's ``density0`` and the symptom layer's ``start_<item>``."""
    base = k.attr("ptsd_baseline")
    k.set("fear0", np.where(base > 0, 1.0, 0.0), "1", "trauma memory at the start (1 with PTSD, 0 without)")
    for cluster, items in CLUSTERS.items():
        k.set(f"ptsd_points_{cluster}", base * items / sum(CLUSTERS.values()), "1",
              f"CAPS-5 points of cluster {cluster.upper()} at the start")  # fmt: skip
    k.set("activation0", np.mean([k[f"start_{item}"] for item in ITEMS], axis=0), "1",
          "mean activation of the depressive symptom network at the start")  # fmt: skip
    k.vary("extinction_baseline", "1")
    k.fixed("tau_extinction_labile", "h")
    k.vary("extinction_consolidation", "1/h")
    k.fixed("tau_extinction_memory", "h")
    k.vary("pfc_extinction_exponent", "1")
    k.fixed("reconsolidation_gain", "1/h")
    k.set("reconsolidation", float(k.switches.get("reconsolidation", False)), "1",
          "hypothesis switch (1 on, 0 off): retrieval inside the window weakens the trauma memory")  # fmt: skip


def initial(k: Constants) -> dict[str, np.ndarray]:
    return {"fear_memory": k["fear0"], "extinction_memory": np.broadcast_to(k["extinction_baseline"], (k.n,)).copy()}


def equations(eq: Equations) -> None:
    c, x, s, m = eq.c, eq.x, eq.s, eq.m
    fear, labile, ext = x.fear_memory, x.extinction_labile, x.extinction_memory
    consolidating = c.extinction_consolidation * s.therapy_window_efficacy * labile
    eq.rate("extinction_labile", -labile / c.tau_extinction_labile - consolidating)
    eq.rate("extinction_memory", consolidating - (ext - c.extinction_baseline) / c.tau_extinction_memory)
    eq.rate("fear_memory", -c.reconsolidation * c.reconsolidation_gain * s.plasticity_window * labile * fear)

    pfc = eq.define("pfc_control", (m.pos(s.synapse_density) / c.density0) ** c.pfc_extinction_exponent, "1",
                    "prefrontal control of extinction retrieval (1 at the start), after synapse density")  # fmt: skip
    e = m.pos(ext)
    expression = eq.output("fear_expression", m.pos(fear * (1 - m.clip(pfc * e / (1 + e), 0, 1))), "1",
                           "0-1", "trauma memory not held back by extinction")  # fmt: skip
    e0 = c.extinction_baseline
    start = c.fear0 * (1 - e0 / (1 + e0))  # the expression at the start
    fear_ratio = m.pos(expression) / (start + (1 - c.fear0))  # 0/1 without PTSD
    mood_ratio = m.pos(s.symptom_activation) / c.activation0
    total = 0
    for cluster in CLUSTERS:
        ratio = mood_ratio if cluster == "d" else fear_ratio
        score = m.clip(c[f"ptsd_points_{cluster}"] * ratio, 0, 4 * CLUSTERS[cluster])
        total = total + eq.output(f"caps5_{cluster}", score, "1", f"points (0-{4 * CLUSTERS[cluster]})",
                                  f"PTSD cluster {cluster.upper()} (CAPS-5 / PCL-5 scoring)")  # fmt: skip
    eq.output("caps5", total, "1", "points (0-80)", "PTSD severity (CAPS-5 total; the PCL-5 scores the same 20 items)")
    eq.output("extinction_memory", ext, "1", "half-effects", "consolidated extinction")
