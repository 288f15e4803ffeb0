"""Risks of use of a regimen: its exposure beside what is reported about acute and long-term harms.

Two parts. The **exposure** of a regimen (ketamine and esketamine doses only): sessions, their most in any
7 days, milligrams per dose, per week (at most, in any 7 days) and in total, the course length and the
longest continuous infusion. The **panel**: the acute measures the model predicts for one patient (peak
dissociation and the systolic rise of each session, and the sessions flagged by the label's thresholds,
from ``clinical.monitoring``), then each long-term risk of ``clinical/risks.toml`` (urinary tract,
cognition, misuse, liver) with the regimen's exposure set beside the exposure at which the harm was
reported, the evidence in a sentence, its level and its sources.

The panel states evidence; it is never a personal risk score. The long-term evidence comes mostly from
recreational users and from prolonged infusions for pain, at exposures far above antidepressant use, and
no published rate applies to therapeutic dosing; the panel says so rather than extrapolating.

>>> import ketasim as ks
>>> e = exposure(ks.protocols.get("murrough-2013-six-infusions"), weight="70 kg")
>>> e.sessions, e.max_sessions_per_week, round(e.total_mg)
(6, 3, 210)
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from ketasim.clinical.monitoring import discharge_summary, monitor
from ketasim.dosing import Regimen
from ketasim.errors import InputError
from ketasim.parameters import default_parameters
from ketasim.patients import Patient
from ketasim.simulation import simulate
from ketasim.units import QuantityLike, parse_quantity

__all__ = ["Exposure", "RiskPanel", "exposure", "risk_panel", "risks"]

_WEEK_H = 24.0 * 7
_RISKS = Path(__file__).with_name("risks.toml")


@dataclass(frozen=True)
class Exposure:
    """The ketamine exposure of a regimen for one body weight (esketamine counted as given, in mg)."""

    sessions: int
    max_sessions_per_week: int
    mg_per_session_max: float
    max_mg_per_week: float
    total_mg: float
    course_days: float
    longest_infusion_h: float
    weight_kg: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


def exposure(regimen: Regimen, weight: QuantityLike = "70 kg") -> Exposure:
    """The exposure of ``regimen``'s ketamine and esketamine doses for a patient of ``weight``."""
    if not isinstance(regimen, Regimen):
        raise InputError(
            "regimen", "must be a ketasim.Regimen (e.g. ks.protocols.get(name))", got=type(regimen).__name__
        )
    w = parse_quantity(weight, "weight", "kg", minimum=20, maximum=300)
    doses = [d for d in regimen.doses if d.drug.is_ketamine]
    if not doses:
        raise InputError("regimen", "has no ketamine or esketamine dose: there is no ketamine exposure to assess")
    times = [d.at_h for d in doses]
    mg = [float(d.amount_mg(w)) for d in doses]

    def in_week(t0: float) -> list[int]:
        return [i for i, t in enumerate(times) if t0 - 1e-9 <= t < t0 + _WEEK_H - 1e-9]

    weeks = [in_week(t) for t in times]  # a busiest 7-day window starts at a dose
    span_h = max(times) - min(times)
    return Exposure(
        sessions=len(doses),
        max_sessions_per_week=max(len(k) for k in weeks),
        mg_per_session_max=max(mg),
        max_mg_per_week=max(sum(mg[i] for i in k) for k in weeks),
        total_mg=sum(mg),
        course_days=span_h / 24.0,
        longest_infusion_h=max(d.duration_h or 0.0 for d in doses),
        weight_kg=w,
    )


@cache
def risks() -> tuple[dict[str, Any], ...]:
    """The long-term risks of ``clinical/risks.toml``, each with its sources resolved to citations."""
    cites = default_parameters().sources
    out = []
    for r in tomllib.loads(_RISKS.read_text(encoding="utf-8"))["risk"]:
        missing = [s for s in r["sources"] if s not in cites]
        if missing:
            raise KeyError(f"risks.toml [{r['key']}]: sources not in sources.toml: {missing}")
        out.append({**r, "citations": tuple(cites[s].short() for s in r["sources"])})
    return tuple(out)


@dataclass(frozen=True)
class RiskPanel:
    """A regimen's exposure, its predicted acute measures (one patient) and the long-term risk rows."""

    regimen: str
    exposure: Exposure
    acute: dict[str, float | int | bool]
    rows: pd.DataFrame  # risk, this_regimen, reported_at, ratio, evidence, level, sources

    def to_json(self) -> dict[str, Any]:
        return {"regimen": self.regimen, "exposure": self.exposure.as_dict(), "acute": self.acute,
                "long_term": self.rows.to_dict("records"),
                "note": "evidence beside exposure; not a personal risk score"}  # fmt: skip


_MEASURES = {
    "max_mg_per_week": ("mg in the busiest 7 days", "{:.0f} mg/week"),
    "max_sessions_per_week": ("sessions in the busiest 7 days", "{:.0f} sessions/week"),
    "total_sessions": ("sessions in all", "{:.0f} sessions"),
    "longest_infusion_h": ("longest continuous infusion", "{:.2g} h"),
}


def risk_panel(regimen: Regimen, patient: Patient | None = None) -> RiskPanel:
    """The risk panel of ``regimen`` for ``patient`` (default: the typical patient, 70 kg)."""
    pt = patient if patient is not None else Patient()
    if not isinstance(pt, Patient):
        raise InputError("patient", "must be a ketasim.Patient", got=type(pt).__name__)
    e = exposure(regimen, f"{pt.weight_kg!r} kg")
    # the acute measures over every session, with the observation the label asks for after the last one
    last = max(d.at_h + (d.duration_h or 0.0) for d in regimen.doses if d.drug.is_ketamine)
    res = simulate(regimen, pt, duration=f"{last + 6.0!r} h", output_step="5 min", fluctuation=False)
    table = monitor(res)
    summ = discharge_summary(table)
    acute: dict[str, float | int | bool] = {
        "sessions_simulated": int(summ["n_sessions"]),
        "cadss_peak_max": float(table["cadss_peak"].max()),
        "sbp_rise_peak_max_mmhg": float(table["sbp_rise_peak_mmhg"].max()),
        "sessions_flagged_sbp": int(summ["n_flag_sbp"]),
        "sessions_flagged_cadss": int(summ["n_flag_cadss"]),
        "discharge_h_max": float(summ["discharge_h_all_max"]),
    }
    rows = []
    values = e.as_dict() | {"total_sessions": float(e.sessions)}
    for r in risks():
        label, fmt = _MEASURES[r["measure"]]
        value = values[r["measure"]]
        ref = float(r["reference_value"])
        ratio = value / ref if math.isfinite(ref) and ref > 0 else math.nan
        text = f"{fmt.format(value)} ({label})" + (f", {ratio:.2g} of that" if math.isfinite(ratio) else "")
        rows.append({"risk": r["name"], "this_regimen": text,
                     "reported_at": r["reference"], "ratio": ratio, "evidence": r["evidence"], "level": r["level"],
                     "sources": "; ".join(r["citations"])})  # fmt: skip
    return RiskPanel(regimen.name or "regimen", e, acute, pd.DataFrame(rows))
