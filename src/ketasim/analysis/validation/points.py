"""Published values of a protocol as points on the headline figure (``simulation.plot_chain``).

A validation row becomes a point where its quantity is a model variable at a known time after the first
dose (``PANEL_QUANTITIES``): Cmax at the end of the infusion on the plasma panel, the mean systolic rise
at 30 min on the blood-pressure panel. Rows come from the studies whose ``protocol`` is the protocol, and
from trial studies with an arm that is exactly that protocol. The bar is the published 95% CI where one
was published (CI, SE, SD/n, binomial n); otherwise the row's validation tolerance, and the label says
which.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ketasim.analysis.validation._validate import observed_se, reference_studies
from ketasim.dosing import Regimen, protocols
from ketasim.simulation import ReferencePoint

__all__ = ["PANEL_QUANTITIES", "reference_points"]


def _end_of_first_infusion(regimen: Regimen) -> float | None:
    """Hours from the first dose to the end of its infusion (None: no dose, or not an infusion)."""
    first = regimen.doses[0] if regimen.doses else None
    return first.duration_h if first is not None and first.duration_h else None


#: quantity -> (dataset variable, time after the first dose (h) from the regimen or None, what, unit);
#: times as the rows' definitions state them.
PANEL_QUANTITIES: dict[str, tuple[str, Callable[[Regimen], float | None], str, str]] = {
    "cmax_ng_ml": ("ketamine_plasma", _end_of_first_infusion, "ketamine Cmax at the end of the infusion", "ng/mL"),
    "sbp_change_peak_mmhg": ("sbp_change", lambda regimen: 0.5, "systolic rise at 30 min", "mmHg"),
}


def _rows(protocol: str) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    out: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
    for study in reference_studies():
        for row in study["row"]:
            if row["quantity"] not in PANEL_QUANTITIES:
                continue
            own = study.get("protocol") == protocol  # a PK or one-patient study of the protocol
            arm = study["kind"] == "trial" and study.get("arms", {}).get(row.get("arm")) == {"protocol": protocol}
            if own or arm:
                out.append((study, row))
    return out


def _short(citation: str) -> str:
    """'Zarate CA Jr et al. 2006, Arch ...' -> 'Zarate 2006'."""
    year = re.search(r"\b(19|20)\d{2}\b", citation)
    return f"{citation.split()[0]} {year.group(0) if year else ''}".strip()


def reference_points(protocol: str) -> list[ReferencePoint]:
    """The published values of ``protocol`` that map to a panel of the headline figure (see the module doc);
    an unknown protocol raises ``InputError`` (as ``protocols.get``)."""
    regimen = protocols.get(protocol)
    points = []
    for study, row in _rows(protocol):
        variable, when, what, unit = PANEL_QUANTITIES[row["quantity"]]
        t = when(regimen)
        if t is None:
            continue
        obs = float(row["observed"])
        se = observed_se(row)
        if "ci" in row:
            lo, hi = (float(x) for x in row["ci"])
            bar = "95% CI"
        elif se > 0:
            lo, hi, bar = obs - 1.959964 * se, obs + 1.959964 * se, "95% CI"
        else:
            tol = (abs(obs) * float(row["rel_tolerance"]) if "rel_tolerance" in row
                   else float(row.get("abs_tolerance", row.get("min_tolerance", 0.0))))  # fmt: skip
            lo, hi = obs - tol, obs + tol
            bar = f"bar: validation tolerance ±{tol:.3g} {unit}; no CI published" if tol else "no CI published"
        label = f"{_short(study['citation'])}: {what}, {obs:g} {unit}\n({bar})"
        points.append(ReferencePoint(variable, t, obs, lo, hi, label))
    return points
