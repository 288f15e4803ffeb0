"""Layer 5 — synapse: labile and stable spine pools, stress, resilience and the plasticity window.

dN/dt = f - (e_N + k_stab) N and dS/dt = k_stab N - e_S S, density = N + S (healthy, unstressed = 1).
Chronic stress lowers formation f and raises stable-spine elimination e_S, which sets the depressed
baseline; a supportive environment removes part of the stress effect on elimination. Synaptic
proteins raise formation (ketamine's gain is formation-driven); activity and psychotherapy raise
stabilisation, therapy most inside the plasticity window opened by mTORC1 activity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ketasim.model._definition import NUMERIC, Constants, Equations, State
from ketasim.patients import Patient

__all__ = ["STATES", "constants", "equations", "stress_table"]

STATES = {
    "labile_synapses": State("1", "labile (new) spines, fraction of healthy density"),
    "stable_synapses": State("1", "stable spines, fraction of healthy density"),
    "ketamine_window": State("1", "ketamine (mTORC1-opened) plasticity window"),
    "therapy_trace": State("1", "recent psychotherapy (decays between sessions)"),
    "psychedelic_window": State("1", "psychedelic (5-HT2A-opened) plasticity window"),
}


def _formation(m: Any, c: Any, stress: Any, drug_growth: Any) -> Any:
    """Spine formation rate (1/h): stress lowers it; ``drug_growth`` is the synaptic-protein boost."""
    return c.formation0 * m.pos(1 - c.stress_formation * stress) * m.pos(1 + drug_growth)


def _elimination_stable(c: Any, stress: Any) -> Any:
    """Stable-spine elimination (1/h): stress raises it, a supportive environment removes part of that."""
    return c.elim_stable * (1 + c.stress_elimination * stress * (1 - c.support_protection * c.supportive_environment))


def _baseline(c: Any, stress: Any) -> tuple[Any, Any]:
    """Drug-free steady state (labile, stable) at a constant stress load."""
    labile = _formation(NUMERIC, c, stress, 0.0) / (c.elim_labile + c.stabilisation)
    return labile, c.stabilisation * labile / _elimination_stable(c, stress)


def _rate_constants(k: Constants) -> None:
    e_n = k.vary("elim_labile", "1/h")
    k_s = k.vary("stabilisation", "1/h")
    e_s = k.vary("elim_stable", "1/h")
    # unstressed steady state: N0 = f0/(e_N + k_s), S0 = k_s N0 / e_S, N0 + S0 = 1
    k.set("formation0", (e_n + k_s) / (1 + k_s / e_s), "1/h", "spine formation rate without stress (density 1)")
    k.vary("stress_elimination", "1")
    k.vary("stress_formation", "1")
    k.set("supportive_environment", k.attr("supportive_environment"), "1", "supportive environment (0-1)")
    k.fixed("support_protection", "1")


def constants(k: Constants) -> None:
    _rate_constants(k)
    for name in ("protein_formation_gain", "activity_stabilisation_gain", "therapy_stabilisation_gain"):
        k.vary(name, "1")
    k.fixed("therapy_outside_window", "1")
    k.vary("tau_therapy", "h")
    k.vary("plasticity_window_open", "1/h")
    k.vary("tau_plasticity_window", "h")
    k.vary("psychedelic_window_open", "1/h")
    k.vary("tau_psychedelic_window", "h")
    k.vary("window_stabilisation_gain", "1")
    k.vary("healthy_growth_share", "1")
    # The structural deficit is measured against the typical patient at stress load 1.
    typical = Constants(k.params, [Patient()], k.switches)
    _rate_constants(typical)
    labile, stable = _baseline(typical.c, 1.0)
    k.set("reference_density", labile + stable, "1", "density of the typical patient at stress 1 (the deficit's unit)")
    labile0, stable0 = _baseline(k.c, stress_table(k.patients)[1][:, 0])
    k.set("density0", labile0 + stable0, "1", "pre-treatment synapse density of each patient")


def stress_table(patients: tuple[Patient, ...] | list[Patient]) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's stress steps as (times, levels), (P, K) each: times padded with +inf, levels with
    the last level."""
    rows = [list(p.stress_steps) for p in patients]
    width = max(len(r) for r in rows)
    times = np.array([[t for t, _ in r] + [np.inf] * (width - len(r)) for r in rows], float)
    levels = np.array([[v for _, v in r] + [r[-1][1]] * (width - len(r)) for r in rows], float)
    return times, levels


def initial(k: Constants) -> dict[str, np.ndarray]:
    s0 = stress_table(k.patients)[1][:, 0]
    labile, stable = _baseline(k.c, s0)
    return {"labile_synapses": labile, "stable_synapses": stable}


def equations(eq: Equations) -> None:
    c, x, s, m = eq.c, eq.x, eq.s, eq.m
    lab, stab = x.labile_synapses, x.stable_synapses
    density = eq.output("synapse_density", lab + stab, "1", "fraction of healthy density")
    # Either drug's window counts; together they combine like independent openings.
    window = eq.output(
        "plasticity_window", 1 - (1 - x.ketamine_window) * (1 - x.psychedelic_window), "1", "0-1",
        "combined plasticity window (ketamine and psychedelic windows as independent openings)",
    )  # fmt: skip
    # Drug-driven formation regrows lost synapses (Moda-Sava 2019): it scales with the sites lost,
    # so repeated dosing saturates at healthy density instead of overshooting it.
    lost = m.pos(1 - density) / (1 - c.reference_density)
    growth = (
        c.protein_formation_gain * (s.synaptic_protein - 1)
        * (c.healthy_growth_share + lost) / (c.healthy_growth_share + 1)
    )  # fmt: skip
    f = eq.define("formation", _formation(m, c, eq.stress, growth), "1/h", "spine formation rate")
    e_s = eq.define("elimination_stable", _elimination_stable(c, eq.stress), "1/h", "stable-spine elimination")
    # how much a therapy session consolidates: some outside a window, fully inside one (also extinction)
    therapy_window = eq.define("therapy_window_efficacy", c.therapy_outside_window
                               + (1 - c.therapy_outside_window) * window, "1",
                               "share of a session's consolidation that the plasticity window allows")  # fmt: skip
    k_stab = eq.define(
        "stabilisation_rate",
        c.stabilisation
        * (1 + c.activity_stabilisation_gain * m.pos(s.ampa_activation - 1))
        * (1 + c.window_stabilisation_gain * window)
        * (1 + c.therapy_stabilisation_gain * x.therapy_trace * therapy_window),
        "1/h",
        "labile -> stable conversion: activity, the plasticity window, psychotherapy (most inside the window)",
    )  # fmt: skip
    eq.rate("labile_synapses", f - (c.elim_labile + k_stab) * lab)
    eq.rate("stable_synapses", k_stab * lab - e_s * stab)
    eq.rate("ketamine_window",
            c.plasticity_window_open * m.pos(s.mtorc1 - 1) * (1 - x.ketamine_window)
            - x.ketamine_window / c.tau_plasticity_window)  # fmt: skip
    eq.rate("therapy_trace", -x.therapy_trace / c.tau_therapy)
    eq.rate("psychedelic_window",
            c.psychedelic_window_open * s.ht2a_occupancy * (1 - x.psychedelic_window)
            - x.psychedelic_window / c.tau_psychedelic_window)  # fmt: skip
    eq.output("labile_synapses", lab, "1", "fraction of healthy density")
    eq.output("stable_synapses", stab, "1", "fraction of healthy density")
    eq.output("therapy_trace", x.therapy_trace, "1", "a.u.")
    eq.output("stress_load", eq.stress, "1", "a.u. (1 = typical TRD)", "chronic stress load")
