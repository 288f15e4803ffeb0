"""Layer 3 — circuit: pyramidal/interneuron rate network at quasi-steady state, and glutamate.

The network relaxes in tens of milliseconds, so at every time it is solved at steady state rather
than integrated. With threshold-linear transfer functions and saturating NMDA gating
s = a r / (1 + a r), the steady state reduces to one quadratic in the pyramidal rate, solved in
closed form for whichever regime (interneurons active or silenced) is self-consistent.
Extracellular glutamate follows the pyramidal rate with a smoothing time constant, relative to an
adapting baseline, so the surge is a pulse even while the drug is still on board.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ketasim.errors import ModelError
from ketasim.model._definition import NUMERIC, Constants, Equations, State

__all__ = ["STATES", "constants", "equations", "steady_rates"]

STATES = {
    "glutamate": State("1", "extracellular glutamate, fold of baseline"),
    "glutamate_adaptation": State("1", "adapting baseline of the glutamate response"),
}


def steady_rates(m: Any, c: Any, b_e: Any, b_i: Any, ht2a: Any) -> tuple[Any, Any, Any]:
    """Steady-state pyramidal and interneuron rates (Hz) for fractional NMDA block ``b_e`` (pyramidal)
    and ``b_i`` (interneurons) and 5-HT2A occupancy ``ht2a`` (extra drive to layer-5 pyramidal cells),
    and the pyramidal rate's rise above its drug-free value.

    Interneurons are active (gain h > 0) where that root is self-consistent (r >= 0 and a
    non-negative interneuron drive); otherwise they are silenced (h = 0), and a negative silenced
    root means no activity. In the active regime the rise is computed from the changes of the
    quadratic's coefficients (r - r0 = (-dqb + (S^2 - S0^2) / (S + S0)) / 2qa with S the square root
    of the discriminant), so it is exactly zero without drug and free of cancellation near it.
    """
    a = c.gamma_nmda * c.tau_nmda  # NMDA gating constant, s
    c2 = (1 - b_i) * c.j_ie_nmda
    roots = []
    for h in (c.gain_i / (1 + c.gain_i * c.j_ii), 0):  # interneurons active, silenced
        a1 = c.gain_e * (c.j_ee_ampa - c.j_ei * h * c.j_ie_ampa)
        qa = a * (1 - a1)
        # coefficients without drug, and what block and 5-HT2A drive add to them
        a2_0 = c.gain_e * (c.j_ee_nmda - c.j_ei * h * c.j_ie_nmda)
        a0_0 = c.gain_e * (c.i_e0 - c.j_ei * h * c.i_i0)
        d_a2 = c.gain_e * (c.j_ei * h * b_i * c.j_ie_nmda - b_e * c.j_ee_nmda)
        d_a0 = c.gain_e * c.ht2a_pyramidal_drive * ht2a
        qb_0 = 1 - a1 - a * (a2_0 + a0_0)
        d_qb = -a * (d_a2 + d_a0)
        qb, a0 = qb_0 + d_qb, a0_0 + d_a0
        root_0 = m.sqrt(m.pos(qb_0 * qb_0 + 4 * qa * a0_0))
        root = m.sqrt(m.pos(qb * qb + 4 * qa * a0))
        r = (-qb + root) / (2 * qa)  # the non-negative root of qa r^2 + qb r - a0 = 0
        rise = (-d_qb + ((qb + qb_0) * d_qb + 4 * qa * d_a0) / (root + root_0)) / (2 * qa)
        drive_i = c.j_ie_ampa * r + c2 * a * r / (1 + a * r) + c.i_i0
        roots.append((h, r, drive_i, rise, (-qb_0 + root_0) / (2 * qa)))
    (h_act, r_act, drive_act, rise_act, r_0), (_, r_sil, _, _, _) = roots
    active = (r_act >= 0) & (drive_act >= 0)
    r_e = m.where(active, r_act, m.pos(r_sil))
    return r_e, m.where(active, h_act * drive_act, 0), m.where(active, rise_act, r_e - r_0)


def constants(k: Constants) -> None:
    for name, unit in (
        ("j_ee_ampa", "s"),
        ("j_ee_nmda", "1"),
        ("j_ei", "s"),
        ("j_ie_ampa", "s"),
        ("j_ie_nmda", "1"),
        ("j_ii", "s"),
        ("i_e0", "1"),
        ("i_i0", "1"),
        ("gain_e", "Hz"),
        ("gain_i", "Hz"),
        ("gamma_nmda", "1"),
        ("tau_nmda", "s"),
        ("ht2a_pyramidal_drive", "1"),
    ):
        k.fixed(name, unit)  # weights acting on a rate (Hz) are in seconds  # fmt: skip
    k.vary("tau_glutamate", "h")
    k.vary("tau_glutamate_adaptation", "h")
    k.vary("glutamate_gain", "1")
    zero = np.zeros(k.n)
    r_e0, r_i0, _ = steady_rates(NUMERIC, k.c, zero, zero, zero)
    if not (np.all(r_e0 > 0) and np.all(r_i0 > 0)):
        raise ModelError("circuit parameters give no active baseline state")
    k.set("r_e0", r_e0, "Hz", "baseline pyramidal rate (no drug)")
    k.set("r_i0", r_i0, "Hz", "baseline interneuron rate (no drug)")


def initial(k: Constants) -> dict[str, np.ndarray]:
    return {"glutamate": np.ones(k.n)}


def equations(eq: Equations) -> None:
    c, x, s, m = eq.c, eq.x, eq.s, eq.m
    r_e, r_i, rise = steady_rates(m, c, s.nmda_occupancy, s.nmda_interneuron_block, s.ht2a_occupancy)
    r_e = eq.define("r_e", r_e, "Hz", "steady-state pyramidal rate")
    r_i = eq.define("r_i", r_i, "Hz", "steady-state interneuron rate")
    eq.output("pyramidal_rate", r_e / c.r_e0, "1", "fold of baseline")
    eq.output("interneuron_rate", r_i / c.r_i0, "1", "fold of baseline")
    # glutamate relaxes to the firing-driven target minus an adapting offset (exactly 1 without drug)
    excess = eq.define("firing_excess", rise / c.r_e0, "1", "pyramidal firing above baseline (fraction)")
    glu, adapt = x.glutamate, x.glutamate_adaptation
    eq.rate("glutamate", (m.pos(1 + c.glutamate_gain * (excess - adapt)) - glu) / c.tau_glutamate)
    eq.rate("glutamate_adaptation", (excess - adapt) / c.tau_glutamate_adaptation)
    eq.output("glutamate", glu, "1", "fold of baseline")
